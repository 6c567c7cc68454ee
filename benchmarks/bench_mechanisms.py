"""Throughput of every mechanism's vectorized ``run_batch``.

For T tasks x n annotators (default 100,000 x 50, k = 3, U[0,1] asks) this
measures, in one process:

- the floor: one ``numpy.sort`` of the asks along the bidder axis;
- ``run_batch`` on all T tasks (best of ``--repeat``);
- a Python loop of ``run`` over the first ``--loop-tasks`` tasks (extrapolated
  as tasks/s);
- the peak extra memory of ``run_batch`` (tracemalloc, which sees numpy's
  allocations), as a multiple of the asks array's size.

Usage: python benchmarks/bench_mechanisms.py [--tasks T] [--bidders N] [--k K] [--markdown]
"""

from __future__ import annotations

import argparse
import platform
import time
import tracemalloc

import numpy as np

import mechanisms

PARAMS = {"fixed-price": {"price": 0.5}, "vickrey-feedback": {"payment": "paper"}}


def best_time(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=100_000)
    ap.add_argument("--bidders", type=int, default=50)
    ap.add_argument("--k", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--loop-tasks", type=int, default=3_000)
    ap.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = ap.parse_args()

    T, n, k = args.tasks, args.bidders, args.k
    g = np.random.default_rng(0)
    asks = g.random((T, n))
    quality = g.uniform(0.5, 1.0, (T, n))
    kw = {"quality": quality, "reserve": 1.0}

    floor = best_time(lambda: np.sort(asks, axis=1), args.repeat)
    rows = []
    for name in mechanisms.available():
        mech = mechanisms.get(name, **PARAMS.get(name, {}))
        batch = best_time(lambda m=mech: m.run_batch(asks, k, rng=1, **kw), args.repeat)

        L = min(args.loop_tasks, T)

        def loop(m=mech, L=L):
            rng = np.random.default_rng(1)
            for t in range(L):
                m.run(asks[t], k, quality=quality[t], reserve=1.0, rng=rng)

        loop_rate = L / best_time(loop, 1)
        tracemalloc.start()
        tracemalloc.reset_peak()
        mech.run_batch(asks, k, rng=1, **kw)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rows.append(
            (name, T / batch, batch / floor, (T / batch) / loop_rate, loop_rate, peak / asks.nbytes)
        )

    header = (
        "mechanism",
        "run_batch tasks/s",
        "x floor (time)",
        "x loop of run (speed)",
        "loop of run tasks/s",
        "peak extra mem / asks",
    )
    print(
        f"T={T:,} tasks x n={n} annotators, k={k}; floor = np.sort along bidders: "
        f"{floor * 1e3:.1f} ms ({T / floor:,.0f} tasks/s); numpy {np.__version__}, "
        f"Python {platform.python_version()}, {platform.machine()}"
    )
    if args.markdown:
        print("\n| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for r in rows:
            print(
                f"| `{r[0]}` | {r[1]:,.0f} | {r[2]:.2f} | {r[3]:,.0f} | {r[4]:,.0f} | {r[5]:.2f} |"
            )
    else:
        print(f"{header[0]:<18}" + "".join(f"{h:>24}" for h in header[1:]))
        for r in rows:
            print(f"{r[0]:<18}{r[1]:>24,.0f}{r[2]:>24.2f}{r[3]:>24,.0f}{r[4]:>24,.0f}{r[5]:>24.2f}")


if __name__ == "__main__":
    main()
