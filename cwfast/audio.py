"""Reading, writing, resampling and scaling audio for cwfast.

Everything here works on plain NumPy arrays of ``float32`` samples, shaped ``(n,)`` for one channel
or ``(n, channels)`` for several, with the sample rate carried alongside as an integer in Hz.
:func:`load_audio` reads any file :mod:`soundfile` can read (WAV, FLAC, OGG, ...), optionally an
excerpt of it and optionally resampled; :func:`write_audio` writes WAV or FLAC atomically, so a
failed write never leaves a half-written or stray file behind; :func:`resample` converts between
sample rates with a polyphase filter; and :func:`scale_to_unit` scales a clip so that its peak is
exactly 1, as the memorisation task expects. Bad files and bad arguments raise
:class:`~cwfast.errors.CwfastError` (arguments: :class:`~cwfast.errors.ParameterError`) with a
one-line message, never a raw soundfile or operating-system traceback. A file cut short (shorter
than its header says, or one whose decoder stops part of the way) is read for what it holds and
said to be (:func:`cut_short`). Nothing here prints; callers that want to tell the user about
resampling pass ``on_resample``, and about a file cut short ``on_note``.
"""

import math
import os
import re

import numpy as np
import soundfile

from . import validate
from ._atomic import atomic_path
from .errors import CwfastError, ParameterError

__all__ = [
    "load_audio",
    "write_audio",
    "resample",
    "resample_blocks",
    "scale_to_unit",
    "WRITE_SUBTYPES",
    "WRITE_FORMATS",
    "MAX_SAMPLE_RATE",
]

#: Sample encodings :func:`write_audio` accepts (case-insensitive).
WRITE_SUBTYPES = ("FLOAT", "PCM_16", "PCM_24")

#: The highest sample rate a sound file can record (libsndfile stores it as a C int).
MAX_SAMPLE_RATE = validate.MAX_SAMPLE_RATE

#: File extensions :func:`write_audio` accepts (case-insensitive), and the container each selects.
WRITE_FORMATS = {".wav": "WAV", ".flac": "FLAC"}
#: The highest sample rate FLAC stores (libFLAC's limit; libsndfile refuses more only when the
#: file is opened, after the work that made its samples).
MAX_FLAC_SAMPLE_RATE = 655350

# FLAC stores integers only, so a float subtype must be refused up front rather than by libsndfile.
_SUBTYPES_BY_FORMAT = {"WAV": ("FLOAT", "PCM_16", "PCM_24"), "FLAC": ("PCM_16", "PCM_24")}


def load_audio(path, *, sample_rate=None, mono=True, start=0.0, duration=None, on_resample=None, empty=None,
               on_note=None):
    """Read an audio file (or an excerpt of it) into a float32 array.

    Parameters
    ----------
    path : str or os.PathLike
        Any file soundfile can read: WAV, FLAC, OGG/Vorbis, and whatever else the installed
        libsndfile supports.
    sample_rate : int, optional
        Rate in Hz to return the samples at. If it differs from the file's rate the samples are
        resampled with :func:`resample`. By default the file's own rate is kept.
    mono : bool, default True
        If true, average the channels and return shape ``(n,)``; otherwise return shape
        ``(n, channels)`` (``(n, 1)`` for a mono file).
    start : float, default 0.0
        Where the excerpt begins, in seconds from the start of the file. Must be at least 0 and
        before the end of the file.
    duration : float, optional
        Length of the excerpt in seconds; must be positive. By default, read to the end of the file.
        An excerpt that would run past the end of the file is cut short at the end.
    on_resample : callable, optional
        Called with a one-line message (``"resampled 'x.ogg' from 44100 Hz to 16000 Hz"``) when the
        samples are resampled; the command-line interface passes a function that prints to stderr.
    empty : callable, optional
        ``empty(shape, dtype)`` makes the array the samples are written into, as
        :func:`numpy.empty` does by default: :meth:`cwfast.scratch.Scratch.empty` reads a long file
        straight into a memory-mapped scratch file, never whole in memory (a mix and a resampling
        are made a block at a time; several channels kept apart, ``mono=False``, and resampled
        are read into one array from it and resampled into another). It must return a writable,
        C-contiguous array of that shape and dtype.
    on_note : callable, optional
        Called with a one-line message if the file is cut short (:func:`cut_short`): its header
        promises more audio than it holds, or its decoder (FLAC's) stops part of the way. What it
        holds is read and returned, as the shorter file it has become; without ``on_note`` nothing
        says so.

    Returns
    -------
    samples : numpy.ndarray
        C-contiguous float32 array, shape ``(n,)`` if `mono` else ``(n, channels)``: the one
        `empty` made, or (a file cut short) its first ``n`` rows.
    sample_rate : int
        Rate of `samples` in Hz: `sample_rate` if given, else the file's rate.

    Raises
    ------
    ParameterError
        If an argument is invalid, including a `start` at or past the end of the file or a
        `duration` shorter than one sample.
    CwfastError
        If the file does not exist, is a directory, is not audio soundfile can read, contains no
        audio, or contains NaN or infinite samples.

    Notes
    -----
    `start` and `duration` are converted to frames at the file's rate by rounding to the nearest
    frame, and only those frames are read from disk. Resampling happens after the excerpt is cut,
    so `start` and `duration` always refer to the file's timeline.
    """
    path = str(validate.as_path(path))
    mono = validate.flag("mono", mono)
    if sample_rate is not None:
        sample_rate = validate.rate("sample_rate", sample_rate)
    start = validate.finite_float("start", start)
    if start < 0:
        raise ParameterError(f"start={start} must be at least 0 seconds")
    if duration is not None:
        duration = validate.finite_float("duration", duration)
        if duration <= 0:
            raise ParameterError(f"duration={duration} must be a positive number of seconds")
    if on_resample is not None and not callable(on_resample):
        raise ParameterError(f"on_resample={on_resample!r} must be a callable or None")
    if empty is not None and not callable(empty):
        raise ParameterError(f"empty={empty!r} must be a callable (shape, dtype) -> array, or None")
    if on_note is not None and not callable(on_note):
        raise ParameterError(f"on_note={on_note!r} must be a callable or None")
    made = _maker(empty)
    stopped = []  # where a decoder stopped (_read_into)

    _check_readable(path)

    try:
        with soundfile.SoundFile(_native(path)) as sound_file:
            file_rate = sound_file.samplerate
            total_frames = sound_file.frames
            short = cut_short(path, sound_file)
            if total_frames <= 0:
                raise CwfastError(f"cannot read '{path}': contains no audio (0 frames)")
            # Compared as floats: a start or duration of 1e305 s times the rate is inf, which round() cannot take.
            start_frame = start * file_rate
            if start_frame >= total_frames or round(start_frame) >= total_frames:
                # (A WAV cut short is as long as what it holds: its header's length would mislead.)
                raise ParameterError(
                    f"start={start} s is at or past the end of '{path}', "
                    f"which is {total_frames / file_rate:.3f} s long" + (f" ({short})" if short else "")
                )
            start_frame = round(start_frame)
            if duration is None:
                frame_count = total_frames - start_frame
            else:
                frame_count = min(duration * file_rate, total_frames - start_frame)
                if round(frame_count) == 0:
                    raise ParameterError(
                        f"duration={duration} s is shorter than one sample at {file_rate} Hz"
                    )
                frame_count = round(frame_count)
            if start_frame > 0:
                try:
                    sound_file.seek(start_frame)
                except soundfile.SoundFileError as error:  # (it opened, and the frame is within its header's)
                    raise CwfastError(f"cannot read '{path}' from {start} s: its decoder fails before there "
                                      f"({_soundfile_reason(error)}): it is cut short or damaged") from None
            # Mixed to mono and resampled as it is read: read whole first, an hour at 44.1 kHz
            # resampled to 16 kHz held the file's samples beside the output (1.11 GB at the peak).
            streamed = mono and sample_rate not in (None, file_rate)
            if streamed:
                samples = _read_resampled(sound_file, frame_count, file_rate, sample_rate, path, start_frame, made,
                                          stopped)
            else:
                samples = _read(sound_file, frame_count, mono, made=made, stopped=stopped)
    except soundfile.SoundFileError as error:
        reason = _soundfile_reason(error)
        raise CwfastError(
            f"cannot read '{path}': not an audio file soundfile can read ({reason})"
        ) from None
    except OSError as error:
        raise CwfastError(f"cannot read '{path}': {error.strerror or error}") from None

    # A header can promise more frames than a truncated file holds.
    if samples.shape[0] == 0:
        raise CwfastError(f"cannot read '{path}': contains no audio (0 frames could be read)")
    if not streamed:  # (a streamed read's samples were checked as they were read, as a whole read's are here)
        # (A mix is finite where every channel is: a NaN or an infinity in one makes it NaN or infinite.)
        first_bad_frame = _first_not_finite(samples)
        if first_bad_frame is not None:
            raise CwfastError(_unreadable_sample(path, (start_frame + first_bad_frame) / file_rate))
    if stopped and not short:
        short = decoder_stopped(path, *stopped[0], total_frames, file_rate)
    if short and on_note is not None:
        on_note(short)
    if streamed:
        if on_resample is not None:
            on_resample(resample_note(path, file_rate, sample_rate))
        return samples, sample_rate

    if sample_rate is None or sample_rate == file_rate:
        return samples, file_rate
    samples = _resampled(samples, file_rate, sample_rate, made)
    if on_resample is not None:
        on_resample(resample_note(path, file_rate, sample_rate))
    return samples, sample_rate


#: The line libsndfile logs when a header's audio chunk is larger than what follows it in the file:
#: "data : 16000 (should be 15000)" (WAV, CAF), " SSND : ..." (AIFF), "  Data Size   : ..." (AU).
_CHUNK_CUT = re.compile(r"^ *(?:data|SSND|Data Size) *: (\d+) \(should be (\d+)\)$", re.MULTILINE)
#: W64's and RF64's signs of the same: a W64 file's size as its header says it and as it is (the
#: header's "riff" size counts the whole file), and an RF64 file's frames as its ds64 chunk says them
#: and as the file holds them (its 32-bit data size is a placeholder, 0xFFFFFFFF).
_W64_CUT = re.compile(r"^riff : (\d+) \(should be (\d+)\)$", re.MULTILINE)
_RF64_CUT = re.compile(r"Calculated frame count (\d+) does not match value from 'ds64' chunk of (\d+)")
#: A size this large in a 32-bit header is what a writer that could not seek back leaves there (a
#: WAV written to a pipe: sox 0x7ffff000, ffmpeg 0xffffffff): the length unknown, not audio lost.
_UNKNOWN_SIZE = 0x7FFF0000
#: What libsndfile logs of an Ogg stream whose last page lacks the end-of-stream mark (Ogg headers
#: say no length: this is the sign of a stream cut short).
_OGG_UNENDED = "Ogg: Last page lacks an end-of-stream bit."
#: libsndfile's reason when a FLAC decoder cannot seek to a frame: the frame after a read that
#: ends where the file is cut (:func:`_read_into`), or an excerpt's start past the cut.
_SEEK_FAILED = "Internal psf_fseek() failed"


def cut_short(path, sound_file):
    """One line saying the file at ``path`` (open as ``sound_file``) is cut short, or None.

    libsndfile reads a file whose header promises more audio than it holds for what it holds, and
    says so only in its log (``extra_info``): the sizes of a WAV, CAF, AIFF or AU file's audio
    chunk, a W64 file's size, an RF64 file's frame count, and an Ogg stream without its end mark,
    are read from there. Junk after a whole file's audio is not a cut, nor is a header written
    without a length (``_UNKNOWN_SIZE``). A FLAC file says its length, and is found cut short
    when its decoder stops (:func:`decoder_stopped`)."""
    log = sound_file.extra_info
    held = sound_file.frames / sound_file.samplerate
    chunk = _CHUNK_CUT.search(log)
    if chunk is not None:
        said, holds = int(chunk[1]), int(chunk[2])
        if holds < said < _UNKNOWN_SIZE:
            return (f"'{path}' is cut short: its audio chunk holds {holds:,} of the {said:,} bytes its header says; "
                    f"reading the {held:.3f} s it holds")
    elif (w64 := _W64_CUT.search(log)) is not None:
        said, holds = int(w64[1]), int(w64[2])
        if holds < said:
            return (f"'{path}' is cut short: it holds {holds:,} of the {said:,} bytes its header says; "
                    f"reading the {held:.3f} s it holds")
    elif (rf64 := _RF64_CUT.search(log)) is not None:
        holds, said = int(rf64[1]), int(rf64[2])
        if holds < said:
            return (f"'{path}' is cut short: it holds {holds:,} of the {said:,} frames its header says; "
                    f"reading the {held:.3f} s it holds")
    elif _OGG_UNENDED in log:
        return f"'{path}' ends without an Ogg stream's end mark, as a file cut short does: it holds {held:.3f} s"
    return None


def decoder_stopped(path, frame, reason, frames, rate):
    """The line saying the decoder of the file at ``path`` stopped at ``frame`` of the ``frames`` its
    header says, for ``reason`` (:func:`_read_into`)."""
    return (f"'{path}' is cut short or damaged: its decoder stopped at {frame / rate:.3f} s of the {frames / rate:.3f} s "
            f"its header says ({reason})")


def _read_into(sound_file, out, stopped):
    """The frames of ``sound_file`` read into ``out`` (as many as it has rows), or fewer at its end.

    A decoder that fails after reading some of the file (FLAC's, where the file is cut short or
    damaged: "flac decoder lost sync") ends the reading there: the frames it decoded are kept
    (they are exact), and ``(frame, reason)`` is added to ``stopped``, the frame of the file it
    stopped at. So does a read that ends where the decoder will stop: it decodes all ``out``
    holds, and what fails is the seek soundfile makes after every read, to the frame after it,
    which leaves the file's position lost (-1). A failure before any frame is read is raised."""
    at = sound_file.tell()
    try:
        return sound_file.read(out=out).shape[0]
    except soundfile.SoundFileError as error:
        reason = _soundfile_reason(error)
        end = sound_file.tell()
        if end < 0 and reason == _SEEK_FAILED:
            end = at + out.shape[0]
        elif end <= at:
            raise
        stopped.append((end, reason))
        return end - at


def resample_note(path, file_rate, sample_rate):
    """The line :func:`load_audio` gives ``on_resample`` for a file at ``path`` resampled."""
    # Upsampling adds no sound above the file's own band, only samples to train on and generate.
    more = f" ({sample_rate / file_rate:.3g}x its samples, nothing above {file_rate / 2:g} Hz)" \
        if sample_rate > 2 * file_rate else ""
    return f"resampled '{path}' from {file_rate} Hz to {sample_rate} Hz{more}"


#: Frames :func:`load_audio` reads at a time to mix them to mono (and resample them).
READ_ROWS = 2**16


def _read_resampled(sound_file, frames, file_rate, rate, path, start_frame, made=None, stopped=None):
    """Up to ``frames`` frames from ``sound_file`` (at ``file_rate``, from ``start_frame`` of the
    file at ``path``) mixed to mono (:func:`_mixed`) and resampled to ``rate``, :data:`READ_ROWS`
    frames at a time through :func:`resample_blocks`, into an array from ``made`` (:func:`_maker`):
    the same bits as the whole mix resampled, in the memory of the output and a few blocks. A NaN
    or infinite sample is the CwfastError a whole read gives, once its block is read; fewer frames
    than ``frames`` (a file cut short: ``stopped``, :func:`_read_into`) give their own resampling,
    none an empty array."""
    _check_resample_fits(frames, 1, file_rate, rate)
    divisor = math.gcd(file_rate, rate)
    up, down = rate // divisor, file_rate // divisor

    def checked():
        read = 0
        for block in _mixed_blocks(sound_file, frames, stopped=stopped):
            # (a mix is finite where every channel is: a NaN or an infinity in one makes it NaN or infinite)
            finite = np.isfinite(block)
            if not finite.all():
                raise CwfastError(_unreadable_sample(path, (start_frame + read + int(np.argmin(finite))) / file_rate))
            read += block.size
            yield block

    out = _new(made, (-(-frames * up // down),))
    return _filled(out, _resample_blocks(checked(), file_rate, rate, copy=False), made)


def _read(sound_file, frames, mono, rows=None, made=None, stopped=None):
    """Up to ``frames`` frames from ``sound_file`` as float32, into an array from ``made``
    (:func:`_maker`): (n, channels), or with ``mono`` a file of several channels read and mixed
    (:func:`_mixed`) ``rows`` (:data:`READ_ROWS`) frames at a time, as (n,) (read whole, an hour
    of stereo at 44.1 kHz held 1.3 GB of channels for a 0.6-GB mix). Where a decoder stopped goes
    in ``stopped`` (:func:`_read_into`)."""
    stopped = [] if stopped is None else stopped
    if not mono or sound_file.channels == 1:
        out = _new(made, (frames,) if mono else (frames, sound_file.channels))
        return _kept(out, _read_into(sound_file, out, stopped), made)
    return _filled(_new(made, (frames,)), _mixed_blocks(sound_file, frames, rows, stopped), made)


def _mixed_blocks(sound_file, frames, rows=None, stopped=None):
    """:func:`_blocks`, each block mixed to mono (:func:`_mixed`)."""
    return map(_mixed, _blocks(sound_file, frames, READ_ROWS if rows is None else rows, stopped))


def _blocks(sound_file, frames, rows, stopped=None):
    """Up to ``frames`` frames from ``sound_file``, float32 (n, channels) blocks of up to ``rows``;
    fewer where a file cut short ends sooner than its header says, or its decoder stops (where goes
    in ``stopped``: :func:`_read_into`)."""
    stopped = [] if stopped is None else stopped
    done = 0
    while done < frames and not stopped:
        block = np.empty((min(rows, frames - done), sound_file.channels), dtype=np.float32)
        n = _read_into(sound_file, block, stopped)
        if n == 0:
            return
        done += n
        yield block[:n]


def _filled(out, pieces, made=None):
    """``out`` filled from the start with ``pieces`` (1-D, in order), cut to what they filled
    (:func:`_kept`)."""
    done = 0
    for piece in pieces:
        out[done : done + piece.size] = piece
        done += piece.size
    return _kept(out, done, made)


def _kept(out, n, made=None):
    """The first ``n`` rows of ``out``, made by ``made`` (:func:`_maker`): ``out`` itself if it
    has no more; else a copy where NumPy made it (not to keep the rest of its memory), a view of
    the array ``empty`` made."""
    if n == out.shape[0]:
        return out
    return out[:n] if made is not None else out[:n].copy()


def _maker(empty):
    """``load_audio``'s ``empty`` as a function of (shape, dtype) that checks what it returns (None
    for :func:`numpy.empty`, which needs no checking)."""
    if empty is None:
        return None

    def made(shape, dtype):
        out = empty(shape, dtype)
        if not (isinstance(out, np.ndarray) and out.shape == shape and out.dtype == dtype
                and out.flags.writeable and out.flags.c_contiguous):
            got = (f"a {'writable' if out.flags.writeable else 'read-only'} array of shape {out.shape} and "
                   f"dtype {out.dtype}" if isinstance(out, np.ndarray) else f"a {type(out).__name__}")
            raise ParameterError(f"empty={empty!r} must return a writable C-contiguous array of shape {shape} and "
                                 f"dtype {np.dtype(dtype)}; it returned {got}")
        return out

    return made


def _new(made, shape):
    """An uninitialised float32 array of ``shape``, by ``made`` (:func:`_maker`) or NumPy."""
    return np.empty(shape, dtype=np.float32) if made is None else made(shape, np.dtype(np.float32))


def _first_not_finite(samples, rows=READ_ROWS):
    """The index of the first frame of ``samples`` (n,) or (n, channels) with a NaN or an infinity,
    or None: ``rows`` at a time (a whole clip's mask is a byte a sample, 230 MB for an hour at 64 kHz)."""
    for start in range(0, samples.shape[0], rows):
        finite = np.isfinite(samples[start : start + rows])
        if not finite.all():
            return start + int(np.argmin(finite if finite.ndim == 1 else finite.all(axis=1)))
    return None


def _mixed(frames, rows=2**16):
    """``frames`` (n, channels) float32 as one channel: their mean, in float64, back in float32.
    A few rows at a time: the float64 mean of an hour's file at once held 8 bytes a frame more
    (1.3 GB at 44.1 kHz). One channel is itself (its mean is its value, exactly)."""
    if frames.shape[1] == 1:
        return frames[:, 0]
    out = np.empty(frames.shape[0], dtype=np.float32)
    for start in range(0, frames.shape[0], rows):
        out[start : start + rows] = frames[start : start + rows].mean(axis=1, dtype=np.float64)
    return out


def cancelling_channels(path, channels):
    """What to say of a file whose ``channels`` are not silent but mix to silence."""
    return f"'{path}' is silent once its {channels} channels are mixed to one (they cancel out)"


def read_audio_blocks(path, block_size, *, on_note=None):
    """Open an audio file to read it mono, ``block_size`` frames at a time, without holding it whole.

    The same checks as :func:`load_audio` (a missing, empty, non-audio file is a CwfastError now;
    a NaN or infinite sample is one when its block is read). ``on_note``, if given, is called
    with one line now if the file is cut short as its header shows, and once the file is read if
    its decoder stopped part of the way (:func:`cut_short`) or its channels cancel: not silent,
    but silent mixed. A file cut short is read for what it holds.

    Returns
    -------
    sample_rate : int
    frames : int
    blocks : iterator of ndarray, each shape (<= block_size,), float32
    """
    path = str(validate.as_path(path))
    block_size = validate.positive_int("block_size", block_size)
    _check_readable(path)
    try:
        with soundfile.SoundFile(_native(path)) as sound_file:
            rate, frames, channels = sound_file.samplerate, sound_file.frames, sound_file.channels
            short = cut_short(path, sound_file)
    except (soundfile.SoundFileError, RuntimeError) as error:
        raise CwfastError(f"cannot read '{path}': not an audio file soundfile can read "
                          f"({_soundfile_reason(error)})") from None
    if frames <= 0:
        raise CwfastError(f"cannot read '{path}': contains no audio (0 frames)")
    if short and on_note is not None:
        on_note(short)

    def blocks():
        done, heard, mixed, stopped = 0, False, False, []
        try:
            with soundfile.SoundFile(_native(path)) as sound_file:
                for block in _blocks(sound_file, frames, block_size, stopped):
                    if not np.all(np.isfinite(block)):
                        bad = done + int(np.argmin(np.isfinite(block).all(axis=1)))
                        raise CwfastError(_unreadable_sample(path, bad / rate))
                    done += block.shape[0]
                    one = block.mean(axis=1, dtype=np.float64).astype(np.float32)
                    mixed = mixed or bool(one.any())
                    heard = heard or mixed or bool(block.any())
                    yield one
        except soundfile.SoundFileError as error:
            raise CwfastError(f"cannot read '{path}': {_soundfile_reason(error)}") from None
        if done == 0:
            raise CwfastError(f"cannot read '{path}': contains no audio (0 frames could be read)")
        if stopped and on_note is not None:
            on_note(decoder_stopped(path, *stopped[0], frames, rate))
        if heard and not mixed and on_note is not None:
            on_note(f"{cancelling_channels(path, channels)}: read as silence")

    return rate, frames, blocks()


def write_audio(path, samples, sample_rate, *, subtype="FLOAT", overwrite=False):
    """Write samples to a WAV or FLAC file, atomically.

    Parameters
    ----------
    path : str or os.PathLike
        Output file. The extension picks the format: ``.wav`` or ``.flac`` (case-insensitive).
        Its directory must already exist.
    samples : array_like
        Floating-point samples, shape ``(n,)`` or ``(n, channels)``, all finite, with ``n >= 1``
        and ``n >= channels`` (more channels than frames is taken for a transposed array).
    sample_rate : int
        Sample rate in Hz.
    subtype : {"FLOAT", "PCM_16", "PCM_24"}, default "FLOAT"
        Sample encoding, case-insensitive. ``"FLOAT"`` (32-bit float) keeps values outside
        [-1, 1] and is available for WAV only; for the PCM subtypes the samples are first clipped
        to [-1, 1], since libsndfile would otherwise wrap them around.
    overwrite : bool, default False
        Replace `path` if it exists. Without it an existing file is an error.

    Raises
    ------
    ParameterError
        If the extension, subtype, samples or sample rate is invalid, including samples with NaN or
        infinite values or an integer dtype, and a rate above :data:`MAX_SAMPLE_RATE`.
    CwfastError
        If `path` exists and `overwrite` is false, is a directory, its directory does not exist, or
        writing fails.

    Notes
    -----
    The samples are written to a temporary file next to `path` which then replaces `path` in one
    step (:func:`os.replace`), so readers never see a half-written file, and on any failure the
    temporary file is removed, so a failed call leaves the directory as it found it.
    """
    path, file_format, subtype, sample_rate = check_write(path, subtype, sample_rate)
    given = samples
    samples = _as_samples(samples, "samples")
    if subtype != "FLOAT":
        # In place when the checks made a copy (float64 samples became float32): a second copy is
        # 4 bytes a sample more at the peak (225 MB for an hour at 16 kHz); never the caller's array.
        mine = not (isinstance(given, np.ndarray) and np.shares_memory(samples, given))
        samples = np.clip(samples, -1.0, 1.0, out=samples if mine else None)

    with atomic_path(path, what="audio", overwrite=overwrite) as temporary_path:
        try:
            soundfile.write(_native(temporary_path), samples, sample_rate, subtype=subtype, format=file_format)
        except soundfile.SoundFileError as error:
            raise CwfastError(f"cannot write '{path}': {_soundfile_reason(error)}") from None
        _clear_peak_time(temporary_path)


def write_audio_blocks(path, blocks, sample_rate, *, channels=1, subtype="FLOAT", overwrite=False):
    """Write audio that arrives block by block, holding one block in memory at a time.

    The same file, checks and atomicity as :func:`write_audio`: the blocks go to a temporary file
    beside ``path``, which replaces ``path`` only once the last block is written; if anything
    fails (a bad block, Ctrl-C, a full disk) the temporary file is removed and ``path`` is left as
    it was.

    Parameters
    ----------
    path, sample_rate, subtype, overwrite
        As for :func:`write_audio`.
    blocks : iterable of ndarray, each shape (n,) or (n, channels)
        Floating-point samples, all finite.
    channels : int
        Channels of every block.

    Returns
    -------
    frames : int
        Frames written.
    clipped : int
        Samples beyond [-1, 1] that a PCM subtype clipped (0 for FLOAT, which keeps them).
    """
    path, file_format, subtype, sample_rate = check_write(path, subtype, sample_rate)
    channels = validate.positive_int("channels", channels)
    frames = clipped = 0
    with atomic_path(path, what="audio", overwrite=overwrite) as temporary_path:
        try:
            with soundfile.SoundFile(_native(temporary_path), "w", samplerate=sample_rate, channels=channels,
                                     subtype=subtype, format=file_format) as sink:
                for block in blocks:
                    block = np.asarray(block)
                    if block.size == 0:
                        continue
                    if (block.shape[1] if block.ndim == 2 else 1) != channels:
                        raise ParameterError(f"a block has shape {block.shape}; expected {channels} channel(s)")
                    block = _as_samples(block, "block", channels=channels)
                    if subtype != "FLOAT":
                        clipped += int(np.count_nonzero(np.abs(block) > 1.0))
                        block = np.clip(block, -1.0, 1.0)
                    sink.write(block)
                    frames += block.shape[0]
            if frames == 0:  # as write_audio refuses: a file of no audio is one load_audio refuses
                raise ParameterError("the blocks hold no samples; an audio file must hold at least one")
        except soundfile.SoundFileError as error:
            raise CwfastError(f"cannot write '{path}': {_soundfile_reason(error)}") from None
        _clear_peak_time(temporary_path)
    return frames, clipped


def _clear_peak_time(path):
    """Zero the time stamp of a float WAV file's PEAK chunk, so that the same samples make the
    same file: libsndfile writes the time of writing there (seconds since 1970), and two runs of
    one seed differed in those 4 bytes. The chunk's peaks stay; any other file is left alone.

    A RIFF file is ``RIFF``, its size and ``WAVE``, then chunks of a 4-byte id, a little-endian
    32-bit size and that many bytes (one more if odd); PEAK's data begins with its version, then
    the time stamp. libsndfile puts it before the samples, in the first few hundred bytes.
    """
    with open(path, "r+b") as file:
        head = file.read(4096)
        if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return
        at = 12
        while at + 8 <= len(head):
            chunk, size = head[at : at + 4], int.from_bytes(head[at + 4 : at + 8], "little")
            if chunk == b"PEAK":
                if size >= 8:
                    file.seek(at + 12)
                    file.write(bytes(4))
                return
            if chunk == b"data":
                return
            at += 8 + size + (size & 1)


def check_write(path, subtype, sample_rate):
    """The checks of :func:`write_audio`: (path, container, subtype, sample_rate) or ParameterError."""
    path = str(validate.as_path(path))
    extension = os.path.splitext(path)[1].lower()
    if extension not in WRITE_FORMATS:
        raise ParameterError(
            f"path='{path}' has an unsupported extension; use one of {', '.join(WRITE_FORMATS)}"
        )
    file_format = WRITE_FORMATS[extension]
    if not isinstance(subtype, str) or subtype.upper() not in WRITE_SUBTYPES:
        raise ParameterError(f"subtype={subtype!r} must be one of {', '.join(WRITE_SUBTYPES)}")
    if subtype.upper() not in _SUBTYPES_BY_FORMAT[file_format]:
        # The subtype as the caller spelt it, the others in the same case (the command line's are lower).
        allowed = " or ".join(s if subtype.isupper() else s.lower() for s in _SUBTYPES_BY_FORMAT[file_format])
        raise ParameterError(f"subtype={subtype!r} cannot be written to {file_format}; use {allowed}")
    subtype = subtype.upper()
    sample_rate = validate.rate("sample_rate", sample_rate)
    if sample_rate > MAX_SAMPLE_RATE:
        # soundfile would raise a bare OverflowError
        raise ParameterError(f"sample_rate={sample_rate} is more than a sound file can store ({MAX_SAMPLE_RATE} Hz)")
    if file_format == "FLAC" and sample_rate > MAX_FLAC_SAMPLE_RATE:
        raise ParameterError(f"FLAC stores sample rates up to {MAX_FLAC_SAMPLE_RATE} Hz, not {sample_rate}: write .wav")
    return path, file_format, subtype, sample_rate


def resample(samples, orig_rate, new_rate):
    """Change the sample rate of samples with a polyphase filter.

    Parameters
    ----------
    samples : array_like
        Floating-point samples, shape ``(n,)`` or ``(n, channels)``, all finite, with ``n >= 1``
        and ``n >= channels`` (more channels than frames is taken for a transposed array).
    orig_rate : int
        Current sample rate in Hz.
    new_rate : int
        Wanted sample rate in Hz.

    Returns
    -------
    numpy.ndarray
        New C-contiguous float32 array with the same number of dimensions and channels, and
        ``ceil(n * new_rate / orig_rate)`` frames. If the rates are equal it is a copy of `samples`.

    Raises
    ------
    ParameterError
        If the samples or rates are invalid.
    CwfastError
        If resampling would need more memory than the machine has (rates that share no large
        factor need a long filter).

    Notes
    -----
    Uses :func:`scipy.signal.resample_poly` with the ratio ``new_rate / orig_rate`` reduced to
    lowest terms, and its default Kaiser-windowed anti-aliasing filter. The signal is treated as
    zero outside the clip, so the first and last few milliseconds are slightly attenuated.
    Rates whose reduced ratio has large terms (e.g. 44101 to 44100 Hz) need a long filter and are
    slow.
    """
    samples = _as_samples(samples, "samples")
    orig_rate = validate.rate("orig_rate", orig_rate)
    new_rate = validate.rate("new_rate", new_rate)
    if orig_rate == new_rate:
        return samples.copy()
    return _resampled(samples, orig_rate, new_rate)


#: Input samples :func:`resample_blocks` resamples at a time by default (more where the filter is long).
RESAMPLE_BLOCK = 2**16


def resample_blocks(blocks, orig_rate, new_rate, *, block=None):
    """:func:`resample` of a mono signal that arrives in blocks, as an iterator of float32 blocks:
    joined, exactly (bit for bit) ``resample(np.concatenate(blocks), orig_rate, new_rate)``, in
    the memory of a few blocks whatever the signal's length.

    The signal is cut into segments of about ``block`` input samples (default
    :data:`RESAMPLE_BLOCK`; a multiple of the ratio's ``down``, so that each starts on an output
    sample), each resampled whole with enough of its neighbours on either side that every output
    sample kept sees the same inputs, summed in the same order, as in the whole signal's filtering.
    The last blocks come out once the input ends. Blocks are held until their segments are
    resampled, as copies: a source may fill one buffer again for each block.
    """
    return _resample_blocks(blocks, orig_rate, new_rate, block)


def _resample_blocks(blocks, orig_rate, new_rate, block=None, copy=True):
    """:func:`resample_blocks`; without ``copy``, blocks (that no one changes) are held as they
    are: one long block, a whole clip, is not copied."""
    import scipy.signal

    orig_rate = validate.rate("orig_rate", orig_rate)
    new_rate = validate.rate("new_rate", new_rate)
    block = validate.positive_int("block", RESAMPLE_BLOCK if block is None else block)
    divisor = math.gcd(orig_rate, new_rate)
    up, down = new_rate // divisor, orig_rate // divisor
    taps = 20 * max(up, down) + 1  # resample_poly's filter (before its padding by less than down)
    # Inputs either side of a segment that reach its outputs: the filter's span in input samples,
    # with room for its padding, rounded up to whole multiples of down.
    reach = -(-((taps + 2 * down) // up + 4) // down) * down
    # Segments long against the filter and its reach (each runs the whole filter over its reach).
    step = -(-max(block, 8 * taps // up + 1, 4 * reach) // down) * down
    from .budget import check_fits

    # A segment in float64, its upsampled output and resample_poly's copy of it, and the filter.
    span = step + 2 * reach
    check_fits(8 * span + 16 * (span * up // down + 1) + 16 * taps, f"resampling from {orig_rate} to {new_rate} Hz",
               "resample to a rate that shares a larger factor with the audio's")

    try:
        source = iter(blocks)
    except TypeError:
        raise ParameterError(f"blocks must be an iterable of sample blocks, not {type(blocks).__name__}") from None

    def run():
        # resample_poly's own filter (its default window), designed once: given to each segment
        # as its window it is used as it is, the same bits; designed again for every segment it
        # took most of the time where the ratio's terms are large (44101 to 8000 Hz: 10x).
        fir = scipy.signal.firwin(taps, 1.0 / max(up, down), window=("kaiser", 5.0))
        held = np.empty(0, dtype=np.float32)  # the input from held_at on: what the next segment reads
        held_at = 0
        segment = 0  # the input index where the next segment's kept outputs begin (a multiple of down)
        pending, arrived, ended = [], 0, False
        while True:
            while not ended and held.size + arrived < segment + step + reach - held_at:
                piece = next(source, None)
                if piece is None:
                    ended = True
                elif np.size(piece):
                    sample = _as_samples(piece, "block")
                    # (a copy if it is the source's array or a view of one: its buffer may be reused)
                    pending.append(sample.copy() if copy and (sample is piece or sample.base is not None) else sample)
                    if pending[-1].ndim != 1:
                        raise ParameterError(f"a block has shape {pending[-1].shape}; resample_blocks takes one channel")
                    arrived += pending[-1].size
            if pending:  # (one long block is used as it is, not copied)
                held = np.concatenate([held, *pending]) if held.size or len(pending) > 1 else pending[0]
                pending, arrived = [], 0
            last_segment = held_at + held.size < segment + step + reach  # (only once the input has ended)
            end = held_at + held.size if last_segment else segment + step  # kept: the outputs of [segment, end)
            if end <= segment:
                return
            x = held if last_segment else held[: end + reach - held_at]
            y = scipy.signal.resample_poly(x.astype(np.float64), up, down, window=fir)
            first = (segment - held_at) * up // down
            last = -(-(end - held_at) * up // down)  # (ceil: the signal's last output, in the last segment)
            yield np.ascontiguousarray(y[first:last], dtype=np.float32)
            if last_segment:
                return
            segment = end
            cut = max(0, segment - reach - held_at)
            held, held_at = held[cut:], held_at + cut

    return run()


def _check_resample_fits(frames, channels, orig_rate, new_rate):
    """CwfastError unless resampling ``frames`` x ``channels`` fits in memory: what NumPy would
    otherwise refuse without saying why (a filter of hundreds of GiB for rates that share no large
    factor), every channel's samples counted as one signal's."""
    from .budget import audio_bytes, check_fits

    check_fits(audio_bytes(frames * channels, 1, orig_rate, new_rate),
               f"resampling {frames:,} frames from {orig_rate} to {new_rate} Hz",
               "resample to a rate that shares a larger factor with the audio's, or a shorter excerpt")


def _resampled(samples, orig_rate, new_rate, made=None):
    """:func:`resample` of checked samples (frames first, any number of channels: a sound file's one
    frame of stereo is no transposed array) at two different checked rates, into an array from
    ``made`` (:func:`_maker`)."""
    divisor = math.gcd(orig_rate, new_rate)
    up, down = new_rate // divisor, orig_rate // divisor
    frames = samples.shape[0]
    _check_resample_fits(frames, samples[0].size, orig_rate, new_rate)
    # Filtered in float64 (the filter has many taps, and float32 accumulation would add audible
    # noise), a segment at a time (resample_blocks: the same bits as scipy's resample_poly of the
    # whole in float64, which held the clip 2.5 times over in float64: 2.6 GB for an hour at 44.1 kHz).
    out = _new(made, (-(-frames * up // down), *samples.shape[1:]))
    channels = samples.reshape(frames, -1)
    for c in range(channels.shape[1]):
        _filled(out.reshape(out.shape[0], -1)[:, c], _resample_blocks([channels[:, c]], orig_rate, new_rate, copy=False))
    return out


def trim_silence(samples, sample_rate, *, below_db=60.0):
    """``samples`` without the 50-ms blocks at either end whose RMS is ``below_db`` or more below
    the whole clip's: digital silence and a noise floor, not a fade (a fade is music getting
    quieter, and a model should learn it). A last partial block is judged by its own RMS like
    the others.

    A recording's last seconds are often silence, and a held-out part cut from its end would
    then measure how a model predicts zeros. Blocks inside the clip are kept, whatever their level.

    >>> x = np.concatenate([np.zeros(1600), np.ones(800), np.zeros(3200)])
    >>> trim_silence(x, 16000).size   # the 800 samples sit in the second 800-sample block
    800

    Raises
    ------
    ParameterError
        If the clip is shorter than one block or silent throughout.
    """
    first, end = loud_span(samples, sample_rate, below_db=below_db)
    return samples[first:end]


def loud_span(samples, sample_rate, *, below_db=60.0):
    """``(first, end)``: where the part of ``samples`` that :func:`trim_silence` keeps begins and
    ends, as sample indices (``samples[first:end]``); raises as it does."""
    samples = validate.mono("samples", samples)
    sample_rate = validate.rate("sample_rate", sample_rate)
    below_db = validate.positive_float("below_db", below_db)
    block = max(1, sample_rate // 20)
    n = samples.size // block
    if n == 0:
        raise ParameterError(f"the clip ({samples.size} samples) is shorter than one 50-ms block at {sample_rate} Hz")
    x = samples.astype(np.float64)
    overall = math.sqrt(float(np.mean(x * x)))
    if overall == 0:
        raise ParameterError("the clip is silent throughout: nothing is left after trimming its silence")
    levels = np.sqrt(np.mean(x[: n * block].reshape(n, block) ** 2, axis=1))
    if samples.size > n * block:  # the partial block at the end: dropped only if quiet too
        levels = np.append(levels, math.sqrt(float(np.mean(x[n * block :] ** 2))))
    loud = np.flatnonzero(levels >= 10.0 ** (-below_db / 20.0) * overall)
    if loud.size == 0:
        raise ParameterError(f"no 50-ms block of the clip is within {below_db:g} dB of its RMS")
    return int(loud[0] * block), min(int((loud[-1] + 1) * block), samples.size)


def scale_to_unit(samples):
    """Scale samples so that their largest absolute value is exactly 1.

    The paper's memorisation task scales each clip to [-1, 1] this way; keep `scale` to map the
    network's output back to the original level (``scaled * scale``).

    Parameters
    ----------
    samples : array_like
        Floating-point samples, shape ``(n,)`` or ``(n, channels)``, all finite, with ``n >= 1``
        and ``n >= channels`` (more channels than frames is taken for a transposed array).

    Returns
    -------
    scaled : numpy.ndarray
        New C-contiguous float32 array ``samples / scale``, same shape as `samples`.
    scale : float
        The largest absolute value of `samples`.

    Raises
    ------
    ParameterError
        If the samples are invalid.
    CwfastError
        If the samples are all zero (silent), which cannot be scaled.
    """
    samples = _as_samples(samples, "samples")
    scale = float(np.max(np.abs(samples)))
    if scale == 0.0:
        raise CwfastError("samples is silent (all zeros), so it cannot be scaled to [-1, 1]")
    # Dividing in float64 makes the peak come out as exactly 1.0 after the cast back to float32.
    scaled = (samples.astype(np.float64) / scale).astype(np.float32)
    return scaled, scale


def _native(path):
    """``path`` as the bytes a POSIX OS holds: soundfile encodes a str as UTF-8, which fails for a
    name that is not (Python keeps its bytes as surrogates). Windows names are Unicode, and
    soundfile opens a str through the wide-character call there: it stays a str."""
    return path if os.name == "nt" else os.fsencode(path)


def sound_info(path):
    """soundfile's ``info`` of the file at ``path``, any name the OS allows.

    Raises
    ------
    ParameterError
        If ``path`` is not a str or os.PathLike.
    CwfastError
        If the file is missing, a directory, empty, unreadable or not audio (as :func:`load_audio`
        words it).
    """
    path = str(validate.as_path(path))
    _check_readable(path)
    try:
        return soundfile.info(_native(path))
    except (soundfile.SoundFileError, RuntimeError) as error:
        raise CwfastError(f"cannot read '{path}': not an audio file soundfile can read "
                          f"({_soundfile_reason(error)})") from None


#: Extensions soundfile lists among its formats but cannot open without being told the sample
#: rate, channels and format: refused by load_audio, left out of a folder's audio files.
HEADERLESS = frozenset({".raw"})


def _check_readable(path):
    """CwfastError for a missing path, a folder, an empty file or one we may not read: checked
    by hand, because libsndfile reports them as "Format not recognised" or "System error"."""
    if not os.path.exists(path):
        link = os.path.islink(path)
        raise CwfastError(f"cannot read '{path}': " + ("a symbolic link to nothing (or a loop of links)" if link
                                                         else "no such file"))
    if os.path.isdir(path):
        raise CwfastError(f"cannot read '{path}': it is a directory, not an audio file")
    if os.path.getsize(path) == 0:
        raise CwfastError(f"cannot read '{path}': contains no audio (the file is empty)")
    if not os.access(path, os.R_OK):
        raise CwfastError(f"cannot read '{path}': permission denied")
    if os.path.splitext(path)[1].lower() in HEADERLESS:  # soundfile takes the name's word for it, then asks for a rate
        raise CwfastError(f"cannot read '{path}': a headerless .raw file does not say its sample rate, channels or "
                          "sample format; convert it to WAV first (e.g. sox -t raw -r RATE -e float -b 32 -c 1 IN OUT.wav)")


def _as_samples(samples, name, *, channels=None):
    """Validate `samples`; return them as a C-contiguous float32 array, (n,) or (n, channels).

    With ``channels`` given (a block of a stream of that many), a block of fewer frames than
    channels is no sign of a transposed array."""
    array = np.asarray(samples)
    if array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.number):
        raise ParameterError(f"{name} has dtype {array.dtype}; expected floating-point samples")
    if np.issubdtype(array.dtype, np.complexfloating):
        raise ParameterError(
            f"{name} has dtype {array.dtype}; expected real floating-point samples"
        )
    if np.issubdtype(array.dtype, np.integer):
        # Integer PCM would need a scale (32768 for int16) we cannot guess; refuse rather than clip.
        raise ParameterError(
            f"{name} has integer dtype {array.dtype}; convert to floats in [-1, 1] first "
            f"(for int16 PCM, divide by 32768)"
        )
    if array.ndim not in (1, 2):
        raise ParameterError(f"{name} has shape {array.shape}; expected (n,) or (n, channels)")
    if array.shape[0] == 0 or array.size == 0:
        raise ParameterError(f"{name} has shape {array.shape}; it must hold at least one sample")
    if array.ndim == 2 and array.shape[1] > array.shape[0] and channels is None:
        # Almost always a (channels, n) array from a library with the other convention.
        raise ParameterError(
            f"{name} has shape {array.shape}, more channels than frames; expected (n, channels)"
        )
    # Checked after the cast, since float64 values beyond float32's range become infinite; the
    # overflow warning would only repeat what the error below says.
    with np.errstate(over="ignore"):
        array = np.ascontiguousarray(array, dtype=np.float32)
    if not np.isfinite(array).all():
        raise ParameterError(f"{name} contains NaN or infinite values")
    return array


def _unreadable_sample(path, seconds):
    """The refusal of a file whose samples are not all finite once read as float32."""
    # A float64 file's finite values beyond float32's range (about 3.4e38) also read as infinite.
    return (f"cannot read '{path}': contains NaN or infinite samples, or samples too large for "
            f"float32 (first at {seconds:.6f} s)")


def _soundfile_reason(error):
    """Return libsndfile's own short explanation of `error`, without soundfile's prefix."""
    reason = getattr(error, "error_string", None) or str(error)
    return reason.strip().rstrip(".")


