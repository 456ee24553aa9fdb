"""A linear-prediction baseline for autoregressive audio models, scored in their units.

An autoregressive cwfast model reads mu-law-decoded audio and predicts the mu-law class of the next
sample; it is judged by held-out bits per sample. Before crediting a network with anything, compare
it with the oldest trick in audio coding: a linear predictor of order 32 (LPC), whose residual
is modelled by a Laplace density whose scale follows the recent residuals, integrated over each
mu-law bin so that it predicts the same 256 classes the network does. A network that cannot beat
this has learned nothing a 32-tap filter does not know.

The baseline sees exactly what the network sees (:func:`cwfast.tasks.autoregressive`): the clip
scaled to peak 1, quantised to ``n_classes`` mu-law classes, and as history the *decoded* class
values (or, for a model with linear history, the scaled samples themselves: ``history=``); it is
fitted on the training part and scored on the held-out last part, with the history and scale
state carried over from the training part (as cwfast evaluates held-out data from the state the
training audio left). Three residual models are scored side by side:

``adaptive``
    Laplace with a scale that tracks the recent absolute residuals (an exponential moving
    average whose rate is chosen on the training part): the baseline.
``fixed``
    Laplace with one scale, the mean absolute residual of the training part.
``gaussian``
    Normal with one standard deviation, the residual's on the training part.

Everything is NumPy (plus ``scipy.signal.lfilter`` and ``scipy.special.log_ndtr``, imported when
first needed), in float64.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import validate
from .errors import CwfastError, ParameterError
from .codec import N_CLASSES, check_classes, mu_law_values
from .codec import mu_law_edges as bin_edges  # where it used to live; public here too
from . import tasks
from .metrics import _unit  # the power of two metrics scales by: squares that neither overflow nor underflow

__all__ = [
    "ALPHAS",
    "N_TAPS",
    "LinearPredictor",
    "bin_edges",
    "laplace_bin_log_probs",
    "gaussian_bin_log_probs",
    "bin_probabilities",
    "fit",
    "baseline",
    "split_baseline",
]

#: The predictor's order.
N_TAPS = 32
#: Candidate rates of the adaptive scale's moving average, chosen among on the training part
#: (0 is a fixed scale; 2^-k averages over roughly the last 2^k samples).
ALPHAS = (0.0,) + tuple(2.0**-k for k in range(1, 13))
#: The scale never falls below this (in units of the clip's peak): a long run of identical samples
#: must not make the next different one infinitely surprising. The narrowest mu-law bin of 256
#: classes is about 1.7e-4 wide, so this floor is far below anything that matters.
SCALE_FLOOR = 1e-6
_LOG_HALF = math.log(0.5)


def _log_one_minus_exp(width):
    """log(1 - exp(-width)) for width > 0 (inf allowed), accurate for small widths."""
    with np.errstate(divide="ignore"):
        return np.log(-np.expm1(-width))


def laplace_bin_log_probs(mean, scale, lo, hi):
    r"""Natural log of the probability a Laplace density gives to the interval [lo, hi).

    .. math::

        P = \int_{lo}^{hi} \frac{1}{2b} e^{-|x - m| / b} \, dx

    computed in the log domain from whichever form does not cancel: bins wholly above or below
    the mean get :math:`\log\frac12 - d/b + \log(1 - e^{-(hi - lo)/b})` with :math:`d` the
    distance of the nearer edge, so that an outcome far in the tail costs a large but finite
    number of bits instead of :math:`-\log 0`.

    Parameters
    ----------
    mean, scale, lo, hi : array_like, broadcastable, float
        ``scale > 0``; ``lo < hi``, either may be infinite.

    Returns
    -------
    ndarray, float64, the broadcast shape
    """
    mean, scale, lo, hi = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64) for a in (mean, scale, lo, hi)))
    log_width = _log_one_minus_exp((hi - lo) / scale)
    with np.errstate(invalid="ignore", over="ignore"):
        above = _LOG_HALF - (lo - mean) / scale + log_width
        below = _LOG_HALF - (mean - hi) / scale + log_width
        inside = np.log(-0.5 * (np.expm1((lo - mean) / scale) + np.expm1((mean - hi) / scale)))
    return np.where(lo >= mean, above, np.where(hi <= mean, below, inside))


def gaussian_bin_log_probs(mean, std, lo, hi):
    r"""Natural log of the probability a normal density gives to [lo, hi), stable in the tails.

    :math:`\log(\Phi(z_{hi}) - \Phi(z_{lo}))` from ``scipy.special.log_ndtr``, mirrored so that
    both arguments are in the lower tail.
    """
    from scipy.special import log_ndtr

    mean, std, lo, hi = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64) for a in (mean, std, lo, hi)))
    z_lo, z_hi = (lo - mean) / std, (hi - mean) / std
    flip = z_lo > 0  # both in the upper tail: P = Phi(-z_lo) - Phi(-z_hi)
    a = np.where(flip, -z_lo, z_hi)  # larger argument
    b = np.where(flip, -z_hi, z_lo)
    log_a, log_b = log_ndtr(a), log_ndtr(b)
    with np.errstate(divide="ignore"):
        return log_a + np.log(-np.expm1(log_b - log_a))


def bin_probabilities(mean, scale, n_classes=N_CLASSES, *, density="laplace"):
    """The probability of every mu-law class under a Laplace (or normal) density of the amplitude.

    Parameters
    ----------
    mean, scale : array_like, float
        Broadcastable; ``scale`` is the Laplace scale (or the normal's standard deviation), > 0.
    n_classes : int
    density : {"laplace", "gaussian"}

    Returns
    -------
    ndarray, shape (*broadcast shape, n_classes), float64
        Sums to 1 over the last axis.
    """
    if density not in ("laplace", "gaussian"):
        raise ParameterError(f"density={density!r} must be 'laplace' or 'gaussian'")
    edges = bin_edges(n_classes)
    values = {}
    for name, value in (("mean", mean), ("scale", scale)):
        try:
            values[name] = np.asarray(value, dtype=np.float64)[..., None]
        except (TypeError, ValueError):
            raise ParameterError(f"{name}={value!r} must be a real number or array") from None
    mean, scale = values["mean"], values["scale"]
    if not np.all(np.isfinite(mean)):
        raise ParameterError("mean must be finite")
    if not np.all((scale > 0) & np.isfinite(scale)):
        raise ParameterError("scale must be positive and finite")
    try:
        np.broadcast_shapes(mean.shape, scale.shape)
    except ValueError:
        raise ParameterError(f"mean of shape {mean.shape[:-1]} and scale of shape {scale.shape[:-1]} do not "
                             "broadcast together") from None
    log_probs = (laplace_bin_log_probs if density == "laplace" else gaussian_bin_log_probs)(
        mean, scale, edges[:-1], edges[1:])
    return np.exp(log_probs)


# ---------------------------------------------------------------------------------------- predictor


def _windows(values, n_taps):
    """Row t: values[t - n_taps], ..., values[t - 1] (zeros before the clip), a strided view."""
    padded = np.concatenate([np.zeros(n_taps), values])
    return np.lib.stride_tricks.sliding_window_view(padded[:-1], n_taps)


def _moving_scale(abs_residuals, alpha, initial):
    """Scale for each step from the residuals before it: b_t = (1 - alpha) b_{t-1} + alpha |e_{t-1}|."""
    if alpha == 0.0:
        return np.full(abs_residuals.size, initial)
    from scipy.signal import lfilter

    after = lfilter([alpha], [1.0, alpha - 1.0], abs_residuals, zi=[(1.0 - alpha) * initial])[0]
    return np.maximum(np.concatenate([[initial], after[:-1]]), SCALE_FLOOR)


@dataclass
class LinearPredictor:
    r"""A fitted linear predictor of mu-law-decoded audio with a Laplace residual of moving scale.

    .. math::

        m_t = \sum_{k=1}^{K} a_k v_{t-k}, \qquad
        b_t = (1 - \alpha) b_{t-1} + \alpha |v_{t-1} - m_{t-1}|, \qquad
        P(c_t = j) = \int_{e_j}^{e_{j+1}} \frac{1}{2 b_t} e^{-|x - m_t| / b_t} dx

    where :math:`v_t` is the decoded value of class :math:`c_t` (or the sample itself, for linear
    history: ``values=``), :math:`e_j` the class edges
    (:func:`bin_edges`) and :math:`b_{0}` the training part's mean absolute residual.

    Attributes
    ----------
    coefficients : ndarray, shape (n_taps,), float64
        Oldest tap first: ``coefficients[-1]`` multiplies the previous sample.
    alpha : float
        Rate of the scale's moving average (0: fixed scale).
    initial_scale : float
        :math:`b_0`, the mean absolute residual on the training part.
    gaussian_std : float
        Residual standard deviation on the training part (for the ``gaussian`` variant).
    n_classes : int
    """

    coefficients: np.ndarray
    alpha: float
    initial_scale: float
    gaussian_std: float
    n_classes: int = N_CLASSES

    @property
    def n_taps(self):
        return self.coefficients.size

    def means(self, values, *, chunk=65536):
        """The prediction of ``values[t]`` from the ``n_taps`` values before it, for every t."""
        values = validate.real_array("values", values, np.float64)
        if values.ndim != 1:
            raise ParameterError(f"values has shape {values.shape}; expected one value per step, shape (n,)")
        chunk = validate.positive_int("chunk", chunk)
        if values.size == 0:  # (no window to slide over an empty history)
            return np.empty(0)
        windows = _windows(values, self.n_taps)
        out = np.empty(values.size)
        for start in range(0, values.size, chunk):
            out[start : start + chunk] = windows[start : start + chunk] @ self.coefficients
        return out

    def log_probs(self, labels, *, variant="adaptive", values=None):
        """Natural log of the probability given to each observed class, shape (n,).

        ``labels`` is the whole class sequence from the start of the clip: the history and the
        moving scale run over all of it, so slice the result for a held-out part. ``values`` is
        the history the predictor reads, one per label: by default each label's decoded value
        (a model with mu-law history); a model with linear history reads the samples themselves.
        """
        labels = _check_labels(labels, self.n_classes)
        if labels.size == 0:
            raise ParameterError("labels is empty")
        values = _history(labels, values, self.n_classes)
        means = self.means(values)
        edges = bin_edges(self.n_classes)
        lo, hi = edges[labels], edges[labels + 1]
        if variant == "gaussian":
            return gaussian_bin_log_probs(means, self.gaussian_std, lo, hi)
        if variant == "fixed":
            scales = self.initial_scale
        elif variant == "adaptive":
            scales = _moving_scale(np.abs(values - means), self.alpha, self.initial_scale)
        else:
            raise ParameterError(f"variant={variant!r} must be one of adaptive, fixed, gaussian")
        return laplace_bin_log_probs(means, scales, lo, hi)


def _history(labels, values, n_classes):
    """The history a predictor reads: ``values`` (float64), or the labels' decoded values."""
    if values is None:
        return mu_law_values(n_classes).astype(np.float64)[labels]
    values = validate.real_array("values", values, np.float64)  # (as means() checks them: strings, complex, NaN)
    if values.shape != labels.shape:
        raise ParameterError(f"values has shape {values.shape}; expected {labels.shape}, one per label")
    return values


def _least_squares(parts, n_taps, chunk=65536, scale=1.0):
    """Coefficients minimising the squared prediction error of values[n_taps:n_train] over the
    (values, n_train) parts, each predicted from its own past only (covariance method); the values
    are read times ``scale`` (which does not change the coefficients; a power of two keeps the
    Gram matrix of values near 1e300 or 1e-300 finite and nonzero)."""
    gram = np.zeros((n_taps, n_taps))
    cross = np.zeros(n_taps)
    for values, n_train in parts:
        # The first n_taps steps read zeros before the clip; leave them out of the fit. The rest
        # read only the clip: a chunk and the n_taps before it, in float64 (no copy of the clip).
        for start in range(n_taps, n_train, chunk):
            stop = min(start + chunk, n_train)
            read = values[start - n_taps : stop].astype(np.float64)
            if scale != 1.0:
                read *= scale
            w = np.ascontiguousarray(np.lib.stride_tricks.sliding_window_view(read[:-1], n_taps))
            gram += w.T @ w
            cross += w.T @ read[n_taps:]
    # A whisper of ridge so that a clip with long silences (a singular Gram matrix) still solves.
    gram[np.diag_indices(n_taps)] += 1e-9 * max(np.trace(gram) / n_taps, 1e-30)
    return np.linalg.solve(gram, cross)


def coefficients(clips, n_taps=N_TAPS):
    """The ``n_taps`` coefficients (oldest first) minimising the squared error of predicting each
    of the 1-D ``clips`` from its own past, as :func:`fit` computes them: what a
    :class:`cwfast.model.Pitch` predictor takes the residual of. ParameterError if a clip is not
    1-D (one clip alone is ``[clip]``), or the clips hold fewer than ``4 * n_taps`` values together."""
    n_taps = _check_taps(n_taps)
    # A float32 clip stays float32 (read in float64 a chunk at a time): an hour's training part in
    # float64 at once was 8 bytes a sample more.
    parts = []
    for c in clips:
        clip = validate.as_array("clip", c)
        if clip.ndim != 1:  # (before real_array, which makes a 0-d value 1-D)
            raise ParameterError(f"clip has shape {clip.shape}; expected (n,): clips is a sequence of 1-D clips")
        parts.append((validate.real_array("clip", clip, np.float32 if clip.dtype == np.float32 else np.float64),
                      clip.size))
    if sum(n for _, n in parts) < 4 * n_taps:
        raise ParameterError(f"the clips hold {sum(n for _, n in parts)} values; fitting {n_taps} taps needs at "
                             f"least {4 * n_taps}")
    peak = max((float(np.max(np.abs(clip))) for clip, _ in parts if clip.size), default=0.0)
    return _least_squares(parts, n_taps, scale=_unit(peak))


def _check_taps(n_taps):
    if isinstance(n_taps, bool) or not isinstance(n_taps, (int, np.integer)) or n_taps < 1:
        raise ParameterError(f"n_taps={n_taps!r} must be a positive integer")
    return int(n_taps)


def _bits(log_probs):
    """Mean bits per sample from natural-log probabilities (+ 0.0: a perfect score is 0.0, not -0.0)."""
    return -float(np.mean(log_probs)) / math.log(2.0) + 0.0


def fit(labels, n_train, *, n_taps=N_TAPS, n_classes=N_CLASSES, alphas=ALPHAS):
    """Fit a :class:`LinearPredictor` on the first ``n_train`` classes of a mu-law class sequence.

    The coefficients minimise the squared error of the decoded values (least squares, covariance
    method), the initial scale is the training part's mean absolute residual, and ``alpha`` is
    the candidate that scores the fewest bits on the training part.

    Parameters
    ----------
    labels : ndarray, shape (n,), int
        Mu-law classes of the clip (e.g. ``cwfast.tasks.autoregressive(samples).targets``).
    n_train : int
        How many of them, from the start, to fit on; at least ``4 * n_taps``.
    n_taps : int
        The predictor's order (:data:`N_TAPS`, 32).
    n_classes : int
        Mu-law classes, 2 to 65536 (256: what ``cwfast train`` uses).
    alphas : sequence of float
        Candidate rates of the moving scale, each in [0, 1) (0: a fixed scale); the one that
        scores the fewest bits on the training part is kept (:data:`ALPHAS`).
    """
    n_classes = check_classes(n_classes)
    labels = _check_labels(labels, n_classes)
    n_taps = _check_taps(n_taps)
    if (isinstance(n_train, bool) or not isinstance(n_train, (int, np.integer))
            or not 4 * n_taps <= n_train <= labels.size):
        raise ParameterError(f"n_train={n_train!r} must be an integer between 4 x n_taps = {4 * n_taps} "
                             f"and the number of labels ({labels.size})")
    return _fit_parts([(labels, None, int(n_train))], int(n_taps), n_classes, _check_alphas(alphas))


def _check_labels(labels, n_classes):
    """``labels`` as a 1-D integer array of classes in [0, n_classes), or ParameterError."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise ParameterError("labels must be a 1-D array of integer classes")
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ParameterError(f"labels must lie in [0, {n_classes - 1}]")
    # int64 for the arithmetic on them (a task's labels are uint8: the top class + 1 wrapped to 0)
    return labels.astype(np.int64, copy=False)


def _check_alphas(alphas):
    try:
        alphas = tuple(float(a) for a in alphas)
    except (TypeError, ValueError):
        raise ParameterError(f"alphas={alphas!r} must be a non-empty sequence of rates in [0, 1)") from None
    if not alphas or not all(0.0 <= a < 1.0 for a in alphas):
        raise ParameterError("alphas must be a non-empty sequence of rates in [0, 1)")
    return alphas


def _fit_parts(parts, n_taps, n_classes, alphas):
    """:func:`fit` on several (labels, values, n_train) clips at once (values: the history, None
    for the labels' decoded values): one predictor for all of them, each clip predicted from its
    own past (its history starts from zeros, its scale from the initial)."""
    values = [(_history(labels, v, n_classes), n_train) for labels, v, n_train in parts]
    coefficients = _least_squares(values, n_taps)
    predictor = LinearPredictor(coefficients, 0.0, 1.0, 1.0, n_classes)
    residuals = np.concatenate([(v - predictor.means(v))[n_taps:n_train] for v, n_train in values])
    predictor.initial_scale = max(float(np.mean(np.abs(residuals))), SCALE_FLOOR)
    predictor.gaussian_std = max(float(np.sqrt(np.mean(residuals**2))), SCALE_FLOOR)
    best = None
    for alpha in alphas:
        predictor.alpha = alpha
        cost = -float(np.mean(np.concatenate([predictor.log_probs(labels[:n_train], values=v[:n_train])[n_taps:]
                                              for (labels, _, n_train), (v, _) in zip(parts, values)])))
        if best is None or cost < best[0]:
            best = (cost, alpha)
    predictor.alpha = best[1]
    return predictor


def baseline(samples, *, test=0.1, n_taps=N_TAPS, n_classes=N_CLASSES, alphas=ALPHAS):
    """Held-out bits per mu-law sample of the linear-prediction baseline on a clip.

    The clip is turned into classes exactly as ``cwfast train --mode autoregressive`` does
    (:func:`cwfast.tasks.corpus` of one clip: scaled to its peak before the held-out part, mu-law),
    the last ``test`` fraction (rounded as :func:`cwfast.tasks.split_task` does) is held out, the
    predictor is fitted on the rest (:func:`fit`) and every variant is scored on the held-out part.

    Parameters
    ----------
    samples : ndarray, shape (n,), float
        Mono audio at the rate a model would be trained at.
    test : float
        Held-out fraction, in (0, 1): the part ``cwfast train`` reports as its test figure.
    n_taps, n_classes, alphas
        As for :func:`fit`.

    Returns
    -------
    dict
        ``bits_per_sample`` (adaptive Laplace, held out: the baseline's figure),
        ``fixed_bits_per_sample``, ``gaussian_bits_per_sample`` (held out), ``train_bits_per_sample``
        (adaptive, on the training part: in-sample), ``alpha``, ``initial_scale``, ``n_taps``,
        ``n_train``, ``n_test``, and ``predictor`` (the :class:`LinearPredictor`).

    Raises
    ------
    ParameterError
        For bad arguments, or a clip too short to fit ``n_taps`` taps and hold out a part.
    CwfastError
        For a silent clip.
    """
    if not (isinstance(test, (int, float)) and not isinstance(test, bool) and 0.0 < test < 1.0):
        raise ParameterError(f"test={test!r} must be a number in (0, 1)")
    n_taps = _check_taps(n_taps)
    split = tasks.corpus([samples], n_classes=check_classes(n_classes), test=test)[0]
    labels = tasks.join(split).targets
    n_test = 0 if split.test is None else split.test.n_steps
    n_train = labels.size - n_test
    if n_test == 0:
        raise ParameterError(f"the clip ({labels.size} samples) is too short to hold out {test:.0%}")
    if n_train < 4 * n_taps:  # as fit would refuse it, but in the caller's terms
        raise ParameterError(f"the clip ({labels.size} samples) leaves {n_train} before its held-out part; fitting "
                             f"{n_taps} taps needs at least {4 * n_taps}")
    predictor = fit(labels, n_train, n_taps=n_taps, n_classes=n_classes, alphas=alphas)
    bits = {}
    for variant in ("adaptive", "fixed", "gaussian"):
        log_probs = predictor.log_probs(labels, variant=variant)
        bits[variant] = _bits(log_probs[n_train:])
        if variant == "adaptive":
            train_bits = _bits(log_probs[n_taps:n_train])
    if not math.isfinite(bits["adaptive"]):
        raise CwfastError("the linear predictor's held-out score is not finite")
    return {
        "bits_per_sample": bits["adaptive"],
        "fixed_bits_per_sample": bits["fixed"],
        "gaussian_bits_per_sample": bits["gaussian"],
        "train_bits_per_sample": train_bits,
        "alpha": predictor.alpha,
        "initial_scale": predictor.initial_scale,
        "n_taps": predictor.n_taps,
        "n_train": n_train,
        "n_test": n_test,
        "predictor": predictor,
    }


def split_baseline(clips, *, validation=0.1, test=0.1, n_taps=N_TAPS, n_classes=N_CLASSES, alphas=ALPHAS,
                   history="mu-law"):
    """Held-out bits per mu-law sample of the baseline on the test parts ``cwfast train`` scores.

    ``cwfast train --mode autoregressive`` cuts every clip it is given in time
    (:func:`cwfast.tasks.corpus`): training part, then ``validation``, then the last ``test``
    fraction, with one scale (the loudest peak before the clips' test parts) for all clips. This
    fits one predictor on the clips' training parts, each clip predicted from its own past, and
    scores it on their test parts, the history and the moving scale running on
    through each clip's training and validation parts first; the clips' figures are averaged
    weighted by their test lengths, as ``cwfast train`` averages its held-out figure. So the
    baseline and a trained model are scored on exactly the same samples.

    Unlike :func:`baseline`, which fits on everything before the held-out part, the validation
    part is not fitted on: a network learns from the training part alone (the validation part
    only chooses its epoch).

    Parameters
    ----------
    clips : ndarray, shape (n,), or sequence of them, float
        Mono audio at one sample rate, the files given to ``cwfast train`` in their order.
    validation, test : float
        The fractions ``cwfast train`` holds out (its ``--validation`` and ``--test``; 0.1 each
        by default); ``test`` must be > 0.
    n_taps, n_classes, alphas
        As for :func:`fit`.
    history : str
        What the predictor reads of the past: "mu-law" (the decoded classes) or "linear" (the
        samples), as the model it is compared with does (:func:`cwfast.tasks.autoregressive`).

    Returns
    -------
    dict
        ``bits_per_sample`` (adaptive Laplace, test parts), ``fixed_bits_per_sample``,
        ``gaussian_bits_per_sample``, ``train_bits_per_sample`` (adaptive, training parts),
        ``alpha``, ``n_taps``, ``n_train``, ``n_validation``, ``n_test`` (summed over the clips),
        ``n_clips`` and ``predictor``.

    Raises
    ------
    ParameterError
        For bad arguments, or training parts too short to fit ``n_taps`` taps.
    CwfastError
        If every clip is silent.
    """
    from . import tasks

    if isinstance(clips, np.ndarray):
        if clips.ndim != 1:  # a 2-D array would read as one clip per row: stereo as 2-sample clips
            raise ParameterError(f"clips has shape {clips.shape}; expected one mono clip, shape (n,), or a list")
        clips = [clips]
    if not (isinstance(test, (int, float)) and not isinstance(test, bool) and 0.0 < test < 1.0):
        raise ParameterError(f"test={test!r} must be a number in (0, 1)")
    n_classes = check_classes(n_classes)
    n_taps = _check_taps(n_taps)
    splits = tasks.corpus(list(clips), n_classes=n_classes, validation=validation, test=test, history=history)
    parts, spans = [], []
    for s in splits:
        pieces = [p for p in s if p is not None]
        labels = np.concatenate([p.targets for p in pieces])
        # Sample t is read as input t + 1; the last one is history for nothing scored.
        values = np.concatenate([np.concatenate([p.inputs[:, 0] for p in pieces])[1:],
                                 mu_law_values(n_classes)[labels[-1:]]]).astype(np.float64)
        n_train = s.train.n_steps
        n_test = 0 if s.test is None else s.test.n_steps
        parts.append((labels, values, n_train))
        spans.append((n_train, labels.size - n_test))
    fitted = sum(max(0, n - n_taps) for _, _, n in parts)
    if fitted < 3 * n_taps:
        raise ParameterError(f"the training parts hold {fitted} samples past each clip's first {n_taps}; "
                             f"fitting {n_taps} taps needs at least {3 * n_taps}")
    if sum(labels.size - cut for (labels, _, _), (_, cut) in zip(parts, spans)) == 0:
        raise ParameterError(f"the clips are too short to hold out {test:.0%}")
    predictor = _fit_parts(parts, n_taps, n_classes, _check_alphas(alphas))
    bits = {}
    for variant in ("adaptive", "fixed", "gaussian"):
        scored = [predictor.log_probs(labels, variant=variant, values=values) for labels, values, _ in parts]
        held = np.concatenate([lp[cut:] for lp, (_, cut) in zip(scored, spans)])
        bits[variant] = _bits(held)
        if variant == "adaptive":
            train_bits = _bits(np.concatenate([lp[n_taps:n_train] for lp, (_, _, n_train) in zip(scored, parts)]))
    if not math.isfinite(bits["adaptive"]):
        raise CwfastError("the linear predictor's held-out score is not finite")
    n_train = sum(n for _, _, n in parts)
    n_test = sum(labels.size - cut for (labels, _, _), (_, cut) in zip(parts, spans))
    return {
        "bits_per_sample": bits["adaptive"],
        "fixed_bits_per_sample": bits["fixed"],
        "gaussian_bits_per_sample": bits["gaussian"],
        "train_bits_per_sample": train_bits,
        "alpha": predictor.alpha,
        "n_taps": n_taps,
        "n_train": n_train,
        "n_validation": sum(cut - start for start, cut in spans),
        "n_test": n_test,
        "n_clips": len(parts),
        "predictor": predictor,
    }
