"""What a saved model's metadata says about how to run it, read and checked in one place: its mode,
the level of its training audio, and an autoregressive model's classes, history, temperature and
output gain. Generation (:mod:`cwfast.render`), the tasks, the command line and the C export
(:mod:`cwfast.export`) all ask these; each refuses an invalid stored value with CwfastError
rather than guessing. NumPy only: no kernel loads.
"""

from __future__ import annotations

import math

import numpy as np

from .codec import N_CLASSES, is_history
from .errors import CwfastError, ParameterError
from .modes import MAX_OUTPUT_GAIN, MAX_TEMPERATURE, MODES, as_real
from .validate import MAX_COUNT, positive_int

_FLOAT32_MAX = float(np.finfo(np.float32).max)


def mode_of(model):
    """The mode a model was trained for: ``model.metadata["mode"]``, or guessed from its shape.

    A model without input is a memorize model, a softmax or mixture model with one input an
    autoregressive one, and a linear model with inputs an effect (input-driven) model.
    """
    from .model import SequenceModel

    if not isinstance(model, SequenceModel):
        raise ParameterError(f"model must be a cwfast model (ClockworkRNN, SRN or LSTM), not {type(model).__name__}")
    mode = model.metadata.get("mode")
    if mode is not None and mode not in MODES:  # hand-edited: guessing would run it as something else
        raise CwfastError(f"the model's metadata has an invalid mode {mode!r} (one of {', '.join(MODES)})")
    if model.n_in == 0:
        shaped = "memorize"
    elif model.output in ("softmax", "mixture") and model.n_in == 1:
        shaped = "autoregressive"
    else:
        shaped = "effect"
    if mode is None:
        return shaped
    # A stored mode the model's shape cannot run (an autoregressive model marked "memorize" wrote
    # 43 s of its first logit as audio): inputs for an effect, none to memorize, one and classes
    # to read its own past.
    fits = {"memorize": model.n_in == 0, "effect": model.n_in > 0, "autoregressive": shaped == "autoregressive"}
    if not fits[mode]:
        raise CwfastError(f"the model's metadata says mode {mode!r}, which a {model.n_in}-input model with "
                          f"{model.output} outputs cannot run (it has the shape of a{'n' if shaped[0] in 'ae' else ''} "
                          f"{shaped} model)")
    return mode


def scale_of(model):
    """The level of a model's training audio (``metadata["scale"]``, 1 if not stored); CwfastError if invalid."""
    scale = model.metadata.get("scale", 1.0)
    # The level of float32 audio: past float32's largest value no sample could have had it.
    if not _is_number(scale) or not 0 < scale <= _FLOAT32_MAX:
        raise CwfastError(f"the model's metadata has an invalid scale {scale!r}")
    return float(scale)


def output_gain_of(model):
    """What an autoregressive model's generated audio is multiplied by (``metadata["output_gain"]``,
    1 if not stored: set by :func:`cwfast.train_audio.calibrate_temperature` so that the model
    generates at its training audio's loudness); CwfastError if invalid."""
    gain = model.metadata.get("output_gain", 1.0)
    if not _is_number(gain) or not 0 < gain <= MAX_OUTPUT_GAIN:
        raise CwfastError(f"the model's metadata has an invalid output_gain {gain!r}")
    return float(gain)


def _is_number(value):
    """A finite real, not a bool (:func:`cwfast.modes.as_real`)."""
    real = as_real(value)
    return real is not None and math.isfinite(real)


def autoregressive_spec(model):
    """(n_classes, temperature) of an autoregressive model: its mu-law classes
    (:func:`classes_of`) and the temperature it generates at by default (:func:`temperature_of`).
    CwfastError if the model is not a mu-law autoregressive model (a softmax or mixture head, one
    input) or its metadata is invalid. :func:`render_blocks` and the C export both ask this."""
    return classes_of(model), temperature_of(model)


def classes_of(model):
    """The mu-law classes of an autoregressive model (``metadata["n_classes"]``; without it, a
    softmax's outputs, and a mixture scores 256); CwfastError if invalid or the model is not a
    mu-law autoregressive model."""
    n_classes = model.metadata.get("n_classes", N_CLASSES if model.output == "mixture" else model.n_out)
    if not _is_number(n_classes) or n_classes != int(n_classes):
        raise CwfastError(f"the model's metadata has an invalid n_classes {n_classes!r}")
    n_classes = int(n_classes)
    if model.n_in != 1 or model.output not in ("mixture", "softmax"):
        raise CwfastError("this model is not a mu-law autoregressive model (softmax or mixture head, one input)")
    # A head and input of the kind, with a class count that does not match it: say which.
    expected = N_CLASSES if model.output == "mixture" else model.n_out
    if n_classes != expected:
        raise CwfastError(f"the model's metadata has n_classes {n_classes}, where its {model.output} head scores "
                          f"{expected} classes")
    return n_classes


def temperature_of(model):
    """The temperature an autoregressive model generates at by default (``metadata["temperature"]``,
    1 if not stored); CwfastError if invalid."""
    temperature = model.metadata.get("temperature", 1.0)
    if not _is_number(temperature) or not 0 <= temperature <= MAX_TEMPERATURE:
        raise CwfastError(f"the model's metadata has an invalid temperature {temperature!r}")
    return float(temperature)


def history_of(model):
    """What an autoregressive model reads of its past (``metadata["history"]``, "mu-law" if not
    stored; :data:`cwfast.modes.HISTORIES`): "linear" only for a mixture head. CwfastError if the
    metadata is invalid. Generation, priming and the C export all ask this."""
    history = model.metadata.get("history", "mu-law")
    if not is_history(history) or (history == "linear" and model.output != "mixture"):
        raise CwfastError(f"the model's metadata has an invalid history {history!r} (mu-law, or linear for a "
                          "mixture head)")
    return history


def trained_length(model):
    """How many samples a memorize model was trained on (``metadata["length"]``), 0 if not stored.

    Metadata is free-form, so anything but a positive integer there counts as not stored.
    """
    length = model.metadata.get("length")
    # (past MAX_COUNT no clip was ever trained on: 10**400 overflowed the size checks' arithmetic)
    if isinstance(length, (int, np.integer)) and not isinstance(length, bool) and 0 < length <= MAX_COUNT:
        return int(length)
    return 0


def training_rms_of(model):
    """The RMS of an autoregressive model's training audio, in the model's units (before its
    ``scale``), as its temperature calibration measured it
    (``metadata["temperature_calibration"]["training_audio"]["rms"]``); None if not stored.
    What generation is compared with to say it came out near silent (:data:`cwfast.modes.AUDIBLE_RMS`).

    Like :func:`trained_length`, anything but a positive finite number there counts as not stored.
    """
    calibration = model.metadata.get("temperature_calibration")
    training = calibration.get("training_audio") if isinstance(calibration, dict) else None
    rms = as_real(training.get("rms")) if isinstance(training, dict) else None
    return rms if rms is not None and math.isfinite(rms) and rms > 0 else None


def measuring_seeds(model, count=3):
    """The first ``count`` generation seeds that ``model``'s temperature calibration did not draw
    with: its audio at those chose nothing, so likeness is measured there (the scripts' default).
    (3, 4, 5) for a model calibrated on :data:`cwfast.train_audio.CALIBRATION_SEEDS`; (1, 2, 3) for one calibrated
    before 2026-12-07, on seed 0 alone (stored as ``seed``), or not calibrated at all."""
    count = positive_int("count", count)
    calibration = model.metadata.get("temperature_calibration")
    calibration = calibration if isinstance(calibration, dict) else {}
    drawn = calibration.get("seeds", [calibration.get("seed", 0)])
    drawn = {seed for seed in drawn if isinstance(seed, int)} if isinstance(drawn, list) else {0}
    seeds = []
    seed = 0
    while len(seeds) < count:
        if seed not in drawn:
            seeds.append(seed)
        seed += 1
    return tuple(seeds)
