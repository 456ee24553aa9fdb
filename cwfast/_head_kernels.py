"""numba kernels of the output heads, written once for every architecture's kernels.

What a head does inside a compiled loop: the loss of one output row (squared error of the linear
head, cross-entropy of the softmax and mixture heads), the mean readout over the steps, and what
generation emits and feeds back (a class from a softmax at a temperature, or an amplitude from a
mixture of logistics). :mod:`cwfast._kernels` (Clockwork RNN, SRN) and
:mod:`cwfast._lstm_kernels` both call these; :mod:`cwfast._jit` keeps their on-disk caches in step
with this file. The mixture head's loss, and its loss with the gradient that training takes, are
compiled here too (:func:`_mixture_nats`, :func:`_mixture_loss_grad`). The Python side of the heads
(the linear and softmax heads' losses with gradients, target checks) is :mod:`cwfast.heads`;
``tests/test_protocol.py`` and ``tests/test_mixture.py`` check that both agree.
"""

import numba
import numpy as np

from ._jit import INT_ZERO as _0
from ._jit import JIT as _JIT
from .modes import FLUSH as _FLUSH


@numba.njit(**_JIT)
def _row_loss(row, softmax, label, target):
    """The loss of one output vector ``row`` (n_out,) float64: cross-entropy against class
    ``label``, or the summed squared error against ``target`` (n_out,)."""
    if softmax:
        top = row[0]
        for k in range(1, row.shape[0]):
            top = max(top, row[k])
        norm = 0.0
        for k in range(row.shape[0]):
            norm += np.exp(row[k] - top)
        return np.log(norm) - (row[label] - top)
    total = 0.0
    for k in range(row.shape[0]):
        d = row[k] - np.float64(target[k])
        total += d * d
    return total


@numba.njit(**_JIT)
def _scored_row_loss(row, head_code, labels, y_target, b, ts):
    """The loss of ``row`` against sequence ``b``'s scored target ``ts``, for the head whose
    ``cwfast.heads.Head.code`` is ``head_code`` (0 linear, 1 softmax, 2 mixture); reads only the
    array of the head in use (the other one is empty)."""
    if head_code == 2:
        return _mixture_row_loss(row, labels[b, ts])
    if head_code:
        return _row_loss(row, True, labels[b, ts], row)
    return _row_loss(row, False, _0, y_target[b, ts])


@numba.njit(**_JIT)
def _finish_row(row, n_logits):
    """What ``forward`` returns for one raw output row (n_out,), in place: the softmax of its first
    ``n_logits`` values; for a mixture (``n_logits`` = n_out / 3), its scales too, the exp of its
    log-scales clamped at the narrowest. Summed in float64. Shared by ``forward``
    (:meth:`cwfast.heads.SoftmaxHead.finish`, :meth:`cwfast.heads.MixtureHead.finish`) and a
    stream's compiled stages, so the two give the same bits."""
    top = row[0]
    for k in range(1, n_logits):
        top = max(top, row[k])
    norm = 0.0
    for k in range(n_logits):
        e = np.exp(row[k] - top)
        row[k] = e
        norm += e
    for k in range(n_logits):
        row[k] = row[k] / norm
    if n_logits < row.shape[0]:
        for k in range(2 * n_logits, row.shape[0]):
            row[k] = np.exp(max(row[k], _LOG_SCALE_MIN))


@numba.njit(**_JIT)
def _finish_rows(y, n_logits):
    """:func:`_finish_row` on every row of ``y`` (rows, n_out)."""
    for t in range(y.shape[0]):
        _finish_row(y[t], n_logits)


# The mixture-of-logistics head (cwfast.heads.MixtureHead): K = n_out / 3 logits, means, log-scales.
# Its mu-law bins are computed from the codec's formula, not read from a global table: numba
# would freeze a table into the compiled code, and the on-disk cache stamp covers only these
# kernel files.
_MU = 255.0
_LOG_SCALE_MIN = -16.0
#: cwfast.heads.SURPRISE_R_RANGE (where r of a surprise-following scale is held), literals as above.
_R_MIN, _R_MAX = 1e-12, 1e12


@numba.njit(**_JIT)
def _mu_law_edge(k):
    """The amplitude where mu-law class ``k - 1`` ends and class ``k`` begins (1 <= k <= 255)."""
    c = (2.0 * k - 1.0) / _MU - 1.0
    return np.sign(c) * np.expm1(abs(c) * np.log1p(_MU)) / _MU


@numba.njit(**_JIT)
def _log_sigmoid_and_rest(v):
    """log sigma(v) and sigma(-v) = 1 - sigma(v), from one exp: the bin term and its derivative
    (:func:`_mixture_row_grad`). NaN gives NaN; v = inf gives (0, 0), v = -inf (-inf, 1)."""
    e = np.exp(-abs(v))
    if v >= 0:
        return -np.log1p(e), e / (1.0 + e)
    return v - np.log1p(e), 1.0 / (1.0 + e)


@numba.njit(**_JIT)
def _log_sigmoid(v):
    """log sigma(v), stable for any v (:func:`_log_sigmoid_and_rest` without the rest)."""
    return _log_sigmoid_and_rest(v)[0]


@numba.njit(**_JIT)
def _mixture_row_loss(row, label):
    """-log P(label) under the discretized logistic mixture of ``row`` (3K,) float64."""
    return _mixture_row_loss_in(row, label, np.empty(row.shape[0] // 3))


@numba.njit(**_JIT)
def _mixture_row_loss_in(row, label, terms):
    """:func:`_mixture_row_loss` with its scratch ``terms`` (K,) given, for loops that score many rows."""
    k_count = row.shape[0] // 3
    lo = _mu_law_edge(label) if label > 0 else -np.inf
    hi = _mu_law_edge(label + 1) if label < 255 else np.inf
    top = row[0]
    for k in range(1, k_count):
        top = max(top, row[k])
    norm = 0.0
    for k in range(k_count):
        norm += np.exp(row[k] - top)
    log_norm = top + np.log(norm)
    best = -np.inf
    for k in range(k_count):
        inv_s = np.exp(-max(row[2 * k_count + k], _LOG_SCALE_MIN))
        mean = row[k_count + k]
        f = np.log(-np.expm1(-(hi - lo) * inv_s))
        if hi < np.inf:
            f += _log_sigmoid((hi - mean) * inv_s)
        if lo > -np.inf:
            f += _log_sigmoid(-(lo - mean) * inv_s)
        terms[k] = row[k] - log_norm + f
        best = max(best, terms[k])
    total = 0.0
    for k in range(k_count):
        total += np.exp(terms[k] - best)
    return -(best + np.log(total))


@numba.njit(**_JIT)
def _mixture_row_grad(row, label, grad, terms):
    """-log P(label) of the mixture ``row`` (3K,) float64, its gradient with respect to the row
    written into ``grad`` (3K,) float64; ``terms`` (K,) is scratch.

    The log-domain terms of :func:`_mixture_row_loss_in`, in the order of the NumPy form it
    replaced (tests/naive.py's ``mixture_loss_and_grad``), so that training's figures move in
    their last bits only: a = (hi - mean) / s, b = (lo - mean) / s, w = a - b, the bin term
    f = log sigma(a) + log sigma(-b) + log(1 - e^-w), df/da = sigma(-a) + 1 / (e^w - 1) and
    df/db = -sigma(b) - 1 / (e^w - 1). The outer classes' infinite a or b give a zero
    derivative and no a or b term. Non-finite outputs give NaN where the NumPy form does
    (numba's max(NaN, x) is NaN but max(x, NaN) is x: which argument comes first matters here).
    A log-scale at or below the clamp gets no gradient."""
    k_count = row.shape[0] // 3
    lo = _mu_law_edge(label) if label > 0 else -np.inf
    hi = _mu_law_edge(label + 1) if label < 255 else np.inf
    top = row[0]
    for k in range(1, k_count):
        top = max(top, row[k])  # a NaN logit is skipped here but makes norm NaN
    norm = 0.0
    for k in range(k_count):
        norm += np.exp(row[k] - top)
    log_norm = np.log(norm)
    # First pass: each component's joint term log pi + f in terms, and in grad what its
    # gradient is before the responsibility multiplies it (the logits' slots: pi itself).
    best = -np.inf
    for k in range(k_count):
        log_pi = (row[k] - top) - log_norm
        raw = row[2 * k_count + k]
        inv_s = np.exp(-max(raw, _LOG_SCALE_MIN))  # max(NaN, x) is NaN: the raw value first
        mean = row[k_count + k]
        a, b, width = (hi - mean) * inv_s, (lo - mean) * inv_s, (hi - lo) * inv_s  # width: no inf - inf
        log_sig_a, sig_minus_a = _log_sigmoid_and_rest(a)
        log_sig_minus_b, sig_b = _log_sigmoid_and_rest(-b)
        shared = 1.0 / np.expm1(width)  # 0 for the outer classes
        d_a, d_b = sig_minus_a + shared, -sig_b - shared
        terms[k] = log_pi + (log_sig_a + log_sig_minus_b + np.log(-np.expm1(-width)))
        best = max(best, terms[k])
        a_term = d_a * a if abs(a) < np.inf else 0.0
        b_term = d_b * b if abs(b) < np.inf else 0.0
        grad[k] = np.exp(log_pi)
        grad[k_count + k] = inv_s * (d_a + d_b)
        grad[2 * k_count + k] = a_term + b_term if raw > _LOG_SCALE_MIN else 0.0
    total = 0.0
    for k in range(k_count):
        terms[k] = np.exp(terms[k] - best)
        total += terms[k]
    # Second pass: each component's responsibility, its share of P(label).
    for k in range(k_count):
        resp = terms[k] / total
        grad[k] = grad[k] - resp
        grad[k_count + k] = resp * grad[k_count + k]
        grad[2 * k_count + k] = resp * grad[2 * k_count + k]
    return -(best + np.log(total))


@numba.njit(**_JIT)
def _mixture_loss_grad(y, labels, nats, grad):
    """For every mixture row t of ``y`` (T, 3K): ``nats[t]`` = -log P(labels[t]) and ``grad[t]``
    (y's dtype) = its gradient over T (:func:`_mixture_row_grad`): what
    :meth:`cwfast.heads.MixtureHead.loss_and_grad` returns, the mean of ``nats`` and ``grad``."""
    k_count = y.shape[1] // 3
    row, g, terms = np.empty(y.shape[1]), np.empty(y.shape[1]), np.empty(k_count)
    scale = 1.0 / y.shape[0]
    for t in range(y.shape[0]):
        for i in range(y.shape[1]):
            row[i] = y[t, i]
        nats[t] = _mixture_row_grad(row, labels[t], g, terms)
        for i in range(y.shape[1]):
            grad[t, i] = g[i] * scale


# The fits' fast loss: each component's bin mass sigma(a) sigma(-b) (1 - e^-w) in the linear
# domain, where every exponent stays within _FAST_REACH scales; a component whose bin lies wholly
# further out holds less than e^-350 and is left out, so the answer is vouched for only while
# the probability is far above what they could add (_FAST_FLOOR).
_FAST_REACH = 350.0
_FAST_FLOOR = 1e-130


@numba.njit(**_JIT)
def _mixture_row_loss_fast(row, label):
    """:func:`_mixture_row_loss` with four transcendentals a component where it takes eight (a
    sum of probabilities, one log a row), to 1e-15 or so; NaN where it cannot vouch for its
    answer (an outer class, a bin that holds a mean many scales inside it, a probability under
    :data:`_FAST_FLOOR`): the caller then takes the exact form."""
    k_count = row.shape[0] // 3
    if label == 0 or label == 255:
        return np.nan
    lo, hi, top = _bin_and_top(row, label)
    norm, p = 0.0, 0.0
    for k in range(k_count):
        weight = np.exp(row[k] - top)
        norm += weight
        mass = _bin_mass(weight, hi - row[k_count + k], lo - row[k_count + k], hi - lo, row[2 * k_count + k])
        if mass != mass:
            return np.nan
        p += mass
    return _fast_loss(p, norm)


@numba.njit(**_JIT)
def _bin_and_top(row, label):
    """The edges (lo, hi) of inner class ``label``'s bin and the largest logit of the mixture
    ``row``: what the fast form reads before its components."""
    top = row[0]
    for k in range(1, row.shape[0] // 3):
        top = max(top, row[k])
    return _mu_law_edge(label), _mu_law_edge(label + 1), top


@numba.njit(**_JIT)
def _bin_mass(weight, above, below, width, log_scale):
    """One component's share of :func:`_mixture_row_loss_fast`'s probability: ``weight`` (its
    e^(logit - the largest logit)) times its mass in the bin whose edges lie ``above`` and
    ``below`` its mean (``width`` apart) at scale e^``log_scale``; 0 where the bin lies wholly
    :data:`_FAST_REACH` scales out, NaN where the fast form cannot vouch for it."""
    inv_s = np.exp(-max(np.float64(log_scale), _LOG_SCALE_MIN))
    a, b = above * inv_s, below * inv_s
    if a <= -_FAST_REACH or b >= _FAST_REACH:
        return 0.0  # the bin lies wholly that far out: mass under e^-350
    if b <= -_FAST_REACH or a >= _FAST_REACH:
        return np.nan
    # sigma(a) sigma(-b) (1 - e^-w), w = a - b; e^-a from its own exp, not e^-w / e^b, whose
    # e^-w (1 + expm1(-w)) rounds to nothing for a wide bin
    return weight * -np.expm1(-width * inv_s) / ((1.0 + np.exp(-a)) * (1.0 + np.exp(b)))


@numba.njit(**_JIT)
def _fast_loss(p, norm):
    """-log of the probability ``p / norm`` :func:`_mixture_row_loss_fast` summed, NaN under :data:`_FAST_FLOOR`."""
    p /= norm
    if not p >= _FAST_FLOOR:
        return np.nan
    return -np.log(p)


@numba.njit(**_JIT)
def _fast_fixed(row, label, fixed):
    """What :func:`_mixture_row_loss_fast` reads of the mixture ``row`` (3K,) float64 besides its
    log-scales, in ``fixed`` (3, K): each component's weight (e^(logit - the largest logit)) and
    the distances from its mean to the bin's upper and lower edges; returns the bin's width, NaN
    for an outer class (the fast form declines it). The scale fits work these out once a row for
    all the scales they score it at (:func:`_shifted_mixture_nats`)."""
    k_count = row.shape[0] // 3
    if label == 0 or label == 255:
        return np.nan
    lo, hi, top = _bin_and_top(row, label)
    for k in range(k_count):
        fixed[0, k] = np.exp(row[k] - top)
        fixed[1, k] = hi - row[k_count + k]
        fixed[2, k] = lo - row[k_count + k]
    return hi - lo


@numba.njit(**_JIT)
def _fast_nats(fixed, width, log_scales):
    """:func:`_mixture_row_loss_fast` of a row from what :func:`_fast_fixed` gave (``fixed``,
    ``width``: NaN gives NaN) and its ``log_scales`` (K,), of any float dtype."""
    if width != width:
        return np.nan
    norm, p = 0.0, 0.0
    for k in range(fixed.shape[1]):
        norm += fixed[0, k]
        mass = _bin_mass(fixed[0, k], fixed[1, k], fixed[2, k], width, log_scales[k])
        if mass != mass:
            return np.nan
        p += mass
    return _fast_loss(p, norm)


@numba.njit(parallel=True, **_JIT)
def _shifted_mixture_nats(y, labels, shifts, totals):
    """Add to ``totals[j]`` (m,) the summed :func:`_mixture_row_loss` (:func:`_mixture_row_loss_fast`
    where it holds) of the mixture rows ``y`` (T, 3K) against ``labels`` (T,) with every log-scale
    of row t moved by ``shifts[j, t]`` (m, T), for each j: how the scale fits
    (:mod:`cwfast.scale_fit`) score many candidate scales from one forward pass. A moved log-scale
    is rounded to ``y``'s dtype, as storing it in ``y`` would. The candidates run on every core
    (``prange``): each its own sum, in the order one core adds it, so the same bits on any number
    of threads; the fits of a long corpus's validation audio score 50 and 54 candidates a sample,
    the most of the work left after a time budget. What of a row no shift moves (its weights, its
    bin) is worked out once for all the candidates (:func:`_fast_fixed`), in the same operations
    as for one: the same bits as working it out for each, in a quarter to a third less CPU time
    (docs/benchmarks.md, section 30)."""
    k_count = y.shape[1] // 3
    fixed, widths = np.empty((y.shape[0], 3, k_count)), np.empty(y.shape[0])
    row = np.empty(y.shape[1])
    for t in range(y.shape[0]):
        for i in range(y.shape[1]):
            row[i] = y[t, i]
        widths[t] = _fast_fixed(row, labels[t], fixed[t])
    for j in numba.prange(shifts.shape[0]):
        moved = np.empty(k_count, dtype=y.dtype)
        row, terms = np.empty(y.shape[1]), np.empty(k_count)
        total = 0.0
        for t in range(y.shape[0]):
            for k in range(k_count):
                moved[k] = y[t, 2 * k_count + k] + shifts[j, t]
            loss = _fast_nats(fixed[t], widths[t], moved)
            if loss != loss:  # the exact form, on the whole moved row
                for i in range(2 * k_count):
                    row[i] = y[t, i]
                for k in range(k_count):
                    row[2 * k_count + k] = moved[k]
                loss = _mixture_row_loss_in(row, labels[t], terms)
            total += loss
        totals[j] += total


@numba.njit(**_JIT)
def _row_nats(row, label, terms):
    """-log P(label) of the mixture ``row`` (3K,) float64: :func:`_mixture_row_loss_fast`, or the
    exact :func:`_mixture_row_loss` where that declines (``terms`` (K,) its scratch)."""
    loss = _mixture_row_loss_fast(row, label)
    return loss if loss == loss else _mixture_row_loss_in(row, label, terms)


@numba.njit(**_JIT)
def _mixture_nats(y, labels):
    """The summed -log P(labels[t]) of the mixture rows ``y`` (T, 3K) (:func:`_row_nats`): what
    :meth:`cwfast.heads.MixtureHead.loss` scores, the mean of it."""
    k_count = y.shape[1] // 3
    row, terms = np.empty(y.shape[1]), np.empty(k_count)
    total = 0.0
    for t in range(y.shape[0]):
        for i in range(y.shape[1]):
            row[i] = y[t, i]
        total += _row_nats(row, labels[t], terms)
    return total


@numba.njit(**_JIT)
def _draw_mixture(row, inv_temperature, u_component, u_value, weights):
    """An amplitude in [-1, 1] drawn from the logistic mixture of ``row`` (3K,): the component by
    inverse CDF of ``softmax(logits * inv_temperature)`` at ``u_component`` (:func:`_draw`), then
    the logistic's inverse CDF at ``u_value`` with its scale times the temperature, clipped. At
    temperature 0 (``inv_temperature == 0``): the likeliest component's mean."""
    k_count = row.shape[0] // 3
    k = _draw(row[:k_count], inv_temperature, u_component, weights)
    x = np.float64(row[k_count + k])
    if inv_temperature > 0:
        u = min(max(u_value, 1e-12), 1.0 - 1e-12)
        scale = np.exp(max(np.float64(row[2 * k_count + k]), _LOG_SCALE_MIN)) / inv_temperature
        x += scale * (np.log(u) - np.log1p(-u))
    return min(max(x, -1.0), 1.0)


@numba.njit(**_JIT)
def _emit(row, head_code, inv_temperature, u, weights, values):
    """The value generation emits from raw outputs ``row``: softmax head, ``values[c]`` for the
    class ``c`` :func:`_draw` picks at ``u[0]``; mixture head, the amplitude
    :func:`_draw_mixture` draws at ``u[0], u[1]``. ``weights`` is scratch, at least as long as
    the row's logits."""
    if head_code == 2:
        return _draw_mixture(row, inv_temperature, u[0], u[1], weights)
    return np.float64(values[_draw(row, inv_temperature, u[0], weights)])


@numba.njit(**_JIT)
def _fed_back(v, head_code, values):
    """What a model reads when ``v`` was emitted at the previous step: ``v`` itself for a softmax
    head (already a class value); for a mixture head, the decoded value of ``v``'s mu-law class,
    as the model read its training audio (mu-law history), except that 0 stays 0 (the silence
    before a clip, which training reads as exactly 0); ``v`` itself when ``values`` is empty (a
    model with linear history). Quantising on the way in (not out) lets a caller continue from
    any emitted value, and a class value maps to itself. A mixture's value is clipped to [-1, 1]
    first, as the codec clips what training reads (and the draws are): a caller's ``first_input``
    may be anything finite."""
    if head_code == 2:
        v = min(max(v, -1.0), 1.0)
        if v != 0 and values.shape[0] > 0:
            return values[_mu_law_class(np.float64(v))]
    return v


@numba.njit(**_JIT)
def _mu_law_class(x):
    """The mu-law class of an amplitude in [-1, 1], as :func:`cwfast.codec.mu_law_encode` computes it."""
    c = np.sign(x) * np.log1p(_MU * abs(x)) / np.log1p(_MU)
    return int(np.floor((c + 1.0) / 2.0 * _MU + 0.5))


@numba.njit(**_JIT)
def _mean_rows(y, row):
    """row[:] = the mean of the rows of ``y`` (T, n_out), accumulated in float64."""
    row[:] = 0.0
    for s in range(y.shape[0]):
        for k in range(y.shape[1]):
            row[k] += y[s, k]
    row /= y.shape[0]


@numba.njit(**_JIT)
def _draw(logits, inv_temperature, u, weights):
    """Class drawn from ``softmax(logits * inv_temperature)`` by inverse CDF at ``u`` in [0, 1);
    the argmax when ``inv_temperature == 0``. ``weights`` (n_out,) float64 is scratch: each
    ``exp`` is computed once, for the total and then for the running sum (computing it twice was
    most of a sample's cost in generation), with the same values in the same order, so the class
    drawn is the same."""
    best = 0
    top = logits[0]
    for k in range(1, logits.shape[0]):
        if logits[k] > top:
            top = logits[k]
            best = k
    if inv_temperature > 0:
        total = 0.0
        for k in range(logits.shape[0]):
            weights[k] = np.exp((logits[k] - top) * inv_temperature)
            total += weights[k]
        threshold = u * total
        acc = 0.0
        for k in range(logits.shape[0]):
            acc += weights[k]
            if acc >= threshold:
                return k
    return best


# Level normalisation (cwfast.model.Level): an autoregressive mixture model can read its input
# divided by the input's recent level and give its mixture's means and scales in those units, so
# that a quiet passage looks to the network like a loud one (the adaptive scale of a linear
# predictor, LPCNet's and the codecs' gain). The level is b <- b + alpha (|v| - b) over the inputs
# v, stored in the model's dtype at every step (so a sequence split anywhere gives the same bits),
# and the gain is b held within [low, high] (the model's Level.floor and Level.ceiling).

@numba.njit(**_JIT)
def _level_gain(level, v, alpha, low, high):
    """Advance the level ``level[0]`` (model dtype) over the input ``v``; return the gain, the
    level held within [low, high]. Callers pass ``v`` as float64, whatever the model's dtype, so
    that numba compiles one version per dtype of ``level``, not one per caller."""
    level[0] = level[0] + alpha * (abs(np.float64(v)) - level[0])
    if abs(level[0]) < _FLUSH:  # silence takes it down into the subnormals (the C export flushes it too)
        level[0] = 0
    return min(max(np.float64(level[0]), low), high)


@numba.njit(**_JIT)
def _level_rows(row, g):
    """A mixture row (3K,) from the network's units to the input's: means times the gain ``g``,
    log-scales plus its log."""
    k_count = row.shape[0] // 3
    log_g = np.log(g)
    for k in range(k_count):
        row[k_count + k] = row[k_count + k] * g
        row[2 * k_count + k] = row[2 * k_count + k] + log_g


@numba.njit(**_JIT)
def _level_track(x, levels, alpha, low, high, xn, gains):
    """For every sequence b of ``x`` (B, T) from the level ``levels[b:b+1]`` (updated in place):
    ``gains[b, t]``, the gain after reading ``x[b, t]``, and ``xn[b, t] = x[b, t]`` divided by it
    (what the network reads)."""
    for b in range(x.shape[0]):
        level = levels[b : b + 1]
        for t in range(x.shape[1]):
            g = _level_gain(level, np.float64(x[b, t]), alpha, low, high)
            gains[b, t] = g
            xn[b, t] = np.float64(x[b, t]) / g


@numba.njit(**_JIT)
def _level_sequence(y, gains, b):
    """:func:`_level_rows` on every row of one sequence's outputs ``y`` (T, 3K) with the gains of
    sequence ``b``, ``gains[b]``; nothing when ``gains`` is empty (no level)."""
    if gains.shape[0] > 0:
        for t in range(y.shape[0]):
            _level_rows(y[t], gains[b, t])


@numba.njit(**_JIT)
def _level_outputs(y, gains):
    """:func:`_level_rows` on every row of ``y`` (B, T, 3K) with ``gains`` (B, T)."""
    for b in range(y.shape[0]):
        _level_sequence(y[b], gains, b)


# Scales that follow the model's recent surprise (cwfast.model.Surprise): at step t the sample the
# model reads, v(t), tells how far the previous step's mixture missed, e = |v(t) - m| / s in units
# of that mixture's spread (its weighted mean m and weighted scale s, before any shift), and
# r <- r + alpha (e / mean - r); every log-scale of step t is moved by beta log r. The state per
# sequence is (r, m, s) of the previous step, float64, s = 0 before the first step.

@numba.njit(**_JIT)
def _surprise_rows(y, x, state, alpha, beta, inv_mean, log_r):
    """Move the log-scales of one sequence's scored mixture rows ``y`` (T, 3K) by ``beta log r(t)``
    in place, reading its inputs ``x`` (T,) and advancing ``state`` (3,) float64 = (r, m, s);
    ``log_r[t] = log r(t)`` if ``log_r`` is not empty."""
    k_count = y.shape[1] // 3
    r, m, s = state[0], state[1], state[2]
    for t in range(y.shape[0]):
        if s > 0.0:
            r += alpha * (abs(np.float64(x[t]) - m) / s * inv_mean - r)
            r = min(max(r, _R_MIN), _R_MAX)
        top = np.float64(y[t, 0])
        for k in range(1, k_count):
            top = max(top, np.float64(y[t, k]))
        norm, m, s = 0.0, 0.0, 0.0
        for k in range(k_count):
            w = np.exp(np.float64(y[t, k]) - top)
            norm += w
            m += w * np.float64(y[t, k_count + k])
            s += w * np.exp(max(np.float64(y[t, 2 * k_count + k]), _LOG_SCALE_MIN))
        m /= norm
        s /= norm
        shift = np.log(r)
        if log_r.shape[0] > 0:
            log_r[t] = shift
        shift *= beta
        for k in range(k_count):
            y[t, 2 * k_count + k] = y[t, 2 * k_count + k] + shift
    state[0], state[1], state[2] = r, m, s


@numba.njit(**_JIT)
def _surprise_outputs(y, x, states, alpha, beta, inv_mean):
    """:func:`_surprise_rows` on every sequence of ``y`` (B, T, 3K) with inputs ``x`` (B, T) and
    states ``states`` (B, 3)."""
    no_log = np.empty(0)
    for b in range(y.shape[0]):
        _surprise_rows(y[b], x[b], states[b], alpha, beta, inv_mean, no_log)


# Linear prediction (cwfast.model.SequenceModel.prediction): an autoregressive mixture model can
# add sum_k a_k x(t - k) over the last K inputs its network read (level-normalised if levelled)
# to every component mean, in the network's units, before the level scales them. The network
# then models what a K-tap linear predictor misses (LPCNet's split). ``window`` holds P >= K - 1
# inputs before a sequence (more when a pitch predictor reads further back), then its inputs: the
# prediction at step t reads window[P + t - K + 1 : P + t + 1].

@numba.njit(**_JIT)
def _predicted(taps, window, last):
    """sum_k taps[k] * window[last - k], in float64 (``last`` indexes the current input)."""
    acc = 0.0
    for k in range(taps.shape[0]):
        acc += np.float64(taps[k]) * window[last - k]
    return acc


@numba.njit(**_JIT)
def _add_to_means(row, p):
    """A mixture row (3K,): every mean plus ``p``."""
    k_count = row.shape[0] // 3
    for k in range(k_count):
        row[k_count + k] = row[k_count + k] + p


@numba.njit(**_JIT)
def _predict_sequence(y, window, taps):
    """Every row of one sequence's ``y`` (T, 3K): its means plus the prediction from its ``window``
    (P + T,)."""
    last0 = window.shape[0] - y.shape[0]
    for t in range(y.shape[0]):
        _add_to_means(y[t], _predicted(taps, window, last0 + t))


@numba.njit(**_JIT)
def _predict_outputs(y, window, taps):
    """Every row of ``y`` (B, T, 3K): its means plus the prediction from ``window`` (B, P + T)."""
    for b in range(y.shape[0]):
        _predict_sequence(y[b], window[b], taps)


@numba.njit(**_JIT)
def _prediction_grad(window, d_y, grad):
    """grad (K,) = the loss's gradient with respect to the taps: for each tap k, the sum over
    sequences and steps of the means' gradients (``d_y`` (B, T, 3K), summed over the components)
    times the input k steps back."""
    n_taps = grad.shape[0]
    kept = window.shape[1] - d_y.shape[1]
    k_count = d_y.shape[2] // 3
    acc = np.zeros(n_taps)
    for b in range(d_y.shape[0]):
        for t in range(d_y.shape[1]):
            d = 0.0
            for k in range(k_count):
                d += d_y[b, t, k_count + k]
            for j in range(n_taps):
                acc[j] += d * window[b, kept + t - j]
    for j in range(n_taps):
        grad[j] = acc[j]
