"""Parameter sweeps: many market runs, in parallel, into a durable store.

>>> from simulator import Design, load_results, sweep
>>> design = Design.grid({"mechanism": ["vickrey", "first-price"], "budget": [100, 300]},
...                      base={"task_source": "synthetic", "rounds": 3}, replications=2)
>>> len(design), design.n_runs
(4, 8)

``sweep(design, store="results/name")`` runs every (cell, replication) of a
:class:`~simulator.experiments.design.Design` on an executor and writes each
run's result as Parquet shards into ``store``; ``load_results(store)`` returns
one tidy table with one row per run. Rerunning the same sweep into the same
store runs only what is missing.

The parts: designs (:mod:`simulator.experiments.design`), run functions
(:mod:`simulator.experiments.runfns`), one run and its shards
(:mod:`simulator.experiments.runner`), the store and reading it back
(:mod:`simulator.experiments.store`) and executors
(:mod:`simulator.experiments.executors`).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import dataclasses
import math
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..market.config import ConfigError, MarketConfig
from .changes import _show
from .design import Design, DesignLike, _as_design
from .executors import SEQUENTIAL_MAX, _executor, _limit, _map, check_workers
from .manifest import _Store
from .runfns import PROJECT_RUN_FNS, SweepError, _fn_name
from .runner import TABLES, RunTask, run_key
from .store import load_results

__all__ = ["SEQUENTIAL_MAX", "SweepOutcome", "preset", "run_grid", "sweep"]


@dataclass
class SweepOutcome:
    """What :func:`sweep` did.

    Attributes:
        store: the store directory.
        planned: runs in the design.
        skipped: runs already stored (not run again).
        ran: runs executed now.
        failed: runs executed now that raised (recorded with their error).
        recovered: runs found complete on disk but not in the manifest.
        repaired: stored runs whose shards were corrupted or missing, rerun.
        elapsed_s: wall time of the sweep.
        executor: which executor ran it.
        lost: runs the executor could not run (e.g. a Dask worker died for good);
            they are not stored, so the next sweep runs them again.
        keys: the store keys of the design's runs, in the design's order.
    """

    store: Path
    planned: int
    skipped: int
    ran: int
    failed: int
    recovered: int
    repaired: int
    elapsed_s: float
    executor: str
    lost: int = 0
    keys: tuple[str, ...] = ()

    def results(self, **kwargs) -> pd.DataFrame:
        """``load_results(self.store, **kwargs)``."""
        return load_results(self.store, **kwargs)


def sweep(
    design: DesignLike,
    *,
    store: str | os.PathLike,
    executor: cf.Executor | str | None = None,
    workers: int | None = None,
    replications: int | None = None,
    run_fn: str | Callable[[MarketConfig], Any] | None = None,
    run_params: Mapping[str, Any] | None = None,
    tables: Sequence[str] | None = None,
    retry_failed: bool = False,
    progress: bool = False,
    max_tasks_per_child: int = 200,
    timeout: float | None = None,
) -> SweepOutcome:
    """Run every (cell, replication) of ``design`` not yet in ``store``.

    Args:
        design: a :class:`~simulator.experiments.design.Design`, a design
            mapping, a design file's path, or a list of configs.
        store: the results directory (created if needed; shared by all workers).
        executor: None (in this process when at most :data:`SEQUENTIAL_MAX`
            runs of the design remain to be done, else a local process pool),
            ``"sequential"``, ``"process"``, ``"local-dask"``, a Dask scheduler
            address (``"tcp://host:8786"``),
            or any ``concurrent.futures.Executor`` (left running afterwards).
        workers: processes for ``"process"`` / ``"local-dask"`` (default: cores).
        replications: overrides the design's replications.
        run_fn: ``config -> result`` run by the workers, a ``"module:function"``
            name or a module-level function (default
            :func:`~simulator.experiments.runfns.run_market`); its
            result's ``summary`` (or the mapping it returns) becomes the run's
            row, its ``metrics``/``labels``/``dataset`` tables the shards.
        run_params: keyword arguments for ``run_fn`` (plain data; default: the
            design's ``run_params``); part of every run's key when not empty.
        tables: which of a run's tables to store: ``"rounds"`` (per-round
            metrics, always), ``"labels"``, ``"dataset"`` (default: the
            design's, else ``("rounds",)``).
        retry_failed: also rerun stored runs whose status is ``"error"``.
        progress: show a progress bar (runs done / failed / ETA).
        max_tasks_per_child: runs per pool worker before it is replaced.
        timeout: seconds a run may take; a run past it is stored as failed
            (``RunTimeout``) and the sweep goes on. Enforced in pool workers and
            in this process (SIGALRM), not inside Dask worker threads.

    Returns:
        a :class:`SweepOutcome`; ``outcome.results()`` loads the table.

    Raises:
        SweepError: when a worker process dies (the pool cannot go on). Every
            run finished before is stored; rerun the same sweep to resume.
    """
    t0 = time.perf_counter()
    design = _as_design(design)
    if replications is not None:
        design = dataclasses.replace(design, replications=int(replications))
    tables = tuple(tables or design.tables or ("rounds",))
    bad = sorted(set(tables) - set(TABLES))
    if bad or "rounds" not in tables:
        raise ValueError(f"tables: must include 'rounds' and be among {TABLES}, got {tables}")
    check_workers(workers)
    if (
        timeout is not None
        and isinstance(executor, str)
        and (executor == "local-dask" or "://" in executor)
    ):
        raise ValueError(
            "timeout: runs on Dask execute in worker threads, where a run cannot be "
            "interrupted; use the process pool (executor='process') for a timeout"
        )
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, int | float)
        or not math.isfinite(timeout) or timeout <= 0
    ):  # fmt: skip
        raise ValueError(f"timeout: must be a number of seconds > 0, got {timeout!r}")
    fn = _fn_name(run_fn if run_fn is not None else _design_run_fn(design))
    params = dict(design.run_params if run_params is None else run_params)
    if not all(isinstance(k, str) and k.isidentifier() for k in params):
        raise ValueError(f"run_params: must map keyword names to values, got {params!r}")
    st = _Store(Path(store).resolve())  # workers elsewhere need the absolute path
    with st.lock():
        return _sweep(design, st, fn, params, tables, executor, workers, retry_failed, progress,
                      max_tasks_per_child, t0, timeout)  # fmt: skip


def _design_run_fn(design: Design) -> str | None:
    """The run function a design names, if it is one of the project's: a design
    (file) holds data, never code, so any other function must be named by the
    caller (``sweep(run_fn=...)``, ``--run-fn``), where it is visibly code."""
    if design.run_fn is None or design.run_fn in PROJECT_RUN_FNS:
        return design.run_fn
    raise SweepError(
        f"design {design.name!r}: run_fn {design.run_fn!r} is not one of the project's run "
        f"functions ({', '.join(PROJECT_RUN_FNS)}); a design file holds data, never code, so "
        "name any other run function yourself: --run-fn on the command line, or "
        "sweep(..., run_fn=...) in Python"
    )


def _sweep(design, st, fn, params, tables, executor, workers, retry_failed, progress, max_tasks,
           t0, timeout):  # fmt: skip
    st.register(design, fn, tables, params)
    sid = st.store_id()
    st.clean_temp()

    entries = st.entries()
    recovered, unreadable = st.recover(entries)
    st.append(recovered)
    entries.update({r["key"]: r for r in recovered})

    # first pass: every run's key (two cells giving the same run are refused) and
    # which runs are still to do; the tasks themselves are made lazily in the second
    keys: list[str] = []
    where: dict[str, tuple[int, int]] = {}
    for cell, rep, cfg in design.runs():
        key = run_key(cfg, fn, params)
        if key in where:
            c0, r0 = where[key]
            raise ConfigError(
                f"design {design.name!r}: cell {cell} ({_show(design.cells[cell])}) and cell "
                f"{c0} ({_show(design.cells[c0])}) are the same run (replications {rep} and "
                f"{r0}); the design's cells overlap, remove the repeat"
            )
        where[key] = (cell, rep)
        keys.append(key)
    del where
    to_run: set[str] = set()
    keep: set[str] = set()
    skipped, repaired = 0, len(unreadable)
    for key in keys:
        entry = entries.get(key)
        if entry is None:
            to_run.add(key)
            continue
        why = st.check(entry)
        if why is not None:
            repaired += 1
            warnings.warn(f"{st.path}: run {key} {why}; running it again", stacklevel=3)
            for rel in entry["files"]:  # what is left of it is kept, out of the way
                if (st.path / rel).exists():
                    st.quarantine(st.path / rel, f"run {key} {why}")
            to_run.add(key)
        elif entry["status"] == "error":
            if retry_failed:
                to_run.add(key)
            else:
                skipped += 1
        elif any(t not in entry.get("tables", ()) and f"{t}/{key}.parquet" not in entry["files"]
                 for t in tables):  # fmt: skip
            to_run.add(key)  # run without a table asked for now: run it again to add it
            if entry["status"] == "ok":
                keep.add(key)  # ... but a failed rerun must not replace the ok result
        else:
            skipped += 1

    def todo() -> Iterator[RunTask]:
        """The runs to do, made one at a time (memory flat in the number of runs)."""
        for (cell, rep, cfg), key in zip(design.runs(), keys, strict=True):
            if key in to_run:
                yield RunTask(key, cell, rep, cfg.to_dict(), str(st.path), fn, tables,
                              design.name, params, timeout, sid, key in keep)  # fmt: skip

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=design.n_runs, initial=skipped, unit="run", desc=design.name,
                   dynamic_ncols=True)  # fmt: skip
    ex, owned, label = _executor(executor, len(to_run), workers, max_tasks)
    ran = failed = lost = 0
    interrupted = False
    try:
        for receipt in _map(ex, todo(), _limit(ex, workers)):
            if receipt.get("lost"):
                lost += 1
                warnings.warn(
                    f"{st.path}: the executor lost run {receipt['key']} ({receipt['error']}); "
                    "it is not stored, so the next sweep runs it again",
                    stacklevel=3,
                )
                continue
            if receipt.get("kept"):
                ran += 1
                failed += 1
                warnings.warn(
                    f"{st.path}: run {receipt['key']} was run again to add a table and failed "
                    f"({receipt['error']}); its stored result is kept as it was",
                    stacklevel=3,
                )
                continue
            st.append([receipt])
            ran += 1
            failed += receipt["status"] == "error"
            if bar is not None:
                bar.update(1)
                bar.set_postfix(failed=failed, refresh=False)
    except KeyboardInterrupt:
        interrupted = True
        print(
            f"\ninterrupted: {skipped + ran} of {design.n_runs} runs are stored in {st.path}; "
            "run the same sweep again to resume",
            file=sys.stderr,
        )
        raise
    finally:
        if bar is not None:
            bar.close()
        if owned is not None:
            owned(interrupted)
    return SweepOutcome(
        store=st.path,
        planned=design.n_runs,
        skipped=skipped,
        ran=ran,
        failed=failed,
        recovered=len(recovered),
        repaired=repaired,
        elapsed_s=time.perf_counter() - t0,
        executor=label,
        lost=lost,
        keys=tuple(keys),
    )


def run_grid(
    design: DesignLike,
    *,
    store: str | os.PathLike | None = None,
    executor: cf.Executor | str | None = "sequential",
    workers: int | None = None,
    run_fn: str | Callable[[MarketConfig], Any] | None = None,
    run_params: Mapping[str, Any] | None = None,
    tables: Sequence[str] | None = None,
    read: str | Sequence[str] = "runs",
    progress: bool = False,
) -> pd.DataFrame | dict[str, pd.DataFrame]:
    """Run ``design`` with :func:`sweep` and return its rows: the runner of the
    fixed grids (``compare``, ``efficiency``, the paper's claims), so that they
    get the store, resume, executors and progress of every sweep.

    Args:
        design, workers, run_fn, run_params, tables: as for :func:`sweep`.
        executor: as for :func:`sweep`, but in this process by default, so that
            a script calling a preset needs no ``if __name__ == "__main__"``
            guard; ``None`` chooses by size as :func:`sweep` does (what the
            command line does), ``"process"`` asks for a pool.
        store: where the runs are stored (rerunning resumes); None: a
            temporary store, removed once its tables are read.
        read: the table to return (``"runs"``, or a stored table such as
            ``"dataset"``), or a sequence of them (then a dict by name).
        progress: a progress bar.

    Returns:
        The rows of this design's runs only (a store may hold others), in
        the design's order (cell by cell, replications within a cell).

    Raises:
        SweepError: when a run failed (its error is named; the traceback is in
            a note, and in the store) or the executor lost one.
    """
    import tempfile

    design = _as_design(design)
    names = [read] if isinstance(read, str) else list(read)
    with contextlib.ExitStack() as stack:
        if store is None:
            store = stack.enter_context(tempfile.TemporaryDirectory(prefix="vickreyfeedback-"))
        outcome = sweep(design, store=store, executor=executor, workers=workers, run_fn=run_fn,
                        run_params=run_params, tables=tables, retry_failed=True,
                        progress=progress)  # fmt: skip
        keys = outcome.keys
        order = {k: i for i, k in enumerate(keys)}
        runs = load_results(outcome.store)
        runs = runs[runs.run_key.isin(order)]
        runs = runs.iloc[runs.run_key.map(order).argsort()].reset_index(drop=True)
        failed = runs[runs.status == "error"]
        if outcome.lost or len(failed):
            first = failed.iloc[0] if len(failed) else None
            err = SweepError(
                f"{design.name}: {len(failed)} of {len(keys)} runs failed and {outcome.lost} "
                f"were lost"
                + (f"; the first failure (seed {first.seed}): {first.error}" if first is not None
                   else "")
            )  # fmt: skip
            if first is not None and isinstance(first.traceback, str):
                err.add_note(first.traceback)
            raise err
        out = {}
        for name in names:
            if name == "runs":
                out[name] = runs
            else:
                t = load_results(outcome.store, table=name)
                t = t[t.run_key.isin(order)]
                out[name] = t.iloc[t.run_key.map(order).argsort(kind="stable")].reset_index(
                    drop=True
                )
    return out[read] if isinstance(read, str) else out


def preset(build: Callable[..., Design], name: str, doc: str) -> Callable[..., pd.DataFrame]:
    """The runner of a fixed grid: ``name(config, *, store=None,
    executor="sequential", workers=None, progress=False, **grid)`` builds the
    design with ``build(config, **grid)`` and returns :func:`run_grid`'s rows
    (how ``compare_runs`` and ``efficiency_runs`` are made)."""

    def runs(
        config: MarketConfig,
        *,
        store: str | os.PathLike | None = None,
        executor: cf.Executor | str | None = "sequential",
        workers: int | None = None,
        progress: bool = False,
        **grid: Any,
    ) -> pd.DataFrame:
        design = build(config, **grid)
        return run_grid(design, store=store, executor=executor, workers=workers, progress=progress)

    runs.__name__ = runs.__qualname__ = name
    runs.__module__ = build.__module__
    runs.__doc__ = doc
    return runs
