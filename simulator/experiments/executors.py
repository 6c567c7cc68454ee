"""Executors: where a sweep's runs execute, and feeding runs to them.

Anything implementing ``concurrent.futures.Executor``. By default a sweep with
at most :data:`SEQUENTIAL_MAX` runs left to do runs in this process; larger ones use
a ``ProcessPoolExecutor`` (``spawn``, ``max_tasks_per_child`` to cap leaks)
with one worker per core. ``executor="local-dask"`` starts a local Dask
cluster; ``executor="tcp://host:8786"`` connects to an existing Dask scheduler
(``Client(address).get_executor()``; ``pip install 'vickreyfeedback[dask]'``).
Workers must see the store's directory (a shared file system on a cluster) and
import the run function by name, so run functions are module-level functions
of an installed module, never defined in a notebook.

:func:`_map` keeps at most a few runs per worker submitted at once (so the
parent's memory does not grow with the number of runs) and turns a dead
process pool into a :class:`~simulator.experiments.runfns.SweepError` that
says how to resume.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import math
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures.process import BrokenProcessPool

from .runfns import SweepError
from .runner import RunTask, execute

__all__ = ["MAX_WORKERS_PER_CORE", "SEQUENTIAL_MAX", "check_workers"]

SEQUENTIAL_MAX = 4
"""Sweeps with at most this many runs to do run in this process by default."""
MAX_WORKERS_PER_CORE = 4
"""Local worker processes allowed per core (more only thrash the machine)."""


def check_workers(workers: int | None) -> int | None:
    """``workers`` if it is None or an integer in 1..(4 x cores), else a one-line
    ValueError naming ``workers`` and what is allowed."""
    if workers is None:
        return None
    top = MAX_WORKERS_PER_CORE * (os.cpu_count() or 1)
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= top:
        raise ValueError(
            f"workers: must be an integer from 1 to {top} ({MAX_WORKERS_PER_CORE} per core on "
            f"this machine; omit it for one per core), got {workers!r}"
        )
    return workers


def _watch_parent(parent: int, every_s: float = 0.5) -> None:
    """A pool worker's initializer: a daemon thread that ends this process when
    its parent (the sweep) is gone, e.g. after ``kill -9``, so that no orphan
    keeps running runs and writing shards.

    The worker also ignores Ctrl-C (SIGINT, sent to the whole process group by a
    terminal): the sweep alone handles it and ends its workers itself, so a
    worker is never caught half-way through the pool's own queues (which could
    leave the pool's shutdown waiting forever)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while True:
            time.sleep(every_s)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="vickreyfeedback-parent-watch", daemon=True).start()


def _end_workers(pool: cf.ProcessPoolExecutor, grace_s: float = 5.0) -> None:
    """Terminate a process pool's workers and wait (at most ``grace_s``) until
    they are gone; a run they had not finished is not stored."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    for p in procs:
        with contextlib.suppress(Exception):
            p.terminate()
    deadline = time.monotonic() + grace_s
    for p in procs:
        with contextlib.suppress(Exception):
            p.join(max(0.0, deadline - time.monotonic()))
            if p.is_alive():
                p.kill()


class _Sequential(cf.Executor):
    """Runs each task in this process when its result is asked for."""

    def submit(self, fn, /, *args, **kwargs):
        future: cf.Future = cf.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            future.set_exception(exc)
        return future


def _executor(spec, n_todo: int, workers: int | None, max_tasks: int):
    """(executor, ``close(interrupted)`` or None, label)."""
    if isinstance(spec, cf.Executor):
        return spec, None, type(spec).__name__
    n = int(check_workers(workers) or os.cpu_count() or 1)
    if spec is None:
        spec = "sequential" if n_todo <= SEQUENTIAL_MAX or n == 1 else "process"
    if spec == "sequential":
        return _Sequential(), None, "sequential"
    if spec == "process":
        import multiprocessing as mp

        pool = cf.ProcessPoolExecutor(
            max_workers=n, mp_context=mp.get_context("spawn"), max_tasks_per_child=max_tasks,
            initializer=_watch_parent, initargs=(os.getpid(),),
        )  # fmt: skip

        def close_pool(interrupted: bool) -> None:
            if interrupted:  # Ctrl-C: end the runs in flight now, do not wait for them
                _end_workers(pool)
            pool.shutdown(wait=not interrupted, cancel_futures=True)

        return pool, close_pool, f"process x{n}"
    if isinstance(spec, str) and (spec == "local-dask" or "://" in spec):
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise SweepError(
                "Dask executors need the dask extra: pip install 'vickreyfeedback[dask]'"
            ) from None
        import logging

        if spec == "local-dask":
            cluster = LocalCluster(
                n_workers=n, threads_per_worker=1, processes=True,
                dashboard_address=None, silence_logs=logging.ERROR,
            )  # fmt: skip
            client = Client(cluster)

            def close(interrupted: bool) -> None:
                client.close()
                cluster.close()

            return client.get_executor(), close, f"local-dask x{n}"
        try:
            client = Client(spec, timeout=10)
        except (OSError, TimeoutError) as exc:
            raise SweepError(f"scheduler: cannot reach the Dask scheduler {spec}: {exc}") from None
        return client.get_executor(), lambda interrupted: client.close(), f"dask {spec}"
    raise ValueError(
        f"executor: expected 'sequential', 'process', 'local-dask', a Dask scheduler address "
        f"or a concurrent.futures.Executor, got {spec!r}"
    )


def _limit(ex: cf.Executor, workers: int | None) -> Callable[[], int]:
    """How many runs to keep submitted at once: two per worker (at least 4). For a
    Dask cluster the worker threads are counted on the scheduler, every few seconds
    (a cluster may grow while the sweep runs)."""
    if isinstance(ex, _Sequential):
        return lambda: 1
    client = getattr(ex, "_client", None)
    if client is not None and hasattr(client, "nthreads"):
        state = {"checked": -math.inf, "limit": 4}

        def dask_limit() -> int:
            now = time.monotonic()
            if now - state["checked"] > 5.0:
                with contextlib.suppress(Exception):
                    state["limit"] = max(4, 2 * sum(client.nthreads().values()))
                state["checked"] = now
            return state["limit"]

        return dask_limit
    n = getattr(ex, "_max_workers", None) or workers or os.cpu_count() or 1
    return lambda: max(4, 2 * int(n))


def _worker_died(exc: BaseException) -> SweepError:
    return SweepError(
        f"a worker process died ({exc}); the runs finished so far are stored. "
        "Run the same sweep again to resume."
    )


def _map(ex: cf.Executor, tasks: Iterable[RunTask], limit: Callable[[], int]) -> Iterator[dict]:
    """Receipts as runs finish, with at most ``limit()`` submitted at once (so the
    parent's memory does not grow with the number of runs)."""
    pending: dict[cf.Future, RunTask] = {}
    it = iter(tasks)
    try:
        while True:
            cap = limit()
            while len(pending) < cap:
                task = next(it, None)
                if task is None:
                    break
                try:
                    pending[ex.submit(execute, task)] = task
                except BrokenProcessPool as exc:  # died before we saw a result
                    raise _worker_died(exc) from exc
            if not pending:
                return
            done, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
            for fut in done:
                task = pending.pop(fut)
                try:
                    yield fut.result()
                except BrokenProcessPool as exc:
                    raise _worker_died(exc) from exc
                except cf.CancelledError:
                    continue
                except Exception as exc:  # the executor lost the task (e.g. a Dask worker died)
                    yield {"lost": True, "key": task.key, "error": f"{type(exc).__name__}: {exc}"}
    finally:
        for fut in pending:
            fut.cancel()
