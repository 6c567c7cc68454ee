"""Sweep throughput and overhead: sequential vs a local process pool vs local Dask.

Throughput. A grid of small markets (4 mechanisms x 2 budgets, replications so
that there are ``--runs`` runs; synthetic tasks, no bid cost) is run four ways,
in this order:

- bare: ``simulator.run(config)`` in a loop over the design's configs; the sum
  of the run times is the work itself;
- ``sweep(executor="sequential")``, ``sweep(executor="process")`` and
  ``sweep(executor="local-dask")``, each into a fresh temporary store.

Each of the four runs in a fresh Python process of its own, which first does
one untimed ``run`` of the first config (lazy imports, caches), so that all
four start alike. A sweep's time is the
wall clock around the ``sweep`` call, so it includes what the executor costs:
starting the pool's or the cluster's worker processes (spawn, imports) and
shutting them down, sending the tasks, writing each run's Parquet shards and
the manifest. Reported: runs/s, speed-up over sequential, and the per-run
overhead over the bare runs, ``(wall - bare) / runs`` for sequential and
``(wall x workers - bare) / runs`` for a parallel executor. The latter counts
every core-second the executor held, idle ones too (start-up, the tail of the
sweep when a worker has nothing left to do), so it is an upper bound on the
executor's own cost per run. "Sum of run times" adds up the runs' own times
as each worker recorded them (the store's ``elapsed_s``: the run and its
summary, not the shard writing); above the bare total, the runs themselves
were slower in the workers. The last column, "others' CPU", is the CPU time
the rest of the machine used during each measurement (``/proc/stat`` busy
time less this benchmark's own processes): near 0 on a quiet machine; large
values mean another job competed for the cores and the row is not trustworthy.

Memory. A tiny market (20 annotators, 2 rounds of 10 tasks) is swept with the
process pool for each of ``--memory-runs`` runs (seeds varied by
replications), each time in a fresh Python process that reports its own peak
RSS: the parent of the pool alone, not its workers. The peak is ``VmHWM``
from ``/proc/self/status``, the high-water mark of the process's own address
space; not ``getrusage(RUSAGE_SELF).ru_maxrss``, which Linux carries over an
``execve``, so that in a child of a large process it reports the parent's
size at the fork. The parent's memory should not grow with the number of runs.

Usage (from the repository root)::

    python benchmarks/bench_sweep.py [--runs 200] [--workers 2] [--markdown]
        [--skip-dask] [--memory-runs 200 2000] [--quick]

The entry point is guarded by ``if __name__ == "__main__"``: process pools use
the ``spawn`` start method, which re-imports the main module.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from simulator import Design, load_results, run, sweep

MECHANISMS = ["vickrey", "first-price", "fixed-price", "vickrey-feedback"]
BUDGETS = [3e4, 1e6]
SMALL_MARKET: dict = {
    "task_source": "synthetic",
    "bid_cost": 0.0,
    "n_annotators": 100,
    "capacity": 100,  # 100 annotators x 100 bids = 10 bidders for each of 1,000 tasks
    "tasks_per_round": 1000,
    "rounds": 150,
}
TINY_MARKET: dict = {
    "task_source": "synthetic",
    "bid_cost": 0.0,
    "n_annotators": 20,
    "rounds": 2,
    "tasks_per_round": 10,
}
EXECUTORS = ("sequential", "process", "local-dask")


def small_design(runs: int) -> Design:
    """The throughput grid: mechanisms x budgets, ``ceil(runs / cells)`` replications."""
    cells = len(MECHANISMS) * len(BUDGETS)
    return Design.grid(
        {"mechanism": MECHANISMS, "budget": BUDGETS},
        base=SMALL_MARKET,
        replications=max(1, -(-runs // cells)),
        seed=0,
        name="bench-sweep-small",
    )


def tiny_design(runs: int) -> Design:
    """One tiny market, ``runs`` replications (different seeds)."""
    return Design.grid(
        {"mechanism": ["vickrey"]},
        base=TINY_MARKET,
        replications=runs,
        seed=0,
        name="bench-sweep-tiny",
    )


def peak_rss_kib() -> int:
    """This process's peak resident set size, KiB (``VmHWM``; see the module docstring)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


# ------------------------------------------------- measurements (in child processes)


def time_bare(design: Design) -> dict:
    """Sums of wall and CPU times of ``run(config)`` over the design."""
    wall = cpu = 0.0
    for _, _, cfg in design.runs():
        w0, c0 = time.perf_counter(), time.process_time()
        run(cfg)
        wall += time.perf_counter() - w0
        cpu += time.process_time() - c0
    return {"wall_s": wall, "run_s": wall, "cpu_s": cpu}


def time_sweep(design: Design, executor: str, workers: int) -> dict:
    """Wall time of one sweep of ``design`` into a fresh store (start-up included), and
    the sum of the runs' own times as the workers recorded them (``elapsed_s``)."""
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as store:
        t0 = time.perf_counter()
        out = sweep(design, store=store, executor=executor, workers=workers, progress=False)
        wall = time.perf_counter() - t0
        run_s = float(load_results(store)["elapsed_s"].sum())
    if out.ran != design.n_runs or out.failed:
        raise RuntimeError(f"{executor}: ran {out.ran} of {design.n_runs}, {out.failed} failed")
    return {"wall_s": wall, "run_s": run_s}


def sweep_memory(runs: int, workers: int) -> dict:
    """Sweep the tiny market with the pool; the peak RSS of this process before and after."""
    design = tiny_design(runs)
    before = peak_rss_kib()
    with tempfile.TemporaryDirectory(prefix="bench-sweep-mem-") as store:
        t0 = time.perf_counter()
        out = sweep(design, store=store, executor="process", workers=workers, progress=False)
        wall = time.perf_counter() - t0
    if out.ran != runs or out.failed:
        raise RuntimeError(f"memory: ran {out.ran} of {runs}, {out.failed} failed")
    return {"runs": runs, "before_kib": before, "peak_kib": peak_rss_kib(), "wall_s": wall}


def child_main(what: str, runs: int, workers: int) -> dict:
    """What one child process measures: ``bare``, ``memory`` or an executor's name."""
    if what == "memory":
        return sweep_memory(runs, workers)
    design = small_design(runs)
    run(next(design.runs())[2])  # warm-up, untimed: lazy imports, caches
    if what == "bare":
        return time_bare(design)
    return time_sweep(design, what, workers)


def busy_cpu_s() -> float:
    """CPU seconds the whole machine has been busy since boot (``/proc/stat``), or NaN."""
    try:
        with open("/proc/stat") as fh:
            ticks = [int(x) for x in fh.readline().split()[1:9]]
    except (OSError, ValueError):
        return float("nan")
    user, nice, system, _idle, _iowait, irq, softirq, steal = ticks
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def children_cpu_s() -> float:
    """CPU seconds of this process's finished children (and theirs)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def in_child(what: str, runs: int, workers: int) -> dict:
    """Run :func:`child_main` in a fresh interpreter; its JSON result, plus
    ``others_cpu_s``: CPU seconds other processes on the machine used meanwhile."""
    cmd = [sys.executable, os.path.abspath(__file__), "--workers", str(workers),
           "--_child", what, str(runs)]  # fmt: skip
    busy0, own0 = busy_cpu_s(), children_cpu_s()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    others = (busy_cpu_s() - busy0) - (children_cpu_s() - own0)
    if proc.returncode != 0:
        raise RuntimeError(f"{what} ({runs} runs) failed:\n{proc.stderr}")
    return {**json.loads(proc.stdout.strip().splitlines()[-1]), "others_cpu_s": others}


# ---------------------------------------------------------------------- report


@dataclass
class Timing:
    """One way of running the design."""

    name: str
    wall_s: float
    run_s: float  # sum of the runs' own times (in the workers for a sweep)
    runs: int
    workers: int  # cores the executor holds (0: the bare loop)
    others_cpu_s: float  # CPU seconds used by other processes meanwhile


def table(header: Sequence[str], rows: Sequence[Sequence[str]], markdown: bool) -> str:
    """A markdown table, or a plain one with aligned columns."""
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    fmt = "  ".join(f"{{:<{widths[0]}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths))
    return "\n".join([fmt.format(*header), *(fmt.format(*r) for r in rows)])


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def overhead_ms(t: Timing, bare_s: float) -> float:
    """Per-run overhead over the bare runs, ms (core-seconds held for a parallel executor)."""
    return 1e3 * (t.wall_s * t.workers - bare_s) / t.runs


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=200, help="runs of the throughput sweep")
    ap.add_argument("--workers", type=int, default=2, help="processes of the pool / cluster")
    ap.add_argument("--markdown", action="store_true", help="print markdown tables")
    ap.add_argument("--skip-dask", action="store_true", help="leave out local Dask")
    ap.add_argument("--memory-runs", type=int, nargs="+", default=[200, 2000],
                    help="run counts of the memory check (tiny market, process pool)")  # fmt: skip
    ap.add_argument("--quick", action="store_true", help="small numbers, for a smoke test")
    ap.add_argument("--_child", nargs=2, metavar=("WHAT", "RUNS"), dest="child",
                    help=argparse.SUPPRESS)  # fmt: skip
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child_main(args.child[0], int(args.child[1]), args.workers)))
        return
    if args.quick:
        args.runs, args.memory_runs = 16, [20, 60]

    design = small_design(args.runs)
    n = design.n_runs
    executors = [e for e in EXECUTORS if not (args.skip_dask and e == "local-dask")]
    if "local-dask" in executors:
        try:
            import distributed  # noqa: F401
        except ImportError:
            print("distributed is not installed: skipping local Dask", file=sys.stderr)
            executors.remove("local-dask")

    bare = in_child("bare", n, args.workers)
    bare_s = bare["wall_s"]
    timings = [Timing("bare `run` loop", bare_s, bare_s, n, 0, bare["others_cpu_s"])]
    for ex in executors:
        workers = 1 if ex == "sequential" else args.workers
        label = ex if ex == "sequential" else f"{ex} x{workers}"
        r = in_child(ex, n, args.workers)
        timings.append(Timing(label, r["wall_s"], r["run_s"], n, workers, r["others_cpu_s"]))
    memory = [in_child("memory", r, args.workers) for r in args.memory_runs]

    seq = next(t for t in timings if t.name == "sequential")
    market = ", ".join(f"{k}={v}" for k, v in SMALL_MARKET.items())
    print(
        f"{n} runs: {len(MECHANISMS)} mechanisms x budgets {BUDGETS} x "
        f"{design.replications} replications; {market}\n"
        f"bare run: mean {1e3 * bare_s / n:.0f} ms (CPU {100 * bare['cpu_s'] / bare_s:.0f}% of "
        f"wall); {os.cpu_count()} cores, workers={args.workers}; numpy {np.__version__}, "
        f"Python {platform.python_version()}, {platform.machine()}\n"
    )
    header = ["executor", "wall (s)", "runs/s", "x sequential", "overhead/run (ms)",
              "% of a 1 s run", "sum of run times (s)", "others' CPU (s)"]  # fmt: skip
    rows = []
    for t in timings:
        over = ["-", "-"]
        if t.workers:
            ms = overhead_ms(t, bare_s)
            over = [f"{ms:.1f}", f"{ms / 10:.1f}%"]
        rows.append([t.name, f"{t.wall_s:.1f}", f"{t.runs / t.wall_s:.2f}",
                     f"{seq.wall_s / t.wall_s:.2f}", *over, f"{t.run_s:.1f}",
                     f"{t.others_cpu_s:.1f}"])  # fmt: skip
    print(table(header, rows, args.markdown))

    print(
        f"\nparent peak RSS, tiny market ({TINY_MARKET['n_annotators']} annotators, "
        f"{TINY_MARKET['rounds']} rounds of {TINY_MARKET['tasks_per_round']} tasks), "
        f"process pool x{args.workers}:\n"
    )
    mem_header = ["runs", "peak RSS before sweep (MiB)", "peak RSS after (MiB)", "wall (s)",
                  "runs/s", "others' CPU (s)"]  # fmt: skip
    mem_rows = [
        [f"{m['runs']:,}", f"{m['before_kib'] / 1024:.1f}", f"{m['peak_kib'] / 1024:.1f}",
         f"{m['wall_s']:.1f}", f"{m['runs'] / m['wall_s']:.1f}", f"{m['others_cpu_s']:.1f}"]
        for m in memory
    ]  # fmt: skip
    print(table(mem_header, mem_rows, args.markdown))
    ratio = memory[-1]["peak_kib"] / memory[0]["peak_kib"]

    print("\ntargets:")
    pool = next((t for t in timings if t.name.startswith("process")), None)
    if pool is not None:
        speedup = seq.wall_s / pool.wall_s
        ms = overhead_ms(pool, bare_s)
        print(f"- process pool >= 1.7x sequential: {speedup:.2f}x, {verdict(speedup >= 1.7)}")
        print(f"- pool overhead < 50 ms/run (5% of a 1 s run): {ms:.1f} ms, {verdict(ms < 50)}")
    print(
        f"- parent peak RSS, {memory[-1]['runs']:,} / {memory[0]['runs']:,} runs < 1.2x: "
        f"{ratio:.3f}x, {verdict(ratio < 1.2)}"
    )


if __name__ == "__main__":
    main()
