"""Solved equilibria kept on disk, so that a setting is solved once per machine,
not once per process (a sweep's workers, the CLI, notebooks, the tests).

A solution is stored as JSON under ``cache_dir() / "equilibria"``, named by
the SHA-256 of its setting (the rule's class, its source code and parameters,
n, k, the reserve, the budget, the priors, the solver's settings and
:data:`SOLVER_VERSION`); the file repeats the setting, which is compared on
load. A file that does not load or does not match is ignored and solved again.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path

from .solution import EquilibriumSolution, write_json_atomic

__all__ = ["SOLVER_VERSION", "cache_dir", "load", "store"]

#: bumped whenever the solver's method changes, so older solutions are not reused
SOLVER_VERSION = 1


def cache_dir() -> Path:
    """The project's cache root, by the rules of ``rlhf.models.cache_dir``
    (the layering keeps the two packages from sharing one function;
    ``tests/agents/test_solver.py`` checks that they agree):
    ``$VICKREYFEEDBACK_CACHE`` if set and not empty (an absolute path or one
    starting with ``~``, without surrounding whitespace, not a file: anything
    else is a one-line ValueError), else ``$XDG_CACHE_HOME/vickreyfeedback``
    when that is absolute, else ``~/.cache/vickreyfeedback``."""
    raw = os.environ.get("VICKREYFEEDBACK_CACHE", "")
    if raw:
        try:
            path = Path(raw).expanduser()
        except RuntimeError:  # ~user with no such user
            path = None
        if raw != raw.strip() or path is None or not path.is_absolute() or (
            path.exists() and not path.is_dir()
        ):  # fmt: skip
            raise ValueError(
                f"VICKREYFEEDBACK_CACHE={raw!r} must be an absolute directory path (or start "
                "with ~), without surrounding whitespace; unset it for the default cache"
            )
        return path
    xdg = Path(os.environ.get("XDG_CACHE_HOME", "")).expanduser()
    return (xdg if xdg.is_absolute() else Path.home() / ".cache") / "vickreyfeedback"


def _path(key: str) -> Path:
    digest = hashlib.sha256(f"{SOLVER_VERSION}:{key}".encode()).hexdigest()[:32]
    return cache_dir() / "equilibria" / f"{digest}.json"


def load(key: str) -> EquilibriumSolution | None:
    """The stored solution for ``key``, or None."""
    path = _path(key)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("cache_key") != key:
            return None
        return EquilibriumSolution.from_dict(data["solution"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        warnings.warn(f"{path}: ignoring an unreadable cached equilibrium ({exc})", stacklevel=2)
        return None


def store(key: str, solution: EquilibriumSolution) -> None:
    """Keep ``solution`` for ``key`` (best effort: a read-only disk only warns)."""
    path = _path(key)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, {"cache_key": key, "solution": solution.to_dict()})
    except OSError as exc:
        warnings.warn(f"could not cache the equilibrium in {path.parent}: {exc}", stacklevel=2)
