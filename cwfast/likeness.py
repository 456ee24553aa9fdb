"""How much generated audio sounds like its source: three measures beyond likelihood.

A model's held-out bits per sample say how well it predicts; they do not say whether what it
*generates* has the colour, the noisiness or the pitch of the recording it learned from. The three
measures here compare clips directly, all at one sample rate:

:func:`ltas_distance`
    The distance in dB between the long-term average spectra of two clips, level removed.
:func:`spectral_flatness`
    How noise-like a clip is: about 0.56 for white noise, near 0 for a few pure tones.
:func:`pitched_fraction`
    The share of a clip's audible frames that repeat with a period in the range of musical pitch
    (60 Hz to 1 kHz).
:func:`note_share`
    The share of those pitched frames on the clip's most common note: 1 for a drone, which the
    three measures above can all pass; lower where the notes change. Reported, not a goal.

:func:`measure` computes the last two for one clip, :func:`compare` all three for a generated clip
against its source, :func:`rms_and_peak` a clip's level. Everything is NumPy (and
``scipy.signal.welch``, imported when first needed); frames and spectra are computed in float64
whatever the input's dtype. The flatness, the pitch and the level also take a long recording held
as :class:`Stretches` (its files' parts, say), and read it a piece at a time.
"""

from __future__ import annotations

import math

import numpy as np

from . import validate
from .errors import ParameterError

__all__ = [
    "PIECE",
    "WELCH_SEGMENT",
    "FLATNESS_FRAME",
    "PITCH_FRAME",
    "PITCH_HOP",
    "PITCH_THRESHOLD",
    "ltas",
    "ltas_distance",
    "spectral_flatness",
    "pitched_fraction",
    "note_share",
    "frame_autocorrelation",
    "measure",
    "compare",
    "rms_and_peak",
    "Stretches",
]

#: Samples per Welch segment of :func:`ltas` (Hann window, half overlap).
WELCH_SEGMENT = 1024
#: Samples per STFT frame of :func:`spectral_flatness` (Hann window, hop of half a frame).
FLATNESS_FRAME = 2048
#: A frame whose energy is below this fraction of the loudest frame's is left out of the flatness.
FLATNESS_FLOOR = 1e-10
#: Samples per frame and hop of :func:`pitched_fraction`.
PITCH_FRAME = 2048
PITCH_HOP = 1024
#: A frame counts for :func:`pitched_fraction` if its RMS exceeds this fraction of the clip's.
PITCH_LOUDNESS = 0.1
#: ... and is pitched if its normalised autocorrelation has a peak at least this high.
PITCH_THRESHOLD = 0.6
#: A frame whose energy about its mean is at most this fraction of its energy is constant to
#: rounding: :func:`frame_autocorrelation` gives it 0 at every lag.
CONSTANT_FRAME = 1e-20
#: Pitch range of :func:`pitched_fraction` in Hz: lags from rate / highest to rate / lowest.
PITCH_LOWEST_HZ = 60.0
PITCH_HIGHEST_HZ = 1000.0
#: Spectra in :func:`ltas` are floored at this fraction of their mean before taking dB, so that a
#: band of digital silence costs a bounded amount (100 dB) instead of an infinite one.
LTAS_FLOOR = 1e-10
#: Frames measured at a time by the flatness and the pitch: their spectra, all at once, would
#: take 16 to 32 bytes a sample of the clip (gigabytes for an hour's training audio).
FRAME_BATCH = 512
#: The fewest samples every measure takes: one whole frame of the longest.
MIN_SAMPLES = max(WELCH_SEGMENT, FLATNESS_FRAME, PITCH_FRAME)
#: Samples read at a time (as float64) where a measure goes over a whole clip: its peak, its level.
PIECE = 2**20


class Stretches:
    """Consecutive stretches of one recording, measured as one clip without being joined.

    ``parts`` are 1-D arrays of real samples (any dtype), read as if concatenated, every value as
    float64 divided by ``scale``: what training measures its clips' training parts as, in the
    model's units. :func:`spectral_flatness`, :func:`pitched_fraction` and :func:`rms_and_peak`
    take it where they take an array, and read it a piece at a time: joined in float64, an hour's
    training audio at 16 kHz is 370 MB, and a measure's whole-clip temporaries as much again each.
    """

    def __init__(self, parts, scale=1.0):
        from .validate import as_array, positive_float

        self.parts = [as_array("samples", part) for part in parts]
        self.scale = positive_float("scale", scale)
        self.size = sum(part.size for part in self.parts)

    def read(self, start, stop):
        """Samples ``start`` to ``stop`` of the joined stretches, float64 (a new array)."""
        stretch, at = [], 0
        for part in self.parts:
            if at < stop and start < at + part.size:
                stretch.append(part[max(start - at, 0) : stop - at])
            at += part.size
        x = np.concatenate(stretch, dtype=np.float64) if stretch else np.empty(0)
        x /= self.scale
        return x

    def pieces(self):
        """Every sample, :data:`PIECE` at a time (float64): what a measure over the whole clip reads."""
        return (self.read(start, start + PIECE) for start in range(0, self.size, PIECE))


class _Clip(Stretches):
    """Samples :func:`_clip` has checked, read at peak 1 (``peak``: what they are divided by)."""

    def __init__(self, stretches, peak):
        self.parts, self.scale, self.size, self.peak = stretches.parts, stretches.scale, stretches.size, peak

    def read(self, start, stop):
        # After the scale, as the samples joined and then divided by their peak were read.
        x = super().read(start, stop)
        x /= self.peak
        return x

    def frames(self, length, hop):
        """:func:`_frames` of the clip, :data:`FRAME_BATCH` frames at a time: yields (the first's index, frames)."""
        n_frames = 1 + (self.size - length) // hop
        for first in range(0, n_frames, FRAME_BATCH):
            last = min(first + FRAME_BATCH, n_frames) - 1
            yield first, _frames(self.read(first * hop, last * hop + length), length, hop)

    def mean_square(self):
        return sum(float(np.dot(x, x)) for x in self.pieces()) / self.size


def _clip(samples, name, min_length):
    """``samples`` (an array or :class:`Stretches`) checked and read at peak 1: a :class:`_Clip`."""
    from .validate import as_array

    stretches = samples if isinstance(samples, Stretches) else Stretches([as_array(name, samples)])
    for part in stretches.parts:
        if part.dtype.kind not in "fiu" or part.dtype == bool:
            raise ParameterError(f"{name} has dtype {part.dtype}; expected real samples")
        if part.ndim != 1:
            raise ParameterError(f"{name} has shape {part.shape}; expected mono samples, shape (n,)")
    if stretches.size < min_length:
        raise ParameterError(f"{name} has {stretches.size} samples; this measure needs at least {min_length}")
    peak = 0.0
    for x in stretches.pieces():
        if not np.all(np.isfinite(x)):
            raise ParameterError(f"{name} contains NaN or infinite values")
        peak = max(peak, float(x.max()), -float(x.min()))
    if peak == 0.0:
        raise ParameterError(f"{name} is silent (all zeros)")
    # Every measure ignores gain: at peak 1 the squares can neither overflow (1e160) nor
    # underflow (1e-200) into a wrong answer or a wrong message.
    return _Clip(stretches, peak)


def _hann(length):
    """The periodic Hann window (scipy's ``get_window("hann", length)``), as STFTs use."""
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(length) / length)


def _frames(samples, length, hop):
    """Every whole frame of ``length`` samples starting at multiples of ``hop``, shape (n_frames, length).

    The samples after the last whole frame are not looked at (fewer than ``hop`` of them).
    """
    n_frames = 1 + (samples.size - length) // hop
    view = np.lib.stride_tricks.sliding_window_view(samples, length)
    return view[: (n_frames - 1) * hop + 1 : hop]


# ---------------------------------------------------------------------------------------- spectrum


def ltas(samples):
    r"""Long-term average spectrum in dB of a clip scaled to unit standard deviation.

    The clip, minus its mean, is divided by its standard deviation, and its power spectral
    density estimated by Welch's method: Hann-windowed segments of :data:`WELCH_SEGMENT` (1024)
    samples with half overlap, each detrended by its mean, periodograms averaged. The DC bin is
    dropped (after mean removal it holds nothing but leakage); the rest, bins 1 to 512 in units of
    rate / 1024, is floored at :data:`LTAS_FLOOR` times its mean and converted to dB. Because the
    clip has unit variance the spectrum's level does not depend on the clip's gain, and since the
    frequency axis is in bins, not Hz, the sample rate is not needed (both clips of a comparison
    must be at the same rate).

    Parameters
    ----------
    samples : ndarray, shape (n,), real
        At least 1024 samples, not silent.

    Returns
    -------
    ndarray, shape (512,), float64
        ``10 log10`` of the power in bins 1 to 512 (the last is the Nyquist frequency).

    Raises
    ------
    ParameterError
        If the clip is not mono, shorter than a segment, silent, or holds NaN or infinities.
    """
    return _ltas(_clip(samples, "samples", WELCH_SEGMENT))


def _ltas(clip, name="samples"):
    """:func:`ltas` of a clip :func:`_clip` has checked (``name``: how errors call it)."""
    from scipy.signal import welch  # here: scipy.signal is slow to import and not on the start-up path

    x = clip.read(0, clip.size)  # (whole: Welch's segments, and the mean and std, are scipy's)
    if np.all(np.ptp(_frames(x, WELCH_SEGMENT, WELCH_SEGMENT // 2), axis=1) == 0):
        # Welch's segments, each detrended by its mean, would hold only rounding residue.
        what = "is constant" if np.ptp(x) == 0 else f"has no sound in any whole {WELCH_SEGMENT}-sample segment"
        raise ParameterError(f"{name} {what}, so its spectrum (normalised to unit std) is undefined")
    x = x - x.mean()
    std = x.std()
    _, power = welch(x / std, nperseg=WELCH_SEGMENT, window="hann", noverlap=WELCH_SEGMENT // 2,
                     detrend="constant", scaling="density")
    power = power[1:]
    return 10.0 * np.log10(np.maximum(power, LTAS_FLOOR * power.mean()))


def ltas_distance(a, b):
    r"""Long-term average spectrum distance between two clips at one sample rate, in dB.

    .. math::

        d(a, b) = \sqrt{\frac{1}{K} \sum_{k=1}^{K} \left(L_a(k) - L_b(k)\right)^2}

    where :math:`L_a` is :func:`ltas` of ``a``: the Welch spectrum (1024-point segments) in dB of
    ``a`` scaled to unit standard deviation, over the K = 512 bins above DC.

    The issue that defined this measure asks for "Welch spectra ... each normalised to unit
    standard deviation"; this reads it as the *signals* normalised to unit standard deviation
    (equivalently, each spectrum scaled to the same total power) so that the distance stays in dB
    and ignores gain, not as dB spectra z-scored (which would no longer be in dB). A clip against
    itself scores 0 and gain changes nothing; two unrelated stretches of one recording score a few
    dB; white noise against music scores tens of dB. Compare a generated clip's distance to its
    source with the distance of another stretch of the source (see :func:`compare`).

    Parameters
    ----------
    a, b : ndarray, shape (n,), real
        Each at least 1024 samples long, not silent; lengths may differ.

    Returns
    -------
    float
        Distance in dB, >= 0.

    Raises
    ------
    ParameterError
        As :func:`ltas`, naming ``a`` or ``b``.
    """
    return _ltas_distance(_clip(a, "a", WELCH_SEGMENT), _clip(b, "b", WELCH_SEGMENT), "a", "b")


def _ltas_distance(a, b, name_a, name_b):
    return float(np.sqrt(np.mean((_ltas(a, name_a) - _ltas(b, name_b)) ** 2)))


def spectral_flatness(samples):
    r"""Median spectral flatness of a clip's STFT frames: 0 for a pure tone, about 0.56 for white noise.

    The clip is cut into frames of :data:`FLATNESS_FRAME` (2048) samples with a hop of 1024 (whole
    frames only), each Hann-windowed; for each frame's power spectrum :math:`P_k = |X_k|^2`, over
    all 1025 bins from DC to Nyquist,

    .. math::

        F = \frac{\exp\left(\frac{1}{K} \sum_k \ln P_k\right)}{\frac{1}{K} \sum_k P_k},

    the geometric over the arithmetic mean. Frames whose energy (sum of :math:`P_k`) is below
    :data:`FLATNESS_FLOOR` (1e-10) times the loudest frame's are dropped (silence has no
    meaningful flatness), and the median over the rest is returned. Powers are floored at 1e-30
    of the loudest frame's mean power so that an exactly-zero bin gives a flatness near 0 rather
    than a log of zero. A periodogram bin of white noise is exponentially distributed, whose
    geometric mean is :math:`e^{-\gamma} \approx 0.561` times its mean: hence white noise's 0.56,
    not 1.

    Parameters
    ----------
    samples : ndarray, shape (n,), real, or Stretches
        At least 2048 samples, not silent.

    Returns
    -------
    float
        In [0, 1].

    Raises
    ------
    ParameterError
        If the clip is not mono, shorter than a frame, silent, or holds NaN or infinities.
    """
    return _spectral_flatness(_clip(samples, "samples", FLATNESS_FRAME), "samples")


def _spectral_flatness(clip, name):
    """:func:`spectral_flatness` of a clip :func:`_clip` has checked (``name``: how errors call it)."""
    window = _hann(FLATNESS_FRAME)

    def powers():  # the power spectra of every frame, a batch at a time: (first frame's index, spectra)
        for first, frames in clip.frames(FLATNESS_FRAME, FLATNESS_FRAME // 2):
            yield first, np.abs(np.fft.rfft(frames * window, axis=1)) ** 2

    # Two passes, a batch of frames at a time: the loudest frame, which sets the floors, is known
    # only once every frame is seen, and all the spectra at once are 16 bytes a sample (a 48-min
    # calibration held 1.5 GB of them).
    energy = np.concatenate([power.sum(axis=1) for _, power in powers()])
    loudest = energy.max()
    if loudest == 0.0:
        raise ParameterError(f"{name} is silent in every whole frame, so its flatness is undefined")
    flatness = []
    for first, power in powers():
        power = power[energy[first : first + power.shape[0]] >= FLATNESS_FLOOR * loudest]
        power = np.maximum(power, 1e-30 * loudest / power.shape[1])
        flatness.append(np.exp(np.mean(np.log(power), axis=1)) / np.mean(power, axis=1))
    return float(np.median(np.concatenate(flatness)))


# ---------------------------------------------------------------------------------------- pitch


def _lag_range(sample_rate):
    lo = int(math.ceil(sample_rate / PITCH_HIGHEST_HZ))
    hi = int(math.floor(sample_rate / PITCH_LOWEST_HZ))
    if lo > hi:
        raise ParameterError(f"sample_rate={sample_rate} is too low to hold a pitch between "
                             f"{PITCH_LOWEST_HZ:g} and {PITCH_HIGHEST_HZ:g} Hz")
    if hi + 1 >= PITCH_FRAME:
        raise ParameterError(
            f"sample_rate={sample_rate} is too high for pitch frames of {PITCH_FRAME} samples: the lag of "
            f"{PITCH_LOWEST_HZ:g} Hz ({hi} samples) must be shorter than a frame")
    return lo, hi


def frame_autocorrelation(frames, max_lag):
    r"""Normalised autocorrelation of each frame at lags 0 to ``max_lag``.

    For a frame :math:`x_0 \dots x_{N-1}` with its mean removed,

    .. math::

        r(\tau) = \frac{\sum_{n=0}^{N-1-\tau} x_n x_{n+\tau}}{\sum_{n=0}^{N-1} x_n^2},

    the autocorrelation over its value at lag 0, as "normalised autocorrelation" usually means
    and as issue 12's figures were measured (its 0.47 of the excerpt's frames pitched is this
    measure's; the correlation coefficient of the frame's first and last :math:`N - \tau`
    samples, used before, gave 0.49 there, and 0.94 where this gives 0.87 for the bundled model's
    audio). It shrinks with the lag, as :math:`(N - \tau) / N` for a periodic frame: a 60-Hz
    note at 16 kHz peaks at 0.87, a 1-kHz one at 0.99. 0 for a frame that is constant (an offset
    holds no pitch; its mean removed it leaves only rounding, whose correlation is 1 at every lag).

    Parameters
    ----------
    frames : ndarray, shape (n_frames, N), float64
    max_lag : int
        Less than N.

    Returns
    -------
    ndarray, shape (n_frames, max_lag + 1), float64
    """
    frames = np.asarray(frames)
    if frames.ndim != 2 or frames.dtype.kind not in "fiu" or frames.dtype == bool:
        raise ParameterError(f"frames must be a 2-D real array (n_frames, N), not {frames.dtype} of shape {frames.shape}")
    if not np.all(np.isfinite(frames)):
        raise ParameterError("frames contains NaN or infinite values")
    if not (isinstance(max_lag, (int, np.integer)) and not isinstance(max_lag, bool) and 0 <= max_lag < frames.shape[1]):
        raise ParameterError(f"max_lag={max_lag!r} must be an integer from 0 to the frame length less one "
                             f"({frames.shape[1] - 1})")
    return _frame_autocorrelation(frames.astype(np.float64), max_lag)


def _frame_autocorrelation(frames, max_lag):
    """:func:`frame_autocorrelation` of checked frames (float64, finite) and lag."""
    raw = np.sum(frames**2, axis=1)
    frames = frames - frames.mean(axis=1, keepdims=True)
    n = frames.shape[1]
    size = 1 << (2 * n - 1).bit_length()  # zero-padded so the circular correlation is a linear one
    spectrum = np.fft.rfft(frames, size, axis=1)
    products = np.fft.irfft(np.abs(spectrum) ** 2, size, axis=1)[:, : max_lag + 1]
    total = np.sum(frames**2, axis=1, keepdims=True)  # r at lag 0, summed directly (no FFT rounding)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(total > 0.0, products / np.where(total > 0.0, total, 1.0), 0.0)
    r[total[:, 0] <= CONSTANT_FRAME * raw] = 0.0
    return r


def pitched_fraction(samples, sample_rate):
    r"""The share of a clip's audible frames that have a clear pitch between 60 Hz and 1 kHz.

    The clip is cut into frames of :data:`PITCH_FRAME` (2048) samples with a hop of 1024 (whole
    frames only). A frame is *audible* if its RMS exceeds 0.1 times the whole clip's, and
    *pitched* if its normalised autocorrelation (:func:`frame_autocorrelation`) has a peak of at
    least :data:`PITCH_THRESHOLD` (0.6) at a lag :math:`\tau` between ``ceil(rate / 1000)`` and
    ``floor(rate / 60)`` samples. A peak is a local maximum, :math:`r(\tau - 1) \le r(\tau) \ge
    r(\tau + 1)`: without this, noise lowpassed hard enough that :math:`r` is still above 0.6 at
    the shortest lag, and falls from there, would count as pitched. The result is the number of
    pitched frames over the number of audible ones. A steady tone above 1 kHz counts too, through
    a multiple of its period that falls in the range (1100 Hz peaks at twice its period).

    Parameters
    ----------
    samples : ndarray, shape (n,), real, or Stretches
        At least 2048 samples, not silent.
    sample_rate : int
        In Hz; below about 122 kHz, so that a 60 Hz period fits in a frame.

    Returns
    -------
    float
        In [0, 1]: 1 for a steady tone from just above 60 Hz (its period under ``floor(rate /
        60)`` samples) to 1 kHz, about 0 for white noise or a constant.

    Raises
    ------
    ParameterError
        If the clip is not mono, shorter than a frame, silent, holds NaN or infinities, or no whole
        frame is audible (all its sound is in the last samples, after the last whole frame).
    """
    sample_rate = validate.rate("sample_rate", sample_rate)
    return _pitched_fraction(_clip(samples, "samples", PITCH_FRAME), sample_rate, "samples")


def _pitched_fraction(clip, sample_rate, name):
    """:func:`pitched_fraction` of a clip :func:`_clip` has checked (``name``: how errors call it)."""
    lags = _frame_lags(clip, sample_rate, name)
    return int(np.count_nonzero(lags)) / lags.size


def _frame_lags(clip, sample_rate, name):
    """The pitch lag of each audible frame of a checked clip, as :func:`pitched_fraction` frames
    it: the lag of its highest peak of at least :data:`PITCH_THRESHOLD` in the pitch range, or 0
    for a frame with no such peak (int64, one entry per audible frame, in order)."""
    lo, hi = _lag_range(sample_rate)
    level = np.sqrt(clip.mean_square())
    lags = []
    for _, batch in clip.frames(PITCH_FRAME, PITCH_HOP):  # (a batch at a time: see _spectral_flatness)
        batch = batch[np.sqrt(np.mean(batch**2, axis=1)) > PITCH_LOUDNESS * level]
        if batch.shape[0] == 0:
            continue
        r = _frame_autocorrelation(batch, hi + 1)  # frames of samples _clip has checked
        middle = r[:, lo : hi + 1]
        peaks = (middle >= r[:, lo - 1 : hi]) & (middle >= r[:, lo + 1 : hi + 2]) & (middle >= PITCH_THRESHOLD)
        best = np.argmax(np.where(peaks, middle, -np.inf), axis=1)
        lags.append(np.where(np.any(peaks, axis=1), lo + best, 0))
    if not lags:
        raise ParameterError(f"no whole frame of {name} is louder than 0.1 x the clip's RMS")
    return np.concatenate(lags).astype(np.int64)


def note_share(samples, sample_rate):
    r"""The share of a clip's pitched frames that are on its most common note, or None.

    Each frame :func:`pitched_fraction` counts as pitched is given the pitch of its highest
    autocorrelation peak in the range, ``rate / lag``, rounded to the nearest equal-tempered
    semitone (A4 = 440 Hz); the result is the number of frames on the most common of those notes
    over the number of pitched frames. 1 for a drone (one note held for the whole clip), about
    1/k for k notes held equally long. It sees what the other measures do not: a model that holds
    one note meets the pitched-frame cell and, over a few seconds, the flatness cell too, while
    its source plays a tune. Like any autocorrelation pitch, a frame can be read an octave off
    (a peak at twice the period), so a steady note can spread over two entries.

    Parameters
    ----------
    samples : ndarray, shape (n,), real, or Stretches
        At least 2048 samples, not silent.
    sample_rate : int
        In Hz, as :func:`pitched_fraction`.

    Returns
    -------
    float or None
        In (0, 1]; None if no frame is pitched (no note to count).

    Raises
    ------
    ParameterError
        As :func:`pitched_fraction`.
    """
    sample_rate = validate.rate("sample_rate", sample_rate)
    lags = _frame_lags(_clip(samples, "samples", PITCH_FRAME), sample_rate, "samples")
    lags = lags[lags > 0]
    if lags.size == 0:
        return None
    notes = np.rint(12.0 * np.log2(sample_rate / lags / 440.0)).astype(np.int64)
    return float(np.max(np.unique(notes, return_counts=True)[1])) / lags.size


# ---------------------------------------------------------------------------------------- tables


def measure(samples, sample_rate):
    """:func:`spectral_flatness` and :func:`pitched_fraction` of one clip, as a dict.

    Returns
    -------
    dict
        ``{"flatness": float, "pitched": float}``.
    """
    return {"flatness": spectral_flatness(samples), "pitched": pitched_fraction(samples, sample_rate)}


def _measured(clip, sample_rate, name):
    """:func:`measure` of a clip :func:`_clip` has checked (``name``: how errors call it)."""
    return {"flatness": _spectral_flatness(clip, name), "pitched": _pitched_fraction(clip, sample_rate, name)}


def rms_and_peak(samples):
    """A clip's RMS and peak (its largest magnitude), as ``(rms, peak)``, read a piece at a time.

    The RMS as :func:`cwfast.metrics.rms` gives it, to rounding (the squares are summed a
    :data:`PIECE` at a time, at peak 1).

    Parameters
    ----------
    samples : ndarray, shape (n,), real, or Stretches
        Not silent.

    Raises
    ------
    ParameterError
        If the clip is not mono, empty, silent, or holds NaN or infinities.
    """
    clip = _clip(samples, "samples", 1)
    return clip.peak * math.sqrt(clip.mean_square()), clip.peak


def compare(generated, source, sample_rate, *, reference=None):
    """The three measures of generated audio against its source recording.

    Parameters
    ----------
    generated, source : ndarray, shape (n,), real
        Both at ``sample_rate``.
    sample_rate : int
    reference : ndarray, shape (m,), optional
        Another stretch of the same recording (e.g. the part held out from training): its
        distance to ``source`` is the yardstick for the generated audio's.

    Returns
    -------
    dict
        ``ltas_distance`` (dB, generated to source), ``flatness``, ``pitched`` (of the generated
        audio), ``source_flatness``, ``source_pitched``, and with a reference
        ``reference_ltas_distance``, ``reference_flatness``, ``reference_pitched``.
    """
    # Checked here first, so that an error names the argument, not the measure's own.
    sample_rate = validate.rate("sample_rate", sample_rate)
    generated, source = _clip(generated, "generated", MIN_SAMPLES), _clip(source, "source", MIN_SAMPLES)
    if reference is not None:
        reference = _clip(reference, "reference", MIN_SAMPLES)
    out = {"ltas_distance": _ltas_distance(generated, source, "generated", "source")}
    out.update(_measured(generated, sample_rate, "generated"))
    out.update({f"source_{k}": v for k, v in _measured(source, sample_rate, "source").items()})
    if reference is not None:
        out["reference_ltas_distance"] = _ltas_distance(reference, source, "reference", "source")
        out.update({f"reference_{k}": v for k, v in _measured(reference, sample_rate, "reference").items()})
    return out
