"""The gradient trainer: back-propagation through time with Adam or the paper's Nesterov SGD.

:func:`fit` walks the data epoch by epoch. One sequence is cut into ``batch_size`` contiguous
streams (one by default) and a batch of sequences is dealt into shuffled minibatches; either way,
each stream is then advanced ``window`` steps at a time (truncated BPTT), carrying the hidden
state *and the clock step* from one window to the next, so every module fires exactly when it
would over the whole sequence. Without ``window`` each update back-propagates through the whole
sequence. Each update clips the gradient's norm and takes one optimizer step on the model's flat
parameter vector, in place.

All randomness (minibatch order, input noise) is drawn from generators keyed on (seed, epoch,
update), never from one running stream, so a run can be stopped after any update and resumed from
its checkpoint to give bit-identical parameters.
"""

from __future__ import annotations

import contextlib
import math

import numba
import numpy as np

from .._clock import clock
from ..errors import CwfastError, ParameterError, TrainingDiverged
from ..model import State
from . import checkpoint as ckpt_io
from ._common import (
    InterruptGuard,
    StepInfo,
    TrainResult,
    check_model,
    fingerprint,
    flag,
    interruptible,
    non_negative_float,
    positive_float,
    positive_int,
    progress_bar,
    run_limit,
    seed_entropy,
)
from .optimizers import DEFAULT_ADAM_LR, Adam, NesterovSGD, Optimizer, clip_grad_norm, make_schedule

__all__ = ["fit", "DEFAULT_ADAM_LR", "PAPER_SGD_LR"]

#: The paper's learning rate, on the summed squared error of a sequence.
PAPER_SGD_LR = 3e-4


class _Plan:
    """How an epoch walks through the data: streams, groups of streams, windows.

    ``xs`` (S, L, n_in) and ``ts`` hold S streams of L steps. An epoch is ``n_groups`` groups of
    at most ``group_size`` streams, each advanced window by window: ``updates_per_epoch`` updates
    in all. Update ``position`` of an epoch is window ``position % n_windows`` of group
    ``position // n_windows``.
    """

    def __init__(self, model, x, target, steps, batch_size, window):
        x3, batched = model.check_input(x)
        tgt = model.check_target(target, x3.shape, batched, steps)  # also refuses a bad steps, or no steps
        self.x3, self.tgt, self.steps = x3, tgt, steps
        n_seq, n_steps = x3.shape[:2]
        if not batched:
            n_streams = batch_size or 1
            if n_streams > 1:
                if steps != "all":
                    raise ParameterError(
                        f"batch_size={n_streams} cuts one sequence into streams, but with steps={steps!r} it has one "
                        "label; pass a batch of sequences (batch, n_steps, n_in) instead"
                    )
                # Streams share one clock step per call, so each must start in the clock phase of step 0.
                cycle = int(np.lcm.reduce(model.periods))
                length = n_steps // n_streams
                length -= length % cycle
                if length <= 0:
                    most = max(1, n_steps // cycle)
                    raise ParameterError(
                        f"batch_size={n_streams} cuts the {n_steps}-step sequence into streams shorter than one "
                        f"clock cycle ({cycle} steps, the lcm of the periods); use at most "
                        f"{most} stream{'s' if most > 1 else ''}"
                    )
                self.xs = x3[0, : n_streams * length].reshape(n_streams, length, model.n_in)
                self.ts = tgt[0, : n_streams * length].reshape((n_streams, length) + tgt.shape[2:])
            else:
                self.xs, self.ts = x3, tgt
            self.group_size, self.shuffle = n_streams, False
        else:
            self.xs, self.ts = x3, tgt
            self.group_size = min(batch_size or n_seq, n_seq)
            self.shuffle = self.group_size < n_seq
        length = self.xs.shape[1]
        if window is None or window >= length:
            window = length
        elif steps != "all":
            raise ParameterError(f"window={window} (truncated BPTT) scores every step; it needs steps='all'")
        self.window = window
        self.windows = [(w, min(w + window, length)) for w in range(0, length, window)]
        self.n_windows = len(self.windows)
        self.n_streams = self.xs.shape[0]
        self.n_groups = -(-self.n_streams // self.group_size)
        self.updates_per_epoch = self.n_groups * self.n_windows
        per_step = model.n_out if model.output == "linear" else 1
        self.scored_per_sequence = per_step * (window if steps == "all" else 1)

    def order(self, entropy, epoch):
        if not self.shuffle:
            return None
        return np.random.default_rng([entropy, 0, epoch]).permutation(self.n_streams)

    def batch(self, order, position):
        group, w = divmod(position, self.n_windows)
        start, stop = self.windows[w]
        rows = slice(group * self.group_size, (group + 1) * self.group_size)
        idx = rows if order is None else np.sort(order[rows])
        xb = self.xs[idx, start:stop]
        tb = self.ts[idx, start:stop] if self.steps == "all" else self.ts[idx]
        return xb, tb, start, w


@contextlib.contextmanager
def _threads(n):
    """Run numba kernels on at most ``n`` threads: a batch of one gains nothing from two, and on a
    busy machine waking the second thread costs more than the work."""
    before = numba.get_num_threads()
    numba.set_num_threads(max(1, min(n, before)))
    try:
        yield
    finally:
        numba.set_num_threads(before)


def _make_optimizer(optimizer, lr, momentum, plan):
    if lr is not None:
        lr = positive_float("lr", lr)
    if isinstance(optimizer, Optimizer):
        if lr is not None:
            optimizer.lr = lr
        return optimizer
    if optimizer == "adam":
        return Adam(DEFAULT_ADAM_LR if lr is None else lr)
    if optimizer == "sgd":
        return NesterovSGD(PAPER_SGD_LR * plan.scored_per_sequence if lr is None else lr, momentum=momentum)
    raise ParameterError(f"optimizer={optimizer!r} must be 'adam', 'sgd' or an Optimizer object")


def fit(
    model,
    x,
    target,
    *,
    steps="all",
    optimizer="adam",
    lr=None,
    momentum=0.95,
    epochs=100,
    batch_size=None,
    window=None,
    clip_norm=1.0,
    lr_schedule=None,
    input_noise=0.0,
    validation=None,
    patience=None,
    seed=None,
    checkpoint=None,
    checkpoint_every=100,
    resume=False,
    progress=False,
    on_step_end=None,
    time_budget=None,
    final_loss=True,
):
    r"""Train ``model`` in place by back-propagation through time.

    Each update computes :meth:`ClockworkRNN.loss_and_grad` on one batch of windows (mean squared
    error for a linear model, mean cross-entropy for a softmax one), clips the gradient to
    ``clip_norm``, and takes one optimizer step on :attr:`model.params`.

    Parameters
    ----------
    model : ClockworkRNN
        Trained in place.
    x : ndarray, shape (n_steps, n_in) or (batch, n_steps, n_in)
        One sequence or a batch of sequences (``n_in`` may be 0: a network driven by its clock).
    target : ndarray
        As for :meth:`ClockworkRNN.loss_and_grad` with the same ``steps``.
    steps : {"all", "last", "mean"}
        Score every step, only the last, or the mean output over the steps (classification; see
        :meth:`ClockworkRNN.loss_and_grad`).
    optimizer : {"adam", "sgd"} or Optimizer
        ``"adam"`` (:class:`Adam`) or ``"sgd"`` (:class:`NesterovSGD`, the paper's), or an
        optimizer object, whose state then carries over between calls.
    lr : float, optional
        The base learning rate, for the gradient of cwfast's *mean* loss. Default for Adam:
        1e-2 (measured; see ``docs/results.md``, "Memorisation across sounds"). Default for SGD: the paper's 3e-4, which the
        paper applied to the error *summed* over a sequence, so it becomes
        ``3e-4 * scored values per sequence`` here (per window with ``window``; 320 for the
        320-sample memorisation task). ``lr=3e-4`` as such barely moves a mean-loss model.
    momentum : float
        Nesterov momentum for ``"sgd"``; the paper's 0.95. Ignored by Adam.
    epochs : int or None
        Passes over the data; None trains until ``time_budget`` (required then), and a named
        ``lr_schedule`` decays over that time instead of over the epochs.
    batch_size : int, optional
        A single sequence: the number of contiguous streams it is cut into (default 1). They are
        advanced side by side and must start in the same clock phase, so each stream's length is
        rounded down to a whole number of clock cycles (the lcm of the periods); the leftover
        tail is not trained on. A batch of sequences: sequences per update (default: all), dealt
        into a new random order every epoch.
    window : int, optional
        Truncated BPTT: advance each stream this many steps per update, carrying hidden state
        and clock step across windows (the gradient does not flow back across a window edge).
        Default: the whole stream, full BPTT.
    clip_norm : float or None
        Scale the gradient down to this Euclidean norm when it is longer; None or 0 disables.
    lr_schedule : None, "constant", "cosine", "linear" or callable
        Factor on ``lr`` per epoch; see :func:`cwfast.train.optimizers.make_schedule`. A named
        decay runs over ``epochs``, or with ``epochs=None`` over ``time_budget`` (the rate then
        falls update by update with the time spent, so the run is not repeatable bit for bit).
    input_noise : float
        Standard deviation of Gaussian noise added to the inputs of every training batch (the
        paper's spoken-word task used 0.6). Validation and reported final losses are noise-free.
    validation : (x_val, target_val), optional
        Scored after every epoch; the model ends with the parameters of the best epoch.
    patience : int, optional
        Stop when the monitored loss has not improved for this many epochs. The monitored loss
        is the validation loss if given; otherwise, as in the paper, the *noise-free* training
        loss (one extra forward pass per epoch) when ``input_noise > 0``, else the epoch's
        training loss. The model ends with the parameters of the best epoch.
    seed : int, optional
        Root of all randomness (minibatch order, input noise). None: fresh entropy, which a
        checkpoint records, so a resume still continues exactly. A Generator (or another seed
        ``np.random.default_rng`` takes) gives the root as one draw from it.
    checkpoint : path, optional
        Where to write checkpoints (see :mod:`cwfast.train.checkpoint`): every
        ``checkpoint_every`` updates, at the end, and on Ctrl-C.
    checkpoint_every : int
        Updates between checkpoints.
    resume : bool
        Continue from ``checkpoint`` (which must exist), exactly where it stopped. ``model``,
        data and settings must be those of the interrupted run; ``epochs`` may be raised to
        train longer. With ``seed=None`` the checkpoint's seed is used.
    progress : bool
        Show a tqdm progress bar on stderr (update, epoch, loss, time left; under a time budget
        the fraction of the run done, the larger of the updates' and the budget's).
    on_step_end : callable, optional
        Called after every update with a :class:`StepInfo`; returning True stops training after
        that update (``stopped="callback"``; the run can be resumed from its checkpoint).
    time_budget : float, optional
        Seconds of training (``wall_time``, a resumed run's earlier time included; time numba
        spends compiling kernels, as a new installation's first run does, is not counted) after which
        the run stops at the end of the update under way (``stopped="time budget"``). With
        ``validation`` the model then ends with the best-validation parameters, the unfinished
        epoch's included (the validation part is scored once more where it stopped).
    final_loss : bool
        Score all of ``x`` once more at the end for :attr:`TrainResult.final_loss`. False leaves
        it NaN (and ``best_loss`` too, if the run stopped before an epoch ended and had no
        validation) and saves that pass, for a caller that scores the data its own way: on an hour of
        audio it takes a minute or more per model (``cwfast train`` scores the parts of the kept
        model once, after all its runs).

    Returns
    -------
    TrainResult

    Raises
    ------
    ParameterError
        On invalid arguments or data.
    CwfastError
        ``"training diverged: loss became nan at epoch N ..."`` if a loss or gradient is NaN or
        infinite. Before raising, the model gets back the last parameters whose loss was finite
        (those before the update that broke it); no checkpoint is written then, so the last
        periodic checkpoint stays usable. Also raised for an unreadable or mismatched checkpoint
        on resume.
    KeyboardInterrupt
        Ctrl-C is re-raised after the current update finishes and, if ``checkpoint`` is set, a
        checkpoint of that point is written (a second Ctrl-C stops at once, without one).
        ``resume=True`` continues from it exactly. The model keeps the parameters it had.

    Notes
    -----
    For the memorisation task (no input, one 320-sample sequence) a full-batch run is one update
    per epoch; ``final_loss / var(target)`` is the paper's NMSE.
    """
    check_model(model)
    if getattr(model, "surprise", None) is not None:  # its windows would restart r at 1: refuse, as evolve does
        raise ParameterError("a model with a surprise-following scale is not trained further (the scale is fitted "
                             "after training); set model.surprise = None, train, then fit it again")
    epochs = positive_int("epochs", epochs, allow_none=True)
    batch_size = positive_int("batch_size", batch_size, allow_none=True)
    window = positive_int("window", window, allow_none=True)
    patience = positive_int("patience", patience, allow_none=True)
    checkpoint_every = positive_int("checkpoint_every", checkpoint_every)
    time_budget = positive_float("time_budget", time_budget, allow_none=True)
    limit = run_limit("epochs", epochs, time_budget)
    clip_norm = None if clip_norm is None else non_negative_float("clip_norm", clip_norm) or None
    input_noise = non_negative_float("input_noise", input_noise)
    if on_step_end is not None and not callable(on_step_end):
        raise ParameterError(f"on_step_end={on_step_end!r} must be callable or None")
    if flag("resume", resume) and checkpoint is None:
        raise ParameterError("resume=True needs checkpoint=PATH to resume from")
    checkpoint = ckpt_io.check_target(checkpoint)
    progress = flag("progress", progress)
    score_final = flag("final_loss", final_loss)
    plan = _Plan(model, x, target, steps, batch_size, window)
    schedule = make_schedule(lr_schedule, epochs, time_budget)
    val = None
    if validation is not None:
        if not isinstance(validation, (tuple, list)) or len(validation) != 2:
            raise ParameterError("validation must be a pair (x_val, target_val)")
        vx, vbatched = model.check_input(validation[0])
        val = (vx, model.check_target(validation[1], vx.shape, vbatched, steps))
    monitor = val is not None or patience is not None
    entropy = None if resume else seed_entropy(seed)
    # A caller's Optimizer gets ``lr`` here, and a resumed run's state below: as it was if that fails.
    before = optimizer.state_dict() if isinstance(optimizer, Optimizer) else None
    opt = _make_optimizer(optimizer, lr, momentum, plan)

    config = {
        "steps": steps,
        "periods": model.periods.tolist(),
        "optimizer": {k: v for k, v in opt.state_dict().items() if not isinstance(v, np.ndarray) and k != "t"},
        "batch_size": batch_size,
        "window": plan.window,
        "clip_norm": clip_norm,
        "lr_schedule": lr_schedule if lr_schedule is None or isinstance(lr_schedule, str) else "callable",
        "input_noise": input_noise,
        "patience": patience,
        "data": fingerprint(plan.x3, plan.tgt),
        "validation": None if val is None else fingerprint(*val),
        "epochs": epochs,
    }
    if epochs is None:  # the run is its budget: resume with the same one (a decay follows it)
        config["time_budget"] = time_budget

    params = model.params
    run = {
        "epoch": 0, "position": 0, "step": 0, "wall_time": 0.0, "stopped": "completed",
        "epoch_sum": 0.0, "epoch_count": 0, "best_loss": None, "best_epoch": None, "bad_epochs": 0,
    }
    losses, val_losses = [], []
    best_params = None
    carry_h = None
    if resume:
        try:
            ck, entropy = ckpt_io.resume(checkpoint, "fit", model, config, seed, opt, run)
            if run["position"] >= plan.updates_per_epoch:  # an epoch's end resets it to 0: no run writes this
                raise CwfastError(f"cannot resume from checkpoint '{checkpoint}': it is damaged (update "
                                  f"{run['position']} of an epoch of {plan.updates_per_epoch})")
        except BaseException:
            if before is not None:
                optimizer.load_state_dict(before)
            raise
        params[:] = ck.model.params
        losses = ck.losses
        val_losses = [float(v) for v in ck.arrays.get("validation_losses", [])]
        best_params = ck.arrays.get("best_params")
        best_params = None if best_params is None else best_params.astype(model.dtype, copy=True)
        carry_h = ck.arrays.get("carry_h")
        carry_h = None if carry_h is None else carry_h.astype(model.dtype, copy=True)

    def save():
        progress_state = dict(run, entropy=entropy)
        arrays = {
            "losses": np.asarray(losses, dtype=np.float64),
            "validation_losses": np.asarray(val_losses, dtype=np.float64),
        }
        if best_params is not None:
            arrays["best_params"] = best_params
        if carry_h is not None:
            arrays["carry_h"] = carry_h
        ckpt_io.save_checkpoint(
            checkpoint, kind="fit", model=model, config=config, progress=progress_state,
            optimizer=opt.state_dict(), arrays=arrays,
        )

    def diverged(what, value, epoch, step, *, stepped=False):
        # stepped: update step + 1 was taken (and made the parameters non-finite), not only scored
        params[:] = last_good
        raise TrainingDiverged(
            f"training diverged: {what} became {value} at epoch {epoch + 1} (update {step + 1})",
            f"the model keeps the last parameters with a finite loss. Try a smaller lr (now {opt.lr:g}) or clip_norm",
            update=step + 1 + stepped,
        )

    last_good = params.copy()
    total_updates = limit * plan.updates_per_epoch
    bar = progress_bar(progress, total_updates, min(run["step"], total_updates), "update", time_budget,
                       run["wall_time"])
    started = clock()
    wall_before = run["wall_time"]
    # Patience that ran out stops the run whatever the checkpoint says: a Ctrl-C (or a callback's
    # True) in the update that ended that epoch recorded "interrupted" ("callback"), and a resume
    # trained on past where the uninterrupted run had stopped.
    stop = run["stopped"] == "early stopping" or (patience is not None and run["bad_epochs"] >= patience)
    if stop:
        run["stopped"] = "early stopping"
    if not stop and time_budget is not None and run["wall_time"] >= time_budget:  # resumed, its budget spent: no update
        run["stopped"], stop = "time budget", True
    guard = InterruptGuard()
    with interruptible(run, guard, bar, save if checkpoint is not None else None,
                       lambda: wall_before + clock() - started), guard, _threads(plan.group_size):
        while run["epoch"] < limit and not stop:
            epoch = run["epoch"]
            order = plan.order(entropy, epoch)
            while run["position"] < plan.updates_per_epoch:
                lr_now = opt.lr * float(schedule(epoch, run["wall_time"]))
                xb, tb, t0, w = plan.batch(order, run["position"])
                if input_noise > 0 and xb.size:
                    noise_rng = np.random.default_rng([entropy, 1, epoch, run["position"]])
                    xb = xb + (input_noise * noise_rng.standard_normal(xb.shape)).astype(xb.dtype)
                state = State(carry_h, t0) if w > 0 else None
                loss, grad, new_state = model.loss_and_grad(
                    xb, tb, state=state, return_state=True, flat=True, steps=steps
                )
                if not math.isfinite(loss):
                    diverged("loss", loss, epoch, run["step"])
                grad_norm = clip_grad_norm(grad, clip_norm)
                if not math.isfinite(grad_norm):
                    diverged("the gradient", grad_norm, epoch, run["step"])
                guard.consistent = False
                last_good[:] = params
                with np.errstate(over="ignore"):  # said below
                    opt.step(params, grad, lr=lr_now)
                if not np.isfinite(params).all():  # a finite loss and gradient, a step too large for the dtype
                    diverged("the parameters", "non-finite", epoch, run["step"], stepped=True)
                # The next window starts at step t0 + len(window): its start offset, as plan.batch gives.
                carry_h = new_state.h if w + 1 < plan.n_windows else None
                run["position"] += 1
                run["step"] += 1
                run["epoch_sum"] += loss * tb.size
                run["epoch_count"] += tb.size
                epoch_loss = val_loss = None
                if run["position"] == plan.updates_per_epoch:
                    epoch_loss = run["epoch_sum"] / run["epoch_count"]
                    losses.append(epoch_loss)
                    if val is not None:
                        val_loss = model.loss(*val, steps=steps)
                        if not math.isfinite(val_loss):
                            # after run["step"] updates: it stopped before the next (update 1 would mean no step taken)
                            diverged("the validation loss", val_loss, epoch, run["step"])
                        val_losses.append(val_loss)
                        watched = val_loss
                    elif patience is not None and input_noise > 0:
                        watched = model.loss(plan.x3, plan.tgt, steps=steps)
                    else:
                        watched = epoch_loss
                    if run["best_loss"] is None or watched < run["best_loss"]:
                        run["best_loss"], run["best_epoch"], run["bad_epochs"] = watched, epoch, 0
                        if monitor:
                            best_params = params.copy()
                    else:
                        run["bad_epochs"] += 1
                    if patience is not None and run["bad_epochs"] >= patience:
                        run["stopped"] = "early stopping"
                        stop = True
                    run.update(epoch=epoch + 1, position=0, epoch_sum=0.0, epoch_count=0)
                run["wall_time"] = wall_before + clock() - started
                guard.consistent = True
                if bar is not None:
                    bar.update(run["wall_time"])
                    if epoch_loss is not None:
                        of = "" if epochs is None else f"/{epochs}"
                        bar.set_postfix_str(f"epoch {epoch + 1}{of}, loss {epoch_loss:.4g}", refresh=False)
                if checkpoint is not None and run["step"] % checkpoint_every == 0:
                    save()
                guard.check()
                if on_step_end is not None:
                    info = StepInfo(epoch, run["step"], loss, epoch_loss, val_loss, lr_now, params,
                                    run["wall_time"])
                    if on_step_end(info) is True and not stop:  # (patience that ran out here is the reason)
                        run["stopped"] = "callback"
                        stop = True
                if time_budget is not None and not stop and run["wall_time"] >= time_budget:
                    run["stopped"] = "time budget"
                    stop = True
                if stop or epoch_loss is not None:
                    break
        if not stop:
            run["stopped"] = "completed"
        if checkpoint is not None:
            save()

    if run["stopped"] == "time budget" and val is not None and run["position"] > 0:
        # Stopped inside an epoch: its updates count if they beat the best epoch on validation. The
        # partial epoch is listed last in losses and validation_losses, so best_epoch indexes them.
        now = model.loss(*val, steps=steps)
        losses.append(run["epoch_sum"] / run["epoch_count"])
        val_losses.append(now)
        if run["best_loss"] is None or now < run["best_loss"]:
            run["best_loss"], run["best_epoch"], best_params = now, run["epoch"], params.copy()
    if monitor and best_params is not None:
        params[:] = best_params
    final_loss = model.loss(plan.x3, plan.tgt, steps=steps) if score_final else math.nan
    best_loss = run["best_loss"] if run["best_loss"] is not None else final_loss
    return TrainResult(
        losses=list(losses),
        best_loss=float(best_loss),
        final_loss=float(final_loss),
        steps=run["step"],
        wall_time=run["wall_time"],
        stopped=run["stopped"],
        epochs=run["epoch"],
        validation_losses=list(val_losses),
        best_epoch=run["best_epoch"] if monitor else None,
    )
