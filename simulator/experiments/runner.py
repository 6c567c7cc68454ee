"""One run of a sweep: its key, its execution in a worker and its shards.

A :class:`RunTask` is what a worker needs (plain data, cheap to send);
:func:`execute` runs it, writes its shards into the store (tables first, the
``runs/`` row last, each to a temporary name, then ``os.replace``) and returns
a small receipt with the files' SHA-256 sums and sizes, which the parent
appends to the manifest (:mod:`simulator.experiments.store`).

:func:`run_key` is the first 20 hex digits of the SHA-256 of the run's
canonical config (seed included) and the run function's name: the same run
always has the same key, which is how a rerun knows what is done.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import signal
import threading
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..files import atomic_write, sha256_of
from ..market.config import MarketConfig
from ..market.results import headlines, jsonable
from .changes import _flatten
from .runfns import DEFAULT_RUN_FN, _resolve

__all__ = ["TABLES", "RunTask", "execute", "run_key"]

TABLES = ("rounds", "labels", "dataset", "responses")
"""The per-run tables a store can hold besides ``runs``."""
_RESULT_TABLE = {
    "rounds": "metrics", "labels": "labels", "dataset": "dataset", "responses": "responses",
}  # fmt: skip


@dataclass(frozen=True)
class RunTask:
    """What a worker needs for one run (plain data, cheap to send)."""

    key: str
    cell: int
    replication: int
    config: dict
    store: str
    run_fn: str
    tables: tuple[str, ...]
    design: str
    run_params: Mapping[str, Any] = field(default_factory=dict)
    timeout_s: float | None = None
    store_id: str = ""
    keep_if_failed: bool = False
    """Rerunning a stored ok run (to add a table): on failure write nothing, so
    the stored result stays as it was."""


def run_key(
    config: MarketConfig, run_fn: str = DEFAULT_RUN_FN, run_params: Mapping[str, Any] | None = None
) -> str:
    """The store key of a run: a hash of its config (seed included), run function
    and run function's parameters (when there are any: a run without them keeps
    the key it always had).

    Equal numbers hash alike (``1`` and ``1.0`` in ``mechanism_params``), and
    integers stay exact (two seeds never share a key)."""
    text = json.dumps(_key_form(config.key_dict()), sort_keys=True) + "|" + run_fn
    if run_params:
        text += "|" + json.dumps(_key_form(dict(run_params)), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _key_form(x: Any) -> Any:
    if isinstance(x, Mapping):
        return {str(k): _key_form(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_key_form(v) for v in x]
    if isinstance(x, bool) or x is None or isinstance(x, str):
        return x
    if isinstance(x, int | np.integer):
        return int(x)
    if isinstance(x, float | np.floating):
        v = float(x) + 0.0
        if math.isfinite(v) and v.is_integer() and abs(v) < 2**53:
            return int(v)
        return "inf" if v == math.inf else "-inf" if v == -math.inf else v
    return x


class RunTimeout(BaseException):
    """A run that took longer than the sweep's ``timeout``. A ``BaseException``,
    so that the run's own ``except Exception`` blocks (a model loader that
    would take it for a bad cache, say) do not swallow it."""


def execute(task: RunTask) -> dict:
    """Run one task in a worker, write its shards, return a small receipt.

    An exception from the run (``SystemExit`` included, and a run past the
    task's ``timeout_s``) is recorded (status ``"error"``, the error and its
    traceback) rather than raised, so one bad run never stops a sweep.
    ``KeyboardInterrupt`` is not caught: Ctrl-C stops the sweep.
    """
    t0 = time.perf_counter()
    summary: dict[str, Any] = {}
    frames: dict[str, pd.DataFrame] = {}
    error = tb = None
    try:
        fn = _resolve(task.run_fn)
        cfg = MarketConfig.from_dict(task.config)
        with _deadline(task.timeout_s):
            out = fn(cfg, **task.run_params)
        summary = _summary_of(out, task.run_fn)
        for t in task.tables:
            frame = getattr(out, _RESULT_TABLE[t], None)
            if isinstance(frame, pd.DataFrame):
                frames[t] = frame
    except (Exception, SystemExit, RunTimeout) as exc:
        error = f"{type(exc).__name__}: {exc}".strip()
        tb = traceback.format_exc()
        frames = {}
        summary = {}
    if error is not None and task.keep_if_failed:
        return {"key": task.key, "status": "error", "error": error, "kept": True}
    row = _row(task, summary, error, tb, time.perf_counter() - t0)
    store = Path(task.store)
    files = {}
    for t, frame in frames.items():  # tables first, the run row last
        frame = frame.copy()
        frame.insert(0, "run_key", task.key)
        files[f"{t}/{task.key}.parquet"] = _write(store, f"{t}/{task.key}.parquet", frame)
    files[f"runs/{task.key}.parquet"] = _write(store, f"runs/{task.key}.parquet", row)
    return {
        "key": task.key,
        "cell": task.cell,
        "replication": task.replication,
        "seed": int(task.config["seed"]),
        "status": "ok" if error is None else "error",
        "error": error,
        "elapsed_s": float(row["elapsed_s"].iloc[0]),
        "files": files,
        "tables": list(task.tables),  # asked for, whether or not the run function gave them
    }


def _summary_of(out: Any, run_fn: str) -> dict[str, Any]:
    """The summary of a run function's result: its ``summary`` mapping or the
    mapping it returned, with string keys and scalar values."""
    summary = getattr(out, "summary", out)
    if not isinstance(summary, Mapping):
        raise TypeError(
            f"run function {run_fn} returned {type(out).__name__}; expected a result with a "
            "summary mapping, or a mapping"
        )
    bad = [k for k, v in summary.items() if not isinstance(k, str) or not _is_scalar(v)]
    if bad:
        raise TypeError(
            f"run function {run_fn}: summary values must be numbers, strings, booleans or "
            f"None under string keys; not so for {', '.join(map(repr, bad[:5]))}"
        )
    return dict(summary)


def _is_scalar(v: Any) -> bool:
    return v is None or isinstance(v, bool | int | float | str | np.number | np.bool_)


@contextlib.contextmanager
def _deadline(seconds: float | None):
    """Raise :class:`RunTimeout` in this thread after ``seconds`` (SIGALRM; only
    in a process's main thread, where pool workers and the sequential executor
    run; elsewhere, e.g. in Dask worker threads, the run has no deadline)."""
    if seconds is None or threading.current_thread() is not threading.main_thread():
        yield
        return

    armed = [True]

    def ring(signum, frame):
        if armed[0]:  # not once the run has returned
            raise RunTimeout(f"the run took longer than the timeout of {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, ring)
    outer, _ = signal.setitimer(signal.ITIMER_REAL, seconds)
    start = time.monotonic()
    try:
        yield
    finally:
        armed[0] = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer > 0:  # a caller's own timer keeps what is left of it
            signal.setitimer(signal.ITIMER_REAL, max(outer - (time.monotonic() - start), 1e-3))


def _row(task: RunTask, summary: dict, error, tb, elapsed: float) -> pd.DataFrame:
    cfg = task.config
    row: dict[str, Any] = {
        "run_key": task.key,
        "design": task.design,
        "cell": task.cell,
        "replication": task.replication,
        "seed": int(cfg["seed"]),
        "status": "ok" if error is None else "error",
    }
    for k, v in _flatten(cfg).items():
        if k != "seed":
            row[k] = v
    metrics = {("rounds_run" if k == "rounds" else k): v for k, v in summary.items()}
    for k in headlines(cfg.get("market", "labels")):
        metrics.setdefault(k, math.nan)
    for k, v in metrics.items():
        if k in ("mechanism", "seed") or k in row:
            continue
        row[k] = float(v) if isinstance(v, int | float | np.number) and not isinstance(
            v, bool) else v  # fmt: skip
    row.update(
        error=error,
        traceback=tb,
        elapsed_s=float(elapsed),
        run_fn=task.run_fn,
        store_id=task.store_id,
        config_json=json.dumps(jsonable(cfg), sort_keys=True),
    )
    if task.run_params:
        row["run_params_json"] = json.dumps(jsonable(dict(task.run_params)), sort_keys=True)
    frame = pd.DataFrame([row])
    for col in ("error", "traceback"):
        frame[col] = frame[col].astype("string")
    return frame


def _write(store: Path, rel: str, frame: pd.DataFrame) -> dict[str, Any]:
    """Write a shard atomically (temporary name, then rename); return its checksum
    and size."""

    path = store / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=False))
    return {"sha256": sha256_of(path), "bytes": path.stat().st_size}
