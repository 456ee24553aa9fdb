"""Figure-5-style plots of generated audio: target and output waveforms overlaid, and their spectrograms.

The paper's Figure 5 shows each network's output over the target waveform. :func:`plot_audio` draws
that (top row) and the spectrogram of each signal (bottom row), and writes it to a PNG (or any format
matplotlib knows from the extension) atomically and without overwriting unless asked. matplotlib is
an optional dependency (the ``plot`` extra); it is imported only when a plot is made, and
:func:`require_matplotlib` turns its absence into a one-line :class:`~cwfast.errors.CwfastError`.
No pyplot: figures are built on :class:`matplotlib.figure.Figure` with the Agg canvas, so plotting
never opens a window or touches global state.
"""

from __future__ import annotations

import os

import numpy as np

from . import validate
from ._atomic import atomic_path
from .errors import CwfastError, ParameterError

MISSING = "plotting needs matplotlib, which is not installed: pip install matplotlib (or, in cwfast's folder, '.[plot]')"


def require_matplotlib():
    """Import matplotlib's Agg canvas and Figure, or raise CwfastError saying how to install it."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise CwfastError(MISSING) from None
    return Figure, FigureCanvasAgg


def check_format(path, what="plot file"):
    """The image format ``path``'s extension names, lower case, if matplotlib writes it here; else
    ParameterError listing those it does. Checked before any work (the command line calls it
    before training), so a bad name costs nothing. PGF is left out unless its TeX program is
    installed: matplotlib needs one to write it, and without it failed only after the figure was
    drawn."""
    import shutil

    _, canvas = require_matplotlib()
    extension = os.path.splitext(os.fspath(path))[1].lower().lstrip(".")
    formats = set(canvas.get_supported_filetypes())
    if "pgf" in formats:
        from matplotlib import rcParams

        if shutil.which(rcParams["pgf.texsystem"]) is None:
            formats.discard("pgf")
    bare = validate.bare_extension(path, {"." + f for f in formats})
    if bare:
        raise ParameterError(f"{what} '{os.fspath(path)}' has no name before {bare}")
    if extension not in formats:
        raise ParameterError(f"{what} '{os.fspath(path)}' must end in an image extension matplotlib writes here "
                             f"({', '.join('.' + f for f in sorted(formats))})")
    return extension


def _spectrogram_sizes(n):
    """FFT length and overlap that give a readable spectrogram of ``n`` samples."""
    nfft = 1024
    while nfft > 16 and nfft * 4 > n:
        nfft //= 2
    return nfft, nfft * 3 // 4


def plot_audio(path, output, sample_rate, *, target=None, title=None, labels=("target", "output"),
               overlay=True, overwrite=False):
    """Write a plot of ``output`` (and ``target``, if given): waveforms over each other, then spectrograms.

    Parameters
    ----------
    path : str or os.PathLike
        The image file; its extension picks the format (``.png``, ``.pdf``, ``.svg``, ...).
    output : ndarray, shape (n,)
        The model's audio.
    sample_rate : int
        In Hz, for the time and frequency axes.
    target : ndarray, shape (m,), optional
        What the output should be (the training clip, the wet signal).
    title : str, optional
    labels : (str, str)
        Legend names of target and output.
    overlay : bool
        Draw the two waveforms over each other (the output is meant to follow the target sample by
        sample: memorize and effect models). False draws each in its own panel, one above the
        other, for output that is only meant to resemble the target (free-running generation,
        which dashed over the target would hide it).
    overwrite : bool
        Replace an existing file.

    Raises
    ------
    CwfastError
        If matplotlib is missing, the file exists (without ``overwrite``), or it cannot be written.
    """
    Figure, FigureCanvasAgg = require_matplotlib()
    path = os.fspath(path)
    extension = check_format(path)
    if os.path.lexists(path) and not overwrite:
        raise CwfastError(f"'{path}' exists; pass --overwrite to replace it")
    output = np.asarray(output, dtype=np.float64).ravel()
    signals = [(labels[1], output, "tab:red")]
    if target is not None:
        target = np.asarray(target, dtype=np.float64).ravel()
        signals.insert(0, (labels[0], target, "black"))

    stacked = target is not None and not overlay
    wave_rows = 2 if stacked else 1
    fig = Figure(figsize=(10, 6.5 + 2.5 * (wave_rows - 1)), layout="constrained")
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(wave_rows + 1, len(signals))
    panels = [fig.add_subplot(grid[row, :]) for row in range(wave_rows)]
    for index, (name, signal, colour) in enumerate(signals):
        wave = panels[index if stacked else 0]
        time = np.arange(signal.size) / sample_rate
        style = "--" if (target is not None and signal is output and not stacked) else "-"
        wave.plot(time, signal, style, color=colour, linewidth=0.8, label=name)
    for index, wave in enumerate(panels):
        wave.set_xlabel("time (s)")
        wave.set_ylabel("amplitude")
        wave.legend(loc="upper right")
        if index == 0:
            wave.set_title(title or "waveform")
    for column, (name, signal, _) in enumerate(signals):
        ax = fig.add_subplot(grid[wave_rows, column])
        if signal.size >= 32:
            nfft, overlap = _spectrogram_sizes(signal.size)
            with np.errstate(divide="ignore"):  # silent stretches have zero power: -inf dB, drawn as the floor
                ax.specgram(signal, NFFT=nfft, Fs=sample_rate, noverlap=overlap, cmap="magma", scale="dB")
        ax.set_title(f"{name} spectrogram")
        ax.set_xlabel("time (s)")
        ax.set_ylabel("frequency (Hz)")

    with atomic_path(path, what="plot") as tmp:
        try:
            fig.savefig(tmp, format=extension, dpi=100)
        except (ValueError, RuntimeError, OSError) as exc:  # a backend's own failure (a TeX's, a font's)
            raise CwfastError(f"cannot write plot '{path}': {exc}") from None
