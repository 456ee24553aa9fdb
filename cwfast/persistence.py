"""Saving and loading models: ``.npz`` arrays plus a JSON header, never pickle.

The file is a NumPy ``.npz`` archive holding the dense arrays of :meth:`ClockworkRNN.to_dense`
and one more entry, ``header``, a JSON string with the format name and version, the architecture,
the dtype, the sample rate and free-form metadata. Dense arrays keep the file independent of the
engine's internal packing, so a layout change in the kernels never breaks saved models. Files are
written atomically (:func:`cwfast._atomic.atomic_path`).
"""

from __future__ import annotations

import json
import zipfile

import numpy as np

from . import registry
from ._atomic import atomic_path
from .errors import CwfastError, ParameterError
from .validate import as_path

FORMAT_NAME = "cwfast-model"
#: The newest format this cwfast reads. A file says the oldest that reads it right: 3 when it has
#: a surprise-following scale, 2 when it has other arrays a version-1 reader would silently ignore
#: (a level, a linear prediction's taps: it would load another model), else 1, so that older
#: cwfast versions still read every other file.
FORMAT_VERSION = 3
#: The arrays that need a reader of at least this version.
VERSION_KEYS = {"surprise": 3, "level": 2, "taps": 2}


def save_model(model, path, *, overwrite=True):
    """Write ``model`` to ``path`` atomically. See :func:`load`."""
    path = as_path(path)
    if not np.all(np.isfinite(model.params)):  # load refuses such a file: do not write it
        raise ParameterError("the model's parameters contain NaN or infinite values; nothing was written")
    arrays = model.to_dense()
    header = {
        "format": FORMAT_NAME,
        "version": max([1] + [version for key, version in VERSION_KEYS.items() if key in arrays]),
        "arch": model.arch,
        "dtype": model.dtype.name,
        "output": model.output,
        "sample_rate": model.sample_rate,
        "metadata": model.metadata,
    }
    try:
        header_text = json.dumps(header)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"model metadata must be JSON-serialisable ({exc})") from None
    with atomic_path(path, what="model", overwrite=overwrite) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, header=np.array(header_text), **arrays)


def load(path):
    """Load a model written by :meth:`ClockworkRNN.save`.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    ClockworkRNN, SRN or LSTM
        The architecture the file was saved from.

    Raises
    ------
    ParameterError
        If ``path`` is not a str or os.PathLike.
    CwfastError
        If the file is missing, unreadable, truncated, corrupt, not a cwfast model (a training
        checkpoint included), or written by a newer format version.
    """
    path = as_path(path)
    try:
        exists, is_dir = path.exists(), path.is_dir()
    except OSError as exc:  # a name too long, say
        raise CwfastError(f"cannot load model '{path}': {exc.strerror or exc}") from None
    if not exists:
        what = "a symbolic link to nothing (or a loop of links)" if path.is_symlink() else "no such file"
        raise CwfastError(f"cannot load model '{path}': {what}")
    if is_dir:
        raise CwfastError(f"cannot load model '{path}': it is a directory")
    try:
        with open(path, "rb") as fh:
            magic = fh.read(4)
        if not magic:
            raise CwfastError(f"cannot load model '{path}': the file is empty")
        if magic != b"PK\x03\x04":
            raise CwfastError(f"cannot load model '{path}': not a cwfast model (not an .npz archive)")
        with np.load(path, allow_pickle=False) as archive:
            if "header" not in archive.files:
                raise CwfastError(f"cannot load model '{path}': not a cwfast model (no header)")
            header = json.loads(str(archive["header"][()]))
            if isinstance(header, dict) and header.get("format") == "cwfast-checkpoint":
                raise CwfastError(
                    f"cannot load model '{path}': it is a training checkpoint, not a saved model "
                    "(continue training from it with --resume, or read it with cwfast.train.load_checkpoint)"
                )
            if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
                raise CwfastError(f"cannot load model '{path}': not a cwfast model (unknown header)")
            arrays = {name: archive[name] for name in archive.files if name != "header"}
    except CwfastError:
        raise
    except PermissionError:
        raise CwfastError(f"cannot load model '{path}': permission denied") from None
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError, json.JSONDecodeError, UnicodeError) as exc:
        if isinstance(exc, (zipfile.BadZipFile, EOFError)):
            reason = "the file is truncated or corrupt"
        else:
            reason = f"not a readable cwfast model ({type(exc).__name__}: {exc})"
        raise CwfastError(f"cannot load model '{path}': {reason}") from None
    version = header.get("version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CwfastError(
            f"cannot load model '{path}': format version {version!r} is newer than this cwfast reads ({FORMAT_VERSION})"
        )
    cls = model_class(header.get("arch"), f"cannot load model '{path}'")
    try:
        return cls.from_dense(
            arrays,
            dtype=header.get("dtype"),
            sample_rate=header.get("sample_rate"),
            metadata=header.get("metadata") or {},
            output=header.get("output", "linear"),
        )
    except (TypeError, ValueError, OverflowError, IndexError) as exc:  # ParameterError (a ValueError), or a foreign file's arrays
        raise CwfastError(f"cannot load model '{path}': inconsistent contents ({exc})") from None


def model_class(arch, context):
    """The registered class of the file tag ``arch``, or CwfastError starting with ``context``."""
    if not isinstance(arch, str):
        raise CwfastError(f"{context}: unknown architecture {arch!r}")
    try:
        return registry.get(arch)
    except ParameterError:
        raise CwfastError(f"{context}: unknown architecture {arch!r}") from None
