"""Block-by-block inference: a stateful shell around the model's explicit-state recurrence.

A :class:`Stream` runs any cwfast model (:class:`ClockworkRNN`, :class:`SRN`, :class:`LSTM`). It
carries the recurrent state (an LSTM's ``[h, c]``) and the global step ``t`` across calls, so any
split of a sequence into blocks gives exactly the output of one ``model.forward`` over the whole
sequence: the clock schedule never restarts inside a stream, only on :meth:`Stream.reset`.

It is built for audio callbacks. :meth:`Stream.prepare` allocates every buffer and compiles and
warms the kernel; after it, :meth:`Stream.process` with ``out=`` allocates nothing, neither in numba
nor in NumPy (except for a block longer than ``max_block`` that is not contiguous in memory, such as a
slice along time of a longer ``(voices, n)`` array: it is checked for NaN, before its first piece
runs, through NumPy's buffered reduction, up to 64 KiB), and
runs the architecture's kernel through a C entry point with the GIL released (:mod:`cwfast._realtime`); a model's level, linear prediction and surprise-following scale (the
autoregressive defaults) and its head's softmax and scales run in two more C entries around it.
What differs between architectures
(the entry, the width of the state and of the scratch, the context slots) is decided in one
place, :data:`_BINDINGS`, keyed by the model's ``realtime_kind`` (the model protocol,
:class:`cwfast.model.SequenceModel`), and :func:`_voices_binding` for many voices. A stream knows its sample rate and refuses audio declared
at another rate unless asked to resample it.

A Clockwork RNN with input windows (modules that read their last ``L_i`` inputs) needs the last
``max_window - 1`` inputs across blocks: the stream keeps its inputs in a chunk buffer (see
:mod:`cwfast._realtime`) where each block's windows are one contiguous slice, and its
:attr:`Stream.state` is the model's (hidden units, then those inputs), so ``forward`` and a stream
continue each other.

``Stream(model, voices=V)`` runs V independent sequences of one model in one call, with the voice
kernels of :mod:`cwfast._voice_kernels` (one matrix-matrix product per step instead of V
matrix-vector products). A stream is used by one thread at a time (see :class:`Stream`), and
pickles (it prepares itself again on loading).
"""

from __future__ import annotations

import copy
import functools
import math
import numbers
import threading
from typing import Callable, NamedTuple

import numpy as np

from .errors import CwfastError, ParameterError
from .model import SequenceModel, State, check_level_range, level_limit
from . import validate
from .validate import positive_int as _positive_int, rate as _rate

#: The context slots process() writes: cwfast._realtime.N_STEPS and T0, and the stages' S_STEPS and
#: S_T0 (a test checks), which this module does not import until a stream is prepared.
_N_STEPS, _T0, _S_STEPS, _S_T0 = 3, 5, 2, 27
#: The elements of a pitch predictor's estimate in the state (cwfast._pitch_kernels.EST_SIZE; a test checks).
EST_SIZE = 2

#: The surprise state of a lane that has read nothing: r = 1, no previous mixture (cwfast.model.Surprise).
_NO_SURPRISE = np.array([1.0, 0.0, 0.0])

_NOT_FINITE = "block contains NaN or infinite values (or values too large for the model's dtype)"

#: What a stream does with a block holding a value it cannot read (Stream's ``bad_input``).
BAD_INPUT = ("refuse", "zero")


class _RefusedValues(ParameterError):
    """A block refused for its values (not its shape or type), raised only before anything
    moved: :meth:`Stream.process` reads those values as 0 with ``bad_input="zero"``, and raises
    a plain :class:`ParameterError` with the same message otherwise."""

#: Block length a stream prepares for when :meth:`Stream.process` is called before
#: :meth:`Stream.prepare`, or ``prepare`` without one. Longer blocks are run in pieces of this length,
#: in the buffers prepared for it.
DEFAULT_MAX_BLOCK = 8192
#: ... or fewer steps, so that a block's inputs and outputs (every voice's) take at most this many
#: bytes: a softmax of 65,536 classes prepared 8192 steps, 2 GiB of outputs checked against the kernel
#: and warmed (23 s, over 4 GiB) before its first sample; it prepares 63. A model of 256 classes or
#: fewer, one voice, prepares 8192 as before.
DEFAULT_BLOCK_BYTES = 16 * 2**20
#: The longest block a stream prepares for (13.5 hours at 44.1 kHz: the buffers of a longer one are
#: not a real request) and the most voices one stream runs.
MAX_BLOCK = 2**31 - 1
MAX_VOICES = 2**16


def _voice_clocks(t, voices):
    """``state.t`` of a many-voice stream, one step a voice, as an int64 array, or ParameterError."""
    t = np.asarray(t)
    # Bounded as one clock is (validate.non_negative_int): a clock past MAX_COUNT would wrap in the
    # int64 the kernels count in (a uint64 2**64 - 1 becomes -1 at once, 2**63 - 2 a few steps on).
    if t.shape != (voices,) or t.dtype.kind not in "iu" or np.any(t < 0) or np.any(t > validate.MAX_COUNT):
        raise ParameterError(f"state.t must be one integer in [0, {validate.MAX_COUNT}] for all voices or one for "
                             f"each of the {voices} (shape ({voices},)); got {t.tolist()!r}")
    return t.astype(np.int64)


class Stream:
    """Run a model over consecutive blocks of one sequence.

    Parameters
    ----------
    model : ClockworkRNN, SRN or LSTM
        The model; the stream reads its parameters live, so training between blocks is seen, and
        new clock periods (``set_periods``, as the evolution strategy's period search sets them).
        The parameters are checked to be finite when the stream is prepared (:meth:`prepare`, or
        the first :meth:`process`), not in every block (that would cost a pass over them, and an
        allocation, per block): a NaN or infinity written into ``model.params`` after that turns
        the outputs and the state NaN, and the state stays so until :meth:`reset`.
        A linear prediction or a level normalisation added to or removed from the model after the
        stream was built is refused (:class:`CwfastError`): build a new stream.
    state : State, optional
        Where to start: the recurrent state, shape (n_hidden,), or (2 * n_hidden,) holding
        ``[h, c]`` for an LSTM, or (n_hidden + (max_window - 1) * n_in,) holding h and the last
        inputs for a Clockwork RNN with input windows (as ``model.forward(..., return_state=True)``
        returns it), and the step; for a model with a surprise-following scale
        (:class:`cwfast.model.Surprise`), which ``process`` runs as ``forward`` does, its
        ``surprise`` too. Default: zeros at t = 0.
    sample_rate : int, optional
        The rate, in Hz, of the blocks that will be fed (a whole number: a host's 48000.0 passes as
        48000). Default: the model's ``sample_rate``. If both are known and differ, the stream
        refuses to be built unless ``resample`` is true.
    resample : bool
        Accept a ``sample_rate`` different from the model's: every block is converted to the
        model's rate with a streaming polyphase filter (the one :func:`cwfast.audio.resample`
        uses), run through the model, and the outputs are converted back, so ``process`` still
        returns one output per input sample, :attr:`latency` samples late. This path allocates
        small NumPy arrays in every call; for strict real time run the audio at the model's rate.
        Only for linear-output models (filtered probabilities are not probabilities).
    max_block : int, optional
        If given, call :meth:`prepare` with it now.
    voices : int, optional
        Run this many independent sequences ("voices") of the model at once: :meth:`process` then
        takes blocks of shape (voices, n_steps, n_in) and returns (voices, n_steps, n_out);
        :attr:`t` is each voice's step, shape (voices,); ``state`` (if given) holds h of shape
        (voices, width), one row a voice laid out as ``state`` above (an LSTM's ``[h, c]``, ...),
        and one ``t`` for all or one a voice (as :attr:`state` returns it);
        :meth:`reset` can restart one voice. The voices share each weight load (one matrix-matrix
        product per step instead of ``voices`` matrix-vector products: 16 voices of CW 256/8 cost
        0.26-0.27 of 16 streams on an AVX2 EPYC, 0.38-0.40 on an AVX-512 Xeon when last measured
        there, other counts than multiples of 16 about 0.5-0.6: docs/benchmarks.md, sections 15
        and 22; one or two voices, and the last one or two of 4 k + 1 or 4 k + 2 but 13, 14, 29,
        30, ..., which run in the lanes, run one by one through the one-voice kernel, at the cost
        of one-voice streams: section 25), and each
        voice's output equals that of a stream of its own to within float rounding (the sums are
        ordered differently). Not with ``resample``. Default None: one sequence, blocks of
        shape (n_steps, n_in). At most :data:`MAX_VOICES`.
    blocked : bool
        Compute each block module by module, slowest first, instead of step by step: a slow
        module never reads a faster one, so once the slower modules have run over the block, a
        module's products with them are matrix products, each state of a slower module
        multiplied once (it changes only when that module ticks), and only its own k x k part is
        computed step by step. Faster when the weights do not fit the core's L2 cache (CW 1024/8
        in float32 on a 512-KiB-L2 EPYC: 1.8x at blocks of 64, 2.6-2.8x at 512 and 2048), slower
        for models whose weights fit it (CW 256/8: 0.7-0.9x); ``cwfast bench --blocked`` measures
        yours. The outputs equal ``forward``'s to within float rounding, not bit for bit (the
        sums run in another order), and are the same bits however the input is split. For
        Clockwork RNNs and SRNs without input windows, with strictly increasing periods, one
        voice. Default False.
    bad_input : {"refuse", "zero"}
        What :meth:`process` does with a block holding a value the model cannot read: NaN,
        infinity, or one too large for the model's dtype (or, with a level, for its smallest
        gain). ``"refuse"`` (default): raise :class:`ParameterError`, the stream unchanged.
        ``"zero"``: read each such value as 0 and go on (an audio callback should not stop for
        one bad sample from upstream; the C export reads NaN and infinity as 0 too, and holds a
        finite input within +-1e15); :attr:`bad_blocks` counts the blocks read so. A good block
        takes the same path either way; a bad one is copied, which allocates.

    Notes
    -----
    **Threads.** A stream is one sequence, so it is used by one thread at a time: preparing it in
    one thread and processing in another (an audio callback) is fine, but a call to
    :meth:`process`, :meth:`prepare` or :meth:`reset` while another thread is inside one of them
    raises :class:`CwfastError` instead of interleaving two threads' blocks. The check is one
    non-blocking lock acquisition, outside the kernel: the real-time thread never waits on a lock.
    To restart the sequence from a control thread while audio runs, :meth:`request_reset`: the
    audio thread's next :meth:`process` does it, so neither thread can be refused.
    For independent sequences use one stream per thread (or ``voices``); the kernel itself runs
    with the GIL released, so streams in different threads run in parallel. Reading :attr:`t` or
    :attr:`state` while another thread is inside :meth:`process` is not refused, and may see a
    state from the middle of its block.

    **Pickling** keeps the model, the state, the clock, the resampling filters and the prepared
    block length; the copy prepares itself again (compiled code and buffer addresses cannot
    travel), and continues exactly where the original was.

    Raises
    ------
    ParameterError
        If the model is not a cwfast model, the state or the rates are invalid, or the rates
        differ and ``resample`` is false.

    Examples
    --------
    >>> stream = Stream(model, sample_rate=44100, max_block=512)   # doctest: +SKIP
    >>> out = np.empty((512, model.n_out), dtype=model.dtype)        # doctest: +SKIP
    >>> for block in blocks:                                         # doctest: +SKIP
    ...     stream.process(block, out=out[: len(block)])

    Sixteen voices of one model, one of them restarted (a new note):

    >>> synth = Stream(model, voices=16, max_block=512)              # doctest: +SKIP
    >>> y = synth.process(x)        # x (16, n, n_in) -> y (16, n, n_out)  # doctest: +SKIP
    >>> synth.reset(voice=3)                                         # doctest: +SKIP
    """

    def __init__(self, model, *, state=None, sample_rate=None, resample=False, max_block=None, voices=None,
                 blocked=False, bad_input="refuse"):
        if not isinstance(model, SequenceModel) or model.realtime_kind not in _BINDINGS:
            raise ParameterError(f"a Stream runs cwfast models with a real-time entry, not {type(model).__name__}")
        resample = validate.flag("resample", resample)
        self._zero_bad = validate.choice("bad_input", bad_input, BAD_INPUT) == "zero"
        self._bad_blocks = 0
        self._model = model
        self._revision = model._structure_revision  # see _follow_model
        # Hoisted for process(): a model's layout properties cost about 0.5 us each to read.
        self._n_in, self._n_out, self._dtype = model.n_in, model.n_out, np.dtype(model.dtype)
        # What process() does to the raw outputs, as forward() does: softmax probabilities, or a
        # mixture's weights and scales (the first K outputs are its logits).
        self._softmax = model.output in ("softmax", "mixture")
        self._logits = model.n_out // 3 if model.output == "mixture" else model.n_out
        self._voices = None
        # Input windows: the last P inputs live in a chunk buffer (see _realtime), not in _state,
        # which then holds the hidden units alone; `state` puts the two together.
        self._history = _history_rows(model)
        self._hist = None
        self._fill = np.zeros(1, dtype=np.int64)
        # Level normalisation (cwfast.model.Level): the level, the last element of the model's
        # state, lives here; process() normalises each block around the compiled entry.
        self._level = None if model.level is None else np.zeros(1, dtype=model.dtype)
        self._gains = np.zeros((1, 0))
        # Linear prediction (SequenceModel.prediction) and the pitch predictor (cwfast.model.Pitch):
        # the inputs before the next step they read back (K - 1, or Pitch.history), then room for a
        # block's, one row a voice; then the pitch predictor's estimate, one row a voice, and the
        # search's scratch. They follow the network's state.
        self._n_taps, self._pitch = model.prediction, model.pitch
        kept = model._history_slice()
        self._kept = kept.stop - kept.start
        self._window = self._pitch_est = self._pitch_scratch = None
        # A surprise-following scale (cwfast.model.Surprise): one (r, mean, spread) row a lane,
        # made when the model first has one (the stream follows it live, as the parameters), and
        # the block's inputs as read, before any level (_raw, made by _prepare).
        self._surprise = None
        self._raw = None
        self._blocked = _check_blocked(model, blocked, voices)
        if voices is not None:
            voices = _positive_int("voices", voices, maximum=MAX_VOICES)
            if model.realtime_kind not in _VOICE_KINDS:
                raise ParameterError(f"voices={voices} is not supported for a {model.description} yet; "
                                     "use one Stream per voice")
            if resample:
                raise ParameterError("voices and resample=True cannot be combined; resample the audio first")
            from ._voice_kernels import padded_voices

            self._voices = voices
            padded = padded_voices(voices)  # the voices the kernel runs; those after `voices` are padding
            clocks = None
            if isinstance(state, State) and np.ndim(state.t) == 1:  # one clock a voice, as .state gives them
                clocks = _voice_clocks(state.t, voices)
                state = State(state.h, 0, state.surprise)
            state0, t0 = model.check_state(state, voices, True)  # (voices, width)
            if self._level is not None:  # one level a voice (padding voices keep theirs)
                self._level = np.full(padded, model.level.start, dtype=model.dtype)
            net_width = model._state_width() - self._history * model.n_in  # the rest: history, taps, level
            self._state = np.zeros((padded, net_width), dtype=model.dtype)
            self._allocate_window(0, padded)
            self._clocks = np.full(padded, t0, dtype=np.int64)
            if clocks is not None:
                self._clocks[:voices] = clocks
            self._t = None
            self._allocate_history(0, (padded,))
            self._put_voices(state0)
            self._put_surprise(model._check_surprise(state, voices, True))
        else:
            state0, self._t = model.check_state(state, 1, False)  # (1, width), zeros at t = 0 for None
            self._state = state0[0, : model._state_width()]  # then the taps' inputs and the level
            self._allocate_window(0, 1)
            if self._history:
                self._state = state0[0, : model.n_hidden].copy()
                self._allocate_history(0, ())
            self._restore(state0[0])
            self._put_surprise(model._check_surprise(state, 1, False))
        model_rate = getattr(model, "sample_rate", None)
        if sample_rate is not None:
            sample_rate = _rate("sample_rate", sample_rate)
        self._sample_rate = sample_rate if sample_rate is not None else model_rate
        self._resamplers = None
        if sample_rate is not None and model_rate is not None and sample_rate != model_rate:
            if not resample:
                raise ParameterError(
                    f"sample_rate={sample_rate} differs from the model's sample_rate={model_rate}; "
                    "resample the audio first, or pass resample=True"
                )
            if model.output != "linear":
                raise ParameterError(f"resample=True needs a linear-output model, not output={model.output!r}")
            self._resamplers = (
                _Resampler(sample_rate, model_rate, model.n_in),
                _Resampler(model_rate, sample_rate, model.n_out),
            )
            self._pending = np.zeros((0, model.n_out))
        self._max_block = 0
        self._entry = self._fast = self._stages = None
        self._lock = threading.Lock()
        self._requested = []  # voices (None: all) whose reset another thread asked for (request_reset)
        if max_block is not None:
            self.prepare(max_block)

    # ------------------------------------------------------------------ threads and pickling

    def _enter(self):
        """Take the stream for this call, or refuse: never wait (the caller may be an audio thread)."""
        if not self._lock.acquire(blocking=False):
            raise CwfastError(
                "this Stream is in use by another thread (a stream is one sequence: use it from one "
                "thread at a time, or one stream per thread)"
            )

    def __getstate__(self):
        self._enter()
        try:
            if self._requested:
                self._do_requested()
            # The resamplers' filter histories are the stream's own state, as `state` is: copied,
            # so that copy.copy's stream does not advance the original's (the model is shared).
            return {
                "model": self._model, "state": self.state, "sample_rate": self._sample_rate,
                "resamplers": copy.deepcopy(self._resamplers), "pending": copy.deepcopy(getattr(self, "_pending", None)),
                "max_block": self._max_block, "voices": self._voices, "blocked": self._blocked,
                "bad_input": BAD_INPUT[self._zero_bad], "bad_blocks": self._bad_blocks,
            }
        finally:
            self._lock.release()

    def __setstate__(self, saved):
        # The constructor checks the state against the model (which may have changed since) and
        # takes a voices' State with a clock per voice.
        self.__init__(saved["model"], state=saved["state"], sample_rate=saved["sample_rate"],
                      resample=saved["resamplers"] is not None, max_block=saved["max_block"] or None,
                      voices=saved.get("voices"), blocked=saved.get("blocked", False),
                      bad_input=saved.get("bad_input", "refuse"))
        self._bad_blocks = saved.get("bad_blocks", 0)
        if saved["resamplers"] is not None:
            self._resamplers, self._pending = saved["resamplers"], saved["pending"]

    # ------------------------------------------------------------------ state

    @property
    def bad_blocks(self):
        """How many blocks :meth:`process` read with values set to 0 (``bad_input="zero"``)."""
        return self._bad_blocks

    @property
    def model(self):
        """The model the stream runs, fixed when it was built (its buffers, state and compiled
        binding are the model's shape). Its weights are read live: write new ones into
        ``stream.model.params``; for another model, build another :class:`Stream`."""
        return self._model

    @model.setter
    def model(self, value):
        # Allowed, the stream ran the new model's weights over buffers sized for the old one:
        # the kernel then read and wrote past them.
        raise CwfastError("a Stream's model cannot be replaced (its buffers and state are the model's shape): "
                          "build a new Stream, or write new weights into stream.model.params")

    @property
    def sample_rate(self):
        """The rate, in Hz, of the blocks the stream takes (None if neither it nor the model was
        given one), fixed when it was built: the resampling filters are made for it."""
        return self._sample_rate

    @sample_rate.setter
    def sample_rate(self, value):
        raise CwfastError("a Stream's sample_rate cannot be changed (its resampling, if any, was built for it): "
                          "build a new Stream(model, sample_rate=..., resample=True)")

    @property
    def voices(self):
        """The number of voices, or None for a one-sequence stream."""
        return self._voices

    @property
    def t(self):
        """The global step of the next model step (counted at the model's rate); with voices, a
        copy of each voice's, shape (voices,)."""
        if self._voices is not None:
            return self._clocks[: self._voices].copy()
        return self._t

    @property
    def state(self):
        """A copy of the current :class:`State` (an LSTM's ``h`` is ``[h, c]``, as in ``forward``;
        with input windows, the hidden units then the last ``max_window - 1`` inputs, oldest
        first, as in ``forward``); with voices, ``h`` (voices, width) and ``t`` (voices,)."""
        surprise = None
        if self._surprise is not None and self._model.surprise is not None:
            surprise = self._surprise[: self._voices].copy() if self._voices is not None else self._surprise[0].copy()
        if self._voices is not None:
            return State(self._snapshot()[: self._voices], self.t, surprise)
        return State(self._snapshot(), self._t, surprise)

    # The recurrent state as the model lays it out (``_snapshot``, a copy; ``_restore`` puts one
    # back): ``_state`` itself, or with input windows ``_state`` and the last P rows of the chunk
    # buffer ``_hist`` (rows end at ``_fill[0]``; each row (n_in,), or (padded, n_in) with voices).

    def _allocate_history(self, max_block, lanes):
        """(Re)allocate the chunk buffer for blocks of ``max_block`` (keeping the history): P + C
        rows, C at least the block, 8 P (so that moving P rows to the front costs at most 1/8 of a
        row per step) and 256."""
        P = self._history
        if not P:
            return
        rows = P + max(max_block, 8 * P, 256)
        if self._hist is not None and self._hist.shape[0] >= rows:
            return
        hist = np.zeros((rows, *lanes, self._n_in), dtype=self._dtype)
        if self._hist is not None:
            f = int(self._fill[0])
            hist[:P] = self._hist[f - P : f]
        self._hist = hist
        self._fill[0] = P

    def _allocate_window(self, max_block, lanes):
        """(Re)allocate the predictions' window for ``lanes`` voices and blocks of ``max_block``,
        keeping the inputs it holds (and the pitch predictor's estimate and scratch, made once)."""
        if self._pitch is not None and self._pitch_est is None:
            self._pitch_est = np.zeros((lanes, EST_SIZE), dtype=self._dtype)
            self._pitch_scratch = np.zeros(self._pitch.window + self._pitch.hi)
        if not self._kept or (self._window is not None and self._window.shape[1] >= self._kept + max_block):
            return
        window = np.zeros((lanes, self._kept + max_block), dtype=self._dtype)
        if self._window is not None:
            window[:, : self._kept] = self._window[:, : self._kept]
        self._window = window

    def _snapshot(self):
        parts = [self._network_snapshot()]
        if self._kept:
            parts.append(self._window[:, : self._kept] if self._voices is not None else self._window[0, : self._kept])
        if self._pitch is not None:
            parts.append(self._pitch_est.copy() if self._voices is not None else self._pitch_est[0])
        if self._level is not None:
            parts.append(self._level[:, None] if self._voices is not None else self._level)
        return np.concatenate(parts, axis=-1) if len(parts) > 1 else parts[0]

    def _network_snapshot(self):
        P = self._history
        if not P:
            return self._state.copy()
        f = int(self._fill[0])
        rows = self._hist[f - P : f]
        if self._voices is None:
            return np.concatenate([self._state, rows.reshape(-1)])
        return np.concatenate([self._state, rows.transpose(1, 0, 2).reshape(rows.shape[1], P * self._n_in)], axis=1)

    def _restore(self, saved):
        if self._level is not None:
            self._level[:] = saved[..., -1]
            saved = saved[..., :-1]
        if self._pitch is not None:
            self._pitch_est[:] = saved[..., saved.shape[-1] - EST_SIZE :]
            saved = saved[..., : saved.shape[-1] - EST_SIZE]
        if self._kept:
            self._window[:, : self._kept] = saved[..., saved.shape[-1] - self._kept :]
            saved = saved[..., : saved.shape[-1] - self._kept]
        P = self._history
        if not P:
            self._state[:] = saved
            return
        n = self._state.shape[-1]
        self._state[:] = saved[..., :n]
        if self._voices is None:
            self._hist[:P] = saved[n:].reshape(P, self._n_in)
        else:
            self._hist[:P] = saved[:, n:].reshape(saved.shape[0], P, self._n_in).transpose(1, 0, 2)
        self._fill[0] = P

    def _put_surprise(self, rows):
        """Set the first len(rows) lanes' surprise state from ``rows`` ((lanes, 3), or None: r at 1
        with no step before, for every lane)."""
        if rows is None:
            if self._surprise is not None:
                self._surprise[:] = _NO_SURPRISE
            return
        if self._surprise is None:
            lanes = 1 if self._voices is None else self._clocks.size
            self._surprise = np.tile(_NO_SURPRISE, (lanes, 1))
        self._surprise[: rows.shape[0]] = rows

    def _put_voices(self, h):
        """Set the first len(h) voices' states from ``h`` (voices, width), the model's layout."""
        if not self._history and self._level is None and not self._kept and self._pitch is None:
            self._state[: h.shape[0]] = h
            return
        saved = self._snapshot()
        saved[: h.shape[0]] = h
        self._restore(saved)

    @property
    def latency(self):
        """Delay, in samples at :attr:`sample_rate`, that resampling adds (0.0 without resampling).

        A fraction when the rates are not multiples of each other: it is the group delay of the
        two linear-phase filters.
        """
        if self._resamplers is None:
            return 0.0
        into, back = self._resamplers
        return into.delay + back.delay / into.ratio

    @property
    def max_block(self):
        """The block length prepared for (0 before :meth:`prepare`)."""
        return self._max_block

    def reset(self, voice=None):
        """Clear the recurrent state (and resampling filters) and restart the clock at t = 0.

        Parameters
        ----------
        voice : int, optional
            With ``voices``: restart this voice only (0 <= voice < voices); the others run on.
            Default: every voice. A voice restarted alone is out of phase with the others, which
            costs the Clockwork kernel extra work (a slow module is computed whenever any voice
            needs it) until every voice is restarted together.

        Raises
        ------
        ParameterError
            If ``voice`` is given for a stream without voices, or is out of range.
        CwfastError
            If another thread is using the stream (from another thread while audio runs, use
            :meth:`request_reset`).
        """
        voice = self._check_voice(voice)
        self._enter()
        try:
            self._check_structure()  # (a level taken off the model has no start to reset to)
            self._reset(voice)
        finally:
            self._lock.release()

    def request_reset(self, voice=None):
        """Ask for :meth:`reset` at the start of the next :meth:`process`, from any thread.

        For a control thread (a user interface, a MIDI handler) while an audio thread processes:
        this only records the request, so it never waits, never fails because the stream is in
        use, and never makes the audio thread's call fail (a :meth:`reset` from another thread
        holds the stream for a moment, and a :meth:`process` arriving then is refused). The next
        :meth:`process` restarts the voice (or every voice) before it runs its block, in its own
        thread (even if it then refuses its block); until then :attr:`state` and :attr:`t` are
        unchanged. Requests are done in order, and a pickled stream does them first.

        Parameters
        ----------
        voice : int, optional
            As for :meth:`reset`: with ``voices``, this voice only. Default: every voice.

        Raises
        ------
        ParameterError
            If ``voice`` is given for a stream without voices, or is out of range (checked now,
            in the calling thread).
        """
        self._requested.append(self._check_voice(voice))  # list.append is atomic: no lock needed

    def _do_requested(self):
        """Do the resets :meth:`request_reset` recorded (the caller holds the stream)."""
        self._check_structure()
        while self._requested:
            self._reset(self._requested.pop(0))

    def _check_voice(self, voice):
        if voice is not None:
            if self._voices is None:
                raise ParameterError(f"voice={voice!r}: this stream has no voices (Stream(model, voices=V))")
            if isinstance(voice, (bool, np.bool_)) or not isinstance(voice, numbers.Integral) \
                    or not 0 <= voice < self._voices:
                raise ParameterError(f"voice={voice!r} must be an integer in [0, {self._voices})")
            voice = int(voice)
        return voice

    def _reset(self, voice):
        """reset()'s work (the caller holds the stream and has checked ``voice`` and the model)."""
        P = self._history
        if voice is not None:
            self._state[voice] = 0
            self._clocks[voice] = 0
            if self._level is not None:
                self._level[voice] = self._model.level.start
            if self._kept:
                self._window[voice] = 0
            if self._pitch is not None:
                self._pitch_est[voice] = 0
            if self._surprise is not None:
                self._surprise[voice] = _NO_SURPRISE
            if P:  # the voice's past inputs, which its next windows would read
                f = int(self._fill[0])
                self._hist[f - P : f, voice] = 0
            return
        self._state[:] = 0
        self._put_surprise(None)
        if self._level is not None:
            self._level[:] = self._model.level.start
        if self._kept:
            self._window[:] = 0
        if self._pitch is not None:
            self._pitch_est[:] = 0
        if P:
            self._hist[:] = 0
            self._fill[0] = P
        if self._voices is not None:
            self._clocks[:] = 0
        else:
            self._t = 0
        if self._resamplers is not None:
            for r in self._resamplers:
                r.reset()
            self._pending = np.zeros((0, self._model.n_out))

    # ------------------------------------------------------------------ real-time setup

    def _default_max_block(self):
        """DEFAULT_MAX_BLOCK steps, or fewer for a wide model or many voices (DEFAULT_BLOCK_BYTES)."""
        lanes = 1 if self._voices is None else self._clocks.size
        per_step = lanes * (self._n_in + self._n_out) * self._dtype.itemsize
        return max(1, min(DEFAULT_MAX_BLOCK, DEFAULT_BLOCK_BYTES // per_step))

    def prepare(self, max_block=None):
        """Allocate the buffers and compile and warm the kernel for blocks of up to ``max_block``.

        After this, :meth:`process` never waits for numba and, given ``out=``, allocates nothing.
        Longer blocks still work: they run in pieces of ``max_block`` steps. The first call in a
        process compiles the C entry point, or loads it from numba's cache (a second or so);
        later calls only resize buffers. The stream's state and clock are not changed.

        Parameters
        ----------
        max_block : int, optional
            The longest block (in samples) expected. Default: :data:`DEFAULT_MAX_BLOCK`, or fewer
            steps where their inputs and outputs would take more than :data:`DEFAULT_BLOCK_BYTES`
            (a softmax of 65,536 classes: 63 steps).

        Returns
        -------
        Stream
            ``self``, so that ``Stream(model).prepare(512)`` reads naturally.

        Raises
        ------
        ParameterError
            If ``max_block`` is not a positive integer up to :data:`MAX_BLOCK`.
        CwfastError
            If the compiled entry point and the kernel disagree (a stale numba cache), or another
            thread is using the stream.
            Also if the buffers need more memory than is available (2**16 voices in blocks of
            2**20 samples ask for terabytes), before any is allocated.
        MemoryError
            If the buffers do not fit after all; a stream that was prepared stays prepared as it was.
        """
        if max_block is not None:
            max_block = _positive_int("max_block", max_block, maximum=MAX_BLOCK)
        self._enter()
        try:
            return self._prepare_checked(self._default_max_block() if max_block is None else max_block)
        finally:
            self._lock.release()

    def _prepare_checked(self, max_block):
        """:meth:`_prepare`, once the buffers are found to fit; a MemoryError all the same leaves
        a prepared stream as it was. The caller holds the lock."""
        self._check_buffers_fit(max_block)
        previous = self._max_block if self._entry is not None else 0
        try:
            return self._prepare(max_block)
        except MemoryError:
            if previous:  # a failed call changes nothing: back to the buffers it had
                self._prepare(previous)
            raise

    def _check_buffers_fit(self, max_block):
        """CwfastError if the buffers of blocks of ``max_block`` cannot fit in memory: per step and
        voice, the inputs and outputs twice (the check of the entry point runs the kernel beside
        it), the gains and the inputs as read (of a level and a surprise), with room to spare; and
        a blocked stream's work, which grows with the block (twice too)."""
        from .budget import check_fits

        model = self._model
        itemsize = np.dtype(model.dtype).itemsize
        lanes = 1 if self._voices is None else self._clocks.size
        per_step = (2 * model.n_in + 2 * model.n_out + 2) * itemsize + 8
        work = 2 * _blocked_binding(model, max_block).work_size * itemsize if self._blocked else 0
        voices = "" if self._voices is None else f" for {self._voices:,} voices"
        check_fits(max_block * lanes * per_step + work, f"blocks of {max_block:,} samples{voices}",
                   "prepare for shorter blocks (max_block)" + (" or fewer voices" if voices else ""))

    def _prepare(self, max_block):
        from . import _realtime as rt

        model = self._model
        dtype = model.dtype
        model.check_runnable()
        self._entry = self._fast = None  # until the new entry has passed the check below
        if self._blocked:
            binding, lanes = _blocked_binding(model, max_block), ()
        elif self._voices is None:
            binding, lanes = _BINDINGS[model.realtime_kind](model), ()
        else:
            binding, lanes = _voices_binding(model, self._clocks, self._voices), (self._clocks.size,)
        self._allocate_history(max_block, lanes)
        self._allocate_window(max_block, lanes[0] if lanes else 1)
        self._binding = binding
        self._max_block = max_block
        self._x = np.zeros((max_block, *lanes, model.n_in), dtype=dtype)
        self._y = np.zeros((max_block, *lanes, model.n_out), dtype=dtype)
        self._work = np.zeros(binding.work_size, dtype=dtype)
        self._gains = np.zeros((lanes[0] if lanes else 1, max_block))
        if model.output == "mixture" and model.n_in == 1:  # room for what a surprise-following scale reads
            self._raw = np.zeros((lanes[0] if lanes else 1, max_block), dtype=dtype)
        self._levels_before = None if self._level is None else self._level.copy()
        entry = rt.entry(binding.kind, dtype)[1]
        self._context = np.zeros(rt.CONTEXT_SIZE, dtype=np.int64)
        self._context_p = self._context.ctypes.data
        self._bind_stages(lanes)
        self._bind_pointers()

        # Check the entry against the kernel called directly: they must agree bit for bit, or the
        # entry was loaded from a stale cache. Then warm up (caches, branch predictors) with the
        # entry last, so the first real block finds everything hot. The state is restored.
        # (With voices the clocks live in an array the entry advances: saved and put back in place.)
        warm = np.random.default_rng(0).uniform(-1, 1, size=self._x.shape).astype(dtype)
        saved = self._snapshot()
        state_direct = self._network_snapshot()
        clocks = None if self._voices is None else self._clocks
        saved_clocks = None if clocks is None else clocks.copy()
        clocks_direct = self._t if clocks is None else clocks.copy()
        y_direct = np.empty_like(self._y)
        binding.forward(self._theta, warm, clocks_direct, state_direct, np.empty_like(self._work), y_direct)
        c = self._context
        try:
            for _ in range(2):
                self._x[:] = warm
                self._restore(saved)
                if clocks is not None:
                    clocks[:] = saved_clocks
                c[rt.N_STEPS], c[rt.T0] = max_block, self._t or 0
                status = entry(self._context_p)
                agrees = (np.array_equal(self._network_snapshot(), state_direct, equal_nan=True)
                          and np.array_equal(self._y, y_direct, equal_nan=True))
                if clocks is not None:
                    agrees = agrees and np.array_equal(clocks, clocks_direct)
                if status != rt.OK or not agrees:
                    raise CwfastError(
                        "the real-time entry point disagrees with the forward kernel (stale numba cache?); "
                        "clear the __pycache__ folder of cwfast and retry"
                    )
        finally:
            self._restore(saved)
            if clocks is not None:
                clocks[:] = saved_clocks
        self._x[:] = 0  # padding voices read their inputs from here: zeros, always
        self._entry = entry
        if self._voices is None and self._resamplers is None:  # what process()'s fast path reads
            self._fast = (self._x, self._y, max_block, self._n_in, self._n_out, np.dtype(dtype),
                          self._level is None and not self._softmax)
        return self

    def _follow_model(self):
        """Catch up with the model after its parameter vector was replaced, or its structure changed:
        new clock periods (``set_periods``) prepare the stream again; a prediction or a level added
        or removed is refused, since the stream's buffers and state were built for the old one."""
        model = self._model
        if model._structure_revision != self._revision:
            self._check_structure()
            self._prepare(self._max_block)  # the periods changed: a binding with the new layout
            self._revision = model._structure_revision
        else:
            self._bind_pointers()

    def _check_structure(self):
        """CwfastError if the model gained or lost a linear prediction, a level or a pitch predictor
        (or one that reads back another span) since the stream was built: its buffers and state
        were built for the old one. Another pitch predictor of the same span is taken, from no
        estimate (the old lags may lie outside its range; its next search finds its own)."""
        model = self._model
        history = None if model.pitch is None else model.pitch.history
        if (model.prediction, model.level is None, history) != (
                self._n_taps, self._level is None, None if self._pitch is None else self._pitch.history):
            raise CwfastError("the model's linear prediction, level normalisation or pitch predictor changed after "
                              "this stream was built; build a new Stream for the model as it is now")
        if model.pitch is not self._pitch:
            self._pitch = model.pitch
            self._pitch_est[:] = 0
            self._pitch_scratch = np.zeros(self._pitch.window + self._pitch.hi)

    def _bind_stages(self, lanes):
        """The stages' context (:mod:`cwfast._realtime`'s ``S_*`` slots) for the buffers just
        allocated, and their entries, for a softmax or mixture model (a level, a prediction and a
        surprise are a one-input mixture model's); what runs is set by :meth:`_follow_stages`."""
        from . import _realtime as rt

        self._stages = None
        if not self._softmax:
            return
        dtype = self._model.dtype
        self._stages = (rt.entry("stages_before", dtype)[1], rt.entry("stages_after", dtype)[1])
        c = self._stage_context = np.zeros(rt.STAGE_CONTEXT_SIZE, dtype=np.int64)
        self._stage_context_p = c.ctypes.data
        self._stage_floats = np.zeros(rt.STAGE_FLOATS)
        c[rt.S_X], c[rt.S_Y] = self._x.ctypes.data, self._y.ctypes.data
        c[rt.S_N_IN], c[rt.S_N_OUT] = self._n_in, self._n_out
        c[rt.S_LANES], c[rt.S_PADDED] = (1, 1) if self._voices is None else (self._voices, lanes[0])
        c[rt.S_GAINS], c[rt.S_COLUMNS], c[rt.S_LOGITS] = self._gains.ctypes.data, self._max_block, self._logits
        if self._raw is not None:
            c[rt.S_RAW] = self._raw.ctypes.data
        if self._level is not None:
            c[rt.S_LEVEL], c[rt.S_LEVEL_BEFORE] = self._level.ctypes.data, self._levels_before.ctypes.data
        if self._kept:
            c[rt.S_WINDOW], c[rt.S_WINDOW_COLUMNS], c[rt.S_KEPT] = (self._window.ctypes.data, self._window.shape[1],
                                                                  self._kept)
        c[rt.S_N_TAPS] = self._n_taps
        if self._pitch is not None:
            c[rt.S_PITCH_EST], c[rt.S_PITCH_E] = self._pitch_est.ctypes.data, self._pitch_scratch.ctypes.data
            if self._voices is not None:
                c[rt.S_CLOCKS] = self._clocks.ctypes.data
        c[rt.S_FLOATS] = self._stage_floats.ctypes.data
        self._follow_stages()

    def _follow_stages(self):
        """Write which stages run, and their parameters, into the stages' context: the model's
        level and surprise as they are now (a stream follows them live, as it follows the
        parameters), and the surprise states' address (made when the model first has one)."""
        from . import _realtime as rt

        model, c, f = self._model, self._stage_context, self._stage_floats
        level, surprise = model.level, model.surprise
        flags = rt.STAGE_FINISH
        if level is not None:
            flags |= rt.STAGE_LEVEL
            f[rt.LEVEL_ALPHA], f[rt.LEVEL_FLOOR], f[rt.LEVEL_CEILING] = level.alpha, level.floor, level.ceiling
        if self._n_taps:
            flags |= rt.STAGE_PREDICTION
        if self._pitch is not None:  # (its array stays referenced by self._pitch while its address is used)
            flags |= rt.STAGE_PITCH
            self._pitch_cfg = model._pitch_config()
            c[rt.S_PITCH_CFG], c[rt.S_PITCH_A] = self._pitch_cfg.ctypes.data, self._pitch.coefficients.ctypes.data
            c[rt.S_N_PITCH_A] = self._pitch.coefficients.size
        if surprise is not None:
            if self._surprise is None:  # the model was given one after the stream was built
                self._put_surprise(np.tile(_NO_SURPRISE, (1, 1)))
            flags |= rt.STAGE_SURPRISE
            f[rt.SURPRISE_ALPHA], f[rt.SURPRISE_BETA], f[rt.SURPRISE_INV_MEAN] = (surprise.alpha, surprise.beta,
                                                                                  1.0 / surprise.mean)
            c[rt.S_SURPRISE] = self._surprise.ctypes.data
        elif self._surprise is not None:  # taken off the model: given back later, it starts anew (as from `state`)
            self._surprise = None
        c[rt.S_FLAGS] = flags
        self._followed = (level, surprise, self._surprise)

    def _bind_pointers(self):
        """Write the buffers' addresses and sizes into the context (again if the model's
        parameter vector was replaced)."""
        from . import _realtime as rt

        self._theta = self._model._params
        if self._stages is not None:  # the taps are the parameters' last, before the pitch gain if any
            end = self._theta.size - (self._pitch is not None)
            if self._n_taps:
                self._stage_context[rt.S_TAPS] = self._theta[end - self._n_taps : end].ctypes.data
            if self._pitch is not None:
                self._stage_context[rt.S_PITCH_GAIN] = self._theta[end:].ctypes.data
        c = self._context
        c[rt.THETA], c[rt.N_THETA] = self._theta.ctypes.data, self._theta.size
        c[rt.X], c[rt.N_IN] = self._x.ctypes.data, self._n_in
        c[rt.STATE], c[rt.WORK], c[rt.N_HIDDEN] = self._state.ctypes.data, self._work.ctypes.data, self._model.n_hidden
        c[rt.Y], c[rt.N_OUT] = self._y.ctypes.data, self._n_out
        for slot, value in self._binding.slots.items():
            c[slot] = value.ctypes.data if isinstance(value, np.ndarray) else value
        if self._history:
            c[rt.HISTORY], c[rt.HIST], c[rt.HIST_ROWS] = self._history, self._hist.ctypes.data, self._hist.shape[0]
            c[rt.FILL] = self._fill.ctypes.data
        c[rt.INPUTS_FLUSHED] = self._level is not None  # the level's stage flushes them, before it divides

    # ------------------------------------------------------------------ processing

    def process(self, block, *, out=None):
        """Run one block.

        Parameters
        ----------
        block : ndarray, shape (n_steps, n_in), or (voices, n_steps, n_in) with ``voices``
            The next ``n_steps`` inputs of the sequence (``n_in`` may be 0), at :attr:`sample_rate`.
            Any real dtype and memory layout; it is copied into the stream's own buffer.
        out : ndarray, shape (n_steps, n_out), or (voices, n_steps, n_out), model dtype, optional
            Where to write the output; returned. Without it a new array is allocated. A block
            already in the model's dtype, at most :attr:`max_block` long, with ``out`` given,
            takes the shortest path (no conversion, no pieces; the same results as any other).

        Returns
        -------
        ndarray, shape (n_steps, n_out), or (voices, n_steps, n_out)
            Linear outputs, class probabilities for a softmax model, or a mixture model's weights,
            means and scales (as ``forward``). Never a view of an internal buffer.

        Raises
        ------
        ParameterError
            If the block or ``out`` has the wrong shape or dtype, or the block is not finite, or
            holds a value too large for the model's dtype (or, with a level, one its smallest
            gain would make so), unless the stream was built with ``bad_input="zero"``; the
            message says which. A failed call leaves the stream as it was (``out`` may be partly
            written).
        CwfastError
            If another thread is using the stream, or the model gained or lost a linear
            prediction, a level or a pitch predictor since the stream was built.
        """
        if not self._lock.acquire(False):  # _enter(), inlined: this is the hot path
            self._enter()
        try:
            if self._requested:
                self._do_requested()
            fast = self._fast
            # The real-time call, checked in a few comparisons: one voice, prepared, no resampling,
            # a block and `out` already in the model's dtype, the block no longer than max_block.
            # It runs what _process would (the same checks refuse the same blocks; the entry
            # checks the values), without its conversions, slices and piece loop.
            if fast is not None and out is not None and block.__class__ is np.ndarray \
                    and out.__class__ is np.ndarray:
                x_buffer, y_buffer, max_block, n_in, n_out, dtype, plain = fast
                shape = block.shape
                # (`is` first; == for the equal dtype objects of buffers made by np.ctypeslib or
                # np.frombuffer, which audio callbacks hand over)
                if (block.dtype is dtype or block.dtype == dtype) and (out.dtype is dtype or out.dtype == dtype) \
                        and len(shape) == 2 and shape[1] == n_in \
                        and 0 < shape[0] <= max_block and out.shape == (shape[0], n_out) \
                        and out.flags.writeable and self._model._params is self._theta \
                        and self._model._structure_revision == self._revision:
                    n = shape[0]
                    if n < max_block:  # else no slices: the buffers are the block's shape
                        x_buffer, y_buffer = x_buffer[:n], y_buffer[:n]
                    x_buffer[...] = block
                    if plain:  # _piece, inlined (one voice, no stages)
                        context = self._context
                        context[_N_STEPS] = n
                        context[_T0] = self._t
                        if self._entry(self._context_p) != 0:
                            _refuse(block, dtype)
                        self._t += n
                        out[...] = y_buffer
                    else:
                        self._piece(n, block)
                        out[...] = y_buffer
                    return out
            return self._process(block, out)
        except _RefusedValues as refused:
            message = str(refused)
            if self._zero_bad:  # refused before anything moved: run it again, its bad values read as 0
                try:
                    out = self._process(self._zeroed(block), out)
                    self._bad_blocks += 1
                    return out
                except _RefusedValues as again:  # (a value at the limit that rounding took over it)
                    message = str(again)
            raise ParameterError(message) from None
        finally:
            self._lock.release()

    def _process(self, block, out):
        n_in, n_out, dtype = self._n_in, self._n_out, self._dtype
        if not isinstance(block, np.ndarray):
            try:
                block = np.asarray(block)
            except (TypeError, ValueError) as exc:
                raise ParameterError(f"block must be a numeric array ({exc})") from None
        if block.dtype is not dtype and block.dtype.kind not in "fiu":  # before the shape: "abc" has shape ()
            raise ParameterError(f"block has dtype {block.dtype}; it must be a real (float or integer) array")
        if self._voices is not None:
            return self._process_voices(block, out)
        shape = block.shape
        if len(shape) != 2 or shape[1] != n_in:
            raise ParameterError(f"block has shape {shape}; a stream takes (n_steps, {n_in})")
        n_steps = shape[0]
        if out is None:
            out = np.empty((n_steps, n_out), dtype=dtype)
        elif not isinstance(out, np.ndarray) or out.shape != (n_steps, n_out) or out.dtype != dtype or not out.flags.writeable:
            raise ParameterError(f"out must be a writeable ndarray of shape {(n_steps, n_out)} and dtype {dtype.name}")
        if self._entry is None:
            self._prepare_checked(self._default_max_block())
        if self._resamplers is not None:
            return self._process_resampled(block, out)
        if n_steps > self._max_block:
            # Pieces after the first would meet a bad value after the state moved on: check the
            # whole block first (a block of one piece is checked by the entry, before it runs).
            self._check_long_block(block)
            block = _unaliased(block, out)
        self._run(block, out)
        return out

    def _run(self, block, out):
        """Run the model over ``block`` at the model's rate, writing ``out``; atomic on bad input."""
        n_steps = block.shape[0]
        if self._model._params is not self._theta or self._model._structure_revision != self._revision:
            self._follow_model()
        chunk = self._max_block
        same_dtype = block.dtype is self._dtype or block.dtype == self._dtype
        narrowing = not same_dtype and block.dtype.kind == "f" and block.dtype.itemsize > self._dtype.itemsize
        x_buffer, y_buffer = self._x, self._y
        for a in range(0, n_steps, chunk):
            m = min(chunk, n_steps - a)
            piece = block[a : a + m]
            if same_dtype:
                x_buffer[:m] = piece
            elif narrowing:  # values beyond the model's range become inf, which the entry refuses
                with np.errstate(over="ignore"):
                    np.copyto(x_buffer[:m], piece, casting="unsafe")
            else:
                np.copyto(x_buffer[:m], piece, casting="unsafe")
            # Only the first piece can fail (the caller checked longer blocks), before anything moved.
            self._piece(m, piece)
            out[a : a + m] = y_buffer[:m]

    def _zeroed(self, block):
        """A float64 copy of ``block`` with every value :meth:`process` refuses read as 0: NaN,
        infinity, or beyond what the model's dtype holds (after the level's smallest gain
        divides it, or the resampling filter's gain multiplies it). Off the real-time path."""
        limit = float(np.finfo(self._dtype).max)
        if self._level is not None and self._model.level is not None:
            limit = level_limit(self._model.level, self._dtype)
        if self._resamplers is not None:
            limit /= self._resamplers[0].gain
        x = np.array(block, dtype=np.float64)
        read = x
        if self._resamplers is None:
            # Compared as the model reads them, in its dtype, as the refusal compares them: a
            # float64 value at the level's limit rounds past it in float32, and was kept.
            with np.errstate(over="ignore"):
                read = x.astype(self._dtype).astype(np.float64)
        x[~(np.abs(read) <= limit)] = 0.0  # (NaN compares false)
        return x

    def _check_long_block(self, block):
        """Refuse, before any piece runs, a block longer than max_block that a later piece would
        refuse: a NaN or infinity, a value infinite in the model's dtype, or, with a level, one
        that dividing by the level's smallest gain makes infinite (3e38 in float32)."""
        _check_values(block, self._dtype)
        level = self._model.level
        if self._level is not None and level is not None:
            _level_range(block, level, self._dtype)

    def _piece(self, m, block):
        """Run the entry over the first ``m`` steps of the input buffer, with the stages around it
        (a level, a prediction, a surprise, the head's softmax and scales: compiled, on the
        buffers), so that the output buffer's first ``m`` rows hold what ``forward`` returns.
        Refused (NaN or infinity): the states, the clocks and the levels are unchanged, and the
        error says what of ``block`` (the inputs as given, before the buffer) was refused."""
        context = self._context
        context[_N_STEPS] = m
        one = self._voices is None  # voices keep their clocks in the entry's array
        if one:
            context[_T0] = self._t
        stages = self._stages
        if stages is not None:
            model, followed = self._model, self._followed
            if model.level is not followed[0] or model.surprise is not followed[1] or self._surprise is not followed[2]:
                self._follow_stages()
            self._stage_context[_S_STEPS] = m
            if one:
                self._stage_context[_S_T0] = self._t
            if stages[0](self._stage_context_p) != 0:  # nothing has moved
                _level_range(self._x[:m], model.level, self._dtype)  # says why
                raise _RefusedValues(_NOT_FINITE)
        if self._entry(self._context_p) != 0:
            if self._level is not None:  # nothing else has moved yet
                self._level[:] = self._levels_before
            _refuse(block, self._dtype)
        if one:
            self._t += m
        if stages is not None:
            stages[1](self._stage_context_p)

    def _process_voices(self, block, out):
        """:meth:`process` with voices: block (V, n_steps, n_in), out (V, n_steps, n_out)."""
        voices, n_in, n_out, dtype = self._voices, self._n_in, self._n_out, self._dtype
        shape = block.shape
        if len(shape) != 3 or shape[0] != voices or shape[2] != n_in:
            raise ParameterError(f"block has shape {shape}; a stream of {voices} voices takes ({voices}, n_steps, {n_in})")
        n_steps = shape[1]
        want = (voices, n_steps, n_out)
        if out is None:
            out = np.empty(want, dtype=dtype)
        elif not isinstance(out, np.ndarray) or out.shape != want or out.dtype != dtype or not out.flags.writeable:
            raise ParameterError(f"out must be a writeable ndarray of shape {want} and dtype {dtype.name}")
        if self._entry is None:
            self._prepare_checked(self._default_max_block())
        if n_steps > self._max_block:
            self._check_long_block(block)
            block = _unaliased(block, out)
        if self._model._params is not self._theta or self._model._structure_revision != self._revision:
            self._follow_model()
        chunk = self._max_block
        narrowing = block.dtype.kind == "f" and block.dtype.itemsize > dtype.itemsize
        x_buffer, y_buffer = self._x, self._y
        for a in range(0, n_steps, chunk):
            m = min(chunk, n_steps - a)
            piece = block if m == n_steps else block[:, a : a + m]
            if narrowing:  # overflow gives inf, which the entry refuses
                with np.errstate(over="ignore"):
                    np.copyto(x_buffer[:m, :voices], piece.transpose(1, 0, 2), casting="unsafe")
            else:  # (no overflow possible: errstate, which costs more than a copy, is not needed)
                np.copyto(x_buffer[:m, :voices], piece.transpose(1, 0, 2), casting="unsafe")
            y = y_buffer[:m, :voices]
            self._piece(m, piece)
            out[:, a : a + m] = y.transpose(1, 0, 2)
        return out

    def _process_resampled(self, block, out):
        into, back = self._resamplers
        if block.size:  # (a model without inputs takes blocks of (n, 0): nothing to check)
            _check_values(block, np.dtype(np.float64))  # the filters run in float64
            # The filter keeps the block's last inputs for the next calls' outputs, which are up to
            # its gain times the largest input: a value that would overflow the model's dtype there
            # would make every later block fail, so it is refused now, before the filter takes it.
            limit = float(np.finfo(self._dtype).max) / into.gain
            peak = float(np.abs(block, dtype=np.float64).max())  # (in float64: abs(-128) overflows int8)
            if peak > limit:
                raise _RefusedValues(f"block contains values too large for the model's dtype {self._dtype.name} once "
                                     f"resampled ({peak:g}; at most {limit:.3g})")
        saved = into.snapshot()
        with np.errstate(over="ignore"):  # (rounding at the limit can still reach inf, which is refused below)
            x = into.process(block).astype(self._dtype)
        y = np.empty((x.shape[0], self._n_out), dtype=self._dtype)
        try:
            if x.shape[0]:
                _check_values(x, self._dtype)
            self._run(x, y)
        except ParameterError:
            into.restore(saved)
            raise
        # The way back yields at least as many samples as came in (ceil of ceil), never fewer,
        # so a short queue is enough to hand back exactly one output per input.
        self._pending = np.concatenate([self._pending, back.process(y)])
        n = out.shape[0]
        out[:] = self._pending[:n]
        self._pending = self._pending[n:]
        return out


def _unaliased(block, out):
    """``block``, or a copy of it where ``out`` overlaps it otherwise than as the very same array: a
    block longer than max_block runs in pieces, and a piece's output written over the rows a later
    piece reads (out = block shifted by a sample, a ring buffer's way) would change that piece's input."""
    if out is not block and np.may_share_memory(block, out):
        return block.copy()
    return block


class _Binding(NamedTuple):
    """How a stream drives one architecture through :mod:`cwfast._realtime`."""

    #: The entry's kind (a key of ``_realtime.entry``).
    kind: str
    #: Length of the kernel's scratch buffer (the context's WORK slot).
    work_size: int
    #: Further context slots: int64 arrays (written as their addresses; kept alive here) or ints.
    slots: dict
    #: ``forward(theta, x, t0, state, work, y)``: the kernel the entry wraps, called from Python
    #: (allocating), so that :meth:`Stream.prepare` can check the entry against it.
    forward: Callable


def _history_rows(model):
    """P: the rows of past input a stream of ``model`` keeps (its longest input window - 1)."""
    return int(model.max_window) - 1 if model.realtime_kind in _CLOCKWORK_KINDS else 0


def _clockwork_binding(model):
    from . import _kernels
    from . import _realtime as rt

    lay = model.layout
    # Private copies in the dtype the entry reads; it holds their addresses, the binding holds them.
    layout = tuple(
        np.array(a, dtype=np.int64) for a in (lay.module_start, lay.column_start, lay.block_offset, lay.periods)
    )
    slots = dict(zip((rt.MODULE_START, rt.COLUMN_START, rt.BLOCK_OFFSET, rt.PERIODS), layout))
    slots[rt.N_MODULES] = len(lay.periods)
    P, n, n_in = _history_rows(model), model.n_hidden, model.n_in
    # With every window 1 the input offsets are module_start (what the voices entry reads then).
    input_offset = np.array(lay.input_offset if P else lay.module_start, dtype=np.int64)
    slots[rt.INPUT_OFFSET] = input_offset
    if not P:
        def forward(theta, x, t0, state, work, y):
            _kernels._forward_seq(theta, *layout, x, t0, state, work, y)

        return _Binding("clockwork", n, slots, forward)

    def forward(theta, x, t0, state, work, y):  # state: the model's layout, [h, the last P inputs]
        xp = np.concatenate([state[n:].reshape(P, n_in), x])
        _kernels._forward_padded_seq(theta, *layout, input_offset, xp, t0, state[:n], work, y)
        state[n:] = xp[xp.shape[0] - P :].reshape(-1)

    return _Binding("clockwork_windowed", n, slots, forward)


def _blocked_binding(model, max_block):
    """The binding of ``Stream(model, blocked=True)`` for blocks of up to ``max_block`` steps."""
    from . import _blocked_kernels
    from . import _realtime as rt

    base = _clockwork_binding(model)
    layout = tuple(base.slots[k] for k in (rt.MODULE_START, rt.COLUMN_START, rt.BLOCK_OFFSET, rt.PERIODS))
    size = _blocked_kernels.work_size(model.n_hidden, model.n_out, max_block, layout[0], layout[3])
    slots = dict(base.slots)
    slots[rt.WORK_SIZE] = size

    def forward(theta, x, t0, state, work, y):
        _blocked_kernels._blocked_forward(theta, *layout, x, t0, state, work, y)

    return _Binding("clockwork_blocked", size, slots, forward)


def _check_blocked(model, blocked, voices):
    """``blocked`` as a bool, or ParameterError if the stream cannot run blocked."""
    if not validate.flag("blocked", blocked):
        return False
    if model.realtime_kind == "clockwork_windows":
        raise ParameterError("blocked=True is not supported for a Clockwork RNN with input windows yet")
    if model.realtime_kind != "clockwork":
        raise ParameterError(f"blocked=True runs Clockwork RNNs and SRNs only, not {type(model).__name__} models")
    if voices is not None:
        raise ParameterError("blocked=True and voices cannot be combined (the voices already share each weight load)")
    periods = np.asarray(model.layout.periods)
    if np.any(np.diff(periods) <= 0):
        raise ParameterError(f"blocked=True needs strictly increasing periods (modules of equal periods read each "
                             f"other, so neither can run first); this model has {periods.tolist()}")
    return True


def _lstm_binding(model):
    from . import _lstm_kernels

    n = model.n_hidden

    def forward(theta, x, t0, state, work, y):  # an LSTM has no clock: t0 is not read
        _lstm_kernels._forward_seq(theta, x, state, work, y, np.empty((0, 2 * n), dtype=state.dtype),
                                   np.empty((0, 5 * n), dtype=state.dtype))

    # State [h, c] (2n, from the model's own _state_width); scratch: the four gates' pre-activations.
    return _Binding("lstm", 4 * n, {}, forward)


def _voices_binding(model, clocks, voices):
    """The binding of a stream of ``voices`` voices (clocks: the stream's (padded,) int64 clocks)."""
    from . import _realtime as rt
    from . import _voice_kernels

    padded = clocks.size
    if model.realtime_kind == "lstm":
        slots = {rt.N_VOICES: padded, rt.N_REAL_VOICES: voices, rt.CLOCKS: clocks}

        def forward(theta, x, clocks, state, work, y):
            _voice_kernels._lstm_forward_voices(theta, x, voices, clocks, state.reshape(-1), work, y)

        return _Binding("lstm_voices", padded * 4 * model.n_hidden, slots, forward)
    base = _clockwork_binding(model)
    layout = tuple(base.slots[k] for k in (rt.MODULE_START, rt.COLUMN_START, rt.BLOCK_OFFSET, rt.PERIODS,
                                           rt.INPUT_OFFSET))
    slots = dict(base.slots)
    slots[rt.N_VOICES], slots[rt.N_REAL_VOICES], slots[rt.CLOCKS] = padded, voices, clocks
    n_flags = _voice_kernels.voices_flags_size(len(layout[3]))
    slots[rt.FLAGS] = np.zeros(n_flags, dtype=np.int64)
    P, n, n_in = _history_rows(model), model.n_hidden, model.n_in
    kernel = _voice_kernels.forward_voices(padded)

    def forward(theta, x, clocks, state, work, y):  # state (padded, width): the model's layout per voice
        if not P:
            kernel(theta, *layout, x, voices, clocks, state.reshape(-1), work, y, np.zeros(n_flags, dtype=np.int64))
            return
        h = np.ascontiguousarray(state[:, :n]).reshape(-1)
        # C order, as the entry's: np.concatenate gives another order for a block of one step, and
        # the kernel compiled for it runs the voices alone (_forward_voice) to other bits.
        xp = np.ascontiguousarray(np.concatenate([state[:, n:].reshape(padded, P, n_in).transpose(1, 0, 2), x]))
        kernel(theta, *layout, xp, voices, clocks, h, work, y, np.zeros(n_flags, dtype=np.int64))
        state[:, :n] = h.reshape(padded, n)
        state[:, n:] = xp[xp.shape[0] - P :].transpose(1, 0, 2).reshape(padded, P * n_in)

    # Scratch: the kept products, the voice-minor results and states, then with input windows the
    # window pass's voice-major inputs and accumulators.
    size = _voice_kernels.voices_work_size(n, len(layout[3]), padded, P, n_in)
    return _Binding("clockwork_lanes" if kernel is _voice_kernels._forward_voices_lanes else "clockwork_voices", size,
                    slots, forward)


#: The real-time kinds of Clockwork RNNs: "clockwork_windows" is one whose modules read input
#: windows (its state carries past inputs); the binding tells the two apart by ``max_window``.
_CLOCKWORK_KINDS = frozenset({"clockwork", "clockwork_windows"})

#: The real-time kinds a stream can run with ``voices`` (through :func:`_voices_binding`).
_VOICE_KINDS = _CLOCKWORK_KINDS | {"lstm"}

#: The one place a stream looks at the architecture: ``model.realtime_kind`` -> its binding's
#: builder. An SRN declares the kind "clockwork" (a one-module Clockwork RNN).
_BINDINGS = {"clockwork": _clockwork_binding, "clockwork_windows": _clockwork_binding, "lstm": _lstm_binding}


def _refuse(block, dtype):
    """Raise the ParameterError of a block the entry refused, saying why as a block longer than
    max_block is told (:func:`_check_values`): a NaN or infinity, or a value infinite in ``dtype``
    (the entry sees either as a value not finite in its buffer). Off the real-time path: it may allocate."""
    _check_values(block, dtype)
    raise _RefusedValues(_NOT_FINITE)  # (what the entry refuses, _check_values finds: not reached)


def _level_range(block, level, dtype):
    """check_level_range's refusal, as a refusal of the block's values."""
    try:
        check_level_range(block, level, dtype, "block")
    except ParameterError as exc:
        raise _RefusedValues(str(exc)) from None


def _check_values(block, dtype):
    """Refuse a block with a NaN or infinity, or a value that becomes infinite in ``dtype``.

    Casting is monotonic, so the extremes cast decide for every element (one pass for each).
    """
    if block.dtype.kind != "f" or block.size == 0:
        return  # integers, even 64-bit ones, are finite in float32; a model with no input reads none
    lo, hi = block.min(), block.max()
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise _RefusedValues("block contains NaN or infinite values")
    if block.dtype.itemsize > dtype.itemsize:
        with np.errstate(over="ignore"):
            if not (np.isfinite(dtype.type(lo)) and np.isfinite(dtype.type(hi))):
                big = hi if abs(hi) >= abs(lo) else lo
                raise _RefusedValues(f"block contains values too large for the model's dtype {dtype.name} ({big:g})")


class _Resampler:
    """Streaming rational-rate polyphase resampler: any split of the input gives the same output.

    Uses the anti-aliasing filter of :func:`scipy.signal.resample_poly` (Kaiser window, beta 5,
    10 zero crossings each side), applied causally: output ``k`` is
    ``sum_j h[j] * xu[k * down - j]`` with ``xu`` the input upsampled by ``up`` with zeros, exactly
    what :func:`scipy.signal.upfirdn` computes. After ``N`` inputs, ``ceil(N * up / down)``
    outputs have been produced. Computed in float64.
    """

    def __init__(self, orig_rate, new_rate, channels):
        import scipy.signal

        from .budget import check_fits

        g = math.gcd(orig_rate, new_rate)
        self.up, self.down = new_rate // g, orig_rate // g
        max_rate = max(self.up, self.down)
        half_len = 10 * max_rate
        # The filter and its polyphase copy, in float64: rates with no common factor (2**31 - 1 Hz
        # against 16 kHz) make one of hundreds of GiB, which NumPy would refuse without saying why.
        check_fits(8 * 4 * (2 * half_len + 1), f"resampling between {orig_rate} and {new_rate} Hz",
                   "run the host at the model's rate, or at a rate sharing a larger factor with it")
        h = scipy.signal.firwin(2 * half_len + 1, 1.0 / max_rate, window=("kaiser", 5.0)) * self.up
        self.filter = h
        n_taps = -(-len(h) // self.up)
        padded = np.zeros(n_taps * self.up)
        padded[: len(h)] = h
        self._poly = padded.reshape(n_taps, self.up).T.copy()  # (up, n_taps): poly[p, m] = h[p + m * up]
        self._n_taps = n_taps
        self.channels = channels
        #: Group delay in input samples, and output samples per input sample.
        self.delay = (len(h) - 1) / 2 / self.up
        self.ratio = self.up / self.down
        self.reset()

    @functools.cached_property  # (computed on first use: resamplers pickled before it existed lack it)
    def gain(self):
        """The most an output can exceed the largest input by: the largest sum of |h| of one phase."""
        return float(np.abs(self._poly).sum(axis=1).max())

    def reset(self):
        self._history = np.zeros((self._n_taps - 1, self.channels))
        self._n_in = 0
        self._n_out = 0

    def snapshot(self):
        """Everything :meth:`process` changes (it replaces ``_history``, never writes into it)."""
        return self._history, self._n_in, self._n_out

    def restore(self, saved):
        self._history, self._n_in, self._n_out = saved

    def process(self, x):
        """Consume ``x`` (n, channels); return every output that it completes, (k, channels)."""
        x = np.asarray(x, dtype=np.float64)
        n_total = self._n_in + x.shape[0]
        k = np.arange(self._n_out, -(-n_total * self.up // self.down), dtype=np.int64)
        base = (k * self.down) // self.up
        phase = k * self.down - base * self.up
        buf = np.concatenate([self._history, x])
        pos = base - (self._n_in - (self._n_taps - 1))  # where input `base` sits in buf
        taps = buf[pos[:, None] - np.arange(self._n_taps)]  # (k, n_taps, channels)
        y = np.einsum("km,kmc->kc", self._poly[phase], taps)
        self._history = buf[buf.shape[0] - (self._n_taps - 1) :].copy()
        self._n_in = n_total
        self._n_out += k.size
        return y
