"""The scales of a trained mixture model, fitted on held-out audio: one factor on every scale
(:func:`fit_scale`), then a factor that follows the model's recent surprise (:func:`fit_surprise`).

A mixture model's scales come out of training too narrow or too wide for audio it has not
heard: on the four sources of docs/results.md ("The mixture's scale, fitted on validation") the
validation parts of Brahms want them 1.3 times wider, those of vibe-ace 0.6 times and of the
trumpet's decay 0.23 times as wide, the same in every training seed, and the test parts, which
chose nothing, gain with them. Temperature scaling (Guo et al., 2017) for a classifier, one
parameter for the amplitude's spread here: :func:`fit_scale` finds the factor that minimises the
cross-entropy of the given parts and folds it into the model's log-scale biases
(:meth:`cwfast.model.SequenceModel.scale_mixture`), so every path that runs the model (``Stream``,
the C export, generation, whose temperature is chosen afterwards) runs the fitted one.
"""

from __future__ import annotations

import numpy as np

from ._head_kernels import _mixture_nats, _shifted_mixture_nats, _surprise_rows
from .errors import CwfastError, ParameterError
from .metrics import nats_to_bits
from . import validate
from .model import LOSS_CHUNK, SequenceModel, Surprise

#: The first pass scores these factors (1/16 to 16 in quarter octaves; 1 included, so the fit is
#: never worse on the fitted parts than no fit); the second, 17 in 1/32-octave steps around the
#: best of them.
COARSE = 2.0 ** (np.arange(-16, 17) / 4.0)
FINE_STEPS = np.arange(-8, 9) / 32.0

#: The surprise-following scale's rates and exponents :func:`fit_surprise` scores (every pair, and
#: none): r follows the last 4 to 1024 steps (0.25 to 64 ms at 16 kHz), the scales follow r from
#: a quarter to one and a half times in proportion. On the four sources of docs/results.md the
#: Clockwork RNN chose rates of 1/8 to 1/64 and the LSTM 1/32 to 1/256, exponents 0.5 to 1.25.
SURPRISE_ALPHAS = tuple(2.0 ** -np.arange(2, 11))
SURPRISE_BETAS = (0.25, 0.5, 0.75, 1.0, 1.25, 1.5)


def fit_scale(model, parts, *, progress=False):
    """Multiply every mixture scale of ``model`` by the factor that predicts ``parts`` best.

    Parameters
    ----------
    model : SequenceModel
        An autoregressive mixture model; changed in place.
    parts : sequence of (inputs, targets, state)
        Held-out audio as :class:`cwfast.tasks.Task` parts hold it (inputs (n, 1), mu-law class
        targets (n,)), each scored from ``state`` (the :class:`cwfast.model.State` its clip's
        earlier parts leave, or None). Their cross-entropies are pooled over every sample, as
        ``cwfast train`` pools a corpus's held-out parts.
    progress : bool
        A progress bar on stderr (two passes over the parts).

    Returns
    -------
    dict
        ``factor`` (what the scales were multiplied by), ``bits_before`` and ``bits_after``
        (bits per sample of ``parts``), ``samples`` (scored) and ``bounded`` (True if the best
        factor lies at the edge of the range searched, 1/16 or 16: the fit is then that edge).

    Raises
    ------
    ParameterError
        If ``model`` is not a cwfast model or has no mixture head, ``progress`` is not a bool, or
        ``parts`` hold no sample.
    CwfastError
        If the parts' cross-entropy is not finite (the model is left as it was).
    """
    progress = _checked_call(model, progress)
    if model.output != "mixture":
        raise ParameterError(f"fitting the scale needs a mixture model; this one has a {model.output} head")
    parts = _checked_parts(parts, model)
    n = sum(t.shape[0] for _, t, _ in parts)
    if n == 0:
        raise ParameterError("fitting the scale needs held-out samples; the parts are empty")
    chunks = sum(-(-t.shape[0] // LOSS_CHUNK) for _, t, _ in parts)
    bar = _bar(progress, 2 * chunks)
    try:
        coarse = _pooled_nats(model, parts, COARSE, bar) / n
        best = int(np.argmin(coarse))
        fine_factors = COARSE[best] * 2.0 ** FINE_STEPS
        fine = _pooled_nats(model, parts, fine_factors, bar) / n
    finally:
        if bar is not None:
            bar.close()
    # Both passes score COARSE[best] (the fine grid's centre), so this keeps the better of the two.
    chosen = int(np.argmin(fine))
    factor = float(fine_factors[chosen])
    model.scale_mixture(factor)
    return {
        "factor": factor,
        "bits_before": nats_to_bits(float(coarse[np.flatnonzero(COARSE == 1.0)[0]])),
        "bits_after": nats_to_bits(float(fine[chosen])),
        "samples": int(n),
        "bounded": bool(best in (0, COARSE.size - 1)),
    }


def fit_surprise(model, parts, *, progress=False):
    """Give ``model`` the :class:`cwfast.model.Surprise` scale that predicts ``parts`` best, if any does.

    The surprise's mean is measured on ``parts`` (the model as it is), then every pair of
    :data:`SURPRISE_ALPHAS` and :data:`SURPRISE_BETAS` is scored on them, each part from r = 1,
    and the best kept if it beats the model without one (else ``model.surprise`` is set to None;
    so too when no part has a second sample, a surprise to follow).

    Parameters
    ----------
    model : SequenceModel
        An autoregressive mixture model (``n_in == 1``); its ``surprise`` is set in place. Fit
        its scale first (:func:`fit_scale`): the surprise then moves the scales around a fitted level.
    parts : sequence of (inputs, targets, state)
        As for :func:`fit_scale`.
    progress : bool
        A progress bar on stderr (two passes over the parts).

    Returns
    -------
    dict
        ``alpha``, ``beta`` and ``mean`` chosen (``beta`` 0 and ``alpha`` None when none is kept),
        ``bits_before`` and ``bits_after`` (bits per sample of ``parts``) and ``samples``.

    Raises
    ------
    ParameterError
        If ``model`` is not an autoregressive mixture model, ``progress`` is not a bool, or
        ``parts`` hold no sample.
    CwfastError
        If the parts' cross-entropy is not finite (the model is left as it was).
    """
    progress = _checked_call(model, progress)
    if model.output != "mixture" or model.n_in != 1:
        raise ParameterError("fitting a surprise-following scale needs an autoregressive mixture model (n_in=1)")
    parts = _checked_parts(parts, model)
    n = sum(t.shape[0] for _, t, _ in parts)
    if n == 0:
        raise ParameterError("fitting the surprise needs held-out samples; the parts are empty")
    chunks = sum(-(-t.shape[0] // LOSS_CHUNK) for _, t, _ in parts)
    bar = _bar(progress, 2 * chunks, "fitting the surprise")
    before = model.surprise
    model.surprise = None
    try:
        # r with alpha 1 and mean 1 is the last step's surprise: its mean over the parts (every
        # step that has a step before it) is what r measures against.
        total, count = 0.0, 0
        for y, inputs, _, first, states in _raw_chunks(model, parts, 1, bar):
            log_r = np.empty(y.shape[0])
            _surprise_rows(y, inputs, states[0], 1.0, 0.0, 1.0, log_r)
            total += float(np.exp(log_r[first:]).sum())
            count += y.shape[0] - first
        # No step has one before it (parts of one sample each): no surprise to follow, none kept.
        mean = total / count if count else 1.0
        if not (np.isfinite(mean) and mean > 0):
            raise CwfastError("the held-out parts' surprise is not a positive finite number")
        grid = np.zeros((len(SURPRISE_ALPHAS), len(SURPRISE_BETAS)))
        plain = 0.0
        betas = np.array(SURPRISE_BETAS)
        for y, inputs, targets, _, states in _raw_chunks(model, parts, len(SURPRISE_ALPHAS), bar):
            plain += _mixture_nats(y, targets)
            log_r = np.empty(y.shape[0])
            shifts = np.empty((len(SURPRISE_ALPHAS), len(SURPRISE_BETAS), y.shape[0]))
            for a, alpha in enumerate(SURPRISE_ALPHAS):
                _surprise_rows(y, inputs, states[a], alpha, 0.0, 1.0 / mean, log_r)  # beta 0: y unchanged
                shifts[a] = np.outer(betas, log_r)
            # Every pair in one call: its candidates are shared out among the cores.
            _shifted_mixture_nats(y, targets, shifts.reshape(-1, y.shape[0]), grid.reshape(-1))
    except BaseException:
        model.surprise = before
        raise
    finally:
        if bar is not None:
            bar.close()
    if not (np.isfinite(plain) and np.all(np.isfinite(grid))):
        model.surprise = before
        raise CwfastError("the held-out parts' cross-entropy is not finite with a surprise-following scale")
    a, b = np.unravel_index(int(np.argmin(grid)), grid.shape)
    fit = {"alpha": None, "beta": 0.0, "mean": mean, "bits_before": nats_to_bits(plain / n),
           "bits_after": nats_to_bits(plain / n), "samples": int(n)}
    if count and grid[a, b] < plain:
        model.surprise = Surprise(SURPRISE_ALPHAS[a], SURPRISE_BETAS[b], mean)
        fit.update(alpha=SURPRISE_ALPHAS[a], beta=SURPRISE_BETAS[b], bits_after=nats_to_bits(grid[a, b] / n))
    return fit


def _checked_parts(parts, model):
    """``parts`` as a list of (inputs (n, n_in), targets (n,), state), checked as ``model``'s own
    calls check them (its forward passes take the inputs in pieces, and the head's loss reads the
    targets unchecked: float or out-of-range labels were an IndexError, targets of another length
    than the inputs were scored against the first of them); ParameterError naming the part."""
    try:
        items = list(parts)
    except TypeError:
        raise ParameterError(f"parts must be a sequence of (inputs, targets, state), not "
                             f"{type(parts).__name__}") from None
    checked = []
    for i, part in enumerate(items):
        if not isinstance(part, (tuple, list)) or len(part) != 3:
            raise ParameterError(f"parts[{i}] must be a triple (inputs, targets, state)")
        x, t, state = part
        try:
            x3, batched = model.check_input(x)
            if batched:
                raise ParameterError(f"inputs have shape {np.shape(x)}; a part is one sequence, (n, {model.n_in})")
            if x3.shape[1] == 0 and np.size(t) == 0:  # an empty part: nothing to score, nothing to check
                checked.append((x3[0], np.zeros(0, dtype=np.int64), state))
                continue
            t = model.check_target(t, x3.shape, False, "all")[0]
        except ParameterError as exc:
            raise ParameterError(f"parts[{i}]: {exc}") from None
        checked.append((x3[0], t, state))
    return checked


def _raw_chunks(model, parts, n_states, bar):
    """Every chunk of ``parts``: (its raw outputs (n, n_out), its inputs (n,), its targets, the
    index of its first step that has one before it in its part, and ``n_states`` surprise states
    (3,) carried through the part from no previous step)."""
    for x, targets, state in parts:
        states = [np.array([1.0, 0.0, 0.0]) for _ in range(n_states)]
        for start in range(0, targets.shape[0], LOSS_CHUNK):
            stop = min(start + LOSS_CHUNK, targets.shape[0])
            y, state = model.forward(x[start:stop], state=state, return_state=True, raw=True)
            labels = np.ascontiguousarray(targets[start:stop], dtype=np.int64)  # (the kernels' one label type)
            yield y, np.ascontiguousarray(x[start:stop, 0]), labels, int(start == 0), states
            if bar is not None:
                bar.update(1)


def _pooled_nats(model, parts, factors, bar):
    """Summed cross-entropy (nats) of ``parts`` with every scale times each of ``factors``: one
    forward pass, the head scored once per factor on each chunk of outputs."""
    # The shifts in the model's dtype, as the log-scale biases the factor is folded into are.
    shifts = np.log(factors).astype(model.dtype).astype(np.float64)
    totals = np.zeros(len(factors))
    for y, _, targets, _, _ in _raw_chunks(model, parts, 0, bar):
        _shifted_mixture_nats(y, targets, np.repeat(shifts[:, None], y.shape[0], axis=1), totals)
    if not np.all(np.isfinite(totals)):
        raise CwfastError("the held-out parts' cross-entropy is not finite at some scale factor")
    return totals


def _checked_call(model, progress):
    """``progress`` as a bool, after ParameterError if ``model`` is not a cwfast model or ``progress`` not a bool."""
    if not isinstance(model, SequenceModel):
        raise ParameterError(f"model must be a cwfast model (ClockworkRNN, SRN or LSTM), not {type(model).__name__}")
    return validate.flag("progress", progress)


def _bar(progress, total, desc="fitting the scale"):
    if not progress:
        return None
    from ._bars import bar

    return bar(total=total, desc=desc, unit="chunk", leave=False)
