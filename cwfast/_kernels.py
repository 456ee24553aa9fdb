"""numba kernels of the Clockwork RNN recurrence: forward and backward, one sequence or a batch.

Kernels take arrays and scalars only, validate nothing and allocate only small work buffers; the
public wrappers in :mod:`cwfast.model` check and convert everything first. They read no
module-level settings, because numba freezes globals into the compiled code and its cache.

The flat parameter vector ``theta`` starts with the recurrent part, the only part the backward
kernels touch: ``W_in`` (n, n_in) row-major, then the packed recurrent blocks, then ``b_h`` (n,). Module
``i`` owns units ``module_start[i]:module_start[i+1]`` and reads units ``column_start[i]:n``
through its block, shape (k_i, n - column_start[i]) row-major at ``block_offset[i]`` of the
packed part. The output layer ``W_out`` (n_out, n) and ``b_out`` (n_out,) follow ``b_h``.

At step ``t`` only modules with ``t % periods[i] == 0`` are visited, forward and backward: an
inactive module costs one integer test per step, nothing else.
"""

import numba
import numpy as np

_JIT = dict(cache=True, nogil=True)


@numba.njit(**_JIT)
def _forward_seq(theta, module_start, column_start, block_offset, periods, x, t0, h, work, y, hist):
    """Run the network over one sequence.

    x : (T, n_in). h : (n,), the state before step t0, updated in place to the state after the
    last step. work : (n,) scratch. y : (T, n_out) receives the outputs. hist : (T, n) receives
    the state after every step, or (0, n) to keep no history (streaming).

    The output layer is computed here, step by step, rather than as one matrix product after the
    loop: a BLAS product rounds differently for different block lengths, and a stream must give
    bit-identical results however its input is split.
    """
    n_steps, n_in = x.shape
    n = h.shape[0]
    n_out = y.shape[1]
    n_modules = periods.shape[0]
    n_rec = block_offset[n_modules]
    w_in = theta[: n * n_in]
    w_rec = theta[n * n_in : n * n_in + n_rec]
    bias = theta[n * n_in + n_rec : n * n_in + n_rec + n]
    w_out = theta[n * n_in + n_rec + n : n * n_in + n_rec + n + n_out * n]
    b_out = theta[n * n_in + n_rec + n + n_out * n : n * n_in + n_rec + n + n_out * n + n_out]
    record = hist.shape[0] > 0
    for s in range(n_steps):
        t = t0 + s
        for i in range(n_modules):
            if t % periods[i] != 0:
                continue
            c0 = column_start[i]
            width = n - c0
            for r in range(module_start[i], module_start[i + 1]):
                acc = bias[r]
                row = block_offset[i] + (r - module_start[i]) * width
                for c in range(width):
                    acc += w_rec[row + c] * h[c0 + c]
                for j in range(n_in):
                    acc += w_in[r * n_in + j] * x[s, j]
                work[r] = np.tanh(acc)
        # Active modules read the previous state of each other, so commit only after all are done.
        for i in range(n_modules):
            if t % periods[i] == 0:
                for r in range(module_start[i], module_start[i + 1]):
                    h[r] = work[r]
        if record:
            for r in range(n):
                hist[s, r] = h[r]
        for k in range(n_out):
            acc = b_out[k]
            for r in range(n):
                acc += w_out[k * n + r] * h[r]
            y[s, k] = acc


@numba.njit(parallel=True, **_JIT)
def _forward_batch(theta, module_start, column_start, block_offset, periods, x, t0, h, y, hist):
    """:func:`_forward_seq` over a batch in parallel: x (B, T, n_in), h (B, n), y (B, T, n_out),
    hist (B, T, n) or (B, 0, n)."""
    for b in numba.prange(x.shape[0]):
        work = np.empty(h.shape[1], dtype=h.dtype)
        _forward_seq(theta, module_start, column_start, block_offset, periods, x[b], t0, h[b], work, y[b], hist[b])


@numba.njit(**_JIT)
def _backward_seq(theta, module_start, column_start, block_offset, periods, x, t0, h0, hist, dhist, grad, dh, da):
    """Back-propagate through time over one sequence.

    hist : (T, n) states after each step, h0 : (n,) the state before step t0. dhist : (T, n) the
    loss gradient reaching each state from outside the recurrence (the output layer). grad : the
    recurrent part of the flat gradient, accumulated into. dh : (n,) the gradient flowing back
    into the state after the last step (zero for a whole sequence); on return it holds the
    gradient with respect to h0. da : (n,) scratch.

    An inactive module's state is a copy of its previous one, so its error passes back unchanged;
    only active modules go through tanh and touch weights.
    """
    n_steps, n_in = x.shape
    n = h0.shape[0]
    n_modules = periods.shape[0]
    n_rec = block_offset[n_modules]
    w_rec = theta[n * n_in : n * n_in + n_rec]
    g_in = grad[: n * n_in]
    g_rec = grad[n * n_in : n * n_in + n_rec]
    g_bias = grad[n * n_in + n_rec : n * n_in + n_rec + n]
    for s in range(n_steps - 1, -1, -1):
        t = t0 + s
        for r in range(n):
            dh[r] += dhist[s, r]
        h_prev = hist[s - 1] if s > 0 else h0
        # Pass 1: the error at the pre-activations; an active unit's old value got overwritten,
        # so nothing of dh reaches it through the identity path.
        for i in range(n_modules):
            if t % periods[i] == 0:
                for r in range(module_start[i], module_start[i + 1]):
                    hr = hist[s, r]
                    da[r] = dh[r] * (1 - hr * hr)
                    dh[r] = 0
        # Pass 2: weight gradients and the error sent to the previous state.
        for i in range(n_modules):
            if t % periods[i] != 0:
                continue
            c0 = column_start[i]
            width = n - c0
            for r in range(module_start[i], module_start[i + 1]):
                d = da[r]
                g_bias[r] += d
                row = block_offset[i] + (r - module_start[i]) * width
                for c in range(width):
                    g_rec[row + c] += d * h_prev[c0 + c]
                    dh[c0 + c] += w_rec[row + c] * d
                for j in range(n_in):
                    g_in[r * n_in + j] += d * x[s, j]


@numba.njit(parallel=True, **_JIT)
def _backward_batch(theta, module_start, column_start, block_offset, periods, x, t0, h0, hist, dhist, grads, dh):
    """:func:`_backward_seq` over a batch in parallel, one gradient row per sequence.

    grads : (B, Q) zeroed, Q the length of the recurrent part. One row per sequence rather than
    per thread makes the result independent of the thread count: the caller sums the rows in a
    fixed order.
    """
    for b in numba.prange(x.shape[0]):
        da = np.empty(h0.shape[1], dtype=h0.dtype)
        _backward_seq(
            theta, module_start, column_start, block_offset, periods,
            x[b], t0, h0[b], hist[b], dhist[b], grads[b], dh[b], da,
        )


@numba.njit(**_JIT)
def _sample_feedback(theta, module_start, column_start, block_offset, periods, t0, h, work, x, logits,
                     values, inv_temperature, uniforms, out):
    """Free-running generation from a softmax model with one input: feed back what was sampled.

    At each step the model reads ``x`` (1, 1), the value emitted at the previous step, computes
    its logits (1, n_out), draws class ``c`` by inverse-CDF sampling of
    ``softmax(logits * inv_temperature)`` with ``uniforms[s]``, writes ``out[s] = values[c]`` and
    feeds ``values[c]`` back as the next input. ``x`` holds the first input on entry and the next
    one on return; ``h`` is updated in place. ``inv_temperature == 0`` means greedy (argmax).
    """
    n_out = values.shape[0]
    no_history = np.empty((0, h.shape[0]), dtype=h.dtype)
    for s in range(out.shape[0]):
        _forward_seq(theta, module_start, column_start, block_offset, periods, x, t0 + s, h, work, logits, no_history)
        best = 0
        top = logits[0, 0]
        for k in range(1, n_out):
            if logits[0, k] > top:
                top = logits[0, k]
                best = k
        if inv_temperature > 0:
            total = 0.0
            for k in range(n_out):
                total += np.exp((logits[0, k] - top) * inv_temperature)
            threshold = uniforms[s] * total
            acc = 0.0
            for k in range(n_out):
                acc += np.exp((logits[0, k] - top) * inv_temperature)
                if acc >= threshold:
                    best = k
                    break
        out[s] = values[best]
        x[0, 0] = values[best]
