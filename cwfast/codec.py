"""The mu-law codec of autoregressive audio models: samples in [-1, 1] to class labels and back.

8-bit mu-law (256 classes), as in telephony and WaveNet, spends its levels where most samples and
the ear's sensitivity are, near zero. Pure NumPy.

>>> mu_law_encode([-1.0, 0.0, 1.0]).tolist()
[0, 128, 255]
"""

from __future__ import annotations

import math

import numpy as np

from . import validate
from .errors import ParameterError
from .modes import HISTORIES

#: Number of mu-law classes of an autoregressive model (8-bit mu-law, as in telephony and WaveNet).
N_CLASSES = 256


#: The most mu-law classes a model may have: a 16-bit sample has no more levels.
MAX_CLASSES = 2**16


def check_classes(n_classes):
    if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)) or not 2 <= n_classes <= MAX_CLASSES:
        raise ParameterError(f"n_classes={n_classes!r} must be an integer from 2 to {MAX_CLASSES} (a 16-bit sample's "
                             "levels)")
    return int(n_classes)


def _clipped(samples, nan_note):
    """``samples`` as float64 clipped to [-1, 1] (an infinity too), or ParameterError if they are not
    real numbers or hold NaN (``nan_note`` says why NaN cannot be read)."""
    try:
        x = np.asarray(samples)
        if x.dtype.kind not in "fiub":
            raise TypeError(f"dtype {x.dtype}")
        x = x.astype(np.float64, copy=False)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"samples must be real numbers ({exc})") from None
    if np.isnan(x).any():
        raise ParameterError(f"samples holds NaN, {nan_note}")
    return np.clip(x, -1.0, 1.0)


def _labels(labels, mu):
    """``labels`` as an integer array in [0, mu], or ParameterError (an index past the classes,
    or a negative one, which NumPy would read from the end)."""
    labels = validate.as_array("labels", labels)
    if labels.dtype.kind not in "iu":
        raise ParameterError(f"labels has dtype {labels.dtype}; expected integer class labels")
    if labels.size and (labels.min() < 0 or labels.max() > mu):
        raise ParameterError(f"labels must lie in [0, {mu}] for n_classes={mu + 1}")
    return labels


def mu_law_encode(samples, n_classes=N_CLASSES):
    r"""Quantise samples in [-1, 1] to mu-law class labels.

    .. math::

        F(x) = \operatorname{sign}(x) \frac{\ln(1 + \mu |x|)}{\ln(1 + \mu)}, \qquad
        \mathrm{label} = \left\lfloor \frac{F(x) + 1}{2} \mu + \frac{1}{2} \right\rfloor,
        \qquad \mu = n_{classes} - 1

    Parameters
    ----------
    samples : array_like, float
        Values outside [-1, 1] are clipped first.
    n_classes : int

    Returns
    -------
    labels : ndarray, same shape, int64, in ``[0, n_classes)``

    Raises
    ------
    ParameterError
        If ``samples`` is not real numbers, or holds NaN (which has no class; an infinity is clipped).
    """
    mu = check_classes(n_classes) - 1
    x = _clipped(samples, "which has no mu-law class")
    companded = np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu)
    return np.floor((companded + 1.0) / 2.0 * mu + 0.5).astype(np.int64)


def mu_law_decode(labels, n_classes=N_CLASSES):
    """The amplitude in [-1, 1] each mu-law label stands for (the inverse of :func:`mu_law_encode`).

    Returns
    -------
    ndarray, same shape as ``labels``, float32
    """
    mu = check_classes(n_classes) - 1
    labels = _labels(labels, mu)
    y = 2.0 * labels.astype(np.float64) / mu - 1.0
    return (np.sign(y) * np.expm1(np.abs(y) * np.log1p(mu)) / mu).astype(np.float32)


def mu_law_values(n_classes=N_CLASSES):
    """The decoded amplitude of every class, shape (n_classes,), float32 (``values`` of ``sample``)."""
    return mu_law_decode(np.arange(check_classes(n_classes)), n_classes)


def mu_law_edges(n_classes=N_CLASSES):
    r"""The amplitudes where one mu-law class ends and the next begins, for :func:`mu_law_encode`.

    Class :math:`k` holds the amplitudes whose companded value :math:`F(x)` lies in
    :math:`[(2k - 1)/\mu - 1, (2k + 1)/\mu - 1)`, :math:`\mu = n_{classes} - 1`; the encoder
    clips to [-1, 1] first, so the outermost classes extend to infinity. The linear-prediction
    baseline and the mixture head score a continuous density by integrating it over these bins.

    Returns
    -------
    ndarray, shape (n_classes + 1,), float64
        ``edges[k]`` to ``edges[k + 1]`` is class ``k``; ``edges[0] = -inf``, ``edges[-1] = inf``.
    """
    mu = check_classes(n_classes) - 1
    companded = (2.0 * np.arange(1, mu + 1) - 1.0) / mu - 1.0
    inner = np.sign(companded) * np.expm1(np.abs(companded) * math.log1p(mu)) / mu
    return np.concatenate([[-np.inf], inner, [np.inf]])


def is_history(value):
    """Whether ``value`` names a history (:data:`cwfast.modes.HISTORIES`); non-strings are not."""
    return isinstance(value, str) and value in HISTORIES


def check_history(history):
    """``history`` if it is one of :data:`cwfast.modes.HISTORIES`, else ParameterError."""
    if not is_history(history):
        raise ParameterError(f"history={history!r} must be one of {', '.join(map(repr, HISTORIES))}")
    return history


def as_read(scaled, n_classes=N_CLASSES, history="mu-law", *, labels=None):
    """Samples in the model's units as an autoregressive model reads them back: the decoded value
    of each one's mu-law class (``history="mu-law"``; ``labels``, their classes if the caller has
    them already) or the sample itself, clipped to [-1, 1] (``"linear"``;
    :data:`cwfast.modes.HISTORIES`). Shape as ``scaled``, float32.

    Raises
    ------
    ParameterError
        If ``scaled`` is not real numbers or holds NaN, or ``labels`` are not classes of
        ``n_classes``.
    """
    if check_history(history) == "linear":
        return _clipped(scaled, "which a model cannot read").astype(np.float32)
    if labels is None:
        return mu_law_values(n_classes)[mu_law_encode(scaled, n_classes)]
    return mu_law_values(n_classes)[_labels(labels, check_classes(n_classes) - 1)]
