"""End-to-end market throughput: batch auction vs one mechanism call per task.

Market: 1,000 annotators (learning bidders, EXP3), 100,000 tasks (20 rounds of
5,000), 10 bidders per task, k = 3, ``vickrey``, majority aggregation, gold
questions and the incentive-gap sample on. Measures, in one process:

- wall time and tasks/s of the market as built (one ``run_batch`` per round);
- the same market with the mechanism called once per task (``run`` in a Python
  loop over the round's tasks), for the ratio;
- peak RSS, and the resident memory after each round, to check that memory per
  round does not grow beyond the results table itself.

Usage: python benchmarks/bench_market.py [--tasks N] [--annotators N] [--markdown]
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from simulator import MarketConfig, MarketModel


class PerTask:
    """The same mechanism, called once per task (the naive alternative)."""

    def __init__(self, mechanism):
        self.inner = mechanism
        self.properties = mechanism.properties
        self.allocate = mechanism.allocate  # the incentive-gap re-runs stay batched

    def run_batch(self, asks, k, *, quality=None, reserve, budget, rng):
        T, n = asks.shape
        won = np.zeros((T, n), bool)
        pay = np.zeros((T, n))
        budget = np.broadcast_to(np.asarray(budget, float), (T,))
        for t in range(T):
            present = np.flatnonzero(~np.isnan(asks[t]))
            if present.size == 0:
                continue
            q = None if quality is None else quality[t, present]
            out = self.inner.run(
                asks[t, present], k, quality=q, reserve=reserve, budget=budget[t], rng=rng
            )
            won[t, present[out.winners]] = True
            pay[t, present] = out.payments
        return _Batch(won, pay)


class _Batch:
    def __init__(self, won, payments):
        self.won, self.payments = won, payments


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def run_market(cfg: MarketConfig, per_task: bool) -> dict:
    start = time.perf_counter()
    model = MarketModel(cfg)
    if per_task:
        model.mechanism = PerTask(model.mechanism)
    rss = []
    while model.running:
        model.step()
        rss.append(rss_mb())
    metrics, labels, dataset = model.metrics_table(), model.labels_table(), model.dataset_table()
    wall = time.perf_counter() - start
    tasks = int(metrics.tasks.sum())
    return {
        "wall": wall,
        "tasks": tasks,
        "rounds": len(metrics),
        "rss": rss,
        "tables_mb": (labels.memory_usage(deep=True).sum() + dataset.memory_usage(deep=True).sum())
        / 2**20,
        "accuracy": float(metrics.aggregated_accuracy.mean()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=100_000)
    ap.add_argument("--annotators", type=int, default=1_000)
    ap.add_argument("--tasks-per-round", type=int, default=5_000)
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()
    cfg = MarketConfig(
        mechanism="vickrey",
        n_annotators=args.annotators,
        k=3,
        bidders_per_task=10,
        capacity=max(1, 10 * args.tasks_per_round // args.annotators),
        tasks_per_round=args.tasks_per_round,
        rounds=None,
        n_tasks=args.tasks,
        budget=1e9,
        reserve=1.0,
        strategies={"learning": 1.0},
        aggregation="majority",
        seed=0,
        task_source="synthetic",  # 100k tasks: more than the task world ships
        bid_cost=0.0,  # no exits: the whole population bids every round
    )
    batch = run_market(cfg, per_task=False)
    peak_batch = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    loop = run_market(cfg, per_task=True)
    assert batch["tasks"] == loop["tasks"] == args.tasks
    rss = np.array(batch["rss"])
    growth = (rss[-1] - rss[len(rss) // 2]) / max(1, len(rss) - 1 - len(rss) // 2)
    table_per_round = batch["tables_mb"] / batch["rounds"]
    rows = [
        ("batch (one run_batch per round)", batch["wall"], batch["tasks"] / batch["wall"]),
        ("per task (run in a loop)", loop["wall"], loop["tasks"] / loop["wall"]),
    ]
    print(
        f"{args.annotators:,} annotators (learning), {args.tasks:,} tasks in "
        f"{batch['rounds']} rounds, k=3, vickrey, majority aggregation"
    )
    if args.markdown:
        print("\n| variant | wall time (s) | tasks/s |\n|---|---|---|")
        for name, wall, rate in rows:
            print(f"| {name} | {wall:.2f} | {rate:,.0f} |")
    else:
        for name, wall, rate in rows:
            print(f"{name:<34}{wall:>10.2f} s{rate:>14,.0f} tasks/s")
    print(f"\nbatch / per-task speed: {loop['wall'] / batch['wall']:.1f}x")
    print(f"peak RSS after the batch market: {peak_batch:,.0f} MB")
    print(
        f"resident memory growth per round (second half): {growth:.2f} MB/round; "
        f"results tables (labels + dataset): {table_per_round:.2f} MB/round"
    )


if __name__ == "__main__":
    main()
