"""Saving and loading models: ``.npz`` arrays plus a JSON header, never pickle.

The file is a NumPy ``.npz`` archive holding the dense arrays of :meth:`ClockworkRNN.to_dense`
and one more entry, ``header``, a JSON string with the format name and version, the architecture,
the dtype, the sample rate and free-form metadata. Dense arrays keep the file independent of the
engine's internal packing, so a layout change in the kernels never breaks saved models. Files are
written atomically (:func:`cwfast._atomic.atomic_path`).
"""

from __future__ import annotations

import contextlib
import json
import os
import zipfile

import numpy as np

from . import registry, validate
from ._atomic import atomic_path
from .errors import CwfastError, ParameterError
from .heads import get_head
from .validate import as_path

FORMAT_NAME = "cwfast-model"
#: The newest format this cwfast reads. A file says the oldest that reads it right: 4 when it has
#: a pitch predictor, 3 when it has a surprise-following scale, 2 when it has other arrays a
#: version-1 reader would silently ignore (a level, a linear prediction's taps: it would load
#: another model), else 1, so that older cwfast versions still read every other file.
FORMAT_VERSION = 4
#: The arrays that need a reader of at least this version.
VERSION_KEYS = {"pitch": 4, "pitch_gain": 4, "surprise": 3, "level": 2, "taps": 2}
#: The deepest nesting of dicts and lists save writes in metadata. JSON parsing recurses, and how
#: deep it can go depends on the caller's stack: a fixed bound well under Python's recursion limit
#: means a file saved here also loads from deep inside another program.
MAX_METADATA_DEPTH = 100


def save_model(model, path, *, overwrite=True):
    """Write ``model`` to ``path`` atomically. See :func:`load`.

    Raises ParameterError, before anything is written, for a header :func:`load` would refuse.
    """
    path = as_path(path, file=True)
    overwrite = validate.flag("overwrite", overwrite)  # 'no' or 2 is a mistake, not a yes
    if not np.all(np.isfinite(model.params)):  # load refuses such a file: do not write it
        raise ParameterError("the model's parameters contain NaN or infinite values; nothing was written")
    arrays = model.to_dense()
    header = {
        "format": FORMAT_NAME,
        "version": max([1] + [version for key, version in VERSION_KEYS.items() if key in arrays]),
        "arch": model.arch,
        "dtype": validate.dtype(model.dtype).name,
        "output": model.output,
        "sample_rate": model.sample_rate,
        "metadata": model.metadata,
    }
    try:
        header_text = validate.json_text("model metadata", header)
    except RecursionError:
        raise ParameterError(
            f"model metadata is nested too deeply to save (at most {MAX_METADATA_DEPTH} levels of dicts and lists)"
        ) from None
    check_metadata_keys(model.metadata)  # after json.dumps, which refuses cycles
    try:
        # The very checks load makes, on the header as load will read it back.
        header_options(json.loads(header_text))
    except ParameterError as exc:
        raise ParameterError(f"cannot save model '{path}': {exc}; nothing was written") from None
    with atomic_path(path, what="model", overwrite=overwrite) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, header=np.array(header_text), **arrays)


def check_metadata_keys(metadata):
    """ParameterError unless every dict key in ``metadata`` (nested in dicts and lists) is a str, and
    it nests at most MAX_METADATA_DEPTH deep. JSON would turn a key 1 or None into '1' or 'null', so
    the model loaded back would differ. ``metadata`` must be free of cycles (json.dumps checks)."""
    stack = [(metadata, 1)]
    while stack:  # a loop, not recursion: the nesting may be deep
        item, depth = stack.pop()
        if not isinstance(item, (dict, list, tuple)):
            continue
        if depth > MAX_METADATA_DEPTH:
            raise ParameterError(
                f"model metadata is nested too deeply to save (at most {MAX_METADATA_DEPTH} levels of dicts and lists)"
            )
        if isinstance(item, dict):
            for key in item:
                if not isinstance(key, str):
                    raise ParameterError(
                        f"model metadata key {key!r} is not a str; it would load back as {json.dumps(key)!r}: "
                        "use str keys"
                    )
            stack.extend((value, depth + 1) for value in item.values())
        else:
            stack.extend((value, depth + 1) for value in item)


def header_options(header):
    """The keyword arguments of ``from_dense`` from a file's header dict, checked the way the
    constructor checks them; ParameterError for a bad one. save calls it too, so that it never
    writes a file load refuses."""
    dtype = header.get("dtype")
    return {
        "dtype": None if dtype is None else validate.dtype(dtype),  # None: W_h's dtype, as in old files
        "sample_rate": validate.positive_int("sample_rate", header.get("sample_rate"), allow_none=True),
        "metadata": validate.metadata(header.get("metadata") or {}),
        "output": get_head(header.get("output", "linear")).name,
    }


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
    path, given = as_path(path), os.fsdecode(os.fspath(path))  # (Path drops a trailing separator)
    try:
        exists, is_dir = path.exists(), path.is_dir()
    except OSError as exc:  # a name too long, say
        raise CwfastError(f"cannot load model '{path}': {exc.strerror or exc}") from None
    if exists and not is_dir and given.endswith(("/", os.sep)):
        # The separator names a folder (open() refuses "m.npz/"; so does -o m.npz/)
        raise CwfastError(f"cannot load model '{given}': not a directory (it ends in a "
                          f"separator; '{path}' is a file)")
    if not exists:
        what = "a symbolic link to nothing (or a loop of links)" if path.is_symlink() else "no such file"
        raise CwfastError(f"cannot load model '{path}': {what}")
    if is_dir:
        raise CwfastError(f"cannot load model '{path}': it is a directory")
    if not path.is_file():  # a named pipe or a device: open() could block forever
        raise CwfastError(f"cannot load model '{path}': not a regular file")
    try:
        # The archive is read through this handle: np.load(path) opened one of its own, which
        # a corrupt archive left open for as long as the caller kept the error.
        with open(path, "rb") as fh, open_archive(fh, f"cannot load model '{path}'", "model") as archive:
            if "header" not in archive.files:
                raise CwfastError(f"cannot load model '{path}': not a cwfast model (no header)")
            raw = archive["header"]
            # np.load hands back a member that is not an .npy file as bytes, not as an array.
            if not (isinstance(raw, np.ndarray) and raw.shape == () and raw.dtype.kind == "U"):
                raise CwfastError(f"cannot load model '{path}': not a cwfast model (the header is not a JSON string)")
            header = json.loads(str(raw[()]))
            if isinstance(header, dict) and header.get("format") == "cwfast-checkpoint":
                raise CwfastError(
                    f"cannot load model '{path}': it is a training checkpoint, not a saved model "
                    "(continue training from it with --resume, or read it with cwfast.train.load_checkpoint)"
                )
            if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
                raise CwfastError(f"cannot load model '{path}': not a cwfast model (unknown header)")
            arrays = {name: read_member(archive, name) for name in archive.files if name != "header"}
    except CwfastError:
        raise
    except MemoryError:
        raise CwfastError(f"cannot load model '{path}': its arrays need more memory than this machine gives") from None
    except PermissionError:
        raise CwfastError(f"cannot load model '{path}': permission denied") from None
    except RecursionError:
        raise CwfastError(f"cannot load model '{path}': not a readable cwfast model (its header is nested too deeply)") from None
    except (zipfile.BadZipFile, EOFError, CorruptMember) as exc:
        raise CwfastError(f"cannot load model '{path}': the file is truncated or corrupt ({exc})") from None
    # (RuntimeError: an encrypted member, or NotImplementedError: a compression zipfile lacks)
    except (OSError, ValueError, KeyError, json.JSONDecodeError, UnicodeError, RuntimeError) as exc:
        raise CwfastError(f"cannot load model '{path}': not a readable cwfast model ({type(exc).__name__}: {exc})") from None
    problem = version_problem(header.get("version"), FORMAT_VERSION)
    if problem:
        raise CwfastError(f"cannot load model '{path}': {problem}")
    cls = model_class(header.get("arch"), f"cannot load model '{path}'")
    try:
        return cls.from_dense(arrays, **header_options(header))
    except MemoryError:
        raise CwfastError(f"cannot load model '{path}': it needs more memory than this machine gives") from None
    except (TypeError, ValueError, OverflowError, IndexError) as exc:  # ParameterError (a ValueError), or a foreign file's arrays
        raise CwfastError(f"cannot load model '{path}': inconsistent contents ({exc})") from None


@contextlib.contextmanager
def open_archive(fh, context, what):
    """The .npz archive of the open binary file ``fh`` (``np.load`` of it, closed after), or
    CwfastError (``"{context}: ..."``) for an empty file or one that is not an .npz archive, which
    is not a cwfast ``what`` ("model", "checkpoint"). ``fh`` stays the caller's to close."""
    magic = fh.read(4)
    if not magic:
        raise CwfastError(f"{context}: the file is empty")
    if magic != b"PK\x03\x04":
        raise CwfastError(f"{context}: not a cwfast {what} (not an .npz archive)")
    fh.seek(0)
    with np.load(fh, allow_pickle=False) as archive:
        yield archive


class CorruptMember(Exception):
    """An archive member that declares more data than it holds."""


def read_member(archive, name):
    """``archive[name]`` of an open .npz, once its .npy header is found to declare no more data
    than the member holds: a small file could otherwise claim a 37 GiB array, and be refused as
    out of memory rather than as corrupt."""
    info = archive.zip.getinfo(name + ".npy")
    with archive.zip.open(info) as fh:
        version = np.lib.format.read_magic(fh)
        read_header = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
        if version in read_header:  # (np.save writes these; np.load checks any other itself)
            shape, _, dtype = read_header[version](fh)
            declared = int(np.prod(shape, dtype=object)) * dtype.itemsize
            if declared > info.file_size - fh.tell():
                raise CorruptMember(f"'{name}' declares {declared:,} bytes and holds {info.file_size - fh.tell():,}")
    return archive[name]


def version_problem(version, current):
    """Why a file of format ``version`` cannot be read by a reader of format ``current``, or None."""
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        return f"its format version {version!r} is not one (a positive integer)"
    if version > current:
        return f"format version {version} is newer than this cwfast reads ({current})"
    return None


def model_class(arch, context):
    """The registered class of the file tag ``arch``, or CwfastError starting with ``context``."""
    if not isinstance(arch, str):
        raise CwfastError(f"{context}: unknown architecture {arch!r}")
    try:
        return registry.get(arch)
    except ParameterError:
        raise CwfastError(f"{context}: unknown architecture {arch!r}") from None
