"""Output-path safety for every command that writes: checked before work, no overwrite
without ``--overwrite``, atomic writes.

* :func:`check_file` / :func:`check_folder` run *before* any computation: the folder
  exists (or can be created) and is writable, the target is not a folder (or, for a
  folder, not a file), it is not one of the inputs (compared by ``st_dev``/``st_ino``,
  so through symbolic and hard links), and an existing file is refused unless
  ``overwrite``.  Each problem raises :class:`OutputPathError` (a ``ValueError``) whose
  message starts with the command-line flag, e.g.
  ``--out: demo.json exists in prev (use --overwrite)``.
* :func:`atomic_path` gives a temporary name in the target's folder (same extension);
  on success the file is fsynced, given the replaced file's mode (or ``mode``, or the
  usual ``0o666 & ~umask``) and renamed over the target with ``os.replace``, so a reader
  never sees a partial file and a failure leaves the old one untouched.
"""
from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from typing import Iterable, Iterator, Sequence

__all__ = ["OutputPathError", "check_file", "check_folder", "atomic_path", "atomic_write",
           "same_file"]


class OutputPathError(ValueError):
    """An output path that cannot be used; the message starts with the flag."""


def _stat(path: str):
    try:
        return os.stat(path)
    except OSError:
        return None


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two paths name the same file (symbolic or hard links included)."""
    sa, sb = _stat(os.fspath(a)), _stat(os.fspath(b))
    if sa is None or sb is None:
        return os.path.realpath(a) == os.path.realpath(b)
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def _writable_folder(flag: str, folder: str, create: bool) -> None:
    """The folder exists and is writable (or, with ``create``, its nearest existing
    ancestor is a writable folder)."""
    probe = folder
    while create and not os.path.exists(probe):
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    if not os.path.exists(probe):
        raise OutputPathError(f"{flag}: folder {folder} does not exist")
    if not os.path.isdir(probe):
        raise OutputPathError(f"{flag}: {probe} is a file, not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise OutputPathError(f"{flag}: folder {probe} is not writable")


def check_file(flag: str, path: str | os.PathLike, *, overwrite: bool = False,
               inputs: Sequence[str | os.PathLike] = (), hint: str = "--overwrite") -> str:
    """Check an output file before any work; return its absolute path.

    Messages show the path as given (``--out: demo.json exists in prev (use --overwrite)``).
    """
    given = os.fspath(path)
    path = os.path.abspath(given)
    name, shown_folder = os.path.basename(path), os.path.dirname(given) or "."
    if os.path.isdir(path):
        raise OutputPathError(f"{flag}: {given} is a folder, not a file")
    _writable_folder(flag, os.path.dirname(path), create=False)
    for src in inputs:
        if same_file(src, path):
            raise OutputPathError(f"{flag}: refusing to overwrite the input file "
                                  f"{os.fspath(src)} ({given} is the same file)")
    if os.path.lexists(path) and not overwrite:
        raise OutputPathError(f"{flag}: {name} exists in {shown_folder} (use {hint})")
    return path


def check_folder(flag: str, folder: str | os.PathLike, names: Iterable[str] = (), *,
                 overwrite: bool = False, inputs: Sequence[str | os.PathLike] = ()) -> str:
    """Check an output folder (created later if missing) and the files ``names`` that
    will be written into it; return its absolute path."""
    given = os.fspath(folder)
    folder = os.path.abspath(given)
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise OutputPathError(f"{flag}: {given} is a file, not a folder")
    _writable_folder(flag, folder, create=True)
    if os.path.isdir(folder):
        for name in names:
            check_file(flag, os.path.join(given, name), overwrite=overwrite, inputs=inputs)
    return folder


def _default_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _fsync_folder(folder: str) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without folder fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, mode: int | None = None) -> Iterator[str]:
    """Yield a temporary path beside ``path``; on success move it over ``path``.

    The temporary file has ``path``'s extension (for writers that choose the format by
    it).  Mode of the result: that of the file it replaces, else ``mode``, else
    ``0o666 & ~umask``.  On an exception the temporary file is removed and ``path`` is
    left as it was.
    """
    path = os.path.abspath(os.fspath(path))
    folder, base = os.path.split(path)
    ext = os.path.splitext(base)[1]
    fd, tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=f".tmp{ext}", dir=folder)
    os.close(fd)
    try:
        yield tmp
        old = _stat(path)
        final = stat.S_IMODE(old.st_mode) if old is not None else (
            mode if mode is not None else _default_mode())
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, final)
        os.replace(tmp, path)
        _fsync_folder(folder)
    finally:
        if os.path.lexists(tmp):
            os.remove(tmp)


def atomic_write(path: str | os.PathLike, text: str | bytes, *, mode: int | None = None) -> None:
    """Write ``text`` (str or bytes) to ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path, mode=mode) as tmp:
        with open(tmp, "wb" if isinstance(text, bytes) else "w") as fh:
            fh.write(text)
