"""The scale fits' scoring kernels as they were before each row's candidate-independent part (its
mixture weights, its bin's edges, its means' distances to them) was worked out once a row rather
than once a row and candidate: verbatim from cwfast._head_kernels at 87be45f, compiled with the
same options, but one core. tests/test_scale_fit.py holds the kernels of today to these, bit for
bit: the hoisting was to save time, not to move a figure."""

import numba
import numpy as np

from cwfast._head_kernels import _FAST_FLOOR, _FAST_REACH, _LOG_SCALE_MIN, _mixture_row_loss_in, _mu_law_edge
from cwfast._jit import JIT

OPTIONS = dict(JIT, cache=False)  # (numba's own cache would write into tests/)


@numba.njit(**OPTIONS)
def mixture_row_loss_fast(row, label):
    k_count = row.shape[0] // 3
    if label == 0 or label == 255:
        return np.nan
    lo, hi = _mu_law_edge(label), _mu_law_edge(label + 1)
    top = row[0]
    for k in range(1, k_count):
        top = max(top, row[k])
    norm, p = 0.0, 0.0
    for k in range(k_count):
        weight = np.exp(row[k] - top)
        norm += weight
        inv_s = np.exp(-max(row[2 * k_count + k], _LOG_SCALE_MIN))
        a, b = (hi - row[k_count + k]) * inv_s, (lo - row[k_count + k]) * inv_s
        if a <= -_FAST_REACH or b >= _FAST_REACH:
            continue
        if b <= -_FAST_REACH or a >= _FAST_REACH:
            return np.nan
        p += weight * -np.expm1(-(hi - lo) * inv_s) / ((1.0 + np.exp(-a)) * (1.0 + np.exp(b)))
    p /= norm
    if not p >= _FAST_FLOOR:
        return np.nan
    return -np.log(p)


@numba.njit(**OPTIONS)
def row_nats(row, label, terms):
    loss = mixture_row_loss_fast(row, label)
    return loss if loss == loss else _mixture_row_loss_in(row, label, terms)


@numba.njit(**OPTIONS)
def shifted_mixture_nats(y, labels, shifts, totals):
    k_count = y.shape[1] // 3
    for j in range(shifts.shape[0]):
        moved = np.empty(k_count, dtype=y.dtype)
        row, terms = np.empty(y.shape[1]), np.empty(k_count)
        total = 0.0
        for t in range(y.shape[0]):
            for i in range(2 * k_count):
                row[i] = y[t, i]
            for k in range(k_count):
                moved[k] = y[t, 2 * k_count + k] + shifts[j, t]
                row[2 * k_count + k] = moved[k]
            total += row_nats(row, labels[t], terms)
        totals[j] += total


@numba.njit(**OPTIONS)
def mixture_nats(y, labels):
    k_count = y.shape[1] // 3
    row, terms = np.empty(y.shape[1]), np.empty(k_count)
    total = 0.0
    for t in range(y.shape[0]):
        for i in range(y.shape[1]):
            row[i] = y[t, i]
        total += row_nats(row, labels[t], terms)
    return total
