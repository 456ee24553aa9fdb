"""numba kernels of the output heads, written once for every architecture's kernels.

What a head does inside a compiled loop: the loss of one output row (squared error of the linear
head, cross-entropy of the softmax head), the mean readout over the steps, and drawing a class from
a softmax at a temperature. :mod:`cwfast._kernels` (Clockwork RNN, SRN) and
:mod:`cwfast._lstm_kernels` both call these; :mod:`cwfast._jit` keeps their on-disk caches in step
with this file. The NumPy side of the heads (losses with gradients, target checks) is
:mod:`cwfast.heads`; ``tests/test_heads.py`` checks that both agree.
"""

import numba
import numpy as np

from ._jit import JIT as _JIT


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
def _scored_row_loss(row, softmax, labels, y_target, b, ts):
    """:func:`_row_loss` of ``row`` against sequence ``b``'s scored target ``ts``; reads only the
    array of the head in use (the other one is empty)."""
    if softmax:
        return _row_loss(row, True, labels[b, ts], row)
    return _row_loss(row, False, 0, y_target[b, ts])


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
