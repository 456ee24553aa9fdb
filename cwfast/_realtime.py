"""C-callable entry points into the forward kernels, for streams that must not allocate.

Calling a numba dispatcher from Python boxes every array argument into a fresh NRT meminfo: ten
small allocations per :meth:`Stream.process` call, visible in
``numba.core.runtime.rtsys.get_allocation_stats()``. A ``cfunc`` called through ``ctypes`` takes the
address of a small int64 *context* array instead (buffer addresses and sizes, see the slot
constants), wraps the buffers with ``carray`` (no meminfo), and calls the architecture's forward
kernel inside compiled code: nothing is allocated, and ``ctypes`` releases the GIL for the whole call.

There is one entry per *kind* of recurrence (:data:`KINDS`), each calling one kernel:

- ``"clockwork"`` (Clockwork RNNs and SRNs): :func:`cwfast._kernels._forward_seq`. The state
  slot holds ``h`` (n,), the work slot (n,) scratch, and the layout slots the module structure.
- ``"clockwork_blocked"`` (``Stream(model, blocked=True)``, a Clockwork RNN without input windows):
  :func:`cwfast._blocked_kernels._blocked_forward`, the block module by module. Slots as
  ``"clockwork"``, but the work slot holds WORK_SIZE elements (the block's states: it grows with
  the prepared block length, see :func:`cwfast._blocked_kernels.work_size`).
- ``"lstm"``: :func:`cwfast._lstm_kernels._forward_seq`. The state slot holds ``[h, c]`` (2n,),
  the work slot the four gates' pre-activations (4n,); the layout slots are not read.
- ``"clockwork_windowed"`` (a Clockwork RNN whose modules read windows of past inputs, max window
  P + 1 > 1): :func:`cwfast._kernels._forward_padded_seq`, which reads each step's windows from a
  padded input, P rows of history before the block. The stream keeps the inputs in a *chunk
  buffer* (the HIST slot, HIST_ROWS = P + C rows, C >= the prepared block): the entry appends the
  block after the last input (the row in the FILL slot's int64), first moving the last P rows to
  the front if the block would not fit, and runs the kernel on the P + n_steps rows that end with
  the block, a contiguous slice, so every window is a plain slice of it. The move costs P rows
  once every C - P or more steps (amortised P / C rows a step; C >= 8 P), and only the inputs are
  copied, once. The state slot holds h (n,) alone; the history lives in the buffer.
- ``"clockwork_voices"`` and ``"clockwork_lanes"`` (V voices of a Clockwork RNN or SRN,
  ``Stream(model, voices=V)``): :func:`cwfast._voice_kernels._forward_voices_blocks`, or, for a
  V that is a multiple of the lanes (16), ``_forward_voices_lanes``. X and Y are
  (n_steps, V, n_in / n_out), the
  state (V, n), the work slot V * (n_modules + 2) * n floats (the kept products, the sums, the
  lane states); the voice slots give V (a multiple of the kernel's voice block), the number of
  real voices, and the addresses of the voices' clocks (V,) int64, which replace T0, and of the
  kernel's flags (n_modules * (n_modules + 2),) int64. With input windows (HISTORY = P > 0) the
  inputs go through a chunk buffer as above, of rows (V, n_in), and the work slot has room for
  the window pass's voice-major inputs and sums (:func:`cwfast._voice_kernels.voices_work_size`);
  with HISTORY = 0 the kernel reads X itself.
- ``"lstm_voices"`` (V voices of an LSTM): :func:`cwfast._voice_kernels._lstm_forward_voices`.
  X and Y as above, the state (V, 2n) (each voice's ``[h, c]``), the work slot (V, 4n); the
  voice slots as above except the flags, which are not read.

Two more entries, ``"stages_before"`` and ``"stages_after"``, run what a model does around its
network (an autoregressive mixture model's level, linear prediction and surprise-following scale;
a softmax or mixture head's softmax and scales) on the stream's buffers, with a context of their
own (the ``S_*`` slots): the stream calls them before and after the recurrence's entry.

This module is imported only when a stream is prepared, so ``import cwfast`` compiles nothing.
One entry is built per kind and dtype, once per process, on first use (:func:`entry`).

numba's on-disk cache checks only the file that defines a function, not the files it calls, so a
cached entry would keep running an old kernel after that kernel's file changed. cwfast._jit's
family stamps cover that for every cached function of the package; in case a numba release drops
them (``FAMILY_STAMPS`` False), each entry also closes over a hash of every kernel file
(:data:`_STAMP`): numba puts closure variables into the cache key, so a changed kernel file means
a cache miss and a fresh compile of the entries.
"""

import ctypes
import functools

import numpy as np
from numba import carray, cfunc, njit, types
from numba.extending import intrinsic

from . import _blocked_kernels, _head_kernels, _jit, _kernels, _lstm_kernels, _pitch_kernels, _voice_kernels
from .modes import FLUSH as _FLUSH

#: A 56-bit hash of every kernel file (nonzero in practice), closed over by every entry.
_STAMP = int.from_bytes(_jit.family_stamp()[:7], "little")

#: Return codes of an entry.
OK, NOT_FINITE = 0, 1

#: Slots of the context array (int64; addresses as integers). A ctypes call with one argument
#: costs about 1 us here against about 5 us with sixteen, so the stream writes the two values that
#: change (n_steps, t0) into the context and passes only its address. Every entry reads the first
#: eleven; STATE is the recurrent state (its width depends on the kind, see above) and WORK the
#: kernel's scratch.
THETA, N_THETA, X, N_STEPS, N_IN, T0, STATE, WORK, N_HIDDEN, Y, N_OUT = range(11)
#: Slots only the Clockwork entry reads: its module layout (int64 arrays, and the module count).
MODULE_START, COLUMN_START, BLOCK_OFFSET, PERIODS, N_MODULES = range(11, 16)
#: Slots only the voices entry reads: the padded voice count, the real one, the clocks, the flags.
N_VOICES, N_REAL_VOICES, CLOCKS, FLAGS = range(16, 20)
#: Slots of input windows (the windowed and the voices entries): the layout's input offsets
#: (n_modules + 1,) int64, the rows of history P, the chunk buffer, its length in rows, and the
#: address of an int64 holding the row just past the last input in it.
INPUT_OFFSET, HISTORY, HIST, HIST_ROWS, FILL = range(20, 25)
#: Slot of the blocked entry: the length of its work buffer.
WORK_SIZE = 25
#: Nonzero when the stages before the entry flushed the inputs already (a level's: before it
#: divided them, as forward and the C export do): the entry then checks them and leaves them as
#: they are, since a gain above 1 takes an input at FLUSH or above below it, and forward reads that
#: quotient.
INPUTS_FLUSHED = 26
CONTEXT_SIZE = 27

#: ctypes prototype of an entry: ``int64 entry(int64 *context)``. CFUNCTYPE releases the GIL.
PROTOTYPE = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_void_p)

_SIGNATURE = types.int64(types.CPointer(types.int64))

_entries = {}


@intrinsic
def _pointer(typingctx, address, dtype):
    """``(dtype *) address``: the pointer an integer address stands for."""
    pointer_type = types.CPointer(dtype.instance_type)

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], context.get_value_type(pointer_type))

    return pointer_type(address, dtype), codegen


@njit(cache=True, nogil=True)
def _finite_flushed(x, flushed):
    """Whether no element of the 2-D ``x`` (the stream's own copy of a block) is NaN or infinite,
    every element below :data:`cwfast.modes.FLUSH` in magnitude set to 0 on the way, as the model
    reads it (every entry checks its block first); none if ``flushed`` (the context's
    INPUTS_FLUSHED: the stages flushed the inputs before a level divided them)."""
    for s in range(x.shape[0]):
        for j in range(x.shape[1]):
            v = x[s, j]
            if not np.isfinite(v):
                return False
            if abs(v) < _FLUSH and not flushed:
                x[s, j] = 0
    return True


@njit(cache=True, nogil=True)
def _append_rows(buffer, fill, history, x):
    """Append the rows of ``x`` (m, w) to the chunk buffer ``buffer`` (rows, w), whose inputs end
    at row ``fill``; if they would not fit, first move the last ``history`` rows to the front.
    Returns the row where ``x`` now starts (rows ``start - history`` on are the padded input).
    Plain loops: a slice assignment would copy overlapping rows through a temporary."""
    m, w = x.shape
    if fill + m > buffer.shape[0]:
        for r in range(history):
            for c in range(w):
                buffer[r, c] = buffer[fill - history + r, c]
        fill = history
    for r in range(m):
        for c in range(w):
            buffer[fill + r, c] = x[r, c]
    return fill


@njit(cache=True, nogil=True)
def _layout(c):
    """The Clockwork layout the context ``c`` points to: module_start, column_start, block_offset,
    periods (int64 arrays)."""
    n_modules = c[N_MODULES]
    return (carray(_pointer(c[MODULE_START], np.int64), (n_modules + 1,)),
            carray(_pointer(c[COLUMN_START], np.int64), (n_modules,)),
            carray(_pointer(c[BLOCK_OFFSET], np.int64), (n_modules + 1,)),
            carray(_pointer(c[PERIODS], np.int64), (n_modules,)))


# Builders take the float type (np.float32 or np.float64); it reaches the entry as a closure
# variable, like the stamp.


def _build_clockwork(fp, blocked=False):
    """The one-voice Clockwork entry; ``blocked``: the block module by module
    (:func:`cwfast._blocked_kernels._blocked_forward`, a work slot WORK_SIZE long)."""
    stamp = _STAMP

    @cfunc(_SIGNATURE, cache=True)
    def forward_block(context_p):
        """Check the block is finite, then run it; state untouched unless it returns OK."""
        if stamp == 0:  # never true: makes the kernel files' hash part of the cache key
            return -1
        c = carray(context_p, (CONTEXT_SIZE,))
        n_steps, n_hidden = c[N_STEPS], c[N_HIDDEN]
        x = carray(_pointer(c[X], fp), (n_steps, c[N_IN]))
        if not _finite_flushed(x, c[INPUTS_FLUSHED]):
            return NOT_FINITE
        theta = carray(_pointer(c[THETA], fp), (c[N_THETA],))
        module_start, column_start, block_offset, periods = _layout(c)
        h = carray(_pointer(c[STATE], fp), (n_hidden,))
        y = carray(_pointer(c[Y], fp), (n_steps, c[N_OUT]))
        if blocked:
            work = carray(_pointer(c[WORK], fp), (c[WORK_SIZE],))
            _blocked_kernels._blocked_forward(theta, module_start, column_start, block_offset, periods, x, c[T0],
                                              h, work, y)
        else:
            work = carray(_pointer(c[WORK], fp), (n_hidden,))
            _kernels._forward_seq(theta, module_start, column_start, block_offset, periods, x, c[T0], h, work, y)
        return OK

    return forward_block


def _build_clockwork_windowed(fp):
    ip = np.int64
    stamp = _STAMP
    itemsize = np.dtype(fp).itemsize

    @cfunc(_SIGNATURE, cache=True)
    def forward_block(context_p):
        """Check the block is finite, then append it to the history and run it; state and
        history untouched unless it returns OK."""
        if stamp == 0:  # never true: makes the kernel files' hash part of the cache key
            return -1
        c = carray(context_p, (CONTEXT_SIZE,))
        n_steps, n_modules, n_hidden, n_in, history = c[N_STEPS], c[N_MODULES], c[N_HIDDEN], c[N_IN], c[HISTORY]
        x = carray(_pointer(c[X], fp), (n_steps, n_in))
        if not _finite_flushed(x, c[INPUTS_FLUSHED]):
            return NOT_FINITE
        fill = carray(_pointer(c[FILL], ip), (1,))
        buffer = carray(_pointer(c[HIST], fp), (c[HIST_ROWS], n_in))
        start = _append_rows(buffer, fill[0], history, x)
        xp = carray(_pointer(c[HIST] + (start - history) * n_in * itemsize, fp), (history + n_steps, n_in))
        theta = carray(_pointer(c[THETA], fp), (c[N_THETA],))
        module_start, column_start, block_offset, periods = _layout(c)
        input_offset = carray(_pointer(c[INPUT_OFFSET], ip), (n_modules + 1,))
        h = carray(_pointer(c[STATE], fp), (n_hidden,))
        work = carray(_pointer(c[WORK], fp), (n_hidden,))
        y = carray(_pointer(c[Y], fp), (n_steps, c[N_OUT]))
        _kernels._forward_padded_seq(theta, module_start, column_start, block_offset, periods, input_offset, xp,
                                     c[T0], h, work, y)
        fill[0] = start + n_steps
        return OK

    return forward_block


def _build_lstm(fp):
    stamp = _STAMP

    @cfunc(_SIGNATURE, cache=True)
    def forward_block(context_p):
        """Check the block is finite, then run it; state untouched unless it returns OK."""
        if stamp == 0:  # never true: makes the kernel files' hash part of the cache key
            return -1
        c = carray(context_p, (CONTEXT_SIZE,))
        n_steps, n = c[N_STEPS], c[N_HIDDEN]
        x = carray(_pointer(c[X], fp), (n_steps, c[N_IN]))
        if not _finite_flushed(x, c[INPUTS_FLUSHED]):
            return NOT_FINITE
        theta = carray(_pointer(c[THETA], fp), (c[N_THETA],))
        state = carray(_pointer(c[STATE], fp), (2 * n,))
        pre = carray(_pointer(c[WORK], fp), (4 * n,))
        y = carray(_pointer(c[Y], fp), (n_steps, c[N_OUT]))
        no_history = carray(_pointer(c[STATE], fp), (0, 2 * n))
        no_activations = carray(_pointer(c[STATE], fp), (0, 5 * n))
        _lstm_kernels._forward_seq(theta, x, state, pre, y, no_history, no_activations)
        return OK

    return forward_block


def _build_clockwork_voices(fp, lanes=False):
    """The voices' entry: :func:`cwfast._voice_kernels._forward_voices_lanes` for a padded count
    that is a multiple of LANES (``lanes``), else ``_forward_voices_blocks``. numba prunes the
    branch not taken (``lanes`` is a constant of the closure), so each entry compiles one kernel."""
    ip = np.int64
    stamp = _STAMP
    itemsize = np.dtype(fp).itemsize

    @cfunc(_SIGNATURE, cache=True)
    def forward_block(context_p):
        """Check the block is finite, then run it; states and clocks untouched unless it returns OK."""
        if stamp == 0:  # never true: makes the kernel files' hash part of the cache key
            return -1
        c = carray(context_p, (CONTEXT_SIZE,))
        n_steps, n_modules, n_hidden, n_voices = c[N_STEPS], c[N_MODULES], c[N_HIDDEN], c[N_VOICES]
        if not _finite_flushed(carray(_pointer(c[X], fp), (n_steps * n_voices, c[N_IN])), c[INPUTS_FLUSHED]):
            return NOT_FINITE
        n_in, history = c[N_IN], c[HISTORY]
        x = carray(_pointer(c[X], fp), (n_steps, n_voices, n_in))
        if history > 0:  # input windows: the kernel reads the block after its history
            fill = carray(_pointer(c[FILL], ip), (1,))
            buffer = carray(_pointer(c[HIST], fp), (c[HIST_ROWS], n_voices * n_in))
            start = _append_rows(buffer, fill[0], history, carray(_pointer(c[X], fp), (n_steps, n_voices * n_in)))
            fill[0] = start + n_steps
            x = carray(_pointer(c[HIST] + (start - history) * n_voices * n_in * itemsize, fp),
                       (history + n_steps, n_voices, n_in))
        theta = carray(_pointer(c[THETA], fp), (c[N_THETA],))
        module_start, column_start, block_offset, periods = _layout(c)
        input_offset = carray(_pointer(c[INPUT_OFFSET], ip), (n_modules + 1,))
        clocks = carray(_pointer(c[CLOCKS], ip), (n_voices,))
        flags = carray(_pointer(c[FLAGS], ip), (n_modules * (n_modules + 2),))
        h = carray(_pointer(c[STATE], fp), (n_voices * n_hidden,))
        work = carray(_pointer(c[WORK], fp),
                      (_voice_kernels.voices_work_size(n_hidden, n_modules, n_voices, history, n_in),))
        y = carray(_pointer(c[Y], fp), (n_steps, n_voices, c[N_OUT]))
        if lanes:
            _voice_kernels._forward_voices_lanes(theta, module_start, column_start, block_offset, periods,
                                                 input_offset, x, c[N_REAL_VOICES], clocks, h, work, y, flags)
        else:
            _voice_kernels._forward_voices_blocks(theta, module_start, column_start, block_offset, periods,
                                                  input_offset, x, c[N_REAL_VOICES], clocks, h, work, y, flags)
        return OK

    return forward_block


def _build_lstm_voices(fp):
    ip = np.int64
    stamp = _STAMP

    @cfunc(_SIGNATURE, cache=True)
    def forward_block(context_p):
        """Check the block is finite, then run it; states and clocks untouched unless it returns OK."""
        if stamp == 0:  # never true: makes the kernel files' hash part of the cache key
            return -1
        c = carray(context_p, (CONTEXT_SIZE,))
        n_steps, n, n_voices = c[N_STEPS], c[N_HIDDEN], c[N_VOICES]
        if not _finite_flushed(carray(_pointer(c[X], fp), (n_steps * n_voices, c[N_IN])), c[INPUTS_FLUSHED]):
            return NOT_FINITE
        x = carray(_pointer(c[X], fp), (n_steps, n_voices, c[N_IN]))
        theta = carray(_pointer(c[THETA], fp), (c[N_THETA],))
        clocks = carray(_pointer(c[CLOCKS], ip), (n_voices,))
        state = carray(_pointer(c[STATE], fp), (n_voices * 2 * n,))
        pre = carray(_pointer(c[WORK], fp), (n_voices * 4 * n,))
        y = carray(_pointer(c[Y], fp), (n_steps, n_voices, c[N_OUT]))
        _voice_kernels._lstm_forward_voices(theta, x, c[N_REAL_VOICES], clocks, state, pre, y)
        return OK

    return forward_block


# The stages around the network (cwfast.model: Level, prediction, Surprise; the head's softmax and
# scales), run by a stream before and after its entry, in compiled code: called as numba functions
# from Python they would box every array argument (6 to 13 NRT allocations a call), and NumPy's
# ufuncs on the outputs' strided columns allocate buffers. They take a context of their own (an
# int64 array, STAGE_CONTEXT_SIZE slots):

#: The stream's input and output buffers, (rows, PADDED, N_IN) and (rows, PADDED, N_OUT) (PADDED 1
#: without voices), the block's steps, and the lanes the stages run on (the real voices, or 1).
S_X, S_Y, S_STEPS, S_LANES, S_PADDED, S_N_IN, S_N_OUT = range(7)
#: The level (PADDED,) and its copy before the block (model dtype); the gains and the inputs as
#: read (LANES rows of S_COLUMNS: float64, model dtype); the predictions' window (PADDED, S_WINDOW
#: _COLUMNS: S_KEPT inputs before the block, then the block's), the taps (S_N_TAPS,); the surprise
#: states (PADDED, 3) float64; the parameters (STAGE_FLOATS float64); which stages run (STAGE_* bits).
S_LEVEL, S_LEVEL_BEFORE, S_GAINS, S_RAW, S_COLUMNS, S_WINDOW, S_WINDOW_COLUMNS, S_TAPS, S_N_TAPS, S_SURPRISE, \
    S_FLOATS, S_FLAGS = range(7, 19)
#: The softmax's logits, the first S_LOGITS outputs (all of them, or a mixture's K of 3K).
S_LOGITS = 19
#: The pitch predictor (cwfast.model.Pitch): the inputs the window keeps; its coefficients
#: (S_N_PITCH_A,) and cfg (_pitch_kernels.CFG_FIELDS) float64; its estimates (PADDED, 2) (model
#: dtype); the search's scratch (float64); its gain (the parameters' last, model dtype); the
#: block's first step (one voice), or the voices' clocks (PADDED,) int64, which the entry moved on
#: (0: one voice).
S_KEPT, S_PITCH_A, S_N_PITCH_A, S_PITCH_CFG, S_PITCH_EST, S_PITCH_E, S_PITCH_GAIN, S_T0, S_CLOCKS = range(20, 29)
STAGE_CONTEXT_SIZE = 29
#: Bits of S_FLAGS: the stages that run (FINISH: the head's, last, as forward finishes its outputs).
STAGE_LEVEL, STAGE_PREDICTION, STAGE_SURPRISE, STAGE_FINISH, STAGE_PITCH = 1, 2, 4, 8, 16
#: Slots of S_FLOATS: the level's alpha, floor and ceiling; the surprise's alpha, beta and 1 / mean.
LEVEL_ALPHA, LEVEL_FLOOR, LEVEL_CEILING, SURPRISE_ALPHA, SURPRISE_BETA, SURPRISE_INV_MEAN = range(6)
STAGE_FLOATS = 6


@njit(cache=True, nogil=True)
def _stage_inputs(c, fp):
    """The block's inputs (lanes, steps) as the stages read them, a view of the stream's input
    buffer (column 0: the stages are for one-input models)."""
    m, lanes, padded = c[S_STEPS], c[S_LANES], c[S_PADDED]
    return carray(_pointer(c[S_X], fp), (m, padded, c[S_N_IN]))[:, :lanes, 0].T


@njit(cache=True, nogil=True)
def _finish_lane(c, fp, y, b):
    """The stages after the entry for lane ``b``, whose outputs are ``y`` (steps, n_out): the
    linear prediction and the pitch predictor's term added to the means (their window moved on),
    the level's gains applied, the scales moved by the surprise, the head's softmax and scales; as
    ``forward`` does, in that order."""
    m, flags = c[S_STEPS], c[S_FLAGS]
    if flags & (STAGE_PREDICTION | STAGE_PITCH | STAGE_SURPRISE):  # (a model without them may have no input)
        x = _stage_inputs(c, fp)
    f = carray(_pointer(c[S_FLOATS], np.float64), (STAGE_FLOATS,))
    if flags & (STAGE_PREDICTION | STAGE_PITCH):
        kept = c[S_KEPT]
        window = carray(_pointer(c[S_WINDOW], fp), (c[S_PADDED], c[S_WINDOW_COLUMNS]))[b]
        for t in range(m):
            window[kept + t] = x[b, t]
        if flags & STAGE_PREDICTION:
            _head_kernels._predict_sequence(y, window[: kept + m], carray(_pointer(c[S_TAPS], fp), (c[S_N_TAPS],)))
        if flags & STAGE_PITCH:
            _pitch_lane(c, fp, y, window, kept, b)
        for j in range(kept):  # the last inputs to the front (ascending: the source is later)
            window[j] = window[m + j]
    if flags & STAGE_LEVEL:
        _head_kernels._level_sequence(y, carray(_pointer(c[S_GAINS], np.float64), (c[S_LANES], c[S_COLUMNS])), b)
    if flags & STAGE_SURPRISE:
        raw = x[b]  # e is measured from the inputs as read, before the level divided them
        if flags & STAGE_LEVEL:
            raw = carray(_pointer(c[S_RAW], fp), (c[S_LANES], c[S_COLUMNS]))[b, :m]
        state = carray(_pointer(c[S_SURPRISE], np.float64), (c[S_LANES], 3))[b]
        _head_kernels._surprise_rows(y, raw, state, f[SURPRISE_ALPHA], f[SURPRISE_BETA], f[SURPRISE_INV_MEAN], f[:0])
    if flags & STAGE_FINISH:
        _head_kernels._finish_rows(y, c[S_LOGITS])


@njit(cache=True, nogil=True)
def _pitch_lane(c, fp, y, window, kept, b):
    """The pitch predictor's term of lane ``b``'s block (its inputs from ``window[kept]`` on) added
    to the means of ``y``, as :func:`cwfast._pitch_kernels._predict_row` adds it."""
    m = c[S_STEPS]
    cfg = carray(_pointer(c[S_PITCH_CFG], np.float64), (_pitch_kernels.CFG_SIZE,))
    a = carray(_pointer(c[S_PITCH_A], np.float64), (c[S_N_PITCH_A],))
    est = carray(_pointer(c[S_PITCH_EST], fp), (c[S_PADDED], _pitch_kernels.EST_SIZE))[b]
    e = carray(_pointer(c[S_PITCH_E], np.float64), (int(cfg[_pitch_kernels.WIN]) + int(cfg[_pitch_kernels.HI]),))
    gain = np.float64(carray(_pointer(c[S_PITCH_GAIN], fp), (1,))[0])
    t0 = c[S_T0] if c[S_CLOCKS] == 0 else carray(_pointer(c[S_CLOCKS], np.int64), (c[S_PADDED],))[b] - m
    hop = int(cfg[_pitch_kernels.HOP])
    for t in range(m):
        term = _pitch_kernels._pitch_step(window, kept + t, (t0 + t) % hop == 0, a, cfg, e, est)
        _head_kernels._add_to_means(y[t], gain * term)


def _build_stages_before(fp):
    stamp = _STAMP
    largest = float(np.finfo(fp).max)

    @cfunc(_SIGNATURE, cache=True)
    def before(context_p):
        """Keep the inputs as read (for the surprise) and the levels (to put back if the entry
        refuses the block), then move the levels over the inputs and divide them by their gains."""
        if stamp == 0:  # never true: makes the kernel files' hash part of the cache key
            return -1
        c = carray(context_p, (STAGE_CONTEXT_SIZE,))
        lanes, m, flags = c[S_LANES], c[S_STEPS], c[S_FLAGS]
        if not flags & STAGE_LEVEL:
            return OK
        x = _stage_inputs(c, fp)
        f = carray(_pointer(c[S_FLOATS], np.float64), (STAGE_FLOATS,))
        # forward's check (cwfast.model.check_level_range), before anything moves: a value that
        # the level's smallest gain would make infinite. A block of one piece met it nowhere else,
        # and its infinite means left the surprise's state non-finite for good.
        limit = largest * f[LEVEL_FLOOR]
        for b in range(lanes):
            for t in range(m):
                v = abs(np.float64(x[b, t]))
                if v > limit and v < np.inf:  # (NaN and infinity: the entry refuses them as such)
                    return NOT_FINITE
        # Inputs below FLUSH read as 0 before the level divides them, as forward (check_input) and
        # the C export read them; the entry flushes nothing after (the context's INPUTS_FLUSHED), since
        # forward reads the quotient as it is, below FLUSH or not.
        for b in range(lanes):
            for t in range(m):
                if abs(x[b, t]) < _FLUSH:
                    x[b, t] = 0
        if flags & STAGE_SURPRISE:
            raw = carray(_pointer(c[S_RAW], fp), (lanes, c[S_COLUMNS]))
            for b in range(lanes):
                for t in range(m):
                    raw[b, t] = x[b, t]
        level = carray(_pointer(c[S_LEVEL], fp), (c[S_PADDED],))
        before = carray(_pointer(c[S_LEVEL_BEFORE], fp), (c[S_PADDED],))
        for b in range(level.shape[0]):
            before[b] = level[b]
        gains = carray(_pointer(c[S_GAINS], np.float64), (lanes, c[S_COLUMNS]))
        _head_kernels._level_track(x, level[:lanes], f[LEVEL_ALPHA], f[LEVEL_FLOOR], f[LEVEL_CEILING], x, gains)
        return OK

    return before


def _build_stages_after(fp):
    stamp = _STAMP

    @cfunc(_SIGNATURE, cache=True)
    def after(context_p):
        """The stages after the entry, lane by lane (:func:`_finish_lane`)."""
        if stamp == 0:  # never true: makes the kernel files' hash part of the cache key
            return -1
        c = carray(context_p, (STAGE_CONTEXT_SIZE,))
        m, padded, n_out = c[S_STEPS], c[S_PADDED], c[S_N_OUT]
        if padded == 1:  # contiguous rows, as forward's: its sums vectorise (and round) the same way
            _finish_lane(c, fp, carray(_pointer(c[S_Y], fp), (m, n_out)), _jit.INT_ZERO)
        else:  # a lane's outputs, y[:, b]: strided (a transposed view would be allocated)
            y = carray(_pointer(c[S_Y], fp), (m, padded, n_out))
            for b in range(c[S_LANES]):
                _finish_lane(c, fp, y[:, b], b)
        return OK

    return after


#: The kinds of entry, and the builder of each.
_BUILDERS = {"clockwork": _build_clockwork, "clockwork_windowed": _build_clockwork_windowed,
             "clockwork_blocked": functools.partial(_build_clockwork, blocked=True), "lstm": _build_lstm,
             "clockwork_voices": _build_clockwork_voices,
             "clockwork_lanes": functools.partial(_build_clockwork_voices, lanes=True), "lstm_voices": _build_lstm_voices,
             "stages_before": _build_stages_before, "stages_after": _build_stages_after}
KINDS = tuple(_BUILDERS)


def entry(kind, dtype):
    """The compiled entry of ``kind`` (one of :data:`KINDS`) for ``dtype`` (float32 or float64),
    and its ctypes callable.

    Returns
    -------
    (numba CFunc, ctypes function with :data:`PROTOTYPE`)
    """
    dtype = np.dtype(dtype)
    key = kind, dtype
    if key not in _entries:
        compiled = _BUILDERS[kind](dtype.type)
        _entries[key] = compiled, PROTOTYPE(compiled.address)
    return _entries[key]
