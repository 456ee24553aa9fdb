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

#: The first pass scores these factors (1/16 to 16 in quarter octaves; 1 included, so the fit is
#: never worse on the fitted parts than no fit); the second, 17 in 1/32-octave steps around the
#: best of them.
COARSE = 2.0 ** (np.arange(-16, 17) / 4.0)
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


def _pooled_nats(model, parts, factors, bar):
    """Summed cross-entropy (nats) of ``parts`` with every scale times each of ``factors``: one
    forward pass, the head scored once per factor on each chunk of outputs."""
    k = model.n_out // 3
    shifts = np.log(factors).astype(model.dtype)
    totals = np.zeros(len(factors))
    for x, targets, state in parts:
        for start in range(0, targets.shape[0], LOSS_CHUNK):
            stop = min(start + LOSS_CHUNK, targets.shape[0])
            y, state = model.forward(x[start:stop], state=state, return_state=True, raw=True)
            log_scales = y[:, 2 * k :].copy()
            for i, shift in enumerate(shifts):
                y[:, 2 * k :] = log_scales + shift
                totals[i] += model.head.loss(y, targets[start:stop]) * (stop - start)
            if bar is not None:
                bar.update(1)
    if not np.all(np.isfinite(totals)):
        raise CwfastError("the held-out parts' cross-entropy is not finite at some scale factor")
    return totals


def _bar(progress, total):
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="fitting the scale", unit="chunk", leave=False)
