"""The one atomic file writer of :mod:`rlhf` (``rlhf`` never imports the
simulator, whose :mod:`simulator.files` does the same for its results)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

__all__ = ["write_atomically"]


def write_atomically(path: Path, write: Callable[[str], None]) -> None:
    """Create ``path``'s folder, call ``write(tmp)`` on a temporary file beside
    it and move it into place (``os.replace``), so a crash never leaves a
    half-written file under the final name. The file gets the usual mode
    (``0o666`` less the umask; ``mkstemp`` would leave ``0o600``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        mask = os.umask(0o022)
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
