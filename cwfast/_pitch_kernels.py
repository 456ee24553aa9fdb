"""numba kernels of the pitch predictor (:class:`cwfast.model.Pitch`): a long-term prediction added
to an autoregressive mixture model's means, as CELP's adaptive codebook adds the last pitch
period to a speech coder's excitation.

Every step reads a ``window`` of the inputs the network read (level-normalised if levelled): the
inputs kept in the state, then the ones read so far; ``last`` indexes the current input. The
short-term residual of input j is ``e(j) = x(j) - sum_k a[k] x(j - n + k)`` with the model's fixed
coefficients ``a`` (n of them, oldest first, as :mod:`cwfast.lpc` fits them). At steps whose global
index is a multiple of ``hop`` the lag L in [lo, hi] whose stretch of the last ``win`` residuals
correlates best (normalised) with the stretch L steps before it is chosen, and its least-squares gain
beta held in [0, 1]; none (beta = 0) when the best correlation is under ``gate``. The lags are tried
from the shortest, and a longer one replaces the best so far only if its correlation is higher by
more than :data:`TIE_MARGIN`, so that a period and its multiples, equal but for rounding on
periodic input, give the same lag whatever the order of the sums (the exported C's). The prediction of
the next input is then ``beta * e(last + 1 - L) * min(1, reference / r)``, r the RMS of the last
``win`` inputs: the bound keeps the term from feeding a loud loop (docs/results.md, "The pitch
predictor with its loop's level bounded").

The estimate is carried between steps, and calls, in ``est`` (2,): the lag (0 for none) and beta,
in the model's dtype (its part of the state), so that a sequence run in pieces gives the bits of one
run whole. A search needs ``win + hi + n - 1`` inputs before the current one:
:attr:`cwfast.model.Pitch.history`.

``cfg`` packs the numbers the kernels read, float64: see :data:`CFG_FIELDS`.
"""

import math

import numba
import numpy as np

from ._head_kernels import _add_to_means, _predicted
from ._jit import JIT as _JIT

#: The layout of a pitch predictor's ``cfg`` array (cwfast.model.SequenceModel._pitch_config makes it).
CFG_FIELDS = ("lo", "hi", "win", "hop", "gate", "reference", "gain")
LO, HI, WIN, HOP, GATE, REFERENCE, GAIN = range(len(CFG_FIELDS))
CFG_SIZE = len(CFG_FIELDS)
#: The elements of a pitch predictor's estimate (its part of the model's state).
EST_SIZE = 2

# A denominator (energy of a lagged stretch) below this share of the searched span's energy is
# rounding noise of the running sums, not a stretch to correlate with.
_TINY_ENERGY = 1e-12

#: How much higher (absolute, on a normalised correlation in [-1, 1]) a longer lag's correlation
#: must be than the best shorter one's for the search to take it: within it, the shorter lag wins.
#: Periodic input correlates (nearly) equally at a period and its multiples: on
#: ``np.sign(np.sin(0.05 * n))`` the bundled model's lags 126 and 251 were equal within 1e-18, so
#: that the higher was the one rounding made higher; the exported C, which sums in 16 lanes (and in
#: float with CWFAST_FLOAT_TANH), took the other lag and parted from Stream for good (means off by
#: up to 0.24). Against the exact correlation (long double), the double build's were off by at
#: most 7e-13 and the float build's by 1.1e-6 (the 16 kHz recipe on that square wave and on a
#: tone; 1.5e-6 on the bundled model's levelled square wave against the double build), so a
#: difference of two by about 3e-6: 1e-5 holds both. A shorter lag within it is the fundamental
#: rather than a multiple, and what taking it costs in correlation, at most 1e-5, changes the
#: prediction by nothing that matters. The exported C reads this constant (cwfast.export._codegen).
TIE_MARGIN = 1e-5


# The loops below run over slices from index 0: an index numba cannot prove non-negative (j - lag)
# makes it wrap negative indices, and LLVM then gathers instead of loading vectors (the search ran
# at 3.0 us a sample at 16 kHz that way; see docs/results.md for the figures).

@numba.njit(**_JIT)
def _dot(x, y):
    """sum_i x[i] y[i] over x's length, in float64."""
    acc = 0.0
    for i in range(x.shape[0]):
        acc += np.float64(x[i]) * np.float64(y[i])
    return acc


@numba.njit(**_JIT)
def _residual(window, j, a):
    """e(j) = window[j] - sum_k a[k] window[j - n + k], in float64."""
    n = a.shape[0]
    return np.float64(window[j]) - _dot(a, window[j - n : j])


@numba.njit(**_JIT)
def _search(window, last, a, cfg, e, est):
    """Choose (lag, beta) from the ``win`` residuals up to input ``last`` (see the module's
    docstring) into ``est``. ``e`` is scratch of at least win + hi elements."""
    lo, hi, win = int(cfg[LO]), int(cfg[HI]), int(cfg[WIN])
    span = win + hi
    base = last - span + 1  # e[m] is the residual of input base + m
    for m in range(span):
        e[m] = _residual(window, base + m, a)
    total = _dot(e[:span], e[:span])
    now = e[hi:span]
    e0 = _dot(now, now)
    # den(L) = the energy of e[hi - L : span - L], moved from one lag to the next.
    den = _dot(e[hi - lo : span - lo], e[hi - lo : span - lo])
    tiny = _TINY_ENERGY * total
    best, best_lag, best_gain = -1.0, 0, 0.0
    for lag in range(lo, hi + 1):
        if lag > lo:
            drop, add = e[span - lag], e[hi - lag]
            den = den - drop * drop + add * add
        num = _dot(now, e[hi - lag : span - lag])
        if den > tiny and e0 > tiny:
            c = num / math.sqrt(den * e0)
            # a longer lag must beat the best by TIE_MARGIN (from -1: what that misses is under any gate)
            if c > best + TIE_MARGIN:
                best, best_lag, best_gain = c, lag, num / den
    if best >= cfg[GATE] and best_lag > 0:
        est[0] = best_lag
        est[1] = min(max(best_gain, 0.0), 1.0)
    else:
        est[0] = 0.0
        est[1] = 0.0


@numba.njit(**_JIT)
def _pitch_step(window, last, search, a, cfg, e, est):
    """The pitch term (without the gain) predicting the input after ``last``; searches first if
    ``search`` (the step's global index is a multiple of the hop)."""
    if search:
        _search(window, last, a, cfg, e, est)
    lag = int(est[0])
    if lag == 0:
        return 0.0
    term = np.float64(est[1]) * _residual(window, last + 1 - lag, a)
    win = int(cfg[WIN])
    recent = window[last - win + 1 : last + 1]
    r = math.sqrt(_dot(recent, recent) / win)
    if r > cfg[REFERENCE]:
        term *= cfg[REFERENCE] / r
    return term


@numba.njit(**_JIT)
def _pitch_terms(window, t0, a, cfg, est, out):
    """out (B, T) float64: the pitch term of every step of B sequences whose ``window`` (B, P + T)
    holds the P inputs kept before step ``t0``, then the T read; est (B, 2) is carried."""
    n_rows, n_steps = out.shape
    kept = window.shape[1] - n_steps
    hop = int(cfg[HOP])
    e = _scratch(cfg)
    for b in range(n_rows):
        for t in range(n_steps):
            out[b, t] = _pitch_step(window[b], kept + t, (t0 + t) % hop == 0, a, cfg, e, est[b])


@numba.njit(**_JIT)
def _add_outputs(y, terms, gain):
    """Every row of ``y`` (B, T, 3K): its means plus ``gain * terms[b, t]`` (as :func:`_predict_row`)."""
    for b in range(y.shape[0]):
        for t in range(y.shape[1]):
            _add_to_means(y[b, t], gain * terms[b, t])


@numba.njit(**_JIT)
def _predict_row(row, window, last, step, taps, a, cfg, e, est):
    """A sampling kernel's step: add the linear prediction (``taps``, if any) and the pitch term
    times its gain (``cfg``, if not empty) from ``window``, whose ``last`` element holds the input
    of global step ``step``, to the mixture row's means, in the order the training path adds them
    (:meth:`cwfast.model.SequenceModel._scored`)."""
    if taps.shape[0] > 0:
        _add_to_means(row, _predicted(taps, window, last))
    if cfg.shape[0] > 0:
        term = _pitch_step(window, last, step % int(cfg[HOP]) == 0, a, cfg, e, est)
        _add_to_means(row, cfg[GAIN] * term)


@numba.njit(**_JIT)
def _scratch(cfg):
    """The search's scratch for ``cfg`` (empty without a pitch predictor)."""
    return np.empty(int(cfg[WIN]) + int(cfg[HI]) if cfg.shape[0] > 0 else 0)
