"""End-to-end market throughput, and how it scales with the crowd.

Market: learning bidders (EXP3), synthetic tasks, 10 bidders per task, k = 3,
``vickrey``, majority aggregation, gold questions and the incentive-gap sample
on, no bid cost (nobody exits, the whole population bids every round). Three measurements, each
variant timed in one run so that the ratios are fair:

- default: 1,000 annotators, 100,000 tasks (20 rounds of 5,000): the market as
  built (the crowd acts on arrays, one ``run_batch`` per round), the same
  market with every annotator acting through its own Mesa agent
  (``AgentByAgentMarket``: a Python call per annotator per round), and with
  the mechanism called once per task (``run`` in a loop); peak RSS and the
  resident memory per round;
- ``--scaling``: the same 100,000 tasks with 1,000 and 20,000 annotators
  (capacity scaled so that the bids on offer stay the same), time ratio;
- ``--large``: 100,000 annotators and 1,000,000 tasks (10 rounds of 100,000),
  tasks/s and peak RSS, in a fresh process.

Population creation, tables and metrics are included in every time.

Usage: python benchmarks/bench_market.py [--scaling | --large] [--markdown]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time

import numpy as np

from simulator import MarketConfig, MarketModel
from simulator.market.model import AgentByAgentMarket


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


def config(annotators: int, tasks: int, tasks_per_round: int) -> MarketConfig:
    return MarketConfig(
        mechanism="vickrey",
        n_annotators=annotators,
        k=3,
        bidders_per_task=10,
        capacity=max(1, 10 * tasks_per_round // annotators),
        tasks_per_round=tasks_per_round,
        rounds=None,
        n_tasks=tasks,
        budget=1e9,
        reserve=1.0,
        strategies={"learning": 1.0},
        aggregation="majority",
        seed=0,
        task_source="synthetic",  # more tasks than the task world ships
        bid_cost=0.0,  # no exits: the whole population bids every round
    )


def run_market(cfg: MarketConfig, variant: str = "crowd") -> dict:
    start = time.perf_counter()
    model = (AgentByAgentMarket if variant == "per agent" else MarketModel)(cfg)
    if variant == "per task":
        model.mechanism = PerTask(model.mechanism)
    rss = []
    while model.running:
        model.step()
        rss.append(rss_mb())
    metrics, labels, dataset = model.metrics_table(), model.labels_table(), model.dataset_table()
    wall = time.perf_counter() - start
    return {
        "wall": wall,
        "tasks": int(metrics.tasks.sum()),
        "rounds": len(metrics),
        "rss": rss,
        "tables_mb": (labels.memory_usage(deep=True).sum() + dataset.memory_usage(deep=True).sum())
        / 2**20,
        "labels": labels,
    }


def table(rows, markdown: bool) -> None:
    if markdown:
        print("\n| variant | wall time (s) | tasks/s |\n|---|---|---|")
        for name, wall, rate in rows:
            print(f"| {name} | {wall:.2f} | {rate:,.0f} |")
    else:
        for name, wall, rate in rows:
            print(f"{name:<40}{wall:>10.2f} s{rate:>14,.0f} tasks/s")


def default(args) -> None:
    cfg = config(1_000, 100_000, 5_000)
    crowd = run_market(cfg)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    agents = run_market(cfg, "per agent")
    loop = run_market(cfg, "per task")
    assert crowd["tasks"] == agents["tasks"] == loop["tasks"] == 100_000
    same = crowd["labels"][["task", "annotator", "label"]].equals(
        agents["labels"][["task", "annotator", "label"]]
    )
    rss = np.array(crowd["rss"])
    growth = (rss[-1] - rss[len(rss) // 2]) / max(1, len(rss) - 1 - len(rss) // 2)
    print(
        f"1,000 annotators (learning), 100,000 tasks in {crowd['rounds']} rounds, k=3, "
        "vickrey, majority aggregation"
    )
    table(
        [
            ("crowd (arrays, one run_batch per round)", crowd["wall"], 1e5 / crowd["wall"]),
            ("per agent (a call per annotator)", agents["wall"], 1e5 / agents["wall"]),
            ("per task (run in a loop)", loop["wall"], 1e5 / loop["wall"]),
        ],
        args.markdown,
    )
    print(f"\ncrowd / per-agent speed: {agents['wall'] / crowd['wall']:.1f}x (same labels: {same})")
    print(f"crowd / per-task speed: {loop['wall'] / crowd['wall']:.1f}x")
    print(f"peak RSS after the crowd market: {peak:,.0f} MB")
    print(
        f"resident memory growth per round (second half): {growth:.2f} MB/round; "
        f"results tables (labels + dataset): {crowd['tables_mb'] / crowd['rounds']:.2f} MB/round"
    )


def scaling(args) -> None:
    walls = {}
    for n in (1_000, 20_000, 1_000, 20_000):  # interleaved, best of two each
        w = run_market(config(n, 100_000, 5_000))["wall"]
        walls[n] = min(walls.get(n, np.inf), w)
    print("100,000 tasks in 20 rounds of 5,000; the bids on offer per round held at 50,000")
    table([(f"{n:,} annotators", w, 1e5 / w) for n, w in walls.items()], args.markdown)
    print(f"\n20,000 / 1,000 annotators time: {walls[20_000] / walls[1_000]:.2f}x")


def large(args) -> None:
    if not args.child:  # a fresh process, so that its peak RSS is its own
        out = subprocess.run(
            [sys.executable, __file__, "--large", "--child"] + (["--markdown"] * args.markdown),
            check=True,
        )
        return out
    cfg = config(100_000, 1_000_000, 100_000)
    r = run_market(cfg)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"100,000 annotators (learning), 1,000,000 tasks in {r['rounds']} rounds of 100,000")
    table([("crowd", r["wall"], r["tasks"] / r["wall"])], args.markdown)
    print(f"\npeak RSS: {peak:,.0f} MB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scaling", action="store_true", help="1,000 vs 20,000 annotators")
    ap.add_argument("--large", action="store_true", help="100,000 annotators, 1M tasks")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()
    if args.large:
        large(args)
    elif args.scaling:
        scaling(args)
    else:
        default(args)


if __name__ == "__main__":
    main()
