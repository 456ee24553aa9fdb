"""numba kernels of the LSTM baseline: forward and backward through time, one sequence or a batch.

The same conventions as :mod:`cwfast._kernels`: arrays and scalars in, nothing validated, only
small work buffers allocated; the public wrapper :class:`cwfast.lstm.LSTM` checks and converts
everything first. Loops run over slices from 0 so that LLVM can vectorise the row dot products.

The flat parameter vector ``theta`` holds ``W_in`` (4n, n_in) row-major, ``W_h`` (4n, n) row-major,
``b`` (4n,), ``W_out`` (n_out, n) row-major and ``b_out`` (n_out,). The four row blocks of ``W_in``,
``W_h`` and ``b`` are, in order, the input gate ``i``, the forget gate ``f``, the cell candidate
``g`` and the output gate ``o`` (PyTorch's order). The recurrent state of one sequence is one
vector ``s`` (2n,): the hidden output ``h = s[:n]`` followed by the cell ``c = s[n:]``.

The heads (row losses, the mean readout, sampling) come from :mod:`cwfast._head_kernels` and the
population's member parameters from :mod:`cwfast._kernels`, written once; :mod:`cwfast._jit` keeps
the on-disk caches of all kernel files in step, so calling across files is safe.
"""

import numba
import numpy as np

from ._head_kernels import _emit, _fed_back, _level_gain, _level_rows, _level_sequence, _mean_rows, _scored_row_loss
from ._jit import INT_ZERO as _0
from ._jit import JIT as _JIT
from ._pitch_kernels import _predict_row, _scratch
from .modes import FLUSH as _FLUSH
from ._kernels import _member_params


@numba.njit(**_JIT)
def _sigmoid(v):
    # Evaluated in float64 whatever the model's dtype; exp(-v) overflowing to inf gives exactly 0.
    return 1.0 / (1.0 + np.exp(-np.float64(v)))


@numba.njit(**_JIT)
def _forward_seq(theta, x, s, pre, y, hist, acts):
    """Run the LSTM over one sequence.

    x : (T, n_in). s : (2n,), the state [h, c] before the first step, updated in place to the
    state after the last. pre : (4n,) scratch. y : (T, n_out) receives the outputs. hist : (T, 2n)
    receives the state after every step and acts : (T, 5n) the activations ``i, f, g, o, tanh(c)``
    of every step, for the backward pass; pass (0, 2n) and (0, 5n) to keep no history.

    The output layer is computed step by step, as in the Clockwork RNN's kernel, so that the
    rounding does not depend on how a sequence is split into calls.
    """
    n_steps, n_in = x.shape
    n = s.shape[0] // 2
    n_out = y.shape[1]
    g4 = 4 * n
    end_in = g4 * n_in
    end_rec = end_in + g4 * n
    end_b = end_rec + g4
    end_out = end_b + n_out * n
    w_in = theta[:end_in]
    w_rec = theta[end_in:end_rec]
    bias = theta[end_rec:end_b]
    w_out = theta[end_b:end_out]
    b_out = theta[end_out : end_out + n_out]
    h = s[:n]
    c = s[n:]
    record = hist.shape[0] > 0
    for t in range(n_steps):
        for r in range(g4):
            acc = bias[r]
            for j in range(n_in):
                acc += w_in[r * n_in + j] * x[t, j]
            row = w_rec[r * n : (r + 1) * n]
            for k in range(n):
                acc += row[k] * h[k]
            pre[r] = acc
        # Every pre-activation read the old h above, so h and c may be overwritten now.
        for j in range(n):
            ig = _sigmoid(pre[j])
            fg = _sigmoid(pre[n + j])
            gg = np.tanh(np.float64(pre[2 * n + j]))
            og = _sigmoid(pre[3 * n + j])
            cj = fg * c[j] + ig * gg
            c[j] = cj
            if abs(c[j]) < _FLUSH:  # a cell decaying in silence reaches 0, not the subnormals (as the C export)
                c[j] = 0
            tc = np.tanh(np.float64(c[j]))
            h[j] = og * tc
            if abs(h[j]) < _FLUSH:
                h[j] = 0
            if record:
                acts[t, j] = ig
                acts[t, n + j] = fg
                acts[t, 2 * n + j] = gg
                acts[t, 3 * n + j] = og
                acts[t, 4 * n + j] = tc
        if record:
            hist[t, :] = s
        for k in range(n_out):
            row = w_out[k * n : (k + 1) * n]
            acc_out = b_out[k]
            for r in range(n):
                acc_out += row[r] * h[r]
            y[t, k] = acc_out


@numba.njit(parallel=True, **_JIT)
def _forward_batch(theta, x, s, y, hist, acts):
    """:func:`_forward_seq` over a batch in parallel: x (B, T, n_in), s (B, 2n), y (B, T, n_out),
    hist (B, T, 2n) or (B, 0, 2n), acts (B, T, 5n) or (B, 0, 5n)."""
    for b in numba.prange(x.shape[0]):
        pre = np.empty(2 * s.shape[1], dtype=s.dtype)
        _forward_seq(theta, x[b], s[b], pre, y[b], hist[b], acts[b])


@numba.njit(**_JIT)
def _backward_seq(theta, x, s0, hist, acts, dhist, grad, ds, da):
    """Back-propagate through time over one sequence.

    s0 : (2n,) the state before the first step; hist, acts : as recorded by :func:`_forward_seq`.
    dhist : (T, n) the loss gradient reaching each step's h from outside the recurrence (the
    output layer). grad : the recurrent part of a flat gradient (``W_in``, ``W_h``, ``b``),
    accumulated into. ds : (2n,) the gradient with respect to the state [h, c] after the last step
    (zero for a whole sequence); on return it holds the gradient with respect to s0. da : (4n,)
    scratch for the gradient at the gates' pre-activations.

    With ``c_t = f c_{t-1} + i g`` and ``h_t = o tanh(c_t)``::

        dc  = dc_next + dh o (1 - tanh(c)^2)      da_i = dc g i (1 - i)
        dc_prev = dc f                            da_f = dc c_prev f (1 - f)
        dh_prev = W_h^T da                        da_g = dc i (1 - g^2)
                                                  da_o = dh tanh(c) o (1 - o)
    """
    n_steps, n_in = x.shape
    n = s0.shape[0] // 2
    g4 = 4 * n
    end_in = g4 * n_in
    end_rec = end_in + g4 * n
    w_rec = theta[end_in:end_rec]
    g_in = grad[:end_in]
    g_rec = grad[end_in:end_rec]
    g_b = grad[end_rec : end_rec + g4]
    dh = ds[:n]
    dc = ds[n:]
    for t in range(n_steps - 1, -1, -1):
        prev = hist[t - 1] if t > 0 else s0
        h_prev = prev[:n]
        c_prev = prev[n:]
        for j in range(n):
            dhj = dh[j] + dhist[t, j]
            ig = acts[t, j]
            fg = acts[t, n + j]
            gg = acts[t, 2 * n + j]
            og = acts[t, 3 * n + j]
            tc = acts[t, 4 * n + j]
            dcj = dc[j] + dhj * og * (1 - tc * tc)
            da[j] = dcj * gg * ig * (1 - ig)
            da[n + j] = dcj * c_prev[j] * fg * (1 - fg)
            da[2 * n + j] = dcj * ig * (1 - gg * gg)
            da[3 * n + j] = dhj * tc * og * (1 - og)
            dc[j] = dcj * fg
            dh[j] = 0
        for r in range(g4):
            d = da[r]
            g_b[r] += d
            w_row = w_rec[r * n : (r + 1) * n]
            g_row = g_rec[r * n : (r + 1) * n]
            for k in range(n):
                g_row[k] += d * h_prev[k]
                dh[k] += w_row[k] * d
            for j in range(n_in):
                g_in[r * n_in + j] += d * x[t, j]


@numba.njit(parallel=True, **_JIT)
def _backward_batch(theta, x, s0, hist, acts, dhist, grads, ds):
    """:func:`_backward_seq` over a batch in parallel, one gradient row per sequence.

    grads : (B, Q) zeroed, Q the length of the recurrent part. One row per sequence rather than
    per thread makes the result independent of the thread count: the caller sums the rows in a
    fixed order.
    """
    for b in numba.prange(x.shape[0]):
        da = np.empty(2 * s0.shape[1], dtype=s0.dtype)
        _backward_seq(theta, x[b], s0[b], hist[b], acts[b], dhist[b], grads[b], ds[b], da)


@numba.njit(**_JIT)
def _sample_feedback(theta, s, pre, x, t0, logits, values, head_code, inv_temperature, uniforms, out, level, alpha,
                     low, high, taps, window, pitch_a, pitch_cfg, pitch_est):
    """Free-running generation from a softmax or mixture LSTM with one input: feed back what was sampled.

    The loop of :func:`cwfast._kernels._sample_feedback` around the LSTM step: ``x`` (1, 1) holds
    the first input on entry and the last emitted value on return, ``s`` (2n,) is updated in
    place, and each step emits what :func:`cwfast._head_kernels._emit` draws with ``uniforms[t]``;
    ``level``, ``alpha``, ``low`` and ``high`` normalise the level, and ``taps``, ``window`` and the
    ``pitch_`` arrays add the linear and pitch predictions, as there (``t0``: the first step's
    global index, which times the pitch predictor's searches).
    """
    no_hist = np.empty((0, s.shape[0]), dtype=s.dtype)
    no_acts = np.empty((0, 5 * (s.shape[0] // 2)), dtype=s.dtype)
    weights = np.empty(logits.shape[1])  # _emit's scratch, allocated once per call
    levelled = level.shape[0] > 0
    g = 1.0
    kept = window.shape[0] - out.shape[0]  # negative: no window
    e = _scratch(pitch_cfg)
    for t in range(out.shape[0]):
        x[0, 0] = _fed_back(x[0, 0], head_code, values)
        if levelled:
            g = _level_gain(level, np.float64(x[0, 0]), alpha, low, high)
            x[0, 0] = np.float64(x[0, 0]) / g
        _forward_seq(theta, x, s, pre, logits, no_hist, no_acts)
        if kept >= 0:
            window[kept + t] = x[0, 0]
            _predict_row(logits[0], window, kept + t, t0 + t, taps, pitch_a, pitch_cfg, e, pitch_est)
        if levelled:
            _level_rows(logits[0], g)
        out[t] = _emit(logits[0], head_code, inv_temperature, uniforms[t], weights, values)
        x[0, 0] = out[t]


@numba.njit(parallel=True, **_JIT)
def _population_losses(theta, noise, sigma, n, x, n_out, y_target, labels, head_code, readout, gains, losses):
    """The evolution strategy's scores, as :func:`cwfast._kernels._population_losses` defines them
    (antithetic members ``theta +- sigma * noise[m // 2]``, then the centre), for the LSTM of ``n``
    cells: members in parallel, each from a zero state on every sequence of ``x`` (B, T, n_in);
    ``gains`` as there."""
    n_members = losses.shape[0]
    n_params = theta.shape[0]
    batch, n_steps = x.shape[0], x.shape[1]
    first = n_steps - 1 if readout == 1 else 0
    per_step = 1 if head_code else n_out
    count = batch * (n_steps if readout == 0 else 1) * per_step
    for m in numba.prange(n_members):
        params = np.empty(n_params, dtype=x.dtype)
        _member_params(theta, noise, sigma, m, params)
        s = np.empty(2 * n, dtype=x.dtype)
        pre = np.empty(4 * n, dtype=x.dtype)
        y = np.empty((n_steps, n_out), dtype=x.dtype)
        row = np.empty(n_out)
        no_hist = np.empty((0, 2 * n), dtype=x.dtype)
        no_acts = np.empty((0, 5 * n), dtype=x.dtype)
        total = 0.0
        for b in range(batch):
            s[:] = 0
            _forward_seq(params, x[b], s, pre, y, no_hist, no_acts)
            _level_sequence(y, gains, b)
            if readout == 2:
                _mean_rows(y, row)
                total += _scored_row_loss(row, head_code, labels, y_target, b, _0)
                continue
            for t in range(first, n_steps):
                for k in range(n_out):
                    row[k] = y[t, k]
                total += _scored_row_loss(row, head_code, labels, y_target, b, t - first)
        losses[m] = total / count
