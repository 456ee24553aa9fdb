"""Audio tasks: turn audio into a model's (inputs, targets, head), and a trained model back into audio.

Three modes, each a way of asking a Clockwork RNN to learn from sound:

``memorize``
    The paper's sequence-generation task. The network reads nothing (``n_in = 0``) and learns to
    emit one clip, scaled so that its peak is 1, from its clock alone; a linear head trained on
    mean squared error, measured by NMSE. The amplitude scale is kept so that the model replays
    the clip at its original level.
``autoregressive``
    Next-sample prediction. The input at step ``t`` is the sample at ``t - 1`` and the target is
    the sample at ``t``, quantised to 256 mu-law classes and predicted by a softmax head trained on
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

Everything here is NumPy on top of the public model API (``forward``, ``loss``, ``sample``,
:class:`~cwfast.stream.Stream`); there is no command-line code and no numba code in this module.
The mode and the facts needed to turn outputs back into audio (scale, number of classes) live in
``Task.metadata``, which the caller saves in ``model.metadata``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .errors import CwfastError, ParameterError

MODES = ("memorize", "autoregressive", "effect")

#: Number of mu-law classes of an autoregressive model (8-bit mu-law, as in telephony and WaveNet).
N_CLASSES = 256

__all__ = [
    "MODES",
    "N_CLASSES",
    "Task",
    "memorize",
    "autoregressive",
    "effect",
    "make_task",
    "split_validation",
    "memorize_size",
    "mode_of",
    "evaluate",
    "unmeasurable",
    "render",
    "process",
    "check_processable",
    "denormalize",
    "trained_length",
    "seconds_to_samples",
    "final_state",
    "autoregressive_inputs",
    "mu_law_encode",
    "mu_law_decode",
    "mu_law_values",
    "nmse",
    "esr",
    "rms",
    "spectral_centroid",
]


# ---------------------------------------------------------------------------------------- mu-law


def _check_classes(n_classes):
    if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)) or n_classes < 2:
        raise ParameterError(f"n_classes={n_classes!r} must be an integer >= 2")
    return int(n_classes)


def mu_law_encode(samples, n_classes=N_CLASSES):
    r"""Quantise samples in [-1, 1] to mu-law class labels.

    .. math::

        F(x) = \operatorname{sign}(x) \frac{\ln(1 + \mu |x|)}{\ln(1 + \mu)}, \qquad
        \mathrm{label} = \left\lfloor \frac{F(x) + 1}{2} \mu + \frac{1}{2} \right\rfloor,
        \qquad \mu = n_{classes} - 1

    Parameters
    ----------
    samples : array_like, float
        Values outside [-1, 1] are clipped first.
    n_classes : int

    Returns
    -------
    labels : ndarray, same shape, int64, in ``[0, n_classes)``
    """
    mu = _check_classes(n_classes) - 1
    x = np.clip(np.asarray(samples, dtype=np.float64), -1.0, 1.0)
    companded = np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu)
    return np.floor((companded + 1.0) / 2.0 * mu + 0.5).astype(np.int64)


def mu_law_decode(labels, n_classes=N_CLASSES):
    """The amplitude in [-1, 1] each mu-law label stands for (the inverse of :func:`mu_law_encode`).

    Returns
    -------
    ndarray, same shape as ``labels``, float32
    """
    mu = _check_classes(n_classes) - 1
    labels = np.asarray(labels)
    if labels.dtype.kind not in "iu":
        raise ParameterError(f"labels has dtype {labels.dtype}; expected integer class labels")
    if labels.size and (labels.min() < 0 or labels.max() > mu):
        raise ParameterError(f"labels must lie in [0, {mu}] for n_classes={mu + 1}")
    y = 2.0 * labels.astype(np.float64) / mu - 1.0
    return (np.sign(y) * np.expm1(np.abs(y) * np.log1p(mu)) / mu).astype(np.float32)


def mu_law_values(n_classes=N_CLASSES):
    """The decoded amplitude of every class, shape (n_classes,), float32 (``values`` of ``sample``)."""
    return mu_law_decode(np.arange(_check_classes(n_classes)), n_classes)


# ---------------------------------------------------------------------------------------- metrics


def _pair(y, target):
    y = np.asarray(y, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    if y.shape != target.shape:
        raise ParameterError(f"output has shape {y.shape} but target has shape {target.shape}")
    if target.size == 0:
        raise ParameterError("target is empty")
    return y, target


def nmse(y, target):
    """Normalised mean squared error, ``mean((y - target)^2) / var(target)`` (the paper's metric).

    0 is perfect; 1 is what predicting the mean of the target scores.

    Raises
    ------
    ParameterError
        If the shapes differ or the target is constant (zero variance).
    """
    y, target = _pair(y, target)
    var = float(np.var(target))
    if var == 0.0:
        raise ParameterError("target is constant, so NMSE (which divides by its variance) is undefined")
    return float(np.mean((y - target) ** 2) / var)


def esr(y, target):
    """Error-to-signal ratio, ``sum((y - target)^2) / sum(target^2)``, the usual metric of effect models.

    0 is perfect; 1 is what outputting silence scores.

    Raises
    ------
    ParameterError
        If the shapes differ or the target is silent.
    """
    y, target = _pair(y, target)
    energy = float(np.sum(target**2))
    if energy == 0.0:
        raise ParameterError("target is silent, so ESR (which divides by its energy) is undefined")
    return float(np.sum((y - target) ** 2) / energy)


def rms(samples):
    """Root-mean-square level of samples (full scale = 1)."""
    samples = np.asarray(samples, dtype=np.float64)
    if samples.size == 0:
        raise ParameterError("samples is empty")
    return float(np.sqrt(np.mean(samples**2)))


def spectral_centroid(samples, sample_rate):
    """The power-weighted mean frequency of a whole clip in Hz (its "brightness").

    Computed from the power spectrum of the whole (Hann-windowed) clip. 0 for a silent clip.
    """
    samples = np.asarray(samples, dtype=np.float64).ravel()
    if samples.size < 2:
        raise ParameterError("samples must hold at least two samples for a spectrum")
    power = np.abs(np.fft.rfft(samples * np.hanning(samples.size))) ** 2
    freqs = np.fft.rfftfreq(samples.size, 1.0 / sample_rate)
    total = power.sum()
    return float((freqs * power).sum() / total) if total > 0 else 0.0


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
        ``(n_steps, n_out)`` float32 for a linear head, ``(n_steps,)`` int64 class labels for a
        softmax head.
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


def _mono(samples, name):
    samples = np.asarray(samples)
    if samples.dtype.kind != "f":
        raise ParameterError(f"{name} has dtype {samples.dtype}; expected floating-point samples")
    if samples.ndim != 1:
        raise ParameterError(f"{name} has shape {samples.shape}; expected mono samples, shape (n,)")
    if samples.size == 0:
        raise ParameterError(f"{name} is empty")
    if not np.all(np.isfinite(samples)):
        raise ParameterError(f"{name} contains NaN or infinite values")
    return np.ascontiguousarray(samples, dtype=np.float32)


def _peak(samples, name):
    peak = float(np.max(np.abs(samples)))
    if peak == 0.0:
        raise CwfastError(f"{name} is silent (all zeros); there is nothing to learn")
    return peak


def memorize(samples):
    """The paper's sequence-generation task: no input, the clip scaled to peak 1 as the target.

    Parameters
    ----------
    samples : ndarray, shape (n,), float

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
    target = (samples.astype(np.float64) / scale).astype(np.float32)[:, None]
    inputs = np.zeros((samples.size, 0), dtype=np.float32)
    return Task("memorize", inputs, target, "linear", 1, {"mode": "memorize", "scale": scale})


def autoregressive(samples, *, n_classes=N_CLASSES):
    """Next-sample prediction over mu-law classes, with teacher forcing.

    The clip is scaled to peak 1 (so the classes cover its whole range) and quantised;
    ``targets[t]`` is the class of sample ``t`` and ``inputs[t]`` the decoded value of sample
    ``t - 1`` (0 at ``t = 0``, as in generation).

    Returns
    -------
    Task
        ``inputs`` (n, 1), ``targets`` (n,) int64, softmax head with ``n_classes`` outputs,
        ``metadata`` with ``mode``, ``scale`` and ``n_classes``.
    """
    samples = _mono(samples, "samples")
    n_classes = _check_classes(n_classes)
    scale = _peak(samples, "the clip")
    labels = mu_law_encode(samples.astype(np.float64) / scale, n_classes)
    decoded = mu_law_values(n_classes)[labels]
    inputs = np.zeros((samples.size, 1), dtype=np.float32)
    inputs[1:, 0] = decoded[:-1]
    metadata = {"mode": "autoregressive", "scale": scale, "n_classes": n_classes}
    return Task("autoregressive", inputs, labels, "softmax", n_classes, metadata)


def effect(dry, wet):
    """Learn a mapping from a dry signal to a processed (wet) one, sample by sample.

    Parameters
    ----------
    dry, wet : ndarray, shape (n,), float
        The same passage before and after the device, at the same rate and time-aligned.

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
    return Task("effect", dry[:, None].copy(), wet[:, None].copy(), "linear", 1, {"mode": "effect"})


def make_task(mode, samples, *, target=None, n_classes=N_CLASSES):
    """Build the task of ``mode`` from mono samples (and, for ``effect``, the ``target`` samples)."""
    if mode not in MODES:
        raise ParameterError(f"mode={mode!r} must be one of {', '.join(MODES)}")
    if mode == "effect":
        if target is None:
            raise ParameterError("effect mode needs the processed (wet) target audio")
        return effect(samples, target)
    if target is not None:
        raise ParameterError(f"{mode} mode takes no target audio (only effect mode does)")
    if mode == "memorize":
        return memorize(samples)
    return autoregressive(samples, n_classes=n_classes)


def memorize_size(n_steps):
    """Default ``hidden`` and ``modules`` for memorizing a clip of ``n_steps`` samples.

    The paper's 40 units in 9 modules (periods up to 256) for clips up to 1024 samples; longer
    clips get periods up to about their length (at most 16 modules) and about ``1.5 sqrt(n)``
    units (at most 128), which is what memorizing 0.1 s at 44.1 kHz (4410 samples) needed to
    reach an NMSE below 0.02 (measured; README).
    """
    if n_steps <= 1024:
        return {"hidden": 40, "modules": 9}
    modules = min(16, int(math.ceil(math.log2(n_steps))))
    hidden = min(128, max(40, int(round(1.5 * math.sqrt(n_steps)))))
    return {"hidden": max(hidden, modules), "modules": modules}


def split_validation(task, fraction):
    """Split off the last ``fraction`` of a task's steps as validation data.

    Returns ``(train, validation)``, each a :class:`Task` over a contiguous part of the clip
    (the validation part keeps its true previous samples as inputs). ``validation`` is None when
    ``fraction`` is 0.
    """
    if not (isinstance(fraction, (int, float)) and 0.0 <= fraction < 1.0):
        raise ParameterError(f"fraction={fraction!r} must be a number in [0, 1)")
    n_val = int(round(task.n_steps * fraction))
    if n_val == 0:
        return task, None
    if task.n_steps - n_val < 2:
        raise ParameterError(f"the clip ({task.n_steps} samples) is too short to hold out {fraction:.0%} for validation")
    cut = task.n_steps - n_val

    def part(sl):
        return Task(task.mode, task.inputs[sl], task.targets[sl], task.output, task.n_out, dict(task.metadata))

    return part(slice(0, cut)), part(slice(cut, None))


# ---------------------------------------------------------------------------------------- models


def mode_of(model):
    """The mode a model was trained for: ``model.metadata["mode"]``, or guessed from its shape.

    A model without input is a memorize model, a softmax model with one input an autoregressive
    one, and a linear model with inputs an effect (input-driven) model.
    """
    mode = model.metadata.get("mode")
    if mode in MODES:
        return mode
    if model.n_in == 0:
        return "memorize"
    if model.output == "softmax" and model.n_in == 1:
        return "autoregressive"
    return "effect"


def _scale(model):
    scale = model.metadata.get("scale", 1.0)
    if not isinstance(scale, (int, float)) or not math.isfinite(scale) or scale <= 0:
        raise CwfastError(f"the model's metadata has an invalid scale {scale!r}")
    return float(scale)


def _is_number(value):
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) and math.isfinite(value)


def trained_length(model):
    """How many samples a memorize model was trained on (``metadata["length"]``), 0 if not stored.

    Metadata is free-form, so anything but a positive integer there counts as not stored.
    """
    length = model.metadata.get("length")
    if isinstance(length, (int, np.integer)) and not isinstance(length, bool) and length > 0:
        return int(length)
    return 0


def denormalize(samples, model):
    """Samples in the model's unit range back at the level of its training audio (times ``scale``)."""
    return (np.asarray(samples, dtype=np.float64) * _scale(model)).astype(np.float32)


def seconds_to_samples(seconds, sample_rate):
    """``seconds`` as a whole number of samples at ``sample_rate`` (at least one)."""
    n = int(round(float(seconds) * sample_rate))
    if n < 1:
        raise ParameterError(f"{seconds} s is shorter than one sample at {sample_rate} Hz")
    return n


def fresh_seed():
    """A random seed from the operating system, small enough to type back in."""
    return int(np.random.SeedSequence().entropy % 2**31)


def final_state(model, task):
    """The model's state after running over ``task`` (to evaluate what follows it, e.g. validation)."""
    return model.forward(task.inputs, return_state=True)[1]


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


def evaluate(model, task, *, state=None):
    """The figure a task is judged by, for ``model`` on ``task``.

    Returns
    -------
    dict
        memorize: ``{"nmse": ...}``; effect: ``{"esr": ..., "nmse": ...}``; autoregressive:
        ``{"cross_entropy": nats per sample, "bits_per_sample": ...}``.
    """
    if task.mode == "autoregressive":
        ce = float(model.loss(task.inputs, task.targets, state=state))
        return {"cross_entropy": ce, "bits_per_sample": ce / math.log(2.0)}
    y = model.forward(task.inputs, state=state)
    if task.mode == "memorize":
        return {"nmse": nmse(y, task.targets)}
    return {"esr": esr(y, task.targets), "nmse": nmse(y, task.targets)}


def render(model, n_samples=None, *, seed=None, temperature=None, prime=None, chunk=16384, on_progress=None,
           default_seconds=5.0):
    """Generate audio from a memorize or autoregressive model, at the level of its training audio.

    Parameters
    ----------
    model : ClockworkRNN
    n_samples : int, optional
        How many samples. Default: the trained length for a memorize model, ``default_seconds``
        at ``model.sample_rate`` (16 kHz if it has none) for an autoregressive model.
    seed : int, optional
        Seeds autoregressive sampling; a memorize model is deterministic.
    temperature : float, optional
        Autoregressive sampling temperature; default ``model.metadata["temperature"]`` or 1.
    prime : ndarray, shape (m,), optional
        Autoregressive only: audio (at the model's rate and original level) run through the model
        with teacher forcing before generation starts, to set its state. The output continues it
        and does not include it.
    chunk : int
        Autoregressive generation runs in chunks of this many samples so that ``on_progress`` can
        report; the result does not depend on it.
    on_progress : callable, optional
        Called with the number of samples just generated.

    Returns
    -------
    ndarray, shape (n_samples,), float32

    Raises
    ------
    CwfastError
        For an effect model (it needs an input: process a file with it instead) or a prime given
        to a memorize model.
    """
    mode = mode_of(model)
    if n_samples is not None and (isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) or n_samples <= 0):
        raise ParameterError(f"n_samples={n_samples!r} must be a positive integer")
    if mode == "effect":
        raise CwfastError("this is an effect model: it needs an input signal, so use 'cwfast process' with it")
    scale = _scale(model)
    if mode == "memorize":
        if prime is not None:
            raise CwfastError("a memorize model takes no input, so it cannot be primed")
        if n_samples is None:
            n_samples = trained_length(model) or seconds_to_samples(default_seconds, model.sample_rate or 16000)
        y = model.forward(np.zeros((int(n_samples), model.n_in), dtype=model.dtype))[:, 0]
        if on_progress is not None:
            on_progress(int(n_samples))
        return (y.astype(np.float64) * scale).astype(np.float32)

    n_classes = model.metadata.get("n_classes", model.n_out)
    if not _is_number(n_classes) or n_classes != int(n_classes):
        raise CwfastError(f"the model's metadata has an invalid n_classes {n_classes!r}")
    n_classes = int(n_classes)
    if model.output != "softmax" or model.n_in != 1 or n_classes != model.n_out:
        raise CwfastError("this model is not a mu-law autoregressive model (softmax head, one input)")
    if n_samples is None:
        n_samples = seconds_to_samples(default_seconds, model.sample_rate or 16000)
    if temperature is None:
        temperature = model.metadata.get("temperature", 1.0)
        if not _is_number(temperature) or temperature < 0:
            raise CwfastError(f"the model's metadata has an invalid temperature {temperature!r}")
        temperature = float(temperature)
    values = mu_law_values(n_classes)
    from .model import _rng  # here, like Stream in process: the model layer loads numba

    rng = _rng(seed)
    state, first = None, 0.0
    if prime is not None:
        primed = autoregressive_inputs(prime, scale, n_classes)
        _, state = model.forward(primed[:-1, None], return_state=True)
        first = float(primed[-1])
    out = np.empty(int(n_samples), dtype=np.float32)
    done = 0
    while done < n_samples:
        n = min(chunk, n_samples - done)
        # One generator across chunks draws the same uniforms as one call, so chunking is invisible.
        piece, state = model.sample(
            n, values=values, temperature=temperature, seed=rng, first_input=first, state=state, return_state=True
        )
        out[done : done + n] = piece
        first = float(piece[-1])
        done += n
        if on_progress is not None:
            on_progress(n)
    return (out.astype(np.float64) * scale).astype(np.float32)


def autoregressive_inputs(samples, scale, n_classes=N_CLASSES):
    """Audio at its original level as an autoregressive model reads it: scaled, quantised, decoded.

    Returns ``(m + 1,)`` float32: 0 (the input of the first step) followed by the decoded samples,
    so that ``x[:-1]`` drives teacher forcing over the clip and ``x[-1]`` is the next input.
    """
    samples = _mono(samples, "prime")
    labels = mu_law_encode(samples.astype(np.float64) / scale, n_classes)
    out = np.zeros(samples.size + 1, dtype=np.float32)
    out[1:] = mu_law_values(n_classes)[labels]
    return out


def check_processable(model):
    """Raise CwfastError unless ``model`` is an input-driven model that :func:`process` can run."""
    mode = mode_of(model)
    if mode != "effect" or model.n_in != 1 or model.n_out != 1 or model.output != "linear":
        what = "effect model with one input and one linear output"
        if mode in ("memorize", "autoregressive"):
            article = "an" if mode == "autoregressive" else "a"
            raise CwfastError(f"this is {article} {mode} model, not an effect model: use 'cwfast generate' with it")
        raise CwfastError(f"this model has {model.n_in} inputs and {model.n_out} outputs; 'process' runs an {what}")


def process(model, samples, *, block_size=4096, on_progress=None):
    """Run an input-driven (effect) model over a whole signal, block by block through a Stream.

    Parameters
    ----------
    model : ClockworkRNN, SRN or LSTM
        A linear model with one input (``effect`` mode).
    samples : ndarray, shape (n,), float
    block_size : int
    on_progress : callable, optional
        Called with the number of samples of each finished block.

    Returns
    -------
    ndarray, shape (n,), float32

    Raises
    ------
    CwfastError
        If the model is not input-driven (memorize and autoregressive models generate instead).
    """
    from .stream import Stream

    check_processable(model)
    if isinstance(block_size, bool) or not isinstance(block_size, (int, np.integer)) or block_size <= 0:
        raise ParameterError(f"block_size={block_size!r} must be a positive integer")
    samples = _mono(samples, "samples")
    out = np.empty(samples.size, dtype=np.float32)
    x = samples.astype(model.dtype)[:, None]
    # Buffers (and the stream's warm-up) no longer than the signal: --block 10**8 on a short file
    # must not allocate and warm up for 10**8 steps.
    block_size = min(int(block_size), samples.size)
    stream = Stream(model, max_block=block_size)
    y = np.empty((block_size, 1), dtype=model.dtype)
    for start in range(0, samples.size, block_size):
        stop = min(start + block_size, samples.size)
        out[start:stop] = stream.process(x[start:stop], out=y[: stop - start])[:, 0]
        if on_progress is not None:
            on_progress(stop - start)
    return out
