"""Where a command writes: an ``--out`` directory checked before any work, and
never written over without ``--force``.

A command that writes tables into ``--out`` first claims the directory: it
must be a directory that can be written (made if missing), and if it already
holds files they must be the outputs of the same command with the same
settings (recorded in ``OUT/.vickreyfeedback-out.json``), which are then
rewritten with the same content; anything else (another grid, another
command, files this tool did not write) is refused unless ``--force`` is
given. A results store inside ``--out`` (``OUT/store/``) is never deleted
either way: its runs are only ever added to.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..files import atomic_write_text
from ..market.results import jsonable

__all__ = ["MARKER", "claim_out"]

MARKER = ".vickreyfeedback-out.json"
"""The file in ``--out`` that records which command and settings wrote it."""


def claim_out(out: Path, spec: dict[str, Any], *, force: bool = False) -> Path:
    """Make ``out`` ready for a command described by ``spec`` (plain data: the
    command and its settings), before any compute.

    Raises:
        ValueError: one line naming ``--out``: a file in the way, a directory
            that cannot be written, or one holding other results (without
            ``force``).
    """
    out = Path(out)
    record = json.loads(json.dumps(jsonable(spec), sort_keys=True))
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out: {out} is a file, not a directory; choose a directory")
    if out.is_dir() and any(out.iterdir()) and not force:
        previous = _read(out / MARKER)
        if previous != record:
            what = (
                "results of another command or other settings"
                if previous is not None
                else "files this tool did not write"
            )
            raise ValueError(
                f"--out: {out} already holds {what}; choose another directory, or pass "
                "--force to write over its tables (a results store in it is kept)"
            )
    try:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / MARKER, json.dumps(record, indent=2, sort_keys=True) + "\n")
    except OSError as exc:
        raise ValueError(f"--out: cannot write to {out}: {exc.strerror or exc}") from None
    if not os.access(out, os.W_OK | os.X_OK):  # e.g. a read-only mount that let us in
        raise ValueError(f"--out: cannot write to {out}: permission denied")
    return out


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
