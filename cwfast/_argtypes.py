"""argparse types of cwfast's command lines: each parses the text and checks it with the validator of
:mod:`cwfast.validate` that the API uses, so an option accepts exactly what its argument does.

Shared by ``cwfast`` (:mod:`cwfast.cli`) and ``cwfast bench`` (:mod:`cwfast.bench`). The validators
are imported when an option is converted, so building a parser (``cwfast --help``) loads no NumPy.
"""

from __future__ import annotations

import argparse
import math

from .errors import ParameterError
from .modes import MAX_LEVEL_SAMPLES, MAX_OUTPUT_GAIN, MAX_POPULATION


def _option(parse, check, *, why="", **limits):
    """An argparse type: parse the text with ``parse``, check it with ``cwfast.validate.<check>``."""
    kind = "an integer" if parse is int else "a number"

    def convert(text):
        from . import validate

        try:
            value = parse(text)
        except (ValueError, OverflowError):
            raise argparse.ArgumentTypeError(f"{text!r} is not {kind}") from None
        try:
            return getattr(validate, check)("value", value, **limits)
        except ParameterError as exc:  # "value=0 must be ..." becomes "0 must be ..."
            reason = str(exc).split(" ", 1)[1]
            if "at most" in reason:  # why the limit is where it is
                reason += why
            raise argparse.ArgumentTypeError(f"{text} {reason}") from None

    return convert


positive_int = _option(int, "positive_int")
non_negative_int = _option(int, "non_negative_int")
positive_float = _option(float, "positive_float")
non_negative_float = _option(float, "non_negative_float")
fraction = _option(float, "fraction")
output_gain = _option(float, "positive_float", maximum=MAX_OUTPUT_GAIN, why=" (60 dB)")
temperature = _option(float, "temperature", why=" (hotter is the same noise)")
#: A clock period past 2**31 - 1 never fires after t = 0 in any audio a machine can hold.
period = _option(int, "positive_int", maximum=2**31 - 1, why=" (longer clock periods never fire)")
#: Clock modules of periods 1, 2, 4, ...: the 31st has period 2**30, the last one under that bound.
modules = _option(int, "positive_int", maximum=31, why=" (periods 1 to 2**30: longer clock periods never fire)")
#: Whole hertz, as the API takes them: "48000.0" (as a host prints a rate) is 48000.
sample_rate = _option(float, "rate", maximum=2**31 - 1, why=" (more than a sound file can store)")
level = _option(int, "non_negative_int", maximum=MAX_LEVEL_SAMPLES, why=" (6 minutes at 44.1 kHz: a level that barely moves)")
#: Evolution-strategy members per generation (each one a copy of the model's parameters).
population = _option(int, "positive_int", maximum=MAX_POPULATION, why=" (16.7 million members per generation)")
#: ``cwfast bench``'s samples per block and voices of one stream: past these a stream's buffers alone
#: fill a machine (``cwfast process`` prepares for no more than the file, so its --block is unbounded).
block = _option(int, "positive_int", maximum=2**24, why=" (a block of 6 minutes at 44.1 kHz)")
_voice_count = _option(int, "positive_int", maximum=2**16, why=" (voices of one stream)")


def voices(text):
    """``cwfast bench --voices``: at least 2 (every model is timed as one voice anyway; 1 timed
    it twice, in rows of the same name)."""
    value = _voice_count(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"{text} must be at least 2: every model is timed as one voice, and "
                                         "--voices V adds a stream of V voices to compare with it")
    return value


#: Inputs a module reads per tick: a window past 2**24 samples (6 minutes at 44.1 kHz) is a typo.
_window = _option(int, "positive_int", maximum=2**24, why=" (6 minutes at 44.1 kHz per tick)")
#: ``cwfast bench``'s runs per model and block size (each at least its --seconds): a median of more is no surer.
repeats = _option(int, "positive_int", maximum=1000, why=" (runs per model and block size)")
#: Wall-clock seconds ``cwfast bench`` spends on each model and block size: an hour is plenty.
bench_seconds = _option(float, "positive_float", maximum=3600, why=" (an hour per model and block size)")


def restarts(text):
    """``--restarts``: a positive integer, or ``auto`` (rounds of restarts while the time budget lasts)."""
    if text == "auto":
        return text
    try:
        return positive_int(text)
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"{exc} (or 'auto')") from None


def path(text):
    """A file name: not empty (an empty option would read as "not given" and be skipped silently)."""
    if not text:
        raise argparse.ArgumentTypeError("'' is not a path (it is empty)")
    return text


def periods(text):
    parts = [p.strip() for p in text.split(",")]
    if not parts or any(not p for p in parts):
        raise argparse.ArgumentTypeError(f"{text!r} must be a comma-separated list of positive integers, e.g. 1,2,4,8")
    try:
        return [period(p) for p in parts]
    except argparse.ArgumentTypeError as exc:
        if "at most" in str(exc):  # a period too long to fire, not a malformed list
            raise argparse.ArgumentTypeError(f"{text!r}: period {exc}") from None
        raise argparse.ArgumentTypeError(
            f"{text!r} must be a comma-separated list of positive integers, e.g. 1,2,4,8"
        ) from None


def input_window(text):
    """``period`` (each module reads the inputs of its whole period), a positive integer (every
    module), or a comma-separated list of them (one per module, in the order of the periods)."""
    if text.strip().lower() == "period":
        return "period"
    parts = [part.strip() for part in text.split(",")]
    try:
        windows = [_window(part) for part in parts]
    except argparse.ArgumentTypeError as exc:
        if "at most" in str(exc):
            raise
        raise argparse.ArgumentTypeError(f"{text!r} must be 'period', a positive integer or one per module, "
                                         "e.g. 1,2,4,8,320,320,320,320") from None
    return windows[0] if len(windows) == 1 else windows



def positive_floats(text):
    """One positive number, or a comma-separated list of distinct ones (``--lr 0.01,0.003``)."""
    from . import validate

    try:
        values = validate.positive_floats("value", [float(part) for part in text.split(",")])
    except (ValueError, ParameterError):
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number or a comma-separated list of "
                                         "distinct ones, e.g. 0.01,0.003") from None
    return values[0] if len(values) == 1 else list(values)


def percentiles(text):
    """``LO,HI``: two percentiles, 0 <= LO <= HI <= 100 (checked by cwfast.validate.percentile_band)."""
    from . import validate

    parts = text.split(",")
    try:
        if len(parts) != 2:
            raise ValueError
        return validate.percentile_band("value", tuple(float(p) for p in parts))
    except (ValueError, ParameterError):
        raise argparse.ArgumentTypeError(f"{text!r} must be two percentiles LO,HI with 0 <= LO <= HI <= 100, "
                                         "e.g. 25,75") from None


def subtype(text):
    from .audio import WRITE_SUBTYPES  # soundfile, but no numba

    value = text.upper().replace("-", "_")
    value = {"PCM16": "PCM_16", "PCM24": "PCM_24", "16": "PCM_16", "24": "PCM_24", "32": "FLOAT"}.get(value, value)
    if value not in WRITE_SUBTYPES:
        raise argparse.ArgumentTypeError(f"{text!r} is not one of {', '.join(s.lower() for s in WRITE_SUBTYPES)}")
    return value


def duration(text):
    """Seconds from ``90``, ``90s``, ``20m``, ``1h`` or ``1h30m`` (a time budget)."""
    import re

    match = re.fullmatch(r"\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m)?\s*(?:(\d+(?:\.\d+)?)(s?))?\s*", text)
    # A number without a unit is seconds only on its own: "1h30" would be read as 1 h 30 s.
    bare_after_unit = match is not None and match.group(3) and not match.group(4) and (match.group(1) or match.group(2))
    if not text.strip() or match is None or not any(match.groups()[:3]) or bare_after_unit:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration such as 90, 90s, 20m or 1h30m")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups()[:3])
    total = 3600 * hours + 60 * minutes + seconds
    if total <= 0:
        raise argparse.ArgumentTypeError(f"{text} must be longer than zero")
    if not math.isfinite(total):
        raise argparse.ArgumentTypeError(f"{text[:40]}{'...' if len(text) > 40 else ''} is longer than any run")
    return total
