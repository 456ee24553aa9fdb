"""Argument checks shared by the whole package: one validator per kind of value.

Every public function validates its arguments once, with these, and raises
:class:`~cwfast.errors.ParameterError` with a message that names the argument and its value
(``"n_hidden=0 must be a positive integer"``). The command line wraps the same validators in its
argparse types (:func:`cwfast.cli._option`), so an option and the API argument it feeds accept
exactly the same values. Pure Python and NumPy: importing this module loads no kernel.

>>> positive_int("n_hidden", 40)
40
>>> positive_int("n_hidden", 0)
Traceback (most recent call last):
...
cwfast.errors.ParameterError: n_hidden=0 must be a positive integer
"""

from __future__ import annotations

import json
import math
import numbers
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .errors import ParameterError
from .modes import MAX_TEMPERATURE

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

#: The largest count any size option accepts (samples, steps, units, ...): past it NumPy cannot
#: index an array at all, so a bigger request is a typo or an overflow, never a real size.
MAX_COUNT = 2**62
#: The highest sample rate a sound file can record (libsndfile stores it as a C int), and so a model.
MAX_SAMPLE_RATE = 2**31 - 1


def within_dtype(name, value, dtype):
    """``value`` as a finite float the model's ``dtype`` can hold, else ParameterError: a float64
    number past float32's range would become infinite inside a float32 model."""
    value = finite_float(name, value)
    limit = float(np.finfo(dtype).max)
    if abs(value) > limit:
        raise ParameterError(f"{name}={value:g} is beyond what a {np.dtype(dtype).name} model holds ({limit:.3g})")
    return value


def shown(value):
    """``repr(value)`` as a user wrote it: NumPy scalars and arrays (a loaded file's values) as
    the Python numbers and lists they hold, not ``np.int64(-1)``."""
    if isinstance(value, (np.generic, np.ndarray)):
        value = value.tolist()
    elif isinstance(value, (list, tuple)):
        value = type(value)(x.tolist() if isinstance(x, (np.generic, np.ndarray)) else x for x in value)
    return repr(value)


def _is_integer(value):
    return not isinstance(value, (bool, np.bool_)) and isinstance(value, numbers.Integral)


def _is_real(value):
    return not isinstance(value, (bool, np.bool_)) and isinstance(value, numbers.Real)


def positive_int(name, value, *, allow_none=False, maximum=MAX_COUNT, what="a positive integer"):
    """``value`` as an int >= 1 (and <= ``maximum``); None passes through with ``allow_none``."""
    if value is None and allow_none:
        return None
    if not _is_integer(value) or value <= 0:
        raise ParameterError(f"{name}={shown(value)} must be {what}")
    if value > maximum:
        raise ParameterError(f"{name}={shown(value)} must be at most {maximum}")
    return int(value)


def rate(name, value, *, allow_none=False, maximum=MAX_COUNT):
    """``value``, a sample rate in Hz, as an int >= 1 (and <= ``maximum``). Integral floats pass
    (audio hosts report rates as floats: sounddevice's 48000.0, a plug-in host's double); a
    fractional rate does not, since every resampler and sound file here counts whole hertz."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer() and value > 0:
        if value > maximum:  # (named as given: int(1e300) is 301 digits)
            raise ParameterError(f"{name}={shown(value)} must be at most {maximum}")
        return int(value)
    return positive_int(name, value, allow_none=allow_none, maximum=maximum, what="a positive whole number of Hz")


def non_negative_int(name, value, *, maximum=MAX_COUNT):
    """``value`` as an int >= 0 (and <= ``maximum``)."""
    if not _is_integer(value) or value < 0:
        raise ParameterError(f"{name}={shown(value)} must be a non-negative integer")
    if value > maximum:
        raise ParameterError(f"{name}={shown(value)} must be at most {maximum}")
    return int(value)


def _is_flat_list(values):
    """Whether ``values`` is a non-empty 1-D sequence or array (not a string, not ragged)."""
    try:
        return not isinstance(values, (str, bytes)) and np.ndim(values) == 1 and len(values) > 0
    except (TypeError, ValueError):  # a ragged nesting
        return False


def positive_int_list(name, values):
    """``values`` (a non-empty 1-D sequence or array of positive integers; integral floats pass) as a
    list of ints."""
    if not _is_flat_list(values):
        raise ParameterError(f"{name}={shown(values)} must be a non-empty list of positive integers")
    out = []
    for v in values:
        if isinstance(v, (np.floating, float)) and float(v).is_integer():
            v = int(v)
        if not _is_integer(v) or v <= 0:
            raise ParameterError(f"{name}={shown(list(values))} must contain only positive integers")
        if v > MAX_COUNT:
            raise ParameterError(f"{name}={shown(list(values))}: {v} is more than {MAX_COUNT}")
        out.append(int(v))
    return out


def input_windows(value, periods):
    """A Clockwork RNN's ``input_windows`` as a list of ints, one per module in the order of ``periods``.

    None means 1 for every module (each tick reads the current input only), ``"period"`` means
    each module's period, an int means that many for every module, a sequence gives one per module.
    """
    periods = [int(p) for p in periods]
    if value is None:
        return [1] * len(periods)
    if isinstance(value, str):
        if value != "period":
            raise ParameterError(f"input_windows={shown(value)} must be None, 'period', a positive integer or one per module")
        return periods
    if _is_integer(value):
        return [positive_int("input_windows", value)] * len(periods)
    out = positive_int_list("input_windows", value)
    if len(out) != len(periods):
        raise ParameterError(
            f"input_windows={shown(value)} must be None, 'period', a positive integer or one per module ({len(periods)})"
        )
    return out


def finite_float(name, value):
    """``value`` as a finite float."""
    if not _is_real(value) or not math.isfinite(value):
        raise ParameterError(f"{name}={shown(value)} must be a finite number")
    return float(value)


def bound(name, value):
    """``value`` as a float that may be infinite (a bound), but not NaN."""
    if not _is_real(value) or math.isnan(value):
        raise ParameterError(f"{name}={shown(value)} must be a number (or infinity)")
    return float(value)


def non_negative_float(name, value, *, maximum=math.inf):
    """``value`` as a finite float >= 0 (and <= ``maximum``)."""
    if not _is_real(value) or not math.isfinite(value) or value < 0:
        raise ParameterError(f"{name}={shown(value)} must be a finite number >= 0")
    if value > maximum:
        raise ParameterError(f"{name}={shown(value)} must be at most {maximum:g}")
    return float(value)


def temperature(name, value):
    """``value`` as a sampling temperature: a finite float in [0, MAX_TEMPERATURE]."""
    return non_negative_float(name, value, maximum=MAX_TEMPERATURE)


def positive_float(name, value, *, allow_none=False, maximum=math.inf):
    """``value`` as a finite float > 0 (and <= ``maximum``); None passes through with ``allow_none``."""
    if value is None and allow_none:
        return None
    if not _is_real(value) or not math.isfinite(value) or value <= 0:
        raise ParameterError(f"{name}={shown(value)} must be a positive finite number")
    if value > maximum:
        raise ParameterError(f"{name}={shown(value)} must be at most {maximum:g}")
    return float(value)


def positive_floats(name, value, *, maximum=math.inf):
    """``value`` (a positive finite number, or a non-empty list of distinct ones, each <= ``maximum``)
    as a tuple of floats."""
    if _is_real(value):
        return (positive_float(name, value, maximum=maximum),)
    if not _is_flat_list(value):
        raise ParameterError(f"{name}={shown(value)} must be a positive number or a non-empty list of them")
    values = tuple(positive_float(name, v, maximum=maximum) for v in value)
    if len(set(values)) < len(values):
        raise ParameterError(f"{name}={shown(list(value))} names a value twice")
    return values


def fraction(name, value):
    """``value`` as a float in [0, 1)."""
    if not _is_real(value) or not 0 <= value < 1:
        raise ParameterError(f"{name}={shown(value)} must be a number in [0, 1)")
    return float(value)


def percentile_band(name, value):
    """``value`` as a pair of floats (low, high) with 0 <= low <= high <= 100."""
    try:
        low, high = value
    except (TypeError, ValueError):
        raise ParameterError(f"{name}={shown(value)} must be two percentiles (low, high)") from None
    if not (_is_real(low) and _is_real(high) and 0 <= low <= high <= 100):
        raise ParameterError(f"{name}={shown(value)} must be two percentiles with 0 <= low <= high <= 100")
    return float(low), float(high)


def bare_extension(path, extensions):
    """The extension of ``extensions`` (dotted, lower case) that ``path``'s file name is alone
    ('.wav', 'd/.NPZ'), lower case, or None. os.path.splitext takes such a name for a hidden
    file's with no extension, so "'.wav' must end in .wav" would contradict itself."""
    name = os.path.basename(os.fspath(path)).lower()
    return name if name in extensions else None


def as_path(path, name="path", *, file=False):
    """``path`` as a :class:`pathlib.Path`; ParameterError for anything that is not a path (with
    ``file``, a file to write: not one ending in a separator, which Path would drop)."""
    try:
        text = os.fsdecode(os.fspath(path))
    except TypeError:
        raise ParameterError(f"{name}={path!r} must be a str or os.PathLike") from None
    if not text:  # Path("") is the current folder: never what an empty argument meant
        raise ParameterError(f"{name} is empty: give a file name")
    if "\0" in text:
        raise ParameterError(f"{name}={text!r} contains a null character, which no file name can")
    if file and text.endswith(("/", os.sep)):
        raise ParameterError(f"{name}={text!r} names a folder (it ends in a separator): give a file name")
    return Path(text)


def dtype(value):
    """``value`` as float32 or float64 (a NumPy dtype), in the machine's byte order."""
    if value is None:  # np.dtype(None) is float64: not what leaving it out (float32) means
        raise ParameterError("dtype=None must be float32 or float64")
    try:
        dt = np.dtype(value)
    except TypeError:
        raise ParameterError(f"dtype={shown(value)} must be float32 or float64") from None
    if dt.newbyteorder("=") in FLOAT_DTYPES and dt not in FLOAT_DTYPES:
        raise ParameterError(f"dtype={dt.str!r} is {dt.name} in the other byte order; use the machine's ({dt.name})")
    if dt not in FLOAT_DTYPES:
        raise ParameterError(f"dtype={dt.name} must be float32 or float64")
    return dt


def rng(seed):
    """``np.random.default_rng(seed)`` (a Generator is used as it is), with ParameterError for a
    seed it cannot take (a negative or non-integer number, a string, a bool)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if not isinstance(seed, (bool, np.bool_)):
        try:
            return np.random.default_rng(seed)
        except (TypeError, ValueError):
            pass
    raise ParameterError(f"seed={seed!r} must be a non-negative integer, a numpy Generator or None (or another seed "
                         "np.random.default_rng takes)")


def choice(name, value, choices):
    """``value`` if it is one of the strings ``choices``."""
    if not (isinstance(value, str) and value in choices):
        raise ParameterError(f"{name}={shown(value)} must be one of {', '.join(map(repr, choices))}")
    return value


def flag(name, value, *, allow_none=False):
    """``value`` as a bool (True, False or NumPy's), None if ``allow_none``; else ParameterError:
    'yes', 1 or 'False' is a mistake, not a switch."""
    if value is None and allow_none:
        return None
    if not isinstance(value, (bool, np.bool_)):
        raise ParameterError(f"{name} must be True or False{' or None' if allow_none else ''}, not {value!r}")
    return bool(value)


def metadata(value):
    """A model's metadata as a new dict: None or a mapping, else ParameterError."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ParameterError(f"metadata must be a dict, not {type(value).__name__}")
    return dict(value)


def json_text(name, value, *, allow_nan=True):
    """``value`` as JSON text, else ParameterError naming ``name``. NumPy's bool, integer and float
    scalars are written as the Python numbers they equal (``np.float32(0.5)`` as 0.5), so metadata
    computed with NumPy saves as it is; anything else JSON cannot hold (an array, an object, a
    cycle; NaN or infinity unless ``allow_nan``) is refused. RecursionError (nesting deeper than
    the stack) is the caller's to word."""
    try:
        return json.dumps(value, allow_nan=allow_nan, default=_plain_scalar)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"{name} must be JSON-serialisable ({exc})") from None


def _plain_scalar(value):
    if isinstance(value, (np.bool_, np.integer, np.floating)):
        return value.item()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def as_array(name, value):
    """``value`` as a NumPy array, ParameterError where NumPy cannot make one (a ragged list)."""
    if isinstance(value, np.ndarray):
        return value
    try:
        return np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise ParameterError(f"{name} must be a numeric array ({exc})") from None


def real_array(name, value, dtype):
    """``value`` as a C-contiguous array of ``dtype``, refusing non-numeric kinds, NaN and infinity."""
    arr = as_array(name, value)
    if arr.dtype.kind not in "fiu":
        raise ParameterError(f"{name} has dtype {arr.dtype}; it must be a real (float or integer) array")
    return _finite_as(name, arr, dtype)


def _finite_as(name, arr, dtype):
    """``arr`` as a contiguous array of ``dtype``, ParameterError if a value is not finite in it
    (NaN or infinite, or finite but too large for ``dtype``: 1e39 in float32), or if the copy
    cannot fit in memory (a broadcast view of 2**34 steps is one cheap array until copied)."""
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            cast = np.ascontiguousarray(arr, dtype=dtype)
        finite = bool(np.all(np.isfinite(cast)))
    except MemoryError:
        from .budget import format_bytes

        need = format_bytes(arr.size * np.dtype(dtype).itemsize)
        raise ParameterError(f"{name} of shape {arr.shape} needs {need} as {np.dtype(dtype).name}, more memory than "
                             "this machine gives; pass it in pieces") from None
    if not finite:
        if arr.dtype.kind == "f" and np.all(np.isfinite(arr)):
            big = float(np.max(np.abs(arr)))
            raise ParameterError(f"{name} holds values too large for {np.dtype(dtype).name} ({big:g})")
        raise ParameterError(f"{name} contains NaN or infinite values")
    return cast


def mono(name, samples, dtype=np.float32):
    """Mono floating-point samples, shape (n,), n >= 1, all finite, as an array of ``dtype``."""
    samples = as_array(name, samples)
    if samples.dtype.kind != "f":
        raise ParameterError(f"{name} has dtype {samples.dtype}; expected floating-point samples")
    if samples.ndim != 1:
        raise ParameterError(f"{name} has shape {samples.shape}; expected mono samples, shape (n,)")
    if samples.size == 0:
        raise ParameterError(f"{name} is empty")
    return _finite_as(name, samples, dtype)
