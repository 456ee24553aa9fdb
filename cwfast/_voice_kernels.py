"""numba kernels of the forward pass for V voices of one model at once: Clockwork RNN (and SRN), LSTM.

A :class:`cwfast.Stream` with ``voices=V`` runs V independent sequences through the same weights.
Side by side, the V matrix-vector products of a step become one matrix-matrix product, in which
every weight can be loaded once and used for several voices.

When its (padded) voice count is a multiple of :data:`LANES` (16), the Clockwork kernel puts the
voices in the SIMD lanes; for any other count it runs the 4 x 4 passes of the LSTM's voices
(:func:`_voices_step4`: four rows by four voices a pass, dot products along the columns,
voice-major states), which cost less than narrower lanes would (4 voices: 0.62-0.64 of one voice
per voice, against 1.3 in lanes of 4; 20 voices: 0.51 in 4 x 4 passes and in lanes of 16 + 4
alike). The two sum in different orders, so a voice's bits can differ, by float rounding, between
a stream whose count is a multiple of 16 and one whose count is not, and between either and a
voice run alone (below: a one-voice stream's bits); within each of the three they depend on the
voice's input alone.

A pass computes four voices whatever, so a count of 4 k + 1 or 4 k + 2 is not padded (but 13, 14,
29, 30, ... run in the lanes: :func:`padded_voices`), and its last one or two voices run one
by one, through the one-voice kernel's step and outputs (:func:`_forward_voice`: the arithmetic,
and the bits, of a one-voice stream), and the LSTM's through its one-voice kernel. Padded to a
pass, one or two voices cost 1.1-2.3 times as much as one-voice streams (bundled model, CW 64/8),
1.7-3.4 for an LSTM. A last block of three takes the pass (0.77-0.96 of three streams), whose
padding voice gets no window sums and no LSTM gates. Measured in docs/benchmarks.md, section 25.

In the lanes, for the length of a block the states are kept voice-minor, in lane blocks of 16
voices: unit r of the block's voice v at ``[r * 16 + v]``, so one unit of all its voices is one
contiguous vector (``h[v * n + r]``, voice-major, outside the kernel: the stream's state is
unchanged). A pass is an outer-product
update: 8 rows by 16 voices of scalar sums; for each column q, 8 weights (one per row, broadcast)
times the 16 voices' state at q, added to 8 x 16 accumulators. The sums have no horizontal part
(the 4 x 4 passes of the earlier kernel ended each pass with 16 horizontal sums, and ran a scalar
loop for the last width % 8 columns), and each voice's sum runs in one order, whatever the lane
block: the bias, the inputs, then the columns in order (a slower module's columns as one product
kept between steps, below), so a voice's bits do not depend on the voice count or its place
(tested with one and two lane blocks).

A slower module's state changes only when it ticks, so a module's products with its columns are
kept between steps (``kept`` in the scratch) and recomputed only after it has committed a new
state: with periods 1, 2, 4, ..., a module multiplies each state of the next slower module once
instead of twice, of the one after once instead of four times. Only modules of
:data:`KEEP_MIN` units or more are kept (narrower ones cost more in the extra passes and sums than
they save) and never one whose period divides the reader's (it changes at every step the reader
reads it). 16 voices, blocks of 512, against multiplying every column at every step: CW 1024/8
2.5x faster, 256/8 1.8x, 144/8 1.25x, 64/8 (no module kept) 0.90x (docs/benchmarks.md,
section 22).

Two things make LLVM produce that loop (checked with ``inspect_asm``: per column one 512-bit load
of the states and 8 FMAs with an embedded broadcast of the weight, no spills; 16 FMAs per column
in float64): the passes compile through :data:`cwfast._jit.SLP_PIPELINE`, which turns on LLVM's
SLP vectoriser (numba leaves it off) and asks for 512-bit vectors for them alone, and their
fastmath flags are contraction only, without reassociation. With reassociation, LLVM's loop
vectoriser takes the column loop first and vectorises each voice's sum along the columns (32
sums in vectors, gathers, spills: what an earlier "voices innermost" attempt ran into). Without
the SLP vectoriser the sums stay scalar. With 256-bit vectors (LLVM's default on this Xeon) the
column loop ran at about 40 GMAC/s for 32 rows x 256 columns, the 256-bit FMA peak, and 16 voices
cost 0.52-0.53 of one voice for CW 256/8 (0.42-0.43 for 144/8); with 512-bit vectors 48 GMAC/s
(measured through the Python call) and 0.37 (0.35) in the same minutes. Rows per pass, measured
with 256-bit vectors: 8 beat 4 and 6 (fewer sums in flight), 12 spilled; in 512-bit vectors 8
rows are 8 sums in flight, what two FMA ports of latency 4 need (other counts not measured).
Measured on the 2-vCPU Xeon (AVX-512 and AMX: Sapphire Rapids or later), 16 voices, blocks of
512, one process, interleaved against the 4 x 4 kernel: docs/benchmarks.md, section 15.

Each voice has its own clock (``t[v]``, its next step), so that one voice can be restarted at
t = 0 while the others run on. A module whose period sees every voice in the same phase (the
usual case: voices started together) is tested once per step, as in the one-voice kernel. When
the voices' phases differ for a module, the module is computed for all voices at every step where
any voice needs it, and committed only for those: correct, but up to ``min(V, period)`` times the
work for that module, until the voices are back in phase (``Stream.reset()`` of all voices).

The LSTM's voices (:func:`_lstm_forward_voices`) use the earlier register-blocked passes, four
rows by four voices, voice-major (``h[v * 2n + r]``), dot products along the columns (one pass
over a row's columns, each weight and state value loaded once for four uses, then sixteen
horizontal sums), for the 4n gate rows against each voice's h, then the gates of
:mod:`cwfast._lstm_kernels` (in float64) voice by voice. The 4 x 4 passes are inlined into
:func:`_rows_voices4` (``inline="always"``: out of line each pass pushed about fifty arguments
through the stack). What was tried for them: docs/benchmarks.md, sections 7 and 12.

The step (:func:`_voices_step`) runs without numba's reference counting, like the one-voice step
(``_HOT`` of :mod:`cwfast._kernels`). The lane passes (8, 4, 2 and 1 rows by 16 voices) are written
out, one statement per multiply-add, by ``scripts/write_unrolled_passes.py`` (between its GENERATED
markers: change the script and run it with ``--write``; a test fails when they differ), ahead of
time rather than at import, because numba caches no function made by ``exec()`` (no source file).
Like :mod:`cwfast._kernels`: arrays and scalars in, no validation, no allocation, the same
``theta`` layout; the fastmath flags are reassociation and contraction everywhere but in the lane
passes (contraction only, above).
"""

import numba
import numpy as np

from ._jit import JIT as _JIT
from ._jit import INT_ZERO as _0
from ._jit import SLP_PIPELINE, has_avx512
# shared: cwfast._jit keeps the caches of both files in step
from ._kernels import _HOT, _copy, _fires, _output, _step, _tanh_inplace, _window_dots
from .modes import FLUSH as _FLUSH
from ._lstm_kernels import _forward_seq as _lstm_forward_seq, _sigmoid


#: Voices are computed in blocks of this many (see :func:`padded_voices`).
VOICE_BLOCK = 4
#: A last block of at most this many voices (a count of 4 k + 1 or 4 k + 2 that does not round up
#: to a multiple of :data:`LANES`) runs them one by one, through the one-voice kernel, instead of a
#: 4 x 4 pass that would compute padding voices too; a last block of 3 takes the pass
#: (docs/benchmarks.md, section 25).
ONE_BY_ONE = 2
#: The voices of a lane block. A Clockwork stream whose (padded) voice count is a multiple of it
#: runs the lane passes; any other count the 4 x 4 passes, which cost less than narrower lanes
#: (4 voices: 0.62 of one voice per voice, against 1.3 in lanes of 4; docs/benchmarks.md,
#: section 15).
LANES = 16

#: A module's products with the columns of a slower module are kept between steps (see
#: :func:`_voices_step`) when that module has at least this many units; narrower ones are
#: multiplied at every step, with the columns next to them (16 voices of CW 64/8, modules of 8
#: units: 0.94x kept with 8 against 0.99x with 16; 144/8, 18 units: 1.30x faster; docs/benchmarks.md, section 22).
KEEP_MIN = 16

#: With input windows, the window pass reads each voice's inputs from a voice-major copy of this
#: many steps at a time (and the ``history`` inputs before them), made once a chunk: in it each
#: voice's window is one contiguous slice, whose dot products vectorise along the window as the
#: one-voice kernel's do (see :func:`_window_voices`). The copy costs (history + chunk) / chunk
#: inputs a voice-step (2.2 for the default model's windows of 320).
WINDOW_CHUNK = 256


def padded_voices(voices):
    """The voices a stream of ``voices`` voices runs in the kernels (the first ``voices`` real, the
    rest padding): rounded up to a multiple of :data:`VOICE_BLOCK` when that makes a multiple of
    :data:`LANES` (13 to 15 voices run in the lanes as 16) or the last block has more than
    :data:`ONE_BY_ONE` voices (it takes a 4 x 4 pass with a padding voice); else ``voices`` itself,
    whose last one or two voices run one by one."""
    up = -(-voices // VOICE_BLOCK) * VOICE_BLOCK
    return up if up % LANES == 0 or voices % VOICE_BLOCK > ONE_BY_ONE else voices


@numba.njit(**_JIT)
def voices_work_size(n, n_modules, V, history, n_in):
    """The scratch :func:`forward_voices`' kernels need for V (padded) voices of a model of n units in
    ``n_modules`` modules and ``n_in`` inputs whose modules read ``history`` past inputs (max window
    - 1; 0 without input windows). (Compiled: the voices' entry computes it too.)"""
    size = V * (n_modules + 2) * n
    if history > 0:  # the voice-major inputs of a chunk of steps, and one voice's window sums
        size += V * (history + WINDOW_CHUNK) * n_in + n
    return size


def voices_flags_size(n_modules):
    """The int64 flags :func:`forward_voices`' kernels need."""
    return n_modules * (n_modules + 2)


#: Whether the 16-voice passes take 8 rows at a time (16 sums in 512-bit vectors: 16 of the 32
#: registers of AVX-512) or 4 (16 sums in 8 of the 16 256-bit registers of AVX2: compiled for AVX2,
#: 8 rows spilled, 19 against 31 GMAC/s for 32 rows x 256 columns). A property of the code numba
#: compiles, like the target features that key its cache, not a setting.
_EIGHT_ROWS = has_avx512()


#: The options of the lane passes: LLVM's SLP vectoriser on (cwfast._jit.SLP_PIPELINE), and contraction
#: only, no reassociation (see the module docstring).
_LANES_HOT = dict(_HOT, fastmath={"contract"}, **({} if SLP_PIPELINE is None else {"pipeline_class": SLP_PIPELINE}))


# BEGIN GENERATED by scripts/write_unrolled_passes.py: do not edit; change the generator and run it with --write
@numba.njit(inline="always", **_LANES_HOT)
def _rows8_lanes16(w_rec, off, width, stride, ht, cs, r, wt):
    """Add to ``wt[r:r + 8]`` (each row 16 voices) the products of 8 rows stored from ``w_rec[off:]``,
    ``stride`` apart, ``width`` columns each (a stride wider than the rows: a part of longer rows,
    as :mod:`cwfast._blocked_kernels` reads them), with the states ``ht[cs:cs + width]`` (16 voices
    a row): for each column, 8 weights times 16 contiguous states, into 128 scalar sums that
    LLVM's SLP vectoriser keeps in vector registers (one sum a voice, columns in order)."""
    row0 = w_rec[off + 0 * stride : off + 0 * stride + width]
    row1 = w_rec[off + 1 * stride : off + 1 * stride + width]
    row2 = w_rec[off + 2 * stride : off + 2 * stride + width]
    row3 = w_rec[off + 3 * stride : off + 3 * stride + width]
    row4 = w_rec[off + 4 * stride : off + 4 * stride + width]
    row5 = w_rec[off + 5 * stride : off + 5 * stride + width]
    row6 = w_rec[off + 6 * stride : off + 6 * stride + width]
    row7 = w_rec[off + 7 * stride : off + 7 * stride + width]
    o0 = wt[r + 0]
    a0_0 = o0[0]
    a0_1 = o0[1]
    a0_2 = o0[2]
    a0_3 = o0[3]
    a0_4 = o0[4]
    a0_5 = o0[5]
    a0_6 = o0[6]
    a0_7 = o0[7]
    a0_8 = o0[8]
    a0_9 = o0[9]
    a0_10 = o0[10]
    a0_11 = o0[11]
    a0_12 = o0[12]
    a0_13 = o0[13]
    a0_14 = o0[14]
    a0_15 = o0[15]
    o1 = wt[r + 1]
    a1_0 = o1[0]
    a1_1 = o1[1]
    a1_2 = o1[2]
    a1_3 = o1[3]
    a1_4 = o1[4]
    a1_5 = o1[5]
    a1_6 = o1[6]
    a1_7 = o1[7]
    a1_8 = o1[8]
    a1_9 = o1[9]
    a1_10 = o1[10]
    a1_11 = o1[11]
    a1_12 = o1[12]
    a1_13 = o1[13]
    a1_14 = o1[14]
    a1_15 = o1[15]
    o2 = wt[r + 2]
    a2_0 = o2[0]
    a2_1 = o2[1]
    a2_2 = o2[2]
    a2_3 = o2[3]
    a2_4 = o2[4]
    a2_5 = o2[5]
    a2_6 = o2[6]
    a2_7 = o2[7]
    a2_8 = o2[8]
    a2_9 = o2[9]
    a2_10 = o2[10]
    a2_11 = o2[11]
    a2_12 = o2[12]
    a2_13 = o2[13]
    a2_14 = o2[14]
    a2_15 = o2[15]
    o3 = wt[r + 3]
    a3_0 = o3[0]
    a3_1 = o3[1]
    a3_2 = o3[2]
    a3_3 = o3[3]
    a3_4 = o3[4]
    a3_5 = o3[5]
    a3_6 = o3[6]
    a3_7 = o3[7]
    a3_8 = o3[8]
    a3_9 = o3[9]
    a3_10 = o3[10]
    a3_11 = o3[11]
    a3_12 = o3[12]
    a3_13 = o3[13]
    a3_14 = o3[14]
    a3_15 = o3[15]
    o4 = wt[r + 4]
    a4_0 = o4[0]
    a4_1 = o4[1]
    a4_2 = o4[2]
    a4_3 = o4[3]
    a4_4 = o4[4]
    a4_5 = o4[5]
    a4_6 = o4[6]
    a4_7 = o4[7]
    a4_8 = o4[8]
    a4_9 = o4[9]
    a4_10 = o4[10]
    a4_11 = o4[11]
    a4_12 = o4[12]
    a4_13 = o4[13]
    a4_14 = o4[14]
    a4_15 = o4[15]
    o5 = wt[r + 5]
    a5_0 = o5[0]
    a5_1 = o5[1]
    a5_2 = o5[2]
    a5_3 = o5[3]
    a5_4 = o5[4]
    a5_5 = o5[5]
    a5_6 = o5[6]
    a5_7 = o5[7]
    a5_8 = o5[8]
    a5_9 = o5[9]
    a5_10 = o5[10]
    a5_11 = o5[11]
    a5_12 = o5[12]
    a5_13 = o5[13]
    a5_14 = o5[14]
    a5_15 = o5[15]
    o6 = wt[r + 6]
    a6_0 = o6[0]
    a6_1 = o6[1]
    a6_2 = o6[2]
    a6_3 = o6[3]
    a6_4 = o6[4]
    a6_5 = o6[5]
    a6_6 = o6[6]
    a6_7 = o6[7]
    a6_8 = o6[8]
    a6_9 = o6[9]
    a6_10 = o6[10]
    a6_11 = o6[11]
    a6_12 = o6[12]
    a6_13 = o6[13]
    a6_14 = o6[14]
    a6_15 = o6[15]
    o7 = wt[r + 7]
    a7_0 = o7[0]
    a7_1 = o7[1]
    a7_2 = o7[2]
    a7_3 = o7[3]
    a7_4 = o7[4]
    a7_5 = o7[5]
    a7_6 = o7[6]
    a7_7 = o7[7]
    a7_8 = o7[8]
    a7_9 = o7[9]
    a7_10 = o7[10]
    a7_11 = o7[11]
    a7_12 = o7[12]
    a7_13 = o7[13]
    a7_14 = o7[14]
    a7_15 = o7[15]
    g = ht[cs : cs + width]
    for q in range(width):
        gq = g[q]
        g0 = gq[0]
        g1 = gq[1]
        g2 = gq[2]
        g3 = gq[3]
        g4 = gq[4]
        g5 = gq[5]
        g6 = gq[6]
        g7 = gq[7]
        g8 = gq[8]
        g9 = gq[9]
        g10 = gq[10]
        g11 = gq[11]
        g12 = gq[12]
        g13 = gq[13]
        g14 = gq[14]
        g15 = gq[15]
        w0 = row0[q]
        a0_0 += w0 * g0
        a0_1 += w0 * g1
        a0_2 += w0 * g2
        a0_3 += w0 * g3
        a0_4 += w0 * g4
        a0_5 += w0 * g5
        a0_6 += w0 * g6
        a0_7 += w0 * g7
        a0_8 += w0 * g8
        a0_9 += w0 * g9
        a0_10 += w0 * g10
        a0_11 += w0 * g11
        a0_12 += w0 * g12
        a0_13 += w0 * g13
        a0_14 += w0 * g14
        a0_15 += w0 * g15
        w1 = row1[q]
        a1_0 += w1 * g0
        a1_1 += w1 * g1
        a1_2 += w1 * g2
        a1_3 += w1 * g3
        a1_4 += w1 * g4
        a1_5 += w1 * g5
        a1_6 += w1 * g6
        a1_7 += w1 * g7
        a1_8 += w1 * g8
        a1_9 += w1 * g9
        a1_10 += w1 * g10
        a1_11 += w1 * g11
        a1_12 += w1 * g12
        a1_13 += w1 * g13
        a1_14 += w1 * g14
        a1_15 += w1 * g15
        w2 = row2[q]
        a2_0 += w2 * g0
        a2_1 += w2 * g1
        a2_2 += w2 * g2
        a2_3 += w2 * g3
        a2_4 += w2 * g4
        a2_5 += w2 * g5
        a2_6 += w2 * g6
        a2_7 += w2 * g7
        a2_8 += w2 * g8
        a2_9 += w2 * g9
        a2_10 += w2 * g10
        a2_11 += w2 * g11
        a2_12 += w2 * g12
        a2_13 += w2 * g13
        a2_14 += w2 * g14
        a2_15 += w2 * g15
        w3 = row3[q]
        a3_0 += w3 * g0
        a3_1 += w3 * g1
        a3_2 += w3 * g2
        a3_3 += w3 * g3
        a3_4 += w3 * g4
        a3_5 += w3 * g5
        a3_6 += w3 * g6
        a3_7 += w3 * g7
        a3_8 += w3 * g8
        a3_9 += w3 * g9
        a3_10 += w3 * g10
        a3_11 += w3 * g11
        a3_12 += w3 * g12
        a3_13 += w3 * g13
        a3_14 += w3 * g14
        a3_15 += w3 * g15
        w4 = row4[q]
        a4_0 += w4 * g0
        a4_1 += w4 * g1
        a4_2 += w4 * g2
        a4_3 += w4 * g3
        a4_4 += w4 * g4
        a4_5 += w4 * g5
        a4_6 += w4 * g6
        a4_7 += w4 * g7
        a4_8 += w4 * g8
        a4_9 += w4 * g9
        a4_10 += w4 * g10
        a4_11 += w4 * g11
        a4_12 += w4 * g12
        a4_13 += w4 * g13
        a4_14 += w4 * g14
        a4_15 += w4 * g15
        w5 = row5[q]
        a5_0 += w5 * g0
        a5_1 += w5 * g1
        a5_2 += w5 * g2
        a5_3 += w5 * g3
        a5_4 += w5 * g4
        a5_5 += w5 * g5
        a5_6 += w5 * g6
        a5_7 += w5 * g7
        a5_8 += w5 * g8
        a5_9 += w5 * g9
        a5_10 += w5 * g10
        a5_11 += w5 * g11
        a5_12 += w5 * g12
        a5_13 += w5 * g13
        a5_14 += w5 * g14
        a5_15 += w5 * g15
        w6 = row6[q]
        a6_0 += w6 * g0
        a6_1 += w6 * g1
        a6_2 += w6 * g2
        a6_3 += w6 * g3
        a6_4 += w6 * g4
        a6_5 += w6 * g5
        a6_6 += w6 * g6
        a6_7 += w6 * g7
        a6_8 += w6 * g8
        a6_9 += w6 * g9
        a6_10 += w6 * g10
        a6_11 += w6 * g11
        a6_12 += w6 * g12
        a6_13 += w6 * g13
        a6_14 += w6 * g14
        a6_15 += w6 * g15
        w7 = row7[q]
        a7_0 += w7 * g0
        a7_1 += w7 * g1
        a7_2 += w7 * g2
        a7_3 += w7 * g3
        a7_4 += w7 * g4
        a7_5 += w7 * g5
        a7_6 += w7 * g6
        a7_7 += w7 * g7
        a7_8 += w7 * g8
        a7_9 += w7 * g9
        a7_10 += w7 * g10
        a7_11 += w7 * g11
        a7_12 += w7 * g12
        a7_13 += w7 * g13
        a7_14 += w7 * g14
        a7_15 += w7 * g15
    o0[0] = a0_0
    o0[1] = a0_1
    o0[2] = a0_2
    o0[3] = a0_3
    o0[4] = a0_4
    o0[5] = a0_5
    o0[6] = a0_6
    o0[7] = a0_7
    o0[8] = a0_8
    o0[9] = a0_9
    o0[10] = a0_10
    o0[11] = a0_11
    o0[12] = a0_12
    o0[13] = a0_13
    o0[14] = a0_14
    o0[15] = a0_15
    o1[0] = a1_0
    o1[1] = a1_1
    o1[2] = a1_2
    o1[3] = a1_3
    o1[4] = a1_4
    o1[5] = a1_5
    o1[6] = a1_6
    o1[7] = a1_7
    o1[8] = a1_8
    o1[9] = a1_9
    o1[10] = a1_10
    o1[11] = a1_11
    o1[12] = a1_12
    o1[13] = a1_13
    o1[14] = a1_14
    o1[15] = a1_15
    o2[0] = a2_0
    o2[1] = a2_1
    o2[2] = a2_2
    o2[3] = a2_3
    o2[4] = a2_4
    o2[5] = a2_5
    o2[6] = a2_6
    o2[7] = a2_7
    o2[8] = a2_8
    o2[9] = a2_9
    o2[10] = a2_10
    o2[11] = a2_11
    o2[12] = a2_12
    o2[13] = a2_13
    o2[14] = a2_14
    o2[15] = a2_15
    o3[0] = a3_0
    o3[1] = a3_1
    o3[2] = a3_2
    o3[3] = a3_3
    o3[4] = a3_4
    o3[5] = a3_5
    o3[6] = a3_6
    o3[7] = a3_7
    o3[8] = a3_8
    o3[9] = a3_9
    o3[10] = a3_10
    o3[11] = a3_11
    o3[12] = a3_12
    o3[13] = a3_13
    o3[14] = a3_14
    o3[15] = a3_15
    o4[0] = a4_0
    o4[1] = a4_1
    o4[2] = a4_2
    o4[3] = a4_3
    o4[4] = a4_4
    o4[5] = a4_5
    o4[6] = a4_6
    o4[7] = a4_7
    o4[8] = a4_8
    o4[9] = a4_9
    o4[10] = a4_10
    o4[11] = a4_11
    o4[12] = a4_12
    o4[13] = a4_13
    o4[14] = a4_14
    o4[15] = a4_15
    o5[0] = a5_0
    o5[1] = a5_1
    o5[2] = a5_2
    o5[3] = a5_3
    o5[4] = a5_4
    o5[5] = a5_5
    o5[6] = a5_6
    o5[7] = a5_7
    o5[8] = a5_8
    o5[9] = a5_9
    o5[10] = a5_10
    o5[11] = a5_11
    o5[12] = a5_12
    o5[13] = a5_13
    o5[14] = a5_14
    o5[15] = a5_15
    o6[0] = a6_0
    o6[1] = a6_1
    o6[2] = a6_2
    o6[3] = a6_3
    o6[4] = a6_4
    o6[5] = a6_5
    o6[6] = a6_6
    o6[7] = a6_7
    o6[8] = a6_8
    o6[9] = a6_9
    o6[10] = a6_10
    o6[11] = a6_11
    o6[12] = a6_12
    o6[13] = a6_13
    o6[14] = a6_14
    o6[15] = a6_15
    o7[0] = a7_0
    o7[1] = a7_1
    o7[2] = a7_2
    o7[3] = a7_3
    o7[4] = a7_4
    o7[5] = a7_5
    o7[6] = a7_6
    o7[7] = a7_7
    o7[8] = a7_8
    o7[9] = a7_9
    o7[10] = a7_10
    o7[11] = a7_11
    o7[12] = a7_12
    o7[13] = a7_13
    o7[14] = a7_14
    o7[15] = a7_15


@numba.njit(inline="always", **_LANES_HOT)
def _rows4_lanes16(w_rec, off, width, stride, ht, cs, r, wt):
    """:func:`_rows8_lanes16` for 4 rows and 16 voices."""
    row0 = w_rec[off + 0 * stride : off + 0 * stride + width]
    row1 = w_rec[off + 1 * stride : off + 1 * stride + width]
    row2 = w_rec[off + 2 * stride : off + 2 * stride + width]
    row3 = w_rec[off + 3 * stride : off + 3 * stride + width]
    o0 = wt[r + 0]
    a0_0 = o0[0]
    a0_1 = o0[1]
    a0_2 = o0[2]
    a0_3 = o0[3]
    a0_4 = o0[4]
    a0_5 = o0[5]
    a0_6 = o0[6]
    a0_7 = o0[7]
    a0_8 = o0[8]
    a0_9 = o0[9]
    a0_10 = o0[10]
    a0_11 = o0[11]
    a0_12 = o0[12]
    a0_13 = o0[13]
    a0_14 = o0[14]
    a0_15 = o0[15]
    o1 = wt[r + 1]
    a1_0 = o1[0]
    a1_1 = o1[1]
    a1_2 = o1[2]
    a1_3 = o1[3]
    a1_4 = o1[4]
    a1_5 = o1[5]
    a1_6 = o1[6]
    a1_7 = o1[7]
    a1_8 = o1[8]
    a1_9 = o1[9]
    a1_10 = o1[10]
    a1_11 = o1[11]
    a1_12 = o1[12]
    a1_13 = o1[13]
    a1_14 = o1[14]
    a1_15 = o1[15]
    o2 = wt[r + 2]
    a2_0 = o2[0]
    a2_1 = o2[1]
    a2_2 = o2[2]
    a2_3 = o2[3]
    a2_4 = o2[4]
    a2_5 = o2[5]
    a2_6 = o2[6]
    a2_7 = o2[7]
    a2_8 = o2[8]
    a2_9 = o2[9]
    a2_10 = o2[10]
    a2_11 = o2[11]
    a2_12 = o2[12]
    a2_13 = o2[13]
    a2_14 = o2[14]
    a2_15 = o2[15]
    o3 = wt[r + 3]
    a3_0 = o3[0]
    a3_1 = o3[1]
    a3_2 = o3[2]
    a3_3 = o3[3]
    a3_4 = o3[4]
    a3_5 = o3[5]
    a3_6 = o3[6]
    a3_7 = o3[7]
    a3_8 = o3[8]
    a3_9 = o3[9]
    a3_10 = o3[10]
    a3_11 = o3[11]
    a3_12 = o3[12]
    a3_13 = o3[13]
    a3_14 = o3[14]
    a3_15 = o3[15]
    g = ht[cs : cs + width]
    for q in range(width):
        gq = g[q]
        g0 = gq[0]
        g1 = gq[1]
        g2 = gq[2]
        g3 = gq[3]
        g4 = gq[4]
        g5 = gq[5]
        g6 = gq[6]
        g7 = gq[7]
        g8 = gq[8]
        g9 = gq[9]
        g10 = gq[10]
        g11 = gq[11]
        g12 = gq[12]
        g13 = gq[13]
        g14 = gq[14]
        g15 = gq[15]
        w0 = row0[q]
        a0_0 += w0 * g0
        a0_1 += w0 * g1
        a0_2 += w0 * g2
        a0_3 += w0 * g3
        a0_4 += w0 * g4
        a0_5 += w0 * g5
        a0_6 += w0 * g6
        a0_7 += w0 * g7
        a0_8 += w0 * g8
        a0_9 += w0 * g9
        a0_10 += w0 * g10
        a0_11 += w0 * g11
        a0_12 += w0 * g12
        a0_13 += w0 * g13
        a0_14 += w0 * g14
        a0_15 += w0 * g15
        w1 = row1[q]
        a1_0 += w1 * g0
        a1_1 += w1 * g1
        a1_2 += w1 * g2
        a1_3 += w1 * g3
        a1_4 += w1 * g4
        a1_5 += w1 * g5
        a1_6 += w1 * g6
        a1_7 += w1 * g7
        a1_8 += w1 * g8
        a1_9 += w1 * g9
        a1_10 += w1 * g10
        a1_11 += w1 * g11
        a1_12 += w1 * g12
        a1_13 += w1 * g13
        a1_14 += w1 * g14
        a1_15 += w1 * g15
        w2 = row2[q]
        a2_0 += w2 * g0
        a2_1 += w2 * g1
        a2_2 += w2 * g2
        a2_3 += w2 * g3
        a2_4 += w2 * g4
        a2_5 += w2 * g5
        a2_6 += w2 * g6
        a2_7 += w2 * g7
        a2_8 += w2 * g8
        a2_9 += w2 * g9
        a2_10 += w2 * g10
        a2_11 += w2 * g11
        a2_12 += w2 * g12
        a2_13 += w2 * g13
        a2_14 += w2 * g14
        a2_15 += w2 * g15
        w3 = row3[q]
        a3_0 += w3 * g0
        a3_1 += w3 * g1
        a3_2 += w3 * g2
        a3_3 += w3 * g3
        a3_4 += w3 * g4
        a3_5 += w3 * g5
        a3_6 += w3 * g6
        a3_7 += w3 * g7
        a3_8 += w3 * g8
        a3_9 += w3 * g9
        a3_10 += w3 * g10
        a3_11 += w3 * g11
        a3_12 += w3 * g12
        a3_13 += w3 * g13
        a3_14 += w3 * g14
        a3_15 += w3 * g15
    o0[0] = a0_0
    o0[1] = a0_1
    o0[2] = a0_2
    o0[3] = a0_3
    o0[4] = a0_4
    o0[5] = a0_5
    o0[6] = a0_6
    o0[7] = a0_7
    o0[8] = a0_8
    o0[9] = a0_9
    o0[10] = a0_10
    o0[11] = a0_11
    o0[12] = a0_12
    o0[13] = a0_13
    o0[14] = a0_14
    o0[15] = a0_15
    o1[0] = a1_0
    o1[1] = a1_1
    o1[2] = a1_2
    o1[3] = a1_3
    o1[4] = a1_4
    o1[5] = a1_5
    o1[6] = a1_6
    o1[7] = a1_7
    o1[8] = a1_8
    o1[9] = a1_9
    o1[10] = a1_10
    o1[11] = a1_11
    o1[12] = a1_12
    o1[13] = a1_13
    o1[14] = a1_14
    o1[15] = a1_15
    o2[0] = a2_0
    o2[1] = a2_1
    o2[2] = a2_2
    o2[3] = a2_3
    o2[4] = a2_4
    o2[5] = a2_5
    o2[6] = a2_6
    o2[7] = a2_7
    o2[8] = a2_8
    o2[9] = a2_9
    o2[10] = a2_10
    o2[11] = a2_11
    o2[12] = a2_12
    o2[13] = a2_13
    o2[14] = a2_14
    o2[15] = a2_15
    o3[0] = a3_0
    o3[1] = a3_1
    o3[2] = a3_2
    o3[3] = a3_3
    o3[4] = a3_4
    o3[5] = a3_5
    o3[6] = a3_6
    o3[7] = a3_7
    o3[8] = a3_8
    o3[9] = a3_9
    o3[10] = a3_10
    o3[11] = a3_11
    o3[12] = a3_12
    o3[13] = a3_13
    o3[14] = a3_14
    o3[15] = a3_15


@numba.njit(inline="always", **_LANES_HOT)
def _rows2_lanes16(w_rec, off, width, stride, ht, cs, r, wt):
    """:func:`_rows8_lanes16` for 2 rows and 16 voices."""
    row0 = w_rec[off + 0 * stride : off + 0 * stride + width]
    row1 = w_rec[off + 1 * stride : off + 1 * stride + width]
    o0 = wt[r + 0]
    a0_0 = o0[0]
    a0_1 = o0[1]
    a0_2 = o0[2]
    a0_3 = o0[3]
    a0_4 = o0[4]
    a0_5 = o0[5]
    a0_6 = o0[6]
    a0_7 = o0[7]
    a0_8 = o0[8]
    a0_9 = o0[9]
    a0_10 = o0[10]
    a0_11 = o0[11]
    a0_12 = o0[12]
    a0_13 = o0[13]
    a0_14 = o0[14]
    a0_15 = o0[15]
    o1 = wt[r + 1]
    a1_0 = o1[0]
    a1_1 = o1[1]
    a1_2 = o1[2]
    a1_3 = o1[3]
    a1_4 = o1[4]
    a1_5 = o1[5]
    a1_6 = o1[6]
    a1_7 = o1[7]
    a1_8 = o1[8]
    a1_9 = o1[9]
    a1_10 = o1[10]
    a1_11 = o1[11]
    a1_12 = o1[12]
    a1_13 = o1[13]
    a1_14 = o1[14]
    a1_15 = o1[15]
    g = ht[cs : cs + width]
    for q in range(width):
        gq = g[q]
        g0 = gq[0]
        g1 = gq[1]
        g2 = gq[2]
        g3 = gq[3]
        g4 = gq[4]
        g5 = gq[5]
        g6 = gq[6]
        g7 = gq[7]
        g8 = gq[8]
        g9 = gq[9]
        g10 = gq[10]
        g11 = gq[11]
        g12 = gq[12]
        g13 = gq[13]
        g14 = gq[14]
        g15 = gq[15]
        w0 = row0[q]
        a0_0 += w0 * g0
        a0_1 += w0 * g1
        a0_2 += w0 * g2
        a0_3 += w0 * g3
        a0_4 += w0 * g4
        a0_5 += w0 * g5
        a0_6 += w0 * g6
        a0_7 += w0 * g7
        a0_8 += w0 * g8
        a0_9 += w0 * g9
        a0_10 += w0 * g10
        a0_11 += w0 * g11
        a0_12 += w0 * g12
        a0_13 += w0 * g13
        a0_14 += w0 * g14
        a0_15 += w0 * g15
        w1 = row1[q]
        a1_0 += w1 * g0
        a1_1 += w1 * g1
        a1_2 += w1 * g2
        a1_3 += w1 * g3
        a1_4 += w1 * g4
        a1_5 += w1 * g5
        a1_6 += w1 * g6
        a1_7 += w1 * g7
        a1_8 += w1 * g8
        a1_9 += w1 * g9
        a1_10 += w1 * g10
        a1_11 += w1 * g11
        a1_12 += w1 * g12
        a1_13 += w1 * g13
        a1_14 += w1 * g14
        a1_15 += w1 * g15
    o0[0] = a0_0
    o0[1] = a0_1
    o0[2] = a0_2
    o0[3] = a0_3
    o0[4] = a0_4
    o0[5] = a0_5
    o0[6] = a0_6
    o0[7] = a0_7
    o0[8] = a0_8
    o0[9] = a0_9
    o0[10] = a0_10
    o0[11] = a0_11
    o0[12] = a0_12
    o0[13] = a0_13
    o0[14] = a0_14
    o0[15] = a0_15
    o1[0] = a1_0
    o1[1] = a1_1
    o1[2] = a1_2
    o1[3] = a1_3
    o1[4] = a1_4
    o1[5] = a1_5
    o1[6] = a1_6
    o1[7] = a1_7
    o1[8] = a1_8
    o1[9] = a1_9
    o1[10] = a1_10
    o1[11] = a1_11
    o1[12] = a1_12
    o1[13] = a1_13
    o1[14] = a1_14
    o1[15] = a1_15


@numba.njit(inline="always", **_LANES_HOT)
def _rows1_lanes16(w_rec, off, width, stride, ht, cs, r, wt):
    """:func:`_rows8_lanes16` for 1 row and 16 voices."""
    row0 = w_rec[off + 0 * stride : off + 0 * stride + width]
    o0 = wt[r + 0]
    a0_0 = o0[0]
    a0_1 = o0[1]
    a0_2 = o0[2]
    a0_3 = o0[3]
    a0_4 = o0[4]
    a0_5 = o0[5]
    a0_6 = o0[6]
    a0_7 = o0[7]
    a0_8 = o0[8]
    a0_9 = o0[9]
    a0_10 = o0[10]
    a0_11 = o0[11]
    a0_12 = o0[12]
    a0_13 = o0[13]
    a0_14 = o0[14]
    a0_15 = o0[15]
    g = ht[cs : cs + width]
    for q in range(width):
        gq = g[q]
        g0 = gq[0]
        g1 = gq[1]
        g2 = gq[2]
        g3 = gq[3]
        g4 = gq[4]
        g5 = gq[5]
        g6 = gq[6]
        g7 = gq[7]
        g8 = gq[8]
        g9 = gq[9]
        g10 = gq[10]
        g11 = gq[11]
        g12 = gq[12]
        g13 = gq[13]
        g14 = gq[14]
        g15 = gq[15]
        w0 = row0[q]
        a0_0 += w0 * g0
        a0_1 += w0 * g1
        a0_2 += w0 * g2
        a0_3 += w0 * g3
        a0_4 += w0 * g4
        a0_5 += w0 * g5
        a0_6 += w0 * g6
        a0_7 += w0 * g7
        a0_8 += w0 * g8
        a0_9 += w0 * g9
        a0_10 += w0 * g10
        a0_11 += w0 * g11
        a0_12 += w0 * g12
        a0_13 += w0 * g13
        a0_14 += w0 * g14
        a0_15 += w0 * g15
    o0[0] = a0_0
    o0[1] = a0_1
    o0[2] = a0_2
    o0[3] = a0_3
    o0[4] = a0_4
    o0[5] = a0_5
    o0[6] = a0_6
    o0[7] = a0_7
    o0[8] = a0_8
    o0[9] = a0_9
    o0[10] = a0_10
    o0[11] = a0_11
    o0[12] = a0_12
    o0[13] = a0_13
    o0[14] = a0_14
    o0[15] = a0_15
# END GENERATED by scripts/write_unrolled_passes.py


@numba.njit(**_LANES_HOT)
def _rows_lanes16(w_rec, off, width, stride, ht, cs, r0, r1, wt):
    """Add to ``wt[r0:r1]`` the products of rows r0..r1-1 (stored from ``w_rec[off:]``, ``stride``
    apart, ``width`` columns each) with the states ``ht`` (n, 16), columns cs..cs+width-1: 8 rows a pass
    (4 without AVX-512, see :data:`_EIGHT_ROWS`), then 4, 2, 1."""
    r = r0
    while _EIGHT_ROWS and r + 8 <= r1:
        _rows8_lanes16(w_rec, off + (r - r0) * stride, width, stride, ht, cs, r, wt)
        r += 8
    while r + 4 <= r1:
        _rows4_lanes16(w_rec, off + (r - r0) * stride, width, stride, ht, cs, r, wt)
        r += 4
    while r + 2 <= r1:
        _rows2_lanes16(w_rec, off + (r - r0) * stride, width, stride, ht, cs, r, wt)
        r += 2
    while r + 1 <= r1:
        _rows1_lanes16(w_rec, off + (r - r0) * stride, width, stride, ht, cs, r, wt)
        r += 1


@numba.njit(**_HOT)
def _add_into(a, b):
    """``a += b``, element by element (1-D, same length)."""
    for q in range(a.shape[0]):
        a[q] += b[q]


@numba.njit(**_HOT)
def _rows_lanes16_blocks(w_rec, off, width, stride, ht2, cs, r0, r1, wt2, n):
    """:func:`_rows_lanes16` for every lane block (``ht2``, ``wt2``: (V / 16 * n, 16))."""
    for b in range(ht2.shape[0] // n):
        _rows_lanes16(w_rec, off, width, stride, ht2[b * n : (b + 1) * n], cs, r0, r1, wt2[b * n : (b + 1) * n])


@numba.njit(**_LANES_HOT)
def _output_lanes16(w_out, b_out, ht, k, vb, y, s):
    """Output k of the 16 voices from vb at step s, from their states ``ht`` (n, 16)."""
    n = ht.shape[0]
    row = w_out[k * n : k * n + n]
    b = b_out[k]
    a0 = b
    a1 = b
    a2 = b
    a3 = b
    a4 = b
    a5 = b
    a6 = b
    a7 = b
    a8 = b
    a9 = b
    a10 = b
    a11 = b
    a12 = b
    a13 = b
    a14 = b
    a15 = b
    for r in range(n):
        w = row[r]
        hr = ht[r]
        a0 += w * hr[0]
        a1 += w * hr[1]
        a2 += w * hr[2]
        a3 += w * hr[3]
        a4 += w * hr[4]
        a5 += w * hr[5]
        a6 += w * hr[6]
        a7 += w * hr[7]
        a8 += w * hr[8]
        a9 += w * hr[9]
        a10 += w * hr[10]
        a11 += w * hr[11]
        a12 += w * hr[12]
        a13 += w * hr[13]
        a14 += w * hr[14]
        a15 += w * hr[15]
    y[s, vb + 0, k] = a0
    y[s, vb + 1, k] = a1
    y[s, vb + 2, k] = a2
    y[s, vb + 3, k] = a3
    y[s, vb + 4, k] = a4
    y[s, vb + 5, k] = a5
    y[s, vb + 6, k] = a6
    y[s, vb + 7, k] = a7
    y[s, vb + 8, k] = a8
    y[s, vb + 9, k] = a9
    y[s, vb + 10, k] = a10
    y[s, vb + 11, k] = a11
    y[s, vb + 12, k] = a12
    y[s, vb + 13, k] = a13
    y[s, vb + 14, k] = a14
    y[s, vb + 15, k] = a15


@numba.njit(**_LANES_HOT)
def _inputs_lanes16(bias, w_in, x, s, vb, n_in, r0, r1, wt):
    """The bias and the input terms of 16 voices: the bias, then input by input, each input's 16 voices loaded
    once into scalars (the SLP vectoriser makes them one vector) for all the rows. A slice of the
    16 voices per row, as before, cost 14 ns a row (64 rows x 16 voices: 876 ns a step on the EPYC),
    a tenth of a CW 256/8 voice-step; same sums, same order, same bits."""
    for r in range(r0, r1):
        out = wt[r]
        b = bias[r]
        for v in range(16):
            out[v] = b
    for j in range(n_in):
        x0 = x[s, vb + 0, j]
        x1 = x[s, vb + 1, j]
        x2 = x[s, vb + 2, j]
        x3 = x[s, vb + 3, j]
        x4 = x[s, vb + 4, j]
        x5 = x[s, vb + 5, j]
        x6 = x[s, vb + 6, j]
        x7 = x[s, vb + 7, j]
        x8 = x[s, vb + 8, j]
        x9 = x[s, vb + 9, j]
        x10 = x[s, vb + 10, j]
        x11 = x[s, vb + 11, j]
        x12 = x[s, vb + 12, j]
        x13 = x[s, vb + 13, j]
        x14 = x[s, vb + 14, j]
        x15 = x[s, vb + 15, j]
        for r in range(r0, r1):
            w = w_in[r * n_in + j]
            out = wt[r]
            out[0] += w * x0
            out[1] += w * x1
            out[2] += w * x2
            out[3] += w * x3
            out[4] += w * x4
            out[5] += w * x5
            out[6] += w * x6
            out[7] += w * x7
            out[8] += w * x8
            out[9] += w * x9
            out[10] += w * x10
            out[11] += w * x11
            out[12] += w * x12
            out[13] += w * x13
            out[14] += w * x14
            out[15] += w * x15


@numba.njit(**_HOT)
def _voice_major(x, a, m, v0, v1, xs, rows):
    """Copy the rows ``x[a:a + m]`` (m <= rows) of voices v0 to v1 - 1 into the voice-major ``xs``:
    voice v's row q at ``xs[(v * rows + q) * n_in:][:n_in]``."""
    n_in = x.shape[2]
    for v in range(v0, v1):
        o = v * rows * n_in
        for q in range(m):
            for j in range(n_in):
                xs[o + q * n_in + j] = x[a + q, v, j]


@numba.njit(**_HOT)
def _window_voices(w_in, in_off, window, xs, rows, end, n_in, n_voices, r0, r1, work, n, acc, lanes):
    """Add the input windows of rows r0..r1-1 of the first ``n_voices`` voices to the lane blocks'
    sums ``work`` (the lane block of the 16 voices from vb at ``work[vb * n:][:16 * n]``, voice vb +
    v's row r at ``[r * 16 + v]``), or with ``lanes`` False to the voice-major sums ``work[v * n +
    r]``. Padding voices (their inputs are zeros) get nothing.

    The rows' input weights are stored row-major from ``w_in[in_off:]``, each ``window * n_in``
    long, oldest input first, and dot the voice's last ``window`` inputs, its rows up to ``end`` in
    the voice-major copy ``xs`` (:func:`_voice_major`, ``rows`` rows a voice): one contiguous slice
    a voice, whose dot products :func:`cwfast._kernels._window_dots` takes four rows at a time,
    vectorised along the window, from zero in ``acc`` (n,) scratch; then added to the sums. (Done
    along the voices instead, one weight times every voice's input at a time, the loop was as long
    as the voice count: 4 voices of the default model's windows of 320 took 14 us a step against
    0.4 for one voice's whole step.)
    """
    k = r1 - r0
    span = window * n_in
    w = w_in[in_off:]
    for v in range(n_voices):
        o = (v * rows + end) * n_in
        for r in range(k):
            acc[r] = 0
        _window_dots(w, xs[o - span : o], acc, _0, acc, k, span)
        if lanes:
            base = (v - v % LANES) * n + v % LANES
            for r in range(k):
                work[base + (r0 + r) * LANES] += acc[r]
        else:
            for r in range(k):
                work[v * n + r0 + r] += acc[r]


def forward_voices(padded):
    """The kernel that runs ``padded`` voices (:func:`padded_voices`): :func:`_forward_voices_lanes`
    for a multiple of :data:`LANES`, else :func:`_forward_voices_blocks`. Two kernels, not one
    that branches on V: numba compiles every path a function can take, and one stream only ever
    takes one of these (a Clockwork RNN's voices, cold cache, compiled both in about 50 s)."""
    return _forward_voices_lanes if padded % LANES == 0 else _forward_voices_blocks


@numba.njit(**_JIT)
def _forward_voices_blocks(theta, module_start, column_start, block_offset, periods, input_offset, x, n_voices, t, h,
                           work, y, flags):
    """Run the voices over one block, V not a multiple of :data:`LANES`: the 4 x 4 passes over
    its whole blocks of :data:`VOICE_BLOCK`, then any voices after them one by one.

    The arguments of both voice kernels:

    theta : the model's flat parameters (see :mod:`cwfast._kernels`): module i's input weights
    are packed from ``input_offset[i] * n_in``, each of its k_i rows ``L_i * n_in`` long (oldest
    input first), ``L_i = (input_offset[i + 1] - input_offset[i]) / k_i`` (the layout's
    ``input_offset``, or ``module_start`` for a model without input windows). x : (P + T, V, n_in):
    P = max window - 1 rows of history (the inputs before this block, oldest first; none without
    windows), then the block: voice v's input at step s is ``x[P + s, v]``. V is
    :func:`padded_voices` of ``n_voices``: the first ``n_voices`` voices are real, the others are
    padding (computed in a pass, never read). The passes take V's whole blocks of
    :data:`VOICE_BLOCK`; any voices after them (V not a multiple of it) run one by one
    (:func:`_forward_voice`). t : (V,) int64, each voice's next step, advanced by T here. h : (V * n,)
    the states, ``h[v * n + r]``, updated in place (at the end of the block). work :
    (:func:`voices_work_size`,) scratch: the lane blocks' sums, their states (see the module
    docstring), the products kept between steps (see :func:`_voices_step`), then with windows the
    voice-major inputs of a chunk of steps (:data:`WINDOW_CHUNK`) and n accumulators. y : (T, V,
    n_out) receives the outputs (T is read from it).
    flags : (:func:`voices_flags_size`,) int64 scratch.
    """
    (n_steps, n, history, w_in, w_rec, bias, w_out, b_out, aligned, code, stale, wt, ht, kept, xs, acc, rows, passes,
     grouped) = _voices_begin(theta, module_start, block_offset, periods, input_offset, x, n_voices, t, work, y, flags)
    yf = y.reshape(-1)
    for s in range(n_steps if passes > 0 else 0):  # (one or two voices: no step of passes)
        if history > 0 and s % WINDOW_CHUNK == 0:
            _voice_major(x, s, history + min(WINDOW_CHUNK, n_steps - s), _0, grouped, xs, rows)
        _voices_step4(w_in, w_rec, bias, w_out, b_out, module_start, column_start, block_offset, periods,
                      input_offset, x, history, s, passes, grouped, t, h, wt, xs, rows,
                      history + s % WINDOW_CHUNK + 1, acc, y, yf, aligned, code)
    for v in range(passes, n_voices):
        _forward_voice(w_in, w_rec, bias, w_out, b_out, module_start, column_start, block_offset, periods,
                       input_offset, x, history, v, t[v], h[v * n : (v + 1) * n], wt[v * n : (v + 1) * n], xs,
                       rows, y)
    for v in range(x.shape[1]):
        t[v] += n_steps


@numba.njit(**_JIT)
def _forward_voices_lanes(theta, module_start, column_start, block_offset, periods, input_offset, x, n_voices, t, h,
                          work, y, flags):
    """Run the voices over one block, V a multiple of :data:`LANES`: the lane passes (the
    arguments as :func:`_forward_voices_blocks`')."""
    (n_steps, n, history, w_in, w_rec, bias, w_out, b_out, aligned, code, stale, wt, ht, kept, xs, acc, rows, passes,
     grouped) = _voices_begin(theta, module_start, block_offset, periods, input_offset, x, n_voices, t, work, y, flags)
    V, n_modules = x.shape[1], periods.shape[0]
    _lanes_from(h, ht, n, V)
    # The lane blocks as (V / 16 * n, 16) arrays, made once a block: a reshape in the step
    # called numba's reshape helper (out of line) several times a module.
    ht2, wt2 = ht.reshape((V // LANES * n, LANES)), wt.reshape((V // LANES * n, LANES))
    kept2 = kept.reshape((n_modules * V // LANES * n, LANES))
    for s in range(n_steps):
        if history > 0 and s % WINDOW_CHUNK == 0:
            _voice_major(x, s, history + min(WINDOW_CHUNK, n_steps - s), _0, n_voices, xs, rows)
        _voices_step(w_in, w_rec, bias, w_out, b_out, module_start, column_start, block_offset, periods,
                     input_offset, x, history, s, n_voices, t, ht, wt, ht2, wt2, xs, rows,
                     history + s % WINDOW_CHUNK + 1, acc, y, aligned, code, kept, kept2, stale)
    _lanes_to(ht, h, n, V)
    for v in range(V):
        t[v] += n_steps


@numba.njit(**_JIT)
def _voices_begin(theta, module_start, block_offset, periods, input_offset, x, n_voices, t, work, y, flags):
    """What both voice kernels begin a block with: the weights' slices of ``theta``, the flags
    (which modules the voices are aligned in, step codes, stale products), the scratch's parts,
    and how the voices split between passes and one by one."""
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
    aligned, code = flags[:n_modules], flags[n_modules : 2 * n_modules]
    stale = flags[2 * n_modules : 2 * n_modules + n_modules * n_modules]
    for i in range(n_modules * n_modules):
        stale[i] = 1
    # The voices the passes compute (V's whole blocks, padding included); any after them run one by one.
    passes = V - V % VOICE_BLOCK
    grouped = min(passes, n_voices)  # the real voices of the passes
    for i in range(n_modules):
        aligned[i] = 1
        for v in range(1, grouped):
            if t[v] % periods[i] != t[0] % periods[i]:
                aligned[i] = 0
    wt, ht, kept = work[: V * n], work[V * n : 2 * V * n], work[2 * V * n : (n_modules + 2) * V * n]
    # With windows: each voice's inputs, voice-major, for a chunk of steps (the rows from `history`
    # before the chunk's first step), and one voice's window sums.
    rows = history + WINDOW_CHUNK
    top = (n_modules + 2) * V * n + (V * rows * n_in if history > 0 else 0)
    xs, acc = work[(n_modules + 2) * V * n : top], work[top:]
    return (n_steps, n, history, w_in, w_rec, bias, w_out, b_out, aligned, code, stale, wt, ht, kept, xs, acc, rows,
            passes, grouped)


@numba.njit(**_HOT)
def _lanes_from(h, ht, n, V):
    """The states ``h[v * n + r]`` into the lane blocks ``ht`` (see :func:`_window_voices`)."""
    vb = 0
    while vb < V:
        for v in range(LANES):
            for r in range(n):
                ht[vb * n + r * LANES + v] = h[(vb + v) * n + r]
        vb += LANES


@numba.njit(**_HOT)
def _lanes_to(ht, h, n, V):
    """:func:`_lanes_from` backwards."""
    vb = 0
    while vb < V:
        for v in range(LANES):
            for r in range(n):
                h[(vb + v) * n + r] = ht[vb * n + r * LANES + v]
        vb += LANES


@numba.njit(**_HOT)
def _tick_code(aligned, t, s, p, n_voices):
    """What a module of period ``p`` does at step ``s`` of the voices (each voice's next step in
    ``t``; ``aligned``: 1 if they are all in the same phase of ``p``): 0 idle, 2 active for every
    voice, 1 active for some (commit those only)."""
    if aligned == 1:
        return 2 if _fires(t[0] + s, p) else 0
    count = 0
    for v in range(n_voices):
        if (t[v] + s) % p == 0:
            count += 1
    return 0 if count == 0 else (2 if count == n_voices else 1)


@numba.njit(**_HOT)
def _voices_step(w_in, w_rec, bias, w_out, b_out, module_start, column_start, block_offset, periods, input_offset, x,
                 history, s, n_voices, t, ht, wt, ht2, wt2, xs, rows, end, acc, y, aligned, code, kept, kept2,
                 stale):
    """Step s of :func:`_forward_voices_lanes` (its arguments; ``ht``, ``wt``: the lane blocks' states and
    sums, flat, and ``ht2``, ``wt2`` the same as (V / 16 * n, 16) arrays; ``xs``, ``rows``, ``end``,
    ``acc``: the window pass's inputs, voice-major, and scratch (see :func:`_window_voices`);
    ``aligned``, ``code``: its flags), without numba's reference counting, like the one-voice step
    (cwfast._kernels._HOT).

    A module's products with the columns of each *other* module it reads are kept (``kept2``:
    module j's columns' products for every row and voice at rows ``(j * V / 16 + b) * n + r``) and
    recomputed only when module j has committed a new state since (``stale[i * n_modules + j]``):
    a slower module's state changes only when it ticks, so with periods 1, 2, ..., 128 a module
    multiplies each state of the next slower one once instead of twice, of the one after once
    instead of four times, and so on."""
    V, n_in = x.shape[1], x.shape[2]
    n_modules = periods.shape[0]
    n = module_start[n_modules]
    n_out = y.shape[2]
    for i in range(n_modules):
        code[i] = _tick_code(aligned[i], t, s, periods[i], n_voices)
        if code[i] == 0:
            continue
        r0 = module_start[i]
        r1 = module_start[i + 1]
        cs = column_start[i]
        width = n - cs
        off = block_offset[i]
        # Each voice's sum in one order: the bias, the inputs (or the input windows), then the
        # recurrent products column by column.
        k_in = n_in if history == 0 else 0
        for b in range(V // LANES):
            _inputs_lanes16(bias, w_in, x, history + s, b * LANES, k_in, r0, r1, wt2[b * n : (b + 1) * n])
        if history != 0:
            _window_voices(w_in, input_offset[i] * n_in, (input_offset[i + 1] - input_offset[i]) // (r1 - r0), xs,
                           rows, end, n_in, n_voices, r0, r1, wt, n, acc, True)
        # The columns in order: runs of modules multiplied directly, between the kept products of
        # the others (see the docstring).
        run0 = np.int64(-1)  # (not a literal -1, see cwfast._jit.INT_ZERO)
        run1 = np.int64(-1)
        for j in range(n_modules):
            u0, u1 = module_start[j], module_start[j + 1]
            if u0 < cs:
                continue
            if u1 - u0 < KEEP_MIN or periods[i] % periods[j] == 0:
                if run0 < 0:
                    run0 = u0
                run1 = u1
                continue
            if run0 >= 0:
                _rows_lanes16_blocks(w_rec, off + run0 - cs, run1 - run0, width, ht2, run0, r0, r1, wt2, n)
                run0 = np.int64(-1)
            for b in range(V // LANES):
                k0 = (j * (V // LANES) + b) * n  # this lane block's kept products of module j
                # (flat slices for the zeroing and the sums: the 2-D loops over rows and lanes
                # ran at scalar speed, 40% of a CW 256/8 step)
                mine = kept[(k0 + r0) * LANES : (k0 + r1) * LANES]
                if stale[i * n_modules + j] == 1:
                    mine[:] = 0
                    _rows_lanes16(w_rec, off + u0 - cs, u1 - u0, width, ht2[b * n : (b + 1) * n], u0, r0, r1,
                                  kept2[k0 : k0 + n])
                _add_into(wt[(b * n + r0) * LANES : (b * n + r1) * LANES], mine)
            stale[i * n_modules + j] = 0
        if run0 >= 0:
            _rows_lanes16_blocks(w_rec, off + run0 - cs, run1 - run0, width, ht2, run0, r0, r1, wt2, n)
        for b in range(V // LANES):
            _tanh_inplace(wt[b * LANES * n + r0 * LANES : b * LANES * n + r1 * LANES])
    # Active modules read the previous state of each other: commit only after all are done.
    for i in range(n_modules):
        if code[i] == 0:
            continue
        r0 = module_start[i]
        r1 = module_start[i + 1]
        for j in range(n_modules):  # every product kept of this module's columns is now stale
            stale[j * n_modules + i] = 1
        for vb in range(0, V, LANES):
            o = vb * n
            if code[i] == 2:
                _copy(wt[o + r0 * LANES : o + r1 * LANES], ht[o + r0 * LANES : o + r1 * LANES])
            else:
                for v in range(LANES):
                    if vb + v < n_voices and (t[vb + v] + s) % periods[i] == 0:
                        for r in range(r0, r1):
                            ht[o + r * LANES + v] = wt[o + r * LANES + v]
    for k in range(n_out):
        for b in range(V // LANES):
            _output_lanes16(w_out, b_out, ht2[b * n : (b + 1) * n], k, b * LANES, y, s)


@numba.njit(**_HOT)
def _voices_step4(w_in, w_rec, bias, w_out, b_out, module_start, column_start, block_offset, periods, input_offset, x,
                  history, s, passes, n_voices, t, h, work, xs, rows, end, acc, y, yf, aligned, code):
    """:func:`_voices_step` in the 4 x 4 passes, for a voice count that is not a multiple of
    :data:`LANES`: the states voice-major, ``h[v * n + r]``, and the sums ``work[v * n + r]``; the
    outputs ``y``, and ``yf`` the same flat. The passes compute voices 0 to ``passes`` - 1 (a
    multiple of :data:`VOICE_BLOCK`, padding included), of which the first ``n_voices`` are real."""
    V, n_in = x.shape[1], x.shape[2]
    n_modules = periods.shape[0]
    n = module_start[n_modules]
    n_out = b_out.shape[0]
    for i in range(n_modules):
        code[i] = _tick_code(aligned[i], t, s, periods[i], n_voices)
        if code[i] == 0:
            continue
        r0 = module_start[i]
        r1 = module_start[i + 1]
        cs = column_start[i]
        width = n - cs
        off = block_offset[i]
        if history == 0:  # no input windows: the input weights inside the 4 x 4 passes
            for vb in range(0, passes, VOICE_BLOCK):
                _rows_voices4(w_rec, off, width, bias, w_in, x, s, vb, n_in, h, n, cs, r0, r1, work, n)
        else:
            for vb in range(0, passes, VOICE_BLOCK):
                _rows_voices4(w_rec, off, width, bias, w_in, x, s, vb, _0, h, n, cs, r0, r1, work, n)
            _window_voices(w_in, input_offset[i] * n_in, (input_offset[i + 1] - input_offset[i]) // (r1 - r0), xs,
                           rows, end, n_in, n_voices, r0, r1, work, n, acc, False)
        for v in range(passes):
            _tanh_inplace(work[v * n + r0 : v * n + r1])
    # Active modules read the previous state of each other: commit only after all are done.
    for i in range(n_modules):
        if code[i] == 0:
            continue
        r0 = module_start[i]
        r1 = module_start[i + 1]
        for v in range(passes):
            if code[i] == 2 or (v < n_voices and (t[v] + s) % periods[i] == 0):
                _copy(work[v * n + r0 : v * n + r1], h[v * n + r0 : v * n + r1])
    # Four outputs or more as the rows of a module are, four outputs by four voices a pass: one
    # output of four voices a pass (_output_voices4) took 0.56 us a step for 4 voices of 30 outputs
    # (the default model's mixture head), twice what one voice's outputs take per voice. Fewer
    # outputs as before (one output through the passes: CW 64/8, 4 voices, 0.97x).
    if n_out >= 4:
        ys = yf[s * V * n_out : (s + 1) * V * n_out]
        for vb in range(0, passes, VOICE_BLOCK):
            _rows_voices4(w_out, _0, n, b_out, w_in, x, s, vb, _0, h, n, _0, _0, n_out, ys, n_out)
    else:
        for k in range(n_out):
            for vb in range(0, passes, VOICE_BLOCK):
                _output_voices4(w_out, b_out, h, n, n, k, vb, y, s)


@numba.njit(**_HOT)
def _forward_voice(w_in, w_rec, bias, w_out, b_out, module_start, column_start, block_offset, periods, input_offset, x,
                   history, v, t0, h, work, xs, rows, y):
    """Voice v of :func:`_forward_voices_blocks` alone, through the one-voice kernel's step and outputs
    (:func:`cwfast._kernels._step` and :func:`cwfast._kernels._output`, what a one-voice stream
    runs): h (n,) its state, work (n,) its scratch, t0 its clock (not advanced here); with input
    windows its inputs are read from voice v's part of the voice-major ``xs`` (``rows`` rows, see
    :func:`_window_voices`), copied a chunk of steps at a time."""
    n_steps, n_in = y.shape[0], x.shape[2]
    mine = xs[v * rows * n_in : (v + 1) * rows * n_in]
    for s in range(n_steps):
        if history == 0:
            xf, end = x[s, v], n_in
        else:
            if s % WINDOW_CHUNK == 0:
                _voice_major(x, s, history + min(WINDOW_CHUNK, n_steps - s), v, v + 1, xs, rows)
            xf, end = mine, (history + s % WINDOW_CHUNK + 1) * n_in
        _step(w_in, w_rec, bias, module_start, column_start, block_offset, periods, input_offset, xf, end, t0 + s, h,
              work)
        _output(w_out, b_out, h, y[s, v])


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
def _lstm_forward_voices(theta, x, n_voices, t, state, pre, y):
    """Run the voices of an LSTM over one block (the recurrence of :mod:`cwfast._lstm_kernels`).

    x : (T, V, n_in), V :func:`padded_voices` of ``n_voices`` (the first ``n_voices`` are real).
    t : (V,) int64, advanced by T (an LSTM has no clock; the count is kept for the stream).
    state : (V * 2n,), voice v's ``[h, c]`` at ``state[v * 2n:]``. pre : (V * 4n,) scratch, the
    gates' pre-activations. y : (T, V, n_out). The 4 x 4 passes take V's whole blocks of
    :data:`VOICE_BLOCK` (the gates only their real voices); any voices after them run one by
    one, through the one-voice kernel (:func:`cwfast._lstm_kernels._forward_seq`).
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
    passes = V - V % VOICE_BLOCK
    grouped = min(passes, n_voices)  # the real voices of the passes
    for s in range(n_steps):
        for vb in range(0, passes, VOICE_BLOCK):
            _rows_voices4(w_rec, _0, n, bias, w_in, x, s, vb, n_in, state, 2 * n, _0, _0, g4, pre, g4)
        # Every pre-activation read the old h above, so h and c may be overwritten now.
        for v in range(grouped):
            p = pre[v * g4 : (v + 1) * g4]
            h = state[v * 2 * n : v * 2 * n + n]
            c = state[v * 2 * n + n : (v + 1) * 2 * n]
            for j in range(n):
                ig = _sigmoid(p[j])
                fg = _sigmoid(p[n + j])
                gg = np.tanh(np.float64(p[2 * n + j]))
                og = _sigmoid(p[3 * n + j])
                c[j] = fg * c[j] + ig * gg
                if abs(c[j]) < _FLUSH:  # as the one-voice kernel (cwfast._lstm_kernels) and the C export
                    c[j] = 0
                h[j] = og * np.tanh(np.float64(c[j]))
                if abs(h[j]) < _FLUSH:
                    h[j] = 0
        for k in range(n_out):
            for vb in range(0, passes, VOICE_BLOCK):
                _output_voices4(w_out, b_out, state, 2 * n, n, k, vb, y, s)
    # The voices after the passes, a step at a time (no history kept: empty views). A step's input
    # x[s, v : v + 1] is a C-contiguous (1, n_in), as a one-voice stream's block: the voice's column
    # x[:, v] is strided, and _forward_seq compiled for it sums the input weights in another order
    # (other bits than a one-voice stream's for an LSTM of 33 inputs).
    for v in range(passes, n_voices):
        hc, p = state[v * 2 * n : (v + 1) * 2 * n], pre[v * g4 : (v + 1) * g4]
        for s in range(n_steps):
            ys = y[s, v : v + 1]
            _lstm_forward_seq(theta, x[s, v : v + 1], hc, p, ys, ys[:0], ys[:0])
    for v in range(V):
        t[v] += n_steps
