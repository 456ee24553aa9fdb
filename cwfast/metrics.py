"""Figures of merit for audio models: NMSE (the paper's), ESR (effect models), levels and spectra.

Pure NumPy. How alike generated audio and its source sound (spectral distance, flatness, pitch) is
:mod:`cwfast.likeness`.

>>> nmse([0.0, 2.0], [1.0, 3.0])
1.0
"""

from __future__ import annotations

import math

import numpy as np

from . import validate
from .errors import ParameterError


def _pair(y, target):
    y = validate.real_array("y", y, np.float64)
    target = validate.real_array("target", target, np.float64)
    if y.shape != target.shape:
        raise ParameterError(f"output has shape {y.shape} but target has shape {target.shape}")
    if target.size == 0:
        raise ParameterError("target is empty")
    return y, target


def nmse(y, target):
    """Normalised mean squared error, ``mean((y - target)^2) / var(target)`` (the paper's metric).

    0 is perfect; 1 is what predicting the mean of the target scores.

    Raises
    ------
    ParameterError
        If the shapes differ or the target is constant (zero variance).
    """
    y, target = _pair(y, target)
    if np.all(target == target.flat[0]):
        raise ParameterError("target is constant, so NMSE (which divides by its variance) is undefined")
    y, target = _common_scale(y, target)
    with np.errstate(divide="ignore"):  # a target so much smaller than y that its variance underflows: inf
        return float(np.mean((y - target) ** 2) / np.var(target))


def esr(y, target):
    """Error-to-signal ratio, ``sum((y - target)^2) / sum(target^2)``, the usual metric of effect models.

    0 is perfect; 1 is what outputting silence scores.

    Raises
    ------
    ParameterError
        If the shapes differ or the target is silent.
    """
    y, target = _pair(y, target)
    if not np.any(target):
        raise ParameterError("target is silent, so ESR (which divides by its energy) is undefined")
    y, target = _common_scale(y, target)
    with np.errstate(divide="ignore"):  # a target so much smaller than y that its energy underflows: inf
        return float(np.sum((y - target) ** 2) / np.sum(target**2))


#: Magnitudes whose squares, summed over any array, neither overflow nor underflow in float64.
_SAFE = (1e-140, 1e140)


def _unit(peak):
    """A power of two to multiply values of magnitude up to ``peak`` by, so that their squares
    cannot overflow (1e200) or underflow (1e-170); 1 (no change, not even in the last bit) for the
    magnitudes audio has."""
    return 1.0 if peak == 0 or _SAFE[0] < peak < _SAFE[1] else 2.0 ** -math.frexp(peak)[1]


def _common_scale(y, target):
    """``y`` and ``target`` times one :func:`_unit`: a ratio of their squares is the same."""
    scale = _unit(max(float(np.max(np.abs(y))), float(np.max(np.abs(target)))))
    return y * scale, target * scale


def rms(samples):
    """Root-mean-square level of samples (full scale = 1)."""
    samples = validate.real_array("samples", samples, np.float64)
    if samples.size == 0:
        raise ParameterError("samples is empty")
    scale = _unit(float(np.max(np.abs(samples))))
    return float(np.sqrt(np.mean((samples * scale) ** 2))) / scale


def spectral_centroid(samples, sample_rate):
    """The power-weighted mean frequency of a whole clip in Hz (its "brightness").

    Computed from the power spectrum of the whole (Hann-windowed) clip. 0 for a silent clip.
    """
    samples = validate.real_array("samples", samples, np.float64)
    sample_rate = validate.positive_float("sample_rate", sample_rate, maximum=2**31 - 1)  # a sound file's most
    if samples.ndim != 1:  # raveled, a stereo clip's interleaved channels read as one signal
        raise ParameterError(f"samples has shape {samples.shape}; expected mono samples, shape (n,)")
    if samples.size < 2:
        raise ParameterError("samples must hold at least two samples for a spectrum")
    scale = _unit(float(np.max(np.abs(samples))))  # a ratio of powers: the level cancels
    power = np.abs(np.fft.rfft(samples * scale * np.hanning(samples.size))) ** 2
    freqs = np.fft.rfftfreq(samples.size, 1.0 / sample_rate)
    total = power.sum()
    return float((freqs * power).sum() / total) if total > 0 else 0.0


def nats_to_bits(nats):
    """A cross-entropy in nats per sample as bits per sample."""
    return validate.finite_float("nats", nats) / math.log(2.0)
