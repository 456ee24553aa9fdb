"""What the gradient trainer and the evolution strategy share: results, callback records, seeds,
data fingerprints, progress bars and the Ctrl-C guard.

The guard matters for exact resumes: a checkpoint may only be written where parameters, optimizer
state and position in the data agree. The first Ctrl-C therefore only raises a flag, which the
training loop reads at the end of each update and turns into a :class:`KeyboardInterrupt` there, at
a consistent point. A second Ctrl-C interrupts at once (and then no checkpoint is written).
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import numbers
import signal
import threading
from dataclasses import dataclass, field

import numpy as np

from ..errors import ParameterError
from ..model import SequenceModel
from ..validate import flag, non_negative_float, positive_float, positive_int, rng  # noqa: F401  (the trainers' checks)


@dataclass
class TrainResult:
    """What a training run did.

    Attributes
    ----------
    losses : list of float
        Training loss of every epoch (:func:`fit`: the mean over the epoch's updates, measured on
        the (noisy) batches as they were trained on) or generation (:func:`evolve`: the loss of
        the search distribution's centre before that generation's update).
    best_loss : float
        The lowest monitored loss: validation loss if a validation set was given, else the
        noise-free training loss if early stopping with input noise, else the lowest of
        ``losses``. The model holds the parameters that reached it whenever a validation set or
        ``patience`` is given, and always in :func:`evolve`. A run stopped before any epoch
        ended (and without validation) has ``final_loss`` here instead, NaN with ``fit(...,
        final_loss=False)``.
    final_loss : float
        The noise-free training loss of the model as returned, on the whole of ``x``/``target``.
        For the memorisation task, ``final_loss / var(target)`` is the paper's NMSE. NaN if
        :func:`fit` was passed ``final_loss=False``, which skips that pass.
    steps : int
        Parameter updates done (epochs x updates per epoch for :func:`fit`, generations for
        :func:`evolve`), counting those done before a resume.
    wall_time : float
        Seconds spent training, counting those spent before a resume; the seconds numba spent
        compiling kernels meanwhile (a new installation's first run) are left out.
    stopped : str
        ``"completed"``, ``"early stopping"`` (``patience`` ran out), ``"callback"``
        (``on_step_end`` returned True) or ``"time budget"``.
    epochs : int
        Epochs (or generations) completed.
    validation_losses : list of float
        Validation loss after every epoch, if a validation set was given. A :func:`fit` that the
        time budget stops inside an epoch scores that partial epoch too: it is the last entry of
        ``losses`` and ``validation_losses`` (one more than ``epochs``).
    best_epoch : int or None
        Index into ``losses`` of the epoch whose parameters the model holds, when it holds the best.
    """

    losses: list = field(default_factory=list)
    best_loss: float = math.inf
    final_loss: float = math.nan
    steps: int = 0
    wall_time: float = 0.0
    stopped: str = "completed"
    epochs: int = 0
    validation_losses: list = field(default_factory=list)
    best_epoch: int | None = None


@dataclass
class StepInfo:
    """What ``on_step_end`` receives after every update.

    Attributes
    ----------
    epoch : int
        The epoch (generation) the update belongs to, from 0.
    step : int
        Updates done so far, this one included.
    loss : float
        The loss this update was computed from (a minibatch's, or the ES centre's).
    epoch_loss : float or None
        Set on the last update of an epoch: that epoch's entry of ``TrainResult.losses``.
    validation_loss : float or None
        Set on the last update of an epoch when a validation set is given.
    lr : float
        The learning rate this update used.
    params : ndarray
        The model's live parameter vector (a view: read it, copy it, do not write to it).
    elapsed : float
        Seconds of training so far.
    """

    epoch: int
    step: int
    loss: float
    epoch_loss: float | None
    validation_loss: float | None
    lr: float
    params: np.ndarray
    elapsed: float


def seed_entropy(seed):
    """The root of all of a run's randomness, as a non-negative int (stored in checkpoints).

    ``None`` draws fresh entropy; a non-negative integer is the root itself; any other seed the
    models take (a Generator, or what ``np.random.default_rng`` takes: a SeedSequence, a bit
    generator, a list of integers) gives one draw from the generator it makes.
    """
    if seed is None:
        return int(np.random.SeedSequence().entropy)
    if isinstance(seed, numbers.Integral) and not isinstance(seed, (bool, np.bool_)) and seed >= 0:
        return int(seed)
    return int(rng(seed).integers(0, 2**63))


def check_model(model):
    """ParameterError unless ``model`` is one of cwfast's sequence models."""
    if not isinstance(model, SequenceModel):
        raise ParameterError(f"model must be a ClockworkRNN, SRN or LSTM, not {type(model).__name__}")


def fingerprint(*arrays):
    """A short hash of arrays' shapes, dtypes and bytes: a resumed run must see the same data."""
    digest = hashlib.sha256()
    for a in arrays:
        if a is None:
            digest.update(b"none")
            continue
        a = np.ascontiguousarray(a)
        digest.update(f"{a.dtype.str}{a.shape}".encode())
        digest.update(a.reshape(-1).view(np.uint8))  # the same bytes as a.tobytes(), without their copy
    return digest.hexdigest()[:16]


#: The epochs (generations) of a run given none, which only its time budget ends.
UNTIL_THE_BUDGET = 2**62


def run_limit(name, count, time_budget):
    """The epochs (generations) a training loop may run: ``count``, or with ``count=None`` as many
    as ``time_budget`` allows (:data:`UNTIL_THE_BUDGET`; ParameterError without a budget)."""
    if count is not None:
        return count
    if time_budget is None:
        raise ParameterError(f"{name}=None trains until the time budget: give time_budget too")
    return UNTIL_THE_BUDGET


def progress_bar(enabled, total, initial, unit, time_budget=None, elapsed=0.0):
    """A :class:`Progress` bar on stderr, or None."""
    return Progress(total, initial, unit, time_budget, elapsed) if enabled else None


class Progress:
    """A tqdm bar over a run of ``total`` updates that may also end at ``time_budget`` seconds.

    Without a budget it counts updates. With one it shows the fraction of the run done, the
    larger of the updates' and the budget's (the fraction a decaying learning rate follows too),
    so its time left is that of whichever ends the run first, not of epochs the budget will cut.

    The time left is reckoned on the run's own clock (``elapsed``, which leaves out numba's
    compilation of the kernels: :mod:`cwfast._clock`), at this sitting's pace: on tqdm's wall
    time, a first run's first update held a minute of compiling, and a 5-minute budget's bar
    promised 2 h 20 min. The time shown as taken is wall time.
    """

    _STEPS = 1000

    def __init__(self, total, initial, unit, time_budget=None, elapsed=0.0):
        from .._bars import bar

        self._total, self._budget, self._done = total, time_budget, initial
        self._elapsed = self._first_elapsed = elapsed
        self._first, self._first_done, self._unit = self._fraction(), initial, unit
        if time_budget is None:
            self._bar = bar(total=total, initial=initial, dynamic_ncols=True, leave=True, fields=self._fields,
                            bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{left}, {pace}{postfix}]")
        else:
            self._bar = bar(total=self._STEPS, initial=self._tick(), dynamic_ncols=True, leave=True,
                            fields=self._fields, bar_format="{l_bar}{bar}| {elapsed}<{left}{postfix}")

    def _fraction(self):
        done = self._done / max(self._total, 1)
        if self._budget is not None:
            done = max(done, self._elapsed / self._budget)
        return min(done, 1.0)

    def _tick(self):
        return int(self._fraction() * self._STEPS)

    def _fields(self):
        """The bar's ``{left}`` (time left) and ``{pace}`` (updates a second) at this sitting's pace."""
        from tqdm import tqdm

        done, spent = self._fraction() - self._first, self._elapsed - self._first_elapsed
        if done <= 0.0 or spent <= 0.0:
            return {"left": "?", "pace": f"?{self._unit}/s"}
        left = spent * (1.0 - self._fraction()) / done
        if self._budget is not None:
            left = min(left, max(self._budget - self._elapsed, 0.0))
        rate = (self._done - self._first_done) / spent
        pace = f"{rate:.2f}{self._unit}/s" if rate >= 1.0 else f"{1.0 / max(rate, 1e-9):.2f}s/{self._unit}"
        return {"left": tqdm.format_interval(left), "pace": pace}

    def update(self, elapsed):
        """One more update done, ``elapsed`` seconds into the run (on its own clock)."""
        self._done += 1
        self._elapsed = elapsed
        self._bar.update(1 if self._budget is None else self._tick() - self._bar.n)

    def set_postfix_str(self, text, refresh=False):
        self._bar.set_postfix_str(text, refresh=refresh)

    def close(self):
        self._bar.close()


@contextlib.contextmanager
def interruptible(run, guard, bar, save_checkpoint, elapsed):
    """Around a training loop: on Ctrl-C, record the run as interrupted and write a checkpoint
    (when one is kept and the parameters are consistent), then re-raise; always close the bar.

    ``save_checkpoint`` is a callable or None; ``elapsed()`` gives the run's wall time so far.
    """
    try:
        yield
    except KeyboardInterrupt:
        if save_checkpoint is not None and guard.consistent:
            run["stopped"] = "interrupted"
            run["wall_time"] = elapsed()
            save_checkpoint()
        raise
    finally:
        if bar is not None:
            bar.close()


class InterruptGuard:
    """Defer the first Ctrl-C to the next consistent point of the training loop.

    Active only in the main thread and only if SIGINT has Python's default handler (a program
    that installed its own keeps it). ``consistent`` is False while an update is being applied;
    the loop sets it.
    """

    def __init__(self):
        self.requested = False
        self.consistent = True
        self._previous = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
                self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def check(self):
        """Raise the deferred KeyboardInterrupt, if one is pending; call at consistent points."""
        if self.requested:
            raise KeyboardInterrupt

    def __exit__(self, exc_type, exc, tb):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        if exc_type is None and self.requested:  # a Ctrl-C after the loop's last check is not lost
            raise KeyboardInterrupt
        return False
