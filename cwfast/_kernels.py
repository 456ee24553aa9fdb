"""numba kernels of the Clockwork RNN recurrence: forward and backward, one sequence or a batch.

Kernels take arrays and scalars only, validate nothing and allocate only small work buffers; the
public wrappers in :mod:`cwfast.model` check and convert everything first. They read no
module-level settings, because numba freezes globals into the compiled code and its cache.

The flat parameter vector ``theta`` holds ``W_in`` (n, n_in) row-major, the packed recurrent
blocks, ``b_h`` (n,), ``W_out`` (n_out, n) row-major and ``b_out`` (n_out,). Module ``i`` owns units
``module_start[i]:module_start[i+1]`` (k_i of them) and reads units ``column_start[i]:n`` (width_i)
through its block, stored row-major as a (k_i, width_i) array at ``block_offset[i]`` of the packed
part.

Speed notes (measured on a 2-core AMD EPYC, float32, one module of 18 x 144): a row's dot product
runs at 9 GMAC/s when LLVM may reassociate the sum (``fastmath={"reassoc", "contract"}``, i.e.
vectorise it and use FMA), against 3.6 GMAC/s for the best form that keeps the sequential order.
The flags allow no other liberty (no ``nnan``/``ninf``/``nsz``/``arcp``/``afn``), and the
rounding is still fixed by the compiled code, so a stream gives the same bits however it is
split. Loops run over slices from 0 so that indices are provably non-negative: numba's
negative-index wraparound otherwise stops LLVM from vectorising them.

At step ``t`` only modules with ``t % periods[i] == 0`` are visited, forward and backward: an
inactive module costs one integer test per step, nothing else.
"""

import numba
import numpy as np
from numba import types
from numba.extending import overload

# error_model="numpy": a float division by zero gives inf instead of raising, which lets LLVM
# vectorise loops that divide (the rational tanh below ran at 14 vs 3.5 ns per element). For the
# fastmath flags see the module docstring.
_JIT = dict(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc", "contract"})


def _tanh_inplace(a):
    """Replace every element of the 1-D array ``a`` by its tanh (compiled through the overload)."""
    a[:] = np.tanh(a)


@overload(_tanh_inplace, jit_options=_JIT)
def _tanh_inplace_impl(a):
    if a.dtype == types.float32:
        # libm's scalar tanh costs about 14 ns per call and does not vectorise; this rational
        # approximation, tanh(v) = v p(v^2) / q(v^2) on [-9, 9] (fitted by iteratively reweighted
        # least squares, relative error 2e-8), evaluated in float64 and rounded to float32 is within
        # 1 ulp of the true tanh (np.tanh in float32: 1.4 ulp) and runs at about 3.5 ns per element.
        def impl(a):
            for i in range(a.shape[0]):
                v = min(max(np.float64(a[i]), -9.0), 9.0)
                z = v * v
                p = (((1.3354414268862413e-08 * z + 2.060906865313872e-05) * z + 0.0034955962904795685) * z
                     + 0.13381036195973578) * z + 0.9999999798611158
                q = (((7.776502941488073e-07 * z + 0.00032856414345863494) * z + 0.025877024252998624) * z
                     + 0.4671435202507059) * z + 1.0
                a[i] = min(max(v * p / q, -1.0), 1.0)

        return impl

    def impl(a):
        for i in range(a.shape[0]):
            a[i] = np.tanh(a[i])

    return impl


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
            r0 = module_start[i]
            k = module_start[i + 1] - r0
            width = n - column_start[i]
            reads = h[column_start[i] :]
            for r in range(k):
                row = w_rec[block_offset[i] + r * width : block_offset[i] + (r + 1) * width]
                acc = bias[r0 + r]
                for j in range(n_in):
                    acc += w_in[(r0 + r) * n_in + j] * x[s, j]
                for c in range(width):
                    acc += row[c] * reads[c]
                work[r0 + r] = acc
            _tanh_inplace(work[r0 : r0 + k])
        # Active modules read the previous state of each other, so commit only after all are done.
        for i in range(n_modules):
            if t % periods[i] == 0:
                r0, r1 = module_start[i], module_start[i + 1]
                h[r0:r1] = work[r0:r1]
        if record:
            hist[s, :] = h
        for k in range(n_out):
            row = w_out[k * n : (k + 1) * n]
            acc_out = b_out[k]
            for r in range(n):
                acc_out += row[r] * h[r]
            y[s, k] = acc_out


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
    recurrent part of a flat gradient (``W_in``, the packed blocks, ``b_h``), accumulated into.
    dh : (n,) the gradient flowing back
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
        dh += dhist[s]
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
            reads = h_prev[c0:]
            sends = dh[c0:]
            for r in range(module_start[i], module_start[i + 1]):
                d = da[r]
                g_bias[r] += d
                row = block_offset[i] + (r - module_start[i]) * width
                w_row = w_rec[row : row + width]
                g_row = g_rec[row : row + width]
                for c in range(width):
                    g_row[c] += d * reads[c]
                    sends[c] += w_row[c] * d
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
