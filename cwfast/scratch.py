"""Scratch files: a training's large per-sample arrays kept in memory-mapped files on disk.

A corpus's clips and tasks grow with the audio (9 bytes a sample: an hour at 16 kHz is 520 MB),
and held in memory they bound the corpus by RAM. :class:`Scratch` makes them ``np.memmap`` arrays
on files of a scratch folder instead: the kernel reads their pages in as training touches them
and may drop them again when memory is short (they count in the resident size while they are in,
as file-backed pages, not as the process's own memory).

The files never keep a name: each is made by :func:`tempfile.TemporaryFile` (on Linux a file with
no name at all, elsewhere on POSIX one unlinked as it is made, on Windows one deleted when closed),
so a run that ends any way, killed included, leaves nothing in the folder, and the disk space is
given back when the last array of a file is dropped. Their blocks are allocated when they are made
(``posix_fallocate``), so a full disk is a :class:`~cwfast.errors.CwfastError` then, not a crash
(SIGBUS) when a page of a sparse file is first written.

The folder is, in order: the one given, the environment variable :data:`ENV`, or
:func:`tempfile.gettempdir`.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile

import numpy as np

from .errors import CwfastError, ParameterError

#: The environment variable that names the scratch folder when none is given.
ENV = "CWFAST_SCRATCH"

_NO_SPACE = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EFBIG)


class Scratch:
    """A scratch folder that makes memory-mapped arrays (:meth:`empty`, :meth:`copy`).

    Parameters
    ----------
    directory : str or os.PathLike, optional
        The folder; default ``$CWFAST_SCRATCH``, else :func:`tempfile.gettempdir`.
    name : str
        How errors name a ``directory`` given (``"scratch"``, ``"--scratch"``).

    Raises
    ------
    ParameterError
        If the folder is not one this process can make files in (one line, naming it and where it
        came from).
    """

    def __init__(self, directory=None, *, name="scratch"):
        spelt = f"{name}=" if name.isidentifier() else f"{name} "  # an argument or an option
        if directory is not None:
            if not isinstance(directory, (str, os.PathLike)) or not os.fspath(directory):
                raise ParameterError(f"{spelt}{directory!r} must name a folder (a non-empty path)")
            named = f"{spelt}'{os.fspath(directory)}'"
        elif os.environ.get(ENV):
            directory = os.environ[ENV]
            named = f"${ENV}='{directory}'"
        else:
            directory = tempfile.gettempdir()
            named = f"the temporary folder '{directory}'"
        self.directory = os.fspath(directory)
        self.advice = f"free some space, or choose another folder with {spelt.strip()} or ${ENV}"
        try:  # the one test that answers (permissions, a read-only mount, ACLs): make a file there
            tempfile.TemporaryFile(dir=self.directory).close()
        except OSError as error:
            reason = "no such folder" if not os.path.exists(self.directory) else (
                "not a folder" if not os.path.isdir(self.directory) else
                # (a folder of a file system that makes no files, /proc: the kernel says ENOENT)
                "no file can be made in it" if error.errno == errno.ENOENT else error.strerror or str(error))
            raise ParameterError(f"{named} is not a writable folder ({reason}); the training's scratch files "
                                 "(its audio and tasks, memory-mapped) are made there") from None

    def check_free(self, n_bytes, what):
        """CwfastError, before any work, if ``what`` (``n_bytes`` of scratch) cannot fit in the folder."""
        try:
            free = shutil.disk_usage(self.directory).free
        except OSError:  # unknown: the files' own allocation says so, if it comes to that
            return
        if n_bytes > free:
            raise CwfastError(f"{what} needs {n_bytes:,} bytes of scratch in the scratch folder '{self.directory}', "
                              f"which has {free:,} free; {self.advice}")

    def empty(self, shape, dtype):
        """An uninitialised ``np.memmap`` of ``shape`` and ``dtype`` on a file of its own (in
        memory, a plain array, if it holds nothing: a file cannot map no bytes)."""
        dtype = np.dtype(dtype)
        n_bytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if n_bytes == 0:
            return np.empty(shape, dtype)
        try:
            with tempfile.TemporaryFile(dir=self.directory) as file:
                _allocate(file, n_bytes)
                return np.memmap(file, dtype=dtype, mode="r+", shape=shape)  # (the map outlives the file object)
        except OSError as error:
            if error.errno in _NO_SPACE:
                raise CwfastError(f"no space left in the scratch folder '{self.directory}' for {n_bytes:,} bytes of "
                                  f"training data; {self.advice}") from None
            raise CwfastError(f"cannot make a scratch file in '{self.directory}': "
                              f"{error.strerror or error}") from None

    def copy(self, array):
        """``array`` copied into a scratch file (:meth:`empty`)."""
        out = self.empty(array.shape, array.dtype)
        out[...] = array
        return out


def _allocate(file, n_bytes):
    """Give ``file`` ``n_bytes`` of disk blocks now (OSError ENOSPC if they are not there), or,
    where the system cannot (Windows, macOS, a file system without it), make it a sparse file of
    that size, whose space is taken as it is written."""
    if hasattr(os, "posix_fallocate"):
        try:
            os.posix_fallocate(file.fileno(), 0, n_bytes)
            return
        except OSError as error:
            if error.errno not in (errno.EINVAL, errno.EOPNOTSUPP, getattr(errno, "ENOSYS", errno.EINVAL)):
                raise
    file.truncate(n_bytes)
