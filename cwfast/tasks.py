"""Audio tasks: turn audio into a model's (inputs, targets, head) and score a model on them (a trained
model is turned back into audio by :mod:`cwfast.render`).

Three modes, each a way of asking a Clockwork RNN to learn from sound:

``memorize``
    The paper's sequence-generation task. The network reads nothing (``n_in = 0``) and learns to
    emit one clip, scaled so that its peak is 1, from its clock alone; a linear head trained on
    mean squared error, measured by NMSE. The amplitude scale is kept so that the model replays
    the clip at its original level.
``autoregressive``
    Next-sample prediction. The input at step ``t`` is the sample at ``t - 1`` and the target is
    the sample at ``t``, quantised to 256 mu-law classes and predicted by a mixture-of-logistics
    head (``cwfast train``'s default; :mod:`cwfast.heads`) or a softmax head, trained on
    cross-entropy (teacher forcing). To generate, the model runs free, drawing each sample from its
    predicted distribution and reading it back as the next input (:meth:`ClockworkRNN.sample`).
    A distribution, not a point estimate: a network trained on MSE predicts the conditional
    mean, and fed its own means it decays to silence or a constant; sampling from a categorical
    distribution keeps the noise that makes audio sound like audio, and mu-law spacing spends the
    classes where the ear (and most of the samples) are, near zero. The input is the mu-law
    *decoded* value of the previous sample, so training sees exactly what generation feeds back.
``effect``
    Input-driven: the dry signal in, the processed (wet) signal as the target, a linear head on
    MSE, measured by error-to-signal ratio, as guitar-amp and pedal models are. Levels are not
    scaled: a distortion depends on the level it is driven at.

Every task is split in time into three contiguous parts (:func:`split_task`): the *training*
part the weights learn from, the *validation* part that every choice looks at (early stopping,
the best epoch, learning-rate decay), and the *test* part, scored once at the end and never used
to choose anything, so the figure reported as "held out" is honest.

Everything here is NumPy on top of the public model API (``forward``, ``loss``); there is no
command-line code and no numba code in this module. The mode and the facts needed to turn outputs
back into audio (scale, number of classes) live in ``Task.metadata``, which the caller saves in
``model.metadata``. The codec is :mod:`cwfast.codec`, the figures :mod:`cwfast.metrics`, and the
way back to audio :mod:`cwfast.render`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple, Optional

import numpy as np

from . import validate
from .codec import N_CLASSES, as_read, check_classes, check_history, mu_law_encode
from .errors import CwfastError, ParameterError
from .metrics import esr, nats_to_bits, nmse
from .metadata import mode_of  # noqa: F401  (what a model was trained for: callers find it here too)
from .modes import MODES

__all__ = [
    "MODES",
    "Task",
    "Splits",
    "memorize",
    "autoregressive",
    "effect",
    "make_task",
    "split_task",
    "corpus",
    "join",
    "memorize_size",
    "mode_of",
    "evaluate",
    "unmeasurable",
    "degenerate",
    "final_state",
]


# ---------------------------------------------------------------------------------------- tasks


@dataclass
class Task:
    """One training problem made from audio.

    Attributes
    ----------
    mode : str
        One of :data:`MODES`.
    inputs : ndarray, shape (n_steps, n_in), float32
    targets : ndarray
        ``(n_steps, n_out)`` float32 for a linear head, ``(n_steps,)`` class labels for a softmax
        head (:func:`autoregressive`'s: the smallest unsigned integer type that holds them; the
        models read any integer labels).
    output : {"linear", "softmax"}
        The head the model needs.
    n_out : int
    metadata : dict
        What to save in ``model.metadata`` so that the model can be turned back into audio:
        ``mode``, and ``scale`` (memorize, autoregressive) or ``n_classes`` (autoregressive).
    """

    mode: str
    inputs: np.ndarray
    targets: np.ndarray
    output: str
    n_out: int
    metadata: dict = field(default_factory=dict)

    @property
    def n_in(self):
        return self.inputs.shape[1]

    @property
    def n_steps(self):
        return self.inputs.shape[0]


def label_type(n_classes):
    """The dtype :func:`autoregressive` keeps labels of ``n_classes`` classes in: the smallest
    unsigned integer type that holds them."""
    return np.min_scalar_type(n_classes - 1)


#: Samples :func:`autoregressive` encodes at a time: the whole clip's float64 temporaries were
#: about 40 bytes a sample (2.3 GB for an hour at 16 kHz).
TASK_PIECE = 2**20


def _mono(samples, name):
    return validate.mono(name, samples)


def _peak(samples, name):
    peak = float(np.max(np.abs(samples)))
    if peak == 0.0:
        raise CwfastError(f"{name} is silent (all zeros); there is nothing to learn")
    return peak


def memorize(samples, *, empty=np.empty):
    """The paper's sequence-generation task: no input, the clip scaled to peak 1 as the target.

    Parameters
    ----------
    samples : ndarray, shape (n,), float
    empty : callable
        ``empty(shape, dtype)`` makes the target (as for :func:`autoregressive`).

    Returns
    -------
    Task
        ``inputs`` (n, 0), ``targets`` (n, 1), linear head, ``metadata`` with ``mode`` and ``scale``
        (the clip's peak: output times scale is the clip at its original level).

    Raises
    ------
    CwfastError
        If the clip is silent.
    """
    samples = _mono(samples, "samples")
    scale = _peak(samples, "the clip")
    target = empty((samples.size, 1), np.float32)
    for start in range(0, samples.size, TASK_PIECE):  # (a piece at a time: float64 of the whole clip is 8 B a sample)
        piece = samples[start : start + TASK_PIECE]
        target[start : start + piece.size, 0] = (piece.astype(np.float64) / scale).astype(np.float32)
    inputs = np.zeros((samples.size, 0), dtype=np.float32)
    return Task("memorize", inputs, target, "linear", 1, {"mode": "memorize", "scale": scale})


def autoregressive(samples, *, n_classes=N_CLASSES, scale=None, history="mu-law", empty=np.empty):
    """Next-sample prediction over mu-law classes, with teacher forcing.

    The clip is scaled to peak 1 (so the classes cover its whole range), or divided by ``scale``
    if given (:func:`corpus` gives its clips one scale, from before their test parts), and quantised;
    ``targets[t]`` is the class of sample ``t`` and ``inputs[t]`` sample ``t - 1`` as the model
    reads it (0 at ``t = 0``, as in generation): the decoded value of its class with
    ``history="mu-law"``, the scaled sample itself with ``"linear"`` (for a mixture head, which
    generates amplitudes and reads them back as they are; :data:`cwfast.modes.HISTORIES`).
    ``empty(shape, dtype)`` makes the task's two arrays (default :func:`numpy.empty`;
    :meth:`cwfast.scratch.Scratch.empty` makes them memory-mapped files).

    Returns
    -------
    Task
        ``inputs`` (n, 1), ``targets`` (n,) in the smallest unsigned integer type that holds
        ``n_classes - 1`` (uint8 for 256 classes: an int64's 8 bytes a sample were two thirds of
        a corpus's task), softmax head with ``n_classes`` outputs, ``metadata`` with ``mode``,
        ``scale``, ``n_classes`` and ``history``.
    """
    samples = _mono(samples, "samples")
    n_classes = check_classes(n_classes)
    check_history(history)
    scale = _peak(samples, "the clip") if scale is None else validate.positive_float("scale", scale)
    labels = empty((samples.size,), label_type(n_classes))
    inputs = empty((samples.size, 1), np.float32)
    inputs[0] = 0  # (the loop writes every later step's input)
    for start in range(0, samples.size, TASK_PIECE):  # (every step is elementwise: pieces change no value)
        scaled = samples[start : start + TASK_PIECE].astype(np.float64) / scale
        piece = mu_law_encode(scaled, n_classes)
        labels[start : start + piece.size] = piece
        read = inputs[start + 1 : start + 1 + piece.size, 0]  # each sample is the next step's input
        read[:] = as_read(scaled[: read.size], n_classes, history, labels=piece[: read.size])
    metadata = {"mode": "autoregressive", "scale": scale, "n_classes": n_classes, "history": history}
    return Task("autoregressive", inputs, labels, "softmax", n_classes, metadata)


def effect(dry, wet, *, empty=np.empty):
    """Learn a mapping from a dry signal to a processed (wet) one, sample by sample.

    Parameters
    ----------
    dry, wet : ndarray, shape (n,), float
        The same passage before and after the device, at the same rate and time-aligned.
    empty : callable
        ``empty(shape, dtype)`` makes the task's two arrays (as for :func:`autoregressive`).

    Returns
    -------
    Task
        ``inputs`` (n, 1) = dry, ``targets`` (n, 1) = wet, linear head, ``metadata`` with ``mode``.

    Raises
    ------
    ParameterError
        If the lengths differ. (Trim or pad the files so that they line up: a model cannot learn
        an effect from misaligned audio.)
    CwfastError
        If the wet signal is silent.
    """
    dry = _mono(dry, "dry")
    wet = _mono(wet, "wet")
    if dry.size != wet.size:
        raise ParameterError(
            f"the dry input has {dry.size} samples but the target has {wet.size}; "
            "they must be the same passage, time-aligned and of the same length"
        )
    _peak(wet, "the target")
    inputs, targets = empty((dry.size, 1), dry.dtype), empty((wet.size, 1), wet.dtype)
    inputs[:, 0], targets[:, 0] = dry, wet
    return Task("effect", inputs, targets, "linear", 1, {"mode": "effect"})


def make_task(mode, samples, *, target=None, n_classes=N_CLASSES, history=None, empty=np.empty):
    """Build the task of ``mode`` from mono samples (and, for ``effect``, the ``target`` samples),
    its arrays made by ``empty(shape, dtype)`` (as for :func:`autoregressive`)."""
    if mode not in MODES:
        raise ParameterError(f"mode={mode!r} must be one of {', '.join(MODES)}")
    if mode == "effect":
        if target is None:
            raise ParameterError("effect mode needs the processed (wet) target audio")
        return effect(samples, target, empty=empty)
    if target is not None:
        raise ParameterError(f"{mode} mode takes no target audio (only effect mode does)")
    if mode == "memorize":
        return memorize(samples, empty=empty)
    return autoregressive(samples, n_classes=n_classes, history=history or "mu-law", empty=empty)


def memorize_size(n_steps):
    """Default ``hidden`` and ``modules`` for memorizing a clip of ``n_steps`` samples.

    The paper's 40 units in 9 modules (periods up to 256) for clips up to 1024 samples; longer
    clips get periods up to about their length (at most 16 modules) and about ``1.5 sqrt(n)``
    units (at most 128), which is what memorizing 0.1 s at 44.1 kHz (4410 samples) needed to
    reach an NMSE below 0.02 (measured; README).
    """
    n_steps = validate.positive_int("n_steps", n_steps)
    if n_steps <= 1024:
        return {"hidden": 40, "modules": 9}
    modules = min(16, int(math.ceil(math.log2(n_steps))))
    hidden = min(128, max(40, int(round(1.5 * math.sqrt(n_steps)))))
    return {"hidden": max(hidden, modules), "modules": modules}


class Splits(NamedTuple):
    """A task cut in time: ``train``, then ``validation`` and ``test`` (each None when empty)."""

    train: Task
    validation: Optional[Task]
    test: Optional[Task]


def held_out_steps(n_steps, validation, test):
    """The steps a clip of ``n_steps`` holds out, (validation, test), as :func:`split_task` cuts them.

    Raises
    ------
    ParameterError
        If a fraction is out of range, or the training part would hold fewer than two steps.
    """
    validation = validate.fraction("validation", validation)
    test = validate.fraction("test", test)
    if validation + test >= 1:
        raise ParameterError(f"the validation ({validation:g}) and test ({test:g}) fractions hold out the whole clip: "
                             "together they must be less than 1, to leave a part to train on")
    n_test = int(round(n_steps * test))
    n_val = int(round(n_steps * validation))
    if (n_val or n_test) and n_steps - n_val - n_test < 2:
        raise ParameterError(
            f"the clip ({n_steps} samples) is too short to hold out {validation:.0%} for validation and "
            f"{test:.0%} for test"
        )
    return n_val, n_test


def split_task(task, *, validation=0.0, test=0.0):
    """Cut a task in time into training, validation and test parts, in that order.

    The test part is the last ``test`` fraction of the steps, the validation part the
    ``validation`` fraction before it, the training part the rest. Each part keeps its true
    previous samples as inputs (an autoregressive part reads the sample before its first step).

    Parameters
    ----------
    task : Task
    validation, test : float
        Fractions in [0, 1) of the steps; together less than 1.

    Returns
    -------
    Splits

    Raises
    ------
    ParameterError
        If ``task`` is not a :class:`Task`, a fraction is out of range, or the training part would
        hold fewer than two steps.
    """
    _check_task(task)
    n_val, n_test = held_out_steps(task.n_steps, validation, test)

    def part(start, stop):
        if stop == start:
            return None
        sl = slice(start, stop)
        return Task(task.mode, task.inputs[sl], task.targets[sl], task.output, task.n_out, dict(task.metadata))

    cut_val, cut_test = task.n_steps - n_val - n_test, task.n_steps - n_test
    return Splits(part(0, cut_val), part(cut_val, cut_test), part(cut_test, task.n_steps))


def corpus(clips, *, n_classes=N_CLASSES, validation=0.0, test=0.0, history="mu-law", empty=np.empty):
    """Autoregressive tasks of several clips, split each in time (the end of every clip held out).

    All clips share one scale, the loudest peak before their test parts, so that their relative
    levels survive and the test parts choose nothing, not even the scale (a louder sample in a
    test part is clipped to full scale, as any sound the model never heard may be); each clip is
    cut by :func:`split_task` into its own training, validation and test parts, so every
    recording of a corpus is represented in every part and no part of one recording predicts
    another's held-out end. One clip is a corpus of one.

    Parameters
    ----------
    clips : sequence of ndarray, each shape (n_i,), float
        Mono audio at one sample rate.
    n_classes, history, validation, test, empty
        As for :func:`autoregressive` and :func:`split_task`.

    Returns
    -------
    list of Splits
        One per clip, in order.

    Raises
    ------
    ParameterError
        If ``clips`` is empty, or a clip is too short to split.
    CwfastError
        If every clip is silent.
    """
    clips = [_mono(c, f"clip {i}") for i, c in enumerate(clips)]
    if not clips:
        raise ParameterError("a corpus needs at least one clip")
    # The fractions on their own first (no clip holds out less than nothing): fractions that hold
    # out every clip whole were blamed on the first, "clip 0 (of 2): ...", and the command line
    # said to leave that file out.
    held_out_steps(0, validation, test)
    cuts = []
    for i, c in enumerate(clips):
        try:
            cuts.append(c.size - held_out_steps(c.size, validation, test)[1])
        except ParameterError as error:
            if len(clips) == 1:
                raise
            named = ParameterError(f"clip {i} (of {len(clips)}): {error}")
            named.clip, named.reason = i, str(error)  # for the command line to name its file
            raise named from None
    scale = max(float(np.max(np.abs(c[:cut]))) for c, cut in zip(clips, cuts))
    if scale == 0.0:
        what = "the clip is" if len(clips) == 1 else "every clip of the corpus is"
        before = "" if test == 0 else " before the test part"
        raise CwfastError(f"{what} silent (all zeros){before}; there is nothing to learn")
    return [split_task(autoregressive(c, n_classes=n_classes, scale=scale, history=history, empty=empty),
                       validation=validation, test=test) for c in clips]


def _check_task(task):
    if not isinstance(task, Task):
        raise ParameterError(f"task must be a cwfast.tasks.Task (make_task makes one), not {type(task).__name__}")


def _check_model_fits(model, task):
    """ParameterError unless ``model`` reads ``task``'s inputs and scores its targets (a model of
    other classes would be scored on labels that mean other classes, without a word)."""
    from .model import SequenceModel  # (tasks is imported without the models, which import numba)

    if not isinstance(model, SequenceModel):
        raise ParameterError(f"model must be a cwfast model, not {type(model).__name__}")
    head = (model.output, model.n_out)
    fits = head == (task.output, task.n_out) or (model.output == "mixture" and task.output == "softmax"
                                                 and task.n_out == N_CLASSES)
    if not fits or model.n_in != task.n_in:
        def plural(n, what):
            return f"{n} {what}{'' if n == 1 else 's'}"

        raise ParameterError(f"model has {plural(model.n_in, 'input')} and {plural(model.n_out, model.output + ' output')}; "
                             f"this {task.mode} task needs {plural(task.n_in, 'input')} and "
                             f"{plural(task.n_out, task.output + ' output')}"
                             + (" (or a mixture head)" if task.output == "softmax" and task.n_out == N_CLASSES else ""))


def join(parts, *, empty=np.empty):
    """One task of the parts laid end to end (None parts skipped; None if nothing is left), in
    arrays made by ``empty(shape, dtype)`` (as for :func:`autoregressive`).

    Training over a corpus runs over its clips' training parts joined this way: a model's state
    carries across a join, which costs a few steps of one window at each of them.
    """
    try:
        items = iter(parts)  # (the trainers pass generators)
    except TypeError:
        raise ParameterError(f"parts={validate.shown(parts)} must be a list of cwfast.tasks.Task") from None
    parts = [p for p in items if p is not None]
    if not parts:
        return None
    first = parts[0]
    for part in parts:
        _check_task(part)
        if (part.mode, part.output, part.n_out) != (first.mode, first.output, first.n_out):
            raise ParameterError(f"tasks of different kinds cannot be joined: {first.mode} ({first.n_out} "
                                 f"{first.output} outputs) and {part.mode} ({part.n_out} {part.output} outputs)")
    inputs, targets = ([getattr(p, name) for p in parts] for name in ("inputs", "targets"))
    return Task(first.mode, _concatenated(inputs, empty), _concatenated(targets, empty), first.output, first.n_out,
                dict(first.metadata))


def _concatenated(arrays, empty):
    """``np.concatenate(arrays)`` into an array made by ``empty``."""
    out = empty((sum(a.shape[0] for a in arrays),) + arrays[0].shape[1:], np.result_type(*arrays))
    return np.concatenate(arrays, out=out)


# ---------------------------------------------------------------------------------------- models


def final_state(model, task):
    """The model's state after running over ``task`` (to evaluate what follows it, e.g. validation)."""
    return model.advance(task.inputs)


def unmeasurable(task):
    """Why :func:`evaluate` could not score ``task`` (a silent or constant target), or None if it can.

    NMSE divides by the target's variance and ESR by its energy, so a memorize task needs a
    target that varies and an effect task one that is not silent (and varies, for its NMSE); an
    autoregressive task is scored by cross-entropy, which is always defined. Callers check this
    before training, so that a run is not thrown away at the end.
    """
    if task.mode == "autoregressive":
        return None
    target = np.asarray(task.targets, dtype=np.float64)
    if task.mode == "effect" and not np.any(target):
        return "the target is silent, so its ESR (which divides by its energy) is undefined"
    if np.all(target == target.flat[0]):
        return "the target is constant, so its NMSE (which divides by its variance) is undefined"
    return None


def degenerate(task):
    """Why ``task`` has nothing to learn (every target the same: a constant or one-sample clip; an
    effect's dry input that never changes), or None.

    An autoregressive model trained on one repeated class scores almost 0 bits/sample and
    generates a constant; a memorize or effect target that never changes has no NMSE. Callers
    refuse such data before training.
    """
    targets = np.asarray(task.targets)
    if targets.shape[0] < 2:
        return f"the clip has {targets.shape[0]} sample{'s' if targets.shape[0] != 1 else ''}; at least 2 are needed"
    if np.all(targets == targets[0]):
        what = "mu-law level" if task.mode == "autoregressive" else "value"
        return f"every sample of the clip has the same {what}, so there is nothing to learn"
    if task.mode == "effect":
        dry = np.asarray(task.inputs)
        if np.all(dry == dry.flat[0]):
            what = "silent" if not np.any(dry) else "constant"
            return f"the dry input is {what}, so there is no effect to learn from it"
    return None


def evaluate(model, task, *, state=None, return_state=False):
    """The figure a task is judged by, for ``model`` on ``task`` (from ``state``); with
    ``return_state``, ``(figure, the State after the task)``, in the same pass.

    Returns
    -------
    dict
        memorize: ``{"nmse": ...}``; effect: ``{"esr": ..., "nmse": ...}``; autoregressive:
        ``{"cross_entropy": nats per sample, "bits_per_sample": ...}``. A model whose output is
        not finite (diverged weights) scores inf.

    Raises
    ------
    ParameterError
        If ``model`` does not take the task's inputs or score its targets: its inputs, head and
        outputs must be the task's (``task.n_in``, ``task.output``, ``task.n_out``), or for an
        autoregressive task of 256 classes a mixture head, which scores them.
    """
    _check_task(task)
    _check_model_fits(model, task)
    if task.mode == "autoregressive":
        ce = model.loss(task.inputs, task.targets, state=state, return_state=return_state)
        ce, after = ce if return_state else (ce, None)
        # An output that overflows (weights a diverged training left finite but huge) scores inf:
        # the metrics refuse non-finite input, with an internal name (y, nats) the caller never gave.
        ce = float(ce) if math.isfinite(ce) else math.inf
        figure = {"cross_entropy": ce, "bits_per_sample": nats_to_bits(ce) if math.isfinite(ce) else math.inf}
    else:
        y, after = model.forward(task.inputs, state=state, return_state=True)
        finite = bool(np.isfinite(y).all())  # (as above)
        figure = {"nmse": nmse(y, task.targets) if finite else math.inf}
        if task.mode == "effect":
            figure = {"esr": esr(y, task.targets) if finite else math.inf, **figure}
    return (figure, after) if return_state else figure


