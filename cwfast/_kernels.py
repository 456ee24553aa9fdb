"""numba kernels of the Clockwork RNN recurrence: forward and backward, one sequence or a batch.

Kernels take arrays and scalars only, validate nothing and allocate only small work buffers; the
public wrappers in :mod:`cwfast.model` check and convert everything first. They read no
module-level settings, because numba freezes globals into the compiled code and its cache.

The flat parameter vector ``theta`` holds the packed input weights (module ``i``'s rows of
``L_i * n_in`` numbers from ``input_offset[i] * n_in``, oldest input first; with every input window
``L_i = 1`` this is ``W_in`` (n, n_in) row-major), the packed recurrent blocks, ``b_h`` (n,),
``W_out`` (n_out, n) row-major and ``b_out`` (n_out,). Module ``i`` owns units
``module_start[i]:module_start[i+1]`` (k_i of them) and reads units ``column_start[i]:n`` (width_i)
through its block, stored row-major as a (k_i, width_i) array at ``block_offset[i]`` of the packed
part.

Inputs come *padded*: ``xp`` (P + T, n_in) holds the ``P = max_window - 1`` inputs before the
first step, oldest first, then the T new ones, so module ``i``'s window at step ``s`` is the flat
slice ``xp.ravel()[(s + P - L_i + 1) * n_in : (s + P + 1) * n_in]``, dotted with its input row
as one contiguous slice. The model keeps those P rows in its state between calls.

Speed notes (measured on a 2-core AMD EPYC, float32, one module of 18 x 144): a row's dot product
runs at 9 GMAC/s when LLVM may reassociate the sum (``fastmath={"reassoc", "contract"}``, i.e.
vectorise it and use FMA), against 3.6 GMAC/s for the best form that keeps the sequential order.
The flags allow no other liberty (no ``nnan``/``ninf``/``nsz``/``arcp``/``afn``), and the
rounding is still fixed by the compiled code, so a stream gives the same bits however it is
split. Loops run over slices from 0 so that indices are provably non-negative: numba's
negative-index wraparound otherwise stops LLVM from vectorising them.

The last kernel scores a whole population of the evolution strategy in one call (``prange`` over
members, each building its parameters from the centre and its row of noise; members write disjoint
losses, so the result does not depend on the thread count).

At step ``t`` only modules with ``t % periods[i] == 0`` are visited, forward and backward: an
inactive module costs one integer test per step, nothing else.
"""

import numba
import numpy as np
from numba import types
from numba.extending import overload

from ._head_kernels import _emit, _fed_back, _level_gain, _level_rows, _level_sequence, _mean_rows, _scored_row_loss
from ._jit import INT_ZERO as _0
from ._jit import JIT as _JIT
from ._jit import has_avx512
from .modes import FLUSH as _FLUSH
from ._pitch_kernels import _predict_row, _scratch

# The step and its row kernels allocate nothing, so they run without numba's reference counting:
# every slice otherwise calls NRT_incref and NRT_decref (a locked add when the array came from
# Python), which took a third of a CW 144/8 step called through the dispatcher (sampled with perf)
# and 4% through Stream's entry. The sequence kernels that call them (_forward_padded_seq and
# friends) keep it: with _forward_seq and _forward_padded_seq compiled this way too, loading the
# cached _backward_batch aborted in LLVM's bitcode reader (numba 0.68.1); not investigated further.
_HOT = dict(_JIT, _nrt=False)

#: Whether :func:`_module_rows` takes sixteen rows a pass, or eight at most. Sixteen sums in flight
#: fit AVX-512's 32 vector registers (measured 1.06-1.23x faster than eight on the Xeon, section 10
#: of docs/benchmarks.md); AVX2 has 16, and compiled for an AVX2 EPYC (Zen 3) eight rows a pass were
#: 1.14x (CW 144/8), 1.08x (256/8) and 1.50x (1024/8) faster than sixteen, with the same bits
#: (section 18). A property of the code numba compiles, like the target features that key its cache.
_SIXTEEN_ROWS = has_avx512()


def _tanh_inplace(a):
    """Replace every element of the 1-D array ``a`` by its tanh (compiled through the overload),
    0 where that is below :data:`cwfast.modes.FLUSH` in magnitude: a state that decays into the
    subnormal range never reaches 0 (0.9 x the smallest subnormal rounds back to it), and on the
    Intel Xeon a model whose state did ran 100x slower for good (docs/benchmarks.md); the exported
    C flushes its tanh's result the same way."""
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
                # (comparisons, not min and max, which took a NaN to -9: a NaN stays NaN)
                v = np.float64(a[i])
                v = 9.0 if v > 9.0 else (-9.0 if v < -9.0 else v)
                z = v * v
                p = (((1.3354414268862413e-08 * z + 2.060906865313872e-05) * z + 0.0034955962904795685) * z
                     + 0.13381036195973578) * z + 0.9999999798611158
                q = (((7.776502941488073e-07 * z + 0.00032856414345863494) * z + 0.025877024252998624) * z
                     + 0.4671435202507059) * z + 1.0
                r = v * p / q
                a[i] = 1.0 if r > 1.0 else (-1.0 if r < -1.0 else (0.0 if abs(r) < _FLUSH else r))

        return impl

    def impl(a):
        for i in range(a.shape[0]):
            r = np.tanh(a[i])
            a[i] = 0.0 if abs(r) < _FLUSH else r  # (a NaN stays NaN)

    return impl


@numba.njit(**_JIT)
def _any_tiny(x):
    """Whether the 1-D ``x`` holds a value that is not 0 but below :data:`cwfast.modes.FLUSH` in
    magnitude (what every path reads as 0)."""
    for i in range(x.shape[0]):
        v = x[i]
        if v != 0 and abs(v) < _FLUSH:
            return True
    return False


@numba.njit(**_JIT)
def _views(theta, n, n_win, n_rec, n_out):
    """Split the flat parameters: w_in (``n_win`` packed input weights), w_rec (packed blocks), b_h,
    w_out, b_out (all 1-D views)."""
    a = n_win
    b = a + n_rec
    c = b + n
    d = c + n_out * n
    return theta[:a], theta[a:b], theta[b:c], theta[c:d], theta[d : d + n_out]


@numba.njit(**_HOT)
def _step(w_in, w_rec, bias, module_start, column_start, block_offset, periods, input_offset, xf, end, t, h,
          work):
    """One step: recompute the modules active at ``t`` from ``h`` (the previous state), then commit.

    ``xf`` is the flat padded input and ``end`` the index just past the current input ``x(t)``
    in it: module ``i`` reads its window ``x(t - L_i + 1) .. x(t)`` as the slice
    ``xf[end - L_i * n_in : end]``, and its rows' input weights (oldest first, as the slice) start
    at ``input_offset[i] * n_in``; ``L_i = (input_offset[i + 1] - input_offset[i]) / k_i``, so
    that passing ``module_start`` as ``input_offset`` runs the plain model (every window 1).

    Only active modules are visited; each reads only its own column range of ``h``. Rows go sixteen,
    eight, four, two and then one at a time (:func:`_module_rows`): one load of ``h[c]`` feeds that
    many rows' multiply-adds, where one row at a time loaded it again for every row. Every row still
    sums in its own order, fixed by the compiled code, so a stream gives the same bits however it is
    split. Four rows at a time was 1.22-1.36x faster than one for CW 144/8 and 256/8; sixteen at a
    time (a module of 18 rows: 16 + 2), with the clock test below, a further 1.06-1.23x for CW
    64/8, 144/8 and 256/8 through a compiled entry, and 1.20-1.56x together with running without
    reference counting (``_HOT``; float32, one thread, interleaved runs; docs/benchmarks.md section
    10). The clock test is a mask for power-of-two periods (:func:`_fires`): the 64-bit remainder,
    twice per module and step, cost 1.06-1.16x on those models.
    """
    n = h.shape[0]
    n_modules = periods.shape[0]
    # Integer divisions cost as much as a short row here: skip them for one input and windows of 1.
    n_in = 1 if w_in.shape[0] == input_offset[n_modules] else w_in.shape[0] // input_offset[n_modules]
    for i in range(n_modules):
        if not _fires(t, periods[i]):
            continue
        r0 = module_start[i]
        k = module_start[i + 1] - r0
        n_win = input_offset[i + 1] - input_offset[i]
        span = n_in if n_win == k else n_win // k * n_in
        window = xf[end - span : end]
        w_mod = w_in[input_offset[i] * n_in :]
        width = n - column_start[i]
        reads = h[column_start[i] :]
        start = bias
        if span > n_in:
            # A window of past inputs: bias plus the window's dot products first, through slices
            # from 0, which LLVM vectorises (the index form of _rows4, kept bit-identical for plain
            # models, runs scalar: 2.1 us a step for 20-ms windows at 16 kHz); then the recurrent
            # rows add onto them (work stands in for the bias, with no input).
            _window_dots(w_mod, window, bias, r0, work, k, span)
            w_mod, window, start = w_mod[:0], window[:0], work
        # One call site: the row kernels are inlined into it, and a second copy for the windowed
        # case cost compile time (a cold Stream of CW 144/8) for no speed.
        _module_rows(w_mod, window, w_rec, start, block_offset[i], width, r0, k, reads, work)
        _tanh_inplace(work[r0 : r0 + k])
    # Active modules read the previous state of each other, so commit only after all are done.
    for i in range(n_modules):
        if _fires(t, periods[i]):
            r0, r1 = module_start[i], module_start[i + 1]
            _copy(work[r0:r1], h[r0:r1])


@numba.njit(**_HOT)
def _copy(src, dst):
    """dst[:] = src, as a loop: an array assignment may allocate a temporary, which needs numba's
    reference counting (the forward path runs without it)."""
    for j in range(src.shape[0]):
        dst[j] = src[j]


@numba.njit(**_HOT)
def _fires(t, period):
    """Whether a module of clock period ``period`` (>= 1) is active at step ``t`` (>= 0): ``t %
    period == 0``, through a mask when the period is a power of two (the usual 1, 2, 4, ...), since
    a 64-bit remainder costs tens of cycles and every module pays it twice a step."""
    if period & (period - 1) == 0:
        return t & (period - 1) == 0
    return t % period == 0


# Inlined into _step by numba (as a call it cost about 5% of a CW 256/8 step).
@numba.njit(inline="always", **_HOT)
def _module_rows(w_in, window, w_rec, bias, offset, width, r0, k, reads, work):
    """work[r0 + r] = bias[r0 + r] + input row r of ``w_in`` . window + recurrent row r . reads for
    the ``k`` rows of a module, whose recurrent rows (``width`` long) follow each other from
    ``offset`` in ``w_rec``: sixteen rows at a time (with AVX-512 only, see :data:`_SIXTEEN_ROWS`),
    then eight, four, two and one."""
    r = 0
    while _SIXTEEN_ROWS and r + 16 <= k:
        _rows16(w_in, r, window, w_rec, bias, offset + r * width, width, r0 + r, reads, work)
        r += 16
    while r + 8 <= k:
        _rows8(w_in, r, window, w_rec, bias, offset + r * width, width, r0 + r, reads, work)
        r += 8
    if r + 4 <= k:
        _rows4(w_in, r, window, w_rec, bias, offset + r * width, width, r0 + r, reads, work)
        r += 4
    if r + 2 <= k:
        _rows2(w_in, r, window, w_rec, bias, offset + r * width, width, r0 + r, reads, work)
        r += 2
    if r < k:
        _row(w_in, r, window, w_rec, bias, offset + r * width, width, r0 + r, reads, work)


@numba.njit(**_HOT)
def _window_dots(w, window, bias, r0, work, k, stride):
    """work[r0 + r] = bias[r0 + r] + row r of ``w`` . window, for the ``k`` rows (each as long as
    ``window``, ``stride`` apart from ``w[0]``), four rows at a time: one load of a window value
    feeds four rows. ``bias`` may be ``work`` (each row reads its own before writing it)."""
    span = window.shape[0]
    r = 0
    while r + 4 <= k:
        row0 = w[r * stride : r * stride + span]
        row1 = w[(r + 1) * stride : (r + 1) * stride + span]
        row2 = w[(r + 2) * stride : (r + 2) * stride + span]
        row3 = w[(r + 3) * stride : (r + 3) * stride + span]
        a0, a1, a2, a3 = bias[r0 + r], bias[r0 + r + 1], bias[r0 + r + 2], bias[r0 + r + 3]
        for j in range(span):
            v = window[j]
            a0 += row0[j] * v
            a1 += row1[j] * v
            a2 += row2[j] * v
            a3 += row3[j] * v
        work[r0 + r], work[r0 + r + 1], work[r0 + r + 2], work[r0 + r + 3] = a0, a1, a2, a3
        r += 4
    while r < k:
        row = w[r * stride : r * stride + span]
        a = bias[r0 + r]
        for j in range(span):
            a += row[j] * window[j]
        work[r0 + r] = a
        r += 1


# The row kernels below are inlined into their callers (_step through _module_rows, and _output) at
# numba's IR level: called out of line, each call passed its ten arguments (five arrays of seven
# fields each) through the stack, 423 pushq in the compiled _step of CW 144/8 against 57 inlined, and
# LLVM would not inline kernels this long by itself. Same rows, same order of summation, same bits.
@numba.njit(inline="always", **_HOT)
def _row(w_in, in_row, window, w_rec, bias, offset, width, unit, reads, work):
    """work[unit] = bias + input row ``in_row`` of ``w_in`` . window + the recurrent row at ``offset``
    (``width`` long) . reads. Input rows are as long as ``window``; :func:`_step` passes a module's
    own input weights and its row number, an index form that LLVM compiles exactly as it did for the
    plain model's ``W_in`` (a slice per row vectorised the dot product differently, changing the
    bits of plain models with many inputs)."""
    span = window.shape[0]
    row = w_rec[offset : offset + width]
    acc = bias[unit]
    for j in range(span):
        acc += w_in[in_row * span + j] * window[j]
    for c in range(width):
        acc += row[c] * reads[c]
    work[unit] = acc


# BEGIN GENERATED by scripts/write_unrolled_passes.py: do not edit; change the generator and run it with --write
@numba.njit(inline="always", **_HOT)
def _rows4(w_in, in_row, window, w_rec, bias, offset, width, unit, reads, work):
    """:func:`_row` for units ``unit .. unit + 3``: input rows ``in_row .. in_row + 3``, recurrent
    rows following each other from ``offset``."""
    span = window.shape[0]
    a0, a1, a2, a3 = bias[unit], bias[unit + 1], bias[unit + 2], bias[unit + 3]
    for j in range(span):
        v = window[j]
        a0 += w_in[in_row * span + j] * v
        a1 += w_in[(in_row + 1) * span + j] * v
        a2 += w_in[(in_row + 2) * span + j] * v
        a3 += w_in[(in_row + 3) * span + j] * v
    row0 = w_rec[offset : offset + width]
    row1 = w_rec[offset + width : offset + 2 * width]
    row2 = w_rec[offset + 2 * width : offset + 3 * width]
    row3 = w_rec[offset + 3 * width : offset + 4 * width]
    for c in range(width):
        v = reads[c]
        a0 += row0[c] * v
        a1 += row1[c] * v
        a2 += row2[c] * v
        a3 += row3[c] * v
    work[unit], work[unit + 1], work[unit + 2], work[unit + 3] = a0, a1, a2, a3


@numba.njit(inline="always", **_HOT)
def _rows8(w_in, in_row, window, w_rec, bias, offset, width, unit, reads, work):
    """:func:`_rows4` for eight units ``unit .. unit + 7``."""
    span = window.shape[0]
    a0, a1, a2, a3 = bias[unit], bias[unit + 1], bias[unit + 2], bias[unit + 3]
    a4, a5, a6, a7 = bias[unit + 4], bias[unit + 5], bias[unit + 6], bias[unit + 7]
    for j in range(span):
        v = window[j]
        a0 += w_in[in_row * span + j] * v
        a1 += w_in[(in_row + 1) * span + j] * v
        a2 += w_in[(in_row + 2) * span + j] * v
        a3 += w_in[(in_row + 3) * span + j] * v
        a4 += w_in[(in_row + 4) * span + j] * v
        a5 += w_in[(in_row + 5) * span + j] * v
        a6 += w_in[(in_row + 6) * span + j] * v
        a7 += w_in[(in_row + 7) * span + j] * v
    row0 = w_rec[offset : offset + width]
    row1 = w_rec[offset + width : offset + 2 * width]
    row2 = w_rec[offset + 2 * width : offset + 3 * width]
    row3 = w_rec[offset + 3 * width : offset + 4 * width]
    row4 = w_rec[offset + 4 * width : offset + 5 * width]
    row5 = w_rec[offset + 5 * width : offset + 6 * width]
    row6 = w_rec[offset + 6 * width : offset + 7 * width]
    row7 = w_rec[offset + 7 * width : offset + 8 * width]
    for c in range(width):
        v = reads[c]
        a0 += row0[c] * v
        a1 += row1[c] * v
        a2 += row2[c] * v
        a3 += row3[c] * v
        a4 += row4[c] * v
        a5 += row5[c] * v
        a6 += row6[c] * v
        a7 += row7[c] * v
    work[unit], work[unit + 1], work[unit + 2], work[unit + 3] = a0, a1, a2, a3
    work[unit + 4], work[unit + 5], work[unit + 6], work[unit + 7] = a4, a5, a6, a7


@numba.njit(inline="always", **_HOT)
def _rows2(w_in, in_row, window, w_rec, bias, offset, width, unit, reads, work):
    """:func:`_rows4` for two units ``unit, unit + 1`` (the rest of a module of 18)."""
    span = window.shape[0]
    a0, a1 = bias[unit], bias[unit + 1]
    for j in range(span):
        v = window[j]
        a0 += w_in[in_row * span + j] * v
        a1 += w_in[(in_row + 1) * span + j] * v
    row0 = w_rec[offset : offset + width]
    row1 = w_rec[offset + width : offset + 2 * width]
    for c in range(width):
        v = reads[c]
        a0 += row0[c] * v
        a1 += row1[c] * v
    work[unit], work[unit + 1] = a0, a1


@numba.njit(inline="always", **_HOT)
def _rows16(w_in, in_row, window, w_rec, bias, offset, width, unit, reads, work):
    """:func:`_rows4` for sixteen units ``unit .. unit + 15``: one load of ``h[c]`` feeds sixteen
    rows, and LLVM keeps one vector of partial sums per row (eight columns wide), sixteen in all."""
    span = window.shape[0]
    a0, a1, a2, a3 = bias[unit], bias[unit + 1], bias[unit + 2], bias[unit + 3]
    a4, a5, a6, a7 = bias[unit + 4], bias[unit + 5], bias[unit + 6], bias[unit + 7]
    a8, a9, a10, a11 = bias[unit + 8], bias[unit + 9], bias[unit + 10], bias[unit + 11]
    a12, a13, a14, a15 = bias[unit + 12], bias[unit + 13], bias[unit + 14], bias[unit + 15]
    for j in range(span):
        v = window[j]
        a0 += w_in[in_row * span + j] * v
        a1 += w_in[(in_row + 1) * span + j] * v
        a2 += w_in[(in_row + 2) * span + j] * v
        a3 += w_in[(in_row + 3) * span + j] * v
        a4 += w_in[(in_row + 4) * span + j] * v
        a5 += w_in[(in_row + 5) * span + j] * v
        a6 += w_in[(in_row + 6) * span + j] * v
        a7 += w_in[(in_row + 7) * span + j] * v
        a8 += w_in[(in_row + 8) * span + j] * v
        a9 += w_in[(in_row + 9) * span + j] * v
        a10 += w_in[(in_row + 10) * span + j] * v
        a11 += w_in[(in_row + 11) * span + j] * v
        a12 += w_in[(in_row + 12) * span + j] * v
        a13 += w_in[(in_row + 13) * span + j] * v
        a14 += w_in[(in_row + 14) * span + j] * v
        a15 += w_in[(in_row + 15) * span + j] * v
    row0 = w_rec[offset : offset + width]
    row1 = w_rec[offset + width : offset + 2 * width]
    row2 = w_rec[offset + 2 * width : offset + 3 * width]
    row3 = w_rec[offset + 3 * width : offset + 4 * width]
    row4 = w_rec[offset + 4 * width : offset + 5 * width]
    row5 = w_rec[offset + 5 * width : offset + 6 * width]
    row6 = w_rec[offset + 6 * width : offset + 7 * width]
    row7 = w_rec[offset + 7 * width : offset + 8 * width]
    row8 = w_rec[offset + 8 * width : offset + 9 * width]
    row9 = w_rec[offset + 9 * width : offset + 10 * width]
    row10 = w_rec[offset + 10 * width : offset + 11 * width]
    row11 = w_rec[offset + 11 * width : offset + 12 * width]
    row12 = w_rec[offset + 12 * width : offset + 13 * width]
    row13 = w_rec[offset + 13 * width : offset + 14 * width]
    row14 = w_rec[offset + 14 * width : offset + 15 * width]
    row15 = w_rec[offset + 15 * width : offset + 16 * width]
    for c in range(width):
        v = reads[c]
        a0 += row0[c] * v
        a1 += row1[c] * v
        a2 += row2[c] * v
        a3 += row3[c] * v
        a4 += row4[c] * v
        a5 += row5[c] * v
        a6 += row6[c] * v
        a7 += row7[c] * v
        a8 += row8[c] * v
        a9 += row9[c] * v
        a10 += row10[c] * v
        a11 += row11[c] * v
        a12 += row12[c] * v
        a13 += row13[c] * v
        a14 += row14[c] * v
        a15 += row15[c] * v
    work[unit], work[unit + 1], work[unit + 2], work[unit + 3] = a0, a1, a2, a3
    work[unit + 4], work[unit + 5], work[unit + 6], work[unit + 7] = a4, a5, a6, a7
    work[unit + 8], work[unit + 9], work[unit + 10], work[unit + 11] = a8, a9, a10, a11
    work[unit + 12], work[unit + 13], work[unit + 14], work[unit + 15] = a12, a13, a14, a15
# END GENERATED by scripts/write_unrolled_passes.py


@numba.njit(**_JIT)
def _matvec_repeat(w, h, y, repeats):
    """y = W h, ``repeats`` times: the dense matrix-vector product one reassociated dot product a
    row, the style of :func:`_step`'s rows before they took four to sixteen a pass: a reference
    ``cwfast bench`` reports the kernel against (the kernels now beat it), not a ceiling."""
    n, m = w.shape
    for _ in range(repeats):
        for r in range(n):
            row = w[r]
            acc = row[0] * h[0]
            for c in range(1, m):
                acc += row[c] * h[c]
            y[r] = acc


@numba.njit(**_HOT)
def _output(w_out, b_out, h, y_t):
    """y_t = W_out h + b_out. Computed per step rather than as one matrix product after the loop:
    a BLAS product rounds differently for different block lengths, and a stream must give the
    same bits however its input is split. The rows of :func:`_step` with no input (empty slices,
    nothing allocated), four at a time: the output layer of an autoregressive model, 256 rows, is
    most of its work per sample."""
    n = h.shape[0]
    n_out = y_t.shape[0]
    no_input = h[:0]
    k = 0
    while k + 4 <= n_out:
        _rows4(w_out, 0, no_input, w_out, b_out, k * n, n, k, h, y_t)
        k += 4
    while k < n_out:
        _row(w_out, 0, no_input, w_out, b_out, k * n, n, k, h, y_t)
        k += 1


@numba.njit(**_JIT)
def _forward_seq(theta, module_start, column_start, block_offset, periods, x, t0, h, work, y):
    """Run the plain network (every input window 1) over one sequence: :func:`_forward_padded_seq`
    with ``x`` as the padded input (no history) and ``module_start`` as the input offsets. The
    compiled stream entries of :mod:`cwfast._realtime` call this one."""
    _forward_padded_seq(theta, module_start, column_start, block_offset, periods, module_start, x, t0, h, work, y)


@numba.njit(**_JIT)
def _forward_padded_seq(theta, module_start, column_start, block_offset, periods, input_offset, xp, t0, h, work, y):
    """Run the network over one sequence.

    xp : (P + T, n_in), the padded input: the ``P = max_window - 1`` inputs before step t0 (oldest
    first), then the T inputs of the sequence. h : (n,), the state before step t0, updated in place
    to the state after the last step. work : (n,) scratch. y : (T, n_out) receives the outputs.
    (Training records a trace instead: :func:`_forward_trace_seq`.)
    """
    n_steps, n_in = y.shape[0], xp.shape[1]
    n_hist = xp.shape[0] - n_steps
    xf = xp.reshape(xp.shape[0] * n_in)
    n = h.shape[0]
    w_in, w_rec, bias, w_out, b_out = _views(theta, n, input_offset[-1] * n_in, block_offset[-1], y.shape[1])
    for s in range(n_steps):
        _step(w_in, w_rec, bias, module_start, column_start, block_offset, periods, input_offset, xf,
              (n_hist + s + 1) * n_in, t0 + s, h, work)
        _output(w_out, b_out, h, y[s])


@numba.njit(parallel=True, **_JIT)
def _forward_batch(theta, module_start, column_start, block_offset, periods, input_offset, xp, t0, h, y):
    """:func:`_forward_padded_seq` over a batch in parallel: xp (B, P + T, n_in), h (B, n),
    y (B, T, n_out)."""
    for b in numba.prange(xp.shape[0]):
        work = np.empty(h.shape[1], dtype=h.dtype)
        _forward_padded_seq(theta, module_start, column_start, block_offset, periods, input_offset, xp[b], t0, h[b],
                            work, y[b])


# Training keeps a *trace* instead of the dense (T, n) history: each module's new values, only at
# the steps where it fires. Module i's u-th update since t0 (u = t // T_i - ceil(t0 / T_i)) lives at
# trace[trace_offset[i] + u * k_i : ... + k_i]. For periods 1, 2, ..., 128 that is a quarter of
# T * n; the backward pass rebuilds each previous state by putting back what a step overwrote.


@numba.njit(**_JIT)
def _forward_trace_seq(theta, module_start, column_start, block_offset, periods, input_offset, xp, t0, h, work, y,
                       trace, trace_offset):
    """:func:`_forward_padded_seq` that records the trace (see above) for :func:`_backward_seq`."""
    n_steps, n_in = y.shape[0], xp.shape[1]
    n_hist = xp.shape[0] - n_steps
    xf = xp.reshape(xp.shape[0] * n_in)
    n = h.shape[0]
    w_in, w_rec, bias, w_out, b_out = _views(theta, n, input_offset[-1] * n_in, block_offset[-1], y.shape[1])
    for s in range(n_steps):
        t = t0 + s
        _step(w_in, w_rec, bias, module_start, column_start, block_offset, periods, input_offset, xf,
              (n_hist + s + 1) * n_in, t, h, work)
        for i in range(periods.shape[0]):
            if t % periods[i] == 0:
                r0, r1 = module_start[i], module_start[i + 1]
                u = t // periods[i] - (t0 + periods[i] - 1) // periods[i]
                trace[trace_offset[i] + u * (r1 - r0) : trace_offset[i] + (u + 1) * (r1 - r0)] = h[r0:r1]
        _output(w_out, b_out, h, y[s])


@numba.njit(parallel=True, **_JIT)
def _forward_trace_batch(theta, module_start, column_start, block_offset, periods, input_offset, xp, t0, h, y, trace,
                         trace_offset):
    """:func:`_forward_trace_seq` over a batch in parallel: trace (B, L)."""
    for b in numba.prange(xp.shape[0]):
        work = np.empty(h.shape[1], dtype=h.dtype)
        _forward_trace_seq(theta, module_start, column_start, block_offset, periods, input_offset, xp[b], t0, h[b],
                           work, y[b], trace[b], trace_offset)


@numba.njit(**_JIT)
def _backward_seq(theta, module_start, column_start, block_offset, periods, input_offset, xp, t0, h0, h_end, trace,
                  trace_offset, d_y, grad, dh, da, h_cur):
    """Back-propagate through time over one sequence, output layer included.

    xp : the padded input, as for :func:`_forward_padded_seq`. h0 : (n,) the state before step t0;
    h_end : (n,) the state after the last step. trace : what :func:`_forward_trace_seq` recorded.
    d_y : (T, n_out) the loss gradient at every output. grad : (n_params,) flat gradient laid out
    like theta, accumulated into. dh : (n,) the gradient flowing back into the state after the last
    step (zero for a whole sequence); on return it holds the gradient with respect to h0. da, h_cur
    : (n,) scratch. No gradient flows into the input history.

    An inactive module's state is a copy of its previous one, so its error passes back unchanged;
    only active modules go through tanh, touch weights, and need their previous value restored.
    """
    n_steps, n_in = d_y.shape[0], xp.shape[1]
    n_hist = xp.shape[0] - n_steps
    xf = xp.reshape(xp.shape[0] * n_in)
    n = h0.shape[0]
    n_out = d_y.shape[1]
    n_modules = periods.shape[0]
    n_win = input_offset[n_modules] * n_in
    w_in, w_rec, bias, w_out, b_out = _views(theta, n, n_win, block_offset[-1], n_out)
    g_in, g_rec, g_bias, g_out, g_bout = _views(grad, n, n_win, block_offset[-1], n_out)
    h_cur[:] = h_end
    for s in range(n_steps - 1, -1, -1):
        t = t0 + s
        # Output layer at step s, with h_cur = h(s).
        for k in range(n_out):
            d = d_y[s, k]
            g_bout[k] += d
            g_row = g_out[k * n : (k + 1) * n]
            w_row = w_out[k * n : (k + 1) * n]
            for r in range(n):
                g_row[r] += d * h_cur[r]
                dh[r] += d * w_row[r]
        # The error at the pre-activations of active units; their old value was overwritten, so
        # nothing of dh reaches it through the identity path.
        for i in range(n_modules):
            if t % periods[i] == 0:
                for r in range(module_start[i], module_start[i + 1]):
                    hr = h_cur[r]
                    da[r] = dh[r] * (1 - hr * hr)
                    dh[r] = 0
        # Put back what step s overwrote: h_cur becomes h(s - 1).
        for i in range(n_modules):
            if t % periods[i] == 0:
                r0, r1 = module_start[i], module_start[i + 1]
                u = t // periods[i] - (t0 + periods[i] - 1) // periods[i]
                if u > 0:
                    h_cur[r0:r1] = trace[trace_offset[i] + (u - 1) * (r1 - r0) : trace_offset[i] + u * (r1 - r0)]
                else:
                    h_cur[r0:r1] = h0[r0:r1]
        # Weight gradients and the error sent to the previous state.
        end = (n_hist + s + 1) * n_in
        for i in range(n_modules):
            if t % periods[i] != 0:
                continue
            c0 = column_start[i]
            width = n - c0
            reads = h_cur[c0:]
            sends = dh[c0:]
            k_i = module_start[i + 1] - module_start[i]
            span = (input_offset[i + 1] - input_offset[i]) // k_i * n_in
            window = xf[end - span : end]
            for r in range(module_start[i], module_start[i + 1]):
                d = da[r]
                g_bias[r] += d
                row = block_offset[i] + (r - module_start[i]) * width
                w_row = w_rec[row : row + width]
                g_row = g_rec[row : row + width]
                for c in range(width):
                    g_row[c] += d * reads[c]
                    sends[c] += w_row[c] * d
                g_win = g_in[input_offset[i] * n_in + (r - module_start[i]) * span :]
                for j in range(span):
                    g_win[j] += d * window[j]


@numba.njit(parallel=True, **_JIT)
def _backward_batch(theta, module_start, column_start, block_offset, periods, input_offset, xp, t0, h0, h_end, trace,
                    trace_offset, d_y, grads, dh):
    """:func:`_backward_seq` over a batch in parallel, one gradient row per sequence.

    grads : (B, n_params) zeroed. One row per sequence rather than per thread makes the result
    independent of the thread count: the caller sums the rows in a fixed order.
    """
    for b in numba.prange(xp.shape[0]):
        da = np.empty(h0.shape[1], dtype=h0.dtype)
        h_cur = np.empty(h0.shape[1], dtype=h0.dtype)
        _backward_seq(
            theta, module_start, column_start, block_offset, periods, input_offset,
            xp[b], t0, h0[b], h_end[b], trace[b], trace_offset, d_y[b], grads[b], dh[b], da, h_cur,
        )


@numba.njit(**_JIT)
def _sample_feedback(theta, module_start, column_start, block_offset, periods, input_offset, t0, h, work, xp,
                     logits, values, head_code, inv_temperature, uniforms, out, level, alpha, low, high, taps, window,
                     pitch_a, pitch_cfg, pitch_est):
    """Free-running generation from a softmax or mixture model with one input: feed back what was sampled.

    ``xp`` (P + n_steps + 1, 1) is the padded input: the P inputs before step t0, then the first
    input at row P (quantised to its class value by a mixture head, :func:`_fed_back`). At step
    s the model reads row ``P + s`` (and its window before it), computes its outputs (1, n_out)
    and emits ``out[s]``: a softmax head the value ``values[c]`` of the class drawn by inverse-CDF
    sampling of ``softmax(logits * inv_temperature)`` with ``uniforms[s, 0]``, a mixture head an
    amplitude drawn with ``uniforms[s, 0:2]`` (:func:`_emit`). What the model reads of it next
    (:func:`_fed_back`) goes to row ``P + s + 1``. ``h`` (n,) is updated in place.
    ``inv_temperature == 0`` means greedy. A level-normalised model (``level`` holds its level,
    updated in place; empty otherwise) reads each value divided by its gain (held within
    [``low``, ``high``]) and scales its mixture's outputs by it
    (:func:`cwfast._head_kernels._level_track`). A model with a linear
    prediction (``taps``, K of them; empty otherwise) or a pitch predictor (``pitch_cfg``, its
    coefficients ``pitch_a`` and estimate ``pitch_est``, carried; empty otherwise) adds them to
    the means before: ``window`` (P + n_steps) holds the P inputs before step t0 and gets the
    input of each step (:func:`cwfast._pitch_kernels._predict_row`).
    """
    n = h.shape[0]
    n_hist = xp.shape[0] - out.shape[0] - 1
    xf = xp.reshape(xp.shape[0])
    w_in, w_rec, bias, w_out, b_out = _views(theta, n, input_offset[-1], block_offset[-1], logits.shape[1])
    weights = np.empty(logits.shape[1])  # _emit's scratch, allocated once per call
    levelled = level.shape[0] > 0
    g = 1.0
    xf[n_hist] = _fed_back(xf[n_hist], head_code, values)
    if levelled:
        g = _level_gain(level, np.float64(xf[n_hist]), alpha, low, high)
        xf[n_hist] = np.float64(xf[n_hist]) / g
    kept = window.shape[0] - out.shape[0]  # negative: no window
    e = _scratch(pitch_cfg)
    for s in range(out.shape[0]):
        _step(w_in, w_rec, bias, module_start, column_start, block_offset, periods, input_offset, xf, n_hist + s + 1,
              t0 + s, h, work)
        _output(w_out, b_out, h, logits[0])
        if kept >= 0:
            window[kept + s] = xf[n_hist + s]
            _predict_row(logits[0], window, kept + s, t0 + s, taps, pitch_a, pitch_cfg, e, pitch_est)
        if levelled:
            _level_rows(logits[0], g)
        out[s] = _emit(logits[0], head_code, inv_temperature, uniforms[s], weights, values)
        v = _fed_back(out[s], head_code, values)
        if levelled and s + 1 < out.shape[0]:  # the last value is the next call's first input
            g = _level_gain(level, v, alpha, low, high)
            v = np.float64(v) / g
        xf[n_hist + s + 1] = v


@numba.njit(**_JIT)
def _max_window(module_start, input_offset):
    """The longest input window, from the layout arrays (see :func:`_step`)."""
    longest = 1
    for i in range(module_start.shape[0] - 1):
        longest = max(longest, (input_offset[i + 1] - input_offset[i]) // (module_start[i + 1] - module_start[i]))
    return longest


@numba.njit(**_JIT)
def _member_params(theta, noise, sigma, m, out):
    """out[:] = member ``m``'s parameters: ``theta +- sigma * noise[m // 2]`` (+ for even m) for the
    antithetic members ``m < 2 * len(noise)``, ``theta`` itself (the centre) for any further m."""
    j = m // 2
    if j < noise.shape[0]:
        scale = sigma if m % 2 == 0 else -sigma
        for k in range(out.shape[0]):
            out[k] = theta[k] + scale * noise[j, k]
    else:
        for k in range(out.shape[0]):
            out[k] = theta[k]


@numba.njit(parallel=True, **_JIT)
def _population_losses(theta, noise, sigma, module_start, column_start, block_offset, member_periods, input_offset,
                       xp, n_out, y_target, labels, head_code, readout, gains, losses):
    """Loss of each member of an antithetic population, and of the centre.

    theta : (n_params,) float64, the centre, laid out like ``ClockworkRNN.params``.
    noise : (n_pairs, >= n_params) float64. Member ``m < 2 * n_pairs`` is
        ``theta + sigma * noise[m // 2]`` for even ``m`` and ``theta - sigma * noise[m // 2]``
        for odd ``m``; any further member is the centre itself.
    member_periods : (n_members, g) int64, each member's clock periods.
    input_offset : (g + 1,) int64, the input windows' layout (``Layout.input_offset``).
    xp : (B, P + T, n_in) in the model's dtype, the dtype every member computes in: each sequence
        after ``P = max_window - 1`` rows of zeros (the inputs before t = 0).
    y_target : (B, Ts, n_out) float, the linear head's targets (Ts = T with readout 0, else 1).
    labels : (B, Ts) int64, the softmax or mixture head's class labels.
    head_code : int, the head's ``cwfast.heads.Head.code``: 0 scores squared error on ``y_target``,
        1 (softmax) and 2 (mixture) the negative log-likelihood of ``labels``.
    readout : int, what is scored (``cwfast.model.STEP_CODES``): 0 every step, 1 the last step,
        2 the mean of the outputs over the steps.
    gains : (B, T) float64, a level-normalised model's gains (``xp`` then holds the inputs divided
        by them), or (0, 0) for none: the mixture's outputs are scaled by them before scoring.
    losses : (n_members,) float64, receives the mean loss per scored value, as
        ``ClockworkRNN.loss`` defines it. Every sequence starts from a zero state at t = 0.
    """
    n_members = losses.shape[0]
    n_params = theta.shape[0]
    n_hist = _max_window(module_start, input_offset) - 1
    batch, n_steps = xp.shape[0], xp.shape[1] - n_hist
    n = module_start[module_start.shape[0] - 1]
    first = n_steps - 1 if readout == 1 else 0
    per_step = 1 if head_code else n_out
    count = batch * (n_steps if readout == 0 else 1) * per_step
    for m in numba.prange(n_members):
        params = np.empty(n_params, dtype=xp.dtype)
        _member_params(theta, noise, sigma, m, params)
        h = np.empty(n, dtype=xp.dtype)
        work = np.empty(n, dtype=xp.dtype)
        y = np.empty((n_steps, n_out), dtype=xp.dtype)
        row = np.empty(n_out)
        total = 0.0
        for b in range(batch):
            h[:] = 0
            _forward_padded_seq(params, module_start, column_start, block_offset, member_periods[m], input_offset,
                                xp[b], _0, h, work, y)
            _level_sequence(y, gains, b)
            if readout == 2:
                _mean_rows(y, row)
                total += _scored_row_loss(row, head_code, labels, y_target, b, _0)
                continue
            for s in range(first, n_steps):
                for k in range(n_out):
                    row[k] = y[s, k]
                total += _scored_row_loss(row, head_code, labels, y_target, b, s - first)
        losses[m] = total / count


# When every member has the same clock periods (the usual case), members can also advance in
# lockstep: a chunk of C members keeps its parameters as an (n_params, C) array and its states as
# (n, C), so every multiply-add of the recurrence is a C-wide vector operation over members and
# the per-step cost of the schedule (module loop, period tests, loop set-up per row), which
# dominates small networks, is paid once per chunk instead of once per member. Wide chunks pay
# off: for the 40-unit memorisation model, 30 us per member over 320 steps at C = 128 against 52
# at C = 32 and 161 at C = 8 (one thread). C should be a multiple of 8 (a vector of float32):
# 129 members took 4.3 ms, 136 took 3.8, so a chunk is padded with extra copies of the centre.
# Each member's arithmetic is the same elementwise sequence whatever lane it is in and however
# wide its chunk (lanes only ever meet in elementwise operations, which LLVM computes alike in its
# vector body and its remainder loop; tested bit for bit), so the caller may choose the chunk width
# from the thread count (cwfast.model.lockstep_lanes) and the losses still do not depend on it.


@numba.njit(**_JIT)
def _lockstep_chunk(theta, noise, sigma, m0, width_c, module_start, column_start, block_offset, periods,
                    input_offset, x, n_out, y_target, labels, softmax, last_only, losses):
    """Losses of members m0..m0+width_c-1 (see :func:`_population_losses_lockstep`), advanced
    together; lanes past the last member compute the centre again and are not stored. ``x`` is
    padded as :func:`_population_losses` says."""
    n_params = theta.shape[0]
    batch, n_rows, n_in = x.shape
    n_hist = _max_window(module_start, input_offset) - 1
    n_steps = n_rows - n_hist
    n = module_start[module_start.shape[0] - 1]
    n_modules = periods.shape[0]
    rec0 = input_offset[n_modules] * n_in
    bias0 = rec0 + block_offset[n_modules]
    out0 = bias0 + n
    outb0 = out0 + n_out * n
    pm = np.empty((n_params, width_c), dtype=x.dtype)
    member = np.empty(n_params, dtype=x.dtype)
    for c in range(width_c):
        _member_params(theta, noise, sigma, m0 + c, member)
        pm[:, c] = member
    h = np.empty((n, width_c), dtype=x.dtype)
    work = np.empty((n, width_c), dtype=x.dtype)
    y = np.empty((n_out, width_c), dtype=x.dtype)
    total = np.zeros(width_c)
    first = n_steps - 1 if last_only else 0
    xf = x.reshape(batch * n_rows * n_in)
    for b in range(batch):
        h[:] = 0
        for s in range(n_steps):
            for i in range(n_modules):
                if s % periods[i] != 0:
                    continue
                cs = column_start[i]
                span = (input_offset[i + 1] - input_offset[i]) // (module_start[i + 1] - module_start[i]) * n_in
                window = xf[(b * n_rows + n_hist + s + 1) * n_in - span : (b * n_rows + n_hist + s + 1) * n_in]
                for row in range(module_start[i], module_start[i + 1]):
                    for c in range(width_c):
                        work[row, c] = pm[bias0 + row, c]
                    in0 = input_offset[i] * n_in + (row - module_start[i]) * span
                    for j in range(span):
                        xv = window[j]
                        for c in range(width_c):
                            work[row, c] += pm[in0 + j, c] * xv
                    base = rec0 + block_offset[i] + (row - module_start[i]) * (n - cs) - cs
                    for q in range(cs, n):
                        for c in range(width_c):
                            work[row, c] += pm[base + q, c] * h[q, c]
                    _tanh_inplace(work[row])
            for i in range(n_modules):
                if s % periods[i] == 0:
                    h[module_start[i] : module_start[i + 1]] = work[module_start[i] : module_start[i + 1]]
            if s < first:
                continue
            for o in range(n_out):
                for c in range(width_c):
                    y[o, c] = pm[outb0 + o, c]
                for r in range(n):
                    for c in range(width_c):
                        y[o, c] += pm[out0 + o * n + r, c] * h[r, c]
            ts = s - first
            for c in range(width_c):
                if softmax:
                    top = np.float64(y[0, c])
                    for o in range(1, n_out):
                        top = max(top, np.float64(y[o, c]))
                    norm = 0.0
                    for o in range(n_out):
                        norm += np.exp(np.float64(y[o, c]) - top)
                    total[c] += np.log(norm) - (np.float64(y[labels[b, ts], c]) - top)
                else:
                    for o in range(n_out):
                        d = np.float64(y[o, c]) - np.float64(y_target[b, ts, o])
                        total[c] += d * d
    per_step = 1 if softmax else n_out
    count = batch * (n_steps - first) * per_step
    for c in range(min(width_c, losses.shape[0] - m0)):
        losses[m0 + c] = total[c] / count


@numba.njit(parallel=True, **_JIT)
def _population_losses_lockstep(theta, noise, sigma, module_start, column_start, block_offset, periods, input_offset,
                                x, n_out, y_target, labels, softmax, last_only, lanes, losses):
    """:func:`_population_losses` for members that share the clock ``periods`` (g,): consecutive
    members in chunks of ``lanes`` advanced in lockstep (see above), chunks in parallel."""
    n_chunks = (losses.shape[0] + lanes - 1) // lanes
    for ch in numba.prange(n_chunks):
        _lockstep_chunk(theta, noise, sigma, ch * lanes, lanes, module_start, column_start, block_offset, periods,
                        input_offset, x, n_out, y_target, labels, softmax, last_only, losses)
