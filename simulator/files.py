"""Writing files safely: the one atomic writer every result, config, store
shard and table of the simulator goes through, and the one checksum they are
recorded with (:func:`sha256_of`).

A file is written to a temporary name in its folder, flushed to disk, and
moved into place with ``os.replace`` (atomic on POSIX and Windows), so a crash
or a kill never leaves a half-written file under the real name, and a reader
sees the old file or the new one, never a mix.

It sits at the top of :mod:`simulator`, shared by every sub-package, and
imports nothing from the project (``tests/test_layering.py`` checks).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

__all__ = ["atomic_write", "atomic_write_text", "new_file_mode", "sha256_of"]


def _read_umask() -> int:
    mask = os.umask(0o022)  # the only portable way to read it: set and restore, once
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def new_file_mode() -> int:
    """The mode ``open()`` gives a new file: 0o666 less the process's umask
    (read once, at import: changing it briefly later would race with other
    threads' files). ``tempfile.mkstemp`` makes 0o600 files, private to their
    owner; results on a shared file system should be as readable as any
    other file."""
    return 0o666 & ~_UMASK


def atomic_write(path: str | os.PathLike[str], write: Callable[[str], object]) -> Path:
    """Call ``write(tmp)`` to fill a temporary file beside ``path``, then move
    it into place; on any error the temporary file is removed and ``path`` is
    left as it was. Keeps ``path``'s permissions when it exists; a new file gets
    :func:`new_file_mode` (the umask's, as for any file the user makes)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, path.stat().st_mode & 0o7777 if path.exists() else new_file_mode())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """:func:`atomic_write` of a UTF-8 text file with ``\\n`` line ends."""

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)

    return atomic_write(path, write)


def sha256_of(path: str | os.PathLike[str]) -> str:
    """The SHA-256 of a file's bytes, as hex (how stores and saved results
    record what they wrote)."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()
