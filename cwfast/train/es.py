r"""An OpenAI-style evolution strategy (Salimans et al., 2017) on the model's flat parameter vector.

Each generation samples ``population / 2`` Gaussian directions and evaluates the centre plus and
minus ``sigma`` times each (antithetic pairs), all members in one parallel numba call, forward
passes only, which the model provides (``model.population_losses``): for a Clockwork RNN or an
SRN, :func:`cwfast._kernels._population_losses_lockstep`, where chunks of up to about 128 members
advance in lockstep, one member per SIMD lane, with at least as many chunks as numba threads (the
losses do not depend on the chunking); for an LSTM, one member per thread. Members with different
periods, in the period search, run one by one (``population_losses(member_periods=...)``).
Losses are replaced by their centred ranks (fitness shaping: only the order of the members
counts, so one outlier cannot dominate), the gradient of the smoothed loss is estimated from them,
and Adam takes one step on it:

.. math::

    g = \frac{1}{P \sigma} \sum_{j=1}^{P/2} (r_j^+ - r_j^-)\, \epsilon_j + \lambda \theta

with :math:`r^\pm_j` the centred ranks of the losses at :math:`\theta \pm \sigma \epsilon_j`,
:math:`\epsilon_j \sim N(0, I)` and :math:`\lambda` the weight decay.

Noise comes from a *noise table*, as in Salimans et al.: one array of standard normal float32
values drawn once per run from the seed (:func:`noise_table`); direction ``j`` of generation ``g``
is the slice of the table at an offset that a hash of ``(seed, g, j)`` picks
(:func:`pair_offsets`). A run therefore depends on its seed alone, never on the thread count or
on where it was interrupted and resumed, and a generation's noise costs a gather instead of
``population / 2`` fresh generators (2.4 ms per generation for 32 directions of 971 values, more
than scoring the members).

Because nothing here needs a gradient, the clock periods can be searched too
(``search_periods=True``, a direction the paper names as future work): each module's
:math:`\log_2 T_i` joins the search vector and is perturbed with ``period_sigma``; a member's
periods are those values rounded to integers and then repaired to stay strictly increasing, so the
modules keep their order and the parameter layout never changes.
"""

from __future__ import annotations

import contextlib
import functools
import math

import numpy as np

from .._clock import clock
from ..errors import CwfastError, ParameterError, TrainingDiverged
from ..model import STEP_CODES
from ..modes import MAX_POPULATION, POPULATION
from ..validate import as_array, shown
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
from .optimizers import Adam, make_schedule

__all__ = ["evolve", "centered_ranks", "noise_table", "pair_offsets", "pair_noise"]


def start_theta(model, size, period_spec):
    """The search's vector for ``model`` as it stands: its parameters, then (when the periods are
    searched, ``period_spec`` = (n_params, period_scale, max_period)) its log2-periods divided by
    ``period_scale``; ``size`` in all."""
    theta = np.empty(size)
    theta[: model.n_params] = model.params
    if period_spec is not None:
        n_params, period_scale, _ = period_spec
        theta[n_params:] = np.log2(model.periods) / period_scale
    return theta


def centered_ranks(losses):
    """Ranks of ``losses`` scaled to [-0.5, 0.5]: the lowest loss gets -0.5, the highest +0.5.

    ``losses`` is one row of reals, shape (n,) (ParameterError otherwise). Ties are ranked by
    position (a stable sort). NaN and infinite losses rank as the worst.

    >>> centered_ranks(np.array([3.0, 1.0, 2.0]))
    array([ 0.5, -0.5,  0. ])
    """
    losses = as_array("losses", losses)
    if losses.dtype.kind not in "fiu" or losses.ndim != 1:
        raise ParameterError(f"losses has shape {losses.shape} and dtype {losses.dtype}; expected (n,) real numbers")
    losses = losses.astype(np.float64)
    n = losses.size
    if n < 2:
        return np.zeros(n)
    keyed = np.where(np.isfinite(losses), losses, np.inf)
    ranks = np.empty(n)
    ranks[np.argsort(keyed, kind="stable")] = np.arange(n)
    return ranks / (n - 1) - 0.5


#: Name of the way directions are drawn, stored in checkpoints (see ``noise_table``, ``pair_offsets``).
NOISE_SCHEME = "table-splitmix64-v1"
#: Smallest noise table, in values (8 MiB of float32): slices of a shorter table would overlap
#: too often for the directions of one generation to be nearly independent.
NOISE_TABLE_MIN = 1 << 21


def noise_table(entropy, size):
    """The run's table of standard normal float32 values: at least ``NOISE_TABLE_MIN`` and
    ``16 * size`` long, from ``default_rng([entropy, 0])``."""
    length = max(NOISE_TABLE_MIN, 16 * size)
    return np.random.default_rng([entropy, 0]).standard_normal(length, dtype=np.float32)


def _mix64(v):
    """splitmix64's finaliser on a uint64 array: a bijection that scatters nearby inputs."""
    v = (v ^ (v >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    v = (v ^ (v >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return v ^ (v >> np.uint64(31))


@functools.lru_cache(maxsize=8)
def _offset_key(entropy):
    """64 bits of the run's entropy, hashed once per run rather than every generation."""
    return np.uint64(np.random.SeedSequence(entropy).generate_state(1, np.uint64)[0])


def pair_offsets(entropy, generation, n_pairs, table_length, size):
    """Offsets into the noise table of directions 0..n_pairs-1 of ``generation``: a hash of
    (entropy, generation, j) for direction j, so any direction can be found without the others."""
    with np.errstate(over="ignore"):
        v = _mix64(_offset_key(entropy) ^ _mix64(np.full(1, generation, dtype=np.uint64)))
        v = _mix64(v ^ np.arange(n_pairs, dtype=np.uint64))
    return (v % np.uint64(table_length - size + 1)).astype(np.int64)


def pair_noise(table, offsets, size):
    """The directions at ``offsets``: (len(offsets), size) rows of ``table``, a new C-contiguous array.

    Rows are copied whole from a sliding-window view of the table: 0.04 ms for 128 directions of
    971 values, against 0.72 ms for gathering element by element through an index array.
    """
    return np.lib.stride_tricks.sliding_window_view(table, size)[offsets]


def _repair_periods(log2_periods, max_period):
    """Round 2**log2_periods (..., g) to integers in [1, max_period], strictly increasing along the last axis."""
    g = log2_periods.shape[-1]
    p = np.rint(np.exp2(np.clip(log2_periods, 0.0, math.log2(max_period)))).astype(np.int64)
    i = np.arange(g)
    # Smallest strictly increasing sequence >= p, then largest one <= that and <= max_period.
    p = i + np.maximum.accumulate(p - i, axis=-1)
    p = np.minimum(p, max_period - (g - 1 - i))
    p = i + np.flip(np.minimum.accumulate(np.flip(p - i, axis=-1), axis=-1), axis=-1)
    return p


def _score_members(model, theta, noise, sigma, x3, y_target, labels, readout, period_spec, losses):
    """Score members ``theta +- sigma * noise[j]`` into ``losses[2j]`` and ``losses[2j + 1]``, and
    the centre into ``losses[2 * len(noise)]`` when ``losses`` is one longer: a whole generation
    (the local run) or one Ray actor's share of it. ``period_spec`` is None, or
    ``(n_params, period_scale, max_period)`` when the periods are searched (``theta`` then ends
    with the scaled log2-periods). A member's loss does not depend on which others are scored
    with it."""
    if period_spec is None:
        model.population_losses(theta, noise, sigma, x3, y_target, labels, readout, losses)
        return
    n_params, period_scale, max_period = period_spec
    n_members, n_pairs = losses.shape[0], noise.shape[0]
    signs = np.zeros(n_members)
    signs[0 : 2 * n_pairs : 2], signs[1 : 2 * n_pairs : 2] = 1.0, -1.0
    pair_of = np.minimum(np.arange(n_members) // 2, n_pairs - 1)
    log2p = theta[n_params:] + sigma * signs[:, None] * noise[pair_of, n_params:]
    member_periods = _repair_periods(log2p * period_scale, max_period)
    model.population_losses(theta[:n_params], noise, sigma, x3, y_target, labels, readout, losses,
                            member_periods=member_periods)


#: Members a local generation scores per parallel call: between calls the time budget and Ctrl-C
#: are looked at, so a large population cannot hold either for a whole generation (1,000,000
#: members of a tiny model took 16 s past a 2-s budget). The default population is one call.
CHUNK_MEMBERS = 4096


def _score_generation(model, theta, noise, sigma, x3, y_target, labels, readout, period_spec, losses, over_budget,
                      guard):
    """:func:`_score_members` over the whole generation (the centre last), CHUNK_MEMBERS at a time
    (the same losses: a member's does not depend on the others'). Between chunks a pending Ctrl-C
    is raised (``guard``; the model is as the last whole generation left it), and False is
    returned, the generation abandoned, once ``over_budget()``; True when every member is scored."""
    n_pairs = noise.shape[0]
    step = max(1, CHUNK_MEMBERS // 2)
    for j0 in range(0, n_pairs, step):
        if j0 > 0:
            guard.check()
            if over_budget():
                return False
        j1 = min(n_pairs, j0 + step)
        last = j1 == n_pairs  # with the centre, one past the pairs' members
        _score_members(model, theta, noise[j0:j1], sigma, x3, y_target, labels, readout, period_spec,
                       losses[2 * j0 : 2 * j1 + (losses.shape[0] - 2 * n_pairs if last else 0)])
    return True


def evolve(
    model,
    x,
    target,
    *,
    steps="all",
    population=POPULATION,
    sigma=0.01,
    lr=0.01,
    generations=1000,
    lr_schedule=None,
    weight_decay=0.0,
    seed=None,
    search_periods=False,
    period_sigma=0.25,
    period_lr=0.01,
    max_period=None,
    checkpoint=None,
    checkpoint_every=100,
    resume=False,
    progress=False,
    on_step_end=None,
    cluster="local",
    actors=None,
    time_budget=None,
    on_note=None,
):
    """Train ``model`` in place with an evolution strategy (no gradients).

    Parameters
    ----------
    model : ClockworkRNN, SRN or LSTM
    x, target, steps
        As for :func:`cwfast.train.fit`. Every generation scores every member on all of ``x``,
        each sequence from a zero state at t = 0 (no windows: cut long audio into a batch of
        shorter sequences, or use :func:`fit`).
    population : int
        Members per generation, even (antithetic pairs), at least 2. One more forward pass per
        generation scores the centre itself.
    sigma : float
        Standard deviation of the parameter perturbations.
    lr : float
        Adam's step size on the estimated gradient.
    generations : int or None
        None runs until ``time_budget`` (required then), as ``epochs=None`` for :func:`fit`.
    lr_schedule : None, "constant", "cosine", "linear" or callable
        Factor on ``lr`` (and ``period_lr``) per generation, as for :func:`fit`.
    weight_decay : float
        L2 coefficient added to the estimated gradient (weights only, not periods).
    seed : int, optional
        Root of the noise; None draws fresh entropy (recorded in checkpoints). A Generator (or
        another seed ``np.random.default_rng`` takes) gives the root as one draw from it.
    search_periods : bool
        Also search the clock periods, as log2-periods perturbed with ``period_sigma``, rounded
        and repaired to stay strictly increasing (the model's periods must be strictly increasing
        to start with). The model ends with the periods of its best centre.
    period_sigma : float
        Standard deviation of the log2-period perturbations (0.25: about 19% per member).
    period_lr : float
        Adam's step size for the log2-periods (0.01: at most about 0.7% per generation). The
        periods' gradient estimate is much noisier than the weights', and every period change
        shifts what the weights must do, so they move slowly.
    max_period : int, optional
        Upper bound on a searched period; default: the sequence length or the largest initial
        period, whichever is larger.
    checkpoint, checkpoint_every, resume, progress, on_step_end
        As for :func:`fit`, counted in generations.
    cluster : "local" or "ray"
        Where the members are scored: on this machine's numba threads, or by Ray actors
        (:mod:`cwfast.train.cluster`; ``pip install ".[cluster]"`` in cwfast's folder), on the cluster named by
        ``RAY_ADDRESS``, or the one this program is connected to, else on a local Ray instance
        started for the run. This process keeps the centre, the ranks and the optimizer; the
        result is the same bits either way (on one kind of CPU), and a checkpoint resumes on
        either.
    actors : int, optional
        With ``cluster="ray"``: the number of actors (default: one per node with CPUs), each
        asking Ray for an equal share of the cluster's CPUs.
    time_budget : float, optional
        Seconds of training (``wall_time``, a resumed run's earlier time included, numba's
        compiling of kernels not; on Ray, counted from when the first actor is up, its kernels
        compiled) after which the run stops at the end of the
        generation under way, or within it past 4,096 members (``stopped="time budget"``); the
        model ends with the best centre, as always.
    on_note : callable, optional
        Called with a one-line note for the user before a wait in which nothing else is said: with
        ``cluster="ray"``, just before a local Ray instance starts (a few seconds), once the
        arguments and a checkpoint resumed have been checked.

    Returns
    -------
    TrainResult
        ``losses`` holds the centre's loss at every generation. The model ends with the best
        centre scored (ES steps are noisy, so the last centre is not always the best);
        ``best_epoch`` says which generation it was (``generations`` means the final one).

    Raises
    ------
    ParameterError
        On invalid arguments or data.
    CwfastError
        ``"training diverged: loss became nan at generation N ..."`` if the centre's loss is NaN
        or infinite (members with such losses merely rank last); the model gets back the best
        centre before raising. Also for an unreadable or mismatched checkpoint on resume, and
        with ``cluster="ray"`` when Ray is not installed or no actor can start; when the cluster
        is lost mid-run, a checkpoint of the generations done is written first (if
        ``checkpoint`` is set) and the model gets back the best centre.
    KeyboardInterrupt
        Re-raised after the current generation, with a checkpoint written first if
        ``checkpoint`` is set; ``resume=True`` continues exactly.
    """
    check_model(model)
    population = positive_int("population", population, maximum=MAX_POPULATION)
    if population < 2 or population % 2:
        raise ParameterError(f"population={population} must be an even number >= 2 (antithetic pairs)")
    sigma = positive_float("sigma", sigma)
    lr = positive_float("lr", lr)
    generations = positive_int("generations", generations, allow_none=True)
    weight_decay = non_negative_float("weight_decay", weight_decay)
    # In octaves of the period: past 64 a step spans every period an int64 clock can hold, and a
    # sigma of 1e308 made the members' periods NaN (read back as negative periods).
    period_sigma = positive_float("period_sigma", period_sigma, maximum=64)
    period_lr = positive_float("period_lr", period_lr, maximum=64)
    checkpoint_every = positive_int("checkpoint_every", checkpoint_every)
    time_budget = positive_float("time_budget", time_budget, allow_none=True)
    limit = run_limit("generations", generations, time_budget)
    schedule = make_schedule(lr_schedule, generations, time_budget)
    for name, hook in (("on_step_end", on_step_end), ("on_note", on_note)):
        if hook is not None and not callable(hook):
            raise ParameterError(f"{name}={hook!r} must be callable or None")
    if flag("resume", resume) and checkpoint is None:
        raise ParameterError("resume=True needs checkpoint=PATH to resume from")
    checkpoint = ckpt_io.check_target(checkpoint)
    if cluster not in ("local", "ray"):
        raise ParameterError(f"cluster={cluster!r} must be 'local' or 'ray'")
    if actors is not None:
        if cluster != "ray":
            raise ParameterError(f"actors={shown(actors)} is for cluster='ray' (cluster='local' runs the population "
                                 "on this machine's threads)")
        actors = positive_int("actors", actors)
    if cluster == "ray":
        from .cluster import import_ray

        import_ray()  # before any work: no Ray, one clear error
    if model.prediction:
        raise ParameterError("the evolution strategy does not train a linear prediction's taps; train with a "
                             "gradient trainer (adam, sgd), or set prediction to 0")
    if model.pitch is not None:
        raise ParameterError("the evolution strategy does not train a pitch predictor's gain; train with a "
                             "gradient trainer (adam, sgd), or set pitch to None")
    if model.surprise is not None:  # its population scores run without the head's Python side
        raise ParameterError("a model with a surprise-following scale is not trained further (the scale is fitted "
                             "after training); set model.surprise = None, train, then fit it again")
    x3, batched = model.check_input(x)
    tgt = model.check_target(target, x3.shape, batched, steps)  # also refuses a bad steps, or no steps
    n_steps = x3.shape[1]
    labelled = model.head.code != 0  # softmax and mixture heads score class labels
    scored = tgt if steps == "all" else tgt[:, None]
    y_target = np.zeros((0, 0, 0), dtype=model.dtype) if labelled else np.ascontiguousarray(scored)
    labels = np.ascontiguousarray(scored, dtype=np.int64) if labelled else np.zeros((0, 0), dtype=np.int64)

    n_params = model.n_params
    g = model.n_modules
    search_periods, progress = flag("search_periods", search_periods), flag("progress", progress)
    if search_periods:
        if not model.has_clock:
            raise ParameterError(f"search_periods searches a Clockwork RNN's clock periods; this model is a "
                                 f"{model.description}")
        if np.any(np.diff(model.periods) <= 0):
            raise ParameterError(
                f"search_periods needs strictly increasing periods; the model has {model.periods.tolist()}"
            )
        max_period = positive_int("max_period", max(n_steps, int(model.periods.max())) if max_period is None
                                  else max_period)
        if max_period < g:
            raise ParameterError(f"max_period={max_period} must be at least the number of modules ({g})")
        period_scale = period_sigma / sigma
        size = n_params + g
        period_spec = (n_params, period_scale, max_period)
    else:
        if max_period is not None:  # checked though unused, as period_sigma is: a typo is said, not ignored
            positive_int("max_period", max_period)
        max_period, period_scale, size, period_spec = None, None, n_params, None

    config = {
        "steps": steps,
        "population": population,
        "sigma": sigma,
        "lr": lr,
        "weight_decay": weight_decay,
        "lr_schedule": lr_schedule if lr_schedule is None or isinstance(lr_schedule, str) else "callable",
        "search_periods": bool(search_periods),
        "period_sigma": period_sigma if search_periods else None,
        "period_lr": period_lr if search_periods else None,
        "max_period": max_period,
        "periods": None if search_periods else model.periods.tolist(),
        "data": fingerprint(x3, tgt),
        "epochs": generations,
        # How directions are drawn: a checkpoint from before the noise table (no such key) must not
        # resume into a run that would draw different noise from the same seed.
        "noise": NOISE_SCHEME,
    }
    if generations is None:  # the run is its budget: resume with the same one (a decay follows it)
        config["time_budget"] = time_budget
    opt = Adam(lr)
    # Adam steps by about lr per coordinate: the log2-periods, stored divided by period_scale so
    # that one sigma perturbs them by period_sigma, get lr scaled to move period_lr octaves.
    step_sizes = lr
    if search_periods:
        step_sizes = np.concatenate([np.full(n_params, lr), np.full(g, period_lr / period_scale)])
    theta = start_theta(model, size, period_spec)
    run = {"epoch": 0, "position": 0, "step": 0, "wall_time": 0.0, "stopped": "completed",
           "best_loss": None, "best_epoch": None}
    losses = []
    best_theta = None
    if resume:
        ck, entropy = ckpt_io.resume(checkpoint, "evolve", model, config, seed, opt, run, size=size)
        try:
            theta[:] = ck.arrays["theta"]
            best_theta = ck.arrays.get("best_theta")
        except (KeyError, ValueError) as exc:
            raise CwfastError(f"cannot resume from checkpoint '{checkpoint}': {exc}") from None
        losses = ck.losses
    else:
        entropy = seed_entropy(seed)

    def centre_periods(vec):
        if not search_periods:
            return model.periods
        return _repair_periods(vec[n_params:] * period_scale, max_period)

    def apply(vec):
        model.params[:] = vec[:n_params]
        if search_periods:
            model.set_periods(centre_periods(vec))

    def keep_best():
        """Before a failure is raised: the model (and the centre) back to the best centre so far."""
        if best_theta is not None:
            theta[:] = best_theta
            apply(theta)

    def diverged(detail):
        keep_best()
        raise TrainingDiverged(
            detail, f"the model keeps the best centre so far. Try a smaller lr (now {lr:g}) or sigma (now {sigma:g})")

    def save():
        arrays = {"losses": np.asarray(losses, dtype=np.float64), "theta": theta}
        if best_theta is not None:
            arrays["best_theta"] = best_theta
        ckpt_io.save_checkpoint(
            checkpoint, kind="evolve", model=model, config=config, progress=dict(run, entropy=entropy),
            optimizer=opt.state_dict(), arrays=arrays,
        )

    n_pairs = population // 2
    n_members = population + 1
    member_losses = np.empty(n_members)
    readout = STEP_CODES[steps]

    table = noise_table(entropy, size)
    if cluster == "ray":
        from .cluster import RayScorer

        scoring = RayScorer(model.copy(), x3, y_target, labels, readout, sigma, entropy, size, n_pairs, period_spec,
                            actors, on_note=on_note)
    else:
        scoring = contextlib.nullcontext()

    started = clock()
    wall_before = run["wall_time"]

    def over_budget():
        return time_budget is not None and wall_before + clock() - started >= time_budget

    stop = False
    if time_budget is not None and run["wall_time"] >= time_budget:  # a resumed run its budget had stopped
        run["stopped"], stop = "time budget", True
    guard = InterruptGuard()
    # The scorer first: a cluster that cannot start leaves the model as it was, and a Ctrl-C while
    # its actors start stops the call at once (the guard defers it only once there is a generation
    # to finish).
    with scoring as scorer, interruptible(
            run, guard, (bar := progress_bar(progress, limit, min(run["epoch"], limit), "gen", time_budget,
                                             run["wall_time"])),
            save if checkpoint is not None else None, lambda: wall_before + clock() - started), guard:
        # The clock of the budget and of wall_time starts here, the cluster up: Ray's start and
        # its actors' (seconds) are not training (a 2-s budget trained 1 generation on Ray, 4158 here).
        started = clock()
        apply(theta)
        while run["epoch"] < limit and not stop:
            gen = run["epoch"]
            try:
                if scorer is not None:
                    scorer.submit(gen, theta)  # the actors draw their own noise; the driver's is for the step
                noise = pair_noise(table, pair_offsets(entropy, gen, n_pairs, table.size, size), size)
                if scorer is None:
                    whole = _score_generation(model, theta, noise, sigma, x3, y_target, labels, readout,
                                              period_spec, member_losses, over_budget, guard)
                    if not whole:  # the budget ran out within it: the centre stays as the last whole one left it
                        run["stopped"] = "time budget"
                        run["wall_time"] = wall_before + clock() - started
                        stop = True
                        continue
                else:
                    scorer.collect(member_losses)
            except CwfastError:
                # The cluster was lost between two generations: the run so far is whole, so its
                # checkpoint is written (it resumes the run, on a cluster or locally), and the model
                # keeps the best centre so far, as after a divergence.
                if checkpoint is not None:
                    save()
                keep_best()
                raise
            loss = float(member_losses[population])
            if not math.isfinite(loss):
                diverged(f"training diverged: loss became {loss} at generation {gen + 1}")
            guard.consistent = False
            losses.append(loss)
            if run["best_loss"] is None or loss < run["best_loss"]:
                run["best_loss"], run["best_epoch"] = loss, gen
                best_theta = theta.copy()
            ranks = centered_ranks(member_losses[:population])
            grad = (ranks[0::2] - ranks[1::2]) @ noise
            grad /= population * sigma
            if weight_decay:
                grad[:n_params] += weight_decay * theta[:n_params]
            factor = float(schedule(gen, run["wall_time"]))
            opt.step(theta, grad, lr=step_sizes * factor)
            with np.errstate(over="ignore"):  # said below
                apply(theta)
            if not np.isfinite(model.params).all():  # a finite loss, a step too large for the model's dtype
                diverged(f"training diverged: the centre's parameters became non-finite at generation {gen + 1}")
            run["epoch"] += 1
            run["step"] += 1
            run["wall_time"] = wall_before + clock() - started
            guard.consistent = True
            if bar is not None:
                bar.update(run["wall_time"])
                bar.set_postfix_str(f"loss {loss:.4g}", refresh=False)
            if checkpoint is not None and run["step"] % checkpoint_every == 0:
                save()
            guard.check()
            if on_step_end is not None:
                info = StepInfo(gen, run["step"], loss, loss, None, lr * factor, model.params, run["wall_time"])
                if on_step_end(info) is True:
                    run["stopped"] = "callback"
                    stop = True
            if time_budget is not None and not stop and run["wall_time"] >= time_budget:
                run["stopped"] = "time budget"
                stop = True
        if not stop:
            run["stopped"] = "completed"
        if checkpoint is not None:
            save()

    final_loss = model.loss(x3, tgt, steps=steps)
    best_epoch = run["best_epoch"]
    if run["best_loss"] is None or final_loss < run["best_loss"]:
        best_loss, best_epoch = final_loss, run["epoch"]
    else:
        best_loss = run["best_loss"]
        apply(best_theta)
        final_loss = model.loss(x3, tgt, steps=steps)
    return TrainResult(
        losses=list(losses),
        best_loss=float(best_loss),
        final_loss=float(final_loss),
        steps=run["step"],
        wall_time=run["wall_time"],
        stopped=run["stopped"],
        epochs=run["epoch"],
        validation_losses=[],
        best_epoch=best_epoch,
    )
