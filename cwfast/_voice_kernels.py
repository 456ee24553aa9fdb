"""numba kernels of the forward pass for V voices of one model at once: Clockwork RNN (and SRN), LSTM.

A :class:`cwfast.Stream` with ``voices=V`` runs V independent sequences through the same weights.
Side by side, the V matrix-vector products of a step become one matrix-matrix product, in which
every weight can be loaded once and used for several voices. The states are stored voice-major,
``h[v * n + r]`` (a (V, n) array), and the product is register-blocked: four rows by four voices,
sixteen dot products in one pass over a row's columns, each weight and each state value loaded
once for four uses, the pass vectorised along the columns (reassociated, as in the one-voice
kernel). Measured on a 2-vCPU Xeon (AVX-512), 16 voices, CW 256/8 and 144/8: this order costs
0.42 to 0.47 of one voice per voice; 2 rows x 4 voices 0.46 to 0.47, 1 x 4 about 0.6; the other
order, voices innermost (state (n, V), the voice loop contiguous with the weight in a register),
was 1.0 to 2.8 (LLVM vectorised the column loop of each voice's sum instead, and spilled the
accumulators). A voice's sum has the same shape whatever the voice count or its place (the count
is padded to a multiple of :data:`VOICE_BLOCK`), so a voice's output depends on its input alone.

Each voice has its own clock (``t[v]``, its next step), so that one voice can be restarted at
t = 0 while the others run on. A module whose period sees every voice in the same phase (the
usual case: voices started together) is tested once per step, as in the one-voice kernel. When
the voices' phases differ for a module, the module is computed for all voices at every step where
any voice needs it, and committed only for those: correct, but up to ``min(V, period)`` times the
work for that module, until the voices are back in phase (``Stream.reset()`` of all voices).

The LSTM's voices (:func:`_lstm_forward_voices`) use the same 4 x 4 passes for the 4n gate rows
against each voice's h, then the gates of :mod:`cwfast._lstm_kernels` (in float64) voice by voice.

The step (:func:`_voices_step`) and its passes run without numba's reference counting, like the
one-voice step (``_HOT`` of :mod:`cwfast._kernels`): 1.04-1.05x for CW 144/8 and 256/8 with 16
voices, the same bits. The passes are inlined into :func:`_rows_voices4` (``inline="always"``):
called out of line, each pass pushed about fifty arguments through the stack (numba passes an
array as seven fields). A 4 x 4 pass over 8 columns took 71 ns out of line, 56 ns inlined, and
streams of 16 voices of CW 144/8 and 256/8 ran 1.12-1.18x faster inlined (medians), same bits.
Where a voice-step of CW 144/8 goes since (16 voices, blocks of 512, one process against the
kernel with the part removed): the products about 77% (0.309 against 0.071 us per voice-sample
without them), tanh about a fifth (1.28x faster without it). A pass's column loop is 8 loads and
16 8-wide FMAs (ymm) per 8 columns without spills, about 34 GMAC/s on the AVX-512 Xeon for long
rows; the rest of a pass is a fixed cost: sixteen horizontal sums (three shuffles each), the
setup, a scalar loop for the last width % 8 columns. What was tried against it:
docs/benchmarks.md, section 7.

Like :mod:`cwfast._kernels`: arrays and scalars in, no validation, no allocation, the same
``theta`` layout and the same fastmath flags (reassociation and contraction only). The kernel is
written out by hand (no code generation), so that numba can cache it.
"""

import numba
import numpy as np

from ._jit import JIT as _JIT
# shared: cwfast._jit keeps the caches of both files in step
from ._kernels import _HOT, _copy, _fires, _tanh_inplace
from ._lstm_kernels import _sigmoid


#: Voices are computed in blocks of this many; a stream pads its voice count up to a multiple.
VOICE_BLOCK = 4


@numba.njit(inline="always", **_HOT)
def _rows4_voices4(w_rec, off, width, bias, w_in, x, s, vb, n_in, h, hs, cs, r0, r, work, ws):
    """Rows r..r+3 (of a block stored row-major at ``w_rec[off:]``, ``width`` columns, its first
    row being row r0) for voices vb..vb+3: sixteen dot products with ``h[v * hs + cs:][:width]``
    in one pass over the columns, each weight and state value loaded once for four uses, plus the
    bias and the input weights; written to ``work[v * ws + row]``."""
    h0 = h[(vb + 0) * hs + cs : (vb + 0) * hs + cs + width]
    h1 = h[(vb + 1) * hs + cs : (vb + 1) * hs + cs + width]
    h2 = h[(vb + 2) * hs + cs : (vb + 2) * hs + cs + width]
    h3 = h[(vb + 3) * hs + cs : (vb + 3) * hs + cs + width]
    row0 = w_rec[off + (r - r0 + 0) * width : off + (r - r0 + 0 + 1) * width]
    a0_0 = bias[r + 0]
    a0_1 = bias[r + 0]
    a0_2 = bias[r + 0]
    a0_3 = bias[r + 0]
    row1 = w_rec[off + (r - r0 + 1) * width : off + (r - r0 + 1 + 1) * width]
    a1_0 = bias[r + 1]
    a1_1 = bias[r + 1]
    a1_2 = bias[r + 1]
    a1_3 = bias[r + 1]
    row2 = w_rec[off + (r - r0 + 2) * width : off + (r - r0 + 2 + 1) * width]
    a2_0 = bias[r + 2]
    a2_1 = bias[r + 2]
    a2_2 = bias[r + 2]
    a2_3 = bias[r + 2]
    row3 = w_rec[off + (r - r0 + 3) * width : off + (r - r0 + 3 + 1) * width]
    a3_0 = bias[r + 3]
    a3_1 = bias[r + 3]
    a3_2 = bias[r + 3]
    a3_3 = bias[r + 3]
    for j in range(n_in):
        w0 = w_in[(r + 0) * n_in + j]
        a0_0 += w0 * x[s, vb + 0, j]
        a0_1 += w0 * x[s, vb + 1, j]
        a0_2 += w0 * x[s, vb + 2, j]
        a0_3 += w0 * x[s, vb + 3, j]
        w1 = w_in[(r + 1) * n_in + j]
        a1_0 += w1 * x[s, vb + 0, j]
        a1_1 += w1 * x[s, vb + 1, j]
        a1_2 += w1 * x[s, vb + 2, j]
        a1_3 += w1 * x[s, vb + 3, j]
        w2 = w_in[(r + 2) * n_in + j]
        a2_0 += w2 * x[s, vb + 0, j]
        a2_1 += w2 * x[s, vb + 1, j]
        a2_2 += w2 * x[s, vb + 2, j]
        a2_3 += w2 * x[s, vb + 3, j]
        w3 = w_in[(r + 3) * n_in + j]
        a3_0 += w3 * x[s, vb + 0, j]
        a3_1 += w3 * x[s, vb + 1, j]
        a3_2 += w3 * x[s, vb + 2, j]
        a3_3 += w3 * x[s, vb + 3, j]
    for q in range(width):
        g0 = h0[q]
        g1 = h1[q]
        g2 = h2[q]
        g3 = h3[q]
        w0 = row0[q]
        a0_0 += w0 * g0
        a0_1 += w0 * g1
        a0_2 += w0 * g2
        a0_3 += w0 * g3
        w1 = row1[q]
        a1_0 += w1 * g0
        a1_1 += w1 * g1
        a1_2 += w1 * g2
        a1_3 += w1 * g3
        w2 = row2[q]
        a2_0 += w2 * g0
        a2_1 += w2 * g1
        a2_2 += w2 * g2
        a2_3 += w2 * g3
        w3 = row3[q]
        a3_0 += w3 * g0
        a3_1 += w3 * g1
        a3_2 += w3 * g2
        a3_3 += w3 * g3
    work[(vb + 0) * ws + r + 0] = a0_0
    work[(vb + 1) * ws + r + 0] = a0_1
    work[(vb + 2) * ws + r + 0] = a0_2
    work[(vb + 3) * ws + r + 0] = a0_3
    work[(vb + 0) * ws + r + 1] = a1_0
    work[(vb + 1) * ws + r + 1] = a1_1
    work[(vb + 2) * ws + r + 1] = a1_2
    work[(vb + 3) * ws + r + 1] = a1_3
    work[(vb + 0) * ws + r + 2] = a2_0
    work[(vb + 1) * ws + r + 2] = a2_1
    work[(vb + 2) * ws + r + 2] = a2_2
    work[(vb + 3) * ws + r + 2] = a2_3
    work[(vb + 0) * ws + r + 3] = a3_0
    work[(vb + 1) * ws + r + 3] = a3_1
    work[(vb + 2) * ws + r + 3] = a3_2
    work[(vb + 3) * ws + r + 3] = a3_3


@numba.njit(inline="always", **_HOT)
def _rows2_voices4(w_rec, off, width, bias, w_in, x, s, vb, n_in, h, hs, cs, r0, r, work, ws):
    """:func:`_rows4_voices4` for two rows."""
    h0 = h[(vb + 0) * hs + cs : (vb + 0) * hs + cs + width]
    h1 = h[(vb + 1) * hs + cs : (vb + 1) * hs + cs + width]
    h2 = h[(vb + 2) * hs + cs : (vb + 2) * hs + cs + width]
    h3 = h[(vb + 3) * hs + cs : (vb + 3) * hs + cs + width]
    row0 = w_rec[off + (r - r0 + 0) * width : off + (r - r0 + 0 + 1) * width]
    a0_0 = bias[r + 0]
    a0_1 = bias[r + 0]
    a0_2 = bias[r + 0]
    a0_3 = bias[r + 0]
    row1 = w_rec[off + (r - r0 + 1) * width : off + (r - r0 + 1 + 1) * width]
    a1_0 = bias[r + 1]
    a1_1 = bias[r + 1]
    a1_2 = bias[r + 1]
    a1_3 = bias[r + 1]
    for j in range(n_in):
        w0 = w_in[(r + 0) * n_in + j]
        a0_0 += w0 * x[s, vb + 0, j]
        a0_1 += w0 * x[s, vb + 1, j]
        a0_2 += w0 * x[s, vb + 2, j]
        a0_3 += w0 * x[s, vb + 3, j]
        w1 = w_in[(r + 1) * n_in + j]
        a1_0 += w1 * x[s, vb + 0, j]
        a1_1 += w1 * x[s, vb + 1, j]
        a1_2 += w1 * x[s, vb + 2, j]
        a1_3 += w1 * x[s, vb + 3, j]
    for q in range(width):
        g0 = h0[q]
        g1 = h1[q]
        g2 = h2[q]
        g3 = h3[q]
        w0 = row0[q]
        a0_0 += w0 * g0
        a0_1 += w0 * g1
        a0_2 += w0 * g2
        a0_3 += w0 * g3
        w1 = row1[q]
        a1_0 += w1 * g0
        a1_1 += w1 * g1
        a1_2 += w1 * g2
        a1_3 += w1 * g3
    work[(vb + 0) * ws + r + 0] = a0_0
    work[(vb + 1) * ws + r + 0] = a0_1
    work[(vb + 2) * ws + r + 0] = a0_2
    work[(vb + 3) * ws + r + 0] = a0_3
    work[(vb + 0) * ws + r + 1] = a1_0
    work[(vb + 1) * ws + r + 1] = a1_1
    work[(vb + 2) * ws + r + 1] = a1_2
    work[(vb + 3) * ws + r + 1] = a1_3


@numba.njit(inline="always", **_HOT)
def _row1_voices4(w_rec, off, width, bias, w_in, x, s, vb, n_in, h, hs, cs, r0, r, work, ws):
    """:func:`_rows4_voices4` for one row."""
    h0 = h[(vb + 0) * hs + cs : (vb + 0) * hs + cs + width]
    h1 = h[(vb + 1) * hs + cs : (vb + 1) * hs + cs + width]
    h2 = h[(vb + 2) * hs + cs : (vb + 2) * hs + cs + width]
    h3 = h[(vb + 3) * hs + cs : (vb + 3) * hs + cs + width]
    row0 = w_rec[off + (r - r0 + 0) * width : off + (r - r0 + 0 + 1) * width]
    a0_0 = bias[r + 0]
    a0_1 = bias[r + 0]
    a0_2 = bias[r + 0]
    a0_3 = bias[r + 0]
    for j in range(n_in):
        w0 = w_in[(r + 0) * n_in + j]
        a0_0 += w0 * x[s, vb + 0, j]
        a0_1 += w0 * x[s, vb + 1, j]
        a0_2 += w0 * x[s, vb + 2, j]
        a0_3 += w0 * x[s, vb + 3, j]
    for q in range(width):
        g0 = h0[q]
        g1 = h1[q]
        g2 = h2[q]
        g3 = h3[q]
        w0 = row0[q]
        a0_0 += w0 * g0
        a0_1 += w0 * g1
        a0_2 += w0 * g2
        a0_3 += w0 * g3
    work[(vb + 0) * ws + r + 0] = a0_0
    work[(vb + 1) * ws + r + 0] = a0_1
    work[(vb + 2) * ws + r + 0] = a0_2
    work[(vb + 3) * ws + r + 0] = a0_3


@numba.njit(**_HOT)
def _rows_voices4(w_rec, off, width, bias, w_in, x, s, vb, n_in, h, hs, cs, r0, r1, work, ws):
    """Rows r0..r1-1 for voices vb..vb+3: four rows a pass, then two, then one."""
    r = r0
    while r + 4 <= r1:
        _rows4_voices4(w_rec, off, width, bias, w_in, x, s, vb, n_in, h, hs, cs, r0, r, work, ws)
        r += 4
    if r + 2 <= r1:
        _rows2_voices4(w_rec, off, width, bias, w_in, x, s, vb, n_in, h, hs, cs, r0, r, work, ws)
        r += 2
    if r < r1:
        _row1_voices4(w_rec, off, width, bias, w_in, x, s, vb, n_in, h, hs, cs, r0, r, work, ws)


@numba.njit(**_HOT)
def _window_voices(w_in, in_off, window, x, s, r0, r1, work, ws, acc):
    """Add the input windows of rows r0..r1-1 for every voice to ``work[v * ws + row]``.

    The rows' input weights are stored row-major from ``w_in[in_off:]``, each ``window * n_in``
    long, oldest input first, and dot the inputs ``x[s - window + 1 : s + 1, v]``. A separate
    pass after the 4 x 4 passes (which then run with no input): the plain model's passes stay
    exactly as they were (bits and speed; a window loop inside them cost plain models 3 to 6%).
    The voices of one input row are contiguous, so the multiply-adds run along the voices, one
    weight for all of them, into ``acc`` (V,) scratch: a vector loop, where four voices at a time
    in scalars cost windowed CW 64/8 (16 voices) about 0.06 us per voice-sample.
    """
    n_in = x.shape[2]
    V = acc.shape[0]
    span = window * n_in
    xw = x[s + 1 - window : s + 1]
    for r in range(r0, r1):
        row = w_in[in_off + (r - r0) * span : in_off + (r - r0 + 1) * span]
        acc[:] = 0
        for l in range(window):
            xl = xw[l]
            for j in range(n_in):
                w = row[l * n_in + j]
                for v in range(V):
                    acc[v] += w * xl[v, j]
        for v in range(V):
            work[v * ws + r] += acc[v]


@numba.njit(**_HOT)
def _output_voices4(w_out, b_out, h, hs, n, k, vb, y, s):
    """Output k of voices vb..vb+3 at step s (voice v's h at ``h[v * hs:][:n]``): four dot
    products sharing the loads of W_out's row."""
    row = w_out[k * n : k * n + n]
    h0 = h[(vb + 0) * hs : (vb + 0) * hs + n]
    h1 = h[(vb + 1) * hs : (vb + 1) * hs + n]
    h2 = h[(vb + 2) * hs : (vb + 2) * hs + n]
    h3 = h[(vb + 3) * hs : (vb + 3) * hs + n]
    a0 = b_out[k]
    a1 = b_out[k]
    a2 = b_out[k]
    a3 = b_out[k]
    for r in range(n):
        w = row[r]
        a0 += w * h0[r]
        a1 += w * h1[r]
        a2 += w * h2[r]
        a3 += w * h3[r]
    y[s, vb + 0, k] = a0
    y[s, vb + 1, k] = a1
    y[s, vb + 2, k] = a2
    y[s, vb + 3, k] = a3


@numba.njit(**_JIT)
def _forward_voices(theta, module_start, column_start, block_offset, periods, input_offset, x, n_voices, t, h, work,
                    y, flags):
    """Run the voices over one block.

    theta : the model's flat parameters (see :mod:`cwfast._kernels`): module i's input weights
    are packed from ``input_offset[i] * n_in``, each of its k_i rows ``L_i * n_in`` long (oldest
    input first), ``L_i = (input_offset[i + 1] - input_offset[i]) / k_i`` (the layout's
    ``input_offset``, or ``module_start`` for a model without input windows). x : (P + T, V, n_in):
    P = max window - 1 rows of history (the inputs before this block, oldest first; none without
    windows), then the block: voice v's input at step s is ``x[P + s, v]``. V is a multiple of
    :data:`VOICE_BLOCK`, and only the first ``n_voices`` voices are real (the others are padding:
    computed, never read). t : (V,) int64, each voice's next step, advanced by T here. h : (V * n,)
    the states, ``h[v * n + r]``, updated in place. work : (V * n,) scratch, (V * (n + 1),) with
    input windows. y : (T, V, n_out)
    receives the outputs (T is read from it). flags : (2 * n_modules,) int64 scratch.
    """
    n_steps = y.shape[0]
    V, n_in = x.shape[1], x.shape[2]
    history = x.shape[0] - n_steps
    n_out = y.shape[2]
    n_modules = periods.shape[0]
    n = module_start[n_modules]
    a = input_offset[n_modules] * n_in
    b = a + block_offset[n_modules]
    c = b + n
    d = c + n_out * n
    w_in, w_rec, bias, w_out, b_out = theta[:a], theta[a:b], theta[b:c], theta[c:d], theta[d : d + n_out]
    # aligned[i]: every real voice is in the same phase of module i's period (for the whole block).
    # code[i], at a step: 0 idle, 2 active for every voice, 1 active for some (commit those only).
    aligned, code = flags[:n_modules], flags[n_modules:]
    for i in range(n_modules):
        aligned[i] = 1
        for v in range(1, n_voices):
            if t[v] % periods[i] != t[0] % periods[i]:
                aligned[i] = 0
    for s in range(n_steps):
        _voices_step(w_in, w_rec, bias, w_out, b_out, module_start, column_start, block_offset, periods, input_offset,
                     x, history, s, n_voices, t, h, work, y, aligned, code)
    for v in range(V):
        t[v] += n_steps


@numba.njit(**_HOT)
def _voices_step(w_in, w_rec, bias, w_out, b_out, module_start, column_start, block_offset, periods, input_offset, x,
                 history, s, n_voices, t, h, work, y, aligned, code):
    """Step s of :func:`_forward_voices` (its arguments, and ``aligned``, ``code``: its flags),
    without numba's reference counting, like the one-voice step (cwfast._kernels._HOT)."""
    V, n_in = x.shape[1], x.shape[2]
    n_modules = periods.shape[0]
    n = module_start[n_modules]
    n_out = y.shape[2]
    for i in range(n_modules):
        p = periods[i]
        if aligned[i] == 1:
            code[i] = 2 if _fires(t[0] + s, p) else 0
        else:
            count = 0
            for v in range(n_voices):
                if (t[v] + s) % p == 0:
                    count += 1
            code[i] = 0 if count == 0 else (2 if count == n_voices else 1)
        if code[i] == 0:
            continue
        r0 = module_start[i]
        r1 = module_start[i + 1]
        cs = column_start[i]
        width = n - cs
        off = block_offset[i]
        if history == 0:  # no input windows: the input weights inside the 4 x 4 passes
            for vb in range(0, V, VOICE_BLOCK):
                _rows_voices4(w_rec, off, width, bias, w_in, x, s, vb, n_in, h, n, cs, r0, r1, work, n)
        else:
            for vb in range(0, V, VOICE_BLOCK):
                _rows_voices4(w_rec, off, width, bias, w_in, x, s, vb, 0, h, n, cs, r0, r1, work, n)
            _window_voices(w_in, input_offset[i] * n_in, (input_offset[i + 1] - input_offset[i]) // (r1 - r0), x,
                           history + s, r0, r1, work, n, work[V * n : V * n + V])
        for v in range(V):
            _tanh_inplace(work[v * n + r0 : v * n + r1])
    # Active modules read the previous state of each other: commit only after all are done.
    for i in range(n_modules):
        if code[i] == 0:
            continue
        r0 = module_start[i]
        r1 = module_start[i + 1]
        for v in range(V):
            if code[i] == 2 or (v < n_voices and (t[v] + s) % periods[i] == 0):
                _copy(work[v * n + r0 : v * n + r1], h[v * n + r0 : v * n + r1])
    for k in range(n_out):
        for vb in range(0, V, VOICE_BLOCK):
            _output_voices4(w_out, b_out, h, n, n, k, vb, y, s)


@numba.njit(**_JIT)
def _lstm_forward_voices(theta, x, t, state, pre, y):
    """Run the voices of an LSTM over one block (the recurrence of :mod:`cwfast._lstm_kernels`).

    x : (T, V, n_in), V a multiple of :data:`VOICE_BLOCK`. t : (V,) int64, advanced by T (an LSTM
    has no clock; the count is kept for the stream). state : (V * 2n,), voice v's ``[h, c]`` at
    ``state[v * 2n:]``. pre : (V * 4n,) scratch, the gates' pre-activations. y : (T, V, n_out).
    """
    n_steps, V, n_in = x.shape
    n = state.shape[0] // (2 * V)
    n_out = y.shape[2]
    g4 = 4 * n
    end_in = g4 * n_in
    end_rec = end_in + g4 * n
    end_b = end_rec + g4
    end_out = end_b + n_out * n
    w_in, w_rec, bias = theta[:end_in], theta[end_in:end_rec], theta[end_rec:end_b]
    w_out, b_out = theta[end_b:end_out], theta[end_out : end_out + n_out]
    for s in range(n_steps):
        for vb in range(0, V, VOICE_BLOCK):
            _rows_voices4(w_rec, 0, n, bias, w_in, x, s, vb, n_in, state, 2 * n, 0, 0, g4, pre, g4)
        # Every pre-activation read the old h above, so h and c may be overwritten now.
        for v in range(V):
            p = pre[v * g4 : (v + 1) * g4]
            h = state[v * 2 * n : v * 2 * n + n]
            c = state[v * 2 * n + n : (v + 1) * 2 * n]
            for j in range(n):
                ig = _sigmoid(p[j])
                fg = _sigmoid(p[n + j])
                gg = np.tanh(np.float64(p[2 * n + j]))
                og = _sigmoid(p[3 * n + j])
                c[j] = fg * c[j] + ig * gg
                h[j] = og * np.tanh(np.float64(c[j]))
        for k in range(n_out):
            for vb in range(0, V, VOICE_BLOCK):
                _output_voices4(w_out, b_out, state, 2 * n, n, k, vb, y, s)
    for v in range(V):
        t[v] += n_steps
