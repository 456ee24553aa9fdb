"""Train a model on audio with cwfast's defaults: what ``cwfast train`` does, callable from Python.

:func:`train_audio` takes mono samples (and, in effect mode, the processed target), builds the
task of the mode (:mod:`cwfast.tasks`), cuts it into training, validation and test parts, picks
the architecture and trainer settings the mode's measured defaults call for (:data:`MODE_DEFAULTS`),
trains, and scores the model on each part. The validation part is what every choice looks at
(early stopping and the best epoch); the test part is scored once, at the end, and is the figure
reported as "held out". The command line only parses options, reads and writes files and prints.

>>> from cwfast.train_audio import train_audio                                   # doctest: +SKIP
>>> trained = train_audio(samples, 16000, mode="autoregressive", epochs=5)      # doctest: +SKIP
>>> trained.figures["test"]["bits_per_sample"]                                  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import math
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numba
import numpy as np

from . import lpc, registry, tasks, validate
from ._clock import clock
from ._bars import bar
from .codec import MAX_CLASSES, N_CLASSES, check_classes, check_history
from .metrics import nats_to_bits
from .errors import CwfastError, ParameterError, TrainingDiverged
from .model import LEVEL_FLOOR, LEVEL_PIECE, MAX_PREDICTION_TAPS, PITCH_MAX_RATE, STOP, Level, Pitch
from .modes import (AUDIBLE_RMS, AUDIO_HEADS, DEFAULT_COMPONENTS, LEVEL_BAND, MAX_LEVEL_SAMPLES, MAX_TEMPERATURE,
                    MIXTURE_HISTORY, PINNED_LEVEL, PITCH_CHOICES, PITCH_DEFAULT, PITCH_REFERENCE_PERCENTILE, PITCH_TAPS,
                    POPULATION, PREDICTION_TAPS, TRAINERS, is_pinned)
from .scale_fit import fit_scale, fit_surprise
from .scratch import Scratch

#: An autoregressive Clockwork RNN's modules read this much of the past at each tick by default
#: (``input_window``), in seconds: 320 samples at 16 kHz, pitch periods down to 50 Hz.
INPUT_WINDOW_SECONDS = 0.02
#: Held-out parts shorter than this (in samples) are said to be too short to compare models by
#: (a 10-sample clip's were one sample each, silently).
FEW_HELD_OUT = 1000
#: An autoregressive mixture model normalises its input's level over about this many samples by
#: default (``level``; docs/results.md, "Level normalisation").
LEVEL_SAMPLES = 64
#: The sampling temperature a mixture model is saved with (what ``cwfast generate`` uses unless
#: told otherwise) when its generated audio meets the likeness goals there (see
#: :data:`CALIBRATION_TEMPERATURES`); docs/results.md, "Generation likeness".
MIXTURE_TEMPERATURE = 0.5
#: A mixture model trained by :func:`train_audio` is saved to generate at :data:`MIXTURE_TEMPERATURE`
#: if the audio it generates there meets issue 12's likeness goals against its training audio and is
#: audible, or else at the one of these temperatures that does nearest its loudness (:func:`calibrate_temperature`).
#: 0.75 and 0.8 are where the spoken-digit models cross from a quiet tone to loud noise
#: (docs/results.md, "A finer calibration grid").
CALIBRATION_TEMPERATURES = (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 1.0)
#: Seconds generated at each temperature to choose it.
CALIBRATION_SECONDS = 10.0
#: The generation seeds the calibration draws with, each figure the median of theirs, as the goals
#: table takes the median of three seeds: one seed's audio chose a temperature at which a seed-26
#: spoken-digit model was audible, and near silent at 17 seeds of 20 others (docs/results.md, "The
#: calibration's figures as medians over three seeds"). Their audio chose the temperature and the
#: output gain, so the likeness figures (scripts/generation_goals.py, scripts/measure_generation.py)
#: are measured on other seeds by default.
CALIBRATION_SEEDS = (0, 1, 2)
#: The most a calibrated model's output gain (:func:`calibrate_temperature`) lifts or lowers what
#: it generates: 4 (12 dB), the inverse of :data:`AUDIBLE_RMS`, so that no gain makes near
#: silence loud.
MAX_CALIBRATED_GAIN = 4.0
#: The most validation samples the mixture's scales are fitted on (65.5 s at 16 kHz): a longer
#: corpus's validation parts are each cut to their first share of it (:func:`fitting_parts`).
#: Three numbers are fitted; the goal sources' validation parts (4 to 22 s) are whole under it.
FIT_SAMPLES = 2**20
#: A corpus this long (about 9 minutes at 16 kHz) gets a bar while its parts are scored once
#: trained: an hour's took about 90 s on one core, silent before.
SCORING_BAR_SAMPLES = 2**23
#: Samples of the training part :func:`_window_rms` reads at a time: the level's own piece.
RMS_PIECE = LEVEL_PIECE
#: The most models ``restarts`` trains in one run (over every learning rate of ``lr``).
MAX_RESTARTS = 100
#: ``restarts=AUTO_RESTARTS``: rounds of restarts while the time budget lasts (one without a budget).
AUTO_RESTARTS = "auto"
#: The clock the runs share the time budget by (whole rounds: training, fitting, calibrating).
_clock = clock  # (less numba's compiling: a new installation's first run compiled inside its share)
#: The learning rates an autoregressive model trains at by gradient, keeping the better on
#: validation: 0.003 kept with at least 0.02 bit gained in 5 of 8 runs on fresh seeds, likeness
#: cells equal to 0.01 alone's (docs/results.md, "The BPTT window and the learning rate").
AUTOREGRESSIVE_RATES = (0.01, 0.003)

# Per-mode defaults, chosen by measurement (README, "What each mode is good for"). ``None`` leaves
# the choice to the trainer (``input_window``: INPUT_WINDOW_SECONDS of samples); the evolution
# strategy's default ``lr`` is its own. ``window`` is the truncated-BPTT window for clips longer than it;
# memorize trains on full BPTT, since with no input a window edge cuts the only path to the past.
# Memorize sizes grow with clips longer than the paper's (tasks.memorize_size). Memorize holds
# nothing out: it learns one clip by heart, and no part of a clip predicts another.
MODE_DEFAULTS = {
    "memorize": {"hidden": 40, "modules": 9, "epochs": 2000, "lr": None, "window": None, "batch_size": None,
                 "validation": 0.0, "test": 0.0, "input_window": 1, "lr_schedule": None, "restarts": 1},
    "autoregressive": {"hidden": 64, "modules": 8, "epochs": 30, "lr": AUTOREGRESSIVE_RATES, "window": 256, "batch_size": 8,
                       "validation": 0.1, "test": 0.1, "input_window": None, "head": "mixture",
                       "temperature": {"mixture": MIXTURE_TEMPERATURE, "softmax": 1.0}, "lr_schedule": "cosine", "restarts": 1},
    "effect": {"hidden": 32, "modules": 8, "epochs": 50, "lr": 0.01, "window": 2048, "batch_size": 8,
               "validation": 0.1, "test": 0.1, "input_window": 1, "lr_schedule": None, "restarts": 1},
}

#: Above this many scored steps per generation, the evolution strategy notes that it will be slow
#: (at population 256, 8192 steps of the memorize model are about 0.2 s a generation).
ES_LONG_STEPS = 8192


@dataclass
class TrainedAudio:
    """What :func:`train_audio` made.

    Attributes
    ----------
    model : ClockworkRNN, SRN or LSTM
        The trained model; its metadata holds the task, the trainer and the figures.
    task : tasks.Task
        The whole task, before splitting (every clip's parts in order), joined when read: a copy
        of the data, 5 bytes a sample (float32 inputs, uint8 labels) in new scratch files
        (``scratch``), which training itself never needs.
    splits : tasks.Splits
        The training, validation and test parts of the task.
    result : cwfast.train.TrainResult
        The kept run's; its ``final_loss`` is NaN when a gradient trainer ran (``figures["train"]``
        scores the training part instead, of the model as saved), and so is its ``best_loss`` if
        the run stopped before its first epoch ended without a validation part.
    figures : dict
        ``{"train": ..., "validation": ..., "test": ...}`` (parts that exist), each what
        :func:`cwfast.tasks.evaluate` returns.
    """

    model: object
    splits: tasks.Splits
    result: object
    figures: dict
    _data: _Data = field(repr=False)

    @property
    def task(self):
        return self._data.whole()


def _given(value, default, name):
    """``value`` checked as a positive integer, or ``default`` if it is None (0 is refused, not a default)."""
    return default if value is None else validate.positive_int(name, value)


def architecture(arch, defaults, *, hidden=None, modules=None, periods=None):
    """(n_hidden, n_modules, periods) from the options; n_modules and periods are None without a clock."""
    n_hidden = _given(hidden, defaults["hidden"], "hidden")
    if not registry.get(arch).has_clock:
        if modules is not None or periods is not None:
            raise ParameterError(f"{_opt('arch', arch)} has no clock modules; it takes no {_opt('modules')} or "
                                 f"{_opt('periods')}")
        return n_hidden, None, None
    if periods is not None:
        if modules is not None and modules != len(periods):
            raise ParameterError(f"{_opt('modules', modules)} does not match the {len(periods)} {_opt('periods')} given")
        if len(periods) > n_hidden:
            given = ("" if hidden is not None else "the default ") + _opt("hidden", n_hidden)
            raise ParameterError(f"{_opt('periods')} gives {len(periods)} modules, more than {given} units: every "
                                 f"module needs one (pass {_opt('hidden', len(periods))} or more)")
        return n_hidden, len(periods), list(periods)
    n_modules = _given(modules, defaults["modules"], "modules")
    if n_modules > n_hidden:
        if modules is None:
            raise ParameterError(f"{_opt('hidden', n_hidden)} is fewer units than the {n_modules} modules of the "
                                 f"default; pass {_opt('modules', n_hidden)} or fewer")
        raise ParameterError(f"{_opt('modules', n_modules)} must not exceed {_opt('hidden', n_hidden)}")
    return n_hidden, n_modules, None


def new_model(arch, task, n_hidden, n_modules, periods, *, seed, sample_rate, metadata, input_window=1,
              components=None):
    """A fresh model of the registered architecture ``arch`` for ``task`` (``input_window``: the
    Clockwork RNN's ``input_windows``); with ``components``, an autoregressive task's model gets a
    mixture head of that many logistics instead of the softmax."""
    cls = registry.get(arch)
    output, n_out = task.output, task.n_out
    if components is not None:
        output, n_out = "mixture", 3 * components
    common = dict(seed=seed, sample_rate=sample_rate, metadata=metadata, output=output)
    if cls.has_clock:
        return cls(task.n_in, n_out, n_hidden=n_hidden, n_modules=n_modules, periods=periods,
                   input_windows=input_window, **common)
    return cls(task.n_in, n_out, n_hidden=n_hidden, **common)


def state_before(model, splits, part):
    """The model's state at the start of ``part`` ("validation" or "test"): run over what precedes it."""
    state = None
    for name in ("train", "validation", "test"):
        if name == part:
            return state
        piece = getattr(splits, name)
        if piece is not None:
            state = model.advance(piece.inputs, state=state)
    raise ParameterError(f"part={part!r} must be 'validation' or 'test'")


def check_training_audio(model, samples, model_name="the model", audio_name="the audio", what="this script measures"):
    """CwfastError unless ``samples`` (at the model's rate) can be the one clip ``model`` was
    trained on, as it was: its parts are cut from that length, and another audio's (the untrimmed
    recording of a trimmed model, say) would be scored as if held out. For the scripts that
    measure a trained model on its audio; ``what`` ends the message about a corpus's model."""
    clips, length = model.metadata.get("clips") or (), model.metadata.get("length")
    if len(clips) > 1:
        raise CwfastError(f"'{model_name}' was trained on {len(clips)} files, each split on its own; {what} a "
                          "model trained on one")
    if length is not None and length != samples.size:
        raise CwfastError(f"'{model_name}' was trained on {length} samples at {model.sample_rate} Hz and "
                          f"'{audio_name}' has {samples.size} there: give the audio as it was trained on "
                          "(trimmed with --trim?)")

def fitting_parts(model, per_clip, limit=None):
    """The validation parts the mixture's scales are fitted on (:func:`~cwfast.scale_fit.fit_scale`,
    :func:`~cwfast.scale_fit.fit_surprise`): every clip's, each from the state its clip's training
    part leaves, cut to the first :data:`FIT_SAMPLES` (``limit``) of them all in proportion to
    their lengths, so that a long corpus's fit costs what 65 s of audio's does. The clips' states
    are run side by side (:func:`_each_clip`)."""
    limit = FIT_SAMPLES if limit is None else limit
    parts = [c for c in per_clip if c.validation is not None]
    total = sum(c.validation.n_steps for c in parts)
    states = _each_clip(lambda c: state_before(model, c, "validation"), parts)
    held = []
    for c, state in zip(parts, states):
        n = c.validation.n_steps if total <= limit else max(1, c.validation.n_steps * limit // total)
        held.append((c.validation.inputs[:n], c.validation.targets[:n], state))
    return held


def _each_clip(work, clips):
    """``[work(c) for c in clips]``, up to numba's thread count of clips at a time. A clip's
    forward pass is one sequence, on one core, in kernels that release the GIL; its result is
    its own (its own state and sums, pooled by the caller in clip order), so the bits are the
    same on any number of threads. (After a run on a corpus these passes were most of the wait
    on one core while the other idled.) Each runs in the caller's context (its context
    variables). An error, or Ctrl-C in the calling thread, stops the clips under way at their
    next chunk of :data:`~cwfast.model.LOSS_CHUNK` steps (:data:`~cwfast.model.STOP`), and is
    raised once they have."""
    threads = min(len(clips), numba.get_num_threads())
    if threads <= 1:
        return [work(c) for c in clips]
    stop, caller = threading.Event(), contextvars.copy_context()

    def run(c):
        context = caller.copy()  # (one context cannot be entered by two threads at once)
        context.run(STOP.set, stop)
        return context.run(work, c)

    pool = ThreadPoolExecutor(threads)
    try:
        return list(pool.map(run, clips))
    except BaseException:
        stop.set()
        raise
    finally:
        pool.shutdown(cancel_futures=True)


#: Metadata keys train_audio writes itself: a caller's ``metadata`` may not name them.
_OWN_METADATA = frozenset({
    "mode", "scale", "n_classes", "history", "length", "split", "clips", "input_window", "temperature",
    "temperature_calibration", "output_gain", "level", "level_band", "scale_fit", "surprise_fit", "trainer",
    "figures", "runs",
    "restarts",  # what earlier versions called "runs", which cwfast info still reads
})


def _user_metadata(metadata, checkpoint=None):
    """The caller's extra metadata as a new dict, refused before any training if it cannot be saved
    with the model (not JSON; with a ``checkpoint``, whose header holds it too, not NaN or
    infinity either) or would overwrite what train_audio records (:data:`_OWN_METADATA`)."""
    metadata = validate.metadata(metadata)
    if checkpoint is None:
        validate.json_text("metadata, saved with the model,", metadata)
    else:
        validate.json_text("metadata, saved with the model and its checkpoints (no NaN or infinity),", metadata,
                           allow_nan=False)
    clash = sorted(_OWN_METADATA.intersection(metadata))
    if clash:
        raise ParameterError(f"metadata names {', '.join(map(repr, clash))}, which train_audio records itself; "
                             "use other keys")
    return metadata


def _note(on_note, message):
    if on_note is not None:
        on_note(message)


#: How refusals, hints and notes name :func:`train_audio`'s arguments: ``"argument"`` (``hidden=4``,
#: for Python) or ``"option"`` (``--hidden 4``: the command line sets it, :func:`spoken_as_options`).
_SPELLING = contextvars.ContextVar("cwfast_train_audio_spelling", default="argument")
_NO_VALUE = object()


@contextlib.contextmanager
def spoken_as_options():
    """Within it, this module's messages name arguments as ``cwfast train``'s options."""
    token = _SPELLING.set("option")
    try:
        yield
    finally:
        _SPELLING.reset(token)


def _spoken(as_option, as_argument):
    """The phrase of the spelling in force (:func:`spoken_as_options`): the command line's or Python's."""
    return as_option if _SPELLING.get() == "option" else as_argument


def _opt(name, value=_NO_VALUE):
    """The argument ``name`` (with ``value``, if given) as the caller spells it: ``batch_size=4`` or
    ``--batch-size 4``."""
    flag = "--" + name.replace("_", "-")
    if value is _NO_VALUE:
        return _spoken(flag, name)
    return _spoken(f"{flag} {value}", f"{name}={value!r}")


def _batch_size(model, train_task, window, batch_size, default):
    """Streams for truncated BPTT: the default shrinks to what the clip holds; an explicit one must fit."""
    if window is None:
        return None
    cycle = math.lcm(*model.periods.tolist())
    most = max(1, train_task.n_steps // cycle)
    if batch_size is None:
        return default and min(default, most)
    if batch_size > most:
        raise ParameterError(
            f"{_opt('batch_size', batch_size)}: the {train_task.n_steps} training samples make at most {most} "
            f"stream{'s' if most > 1 else ''} of whole clock cycles ({cycle} samples); pass "
            f"{_opt('batch_size', most)} or fewer, or a longer clip")
    return batch_size


def check_options(*, mode, arch="cw", trainer="adam", modules=None, periods=None, classes=None, population=None,
                  sigma=None, cluster=None, validation=None, test=None, input_window=None, head=None,
                  components=None, level=None, prediction=None, level_band=None, window=None, batch_size=None,
                  history=None, epochs=None, time_budget=None, restarts=None, checkpoint=None, scale_fit=None,
                  lr=None, pitch=None):
    """Refuse options that do not go together, before any audio is read (see :func:`train_audio`)."""
    if not isinstance(mode, str) or mode not in MODE_DEFAULTS:
        raise ParameterError(f"mode={mode!r} must be one of {', '.join(tasks.MODES)}")
    if not isinstance(trainer, str) or trainer not in TRAINERS:
        raise ParameterError(f"trainer={trainer!r} must be one of {', '.join(TRAINERS)}")
    if isinstance(periods, str) or not (periods is None or isinstance(periods, (list, tuple, np.ndarray))):
        raise ParameterError(f"{_opt('periods', periods)} must be a list of clock periods such as [1, 2, 4], "
                             f"not {'a string' if isinstance(periods, str) else type(periods).__name__}")
    if not registry.get(arch).has_clock and (modules is not None or periods is not None):
        raise ParameterError(f"{_opt('arch', arch)} has no clock modules; it takes no {_opt('modules')} or "
                             f"{_opt('periods')}")
    for name, value in (("window", window), ("batch_size", batch_size)):
        if value is not None and trainer == "es":
            raise ParameterError(f"{_opt(name)} is for the gradient trainers (adam, sgd); {_opt('trainer', 'es')} "
                                 "scores every member on the whole clip")
    if mode == "memorize" and batch_size is not None and window is None:
        raise ParameterError(f"{_opt('batch_size')} sets the streams of {_opt('window')}'s truncated "
                             "back-propagation; memorize mode trains on the whole clip at once unless "
                             f"{_opt('window')} is given")
    if input_window is not None:
        if registry.get(arch).arch != "clockwork":
            raise ParameterError(f"{_opt('input_window')} is for {_opt('arch', 'cw')} (a Clockwork RNN's modules); "
                                 f"{_opt('arch', arch)} reads one input a step")
        if mode == "memorize":
            raise ParameterError(f"{_opt('input_window')} is for models that read input; a memorize model reads "
                                 "nothing")
        if isinstance(input_window, (list, tuple)):
            validate.positive_int_list("input_window", input_window)
            n_modules = len(periods) if periods is not None else modules or MODE_DEFAULTS[mode]["modules"]
            if len(input_window) != n_modules:
                raise ParameterError(f"{_opt('input_window')} gives {len(input_window)} windows for {n_modules} modules: "
                                     "give one per module, in the order of the periods")
        elif input_window != "period":
            validate.positive_int("input_window", input_window)
    validate.positive_float("time_budget", time_budget, allow_none=True)  # before runs share it out
    if epochs is not None and validate.non_negative_int("epochs", epochs) == 0 and time_budget is None:
        raise ParameterError(f"{_opt('epochs', 0)} trains until {_opt('time_budget')}: give one")
    if classes is not None:
        try:
            check_classes(classes)
        except ParameterError:  # its n_classes= is the API's name
            raise ParameterError(f"{_opt('classes', classes)}: a mu-law code needs 2 to {MAX_CLASSES} classes") from None
    if classes is not None and mode != "autoregressive":
        raise ParameterError(f"{_opt('classes')} is for autoregressive mode; {mode} mode has a linear output")
    if head is not None and head not in AUDIO_HEADS:
        raise ParameterError(f"head={head!r} must be one of {', '.join(map(repr, AUDIO_HEADS))}")
    if (head is not None or components is not None) and mode != "autoregressive":
        raise ParameterError(f"{_opt('head')} and {_opt('components')} are for autoregressive mode; {mode} mode has "
                             "a linear output")
    if components is not None and audio_head(mode, head, classes) != "mixture":
        raise ParameterError(f"{_opt('components')} is the number of logistics of {_opt('head', 'mixture')}")
    if components is not None and validate.positive_int("components", components) > N_CLASSES:
        raise ParameterError(f"{_opt('components', components)}: at most {N_CLASSES}, one logistic per mu-law class "
                             "the mixture scores")
    if level:
        validate.non_negative_int("level", level, maximum=MAX_LEVEL_SAMPLES)
        if audio_head(mode, head, classes) != "mixture":
            raise ParameterError(f"{_opt('level')} normalises the level of an autoregressive model with "
                                 f"{_opt('head', 'mixture')}")
    if level_band is not None:
        validate.percentile_band("level_band", level_band)
        if level == 0:  # said apart: the level is on by default, and the user turned it off
            raise ParameterError(f"{_opt('level_band')} bounds the level's gain, which {_opt('level', 0)} turns off")
        if audio_head(mode, head, classes) != "mixture":
            raise ParameterError(f"{_opt('level_band')} bounds the gain of {_opt('level')}, which normalises an "
                                 f"autoregressive model with {_opt('head', 'mixture')}")
    if prediction:
        validate.non_negative_int("prediction", prediction)
        if prediction > MAX_PREDICTION_TAPS:
            raise ParameterError(f"{_opt('prediction', prediction)} is more than the {MAX_PREDICTION_TAPS} taps a "
                                 "model may have")
        if audio_head(mode, head, classes) != "mixture":
            raise ParameterError(f"{_opt('prediction')} needs the mixture head of an autoregressive model "
                                 f"({_opt('head', 'mixture')})")
        if trainer == "es":
            raise ParameterError(f"{_opt('prediction')} is trained by the gradient trainers (adam, sgd), not "
                                 f"{_opt('trainer', 'es')}")
    if pitch is not None:
        if not isinstance(pitch, str) or pitch not in PITCH_CHOICES:
            raise ParameterError(f"{_opt('pitch', pitch)} must be one of {', '.join(PITCH_CHOICES)}")
        if pitch != "off" and audio_head(mode, head, classes) != "mixture":
            raise ParameterError(f"{_opt('pitch')} needs the mixture head of an autoregressive model "
                                 f"({_opt('head', 'mixture')})")
        if pitch != "off" and trainer == "es":
            raise ParameterError(f"{_opt('pitch')}'s gain is trained by the gradient trainers (adam, sgd), not "
                                 f"{_opt('trainer', 'es')}")
        if pitch == "auto" and checkpoint is not None:
            raise ParameterError(f"{_opt('pitch', 'auto')} trains several models; {_opt('checkpoint')} and "
                                 f"{_opt('resume')} keep one run's state")
    if history is not None:
        check_history(history)
        if mode != "autoregressive":
            raise ParameterError(f"{_opt('history')} is what an autoregressive model reads of its past; {mode} mode "
                                 "reads no past samples")
        if history == "linear" and audio_head(mode, head, classes) != "mixture":
            raise ParameterError(f"{_opt('history', 'linear')} needs {_opt('head', 'mixture')}: a softmax generates "
                                 "classes, so it can read back only their values (mu-law)")
    if head == "mixture" and classes not in (None, N_CLASSES):
        raise ParameterError(f"{_opt('head', 'mixture')} scores the {N_CLASSES} mu-law classes; it takes no "
                             f"{_opt('classes', classes)}")
    for name, value in (("population", population), ("sigma", sigma), ("cluster", cluster)):
        if value is not None and trainer != "es":
            raise ParameterError(f"{_opt(name)} is for {_opt('trainer', 'es')}; {trainer} follows the gradient")
    if population is not None:
        population = validate.positive_int(_opt("population"), population)
    if population is not None and population % 2:
        raise ParameterError(f"{_opt('population', population)}: must be even (the ES evaluates antithetic pairs)")
    if cluster == "ray":
        from .train.cluster import import_ray

        import_ray()  # without Ray installed: one clear line, before any audio is read
    auto = isinstance(restarts, str) and restarts == AUTO_RESTARTS
    if isinstance(restarts, str) and not auto:
        raise ParameterError(f"{_opt('restarts', restarts)} must be a positive integer or '{AUTO_RESTARTS}'")
    if restarts is not None and not auto and validate.positive_int("restarts", restarts) > MAX_RESTARTS:
        raise ParameterError(f"{_opt('restarts', restarts)}: at most {MAX_RESTARTS} (or '{AUTO_RESTARTS}')")
    rates = () if lr is None else validate.positive_floats("lr", lr)
    arms = 2 if pitch == "auto" else 1
    if len(rates) * arms * (1 if auto else restarts or 1) > MAX_RESTARTS:
        named = f"{_opt('lr')}, {_opt('pitch', 'auto')} and" if arms > 1 else f"{_opt('lr')} and"
        raise ParameterError(f"{named} {_opt('restarts')} train {len(rates)} x {f'{arms} x ' * (arms > 1)}"
                             f"{restarts or 1} models: at most {MAX_RESTARTS}")
    many_restarts = auto or (restarts is not None and restarts > 1)
    for name, many in (("restarts", many_restarts), ("lr", len(rates) > 1)):
        if many and checkpoint is not None:
            raise ParameterError(f"{_opt(name)} trains several models; {_opt('checkpoint')} and {_opt('resume')} "
                                 "keep one run's state")
    if mode == "memorize" and any(v for v in (validation, test)):
        raise ParameterError("memorize mode learns one clip by heart, so there is nothing to hold out: "
                             f"{_opt('validation')} and {_opt('test')} must be 0 (they are by default)")
    if scale_fit:
        if audio_head(mode, head, classes) != "mixture":
            raise ParameterError(f"{_opt('scale_fit')} fits the scales of an autoregressive model's mixture head "
                                 f"({_opt('head', 'mixture')})")
        if validation == 0:
            raise ParameterError(f"{_opt('scale_fit')} fits the mixture's scale on the validation part; "
                                 f"{_opt('validation', 0)} holds none out")


def audio_head(mode, head, classes):
    """The output head an autoregressive model gets: ``head`` if given; else the softmax when a
    number of classes other than 256 is asked for (a mixture scores the 256 mu-law classes), else
    the mode's default. None in the other modes (a linear output)."""
    if mode != "autoregressive":
        return None
    if head is not None:
        return head
    if classes not in (None, N_CLASSES):
        return "softmax"
    return MODE_DEFAULTS[mode]["head"]


def train_audio(samples, sample_rate, *, mode="memorize", target=None, arch="cw", hidden=None, modules=None,
                periods=None, trainer="adam", epochs=None, lr=None, population=None, sigma=None, cluster=None,
                batch_size=None,
                window=None, validation=None, test=None, classes=None, seed=0, checkpoint=None, resume=False,
                progress=True, on_note=None, metadata=None, time_budget=None, input_window=None, head=None,
                components=None, level=None, prediction=None, level_band=None, lr_schedule=None, on_model=None,
                restarts=None, history=None, scale_fit=None, pitch=None, scratch=None):
    """Train a model on audio the way ``cwfast train`` does.

    Parameters
    ----------
    samples : ndarray, shape (n,), float, or a list of them
        Mono audio at ``sample_rate`` (the dry input in effect mode). A list of several clips is a
        corpus (autoregressive mode): the clips share one scale, each is split in time on its own
        (:func:`cwfast.tasks.corpus`), training runs over their training parts joined, and the
        validation and test figures average the clips' held-out ends, weighted by length.
    sample_rate : int
        In Hz; stored in the model.
    mode : {"memorize", "autoregressive", "effect"}
    target : ndarray, shape (n,), optional
        Effect mode: the processed (wet) version of ``samples``, time-aligned.
    arch : str
        A registered architecture's CLI name (``"cw"``, ``"srn"``, ``"lstm"``).
    hidden, modules, periods, trainer, epochs, population, sigma, cluster, batch_size, window, classes, seed
        As the options of ``cwfast train``; None takes the mode's default (:data:`MODE_DEFAULTS`).
        ``epochs=0`` trains until ``time_budget``.
    lr : float or list of float, optional
        The learning rate, or several: one model is trained at each (with every restart's seed) and
        the one with the lowest validation figure is kept (:func:`choose_run`: of those whose audio
        was audible when calibrated, if any was; without a validation part, the training figure).
        Default: :data:`AUTOREGRESSIVE_RATES` for an autoregressive model trained by gradient (one
        rate, the first, with a ``checkpoint``), 0.01 in effect mode and for the evolution
        strategy, the trainer's own in memorize mode. The rates share a
        ``time_budget`` as the restarts do, and are recorded as they are.
    on_model : callable, optional
        Called with the model once it is built and the options are checked against the clip (the
        truncated BPTT's window and streams), before training starts (the command line checks
        there that the disk can hold it, and says the notes it held); what it raises ends the run. With ``restarts``, called
        for each restart's model.
    lr_schedule : {"constant", "cosine", "linear"}, optional
        How the learning rate falls over the epochs (:func:`cwfast.train.optimizers.make_schedule`);
        default cosine in autoregressive mode (0.06 to 0.87 bit better on the validation parts of
        the four goal sources; docs/results.md, "The learning rate's decay"), else constant. It
        runs over ``epochs``, or with ``epochs=0`` over ``time_budget``.
    input_window : "period", int or list of int, optional
        ``--arch cw`` only: how many of the latest inputs each module reads at its ticks (the
        Clockwork RNN's ``input_windows``). Default: :data:`INPUT_WINDOW_SECONDS` of samples in
        autoregressive mode (320 at 16 kHz), 1 (the paper's model) in the others. Recorded in
        the metadata when not 1.
    head : {"softmax", "mixture"}, optional
        Autoregressive mode: the output head (:data:`AUDIO_HEADS`; default mixture, or softmax
        when ``classes`` is not 256; :func:`audio_head`). The model is saved with the sampling
        temperature ``cwfast generate`` then uses by default: for a mixture
        :data:`MIXTURE_TEMPERATURE`, or what :func:`calibrate_temperature` chooses on the training
        audio when its generated audio misses the likeness goals there; 1 for a softmax.
    components : int, optional
        With the mixture head: the number of logistics (default :data:`DEFAULT_COMPONENTS`).
    pitch : {"off", "on", "auto"}, optional
        With the mixture head and a gradient trainer: add a pitch predictor
        (:class:`cwfast.model.Pitch`, :meth:`~cwfast.model.Pitch.for_rate`; its short-term
        predictor least squares on the training part, its bound the
        :data:`PITCH_REFERENCE_PERCENTILE` th percentile of the training part's RMS), or with
        ``"auto"`` train every run both without and with one and keep the better on validation
        (twice the runs, in the same time budget). Default :data:`PITCH_DEFAULT` (auto) for a
        mixture Clockwork RNN trained by gradient (without a ``checkpoint``, which keeps one
        run: off), else off; by default, a clip too short for one (or a rate under 1000 Hz or
        over :data:`cwfast.model.PITCH_MAX_RATE`, 131103 Hz) trains without, with a note, where an explicit ``"on"`` or ``"auto"`` is refused.
    level : int, optional
        With the mixture head: normalise the input's level (:class:`cwfast.model.Level`), tracked
        over about this many samples (``alpha = 1 / level``), from the training part's mean
        absolute input; 0 for none. Default: :data:`LEVEL_SAMPLES` for an autoregressive mixture
        model, else none.
    level_band : (float, float), optional
        With a level: the percentiles (low, high) of the training part's level that become the
        gain's floor and ceiling (:class:`cwfast.model.Level`), so that the network sees how loud
        its input is beyond them and what it generates keeps about its source's loudness.
        Default: :data:`cwfast.modes.LEVEL_BAND`; (0, 100) bounds the gain by the levels the training audio reached.
    prediction : int, optional
        With the mixture head and a gradient trainer: the taps of a linear prediction added to the
        mixture's means (:attr:`cwfast.model.SequenceModel.prediction`), trained with the network
        from zero; 0 for none. Default: :data:`PREDICTION_TAPS` for an autoregressive mixture
        Clockwork RNN trained by gradient, else none.
    history : {"mu-law", "linear"}, optional
        Autoregressive mode: what the model reads of the samples before the one it predicts
        (:func:`cwfast.tasks.autoregressive`): the values of their mu-law classes, or with the
        mixture head the samples themselves. Default: :data:`cwfast.modes.MIXTURE_HISTORY` with
        the mixture head, mu-law with the softmax. Stored in the metadata; generation reads back
        the same.
    validation, test : float, optional
        Fractions of the clip held out at its end: the test part last, the validation part
        before it. Default 0.1 each, except memorize mode, which holds nothing out (and refuses to).
    scale_fit : bool, optional
        With the mixture head: once trained, multiply every scale of the mixture by the one factor
        that predicts the validation part best (:func:`cwfast.scale_fit.fit_scale`), before the
        figures are scored and the generation temperature is chosen; recorded as
        ``metadata["scale_fit"]``; then give it the scale that follows its recent surprise
        (:func:`cwfast.scale_fit.fit_surprise`, :class:`cwfast.model.Surprise`) if that predicts
        the validation part better, recorded as ``metadata["surprise_fit"]``. Default: on for a
        mixture model with a validation part (the factor: 0.002 to 1.6 bits better held out on
        the four goal sources in four training seeds; docs/results.md, "The mixture's scale,
        fitted on validation"; the surprise: see "Scales that follow the surprise").
    scratch : str or os.PathLike, optional
        The folder the task's arrays are kept in, memory-mapped (:class:`cwfast.scratch.Scratch`):
        every part's inputs and labels (5 bytes a sample), so that a corpus is bounded by the disk,
        not the memory. Default ``$CWFAST_SCRATCH``, else the system's temporary folder. The files
        have no name there, and their space is given back when the arrays are dropped (the
        result's ``splits`` are views of them). ``samples`` are read where they are: the command
        line reads its files into the same folder.
    checkpoint, resume, progress
        As for :func:`cwfast.train.fit`.
    on_note : callable, optional
        Called with one-line notes for the user (defaults taken, slow settings; with
        ``cluster="ray"``, :data:`cwfast.train.cluster.STARTING` as a local Ray starts). Notes and errors
        name this function's arguments (``batch_size=4``); within :func:`spoken_as_options`, as
        ``cwfast train``'s options (``--batch-size 4``).
    metadata : dict, optional
        Extra facts to store in the model (the source file, say).
    time_budget : float, optional
        Seconds of training after which the trainer stops cleanly (the model keeps its
        best-validation parameters); see :func:`cwfast.train.fit`. With several runs (``restarts``,
        rates of ``lr``), the budget of all of them together.
    restarts : int or "auto"
        Train this many models, from seeds ``seed``, ``seed + 1``, ..., at each rate of ``lr``, and
        keep one (:func:`choose_run`): at each rate, of the restarts whose generated audio meets
        their training audio's flatness, pitch and loudness (audible, not pinned) at their
        temperature (an autoregressive mixture model's calibration), the best on validation; if
        none does, the best of those audible there; without a temperature the best on validation
        (on training without a validation part); then the best of the rates on validation (of those audible, if any is). The figures
        that choose never include the test part. A ``time_budget`` is shared: each run gets what
        is left over the runs still to go, once it and they have set aside the fitting (scale
        fit, scoring, calibration) the runs before took on average, so that only the first run's
        fitting is not foreseen (one run's comes after the budget). A run that diverges is left out, with a note, unless
        every one does; any other error, and Ctrl-C, ends the run. ``seed=None`` draws the first seed (and notes it). Several runs
        are recorded as ``metadata["runs"]``. ``"auto"``: rounds of restarts (every rate at the next
        seed) while the ``time_budget`` left holds the longest round so far (training, fitting and
        calibrating), up to :data:`MAX_RESTARTS` models; one round without a budget, or with
        ``epochs=0`` (the first round trains until the budget). Above 1 or ``"auto"``, not with
        ``checkpoint``. Default: the mode's (:data:`MODE_DEFAULTS`), 1 with a ``checkpoint``.

    Returns
    -------
    TrainedAudio

    Raises
    ------
    ParameterError, CwfastError
        On invalid options, data that cannot be learned or scored (silent, constant, too short),
        or training that diverges.
    """
    for name, hook in (("on_note", on_note), ("on_model", on_model)):
        if hook is not None and not callable(hook):
            raise ParameterError(f"{name}={hook!r} must be callable or None")
    metadata = _user_metadata(metadata, checkpoint)
    from .train.optimizers import SCHEDULES

    if lr_schedule is not None and (not isinstance(lr_schedule, str) or lr_schedule not in SCHEDULES):
        # (a function, which fit takes, would train and then leave metadata the model cannot be saved with)
        raise ParameterError(f"{_opt('lr_schedule', lr_schedule)} must be one of {', '.join(SCHEDULES)}")
    scale_fit = validate.flag("scale_fit", scale_fit, allow_none=True)
    progress, resume = validate.flag("progress", progress), validate.flag("resume", resume)
    check_options(mode=mode, arch=arch, trainer=trainer, modules=modules, periods=periods, classes=classes,
                  population=population, sigma=sigma, cluster=cluster, validation=validation, test=test,
                  input_window=input_window, head=head, components=components, level=level, prediction=prediction,
                  level_band=level_band, window=window, batch_size=batch_size, epochs=epochs, time_budget=time_budget,
                  restarts=restarts, checkpoint=checkpoint, history=history, scale_fit=scale_fit, lr=lr, pitch=pitch)
    head = audio_head(mode, head, classes)
    if mode == "autoregressive" and history is None:
        history = MIXTURE_HISTORY if head == "mixture" else "mu-law"
    if head == "mixture" and components is None:
        components = DEFAULT_COMPONENTS
    defaults = dict(MODE_DEFAULTS[mode])
    sample_rate = validate.rate("sample_rate", sample_rate)
    if seed is not None:
        seed = validate.non_negative_int(_opt("seed"), seed)
    clips = list(samples) if isinstance(samples, (list, tuple)) else [samples]
    if not clips:
        raise ParameterError("samples is an empty list: pass one clip, or several (a corpus)")
    if len(clips) > 1 and all(np.ndim(clip) == 0 for clip in clips):
        raise ParameterError(f"samples is a {type(samples).__name__} of {len(clips)} numbers, read as that many clips: pass "
                             "one clip as an array, or a list of arrays (a corpus)")
    if len(clips) > 1 and mode != "autoregressive":
        raise ParameterError(f"several clips (a corpus) train autoregressive models; {mode} mode learns from one clip")
    clips = [validate.mono("samples" if len(clips) == 1 else f"clip {i}", c) for i, c in enumerate(clips)]
    if target is not None:
        if mode != "effect":  # the autoregressive path never read it
            raise ParameterError(f"{mode} mode takes no {_opt('target')} (only effect mode does)")
        target = validate.mono("target", target)
    scratch = Scratch(scratch, name=_opt("scratch"))

    if mode == "memorize":
        total = sum(c.size for c in clips)
        sized = tasks.memorize_size(total)
        has_clock = registry.get(arch).has_clock
        chosen = [_opt(key, sized[key]) for key in ("hidden", "modules")
                  if sized[key] != defaults[key] and {"hidden": hidden, "modules": modules}[key] is None
                  and (key == "hidden" or (has_clock and periods is None))]
        if chosen:
            _note(on_note, f"{total} samples to memorize: defaulting to {' '.join(chosen)}")
        defaults.update(sized)
    given_periods = periods
    n_hidden, n_modules, periods = architecture(arch, defaults, hidden=hidden, modules=modules, periods=periods)
    _note_idle_modules(given_periods, max(c.size for c in clips), on_note)
    fractions = {k: defaults[k] if v is None else v for k, v in (("validation", validation), ("test", test))}
    data = _audio_data(clips, mode, target, classes, history, fractions, on_note, scratch)
    splits, n_steps = data.splits, data.n_steps
    task = splits.train  # (every part has the whole task's inputs, outputs and metadata)

    has_clock = registry.get(arch).has_clock
    given_window = input_window
    if has_clock and input_window is None:
        input_window = defaults["input_window"] or max(1, round(INPUT_WINDOW_SECONDS * sample_rate))
    input_window = input_window if has_clock else None
    components = components if head == "mixture" else None
    _check_training_fits(arch, task, n_steps, n_hidden, n_modules, periods, trainer,
                         _given(window, defaults["window"], "window"), _given(batch_size, defaults["batch_size"], "batch_size"),
                         input_window, components, population, cluster)
    if has_clock:
        _check_window_fits(given_window, task.inputs.shape[0])
        _note_wide_window(given_window, input_window, sample_rate, on_note)
    meta = dict(task.metadata)
    meta.update(length=n_steps, split={"validation": fractions["validation"], "test": fractions["test"],
                                            "per": "clip"})
    if len(clips) > 1:
        meta["clips"] = [int(c.size) for c in clips]
    if input_window not in (None, 1):
        meta["input_window"] = input_window
    if head is not None:
        meta["temperature"] = defaults["temperature"][head]
    meta.update(metadata)
    if level is None and head == "mixture":
        level = LEVEL_SAMPLES
    # Who gets the linear prediction and the pitch predictor by default: a mixture Clockwork RNN
    # trained by gradient.
    clocked_mixture_by_gradient = head == "mixture" and trainer != "es" and has_clock
    if prediction is None and clocked_mixture_by_gradient:
        prediction = PREDICTION_TAPS
    given_pitch = pitch
    if pitch is None:
        pitch = PITCH_DEFAULT if clocked_mixture_by_gradient else "off"
        if pitch == "auto" and checkpoint is not None:
            _note(on_note, f"{_opt('checkpoint')} keeps one run's state: training without a pitch predictor (the "
                           "default trains with and without one and keeps the better on validation)")
            pitch = "off"
    arms = {"off": (False,), "on": (True,), "auto": (False, True)}[pitch]
    if scale_fit is None:
        scale_fit = head == "mixture" and splits.validation is not None
    if mode == "memorize" and n_steps > 20000:
        _note(on_note, f"memorizing {n_steps} samples from the clock alone is slow and rarely exact; the "
                       "paper's task is 320 samples" + _spoken(" (--samples 320)", ""))

    if epochs is None and time_budget is not None and restarts != AUTO_RESTARTS:  # (auto: rounds fill the rest)
        _note(on_note, f"{_opt('time_budget')} caps training, and it ends sooner if the default {defaults['epochs']} "
                       f"{'generations' if trainer == 'es' else 'epochs'} are done first: pass {_opt('epochs')} to "
                       f"train for longer, or {_opt('epochs', 0)} to train until the budget")
    if epochs == 0:  # with a time budget (check_options)
        epochs = None  # until the budget
    else:
        epochs = _given(epochs, defaults["epochs"], "epochs")

    # What every run shares, computed once: the level's parameters (its band is a pass over the
    # whole training audio) and the pitch predictor.
    level_params = None
    if level:
        start = max(float(np.mean(np.abs(splits.train.inputs))), LEVEL_FLOOR)
        level_params = (1.0 / level, start, *_level_band(splits.train.inputs[:, 0], 1.0 / level, start, level_band,
                                                          scratch.empty))
    pitch_predictor = None
    if True in arms:
        pitch_predictor = _pitch_predictor(data.per_clip, splits.train.inputs[:, 0], sample_rate,
                                           Level(*level_params) if level else None)
        if isinstance(pitch_predictor, tuple) and given_pitch is not None:
            reason, remedy = pitch_predictor
            raise CwfastError(f"{_opt('pitch', pitch)}: {reason}; {remedy}, or without it")
        if isinstance(pitch_predictor, tuple):  # the default's: trained without, and said so
            _note(on_note, f"training without a pitch predictor: {pitch_predictor[0]}")
            arms, pitch_predictor = (False,), None

    saved = None
    if resume and checkpoint is not None:
        from .train import load_checkpoint

        saved = load_checkpoint(checkpoint)
        if seed is None:  # the checkpoint's seed, for the model to record
            seed = saved.progress["entropy"]
    recipe = _Recipe(
        data=data, mode=mode, head=head, arch=arch, n_hidden=n_hidden, n_modules=n_modules, periods=periods,
        sample_rate=sample_rate, meta=meta, input_window=input_window, components=components, level=level,
        level_params=level_params, level_band=level_band, prediction=prediction, pitch_predictor=pitch_predictor,
        trainer=trainer, epochs=epochs, population=population, sigma=sigma, cluster=cluster,
        lr_schedule=defaults["lr_schedule"] if lr_schedule is None else lr_schedule, scale_fit=scale_fit,
        checkpoint=checkpoint, resume=resume, saved=saved, progress=progress, on_model=on_model, on_note=on_note)

    runs, rates, auto = _plan_runs(restarts, lr, seed, arms, trainer=trainer, checkpoint=checkpoint,
                                   time_budget=time_budget, defaults=defaults, on_note=on_note)
    # The first model is built, and the windows fitted to its clock, before any run is announced:
    # an option the clip cannot take is refused before any work, as one error.
    first = recipe.build(runs[0][1], runs[0][2], accept=False)
    if trainer != "es":
        recipe.window, recipe.streams = _truncation(first, splits.train, window, batch_size, defaults, on_note)
    # on_model after every check of the options against the clip: the command line says the notes
    # it held there, as the work starts, and a refusal after it came below them, not as one line.
    if recipe.on_model is not None:
        recipe.on_model(first)
    if len(runs) == 1 and not auto:
        kept = recipe.train(first, runs[0][1], runs[0][0], time_budget)
    else:
        kept = _train_runs(recipe, first, runs, rates, arms, auto=auto, time_budget=time_budget)
    if data.few_held_out:
        _note(on_note, data.few_held_out)
    return kept


def _plan_runs(restarts, lr, seed, arms, *, trainer, checkpoint, time_budget, defaults, on_note):
    """The runs one call trains, as (rate, seed, with the pitch predictor) each, the rates, and
    whether auto restarts add rounds while the budget lasts; every rate and arm trains the same
    seeds. Notes what the options leave out (a checkpoint keeps one run) and a seed drawn."""
    if restarts is None:
        restarts = 1 if checkpoint is not None else defaults["restarts"]
    # auto: a round of restarts (every rate at the next seed) while the time budget lasts; the
    # first round is the single restart's run, so auto never trains less than restarts=1.
    auto = restarts == AUTO_RESTARTS
    if auto:
        restarts = 1
        if time_budget is None:
            _note(on_note, f"{_opt('restarts', AUTO_RESTARTS)} trains rounds of restarts while a "
                           f"{_opt('time_budget')} lasts: without one, a single round")
            auto = False
    if lr is not None:
        rates = validate.positive_floats("lr", lr)
    elif trainer == "es" or defaults["lr"] is None:  # the trainer's own rate
        rates = (None,)
    else:
        rates = validate.positive_floats("lr", defaults["lr"])
        if len(rates) > 1 and checkpoint is not None:
            _note(on_note, f"{_opt('checkpoint')} keeps one run's state: training at {_opt('lr', rates[0])} alone "
                           f"(the default trains at {', '.join(f'{r:g}' for r in rates)} and keeps the better on "
                           "validation)")
            rates = rates[:1]
    if (auto or len(rates) * len(arms) * restarts > 1) and seed is None:  # the runs' seeds follow one drawn now
        seed = int(np.random.SeedSequence().generate_state(1)[0])
        _note(on_note, f"runs from seed {seed}")
    # Every rate (and arm: without and with a pitch predictor) trains the same seeds, so that they
    # are compared on equal terms.
    runs = [(rate, None if seed is None else seed + index, arm) for arm in arms for rate in rates
            for index in range(restarts)]
    return runs, rates, auto


@dataclass
class _Data:
    """The audio as training reads it: the clips, each clip's parts (:func:`cwfast.tasks.corpus`),
    the parts joined, the note on held-out parts too short to compare by (or None), said after
    training, and the scratch folder the parts are kept in."""

    clips: list
    per_clip: list
    splits: tasks.Splits
    few_held_out: str | None
    scratch: Scratch

    def whole(self):
        """The whole task, every clip's parts in order, joined now (not kept: an hour's is 290 MB)."""
        return tasks.join((part for c in self.per_clip for part in c), empty=self.scratch.empty)

    @property
    def n_steps(self):
        """The whole task's length."""
        return sum(part.n_steps for c in self.per_clip for part in c if part is not None)


def _views_of(per_clip, splits):
    """Every clip's parts as views of the joined ``splits`` (the same values), so that the data is
    held once: the clips' own copies were 5 bytes a sample more (290 MB for an hour)."""
    at = {name: 0 for name in splits._fields}
    views = []
    for c in per_clip:
        parts = []
        for name, part in zip(c._fields, c):
            if part is not None:
                joined, start = getattr(splits, name), at[name]
                at[name] = stop = start + part.n_steps
                part = tasks.Task(part.mode, joined.inputs[start:stop], joined.targets[start:stop], part.output,
                                  part.n_out, part.metadata)
            parts.append(part)
        views.append(tasks.Splits(*parts))
    return views


def _audio_data(clips, mode, target, classes, history, fractions, on_note, scratch):
    """The clips as a task cut into parts (:class:`_Data`) kept in ``scratch`` files, with a note
    if samples of a test part are louder than the scale. CwfastError if the training part cannot
    be learnt, a clip of a corpus has nothing to learn, a part cannot be scored, or the scratch
    folder cannot hold the task."""
    n_samples = sum(clip.size for clip in clips)
    if mode == "autoregressive":  # one scale for every clip, from no test part
        # Each clip's task and then the parts joined: twice the inputs and labels, for a moment.
        per_sample = 2 * (4 + tasks.label_type(classes or N_CLASSES).itemsize)
        scratch.check_free(per_sample * n_samples, f"the task of {n_samples:,} samples")
        per_clip = tasks.corpus(clips, n_classes=classes or N_CLASSES, history=history, empty=scratch.empty,
                                **fractions)
        scale = per_clip[0].train.metadata["scale"]
        louder = sum(int(np.count_nonzero(np.abs(clip[clip.size - (part.test.n_steps if part.test else 0):]) > scale))
                     for clip, part in zip(clips, per_clip))
        if louder:
            one = louder == 1
            _note(on_note, f"{louder} sample{'' if one else 's'} of the test part{'s' * (len(clips) > 1)} "
                           f"{'is' if one else 'are'} louder than anything before {'it' if one else 'them'} and "
                           f"{'is' if one else 'are'} scored at full scale (the scale is the peak before the test parts)")
    else:
        # The task and then its parts joined, each on scratch files: twice its arrays, for a moment.
        per_sample = 4 if mode == "memorize" else 8  # float32 targets (and inputs)
        scratch.check_free(2 * per_sample * n_samples, f"the task of {n_samples:,} samples")
        whole = tasks.make_task(mode, clips[0], target=target, n_classes=classes or N_CLASSES, history=history,
                                empty=scratch.empty)
        per_clip = [tasks.split_task(whole, **fractions)]
    splits = tasks.Splits(*(tasks.join((getattr(c, name) for c in per_clip), empty=scratch.empty)
                            for name in ("train", "validation", "test")))
    per_clip = _views_of(per_clip, splits)
    what = "clip" if len(clips) == 1 else "corpus"
    # evaluate() runs after training; a figure it cannot compute must stop the run before it starts.
    for name in ("train", "validation", "test"):
        part = getattr(splits, name)
        reason = part is not None and tasks.unmeasurable(part)
        if reason and name == "train":
            raise CwfastError(f"cannot train on this {what}: {reason}")
        if reason:
            raise CwfastError(f"the {name} part of the {what} ({_opt(name, fractions[name])}) cannot be scored: "
                              f"{reason}; pass {_opt(name, 0)}, another fraction, or trim the clip")
    # Said with the figures, after training: a note before it would stand in front of any error.
    # (A share asked for that rounds to nothing, in a clip of 5 samples, counts as 0.)
    held = {name: getattr(splits, name) for name in ("validation", "test") if fractions[name]}
    small = [f"{name} {0 if part is None else part.n_steps}" for name, part in held.items()
             if part is None or part.n_steps < FEW_HELD_OUT]
    empty = all(part is None or part.n_steps == 0 for part in held.values())
    clip_is, its, longer = (("the clip is", "its", "a longer clip") if len(clips) == 1
                            else ("the clips are", "their", "longer clips"))
    few_held_out = (
        f"nothing was held out ({', '.join(small)} samples): {clip_is} too short to give {its} parts any, so "
        f"there are no held-out figures; train on {longer}" if empty else
        f"the held-out parts are short ({', '.join(small)} samples): their figures are means over too few samples "
        f"to compare models by; train on {longer}, or hold out more") if small else None
    if len(per_clip) > 1:  # each file has something to learn, as one clip alone must
        for i, c in enumerate(per_clip):
            reason = tasks.degenerate(tasks.join(c))
            if reason:
                error = CwfastError(f"cannot train on this corpus: its clip {i} (of {len(per_clip)}): {reason}; "
                                    "leave it out")
                error.clip, error.reason = i, reason  # for the command line to name its file
                raise error
    degenerate = tasks.degenerate(splits.train)
    if degenerate:
        raise CwfastError(f"cannot train on this {what}: {degenerate}")
    return _Data(clips, per_clip, splits, few_held_out, scratch)


def _note_idle_modules(given, longest, on_note):
    """A note for periods given as long as the longest clip or longer: such a module ticks once,
    at the start, and holds that state throughout (it trained without a word)."""
    idle = [int(p) for p in given or () if p >= longest]
    if len(idle) == 1:
        which, what = f"period {idle[0]} is", "its module ticks once, at the start, and holds"
    else:
        which, what = f"periods {', '.join(map(str, idle))} are", "their modules tick once, at the start, and hold"
    if idle:
        _note(on_note, f"{_opt('periods')}: {which} as long as the longest clip ({longest} samples) or longer: "
                       f"{what} that state throughout")


def _widest(given):
    """The widest of the input windows given (one, or one per module; None or "period" as given)."""
    return max(given) if isinstance(given, (list, tuple)) else given


def _check_window_fits(given, n_train):
    """ParameterError for an input window given wider than the training audio (``n_train``
    samples): its weights would be mostly for the zeros before the clip, and a 1-s clip with
    ``--input-window 99999`` spent minutes a pass on them."""
    widest = _widest(given)
    if widest not in (None, "period") and widest > n_train:
        raise ParameterError(f"{_opt('input_window', given)}: a module would read the last {widest:,} samples, more "
                             f"than the {n_train:,} samples of training audio; give a window of at most {n_train:,}")


def _note_wide_window(given, input_window, sample_rate, on_note):
    """A note before a run that crawls: a window's dot products are most of a step's cost."""
    widest = _widest(given)
    if widest not in (None, "period") and widest > 4 * INPUT_WINDOW_SECONDS * sample_rate:
        _note(on_note, f"{_opt('input_window', given)}: a module reads the last {widest} samples "
                       f"({widest / sample_rate:.3g} s) each time it ticks, and a step's cost grows with it "
                       f"(the autoregressive default reads {INPUT_WINDOW_SECONDS * 1000:g} ms)")
    elif given is None and input_window > 4 * round(INPUT_WINDOW_SECONDS * 16000):
        # The default is a time: at a high rate it is many samples (2 million at 100 MHz).
        _note(on_note, f"at {sample_rate} Hz the default input window ({INPUT_WINDOW_SECONDS * 1000:g} ms) is "
                       f"{input_window} samples, which a module reads each time it ticks, and a step's cost grows "
                       f"with it: {_spoken('--sample-rate 16000', 'audio resampled to 16 kHz')} or "
                       f"{_opt('input_window', 320)} cost what the 16-kHz default does")


@dataclass(eq=False)  # (its fields hold arrays: no == between recipes)
class _Recipe:
    """How each run of one :func:`train_audio` call is built and trained: what the runs share
    (only the seed, the learning rate, whether it has the pitch predictor and its share of the
    time budget differ). ``window`` and ``streams`` (the truncated back-propagation's) are set once
    the first model is built."""

    data: _Data
    mode: str
    head: str | None
    arch: str
    n_hidden: int
    n_modules: int
    periods: object
    sample_rate: int
    meta: dict
    input_window: object
    components: int | None
    level: int | None
    level_params: tuple | None
    level_band: object
    prediction: int | None
    pitch_predictor: Pitch | None  # for the runs with one (the arm True)
    trainer: str
    epochs: int | None
    population: int | None
    sigma: float | None
    cluster: object
    lr_schedule: str
    scale_fit: bool
    checkpoint: object
    resume: bool
    saved: object
    progress: bool
    on_model: object
    on_note: object
    window: int | None = None
    streams: int | None = None
    trained_until: float = 0.0  # the clock when the last run's training (not its fitting) ended
    heard_measured: dict | None = None  # what calibrating a run found of the training audio, its training_audio

    def build(self, run_seed, with_pitch, *, accept=True):
        """A run's untrained model (checked against the checkpoint resumed, then by ``on_model``;
        ``accept=False``: not yet by ``on_model``, which the caller then calls)."""
        model = new_model(self.arch, self.data.splits.train, self.n_hidden, self.n_modules, self.periods, seed=run_seed,
                          sample_rate=self.sample_rate, metadata=copy.deepcopy(self.meta),
                          input_window=self.input_window, components=self.components)
        if self.level:
            model.level = self.level_params
            model.metadata["level"] = self.level
            model.metadata["level_band"] = list(self.level_band or LEVEL_BAND)
        if self.prediction:
            model.prediction = self.prediction
        if with_pitch:
            model.pitch = self.pitch_predictor
        if self.saved is not None:
            # A missing or foreign checkpoint, or one of another architecture, is refused before
            # on_model's checks and notes; one of other settings or data once the trainer has
            # built its run's settings. The level and the pitch predictor are left out here
            # (fitted=): they are fitted on the data, so other audio changes them too, and the
            # trainer's check names the data (here it would read "a different architecture:
            # level=[...]").
            from .train.checkpoint import check_resume

            check_resume(self.saved, "evolve" if self.trainer == "es" else "fit", model, self.saved.config,
                         fitted=("level", "pitch"))
        if accept and self.on_model is not None:
            self.on_model(model)
        return model

    def train(self, model, run_seed, rate, budget):
        """Train ``model`` (a run's, from :meth:`build`), fit its mixture's scale, score every part
        and choose its generation temperature: a :class:`TrainedAudio`."""
        on_note, splits, per_clip = self.on_note, self.data.splits, self.data.per_clip
        trainer = self.trainer
        try:
            result = _run_trainer(model, trainer, splits.train.inputs, splits.train.targets, splits.validation,
                                  epochs=self.epochs, lr=rate, population=self.population, sigma=self.sigma,
                                  cluster=self.cluster, window=self.window, streams=self.streams,
                                  time_budget=budget, on_note=on_note, lr_schedule=self.lr_schedule,
                                  checkpoint=self.checkpoint, resume=self.resume, progress=self.progress,
                                  seed=run_seed)
            self.trained_until = _clock()
        except TrainingDiverged as error:
            if error.update == 1:  # the untrained model's own loss or gradient: no step, no learning rate, yet
                hint = ("it had taken no step yet, so the learning rate is not the cause: the untrained network is "
                        f"too wide for its starting weights; try a smaller {_opt('hidden')}")
            else:
                hint = "try a smaller " + (f"{_opt('lr')} or {_opt('sigma')}" if trainer == "es" else _opt("lr"))
            raise TrainingDiverged(error.detail, hint, update=error.update) from None

        if self.scale_fit:
            _note(on_note, "fitting the mixture's scale on the validation part")
            held = fitting_parts(model, per_clip)
            model.metadata["scale_fit"] = fit_scale(model, held, progress=self.progress)
            if model.n_in == 1:  # autoregressive: the scales may follow its recent surprise
                model.metadata["surprise_fit"] = fit_surprise(model, held, progress=self.progress)
        figures = _figures(model, per_clip, progress=self.progress)
        _check_learned(model, splits.train, figures["train"], self.mode, on_note)
        model.metadata["trainer"] = {
            "name": trainer, "epochs": int(result.epochs), "updates": int(result.steps),
            "lr_schedule": self.lr_schedule or "constant",
            "seconds": round(float(result.wall_time), 3), "stopped": str(result.stopped),
            # what picked the parameters kept: the evolution strategy keeps its best centre by
            # training loss; a gradient run without a validation part keeps its last epoch's
            "chosen_on": ("training loss" if trainer == "es" else "validation" if splits.validation is not None
                          else "last epoch"),
        }
        model.metadata["trainer"].update({k: v for k, v in (("lr", rate), ("seed", run_seed)) if v is not None})
        if model.pitch is not None:
            model.metadata["trainer"]["pitch"] = True
        model.metadata["figures"] = figures
        if self.head == "mixture":
            _note(on_note, f"choosing the generation temperature: {CALIBRATION_SECONDS:g} s generated with each of "
                           f"{len(CALIBRATION_SEEDS)} seeds at each of "
                           f"{', '.join(f'{t:g}' for t in CALIBRATION_TEMPERATURES)}, measured against the training "
                           "audio")
            # Every run's training audio is the same: measured at the first run's calibration only.
            calibration = calibrate(model, self.heard, measured=self.heard_measured)
            self.heard_measured = calibration.get("training_audio")
        return TrainedAudio(model, splits, result, figures, self.data)

    @property
    def heard(self):
        """The training parts as recorded (not mu-law quantised: generation is not), in the model's
        units: what the generation temperature is chosen against. Views of the clips, read a piece
        at a time where measured: a float64 copy of them was 8 bytes a training sample, kept through
        the run (370 MB for an hour at 16 kHz)."""
        from .likeness import Stretches

        data = self.data
        return Stretches([clip[: part.train.n_steps] for clip, part in zip(data.clips, data.per_clip)],
                         data.splits.train.metadata["scale"])


def _train_runs(recipe, first, runs, rates, arms, *, auto, time_budget):
    """Every run of ``runs`` ((rate, seed, with pitch) each; ``first`` the first's model, built) in
    turn, a share of the time budget each, with ``auto`` rounds more while it lasts; the one
    :func:`choose_run` keeps, with every run's row in its metadata."""
    on_note, groups = recipe.on_note, len(rates) * len(arms)
    trained, numbers, spent, failure = [], [], 0.0, None
    overheads = []  # per run, what it took beyond its training: the scale fit, scoring, calibration
    began = round_began = _clock()
    longest = 0.0
    index = 0
    while True:
        if index == len(runs):  # a round of every rate ended: another, if auto and the budget allows
            now = _clock()
            longest, round_began = max(longest, now - round_began), now
            more = auto and _another_round(runs, groups, rates, arms, time_budget - (now - began), longest, on_note)
            if not more:
                break
            runs.extend(more)
        rate, run_seed, arm = runs[index]
        # Each run's share of what is left, once it and the runs after it have their fitting set
        # aside (the mean of what it took so far): charged to the next run alone, it left every
        # run less than the one before, and the runs with the pitch predictor, which come last,
        # least (a 12-s budget: 3, 2.3 and 1.4 s, and none for the fourth). Now every run after
        # the first gets the same share, and the last one's fitting is inside the budget (it came
        # after it: on a 20-minute corpus, two minutes past a budget the call was to keep).
        reserve = (len(runs) - index) * (sum(overheads) / len(overheads) if overheads else 0.0)
        budget = None if time_budget is None else (time_budget - spent - reserve) / (len(runs) - index)
        if budget is not None and budget <= 0:  # the earlier runs overran their shares
            _note(on_note, f"the time budget is spent after {index} of {len(runs)} runs")
            break
        share = "" if budget is None else f", {budget:.3g} s of the time budget"
        label = _run_label(rate if len(rates) > 1 else None, run_seed, arm if len(arms) > 1 else None)
        _note(on_note, f"run {index + 1} of {'at least ' if auto else ''}{len(runs)} ({label}{share})")
        started = _clock()
        try:
            model = first if index == 0 else recipe.build(run_seed, arm)
            trained.append(recipe.train(model, run_seed, rate, budget))
            numbers.append(index + 1)
            overheads.append(_clock() - recipe.trained_until)
        except TrainingDiverged as error:  # a run that diverges does not cost the others theirs
            failure = error
            _note(on_note, f"run {index + 1} ({label}) is left out: {error}")
        # The whole run is charged, its scale fit, scoring and calibration with its training:
        # charging the training alone let the command overrun by every run's fit (4 runs of a
        # 5-s budget took 9.8 s, 12 took 14.8 s).
        spent += _clock() - started
        index += 1
    if not trained:
        raise failure or CwfastError("the time budget was spent before any run trained")
    chosen = choose_run(trained)
    model = trained[chosen].model
    model.metadata["runs"] = {"chosen": chosen, "on": _chosen_on(trained), "runs": [_run_row(run) for run in trained]}
    label = _run_label(model.metadata["trainer"].get("lr") if len(rates) > 1 else None,
                       model.metadata["trainer"]["seed"], model.pitch is not None if len(arms) > 1 else None)
    _note(on_note, f"kept run {numbers[chosen]} of {len(runs)} ({label}): " + _run_reason(trained, chosen))
    return trained[chosen]


def _another_round(runs, groups, rates, arms, left, longest, on_note):
    """The next round of auto restarts after ``runs`` (every rate and arm at the next seed), or
    None: if there is room for it within MAX_RESTARTS, and at least the longest round so far
    (training, fitting and calibrating) ``left`` of the budget."""
    rounds = len(runs) // groups
    ended = f"restarts end after {rounds} round{'s' * (rounds > 1)}"
    if len(runs) + groups > MAX_RESTARTS:
        _note(on_note, f"{ended}: another would train more than {MAX_RESTARTS} models")
        return None
    if left < longest:
        _note(on_note, f"{ended}: {max(left, 0):.0f} s of the time budget left, and a round took up to "
                       f"{longest:.0f} s")
        return None
    _note(on_note, f"{left:.0f} s of the time budget left, and a round took up to {longest:.0f} s: another "
                   "round of restarts")
    next_seed = runs[-1][1] + 1
    return [(rate, next_seed, arm) for arm in arms for rate in rates]


def _run_label(rate, seed, pitch=None):
    """A run of several as the notes name it: its learning rate (when the rates differ), seed, and
    whether it has a pitch predictor (when the arms differ)."""
    arm = pitch is not None and ("with a pitch predictor" if pitch else "without a pitch predictor")
    return ", ".join(part for part in (rate is not None and f"lr {rate:g}", f"seed {seed}", arm) if part)


def _calibrated_row(model):
    """The calibration's row of the temperature a model was saved with, or None."""
    calibration = model.metadata.get("temperature_calibration") or {}
    return next((row for row in calibration.get("table", ()) if row.get("temperature") == calibration.get("chosen")),
                None)


def _training_audio(model):
    """What the calibration measured of a model's training audio (``training_audio``), or None."""
    return (model.metadata.get("temperature_calibration") or {}).get("training_audio")


def _meets_likeness(model):
    """Whether the audio a model generates at its saved temperature met its training audio's
    flatness, pitch and loudness when it was calibrated (:func:`calibrate_temperature`)."""
    row = _calibrated_row(model)
    return bool(row and row["qualifies"])


def _audible(model):
    """Whether the audio a model generates at its saved temperature was at least
    :data:`AUDIBLE_RMS` of its training audio's RMS, and not pinned at full scale, when it was
    calibrated."""
    row = _calibrated_row(model)
    return bool(row and _heard(row, _training_audio(model)))


def _heard(row, training):
    """Whether a calibration row's audio is audible: at least :data:`AUDIBLE_RMS` of the training
    audio's RMS and not pinned at full scale (:func:`cwfast.modes.is_pinned`; ``training`` the
    calibration's ``training_audio``)."""
    return row.get("rms") is not None and row["rms"] >= AUDIBLE_RMS and not is_pinned(row, training)


def _unheard(model):
    """Why a calibrated model's audio was not audible, in two or three words."""
    return "pinned at full scale" if is_pinned(_calibrated_row(model), _training_audio(model)) else "near silent"


def _choosing_figure(run):
    """What ranks restarts after the likeness: the validation figure, else the training figure
    (cross-entropy, NMSE or ESR: lower is better)."""
    figure = run.figures.get("validation", run.figures["train"])
    return float(next(iter(figure.values())))


def choose_restart(runs):
    """The index of the run kept of several restarts at one learning rate: the one with the lowest
    validation figure (the training figure without a validation part; never the test part) among
    those whose generated audio met their training audio's likeness (:func:`calibrate_temperature`),
    or if none did among those whose audio was audible, or if none was among all."""
    tiers = ([i for i, run in enumerate(runs) if _meets_likeness(run.model)],
             [i for i, run in enumerate(runs) if _audible(run.model)], range(len(runs)))
    return min(next(tier for tier in tiers if tier), key=lambda i: _choosing_figure(runs[i]))


def _rate(run):
    return run.model.metadata.get("trainer", {}).get("lr")


def _group(run):
    """What restarts are compared within: the learning rate, and whether the run has a pitch predictor."""
    return _rate(run), bool(run.model.metadata.get("trainer", {}).get("pitch"))


def _group_label(group):
    """A group of runs (:func:`_group`) as the notes name it: "lr 0.003 with the pitch predictor"."""
    rate, pitch = group
    parts = ([] if rate is None else [f"lr {rate:g}"]) + (["with the pitch predictor"] if pitch else [])
    return " ".join(parts) or "the runs"


def choose_run(runs):
    """The index of the run :func:`train_audio` keeps: at each learning rate (with and without a
    pitch predictor) the restart :func:`choose_restart` keeps, and of those the one with the lowest
    validation figure (the rate was measured chosen that way; docs/results.md, "The BPTT window
    and the learning rate"; the pitch predictor too, "The pitch predictor with its loop's level
    bounded"), leaving out those whose audio was not audible when calibrated (near silent, or
    pinned at full scale) unless none was: such a model is no model to keep for its validation
    bits, within a rate (:func:`choose_restart`) or across them (docs/results.md, "Near silence
    across the runs")."""
    kept = _kept_per_group(runs)
    audible = [i for i in kept if _audible(runs[i].model)]
    return min(audible or kept, key=lambda i: _choosing_figure(runs[i]))


def _chosen_on(runs):
    """What :func:`choose_run` chose ``runs`` on, as the model's metadata records it: the audio only
    where it was heard (a calibrated mixture model); a memorize or effect model's runs, on their figure."""
    if any(_calibrated_row(run.model) is not None for run in runs):
        return ("per learning rate (and with or without a pitch predictor), generated audio like the training "
                "audio's at the model's temperature, then audible, then validation; between them, validation "
                "among those audible")
    return f"the lowest {'validation' if all('validation' in run.figures for run in runs) else 'training'} figure"


def _kept_per_group(runs):
    """The index of the restart :func:`choose_restart` keeps in each group (:func:`_group`), in order."""
    by_group = {}
    for i, run in enumerate(runs):
        by_group.setdefault(_group(run), []).append(i)
    return [group[choose_restart([runs[i] for i in group])] for group in by_group.values()]


def _run_row(run):
    trainer = run.model.metadata["trainer"]
    row = {key: trainer[key] for key in ("lr", "seed", "pitch", "seconds") if key in trainer}
    calibrated = _calibrated_row(run.model)
    if calibrated is not None:  # only a calibrated model's audio was heard
        row.update(meets_likeness=_meets_likeness(run.model), audible=_audible(run.model))
        if is_pinned(calibrated, _training_audio(run.model)):
            row["pinned"] = True
    for name in ("validation", "train"):
        if name in run.figures:
            row[name] = {k: round(float(v), 6) for k, v in run.figures[name].items()}
    if "temperature" in run.model.metadata:
        row["temperature"] = run.model.metadata["temperature"]
    return row


def _run_reason(runs, chosen):
    """Why :func:`choose_run` kept ``runs[chosen]``, in a few words."""
    part = "validation" if "validation" in runs[chosen].figures else "training"
    group = _group(runs[chosen])
    same = [run for run in runs if _group(run) == group]
    reasons = []
    if len(same) > 1:
        for test, what in ((_meets_likeness, "generated audio like their training audio"),
                           (_audible, "generated audible audio")):
            count = sum(test(run.model) for run in same)
            if count:
                reasons.append(f"{count} of {len(same)} {what}; the best on {part} of those")
                break
        else:
            calibrated = _calibrated_row(runs[chosen].model) is not None  # else no temperature: not a mixture model
            reasons.append(f"{'none generated audible audio; ' if calibrated else ''}the best on {part}")
    if len(same) < len(runs):
        kept = {_group(runs[i]): runs[i] for i in _kept_per_group(runs)}
        # Runs not audible were passed over (choose_run) only if the kept one is audible.
        passed_over = _audible(runs[chosen].model)
        silent = {g for g, run in kept.items() if passed_over and not _audible(run.model)}
        reasons.append(f"{_group_label(group)} the best on {part}{' of those audible' if silent else ''} "
                       f"({_shown_figure(runs[chosen])}; "
                       + ", ".join(f"{_group_label(g)} {_shown_figure(run)}{' but ' + _unheard(run.model) if g in silent else ''}"
                                   for g, run in kept.items() if g != group)
                       + ")")
    return "; ".join(reasons) or "the only run trained"


def _shown_figure(run):
    """The figure that ranks a run (:func:`_choosing_figure`) as a note shows it: in bits where it has them."""
    figure = run.figures.get("validation", run.figures["train"])
    if "bits_per_sample" in figure:
        return f"{figure['bits_per_sample']:.3f} bits"
    name, value = next(iter(figure.items()))  # what _choosing_figure ranks by: NMSE or ESR
    return f"{name.upper()} {value:.4g}"


def calibrate(model, audio, *, measured=None):
    """Choose ``model``'s generation temperature and output gain on ``audio`` (its training audio,
    in the model's units; ``measured``, its figures if known) with :func:`calibrate_temperature`,
    and store them in its metadata (``temperature``, ``output_gain``, ``temperature_calibration``)
    as training does. Returns the calibration."""
    # (the module's CALIBRATION_SECONDS read now, not when calibrate_temperature was defined: the
    # tests shorten it, tests/conftest.py)
    calibration = calibrate_temperature(model, audio, seconds=CALIBRATION_SECONDS, measured=measured)
    model.metadata.update(temperature=calibration["chosen"], output_gain=calibration["output_gain"],
                          temperature_calibration=calibration)
    return calibration


def calibrate_temperature(model, audio, *, temperatures=CALIBRATION_TEMPERATURES, seconds=CALIBRATION_SECONDS,
                          seeds=CALIBRATION_SEEDS, measured=None):
    """The sampling temperature at which an autoregressive model's generation sounds most like
    ``audio`` (its training audio, in the model's units: an array, or :class:`cwfast.likeness.Stretches`,
    which training passes, its clips' training parts read a piece at a time), chosen on that audio alone.

    At each of ``temperatures`` the model generates ``seconds`` from silence with each of
    ``seeds``, and each figure below is the median of the seeds' (a seed whose audio cannot be
    measured, silent or not finite, counts as RMS 0 and no other figure; none measurable, no
    figure). A temperature *qualifies* if that audio's spectral flatness is within 3x of ``audio``'s, it has
    at least half ``audio``'s share of pitched frames (issue 12's two likeness goals,
    :mod:`cwfast.likeness`), and it is *audible*: its RMS at least :data:`AUDIBLE_RMS` of
    ``audio``'s, and not *pinned*, more than :data:`~cwfast.modes.MAX_PINNED_SHARE` of its samples
    at full scale (a limit cycle between the rails, which flatness and pitch take for a tone), and
    more than :data:`~cwfast.modes.PINNED_OVER_TRAINING` times ``audio``'s own share there.
    :data:`MIXTURE_TEMPERATURE` is kept if it qualifies (or if ``audio`` is too short or quiet to
    measure); otherwise the chosen one is the qualifying temperature whose RMS comes nearest
    ``audio``'s (by ratio). If none qualifies, the lowest audible temperature (the most tonal of
    those that can be heard), and if none is audible the loudest (of those not pinned, if any).
    Lower temperatures generate more tonal and quieter audio, higher ones louder and noisier, by
    how much depends on the model: at 0.5 the spoken-digit models generate a quiet tone, where the
    music models come near their sources' flatness and pitch, and some of them near silence
    (docs/results.md, "The generation temperature").

    The chosen temperature's figures also set the model's *output gain*: what generation multiplies
    its output by (not what the model reads back, so the audio is the same but for its level),
    ``audio``'s RMS over that audio's, so that the model generates at its training audio's
    loudness, at most what brings that audio's peak to ``audio``'s peak, and within
    1 / :data:`MAX_CALIBRATED_GAIN` to :data:`MAX_CALIBRATED_GAIN`; 1 where nothing could be measured.

    ``measured``, if given, is what a calibration on the same ``audio`` found of it (its
    ``training_audio``), used instead of measuring ``audio`` again: the same calibration, without
    reading the audio (``cwfast train`` calibrates every run on the same training audio, and
    measuring 16 minutes of it took 2.4 s).

    Returns
    -------
    dict
        ``chosen`` (float), ``output_gain`` (float), ``on`` (what it was chosen on), ``seeds``,
        ``seconds``, ``training_audio`` (its ``flatness``, ``pitched`` share, ``rms``, ``peak``
        and share of samples at full scale, ``pinned``) and ``table``: per temperature, its
        ``flatness``, ``rms`` and ``peak`` relative to the training audio's, its ``pitched`` share
        (None where no seed's audio can be measured: silent), its share of samples at full scale
        (``pinned``) and whether it ``qualifies``; each the median over the seeds.

    Raises
    ------
    ParameterError
        If the model stores no sample rate, ``seeds`` is not a non-empty sequence of distinct
        non-negative integers, or ``measured`` is not a ``training_audio`` dict.
    CwfastError
        If it is not an autoregressive model with a softmax or mixture head and one input
        (:func:`cwfast.render.classes_of`).
    """
    from . import likeness
    from .render import classes_of, feedback_values, seconds_to_samples

    if not getattr(model, "sample_rate", None):
        raise ParameterError("the model stores no sample rate: the generated audio's pitch cannot be measured")
    if not isinstance(audio, likeness.Stretches):  # (checked in its own float type: no copy of it)
        audio = validate.as_array("audio", audio)
        audio = likeness.Stretches([validate.mono("audio", audio, audio.dtype)])
    temperatures = validate.positive_floats("temperatures", temperatures, maximum=MAX_TEMPERATURE)
    n_steps = seconds_to_samples(seconds, model.sample_rate)
    seeds = _checked_seeds(seeds)
    rate = int(model.sample_rate)
    if measured is not None:
        measured = _checked_measures(measured)
    out = {"chosen": MIXTURE_TEMPERATURE, "output_gain": 1.0, "on": "the training audio", "seeds": list(seeds),
           "seconds": seconds, "table": []}
    if measured is None:
        try:
            measured = _measured_training_audio(audio, rate)
        except ParameterError as error:
            out["on"] = f"nothing: the training audio cannot be measured ({error})"
            return out
    out["training_audio"] = measured
    pitched = measured["pitched"]
    values = feedback_values(model, classes_of(model))  # its classes' values, or None: it reads back what it drew
    gains = {}  # per temperature, the output gain its audio would get (from the unrounded figures)
    for temperature in temperatures:
        drawn = [_generated_figures(model.sample(n_steps, values=values, temperature=temperature, seed=seed), rate,
                                    measured) for seed in seeds]
        row = {"temperature": temperature, "flatness": None, "pitched": None, "rms": None, "peak": None,
               "pinned": float(np.median([d["pinned"] for d in drawn])), "qualifies": False}
        heard = [d for d in drawn if "rms" in d]
        if heard:  # (silent or not finite: RMS 0, nothing else; no seed heard: no candidate)
            row.update({key: float(np.median([d[key] for d in heard])) for key in ("flatness", "pitched", "peak")},
                       rms=float(np.median([d.get("rms", 0.0) for d in drawn])))
            if row["rms"] > 0:
                loudest = min(1 / row["rms"], 1 / row["peak"])  # its training audio's RMS, no peak past its peak
                gains[temperature] = min(max(loudest, 1 / MAX_CALIBRATED_GAIN), MAX_CALIBRATED_GAIN)
        # The verdict from the figures as stored, so that whatever reads them later (the choice
        # below, the restarts, cwfast info) reaches the same one at a threshold's edge.
        row = {k: round(float(v), 4) if isinstance(v, float) and k != "temperature" else v for k, v in row.items()}
        if row["rms"] is not None:
            row["qualifies"] = 1 / 3 <= row["flatness"] <= 3 and row["pitched"] >= 0.5 * pitched and _heard(
                row, out["training_audio"])
        out["table"].append(row)
    out["chosen"] = _chosen_temperature(out)
    out["output_gain"] = round(float(gains.get(out["chosen"], 1.0)), 4)
    return out


def _checked_seeds(seeds):
    """``seeds`` as a tuple of distinct non-negative ints (at least one); ParameterError if not."""
    if isinstance(seeds, (str, bytes)) or not hasattr(seeds, "__iter__"):
        raise ParameterError(f"seeds must be a sequence of non-negative integers, not {type(seeds).__name__}")
    seeds = tuple(validate.non_negative_int("seeds", seed) for seed in seeds)
    if not seeds or len(set(seeds)) != len(seeds):
        raise ParameterError(f"seeds must hold at least one seed, each once (got {list(seeds)})")
    return seeds


def _generated_figures(generated, rate, training):
    """What :func:`calibrate_temperature` measures of one seed's ``generated`` audio against its
    ``training`` audio's figures: its share at full scale, and unless it is silent or not finite,
    its flatness, RMS and peak relative to the training audio's, and its pitched share."""
    from . import likeness, metrics

    figures = {"pinned": float(np.mean(np.abs(generated) >= PINNED_LEVEL))}
    try:
        figures.update(flatness=likeness.spectral_flatness(generated) / training["flatness"],
                       pitched=likeness.pitched_fraction(generated, rate),
                       rms=metrics.rms(generated) / training["rms"],
                       peak=float(np.max(np.abs(generated))) / training["peak"])
    except ParameterError:
        return {"pinned": figures["pinned"]}
    return figures


def _measured_training_audio(audio, rate):
    """What :func:`calibrate_temperature` measures of its training ``audio`` (Stretches) at
    ``rate``: its ``training_audio``. ParameterError if it cannot be measured."""
    from . import likeness

    # (each a piece at a time: an hour's training audio is 46 million samples)
    flatness, pitched = likeness.spectral_flatness(audio), likeness.pitched_fraction(audio, rate)
    rms, peak = likeness.rms_and_peak(audio)
    # Its own share at full scale: a recording limited at its peak may hold many samples there.
    pinned = sum(int(np.count_nonzero(np.abs(x) >= PINNED_LEVEL)) for x in audio.pieces()) / audio.size
    return {"flatness": flatness, "pitched": pitched, "rms": rms, "peak": peak, "pinned": round(pinned, 4)}


def _checked_measures(measured):
    """A copy of ``measured``, checked to be what :func:`_measured_training_audio` gives."""
    if not isinstance(measured, dict):
        raise ParameterError(f"measured must be a dict (a calibration's training_audio), not {type(measured).__name__}")
    for key in ("flatness", "pitched", "rms", "peak", "pinned"):
        if key not in measured:
            raise ParameterError(f"measured lacks {key!r} (a calibration's training_audio has it)")
        if key in ("pitched", "pinned"):  # shares
            validate.non_negative_float(f"measured[{key!r}]", measured[key], maximum=1.0)
        else:
            validate.positive_float(f"measured[{key!r}]", measured[key])
    return dict(measured)


def _chosen_temperature(out):
    """The temperature :func:`calibrate_temperature`'s rule chooses from its ``table`` (noting in
    ``out["on"]`` why, where it is not the plain rule)."""
    measured = [row for row in out["table"] if row["rms"] is not None]
    qualifying = [row for row in measured if row["qualifies"]]
    training = out.get("training_audio")
    audible = [row["temperature"] for row in measured if _heard(row, training)]
    if any(row["temperature"] == MIXTURE_TEMPERATURE for row in qualifying):
        return MIXTURE_TEMPERATURE
    if qualifying:
        return min(qualifying, key=lambda row: abs(math.log(row["rms"])))["temperature"]
    if audible:
        out["on"] = "the training audio (no temperature met its flatness and pitch: the lowest audible)"
        return min(audible)
    if measured:
        # Near silence that is not pinned before a whistle between the rails that is.
        out["on"] = ("the training audio (no temperature met its flatness and pitch, none audible and unpinned: "
                     "the loudest)")
        return max(measured, key=lambda row: (not is_pinned(row, training), row["rms"]))["temperature"]
    out["on"] = "the training audio (no temperature generated audio that could be measured)"
    return MIXTURE_TEMPERATURE


def _level_band(x, alpha, start, percentiles, empty=np.empty):
    """The gain's bounds (floor, ceiling): the ``percentiles`` (low, high; default
    :data:`LEVEL_BAND`) of the level over the inputs ``x``, tracked from ``start`` (the levels
    kept in an array made by ``empty``: a scratch file's, in training)."""
    lo, hi = LEVEL_BAND if percentiles is None else percentiles
    # Kept in the precision the level is tracked in, x's (float32 for training's inputs): the same
    # numbers as in float64, in half the memory (185 MB less for an hour's training part), and
    # partitioned in place (a copy would be as much again). The percentiles come out in float64.
    pieces = Level(alpha, start).levels_in_pieces(x, LEVEL_PIECE)  # (x checked first, a byte a sample)
    levels = empty((x.size,), x.dtype)
    for first, gains in pieces:
        levels[first : first + gains.size] = gains
    floor, ceiling = np.percentile(levels, [lo, hi], overwrite_input=True)
    floor = max(float(floor), LEVEL_FLOOR)
    return floor, max(float(ceiling), floor)


def _window_rms(inputs, window, level):
    """The RMS of every whole stretch of ``window`` samples of ``inputs`` as the network reads
    them (divided by the gains of ``level``, if any, tracked in float64), a piece at a time: the
    whole at once held 40 bytes a sample (1.8 GB for an hour's training part)."""
    n = inputs.size // window
    piece = window * max(1, RMS_PIECE // window)  # whole stretches
    x = inputs[: n * window]
    gains = None if level is None else level.levels_in_pieces(x, piece, np.float64)
    rms = np.empty(n)
    for start in range(0, x.size, piece):
        read = x[start : start + piece].astype(np.float64)
        if gains is not None:
            read /= np.clip(next(gains)[1], level.floor, level.ceiling)
        rms[start // window : (start + read.size) // window] = np.sqrt(np.mean(read.reshape(-1, window) ** 2, axis=1))
    return rms


def _pitch_predictor(per_clip, inputs, sample_rate, level):
    """The :class:`Pitch` predictor training gives a model: :meth:`Pitch.for_rate`'s recipe, the
    residual of a :data:`PITCH_TAPS`-tap predictor fitted on the clips' training parts (least
    squares, each clip from its own past), the bound at the :data:`PITCH_REFERENCE_PERCENTILE` th
    percentile of the RMS over the training ``inputs`` in stretches of the predictor's window, as
    the network reads them (divided by the gains of ``level``, if any). Or why there can be none
    and what would give one: two strings."""
    if sample_rate < 1000:
        return (f"at {sample_rate} Hz there is no pitch to find (it needs at least 1000 Hz)",
                f"train at a higher {_opt('sample_rate')}")
    if sample_rate > PITCH_MAX_RATE:
        return (f"at {sample_rate} Hz its 31-ms window would be {sample_rate // 32} samples, more than the "
                f"{MAX_PREDICTION_TAPS} it may hold (it takes at most {PITCH_MAX_RATE} Hz)",
                f"train at a lower {_opt('sample_rate')}")
    window = Pitch.for_rate(np.zeros(1), sample_rate).window
    need = max(window, 4 * PITCH_TAPS)  # a window; a fit of the taps
    if inputs.size < need:
        return f"the training part ({inputs.size} samples) is shorter than the {need} a pitch predictor needs", \
            "train on a longer clip"
    rms = _window_rms(inputs, window, level)
    reference = float(np.percentile(rms, PITCH_REFERENCE_PERCENTILE))
    if not reference > 0.0:  # a training part all but silent: nothing to bound by
        return f"the training part is silent in {PITCH_REFERENCE_PERCENTILE:g}% of its stretches", \
            "train on audio that is not silent there"
    coefficients = lpc.coefficients([part.train.inputs[:, 0] for part in per_clip], PITCH_TAPS)
    return Pitch.for_rate(coefficients, sample_rate, reference)


def _figures(model, per_clip, *, progress=False):
    """The figures of every clip's training, validation and test parts (``{name: figure}``, of the
    parts there are), in one pass over each clip: each part is scored from the state the clip's
    earlier parts leave (as :func:`state_before` gives it), so a long corpus's training parts are
    run once for all three figures; the clips side by side (:func:`_each_clip`). Several clips'
    cross-entropies are averaged, weighted by their lengths, in clip order (several clips are a
    corpus: autoregressive). With ``progress``, a corpus of at least
    :data:`SCORING_BAR_SAMPLES` gets a bar that moves a part at a time (a part is scored whole,
    so that its figure does not depend on a bar)."""
    order = ("train", "validation", "test")
    total = sum(piece.n_steps for c in per_clip for piece in c if piece is not None)
    shown, moving = None, threading.Lock()  # (the clips' threads move one bar)
    if progress and total >= SCORING_BAR_SAMPLES:
        shown = bar(total=total, desc="scoring the parts", unit="sample", unit_scale=True, leave=False)

    def clip_figures(c):
        """(name, figure, steps) of each of the clip's parts, in order, from the state the earlier leave."""
        state, out = None, []
        for i, name in enumerate(order):
            piece = getattr(c, name)
            if piece is None:
                continue
            if any(getattr(c, later) is not None for later in order[i + 1:]):  # a later part starts here
                figure, state = tasks.evaluate(model, piece, state=state, return_state=True)
            else:
                figure = tasks.evaluate(model, piece, state=state)
            out.append((name, figure, piece.n_steps))
            if shown is not None:
                with moving:
                    shown.update(piece.n_steps)
        return out

    try:
        per_part = _each_clip(clip_figures, per_clip)
    finally:
        if shown is not None:
            shown.close()
    scored = {name: [] for name in order}
    for parts in per_part:  # pooled in clip order, whichever clip ended first
        for name, figure, n_steps in parts:
            scored[name].append((figure, n_steps))
    figures = {}
    for name, parts in scored.items():
        if len(parts) == 1:
            figures[name] = parts[0][0]
        elif parts:
            steps = sum(n for _, n in parts)
            nats = sum(figure["cross_entropy"] * n for figure, n in parts) / steps
            figures[name] = {"cross_entropy": nats, "bits_per_sample": nats_to_bits(nats)}
    return figures


def _truncation(model, train_task, window, batch_size, defaults, on_note):
    """(window, streams) of the gradient trainers' truncated back-propagation for ``model`` on
    ``train_task``: (None, None) is full BPTT, for a clip that fits one window."""
    window = _given(window, defaults["window"], "window")
    if window is not None and window >= train_task.n_steps:
        window = None  # the clip fits: full BPTT
        if batch_size is not None:
            _note(on_note, f"{_opt('batch_size', batch_size)} has no effect: the {train_task.n_steps} training samples "
                           "fit one window, so the clip is trained whole")
    return window, _batch_size(model, train_task, window, batch_size, defaults["batch_size"])


def _run_trainer(model, trainer, x, y, val_task, *, epochs, lr, population, sigma, cluster, window, streams,
                 time_budget, on_note, lr_schedule, **resume_options):
    """Run the chosen trainer on the training part (the validation part chooses the epoch)."""
    from . import train

    if trainer == "es":
        if x.shape[0] > ES_LONG_STEPS:
            shorter = _spoken("--samples 320", "a clip of 320 samples")
            _note(on_note, f"{_opt('trainer', 'es')} scores every member on all {x.shape[0]} steps in every "
                           f"generation (no windows): slow for long clips; {shorter} or the gradient trainers "
                           "(adam, sgd) are much faster")
        es_options = {k: v for k, v in (("population", population), ("sigma", sigma), ("cluster", cluster))
                      if v is not None}
        result = train.evolve(model, x, y, lr=0.01 if lr is None else lr, generations=epochs, time_budget=time_budget,
                              lr_schedule=lr_schedule, on_note=on_note, **es_options, **resume_options)
    else:
        held = None if val_task is None else (val_task.inputs, val_task.targets)
        result = train.fit(model, x, y, optimizer=trainer, lr=lr, epochs=epochs,
                           batch_size=streams, window=window, validation=held, time_budget=time_budget,
                           lr_schedule=lr_schedule, final_loss=False,  # _figures scores the kept run's parts
                           **resume_options)
    return result


def _check_training_fits(arch, task, n_steps, n_hidden, n_modules, periods, trainer, window, batch_size,
                         input_window=None, components=None, population=None, cluster=None):
    """CwfastError, before the model is built, if training it on ``n_steps`` of ``task`` (a part of
    it: its inputs and outputs) cannot fit in memory
    (``components``: a mixture head's, whose 3K outputs replace the task's classes; ``population``:
    the evolution strategy's members, each a copy of the parameters, here unless a Ray ``cluster``
    scores them)."""
    from .budget import check_fits, evolution_bytes, training_bytes

    cls = registry.get(arch)
    windows = {} if input_window is None else {"input_windows": input_window}
    n_out = task.n_out if components is None else 3 * components
    n_params = cls.count_params(n_hidden, task.n_in, n_out, n_modules=n_modules, periods=periods,
                                count_periods=False, **windows)
    window = None if trainer == "es" else window
    need = training_bytes(n_params, 4, n_steps=n_steps, n_hidden=n_hidden, n_out=n_out, window=window,
                          batch=batch_size or 1)
    smaller = f"{_opt('hidden')}, {_opt('input_window')} or {_opt('components')}"
    if trainer == "es":
        need += evolution_bytes(n_params, population or POPULATION, members=cluster != "ray")
        need += 8 * n_steps if task.output != "linear" else 0  # its kernels' int64 copy of the labels
        smaller = f"{_opt('population')}, {smaller}"
    check_fits(need, f"training a {cls.description} of {n_hidden} units ({n_params:,} parameters) on "
                     f"{n_steps:,} samples", f"pass a smaller {smaller}, or a shorter clip")


#: Fewer training samples than this make a diverged run's advice a longer clip, not a smaller rate.
_FEW_SAMPLES = 100


def _check_learned(model, train_task, figures, mode, on_note=None):
    """TrainingDiverged if training diverged to a model worse than a trivial one, whatever the trainer.

    NaN and infinite losses stop the trainers themselves; a loss that stays finite but explodes
    (a learning rate of 1e30, say) ends here: an autoregressive model whose cross-entropy on its
    own training data exceeds four times a uniform guess's, or a memorize or effect model whose
    NMSE exceeds 100 (predicting the mean scores 1), has diverged. A model short of that but
    still worse than the trivial one (too few epochs, say) is saved with a note.
    """
    if mode == "autoregressive":
        uniform = math.log2(train_task.n_out)  # the classes, also for a mixture head
        score, trivial = figures["bits_per_sample"], uniform
        what = f"{figures['bits_per_sample']:.4g} bits/sample (a uniform guess: {uniform:g})"
    else:
        score, trivial = figures["nmse"], 1.0
        what = f"NMSE {figures['nmse']:.4g} (predicting the mean: 1)"
    bad = score > (4 * trivial if mode == "autoregressive" else 100 * trivial)
    if bad or not all(np.isfinite(v) for v in figures.values()):
        # A few samples are no data to learn a distribution from, whatever the rate.
        hint = (f"its training part holds only {train_task.n_steps} samples: train on a longer clip"
                if train_task.n_steps < _FEW_SAMPLES else f"try a smaller {_opt('lr')}")
        raise TrainingDiverged(f"training diverged: the trained model scores {what} on its training data", hint)
    if score > trivial:
        _note(on_note, f"the trained model scores {what} on its training data: more epochs, or another {_opt('lr')}, "
                       "should do better")
