"""Atomic file writes: write beside the target, then rename over it, or leave nothing behind.

Every file cwfast writes (audio, models, checkpoints, plots) goes through :func:`atomic_path`, so a
failed or interrupted write never leaves a half-written file, never clobbers an existing one unless
asked, and produces a file with the permissions an ordinary ``open()`` would give it: a new
file's from the umask, and a file written over keeps its own (a private model stays private).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from .errors import CwfastError
from .validate import as_path


def same_file(a, b):
    """Whether the paths ``a`` and ``b`` name one file: by path, or by two names (a link, a hard link)."""
    if os.path.abspath(a) == os.path.abspath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return False


def default_permissions(directory=False):
    """The permissions an ordinary ``open()`` (or, with ``directory``, ``os.mkdir``) would give a
    new file: 0o666 (0o777) less the process's umask. (Reading the umask means setting it: done
    once a write, not in a loop.)"""
    umask = os.umask(0)
    os.umask(umask)
    return (0o777 if directory else 0o666) & ~umask


def _target(path, what):
    """The file a write to ``path`` replaces: ``path``, or the file a symbolic link there points
    to (written through, as ``cp`` does: the link stays a link)."""
    path = as_path(path, what, file=True)
    return Path(os.path.realpath(path)) if os.path.islink(path) else path


def _refuse(path, what, overwrite):
    """CwfastError unless ``path`` could be written by :func:`atomic_path`, judging by names alone."""
    directory = path.parent
    try:
        if path.is_dir():
            raise CwfastError(f"cannot write {what} '{path}': it is a directory")
        if not directory.is_dir():
            why = "is not a directory" if directory.exists() else "does not exist"
            raise CwfastError(f"cannot write {what} '{path}': '{directory}' {why}")
        if os.path.lexists(path) and not path.is_file():
            # A device, a pipe or a socket: renaming a new file over it would replace it, not write to it.
            raise CwfastError(f"cannot write {what} '{path}': it is not a regular file")
    except OSError as exc:  # a name too long, say
        raise CwfastError(f"cannot write {what} '{path}': {exc.strerror or exc}") from None
    if os.path.lexists(path) and not overwrite:
        raise CwfastError(f"'{path}' exists; pass overwrite=True (CLI: --overwrite) to replace it")


def _temporary(path, what):
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix or ".tmp", dir=path.parent)
        os.close(fd)
    except OSError as exc:
        raise CwfastError(f"cannot write {what} '{path}': {exc.strerror or exc}") from None
    return tmp


def check_writable(path, *, what="file", overwrite=True):
    """Raise CwfastError now, before any work, if :func:`atomic_path` could not write ``path`` later.

    Creates and removes the very temporary file the atomic writer would use, so a read-only file
    system, a folder without write permission or a full disk's refusal is found before a long
    training run or generation, not after it.
    """
    path = _target(path, what)
    _refuse(path, what, overwrite)
    os.unlink(_temporary(path, what))


def check_output(path, overwrite, *, what="file"):
    """:func:`check_writable` for a command's output file: an existing one is refused in the words
    of a command line ('pass --overwrite'), unless ``overwrite``. For the CLI and the scripts."""
    if os.path.lexists(path) and not os.path.isdir(path) and not overwrite:
        raise CwfastError(f"'{path}' exists; pass --overwrite to replace it")
    check_writable(path, what=what, overwrite=True)


@contextlib.contextmanager
def atomic_path(path, *, what="file", overwrite=True):
    """Yield a temporary path in the target's folder; on success rename it to ``path``.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write.
    what : str
        How error messages name the file ("model", "checkpoint", ...).
    overwrite : bool
        Replace an existing file; if False an existing ``path`` is an error and stays untouched.

    Raises
    ------
    CwfastError
        If ``path`` is a directory, its folder does not exist, it exists and ``overwrite`` is False,
        or the operating system refuses the write. On any exception, KeyboardInterrupt included,
        the temporary file is removed and ``path`` is left as it was.
    """
    path = _target(path, what)
    _refuse(path, what, overwrite)
    tmp = _temporary(path, what)
    with _removed_on_failure(tmp, path, what):
        yield tmp
        os.chmod(tmp, _permissions_for(path))  # mkstemp makes the file private (0600)
        os.replace(tmp, path)


def _permissions_for(path):
    """The permissions a file written to ``path`` gets: those of the file it replaces, as
    ``open(path, "w")`` keeps them, or a new file's."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:  # (nothing there yet)
        return default_permissions()


@contextlib.contextmanager
def _removed_on_failure(tmp, path, what):
    """Remove the temporary file ``tmp`` if the block fails (KeyboardInterrupt included); an
    OSError becomes a CwfastError naming ``path``."""
    try:
        yield
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise CwfastError(f"cannot write {what} '{path}': {exc.strerror or exc}") from None
        raise


def copy_beside(source, path, *, what="file"):
    """A copy of ``source`` as the temporary file :func:`atomic_path` would make beside ``path``
    (so in its file system, for :func:`replace_together`); nothing is left if the copy fails."""
    import shutil

    tmp = _temporary(path, what)
    with _removed_on_failure(tmp, path, what):
        shutil.copyfile(source, tmp)
        os.chmod(tmp, _permissions_for(path))
    return tmp


def replace_together(moves, *, what=None):
    """Rename each ``(new, target)`` of ``moves`` over its target, all of them or none.

    Each ``new`` path (a file or a folder) is in its target's file system. Each target that exists
    is first renamed aside into a private folder beside it (one per folder the targets are in),
    then the new paths are renamed into place, then the old ones are removed. If any rename fails
    (or the process is interrupted), every target is put back as it was and the new paths where
    they were (for the caller to remove), and the failure is a CwfastError naming the target
    (``what``: how to call it); should putting an old file back fail too, the folder it is kept in
    is named, never removed. Renames within a file system allocate no data, so a full disk cannot
    stop the swap half-way, as it could a copy.
    """
    moves = [(Path(new), Path(target)) for new, target in moves]
    if not moves:
        return
    current, asides, moved, placed = moves[0][1], {}, [], []
    try:
        for i, (_, target) in enumerate(moves):
            current = target
            if os.path.lexists(target):
                if target.parent not in asides:
                    asides[target.parent] = Path(tempfile.mkdtemp(prefix=".cwfast.old.", dir=target.parent))
                old = asides[target.parent] / str(i)
                moved.append((old, target))  # before the rename: an interrupt may fall between
                os.replace(target, old)
        for new, target in moves:
            current = target
            placed.append((new, target))
            os.replace(new, target)
    except BaseException as exc:
        kept = set()
        for new, target in reversed(placed):
            if not os.path.lexists(new):  # it was renamed: give it back
                with contextlib.suppress(OSError):
                    os.replace(target, new)
        for old, target in reversed(moved):
            if os.path.lexists(old):
                try:
                    os.replace(old, target)
                except OSError:
                    kept.add(old.parent)
        for aside in asides.values():
            if aside not in kept:
                _remove(aside)
        where = f" (the old files are kept in {', '.join(repr(str(k)) for k in sorted(kept))})" if kept else ""
        if isinstance(exc, OSError):
            raise CwfastError(f"cannot write {what + ' ' if what else ''}'{current}': {exc.strerror or exc}{where}") from None
        raise
    for aside in asides.values():
        _remove(aside)


def _remove(folder):
    """Remove ``folder`` (old files a finished swap no longer needs) even if Ctrl-C falls during
    the removal: it is finished before the interrupt goes on, so no half-removed folder is left."""
    import shutil

    try:
        shutil.rmtree(folder, ignore_errors=True)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
