"""The model protocol every architecture follows, and the Clockwork RNN.

:class:`SequenceModel` is the protocol: what trainers, streams, files, the C export and the CLI
may use of a model (shapes, checks, forward, losses, population scoring, dense interchange), so
that an architecture is one subclass plus one line in :mod:`cwfast.registry`.
:class:`ClockworkRNN` keeps every parameter in one flat vector (``params``) with named views onto
it, so optimizers and evolution strategies work on the vector while readers see matrices. Only the
recurrent blocks the architecture allows exist in that vector: the forbidden (fast-to-slow) blocks
are not masked, they are absent, so training can never fill them in.
"""

from __future__ import annotations

import contextvars
import copy
import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple, Optional

import numba
import numpy as np

from . import _head_kernels, _kernels, _pitch_kernels, validate
from .errors import CwfastError, ParameterError
from .modes import FLUSH
from .codec import N_CLASSES
from .heads import (OUTPUTS, STEP_CODES, STEPS, SURPRISE_R_RANGE, LOG_SCALE_MIN, check_steps, check_target,  # noqa: F401
                    get_head, head_loss)
from .persistence import save_model
from .schedule import Layout, exponential_periods, split_units


#: The smallest gain of a level-normalised model (:class:`Level`): below it the input is silence
#: and quantisation noise, which dividing by its level would blow up.
LEVEL_FLOOR = 1e-4

#: The most taps a linear prediction may have (:attr:`SequenceModel.prediction`): 4096 is 0.26 s
#: at 16 kHz, far beyond what a network needs, and a bound on the state and the exported C.
MAX_PREDICTION_TAPS = 4096

#: The least normalised correlation a :class:`Pitch` predictor takes for a pitch (the screened recipe's).
PITCH_GATE = 0.3

#: The highest sample rate :meth:`Pitch.for_rate` serves: above it the recipe's 31-ms window
#: (``rate // 32`` samples) is longer than :data:`MAX_PREDICTION_TAPS`.
PITCH_MAX_RATE = 32 * (MAX_PREDICTION_TAPS + 1) - 1

#: Steps per piece when :meth:`SequenceModel.loss` scores a long sequence: the outputs and the head's
#: arithmetic then take memory for a piece (16 MB with 256 classes), not for the whole sequence.
LOSS_CHUNK = 4096

#: A threading.Event that, once set, stops :meth:`SequenceModel.loss` and :meth:`SequenceModel.advance`
#: at their next chunk (:class:`Stopped`): how the clips a corpus scores side by side
#: (:func:`cwfast.train_audio._each_clip`) stop when the main thread is interrupted. Ctrl-C reaches
#: the main thread only, and a kernel cannot be interrupted: a thread ran on to its clip's end.
STOP = contextvars.ContextVar("cwfast_model_stop", default=None)


class Stopped(Exception):
    """A pass stopped by :data:`STOP`: whoever set it is raising an error of its own."""


def _check_stop():
    stop = STOP.get()
    if stop is not None and stop.is_set():
        raise Stopped

#: The largest exponent a :class:`Surprise` scale may have: the fit searches up to 1.5; beyond 4
#: a short run of surprises would swing the scales by orders of magnitude.
MAX_SURPRISE_BETA = 4.0
#: The range of a :class:`Surprise` scale's mean: far beyond what a model measures (near 1.5).
SURPRISE_RANGE = (1e-12, 1e12)


@dataclass(frozen=True)
class State:
    """Recurrent state between calls: hidden units and the global step.

    Attributes
    ----------
    h : ndarray, shape (width,) or (batch, width)
        The hidden state after step ``t - 1`` (``width = n_hidden`` for most models; an LSTM's
        is ``[h, c]``; a Clockwork RNN with input windows appends its last ``max_window - 1``
        inputs, oldest first).
    t : int
        The next step's index; the clock schedule is ``t % period == 0``.
    """

    h: np.ndarray
    t: int
    #: A model with a :class:`Surprise` scale: (3,) or (batch, 3) float64, its r and the previous
    #: step's mixture mean and spread (spread 0 before the first step). None: r = 1, no step yet.
    #: Only the paths that score or report the model's distribution keep it (``forward``,
    #: ``loss``, ``advance``, :class:`cwfast.Stream`); generation holds r at 1, and ``loss_and_grad``
    #: refuses such a model.
    surprise: Optional[np.ndarray] = None


#: Samples :class:`Level` tracks at a time (its state carried between pieces): the network's
#: reading of them, which the level's gains come with, is held a piece at a time.
LEVEL_PIECE = 2**16


@dataclass(frozen=True)
class Level:
    """Level normalisation of an autoregressive mixture model (:attr:`SequenceModel.level`).

    The model tracks the recent level of its input v (the previous sample),
    ``b(t) = b(t-1) + alpha * (|v(t)| - b(t-1))``, from ``start`` at a zero state, and with the
    gain ``g(t) = min(max(b(t), floor), ceiling)`` its network reads ``v(t) / g(t)`` and gives its
    mixture's means and scales in those units: the head's means are the network's times g(t),
    its log-scales the network's plus log g(t). A fade, a decay or a quiet voice then looks to
    the network like the loud passages it learnt from, as the adaptive scale of a linear
    predictor sees them (docs/results.md, "Level normalisation"). The level is the last element
    of the model's state.

    Attributes
    ----------
    alpha : float
        In (0, 1]: the level follows about the last ``1 / alpha`` samples.
    start : float
        > 0: the level at a zero state (training sets the training audio's mean absolute value).
    floor, ceiling : float
        The gain's bounds, ``LEVEL_FLOOR <= floor <= ceiling`` (``ceiling`` may be infinite).
        Between them the network cannot tell a loud passage from a quiet one, so nothing in it
        holds the loudness of what it generates: that drifts until a bound (docs/results.md,
        "The level's band"). Training sets them from the training audio's levels
        (:data:`cwfast.modes.LEVEL_BAND`), so that beyond them the network sees loudness
        as it was.
    """

    alpha: float
    start: float
    floor: float = LEVEL_FLOOR
    ceiling: float = math.inf

    @classmethod
    def checked(cls, alpha, start, floor=LEVEL_FLOOR, ceiling=math.inf):
        alpha = validate.finite_float("level alpha", alpha)
        start = validate.finite_float("level start", start)
        floor = validate.finite_float("level floor", floor)
        ceiling = validate.bound("level ceiling", ceiling)
        if not 0.0 < alpha <= 1.0:
            raise ParameterError(f"level alpha={alpha} must be in (0, 1]")
        if start <= 0.0:
            raise ParameterError(f"level start={start} must be positive")
        if not LEVEL_FLOOR <= floor <= ceiling:
            raise ParameterError(f"level floor={floor} and ceiling={ceiling} must satisfy "
                                 f"{LEVEL_FLOOR} <= floor <= ceiling")
        return cls(alpha, start, floor, ceiling)

    def levels(self, x):
        """The level b(t) over the 1-D signal ``x``, starting at ``start`` (a zero state), before the
        bounds: what training chooses the floor and ceiling from. Shape (x.size,), float64.
        ParameterError if ``x`` is not 1-D real and finite."""
        x = self._signal(x)
        gains = np.empty(x.size)
        for start, piece in self._pieces(x, LEVEL_PIECE, x.dtype):
            gains[start : start + piece.size] = piece
        return gains

    def levels_in_pieces(self, x, size, dtype=None):
        """:meth:`levels` over ``x`` a piece of ``size`` samples at a time, in memory of a piece
        whatever the length of ``x``: yields ``(start, gains)``, the gains of ``x[start : start +
        size]`` (float64, in an array reused for the next piece: copy what is kept). ``dtype``: the
        precision the level is tracked in, ``x``'s own float type by default, as :meth:`levels`;
        float32 or float64. ParameterError at the call (not at the first piece) if an argument is wrong."""
        x = self._signal(x)
        size = validate.positive_int("size", size)
        try:
            tracked = x.dtype if dtype is None else np.dtype(dtype)
        except TypeError:
            tracked = None
        if tracked not in (np.float32, np.float64):
            raise ParameterError(f"dtype={dtype!r} must be float32 or float64: the precision the level is tracked in")
        return self._pieces(x, size, tracked)

    @staticmethod
    def _signal(x):
        x = validate.as_array("x", x)
        # In x's own precision if it is a float (training's levels are float32's); else float64.
        x = validate.real_array("x", x, x.dtype if x.dtype in (np.float32, np.float64) else np.float64)
        if x.ndim != 1:
            raise ParameterError(f"x has shape {x.shape}; the level is tracked over a 1-D signal")
        return x

    def _pieces(self, x, size, dtype):
        levels = np.full(1, self.start, dtype=dtype)  # the state, carried from piece to piece
        size = max(1, min(size, x.size))
        xn = np.empty((1, size), dtype=dtype)
        gains = np.empty((1, size))
        for start in range(0, x.size, size):
            n = min(size, x.size - start)
            piece = x[None, start : start + n].astype(dtype, copy=False)
            _head_kernels._level_track(piece, levels, self.alpha, 0.0, np.inf, xn[:, :n], gains[:, :n])
            yield start, gains[0, :n]


def level_limit(level, dtype):
    """The largest input ``level``'s smallest gain divides into a finite value of ``dtype``."""
    return float(np.finfo(dtype).max) * level.floor


def check_level_range(x, level, dtype, name):
    """ParameterError if a value of ``x`` divided by the level's smallest gain is infinite in
    ``dtype`` (3e38 in float32): the network would read inf, and its outputs NaN."""
    if x.size:
        limit = level_limit(level, dtype)
        # From the extremes: no float64 copy of x (this runs on every levelled forward pass,
        # training's included). A NaN makes the peak NaN, which passes: the callers refuse NaN.
        peak = max(float(x.max()), -float(x.min()))
        if peak > limit:
            raise ParameterError(f"{name} contains values too large for the model's level ({peak:g}; at most "
                                 f"{limit:.3g}, the model's dtype's largest value times the level's floor)")


@dataclass(frozen=True)
class Surprise:
    """Mixture scales that follow the model's recent surprise (:attr:`SequenceModel.surprise`).

    The sample an autoregressive model reads at step t, v(t), is the one its mixture predicted
    at step t - 1; how far it fell from that mixture's weighted mean m, in units of its weighted
    scale s, ``e = |v(t) - m| / s``, is the model's surprise. The model keeps
    ``r(t) = r(t-1) + alpha * (e / mean - r(t-1))`` (1 at a zero state) and multiplies every
    scale of step t by ``r(t) ** beta``: after a passage it predicted worse than usual it widens
    its spread, after one it predicted better it narrows it, as the LPC-32 baseline's adaptive
    Laplace scale follows its recent residual. A quiet ending or a fade, which the network's own
    spread does not follow down, is then scored in its own units (docs/results.md, "Scales that
    follow the surprise").

    It is fitted after training on the validation part (:func:`cwfast.scale_fit.fit_surprise`),
    not trained (the trainers refuse a model with one). The model's distribution (``forward``,
    ``loss``, ``Stream.process`` and its voices, the C export's ``process``) includes it;
    generation holds r at 1 (``sample``, :func:`cwfast.render.render`, ``cwfast generate``, the
    C export's ``generate``): run on its own samples the recursion feeds on itself and the audio
    fades to silence or grows loud and unpitched (docs/results.md).

    Attributes
    ----------
    alpha : float
        In (0, 1]: r follows about the last ``1 / alpha`` steps' surprise.
    beta : float
        > 0: the exponent of r on the scales.
    mean : float
        In :data:`SURPRISE_RANGE`: the surprise r is measured against (the validation part's
        mean of e).
    """

    alpha: float
    beta: float
    mean: float

    @classmethod
    def checked(cls, alpha, beta, mean):
        alpha = validate.finite_float("surprise alpha", alpha)
        beta = validate.finite_float("surprise beta", beta)
        mean = validate.finite_float("surprise mean", mean)
        if not 0.0 < alpha <= 1.0:
            raise ParameterError(f"surprise alpha={alpha} must be in (0, 1]")
        if not 0.0 < beta <= MAX_SURPRISE_BETA:
            raise ParameterError(f"surprise beta={beta} must be in (0, {MAX_SURPRISE_BETA}]")
        if not SURPRISE_RANGE[0] <= mean <= SURPRISE_RANGE[1]:
            raise ParameterError(f"surprise mean={mean} must be in [{SURPRISE_RANGE[0]:g}, {SURPRISE_RANGE[1]:g}]")
        return cls(alpha, beta, mean)


@dataclass(frozen=True, eq=False)
class Pitch:
    """A long-term (pitch) predictor of an autoregressive mixture model (:attr:`SequenceModel.pitch`).

    Pitched audio repeats itself a period later; a network that must carry that period through
    its clocks learns it slowly. The pitch predictor hands it over, as CELP's adaptive codebook
    does: every ``hop`` steps it finds the lag L in [``lo``, ``hi``] at which the last ``window``
    residuals of the fixed short-term predictor ``coefficients`` correlate best with themselves
    (normalised; none under ``gate``; a longer lag only if its correlation is higher by more than
    :data:`cwfast._pitch_kernels.TIE_MARGIN`, 1e-5, so that a period and its multiples, equal but
    for rounding on periodic input, give the shorter lag in Python and in the exported C alike),
    with their least-squares gain beta in [0, 1], and adds
    ``g * beta * e(t + 1 - L) * min(1, reference / r(t))`` to every component mean: the residual a
    period ago, the gain g trained with the network (the parameters' last entry,
    :attr:`SequenceModel.pitch_gain`, 0 when set), bounded where the last ``window`` inputs' RMS
    r(t) exceeds ``reference`` so that the loop cannot feed itself loud (docs/results.md, "The
    pitch predictor with its loop's level bounded"). It reads the inputs the network reads
    (level-normalised if levelled) and depends on nothing else, so the network's gradient is
    unchanged. Its kernels are :mod:`cwfast._pitch_kernels`.

    Attributes
    ----------
    coefficients : ndarray, shape (n,), float64
        The short-term predictor whose residual is searched, oldest first (as
        :func:`cwfast.lpc.fit` gives them).
    lo, hi : int
        The lags searched, ``1 <= lo <= hi``.
    window : int
        The residuals correlated, and the inputs whose RMS is bounded.
    hop : int
        Steps between searches (at global steps that are multiples of it).
    gate : float
        In [0, 1]: the least normalised correlation that counts as a pitch.
    reference : float
        > 0, or inf for no bound: the RMS above which the term is scaled down.
    """

    coefficients: np.ndarray
    lo: int
    hi: int
    window: int
    hop: int
    gate: float = PITCH_GATE
    reference: float = math.inf

    @classmethod
    def checked(cls, coefficients, lo, hi, window, hop, gate=PITCH_GATE, reference=math.inf):
        coefficients = validate.real_array("pitch coefficients", coefficients, np.float64)
        if coefficients.ndim != 1 or not 1 <= coefficients.size <= MAX_PREDICTION_TAPS:
            raise ParameterError(f"pitch coefficients have shape {coefficients.shape}; expected (n,) with "
                                 f"1 <= n <= {MAX_PREDICTION_TAPS}")
        coefficients = coefficients.copy()
        coefficients.flags.writeable = False
        lo = validate.positive_int("pitch lo", lo, maximum=MAX_PREDICTION_TAPS)
        hi = validate.positive_int("pitch hi", hi, maximum=MAX_PREDICTION_TAPS)
        if lo > hi:
            raise ParameterError(f"pitch lo={lo} must be at most hi={hi}")
        window = validate.positive_int("pitch window", window, maximum=MAX_PREDICTION_TAPS)
        hop = validate.positive_int("pitch hop", hop, maximum=MAX_PREDICTION_TAPS)
        gate = validate.finite_float("pitch gate", gate)
        if not 0.0 <= gate <= 1.0:
            raise ParameterError(f"pitch gate={gate} must be in [0, 1]")
        reference = validate.bound("pitch reference", reference)
        if not reference > 0.0:
            raise ParameterError(f"pitch reference={reference} must be positive (inf: no bound)")
        return cls(coefficients, lo, hi, window, hop, gate, reference)

    @classmethod
    def for_rate(cls, coefficients, sample_rate, reference=math.inf):
        """The measured recipe at ``sample_rate``: lags of 1 to 16.7 ms (pitches of 60 Hz to 1 kHz,
        the likeness measure's range), a 31-ms window, a search every 4 ms."""
        rate = validate.rate("sample_rate", sample_rate)
        if rate < 1000:
            raise ParameterError(f"sample_rate={rate}: a pitch predictor needs at least 1000 Hz")
        if rate > PITCH_MAX_RATE:
            raise ParameterError(f"sample_rate={rate}: a pitch predictor takes at most {PITCH_MAX_RATE} Hz (its "
                                 f"31-ms window would be {rate // 32} samples, more than {MAX_PREDICTION_TAPS})")
        return cls.checked(coefficients, rate // 1000, rate // 60, rate // 32, max(rate // 250, 1),
                           PITCH_GATE, reference)

    @property
    def history(self):
        """The inputs a search reads before the current one (the state keeps them)."""
        return self.window + self.hi + self.coefficients.size - 1

    def macs_per_step(self):
        """Multiply-adds a step costs, on average: every ``hop`` steps a search (the residuals of
        ``window + hi`` inputs, their energy, and every lag's correlation over the window), and at
        every step the residual it adds and the window's RMS."""
        n = self.coefficients.size
        search = (self.window + self.hi) * (n + 1) + (self.hi - self.lo + 2) * self.window
        return search / self.hop + n + self.window

    def as_array(self):
        """[lo, hi, window, hop, gate, reference, *coefficients]: how :meth:`SequenceModel.to_dense` saves it."""
        return np.concatenate([[self.lo, self.hi, self.window, self.hop, self.gate, self.reference],
                               self.coefficients])

    @classmethod
    def from_array(cls, values):
        values = np.asarray(values)
        if values.dtype.kind not in "fiu" or values.ndim != 1 or values.size < 7:
            raise ParameterError(f"pitch has shape {values.shape} and dtype {values.dtype}; expected (6 + n,) reals")
        lo, hi, window, hop = values[:4]
        for name, v in (("lo", lo), ("hi", hi), ("window", window), ("hop", hop)):
            if not (math.isfinite(v) and v == int(v)):
                raise ParameterError(f"pitch {name}={v} must be an integer")
        return cls.checked(values[6:], int(lo), int(hi), int(window), int(hop), float(values[4]), float(values[5]))


class _HeadContext(NamedTuple):
    """What :meth:`SequenceModel._head_in` hands the head for one batch of sequences."""

    #: (B, T) float64: the level's gain at every step, or None (no level).
    gains: Optional[np.ndarray]
    #: (B, K - 1 + T): the prediction's inputs (the K - 1 kept in the state, then the ones read), or None.
    window: Optional[np.ndarray]
    #: (B, 3) float64: the :class:`Surprise` state, advanced in place as the outputs are scored, or None.
    surprise: Optional[np.ndarray] = None
    #: (B, T): the inputs as read (before any level), from which the surprise is measured.
    inputs: Optional[np.ndarray] = None
    #: (B, T) float64: the :class:`Pitch` predictor's term at every step, before its gain, or None.
    pitch: Optional[np.ndarray] = None


def parameter_offsets(sizes, what):
    """Where each of the parameter vector's parts (``sizes``, in order) starts, and its end: (len + 1,)
    int64. ParameterError if the total is past :data:`cwfast.validate.MAX_COUNT` (counted in Python's
    exact integers: a typo such as 2**40 units would wrap int64 arithmetic)."""
    total = sum(int(size) for size in sizes)
    if total > validate.MAX_COUNT:
        raise ParameterError(f"{what} would have {total} parameters, more than {validate.MAX_COUNT}")
    return np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)


def _aligned_empty(size, dtype, alignment=64):
    """np.empty(size, dtype) starting on an ``alignment``-byte boundary (numpy gives whatever malloc
    returns, often 16 bytes past a page). The kernels' vector loads of the weights cross a cache
    line wherever a row starts off a 32-byte boundary: CW 256/8 (rows 32-float aligned from the start
    of the recurrent weights) ran at 0.93 us a sample with theta 32-byte aligned and 1.08-1.21
    otherwise, the same bits."""
    itemsize = np.dtype(dtype).itemsize
    try:
        buffer = np.empty(size * itemsize + alignment, dtype=np.uint8)
    except (MemoryError, ValueError):  # ValueError: NumPy's "array is too big" past what it can address
        raise ParameterError(f"a model of {size:,} parameters needs {size * itemsize / 2**30:.3g} GiB, more than this "
                             "machine gives; choose fewer units or shorter input windows") from None
    start = -buffer.ctypes.data % alignment
    return buffer[start : start + size * itemsize].view(dtype)


def initial_params(params, seed):
    """Fill ``params`` with N(0, 0.1) draws from ``seed``, a chunk at a time: the float64 draws of
    one call would need twice a float32 model's memory again. The values are those of one call."""
    rng = validate.rng(seed)
    chunk = 1 << 20
    for start in range(0, params.size, chunk):
        stop = min(start + chunk, params.size)
        params[start:stop] = rng.normal(0.0, 0.1, size=stop - start)


def check_dense_mapping(arrays):
    """ParameterError unless ``arrays`` (``from_dense``'s) maps names to arrays."""
    if not isinstance(arrays, Mapping):
        raise ParameterError(f"arrays must be a mapping of name to array (a dict or an npz file), not "
                             f"{type(arrays).__name__}")


def dense_dtype(arrays, keys, dtype):
    """``from_dense``'s checks common to every model: a mapping with all ``keys``; the dtype to build
    in (``dtype``, else ``W_h``'s if it is float32 or float64, else float32)."""
    check_dense_mapping(arrays)
    missing = [k for k in keys if k not in arrays]
    if missing:
        raise ParameterError(f"from_dense needs the keys {', '.join(missing)}")
    if dtype is None:
        w_dtype = np.asarray(arrays["W_h"]).dtype
        dtype = w_dtype if w_dtype in validate.FLOAT_DTYPES else np.float32
    return validate.dtype(dtype)


class SequenceModel:
    """The model protocol: what every cwfast architecture provides, and what the rest of cwfast uses.

    Trainers, :class:`~cwfast.stream.Stream`, persistence, the tasks and the CLI see a model only
    through this interface, never through an architecture's private methods:

    - attributes ``n_in``, ``n_out``, ``n_hidden``, ``dtype``, ``output`` (a head name, see
      :mod:`cwfast.heads`), ``head``, ``sample_rate``, ``metadata``, ``periods``,
      ``module_sizes``, ``n_modules``; the flat parameter vector ``params``;
    - ``forward``, ``advance``, ``loss``, ``loss_and_grad``, ``sample`` (autoregressive softmax and mixture models),
      ``to_dense``/``from_dense``, ``copy``, ``save``;
    - the checks every caller shares: :meth:`check_input`, :meth:`check_target`,
      :meth:`check_state`;
    - :meth:`population_losses`, which scores an evolution-strategy population in one call.

    An architecture is one module with a subclass that sets the class attributes below and runs
    its kernels in :meth:`_outputs` (and :meth:`population_losses`, ``sample``, and for
    ``loss_and_grad`` :meth:`_traced_outputs` and :meth:`_backward`), and one line in
    :data:`cwfast.registry.ARCHITECTURES`, which makes it loadable, streamable and trainable from
    the CLI.

    Class attributes
    ----------------
    arch : str
        The tag saved files carry (``"clockwork"``, ``"srn"``, ``"lstm"``), as registered.
    description : str
        How ``cwfast info`` names it.
    has_clock : bool
        Whether its modules and periods mean something (False for an SRN or an LSTM).
    realtime_kind : str
        How a :class:`~cwfast.Stream` and the C export run it: the key of their step builders
        (``"clockwork"``, ``"clockwork_windows"``, ``"lstm"``), which choose the allocation-free C
        entry of :mod:`cwfast._realtime` (the windowed one there is ``"clockwork_windowed"``).
    """

    arch = ""
    description = ""
    has_clock = False
    realtime_kind = ""
    #: Counts changes of what a Stream compiles in (set per instance; see _init_common).
    _structure_revision = 0
    #: Appended to the message when a state has the wrong shape.
    _state_note = ""

    @property
    def sample_rate(self):
        """Hz the model was trained at, or None; set to a positive int or None (ParameterError otherwise)."""
        return self._sample_rate

    @sample_rate.setter
    def sample_rate(self, value):
        self._sample_rate = validate.rate("sample_rate", value, allow_none=True,
                                           maximum=validate.MAX_SAMPLE_RATE)

    @property
    def metadata(self):
        """Free-form JSON-serialisable facts about the model (what cwfast train stores: mode,
        scale, figures, ...); set to a dict or None (ParameterError otherwise). What JSON cannot
        hold (an array, an object, a key that is not a str) is refused when the model is saved,
        with ParameterError and nothing written."""
        return self._metadata

    @metadata.setter
    def metadata(self, value):
        self._metadata = validate.metadata(value)

    def _init_common(self, n_in, n_out, *, dtype, output, sample_rate, metadata):
        """Check and set what every architecture's constructor takes."""
        self.head = get_head(output)
        self.output = self.head.name
        self.n_in = validate.non_negative_int("n_in", n_in)
        self.n_out = validate.positive_int("n_out", n_out)
        self.head.check_n_out(self.n_out)
        self.dtype = validate.dtype(dtype)
        self.sample_rate = sample_rate
        self.metadata = metadata
        self._level = None
        self._surprise = None
        self._n_taps = 0
        self._pitch = None
        # Counts the changes of what a Stream compiles in (the level's presence, the prediction's
        # taps, the pitch predictor, the clock periods), so that a stream notices them (cwfast.stream).
        self._structure_revision = 0

    def _state_width(self):
        return self.n_hidden

    def _full_state_width(self):
        """The width of :attr:`State.h`: the architecture's state, the inputs the linear and pitch
        predictions read back, the pitch predictor's estimate, then the level if there is one."""
        return self._pitch_slice().stop + (self._level is not None)

    def _history_slice(self):
        """Where the state keeps the inputs before the next step that the prediction (K - 1) and
        the pitch predictor (:attr:`Pitch.history`) read, the most either needs: after the
        architecture's state."""
        width = self._state_width()
        kept = max(self._n_taps - 1, 0 if self._pitch is None else self._pitch.history)
        return slice(width, width + kept)

    def _pitch_slice(self):
        """Where the state keeps the pitch predictor's estimate (lag, beta): after the inputs."""
        start = self._history_slice().stop
        return slice(start, start + (0 if self._pitch is None else _pitch_kernels.EST_SIZE))

    @property
    def _n_head_params(self):
        """The parameters after the network's: the taps, then the pitch gain."""
        return self._n_taps + (self._pitch is not None)

    @property
    def level(self):
        """The :class:`Level` normalisation of an autoregressive mixture model, or None (the default).

        Set it to a :class:`Level` (or ``(alpha, start[, floor, ceiling])``) before training; it
        is saved with the model, and it adds one element (the current level) to the end of the
        state.
        ``Stream`` (and its voices, each with its own level), the C export and the evolution
        strategy run it.
        """
        return self._level

    @level.setter
    def level(self, value):
        if value is not None:
            self._check_autoregressive_mixture("level normalisation")
            if isinstance(value, Level):
                value = dataclasses.astuple(value)
            if not isinstance(value, (tuple, list)) or not 2 <= len(value) <= 4:
                raise ParameterError(f"level={value!r} must be None, a Level or a tuple (alpha, start[, floor[, ceiling]])")
            value = Level.checked(*value)
            for name in ("start", "floor", "ceiling"):
                if math.isfinite(getattr(value, name)):
                    validate.within_dtype(f"level {name}", getattr(value, name), self.dtype)
        if (value is None) != (self._level is None):
            self._structure_revision += 1
        self._level = value

    @property
    def surprise(self):
        """The :class:`Surprise` scale of an autoregressive mixture model, or None (the default).

        Set it to a :class:`Surprise` (or ``(alpha, beta, mean)``), or let
        :func:`cwfast.scale_fit.fit_surprise` choose it on held-out audio (``cwfast train`` does,
        after training); it is saved with the model. It changes the model's distribution, not its
        network: its state is :attr:`State.surprise`, and generation holds it at r = 1.
        """
        return self._surprise

    @surprise.setter
    def surprise(self, value):
        if value is not None:
            self._check_autoregressive_mixture("a surprise-following scale")
            if isinstance(value, Surprise):
                value = dataclasses.astuple(value)
            if not isinstance(value, (tuple, list)) or len(value) != 3:
                raise ParameterError(f"surprise={value!r} must be None, a Surprise or a tuple (alpha, beta, mean)")
            value = Surprise.checked(*value)
        self._surprise = value

    def _refuse_surprise_gradient(self):
        """``loss_and_grad`` refuses a model with a surprise-following scale: its r follows the
        model's own means and spreads, which back-propagation would have to differentiate too."""
        if self._surprise is not None:
            raise ParameterError("loss_and_grad has no gradient for a model with a surprise-following scale (its r "
                                 "follows the model's own predictions); set model.surprise = None first, as "
                                 "training does")

    def _check_surprise(self, state, batch, batched):
        """The :class:`Surprise` state to start from, a new (B, 3) float64 array, or None for a
        model without the scale (a given ``state.surprise`` is then not read)."""
        if self._surprise is None:
            return None
        given = None if state is None else state.surprise
        if given is None:
            return np.zeros((batch, 3)) + np.array([1.0, 0.0, 0.0])
        given = validate.real_array("state.surprise", given, np.float64)
        want = (batch, 3) if batched else (3,)
        if given.shape != want:
            raise ParameterError(f"state.surprise has shape {given.shape}; expected {want} (r, mean, spread)")
        given = given.reshape(batch, 3)
        low, high = SURPRISE_R_RANGE
        r, spread = given[:, 0], given[:, 2]
        if np.any(r < low) or np.any(r > high) or np.any((spread != 0) & (spread < math.exp(LOG_SCALE_MIN))):
            raise ParameterError(f"state.surprise must hold r in [{low:g}, {high:g}] and a spread of 0 (no step "
                                 f"yet) or at least {math.exp(LOG_SCALE_MIN):.3g} (the narrowest a mixture has)")
        return given.copy()

    @staticmethod
    def _with_surprise(h, t, surprise, batched):
        """The :class:`State` to return: ``surprise`` (B, 3) kept if the model has the scale."""
        if surprise is not None and not batched:
            surprise = surprise[0]
        return State(h if batched else h[0], t, surprise)

    @property
    def prediction(self):
        """K, the taps of the model's linear prediction (0, the default, for none).

        An autoregressive mixture model with K taps adds ``sum_k taps[k] * x(t - k)``, k = 0 ..
        K - 1, over the last K inputs its network read (divided by their gains if levelled), to
        every component mean in the network's units: the network then models what a K-tap linear
        predictor misses, as LPCNet splits the work. The taps are the last K entries of
        :attr:`params` (:attr:`taps`), trained with the rest by the gradient trainers; the state
        keeps the K - 1 inputs before the next step, after the architecture's own state.
        Setting it to another K (before training) sets every tap to zero. The evolution strategy
        does not train it.
        """
        return self._n_taps

    @prediction.setter
    def prediction(self, n_taps):
        n_taps = validate.non_negative_int("prediction", n_taps)
        if n_taps > MAX_PREDICTION_TAPS:
            raise ParameterError(f"prediction={n_taps} taps is more than the {MAX_PREDICTION_TAPS} a model may have")
        if n_taps:
            self._check_autoregressive_mixture("linear prediction")
        if n_taps == self._n_taps:
            return
        self._resize_head_params(n_taps, self._pitch is not None)
        self._n_taps = n_taps
        self._structure_revision += 1

    def _resize_head_params(self, n_taps, has_pitch):
        """Give :attr:`params` room for ``n_taps`` taps and the pitch gain if ``has_pitch``: the
        network's part kept, the taps kept if their count does not change (else zero), the gain
        kept if there was one (else zero)."""
        taps = self.taps.copy() if n_taps == self._n_taps else 0
        gain = self._params[-1] if has_pitch and self._pitch is not None else 0
        network = self._params[: self._params.size - self._n_head_params]
        params = _aligned_empty(network.size + n_taps + has_pitch, self.dtype)
        params[: network.size] = network
        params[network.size : network.size + n_taps] = taps
        if has_pitch:
            params[-1] = gain
        self._params = params
        self._bind_views()

    @property
    def pitch(self):
        """The :class:`Pitch` predictor of an autoregressive mixture model, or None (the default).

        Setting one (before training) adds its gain to the end of :attr:`params`, at zero, trained
        by the gradient trainers with the rest, and its history and estimate to the state; it is
        saved with the model. ``sample``, ``cwfast generate``, ``Stream`` (and its voices) and the
        C export run it; the evolution strategy does not train it, and refuses a model with one.
        """
        return self._pitch

    @pitch.setter
    def pitch(self, value):
        if value is not None:
            self._check_autoregressive_mixture("a pitch predictor")
            if not isinstance(value, Pitch):
                raise ParameterError(f"pitch={value!r} must be None or a cwfast.model.Pitch")
            value = Pitch.checked(*dataclasses.astuple(value))
        if (value is None) != (self._pitch is None):
            self._resize_head_params(self._n_taps, value is not None)
        self._pitch = value
        self._structure_revision += 1

    @property
    def pitch_gain(self):
        """The pitch predictor's trained gain g (the last entry of :attr:`params`), or None without one."""
        return None if self._pitch is None else float(self._params[-1])

    @property
    def taps(self):
        """The linear prediction's taps (:attr:`prediction` of them; a writable view of the last
        entries of :attr:`params`, before the :attr:`pitch_gain` if there is one); ``taps[k]``
        weighs the input k steps before the current one."""
        end = self._params.size - (self._pitch is not None)
        return self._params[end - self._n_taps : end]

    def _check_autoregressive_mixture(self, what):
        if self.output != "mixture" or self.n_in != 1:
            raise ParameterError(f"{what} needs a mixture model with n_in=1 (an autoregressive audio model)")

    def _dense_head(self):
        """What :meth:`to_dense` adds for the head: ``level`` ([alpha, start, floor, ceiling]),
        ``surprise`` ([alpha, beta, mean]) and ``taps``, if set."""
        extra = {} if self._level is None else {"level": np.array(dataclasses.astuple(self._level))}
        if self._surprise is not None:
            extra["surprise"] = np.array(dataclasses.astuple(self._surprise))
        if self._n_taps:
            extra["taps"] = self.taps.copy()
        if self._pitch is not None:
            extra["pitch"] = self._pitch.as_array()
            extra["pitch_gain"] = self._params[-1:].copy()
        return extra

    def _dense_gradient(self, flat):
        """:meth:`_dense` of a flat gradient, with the taps' part as ``taps`` and the pitch gain's
        as ``pitch_gain``."""
        dense = self._dense(flat)
        end = flat.size - (self._pitch is not None)
        if self._n_taps:
            dense["taps"] = flat[end - self._n_taps : end].copy()
        if self._pitch is not None:
            dense["pitch_gain"] = flat[end:].copy()
        return dense

    def _head_from_dense(self, arrays):
        """Set the level, the surprise scale and the taps from ``arrays`` if :meth:`to_dense` wrote them."""
        if "level" in arrays:
            level = np.asarray(arrays["level"])
            if level.dtype.kind not in "fiu":  # a ceiling may be infinite: Level.checked checks the values
                raise ParameterError(f"level has dtype {level.dtype}; expected real numbers")
            if level.shape not in ((2,), (4,)):  # models saved before the band have (alpha, start)
                raise ParameterError(f"level has shape {level.shape}; expected (4,) (alpha, start, floor, ceiling)")
            self.level = Level.checked(*level)
        if "surprise" in arrays:
            surprise = validate.real_array("surprise", arrays["surprise"], np.float64)
            if surprise.shape != (3,):
                raise ParameterError(f"surprise has shape {surprise.shape}; expected (3,) (alpha, beta, mean)")
            self.surprise = Surprise.checked(*surprise)
        if "taps" in arrays:
            taps = validate.real_array("taps", arrays["taps"], self.dtype)
            if taps.ndim != 1:
                raise ParameterError(f"taps has shape {taps.shape}; expected (K,)")
            self.prediction = taps.size
            self.taps[:] = taps
        if ("pitch" in arrays) != ("pitch_gain" in arrays):
            raise ParameterError("a pitch predictor needs both pitch and pitch_gain")
        if "pitch" in arrays:
            gain = validate.real_array("pitch_gain", arrays["pitch_gain"], self.dtype)
            if gain.shape != (1,):
                raise ParameterError(f"pitch_gain has shape {gain.shape}; expected (1,)")
            self.pitch = Pitch.from_array(arrays["pitch"])
            self._params[-1] = gain[0]

    def _population_inputs(self, x3):
        """What every member of an evolution-strategy population reads from a zero state: the
        inputs (divided by their gains if levelled) and the gains (B, T), or (0, 0) for none."""
        if self._n_taps or self._pitch is not None:  # cwfast.train.evolve refuses these first
            raise ParameterError("population scores of a model with a linear or pitch prediction are not implemented")
        if self._level is None:
            return x3, np.zeros((0, 0))
        xn, _, head = self._head_in(x3, self.check_state(None, x3.shape[0], True)[0], 0)
        return xn, head.gains

    def _head_in(self, x3, state, t0, surprise=None):
        """What the network reads and starts from, and what the head needs: (inputs, network
        state, :class:`_HeadContext`), for a batch whose first step is ``t0``.

        Without a level, a prediction, a pitch predictor or a ``surprise`` state ((B, 3), from
        :meth:`_check_surprise`) these are ``x3``, ``state`` and None. Otherwise the inputs
        (divided by their gains if levelled; (B, T, 1)), the network's part of ``state``
        (contiguous, to be written back by :meth:`_head_out`) and the gains (B, T) float64, the
        predictions' window (B, P + T: the inputs kept in ``state``, then the ones read), the
        pitch predictor's terms, and the surprise state with the inputs it reads; the level and
        the pitch estimate in ``state`` move on.
        """
        if self._level is None and not self._n_taps and self._pitch is None and surprise is None:
            return x3, state, None
        xn, gains = x3, None
        if self._level is not None:
            check_level_range(x3, self._level, x3.dtype, "x")
            levels = np.ascontiguousarray(state[:, -1])
            xn = np.empty_like(x3)
            gains = np.empty(x3.shape[:2])
            _head_kernels._level_track(x3[:, :, 0], levels, self._level.alpha, self._level.floor,
                                       self._level.ceiling, xn[:, :, 0], gains)
            state[:, -1] = levels
        kept = self._history_slice()
        window = pitch = None
        if self._n_taps or self._pitch is not None:
            window = np.concatenate([state[:, kept], xn[:, :, 0]], axis=1)
        if self._pitch is not None:
            where = self._pitch_slice()
            est = np.ascontiguousarray(state[:, where])
            pitch = np.empty(x3.shape[:2])
            _pitch_kernels._pitch_terms(window, t0, self._pitch.coefficients, self._pitch_config(), est, pitch)
            state[:, where] = est
        inputs = None if surprise is None else x3[:, :, 0]
        return xn, np.ascontiguousarray(state[:, : kept.start]), _HeadContext(gains, window, surprise, inputs, pitch)

    def _pitch_config(self):
        """The pitch predictor's ``cfg`` array for :mod:`cwfast._pitch_kernels` (empty without one)."""
        p = self._pitch
        if p is None:
            return np.zeros(0)
        return np.array([p.lo, p.hi, p.window, p.hop, p.gate, p.reference, self._params[-1]], dtype=np.float64)

    def _head_out(self, state, inner, head):
        """Write the network's state ``inner`` and the prediction's inputs back into ``state``
        (see :meth:`_head_in`)."""
        if head is None:
            return
        kept = self._history_slice()
        state[:, : kept.start] = inner
        if head.window is not None:
            state[:, kept] = head.window[:, head.window.shape[1] - (kept.stop - kept.start) :]

    def _scored(self, y, head):
        """The raw outputs the head scores: the network's plus the prediction, in the input's units
        if levelled, the log-scales moved by the surprise (``y`` is changed in place)."""
        if head is not None:
            if self._n_taps:
                _head_kernels._predict_outputs(y, head.window, self.taps)
            if head.pitch is not None:
                _pitch_kernels._add_outputs(y, head.pitch, np.float64(self._params[-1]))
            if head.gains is not None:
                _head_kernels._level_outputs(y, head.gains)
            if head.surprise is not None:
                s = self._surprise
                _head_kernels._surprise_outputs(y, head.inputs, head.surprise, s.alpha, s.beta, 1.0 / s.mean)
        return y

    def _head_loss(self, y, target, steps, head):
        """:func:`cwfast.heads.head_loss` of the network's raw outputs ``y`` (made :meth:`_scored`
        in place), with the gradient taken back to the network's units."""
        loss, d_y = head_loss(self._scored(y, head), target, self.output, steps)
        if head is not None and head.gains is not None:
            k = self.n_out // 3
            d_y[..., k : 2 * k] *= head.gains[..., None].astype(d_y.dtype)
        return loss, d_y

    def _prediction_grad(self, grad, d_y, head):
        """Write the taps' and the pitch gain's gradients into the flat gradient ``grad`` (its last
        entries) from the outputs' gradient ``d_y`` in the network's units (see :meth:`_head_loss`)."""
        end = grad.size - (self._pitch is not None)
        if self._n_taps:
            _head_kernels._prediction_grad(head.window, d_y, grad[end - self._n_taps : end])
        if self._pitch is not None:
            k = self.n_out // 3
            grad[end] = np.sum(d_y[..., k : 2 * k].sum(axis=-1, dtype=np.float64) * head.pitch)

    @classmethod
    def count_params(cls, n_hidden, n_in, n_out, *, n_modules=None, periods=None, count_periods=True):
        """Parameters of a model of these sizes, without building it (:func:`cwfast.baselines.count_params`)."""
        raise NotImplementedError

    @staticmethod
    def _count_sizes(n_hidden, n_in, n_out):
        return (validate.positive_int("n_hidden", n_hidden), validate.non_negative_int("n_in", n_in),
                validate.positive_int("n_out", n_out))

    @property
    def n_params(self):
        """Number of trainable parameters."""
        return self._params.size

    @property
    def params(self):
        """The flat parameter vector, shape (n_params,). Writing to it changes the model."""
        return self._params

    @params.setter
    def params(self, value):
        value = validate.real_array("params", value, self.dtype)
        if value.shape != self._params.shape:
            raise ParameterError(f"params has shape {value.shape}; expected {self._params.shape}")
        self._params[:] = value

    def scale_mixture(self, factor):
        """Multiply every component's scale of a mixture model by ``factor`` (> 0), at every step.

        Adds ``log(factor)`` to the biases of the log-scale outputs (before their clamp at
        :data:`cwfast.heads.LOG_SCALE_MIN`), so the change is in :attr:`params` and every path
        that runs the model follows it. A :class:`Surprise` scale's mean is divided by
        ``factor`` with it, so that its r is unchanged and the scales move by ``factor`` exactly.
        :func:`cwfast.scale_fit.fit_scale` chooses the factor.
        """
        if self.output != "mixture":
            raise ParameterError(f"scale_mixture needs a mixture model; this one has a {self.output} head")
        factor = validate.positive_float("factor", factor)
        k = self.n_out // 3
        if self.b_out[2 * k :].max() + math.log(factor) >= math.log(float(np.finfo(self.dtype).max)):
            # exp of it, a scale, would be infinite
            raise ParameterError(f"factor={factor:g} would make the mixture's scales infinite in this {self.dtype.name} model")
        if self._surprise is not None:
            # Spreads `factor` times wider make every surprise e `factor` times smaller: the mean
            # it is measured against follows, so r, and the scales' own factor, stay as they were.
            try:
                moved = Surprise.checked(self._surprise.alpha, self._surprise.beta, self._surprise.mean / factor)
            except ParameterError as exc:  # said in the caller's terms, not the mean's
                raise ParameterError(f"factor={factor:g} would make the surprise-following scale's mean surprise, "
                                     f"divided by it, invalid ({exc})") from None
        self.b_out[2 * k :] += self.dtype.type(math.log(factor))
        if self._surprise is not None:
            self._surprise = moved

    def copy(self):
        """An independent copy of the model."""
        return type(self).from_dense(
            self.to_dense(), dtype=self.dtype, sample_rate=self.sample_rate, metadata=copy.deepcopy(self.metadata),
            output=self.output,
        )

    def save(self, path, *, overwrite=True):
        """Write the model to ``path`` (.npz arrays and a JSON header), atomically.

        See :func:`cwfast.load`. Raises :class:`CwfastError` if the file cannot be written, or
        exists and ``overwrite`` is False.
        """
        save_model(self, path, overwrite=overwrite)

    def forward(self, x, *, state=None, return_state=False, raw=False):
        """Run the network over a sequence or a batch of sequences.

        Parameters
        ----------
        x : ndarray, shape (n_steps, n_in) or (batch, n_steps, n_in)
            Inputs. With ``n_in == 0`` pass ``np.zeros((n_steps, 0))``.
        state : State, optional
            Where to start: recurrent state (an LSTM's is ``[h, c]``) and global step. Default:
            zeros at t = 0.
        return_state : bool
            Also return the :class:`State` after the last step, to continue from.
        raw : bool
            A softmax model: return the logits instead of the probabilities (to average them over
            the steps, as ``steps="mean"`` does; averaging the log of the probabilities instead
            loses classes whose probability underflows); a mixture model: its logits, means and
            log-scales instead of its weights, means and scales. No effect on a linear model.

        Returns
        -------
        y : ndarray, shape (n_steps, n_out) or (batch, n_steps, n_out), the model's dtype
            Linear outputs, or class probabilities (logits with ``raw``) for a softmax model, or
            for a mixture model of K components its K weights, K means and K scales
            (:meth:`cwfast.heads.MixtureHead.finish`).
        state : State, only if ``return_state``

        Raises
        ------
        ParameterError
            If ``x`` has the wrong shape or kind, or contains NaN or infinity.
        """
        return_state, raw = validate.flag("return_state", return_state), validate.flag("raw", raw)
        try:  # (state is the caller's only through check_state's copy: a failure changes nothing)
            x3, batched = self.check_input(x)
            h, t0 = self.check_state(state, x3.shape[0], batched)
            surprise = self._check_surprise(state, x3.shape[0], batched)
            xn, inner, head = self._head_in(x3, h, t0, surprise)
            y = self._scored(self._outputs(xn, inner, t0), head)
        except MemoryError:
            raise ParameterError(f"x of shape {np.shape(x)} and its outputs ({self.n_out} a step) need more memory than "
                                 "this machine gives; run it in pieces, carrying the state (return_state=True), or "
                                 "through a cwfast.Stream") from None
        self._head_out(h, inner, head)
        if not raw:
            y = self.head.finish(y)
        if return_state:
            return (y if batched else y[0]), self._with_surprise(h, t0 + x3.shape[1], surprise, batched)
        return y if batched else y[0]

    def loss(self, x, target, *, state=None, steps="all", return_state=False):
        """The training loss of :meth:`loss_and_grad`, without the gradient; with ``return_state``
        (scoring every step), ``(loss, State after x)``: what :meth:`advance` would give, in the
        same pass.

        No history is kept, and a long sequence scored at every step runs in pieces of
        :data:`LOSS_CHUNK` steps (carrying state and clock), so memory does not grow with its length.
        """
        return_state = validate.flag("return_state", return_state)
        x3, batched = self.check_input(x)
        target = self.check_target(target, x3.shape, batched, steps)
        h, t0 = self.check_state(state, x3.shape[0], batched)
        surprise = self._check_surprise(state, x3.shape[0], batched)
        if steps != "all":
            if return_state:
                raise ParameterError("return_state=True scores every step: it cannot be combined with steps")
            xn, inner, head = self._head_in(x3, h, t0, surprise)
            return head_loss(self._scored(self._outputs(xn, inner, t0), head), target, self.output, steps)[0]
        n_steps = x3.shape[1]
        total = 0.0
        for start in range(0, n_steps, LOSS_CHUNK):
            _check_stop()
            stop = min(start + LOSS_CHUNK, n_steps)
            xn, inner, head = self._head_in(np.ascontiguousarray(x3[:, start:stop]), h, t0 + start, surprise)
            y = self._scored(self._outputs(xn, inner, t0 + start), head)
            self._head_out(h, inner, head)
            total += self.head.loss(y, target[:, start:stop]) * (stop - start)
        if return_state:
            return total / n_steps, self._with_surprise(h, t0 + n_steps, surprise, batched)
        return total / n_steps

    def advance(self, x, *, state=None):
        """The :class:`State` after running over ``x`` from ``state``, keeping no outputs.

        Runs in pieces of :data:`LOSS_CHUNK` steps, so memory does not grow with the length of
        ``x`` (``forward(..., return_state=True)`` holds every output). Use it to bring a model to
        where a held-out part begins.
        """
        x3, batched = self.check_input(x)
        h, t0 = self.check_state(state, x3.shape[0], batched)
        surprise = self._check_surprise(state, x3.shape[0], batched)
        for start in range(0, x3.shape[1], LOSS_CHUNK):
            _check_stop()
            xn, inner, head = self._head_in(np.ascontiguousarray(x3[:, start : start + LOSS_CHUNK]), h, t0 + start,
                                           surprise)
            y = self._outputs(xn, inner, t0 + start)
            if surprise is not None:  # the surprise is measured against the scored outputs
                self._scored(y, head)
            self._head_out(h, inner, head)
        return self._with_surprise(h, t0 + x3.shape[1], surprise, batched)

    def loss_and_grad(self, x, target, *, state=None, return_state=False, flat=False, steps="all"):
        r"""The training loss and its gradient by back-propagation through time.

        A linear model's loss is the mean squared error over every scored element; a softmax
        model's is the mean cross-entropy over every scored step:

        .. math::

            L_{linear} = \frac{1}{N} \sum (y - \mathrm{target})^2 \qquad
            L_{softmax} = -\frac{1}{N_{steps}} \sum \log \mathrm{softmax}(y)_{\mathrm{target}}

        Parameters
        ----------
        x : ndarray, shape (n_steps, n_in) or (batch, n_steps, n_in)
        target : ndarray
            Linear model: shape (..., n_steps, n_out), or (..., n_out) with ``steps="last"`` or
            ``"mean"``. Softmax model: integer labels in ``[0, n_out)``, shape (..., n_steps), or
            (...,) with ``steps="last"`` or ``"mean"``. Mixture model: mu-law class labels in
            ``[0, 256)``, as for a softmax model. The leading ``...`` is the batch, if ``x`` has one.
        state : State, optional
            Initial state (truncated BPTT carries it between windows). The gradient does not flow
            into it.
        return_state : bool
            Also return the state after the last step.
        flat : bool
            Return the gradient as a flat vector laid out like :attr:`params` instead of a dict.
        steps : {"all", "last", "mean"}
            Score every step (sequence generation, effects), only the last (classification read
            at the end), or the mean of the raw outputs over all steps (classification that pools
            evidence from every step: the softmax is taken of the mean logits). A softmax model's
            class probabilities under this readout are the softmax of
            ``forward(x, raw=True).mean(axis=-2)``.

        Returns
        -------
        loss : float
        grads : dict of dense arrays with the keys of :meth:`to_dense` (a Clockwork RNN's ``W_in``,
            ``W_h``, ``b_h``, ``W_out``, ``b_out``, ``taps`` with a linear prediction and
            ``pitch_gain`` with a pitch predictor; the
            gradient of its ``W_h`` is exactly zero outside the allowed blocks), or a flat ndarray
            laid out like :attr:`params` if ``flat``.
        state : State, only if ``return_state``

        Raises
        ------
        ParameterError
            On wrong shapes, kinds or values of ``x``, ``target``, ``state`` or ``steps``, or for a
            model with a surprise-following scale (:attr:`surprise`).
        """
        return_state, flat = validate.flag("return_state", return_state), validate.flag("flat", flat)
        self._refuse_surprise_gradient()
        x3, batched = self.check_input(x)
        target = self.check_target(target, x3.shape, batched, steps)
        full, t0 = self.check_state(state, x3.shape[0], batched)
        surprise = self._check_surprise(state, x3.shape[0], batched)
        x3, inner, head = self._head_in(x3, full, t0, surprise)
        y, record = self._traced_outputs(x3, inner, t0)
        loss, d_y = self._head_loss(y, target, steps, head)
        grad = self._backward(record, d_y)
        self._prediction_grad(grad, d_y, head)
        self._head_out(full, inner, head)
        out = grad if flat else self._dense_gradient(grad)
        if return_state:
            return loss, out, self._with_surprise(full, t0 + x3.shape[1], surprise, batched)
        return loss, out

    def _outputs(self, x3, state0, t0):
        """Raw outputs (B, T, n_out) of a checked batch; ``state0`` (B, width) becomes the final state."""
        raise NotImplementedError

    def _traced_outputs(self, x3, state0, t0):
        """Raw outputs (B, T, n_out) and what :meth:`_backward` needs of the pass; ``state0``
        (B, width) becomes the final state, as in :meth:`_outputs`."""
        raise NotImplementedError

    def _backward(self, record, d_y):
        """The flat gradient from ``d_y`` (B, T, n_out), the loss's gradient with respect to every
        output, and the ``record`` of :meth:`_traced_outputs`."""
        raise NotImplementedError

    def population_losses(self, theta, noise, sigma, x3, y_target, labels, readout, losses, *, member_periods=None):
        """Score an evolution-strategy population in one parallel call.

        Member ``m < 2 P`` has the parameters ``theta +- sigma * noise[m // 2]`` (+ for even m),
        any further member ``theta``; ``losses[m]`` gets its :meth:`loss` on the checked batch
        ``x3`` from a zero state at t = 0, against ``y_target`` (linear head) or ``labels``
        (softmax head), scoring the steps ``readout`` names (a value of :data:`STEP_CODES`).
        ``member_periods`` (n_members, g), for models with a clock, gives each member its own
        periods (the evolution strategy's period search); they must keep the module order.
        """
        raise NotImplementedError

    def check_runnable(self):
        """CwfastError unless every parameter is finite. :attr:`params` is a writable view, so a
        NaN written into it in place passes by its setter's check; what runs the model calls this
        first (O(parameters), against O(steps x parameters) for the run)."""
        if not np.isfinite(self.params).all():
            raise CwfastError("the model's parameters contain NaN or infinite values: it cannot run")

    def check_input(self, x):
        """Validate ``x`` and return it as a C-contiguous (B, T, n_in) array and whether it was
        batched; values below :data:`cwfast.modes.FLUSH` in magnitude read as 0 (a copy then).
        CwfastError if the model cannot run (:meth:`check_runnable`)."""
        self.check_runnable()
        x = validate.real_array("x", x, self.dtype)
        if x.ndim not in (2, 3) or x.shape[-1] != self.n_in:
            raise ParameterError(
                f"x has shape {x.shape}; expected (n_steps, {self.n_in}) or (batch, n_steps, {self.n_in})"
            )
        batched = x.ndim == 3
        x = x if batched else x[None]
        if x.size and _kernels._any_tiny(x.reshape(-1)):  # read as 0, as a Stream and the C export read them
            x = np.where(np.abs(x) < FLUSH, 0, x)  # (a pass without temporaries first: an hour is 57.6M samples)
        return x, batched

    def check_state(self, state, batch, batched):
        """Return (the state as a new (B, width) array, t0) from a :class:`State` or None."""
        width = self._full_state_width()
        if state is None:
            h = np.zeros((batch, width), dtype=self.dtype)
            if self._level is not None:
                h[:, -1] = self._level.start
            return h, 0
        if not isinstance(state, State):
            raise ParameterError(f"state must be a cwfast State or None, not {type(state).__name__}")
        t = state.t
        if isinstance(t, np.ndarray) and t.ndim == 0:  # np.array(3), as a 0-d result gives it: its value
            t = t[()]
        t = validate.non_negative_int("state.t", t)
        h = validate.real_array("state.h", state.h, self.dtype)
        want = (batch, width) if batched else (width,)
        if h.shape != want:
            raise ParameterError(f"state.h has shape {h.shape}; expected {want}{self._state_note}")
        h = h.reshape(batch, width).copy()
        if self._pitch is not None:  # the kernels index the window by the lag: it must be one
            lag, beta = h[:, self._pitch_slice()].T
            p = self._pitch
            if not (np.all((lag == 0) | ((lag >= p.lo) & (lag <= p.hi) & (lag == np.round(lag))))
                    and np.all((beta >= 0) & (beta <= 1))):
                raise ParameterError(f"state.h's pitch estimate (lag, beta) must hold a lag of 0 or a whole number "
                                     f"in [{p.lo}, {p.hi}], and beta in [0, 1]")
        if self._level is not None and not np.all(h[:, -1] >= 0):  # a mean absolute value
            raise ParameterError(f"state.h's level (its last element) must be 0 or more; got {h[:, -1].min():g}")
        return h, t

    def check_target(self, target, x_shape, batched, steps):
        """Validate a target for this model's head and the readout ``steps``; return it with a
        leading batch axis (``x_shape`` is the checked input's)."""
        return check_target(self.head, target, x_shape, batched, steps, self.n_out, self.dtype)


class ClockworkRNN(SequenceModel):
    r"""A Clockwork RNN (Koutník et al., ICML 2014) with a linear, softmax or mixture output layer.

    The hidden units are split into modules, module ``i`` with ``k_i`` units and clock period
    ``T_i``, kept sorted by period. At step ``t`` (from 0) the modules with ``t % T_i == 0`` update
    and the others hold their state exactly:

    .. math::

        h_i(t) = \begin{cases}
            \tanh\big(W_{h,i} h(t-1) + \sum_{k=0}^{L_i - 1} W_{in,i}[k]\, x(t-k) + b_{h,i}\big)
                & t \bmod T_i = 0 \\
            h_i(t-1) & \text{otherwise}
        \end{cases}
        \qquad y(t) = W_{out} h(t) + b_{out}

    ``W_{h,i}`` reads only modules with period ``>= T_i`` (slow feeds fast), so ``W_h`` is
    block-upper-triangular. ``h(-1) = 0`` and ``x(t) = 0`` for ``t < 0``. ``L_i``, module ``i``'s
    *input window*, is 1 in the paper's model (each tick reads only the current input); with
    ``L_i = T_i`` a slow module sees every input it slept through, at ``k_i * n_in``
    multiply-adds per step amortised. Only active modules cost anything, as before.

    Parameters
    ----------
    n_in : int
        Input features per step (the paper's m); 0 for a network driven by its clock alone.
    n_out : int
        Outputs per step.
    module_sizes : sequence of int, optional
        Units per module (k_1..k_g). Give this, or ``n_hidden`` and ``n_modules``.
    n_hidden : int, optional
        Total hidden units (n). Split into ``n_modules`` modules, leftover units to the fastest.
    n_modules : int, optional
        Number of modules (g). Defaults to ``len(periods)`` when ``periods`` is given.
    periods : sequence of int, optional
        Clock period of each module (T_i), any positive integers. Default ``1, 2, 4, ...``.
    seed : int or numpy.random.Generator, optional
        Source of the initial weights. Weights and biases are drawn from N(0, 0.1^2) as in the
        paper.
    dtype : float32 or float64
        Parameter and computation precision.
    sample_rate : int, optional
        The audio rate the model was trained at, if it models audio.
    metadata : dict, optional
        JSON-serialisable facts saved with the model (task, scale, training figures, ...).
    output : {"linear", "softmax", "mixture"}
        The output head. ``"linear"`` gives ``y(t)`` as above and trains on mean squared error;
        ``"softmax"`` gives class probabilities ``softmax(y(t))`` and trains on cross-entropy
        against integer labels; ``"mixture"`` reads ``y(t)`` (n_out = 3K) as a mixture of K
        discretised logistics over the 256 mu-law classes, trained on the same cross-entropy
        (:mod:`cwfast.heads`).
    input_windows : None, "period", int or sequence of int
        ``L_i``, how many of the latest inputs module ``i`` reads at each tick. None: 1 for every
        module (the paper's model). ``"period"``: each module's period. An int: that many for
        every module. A sequence: one per module, in the order of ``periods`` as given. The
        windows are numbers fixed at construction: :meth:`set_periods` keeps them (with
        ``"period"`` they do not follow new periods, since the parameter layout depends on them).
        The state (:class:`State`) then carries the last ``max_window - 1`` inputs.

    Attributes
    ----------
    input_windows : ndarray, shape (g,), int64
        ``L_i`` in module order (sorted by period).
    max_window : int
        The longest input window.
    W_in : ndarray
        The input weights as a writable (n_hidden, L * n_in) view when every module reads the same
        number ``L`` of inputs (the paper's model: ``(n_hidden, n_in)``); see :meth:`W_in_block`
        otherwise.

    Raises
    ------
    ParameterError
        On any invalid size, period, seed or dtype.
    """

    arch = "clockwork"
    description = "Clockwork RNN"
    has_clock = True

    @property
    def realtime_kind(self):
        # A windowed model's state also holds its input history: Stream and the C export run it
        # through their windowed entries (a history buffer, a ring), chosen by this kind.
        return "clockwork" if self.max_window == 1 else "clockwork_windows"

    def __init__(
        self,
        n_in,
        n_out,
        *,
        module_sizes=None,
        n_hidden=None,
        n_modules=None,
        periods=None,
        seed=None,
        dtype=np.float32,
        sample_rate=None,
        metadata=None,
        output="linear",
        input_windows=None,
    ):
        self._init_common(n_in, n_out, dtype=dtype, output=output, sample_rate=sample_rate, metadata=metadata)
        if periods is not None:  # (checked first: they may give the number of modules)
            periods = validate.positive_int_list("periods", periods)
            if n_modules is None and module_sizes is None:
                n_modules = len(periods)
        if module_sizes is None:
            if n_hidden is None or n_modules is None:
                raise ParameterError("give module_sizes, or n_hidden and n_modules (or n_hidden and periods)")
            module_sizes = split_units(n_hidden, n_modules, periods)
        else:
            module_sizes = validate.positive_int_list("module_sizes", module_sizes)
            if n_hidden is not None and sum(np.asarray(module_sizes).tolist()) != n_hidden:
                raise ParameterError(f"n_hidden={n_hidden!r} does not match sum(module_sizes={list(module_sizes)})")
            if n_modules is not None and np.ndim(module_sizes) == 1 and len(module_sizes) != n_modules:
                raise ParameterError(f"n_modules={n_modules!r} does not match len(module_sizes={list(module_sizes)})")
        if periods is None:
            periods = exponential_periods(len(module_sizes))
        self.layout = Layout.build(module_sizes, periods, input_windows)

        n, m, o = self.n_hidden, self.n_in, self.n_out
        sizes = [self.layout.n_input_weights(m), self.layout.n_recurrent, n, o * n, o]
        self._offsets = parameter_offsets(sizes, f"a model of {n} units, {m} inputs and {o} outputs")
        self._params = _aligned_empty(int(self._offsets[-1]), self.dtype)
        self._bind_views()
        initial_params(self._params, seed)

    # ------------------------------------------------------------------ structure

    @classmethod
    def count_params(cls, n_hidden, n_in, n_out, *, n_modules=None, periods=None, count_periods=True,
                     input_windows=None):
        """Parameters of a Clockwork RNN of these sizes (and ``input_windows``, as the constructor
        takes them), plus one per clock period if ``count_periods`` (as the paper's budgets count
        them); see :func:`cwfast.baselines.count_params`."""
        n, m, o = cls._count_sizes(n_hidden, n_in, n_out)
        count_periods = validate.flag("count_periods", count_periods)
        if periods is None:
            if n_modules is None:
                raise ParameterError("a Clockwork RNN's count needs n_modules or periods")
            periods = exponential_periods(n_modules)
        else:
            periods = validate.positive_int_list("periods", periods)
        # As the constructor splits them: n_modules and periods of another length are refused (by
        # Layout.build), not the one silently taken over the other.
        layout = Layout.build(split_units(n, len(periods) if n_modules is None else n_modules, periods), periods,
                              input_windows)
        return (layout.n_input_weights(m) + n + layout.n_recurrent + o * (n + 1)
                + (layout.n_modules if count_periods else 0))

    def _bind_views(self):
        p, off = self._params, self._offsets
        n, m, o = self.n_hidden, self.n_in, self.n_out
        self.W_in_packed = p[off[0] : off[1]]
        windows = self.layout.input_windows
        if np.all(windows == windows[0]):
            self.W_in = self.W_in_packed.reshape(n, int(windows[0]) * m)
        self.W_h_packed = p[off[1] : off[2]]
        self.b_h = p[off[2] : off[3]]
        self.W_out = p[off[3] : off[4]].reshape(o, n)
        self.b_out = p[off[4] : off[5]]

    @property
    def n_hidden(self):
        return self.layout.n_hidden

    @property
    def n_modules(self):
        return self.layout.n_modules

    @property
    def periods(self):
        return self.layout.periods

    @property
    def input_windows(self):
        return self.layout.input_windows

    @property
    def max_window(self):
        return self.layout.max_window

    def _state_width(self):
        # The hidden units, then the last max_window - 1 inputs (oldest first) the windows reach back to.
        return self.n_hidden + (self.max_window - 1) * self.n_in

    @property
    def _n_history(self):
        return self.max_window - 1

    def recurrent_macs_per_step(self):
        """Average recurrent multiply-adds per step over a full cycle of the clocks (only the
        blocks that exist, only at the steps their module fires)."""
        return self.layout.recurrent_macs_per_step()

    @property
    def module_sizes(self):
        return self.layout.module_sizes

    def _module_index(self, i):
        return validate.non_negative_int("module index", i, maximum=self.layout.n_modules - 1)

    def W_h_block(self, i):
        """Writable view of module ``i``'s recurrent block, shape (k_i, n_hidden - column_start[i])."""
        i = self._module_index(i)
        lay = self.layout
        width = self.n_hidden - lay.column_start[i]
        return self.W_h_packed[lay.block_offset[i] : lay.block_offset[i + 1]].reshape(-1, width)

    def W_in_block(self, i):
        """Writable view of module ``i``'s input weights, shape (k_i, L_i * n_in); column
        ``(L_i - 1 - k) * n_in + j`` weighs ``x_j(t - k)`` (oldest input first)."""
        i = self._module_index(i)
        lay = self.layout
        m = self.n_in
        return self.W_in_packed[lay.input_offset[i] * m : lay.input_offset[i + 1] * m].reshape(
            int(lay.module_sizes[i]), int(lay.input_windows[i]) * m)

    def __repr__(self):
        windows = "" if self.max_window == 1 else f"input_windows={self.input_windows.tolist()}, "
        return (
            f"ClockworkRNN(n_in={self.n_in}, n_out={self.n_out}, module_sizes={self.module_sizes.tolist()}, "
            f"periods={self.periods.tolist()}, {windows}output={self.output!r}, dtype={self.dtype.name}, "
            f"n_params={self.n_params})"
        )

    # ------------------------------------------------------------------ dense interchange

    def to_dense(self):
        """Parameters as dense arrays (copies), for inspection and for other frameworks.

        Returns
        -------
        dict
            ``W_in`` (n, max_window * n_in), ``W_h`` (n, n) with zeros outside the allowed blocks,
            ``b_h`` (n,), ``W_out`` (n_out, n), ``b_out`` (n_out,), ``periods`` (g,),
            ``module_sizes`` (g,), ``input_windows`` (g,). ``W_in`` is right-aligned: its last
            ``n_in`` columns weigh the current input ``x(t)``, column block ``max_window - 1 - k``
            weighs ``x(t - k)``, and a module's row is zero left of its window. With every window
            1 it is the paper's ``W_in`` (n, n_in). With a level (:attr:`level`), a surprise-following
            scale (:attr:`surprise`), a linear prediction (:attr:`prediction`) or a pitch predictor
            (:attr:`pitch`), also ``level`` ([alpha, start, floor, ceiling]), ``surprise`` ([alpha,
            beta, mean]), ``taps``, or ``pitch`` (:meth:`Pitch.as_array`) and ``pitch_gain`` (1,).
        """
        return self._dense(self._params) | {
            "periods": self.periods.copy(),
            "module_sizes": self.module_sizes.copy(),
            "input_windows": self.input_windows.copy(),
        } | self._dense_head()

    def _dense(self, flat):
        """Dense parameter (or gradient) arrays from a flat vector laid out like ``params``."""
        off, lay = self._offsets, self.layout
        n, m, o = self.n_hidden, self.n_in, self.n_out
        W_h = np.zeros((n, n), dtype=flat.dtype)
        packed = flat[off[1] : off[2]]
        W_in = np.zeros((n, lay.max_window * m), dtype=flat.dtype)
        packed_in = flat[off[0] : off[1]]
        for i in range(self.n_modules):
            r0, r1, c0 = lay.module_start[i], lay.module_start[i + 1], lay.column_start[i]
            W_h[r0:r1, c0:] = packed[lay.block_offset[i] : lay.block_offset[i + 1]].reshape(r1 - r0, n - c0)
            span = lay.input_windows[i] * m
            W_in[r0:r1, W_in.shape[1] - span :] = packed_in[lay.input_offset[i] * m : lay.input_offset[i + 1] * m].reshape(
                r1 - r0, span)
        return {
            "W_in": W_in,
            "W_h": W_h,
            "b_h": flat[off[2] : off[3]].copy(),
            "W_out": flat[off[3] : off[4]].reshape(o, n).copy(),
            "b_out": flat[off[4] : off[5]].copy(),
        }

    @classmethod
    def from_dense(cls, arrays, *, dtype=None, sample_rate=None, metadata=None, output="linear"):
        """Build a model from the dict :meth:`to_dense` returns.

        Parameters
        ----------
        arrays : mapping
            ``W_in``, ``W_h``, ``b_h``, ``W_out``, ``b_out``, ``periods``, ``module_sizes``, and
            optionally ``input_windows`` (default: 1 for every module, as files from before input
            windows have it).
        dtype : float32 or float64, optional
            Default: the dtype of ``W_h`` if it is float32 or float64, else float32.
        sample_rate, metadata, output
            As for the constructor.

        Raises
        ------
        ParameterError
            On missing keys, inconsistent shapes, non-finite values, or nonzero weights outside
            the allowed recurrent blocks (fast modules feeding slower ones) or outside a module's
            input window.
        """
        dtype = dense_dtype(arrays, ("W_in", "W_h", "b_h", "W_out", "b_out", "periods", "module_sizes"), dtype)
        sizes = np.array(validate.positive_int_list("module_sizes", arrays["module_sizes"]))
        periods = np.array(validate.positive_int_list("periods", arrays["periods"]))
        if periods.size != sizes.size:
            raise ParameterError(f"periods={periods.tolist()} has {periods.size} entries but module_sizes has "
                                 f"{sizes.size}; give one period per module")
        if np.any(np.diff(periods) < 0):
            raise ParameterError(f"periods={periods.tolist()} must be sorted (non-decreasing) in a dense layout")
        W_h = validate.real_array("W_h", arrays["W_h"], dtype)
        W_in = validate.real_array("W_in", arrays["W_in"], dtype)
        W_out = validate.real_array("W_out", arrays["W_out"], dtype)
        b_h = validate.real_array("b_h", arrays["b_h"], dtype)
        b_out = validate.real_array("b_out", arrays["b_out"], dtype)
        if W_in.ndim != 2 or W_out.ndim != 2:
            raise ParameterError(f"W_in and W_out must be 2-D; got shapes {W_in.shape} and {W_out.shape}")
        windows = arrays.get("input_windows")
        if windows is not None:
            if np.ndim(windows) != 1:
                raise ParameterError(f"input_windows has shape {np.shape(windows)}; expected one per module")
            windows = validate.input_windows(np.asarray(windows).tolist(), periods.tolist())
        max_window = 1 if windows is None else max(windows, default=1)
        if W_in.shape[1] % max_window:
            raise ParameterError(
                f"W_in has {W_in.shape[1]} columns; expected max(input_windows) = {max_window} times n_in"
            )
        n, m, o = int(sizes.sum()), W_in.shape[1] // max_window, W_out.shape[0]
        # Every shape is checked before the model is built: a file's sizes could ask for any amount of memory.
        expected = {"W_in": (n, max_window * m), "W_h": (n, n), "b_h": (n,), "W_out": (o, n), "b_out": (o,)}
        given = {"W_in": W_in, "W_h": W_h, "b_h": b_h, "W_out": W_out, "b_out": b_out}
        for key, shape in expected.items():
            if given[key].shape != shape:
                raise ParameterError(f"{key} has shape {given[key].shape}; expected {shape} for these module sizes")
        model = cls(m, o, module_sizes=sizes.tolist(), periods=periods.tolist(), dtype=dtype, sample_rate=sample_rate,
                    metadata=metadata, output=output, seed=0, input_windows=windows)
        allowed = model.layout.allowed_mask()
        bad = np.count_nonzero(W_h[~allowed])
        if bad:
            raise ParameterError(
                f"W_h has {bad} nonzero weights outside the allowed blocks (a module may only read modules "
                "with an equal or longer period)"
            )
        bad = np.count_nonzero(W_in[~model.layout.window_mask(m)])
        if bad:
            raise ParameterError(
                f"W_in has {bad} nonzero weights outside the input windows (left of a module's last "
                "input_windows[i] * n_in columns)"
            )
        lay = model.layout
        for i in range(model.n_modules):
            r0, r1, c0 = lay.module_start[i], lay.module_start[i + 1], lay.column_start[i]
            model.W_h_block(i)[:] = W_h[r0:r1, c0:]
            model.W_in_block(i)[:] = W_in[r0:r1, W_in.shape[1] - lay.input_windows[i] * m :]
        model.b_h[:] = b_h
        model.W_out[:] = W_out
        model.b_out[:] = b_out
        model._head_from_dense(arrays)
        return model

    def _kernel_args(self, params=None):
        lay = self.layout
        theta = self._params if params is None else params
        return theta, lay.module_start, lay.column_start, lay.block_offset, lay.periods, lay.input_offset

    # ------------------------------------------------------------------ computation

    def population_losses(self, theta, noise, sigma, x3, y_target, labels, readout, losses, *, member_periods=None):
        lay = self.layout
        head_code = self.head.code
        x3, gains = self._population_inputs(x3)
        x3 = self._padded(x3, np.zeros((x3.shape[0], self._state_width()), dtype=self.dtype))[0]
        if member_periods is not None or readout == STEP_CODES["mean"] or head_code == 2:
            # Members with their own periods, the mean readout and the mixture head (rarely used
            # with the ES; a level needs it) run one member at a time rather than slowing the
            # lockstep kernel's loop for everyone.
            if member_periods is None:
                member_periods = np.broadcast_to(lay.periods, (losses.shape[0], lay.periods.shape[0]))
            else:
                for periods in np.unique(member_periods, axis=0):
                    self._layout_for(periods)  # refuses periods that would change the parameter layout
            _kernels._population_losses(
                theta, noise, sigma, lay.module_start, lay.column_start, lay.block_offset,
                np.ascontiguousarray(member_periods, dtype=np.int64), lay.input_offset, x3, self.n_out, y_target,
                labels, head_code, readout, gains, losses,
            )
            return
        _kernels._population_losses_lockstep(
            theta, noise, sigma, lay.module_start, lay.column_start, lay.block_offset, lay.periods, lay.input_offset,
            x3, self.n_out,
            y_target, labels, head_code == 1, readout == STEP_CODES["last"],
            lockstep_lanes(losses.shape[0], numba.get_num_threads()), losses,
        )

    def _layout_for(self, periods):
        """The layout of this model's modules with other ``periods``, if it keeps the parameter layout."""
        periods = validate.positive_int_list("periods", periods)
        if any(b < a for a, b in zip(periods, periods[1:])):
            raise ParameterError(f"periods={periods} must be sorted, one per module from the fastest")
        new = Layout.build(self.module_sizes.tolist(), periods, self.input_windows.tolist())
        for name in ("module_sizes", "module_start", "column_start", "block_offset", "input_offset"):
            if not np.array_equal(getattr(self.layout, name), getattr(new, name)):
                raise ParameterError(
                    f"periods={periods} would change which modules feed which (and so the "
                    f"parameter layout) of a model with periods {self.periods.tolist()}"
                )
        return new

    def set_periods(self, periods):
        """Give the modules new clock periods that keep every module's inputs, hence ``params``.

        The evolution strategy's period search moves the periods this way. Periods that would
        reorder the modules, or make two modules of different periods equal (so that they feed
        each other), change which recurrent blocks exist and are refused. The input windows stay
        as they are (also when they were given as ``"period"``: they are part of the parameter
        layout).

        Raises
        ------
        ParameterError
            If the periods are not positive integers, one per module, or change the layout.
        """
        if np.ndim(periods) != 1 or len(periods) != self.n_modules:
            raise ParameterError(f"periods={periods!r} must hold one period per module ({self.n_modules})")
        new = self._layout_for(periods)
        if not np.array_equal(new.periods, self.layout.periods):  # a stream re-prepares for new periods only
            self._structure_revision += 1
        self.layout = new

    def _padded(self, x3, state):
        """The padded input (B, P + T, n_in) the kernels read (the P = max_window - 1 inputs kept in
        ``state`` (B, width), then ``x3``) and the hidden part of the state (B, n), contiguous.
        With P = 0 these are ``x3`` and ``state`` themselves."""
        n_hist = self._n_history
        if n_hist == 0:
            return x3, state
        batch, n_steps, m = x3.shape
        n = self.n_hidden
        xp = np.empty((batch, n_hist + n_steps, m), dtype=self.dtype)
        xp[:, :n_hist] = state[:, n:].reshape(batch, n_hist, m)
        xp[:, n_hist:] = x3
        return xp, np.ascontiguousarray(state[:, :n])

    def _keep(self, xp, h, state):
        """Write the hidden part ``h`` and the last P inputs of ``xp`` back into ``state`` (see :meth:`_padded`)."""
        n_hist = self._n_history
        if n_hist == 0:
            return
        n = self.n_hidden
        state[:, :n] = h
        state[:, n:] = xp[:, xp.shape[1] - n_hist :].reshape(xp.shape[0], n_hist * xp.shape[2])

    def _outputs(self, x3, h0, t0):
        """Raw outputs (B, T, n_out); h0 (B, width) is updated in place to the final state.

        A batch of one runs on the calling thread: waking numba's thread pool costs more than a
        short sequence's whole pass (measured 16-31 ms against 0.7 ms on a loaded 2-core machine).
        """
        batch, n_steps = x3.shape[:2]
        xp, h = self._padded(x3, h0)
        y = np.empty((batch, n_steps, self.n_out), dtype=self.dtype)
        if batch == 1:
            work = np.empty(self.n_hidden, dtype=self.dtype)
            _kernels._forward_padded_seq(*self._kernel_args(), xp[0], t0, h[0], work, y[0])
        else:
            _kernels._forward_batch(*self._kernel_args(), xp, t0, h, y)
        self._keep(xp, h, h0)
        return y

    def _run_traced(self, xp, h, t0, n_steps):
        """Raw outputs and the trace the backward pass needs from the padded input ``xp`` (see
        :meth:`_padded`); the hidden state h (B, n) is updated to the final one."""
        batch = xp.shape[0]
        offsets = self.layout.trace_offsets(n_steps, t0)
        y = np.empty((batch, n_steps, self.n_out), dtype=self.dtype)
        trace = np.empty((batch, int(offsets[-1])), dtype=self.dtype)
        if batch == 1:
            work = np.empty(self.n_hidden, dtype=self.dtype)
            _kernels._forward_trace_seq(*self._kernel_args(), xp[0], t0, h[0], work, y[0], trace[0], offsets)
        else:
            _kernels._forward_trace_batch(*self._kernel_args(), xp, t0, h, y, trace, offsets)
        return y, trace, offsets

    def sample(self, n_steps, *, values, temperature=1.0, seed=None, first_input=0.0, state=None,
               return_state=False):
        """Generate freely from a softmax or mixture model with one input, feeding back each sampled value.

        At every step the model sees the value it emitted at the previous step (``first_input`` at
        the first). A softmax model draws a class ``c`` from ``softmax(logits / temperature)`` and
        emits ``values[c]``. A mixture model (``output="mixture"``) draws a component from its
        weights at the same temperature and an amplitude from that logistic, its scale times the
        temperature, and emits the amplitude (clipped to [-1, 1]; no mu-law quantisation); it
        reads back the value of that amplitude's mu-law class, as it read its training audio
        (mu-law history), or with ``values=None`` the amplitude itself (linear history: a model
        trained on the samples themselves, :func:`cwfast.tasks.autoregressive`).
        This is how an autoregressive audio model runs free (teacher forcing in training, its own
        output in generation). The whole loop runs inside one compiled call.

        Parameters
        ----------
        n_steps : int
        values : ndarray, shape (n_out,), or (256,) or None for a mixture model
            The value each class stands for (for mu-law audio: the decoded amplitudes); None: a
            mixture model reads back the amplitudes it draws as they are.
        temperature : float
            ``>= 0``; 0 takes the most likely class (a mixture: the likeliest component's mean)
            at every step, 1 samples the model as trained.
        seed : int or numpy.random.Generator, optional
        first_input : float
            What the model reads at its first step (the last sample of a priming clip, say).
        state : State, optional
            Where to start (e.g. after running ``forward`` over a priming clip).
        return_state : bool

        Returns
        -------
        out : ndarray, shape (n_steps,), the model's dtype
        state : State, only if ``return_state``. Continue with ``first_input=out[-1]``.
        """
        return_state = validate.flag("return_state", return_state)
        values, inv_temperature, uniforms, h, t0, x, logits, out = sampling_buffers(
            self, n_steps, values, temperature, seed, first_input, state
        )
        # The padded input: the kept inputs, the first input, then room for each fed-back value.
        n, n_hist = self.n_hidden, self._n_history
        xp = np.empty((n_hist + out.shape[0] + 1, 1), dtype=self.dtype)
        xp[:n_hist, 0] = h[n : n + n_hist]
        xp[n_hist] = x[0]
        hidden = h[:n]
        level, bounds, taps, window, pitch = head_args(self, h, out.shape[0])
        _kernels._sample_feedback(
            *self._kernel_args(), t0, hidden, np.empty_like(hidden), xp, logits, values, self.head.code,
            inv_temperature, uniforms, out, level, *bounds, taps, window, *pitch,
        )
        h[n : n + n_hist] = xp[out.shape[0] : out.shape[0] + n_hist, 0]
        keep_window(self, h, window, pitch)
        if return_state:
            return out, State(h, t0 + n_steps)
        return out

    def _traced_outputs(self, x3, h0, t0):
        xp, h = self._padded(x3, h0)
        h_start = h.copy()
        y, trace, offsets = self._run_traced(xp, h, t0, x3.shape[1])
        self._keep(xp, h, h0)
        return y, (xp, t0, h_start, h, trace, offsets)

    def _backward(self, record, d_y):
        # xp is the padded input (see _padded), h_start and h_end (B, n) the hidden states around it
        xp, t0, h_start, h_end, trace, offsets = record
        batch, n = xp.shape[0], self.n_hidden
        d_y = np.ascontiguousarray(d_y)
        d_h = np.zeros((batch, n), dtype=self.dtype)
        if batch == 1:
            grad = np.zeros(self.n_params, dtype=self.dtype)
            scratch = np.empty((2, n), dtype=self.dtype)
            _kernels._backward_seq(
                *self._kernel_args(), xp[0], t0, h_start[0], h_end[0], trace[0], offsets, d_y[0], grad, d_h[0],
                scratch[0], scratch[1],
            )
            return grad
        rows = np.zeros((batch, self.n_params), dtype=self.dtype)
        _kernels._backward_batch(*self._kernel_args(), xp, t0, h_start, h_end, trace, offsets, d_y, rows, d_h)
        return rows.sum(axis=0)


def sampling_buffers(model, n_steps, values, temperature, seed, first_input, state):
    """Validate :meth:`ClockworkRNN.sample`'s arguments (any model with its interface) and make
    what a feedback kernel needs: values, inv_temperature, uniforms (n_steps, 1) for a softmax
    head and (n_steps, 2) for a mixture head, state vector, t0, the input x (1, 1), logits
    (1, n_out) and out (n_steps,)."""
    if model.output not in ("softmax", "mixture") or model.n_in != 1:
        raise ParameterError("sample() needs a softmax or mixture model with n_in=1 (an autoregressive model)")
    model.check_runnable()
    n_steps = validate.positive_int("n_steps", n_steps)
    if values is None and model.output == "mixture":
        values = np.empty(0, dtype=model.dtype)  # linear history: the kernels read back what they drew
    elif values is None:
        raise ParameterError(f"values=None is for a mixture model (it reads back the amplitudes it draws); a softmax "
                             f"model needs the value of each of its {model.n_out} classes, shape ({model.n_out},)")
    else:
        values = validate.real_array("values", values, model.dtype)
        n_values = N_CLASSES if model.output == "mixture" else model.n_out
        if values.shape != (n_values,):
            raise ParameterError(f"values has shape {values.shape}; expected ({n_values},)")
    temperature = validate.temperature("temperature", temperature)
    first_input = validate.within_dtype("first_input", first_input, model.dtype)
    h, t0 = model.check_state(state, 1, False)
    rng = validate.rng(seed)
    # A softmax step draws one uniform (the same stream as before mixtures existed), a mixture
    # step two: the component and the amplitude.
    try:
        uniforms = rng.random(n_steps).reshape(n_steps, 1) if model.output == "softmax" else rng.random((n_steps, 2))
        out = np.empty(n_steps, dtype=model.dtype)
    except (MemoryError, ValueError):  # ValueError: NumPy's "array is too big" past what it can address
        size = n_steps * (8 * (1 if model.output == "softmax" else 2) + model.dtype.itemsize)
        raise ParameterError(f"n_steps={n_steps} needs {size / 2**30:.3g} GiB of buffers, more than this machine "
                             "gives; generate in blocks (cwfast.render.render_blocks)") from None
    x = np.full((1, 1), first_input, dtype=model.dtype)
    logits = np.empty((1, model.n_out), dtype=model.dtype)
    inv_temperature = 0.0 if temperature == 0 else 1.0 / temperature
    return values, inv_temperature, uniforms, h[0], t0, x, logits, out


#: The sampling kernels' pitch coefficients for a model without a pitch predictor: read-only, as
#: a predictor's own are (Pitch.checked), so that numba compiles those kernels once for both kinds
#: of model (a writable empty array is another type to it: each kernel compiled twice).
_NO_PITCH = np.zeros(0)
_NO_PITCH.flags.writeable = False


def head_args(model, state, n_steps):
    """The sampling kernels' head arguments for ``state`` (the full state vector) and ``n_steps``:
    the level (a view of the state's last element, or empty), (alpha, floor, ceiling) (alpha 0
    without a level), the taps, the predictions' window (float64, P + n_steps: the P inputs kept
    in the state, then room for the inputs read; empty without a prediction or pitch predictor),
    and the pitch predictor's (coefficients, cfg, estimate) (empty without one; the estimate a
    copy). Write the window and the estimate back with :func:`keep_window`."""
    level, bounds = (state[:0], (0.0, LEVEL_FLOOR, math.inf)) if model.level is None else (state[-1:], (
        model.level.alpha, model.level.floor, model.level.ceiling))
    kept = state[model._history_slice()]
    window = np.zeros(kept.size + n_steps if model.prediction or model.pitch is not None else 0)
    window[: kept.size] = kept
    a = _NO_PITCH if model.pitch is None else model.pitch.coefficients
    est = state[model._pitch_slice()].copy()
    return level, bounds, model.taps, window, (a, model._pitch_config(), est)


def keep_window(model, state, window, pitch):
    """Write the last inputs of a sampling kernel's ``window`` and the pitch predictor's estimate
    (``pitch`` as :func:`head_args` gave it) back into ``state``."""
    kept = model._history_slice()
    state[kept] = window[window.shape[0] - (kept.stop - kept.start) :]
    state[model._pitch_slice()] = pitch[2]


def lockstep_lanes(n_members, n_threads=1):
    """Members per chunk of the lockstep population kernel, for ``n_threads`` numba threads.

    Chunks of about 128 members run fastest per member (see cwfast._kernels); their count is
    rounded up to a multiple of ``n_threads`` so that every thread gets a share (257 members: two
    chunks of 136 on one or two threads, four of 72 on four, eight of 33 on eight). Chunks hold
    a multiple of 8 members (a vector of float32; padding lanes compute the centre again) unless
    that would leave threads without a chunk, and at least 8 unless there are fewer members. A
    member's arithmetic is the same in any lane of any chunk width (tested bit for bit), so the
    losses do not depend on the thread count.
    """
    n_chunks = max(1, round(n_members / 128))
    n_threads = max(1, min(int(n_threads), -(-n_members // 8)))
    n_chunks = -(-n_chunks // n_threads) * n_threads
    per_chunk = -(-n_members // n_chunks)
    padded = -(-per_chunk // 8) * 8
    if -(-n_members // padded) < n_threads:
        return per_chunk
    return padded

