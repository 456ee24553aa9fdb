"""Request sizes: estimate the memory a command needs from its arguments, before allocating anything.

A request that cannot fit (a 3 GHz resampling of a minute of audio, a Clockwork RNN of 100,000
units, a day of audio generated into memory) must end in one clear line that names the option to
change, not in the operating system's out-of-memory killer half an hour later. Every estimate
here is a plain sum of the arrays the work allocates, counted from the sizes alone; they err on
the high side by the small factors noted beside them. Pure Python: no array is allocated.

>>> format_bytes(3 * 2**30)
'3.0 GiB'
"""

from __future__ import annotations

import math
import os

from .errors import CwfastError

#: Copies of the parameter vector a gradient run keeps: the parameters, the gradient (and a
#: per-sequence gradient row per thread), Adam's two moments, the best and the last good
#: parameters, the dense export of a checkpoint, float64 temporaries of the optimizer.
TRAINING_COPIES = 10


def available_memory():
    """Bytes of memory available to a new allocation (Linux ``MemAvailable``), or None if unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def format_bytes(n):
    """``n`` bytes for people: '512 B', '3.0 MiB', '1.2 GiB'."""
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} B"


def check_fits(n_bytes, what, advice, *, available=None):
    """CwfastError if ``what`` needs more than the memory available.

    Parameters
    ----------
    n_bytes : int
        The estimate.
    what : str
        What needs it, for the message ("resampling 'x.wav' to 3000000000 Hz").
    advice : str
        Which option to change ("pass a lower --sample-rate").
    available : int, optional
        Bytes available (default: :func:`available_memory`; nothing is refused if it is unknown).
    """
    available = available_memory() if available is None else available
    if available is not None and n_bytes > available:
        raise CwfastError(f"{what} needs about {format_bytes(n_bytes)} of memory, more than the "
                          f"{format_bytes(available)} available; {advice}")


def check_disk(path, n_bytes, what, advice):
    """CwfastError if writing ``n_bytes`` to ``path`` cannot fit: more than the free space of its
    folder, or more than a WAV file can hold (4 GiB: its sizes are 32-bit)."""
    import shutil

    folder = os.path.dirname(os.path.abspath(path))
    if os.path.splitext(path)[1].lower() == ".wav" and n_bytes > 2**32 - 64:
        raise CwfastError(f"{what} is {format_bytes(n_bytes)}, more than a WAV file holds (4 GiB); write "
                          f".flac, or {advice}")
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return
    if n_bytes > free:
        raise CwfastError(f"{what} needs about {format_bytes(n_bytes)} of disk, more than the {format_bytes(free)} "
                          f"free in '{folder}'; {advice}")


def audio_bytes(frames, channels, file_rate, rate=None):
    """Memory to read ``frames`` x ``channels`` of audio and resample it from ``file_rate`` to ``rate``.

    Reading holds float32 frames of every channel and the mono mix; resampling (scipy's polyphase
    filter, in float64, a segment at a time: :func:`cwfast.audio.resample_blocks`) holds its
    float32 output, a segment's input and output in float64, and the filter: 20 max(up, down) + 1
    taps and their polyphase copy, for the ratio up / down in lowest terms (rates that share no
    large factor, 2**31 - 1 Hz against 44.1 kHz, need hundreds of GiB of it whatever the clip's
    length). A mono read that is resampled is mixed and resampled a block at a time
    (:func:`cwfast.audio.load_audio`) and holds less than the whole read counted here: a cautious
    bound, 8 bytes a frame over.
    """
    read = frames * channels * 4 + frames * 4
    if rate is None or rate == file_rate:
        return read
    out_frames = frames * rate / file_rate + 1
    longest = max(rate, file_rate) // math.gcd(int(rate), int(file_rate))
    segment = max(2**16, 12 * longest)  # (input samples: resample_blocks' segment and its reach, about)
    return int(read + out_frames * 4 + 8 * segment * (1 + 2 * rate / file_rate) + 16 * (20 * longest + 1))


def evolution_bytes(n_params, population, *, members=True):
    """Memory an evolution-strategy generation holds beyond :func:`training_bytes`: every member's
    parameters (float32, the population and its centre; not with ``members=False``, when a cluster
    scores them elsewhere), the generation's directions (one float32 row per antithetic pair) and
    the run's noise table. Measured: 1.56 to 1.60 kB a parameter at
    population 256, 0.24 at 32, 3.1 at 512 (a Clockwork RNN of 91,201 and 362,401 parameters, one
    generation, the growth of peak RSS after a warm-up); this gives 1.60, 0.26 and 3.14."""
    per_parameter = (4 * (population + 1) if members else 0) + 2 * population
    return int(n_params * per_parameter + 4 * max(2**21, 16 * n_params))


def training_bytes(n_params, itemsize, *, n_steps, n_hidden, n_out, window=None, batch=1):
    """Memory of a gradient run: parameter copies and one update's history. (The audio and the
    task's inputs and labels are memory-mapped scratch files, :mod:`cwfast.scratch`, pages the
    kernel can drop, and the heads check the labels without copying them.)

    ``n_steps`` is the length of the training audio; ``window`` the truncated-BPTT window (None:
    the whole clip at once) over ``batch`` streams. The history of an update is at most every
    hidden unit and output at every step of the window (a Clockwork RNN keeps less).
    """
    steps = n_steps if window is None else min(n_steps, window * batch)
    history = steps * (n_hidden + 4 * n_out) * max(itemsize, 8)
    return int(n_params * itemsize * TRAINING_COPIES + history)
