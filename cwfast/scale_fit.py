"""One factor on every scale of a trained mixture model, fitted on held-out audio.

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

from .errors import CwfastError, ParameterError
from .metrics import nats_to_bits
from .model import LOSS_CHUNK

#: The first pass scores these factors (1/16 to 16 in quarter octaves) on every
#: :data:`COARSE_STRIDE`-th sample; the second scores all the samples at 17 factors in 1/32-octave
#: steps around the best of them, and at 1, so the fit is never worse on the parts than none.
COARSE = 2.0 ** (np.arange(-16, 17) / 4.0)
COARSE_STRIDE = 8
FINE_STEPS = np.arange(-8, 9) / 32.0


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
        If ``model`` has no mixture head or ``parts`` hold no sample.
    CwfastError
        If the parts' cross-entropy is not finite (the model is left as it was).
    """
    if model.output != "mixture":
        raise ParameterError(f"fitting the scale needs a mixture model; this one has a {model.output} head")
    parts = [(np.asarray(x), np.asarray(t), state) for x, t, state in parts]
    n = sum(t.shape[0] for _, t, _ in parts)
    if n == 0:
        raise ParameterError("fitting the scale needs held-out samples; the parts are empty")
    chunks = sum(-(-t.shape[0] // LOSS_CHUNK) for _, t, _ in parts)
    bar = _bar(progress, 2 * chunks)
    try:
        # The coarse pass scores every COARSE_STRIDE-th sample, enough to find the factor to a
        # quarter octave; the fine pass scores them all, at factor 1 too (the figure before).
        coarse = _pooled_nats(model, parts, COARSE, bar, COARSE_STRIDE)
        best = int(np.argmin(coarse))
        fine_factors = np.append(COARSE[best] * 2.0 ** FINE_STEPS, 1.0)
        fine = _pooled_nats(model, parts, fine_factors, bar)
    finally:
        if bar is not None:
            bar.close()
    chosen = int(np.argmin(fine))
    factor = float(fine_factors[chosen])
    model.scale_mixture(factor)
    return {
        "factor": factor,
        "bits_before": nats_to_bits(float(fine[-1])),
        "bits_after": nats_to_bits(float(fine[chosen])),
        "samples": int(n),
        "bounded": bool(best in (0, COARSE.size - 1)),
    }


def _pooled_nats(model, parts, factors, bar, stride=1):
    """Mean cross-entropy (nats) of every ``stride``-th sample of ``parts`` with every scale
    times each of ``factors``: one forward pass, each chunk's outputs scored once per factor."""
    k = model.n_out // 3
    shifts = np.log(np.asarray(factors, dtype=np.float64)).astype(model.dtype)
    totals = np.zeros(len(factors))
    scored = 0
    for x, targets, state in parts:
        for start in range(0, targets.shape[0], LOSS_CHUNK):
            stop = min(start + LOSS_CHUNK, targets.shape[0])
            y, state = model.forward(x[start:stop], state=state, return_state=True, raw=True)
            y, labels = y[(-start) % stride :: stride], targets[start:stop][(-start) % stride :: stride]
            log_scales = y[:, 2 * k :].copy()
            for i, shift in enumerate(shifts):
                y[:, 2 * k :] = log_scales + shift
                totals[i] += model.head.loss(y, labels) * labels.shape[0]
            scored += labels.shape[0]
            if bar is not None:
                bar.update(1)
    if not np.all(np.isfinite(totals)):
        raise CwfastError("the held-out parts' cross-entropy is not finite at some scale factor")
    return totals / scored


def _bar(progress, total):
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="fitting the scale", unit="chunk", leave=False)
