"""Training checkpoints: everything a run needs to continue exactly, as ``.npz`` arrays plus JSON.

A checkpoint holds the model (the dense arrays of :meth:`ClockworkRNN.to_dense`, as a saved model
does), the optimizer's state, the run's position (epoch, update within the epoch, carried hidden
state), the root of its randomness, its loss history, the best parameters seen, and the settings
and data fingerprint it was started with, so that a resume with different data or settings is
refused rather than silently diverging. No pickle anywhere: ``np.load(..., allow_pickle=False)``.
Files are written to a temporary name in the same directory and renamed over the target with
:func:`os.replace`, so a crash or Ctrl-C during a write leaves the previous checkpoint intact.
"""

from __future__ import annotations

import json
import math
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import validate
from .._atomic import atomic_path, check_writable
from ..errors import CwfastError, ParameterError
from ..validate import as_path
from ._common import seed_entropy

__all__ = ["Checkpoint", "load_checkpoint", "save_checkpoint", "FORMAT_NAME", "FORMAT_VERSION"]

FORMAT_NAME = "cwfast-checkpoint"
FORMAT_VERSION = 1
KINDS = ("fit", "evolve")
# What checkpoints from before "model_arrays" was written into the header hold.
_MODEL_KEYS = ("W_in", "W_h", "b_h", "W_out", "b_out", "periods", "module_sizes")


@dataclass
class Checkpoint:
    """A training checkpoint, as read by :func:`load_checkpoint`.

    Attributes
    ----------
    path : Path
    kind : {"fit", "evolve"}
        Which trainer wrote it.
    model : ClockworkRNN
        The model as it was when the checkpoint was written (the training state, which a resume
        continues from; the best parameters seen are in ``arrays["best_params"]`` when tracked).
    config : dict
        The trainer's settings and the data fingerprint.
    progress : dict
        ``epoch`` (epochs completed), ``position`` (updates done in the current epoch), ``step``,
        ``wall_time``, ``stopped``, ``entropy`` (the seed), and trainer-specific entries.
    optimizer : dict
        The optimizer's ``state_dict()``.
    arrays : dict of ndarray
        Trainer state: ``losses``, ``validation_losses``, ``best_params``, carried state, ...
    """

    path: Path
    kind: str
    model: object
    config: dict
    progress: dict
    optimizer: dict
    arrays: dict

    @property
    def epoch(self):
        """Epochs (generations) completed."""
        return int(self.progress["epoch"])

    @property
    def step(self):
        """Updates done."""
        return int(self.progress["step"])

    @property
    def losses(self):
        """Loss of every completed epoch (generation)."""
        return [float(v) for v in self.arrays.get("losses", [])]


def check_target(path):
    """``path`` as a Path (None: no checkpoint), once it is found to be one a checkpoint can be
    written to: a trainer writes its first one only after updates that change the model, and a
    call that fails must leave the model as it was."""
    if path is None:
        return None
    path = as_path(path, "checkpoint", file=True)
    check_writable(path, what="checkpoint")
    return path


def save_checkpoint(path, *, kind, model, config, progress, optimizer, arrays):
    """Write a checkpoint atomically (temporary file, then :func:`os.replace`).

    Parameters
    ----------
    path : str or os.PathLike
    kind : {"fit", "evolve"}
    model : ClockworkRNN
    config, progress : dict, JSON-serialisable
    optimizer : dict
        An optimizer's ``state_dict()``: scalars and arrays (or None).
    arrays : dict of ndarray

    Raises
    ------
    CwfastError
        If the file cannot be written.
    """
    path = as_path(path, "path", file=True)
    if kind not in KINDS:
        raise ParameterError(f"kind={kind!r} must be one of {KINDS}")
    if path.is_dir():
        raise CwfastError(f"cannot write checkpoint '{path}': it is a directory")
    dense = model.to_dense()
    opt_scalars, opt_arrays = {}, {}
    for key, value in optimizer.items():
        if isinstance(value, np.ndarray):
            opt_arrays[key] = value
        else:
            opt_scalars[key] = value
    header = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "kind": kind,
        "model": {
            "arch": model.arch,
            "dtype": model.dtype.name,
            "output": model.output,
            "sample_rate": model.sample_rate,
            "metadata": model.metadata,
        },
        "config": config,
        "progress": progress,
        "optimizer": opt_scalars,
        "optimizer_arrays": sorted(opt_arrays),
        "arrays": sorted(arrays),
        "model_arrays": sorted(dense),
    }
    header_text = validate.json_text("checkpoint header", header, allow_nan=False)
    payload = {"header": np.array(header_text)}
    payload.update({f"model.{k}": v for k, v in dense.items()})
    payload.update({f"optimizer.{k}": v for k, v in opt_arrays.items()})
    payload.update({f"state.{k}": np.asarray(v) for k, v in arrays.items()})
    # The old checkpoint, if any, stays as it was when this fails or is interrupted.
    with atomic_path(path, what="checkpoint") as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **payload)


def load_checkpoint(path):
    """Read a checkpoint written by :func:`cwfast.train.fit` or :func:`cwfast.train.evolve`.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    Checkpoint

    Raises
    ------
    CwfastError
        If the file is missing, not a regular file (a named pipe, say), empty, truncated or corrupt,
        is not a cwfast checkpoint (a saved model, say), or was written by a newer format version.
    """
    from ..persistence import CorruptMember, model_class, open_archive, read_member, version_problem

    path = as_path(path)

    def fail(reason):
        return CwfastError(f"cannot load checkpoint '{path}': {reason}")

    if not path.exists():
        raise fail("no such file")
    if path.is_dir():
        raise fail("it is a directory")
    if not path.is_file():  # a named pipe or a device: open() could block forever
        raise fail("not a regular file")
    try:
        # Through this handle, which is closed whatever happens (np.load(path) left its own open
        # when the archive was corrupt).
        with open(path, "rb") as fh, open_archive(fh, f"cannot load checkpoint '{path}'", "checkpoint") as archive:
            if "header" not in archive.files:
                raise fail("not a cwfast checkpoint (no header)")
            header = json.loads(str(archive["header"][()]))
            if not isinstance(header, dict):
                raise fail("not a cwfast checkpoint (unknown header)")
            if header.get("format") == "cwfast-model":
                raise fail("it is a saved model, not a training checkpoint (load it with cwfast.load)")
            if header.get("format") != FORMAT_NAME:
                raise fail("not a cwfast checkpoint (unknown header)")
            problem = version_problem(header.get("version"), FORMAT_VERSION)
            if problem:
                raise fail(problem)
            dense = {k: read_member(archive, f"model.{k}") for k in header.get("model_arrays", _MODEL_KEYS)}
            opt_arrays = {k: read_member(archive, f"optimizer.{k}") for k in header["optimizer_arrays"]}
            arrays = {k: read_member(archive, f"state.{k}") for k in header["arrays"]}
    except CwfastError:
        raise
    except CorruptMember as exc:
        raise fail(f"the file is truncated or corrupt ({exc})") from None
    except PermissionError:
        raise fail("permission denied") from None
    except (zipfile.BadZipFile, EOFError) as exc:
        raise fail(f"the file is truncated or corrupt ({exc})") from None
    # (RuntimeError: an encrypted member, or NotImplementedError: a compression zipfile lacks)
    except (OSError, ValueError, KeyError, TypeError, json.JSONDecodeError, UnicodeError, RuntimeError) as exc:
        raise fail(f"the file is corrupt or incomplete ({type(exc).__name__}: {exc})") from None

    kind = header.get("kind")
    if kind not in KINDS:
        raise fail(f"unknown trainer {kind!r}")
    for section in ("model", "config", "progress", "optimizer"):
        if not isinstance(header.get(section), dict):
            raise fail(f"the header has no '{section}' section")
    progress = header["progress"]
    for key in ("epoch", "position", "step", "entropy"):
        if not isinstance(progress.get(key), int) or progress[key] < 0:
            raise fail(f"progress entry {key!r} is missing or invalid")
    if not isinstance(progress.get("wall_time"), (int, float)) or not math.isfinite(progress["wall_time"]):
        raise fail("progress entry 'wall_time' is missing or invalid")
    info = header["model"]
    cls = model_class(info.get("arch"), f"cannot load checkpoint '{path}'")
    try:
        model = cls.from_dense(
            dense, dtype=info.get("dtype"), sample_rate=info.get("sample_rate"),
            metadata=info.get("metadata") or {}, output=info.get("output", "linear"),
        )
    except (TypeError, ValueError) as exc:  # ParameterError (a ValueError), or a foreign file's arrays of another kind
        raise fail(f"inconsistent model ({exc})") from None
    optimizer = dict(header["optimizer"])
    optimizer.update(opt_arrays)
    return Checkpoint(path, kind, model, header["config"], progress, optimizer, arrays)


#: The arrays of a model's dense form that configure it without being trained: a resume into a
#: model whose clock, input windows, level, pitch predictor or surprise differ would go on training
#: another model under the same parameters (a changed --level-band resumed without a word).
_CONFIGURATION = ("periods", "input_windows", "level", "pitch", "surprise")


def architecture(model):
    """The facts a checkpoint's model must share with the model a run resumes into."""
    dense = model.to_dense()
    facts = {
        "n_in": model.n_in,
        "n_out": model.n_out,
        "module_sizes": model.module_sizes.tolist(),
        "output": model.output,
        "dtype": model.dtype.name,
        "n_params": model.n_params,
    }
    facts.update({key: dense[key].tolist() if key in dense else None for key in _CONFIGURATION})
    return facts


def check_resume(ckpt, kind, model, config, *, ignore=("epochs", "time_budget"), fitted=()):
    """Refuse a resume into another kind of run, another architecture, other settings or data.

    ``fitted``: the configuration arrays (of :data:`_CONFIGURATION`) left out of the comparison,
    for a check made before the run's data are known to the checkpoint's settings (``cwfast train``
    checks a model as it builds it, and fits its level and pitch predictor on its data: other data
    are for the trainer's check to name, settings first).
    """
    where = f"checkpoint '{ckpt.path}'"
    if ckpt.kind != kind:
        raise CwfastError(f"{where} was written by {ckpt.kind}(), not {kind}(); it cannot resume this run")
    # Settings and data first: a model's level and pitch predictor are fitted on its training
    # data, so other data also make another "architecture", and that is not what to tell the user.
    _check_settings(where, ckpt, config, ignore)
    want, have = architecture(model), architecture(ckpt.model)
    for key in fitted:
        want.pop(key), have.pop(key)
    if ckpt.config.get("search_periods"):  # the periods evolve with the run: its state restores them
        want.pop("periods"), have.pop("periods")
    if want != have:
        diff = ", ".join(f"{k}={have[k]!r} (model: {want[k]!r})" for k in want if want[k] != have[k])
        raise CwfastError(f"{where} holds a different architecture: {diff}")


def _check_settings(where, ckpt, config, ignore):
    """Refuse a resume whose settings or training data differ from the checkpoint's."""
    # No schedule and "constant" are one schedule (checkpoints from before the command line could
    # name it say None). A decaying schedule is a function of the total epochs (or of the time
    # budget of a run without a number of epochs, whose config records it): a resume may add epochs
    # or time only to a constant one, or the rate would jump back up.
    stored = dict(ckpt.config, lr_schedule=ckpt.config.get("lr_schedule") or "constant")
    config = dict(config, lr_schedule=config.get("lr_schedule") or "constant")
    if config["lr_schedule"] != "constant":
        ignore = tuple(k for k in ignore if k not in ("epochs", "time_budget"))
    diffs, length = [], None
    for k in sorted(set(stored) | set(config)):
        if k not in ignore:
            diffs += _differences(k, stored.get(k), config.get(k))
            if k in ("epochs", "time_budget") and stored.get(k) != config.get(k):
                length = len(diffs) - 1
    if diffs:
        # A longer run is what a resume may ask for (cwfast train --resume's help says so): say why
        # this one may not, after its epochs (or time budget), rather than list them as any setting.
        if length is not None and config["lr_schedule"] != "constant":
            diffs[length] += (f" (a {config['lr_schedule']} lr_schedule falls over the whole run, so only a constant "
                              "one may change epochs or time_budget on resuming)")
        raise CwfastError(
            f"{where} was written with other settings or data: {'; '.join(diffs)}. Resume with the same "
            "settings and data, or start a new run without resuming"
        )


def _differences(name, was, now):
    """``name=was (now now)`` for a setting that changed; for a dict of them (the optimiser's), one
    such phrase per entry that changed, as ``optimizer.lr=0.01 (now 0.5)``."""
    if was == now:
        return []
    if name == "data":  # a fingerprint: its digits say nothing
        return ["the training data differ (other audio, or other parts of it: a validation or test fraction, a "
                "start, a length or a sample rate)"]
    if name == "validation":  # a fingerprint too, or None for a run without a validation set
        if was is None or now is None:
            return [(f"{'no' if now is None else 'a'} validation set (the checkpoint's run had "
                     f"{'one' if now is None else 'none'})")]
        return ["the validation data differ"]
    if isinstance(was, dict) and isinstance(now, dict):
        return [diff for k in sorted(set(was) | set(now))
                for diff in _differences(f"{name}.{k}", was.get(k), now.get(k))]
    return [f"{name}={was!r} (now {now!r})"]


#: The trainers' state arrays that hold one value per parameter of the model.
_PARAMETER_ARRAYS = ("best_params", "theta", "best_theta")


def resume(path, kind, model, config, seed, optimizer, run, *, size=None):
    """Open the checkpoint ``path`` to continue a ``kind`` run (``"fit"`` or ``"evolve"``).

    Refuses a checkpoint of another kind, architecture, settings or data (:func:`check_resume`),
    of another seed (``seed=None`` takes the checkpoint's), or whose per-parameter arrays are not
    ``size`` finite values (default ``model.n_params``; the evolution strategy's search vector is
    longer when it searches the periods), then restores ``optimizer``'s state and the counters of
    the dict ``run`` in place. Returns the checkpoint and the run's entropy.
    """
    ck = load_checkpoint(path)
    check_resume(ck, kind, model, config)
    entropy = ck.progress["entropy"]
    if seed is not None and seed_entropy(seed) != entropy:
        raise CwfastError(f"checkpoint '{path}' was started with seed {entropy}; resume with that seed, or with "
                          "none (seed=None; the command line: no --seed)")
    # One value per parameter, finite: else a damaged file fails later, as a shape error or a "divergence".
    size = model.n_params if size is None else size
    sized = {**{f"state.{k}": ck.arrays[k] for k in _PARAMETER_ARRAYS if k in ck.arrays},
             **{f"optimizer.{k}": v for k, v in ck.optimizer.items() if isinstance(v, np.ndarray)}}
    for name, value in sized.items():
        if value.shape != (size,) or not np.all(np.isfinite(value)):
            what = f"shape {value.shape}" if value.shape != (size,) else "NaN or infinite values"
            raise CwfastError(f"cannot resume from checkpoint '{path}': its {name} is damaged ({what}; the run "
                              f"trains {size} values)")
    try:
        optimizer.load_state_dict(ck.optimizer)
        run.update({k: ck.progress[k] for k in run})
    except (ParameterError, KeyError) as exc:
        raise CwfastError(f"cannot resume from checkpoint '{path}': {exc}") from None
    return ck, entropy
