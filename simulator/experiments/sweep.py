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
import dataclasses
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..market.config import ConfigError, MarketConfig
from .changes import _show
from .design import DesignLike, _as_design
from .executors import SEQUENTIAL_MAX, _executor, _limit, _map
from .runfns import _fn_name
from .runner import TABLES, RunTask, run_key
from .store import _Store, load_results

__all__ = ["SEQUENTIAL_MAX", "SweepOutcome", "sweep"]


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
    tables: Sequence[str] | None = None,
    retry_failed: bool = False,
    progress: bool = False,
    max_tasks_per_child: int = 200,
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
        tables: which of a run's tables to store: ``"rounds"`` (per-round
            metrics, always), ``"labels"``, ``"dataset"`` (default: the
            design's, else ``("rounds",)``).
        retry_failed: also rerun stored runs whose status is ``"error"``.
        progress: show a progress bar (runs done / failed / ETA).
        max_tasks_per_child: runs per pool worker before it is replaced.

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
    fn = _fn_name(run_fn if run_fn is not None else design.run_fn)
    st = _Store(Path(store).resolve())  # workers elsewhere need the absolute path
    with st.lock():
        return _sweep(design, st, fn, tables, executor, workers, retry_failed, progress,
                      max_tasks_per_child, t0)  # fmt: skip


def _sweep(design, st, fn, tables, executor, workers, retry_failed, progress, max_tasks, t0):
    st.register(design, fn, tables)
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
        key = run_key(cfg, fn)
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
            to_run.add(key)
        elif entry["status"] == "error":
            if retry_failed:
                to_run.add(key)
            else:
                skipped += 1
        elif any(f"{t}/{key}.parquet" not in entry["files"] for t in tables):
            to_run.add(key)  # stored without a table asked for now: run it again to add it
        else:
            skipped += 1

    def todo() -> Iterator[RunTask]:
        """The runs to do, made one at a time (memory flat in the number of runs)."""
        for (cell, rep, cfg), key in zip(design.runs(), keys, strict=True):
            if key in to_run:
                yield RunTask(key, cell, rep, cfg.to_dict(), str(st.path), fn, tables,
                              design.name)  # fmt: skip

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
    )
