"""Regret of the EXP3 learning bidder against the best fixed markup in hindsight.

One learner with a fixed cost bids each round on ``capacity`` first-price tasks
(k labels, n bidders per task) against rivals who play the symmetric
equilibrium (the closed form), with costs from the market's default lognormal
prior. Every round we also score every arm of the learner's markup grid on the
same tasks (the mechanism run once per arm, common random numbers), so the
best fixed arm in hindsight and the learner's regret are exact for the draws:

    regret(T) = (max_j sum_t r_j(t) - sum_t r_played(t)) / T,

with r the learner's reward in [0, 1] (profit per bid over the largest
markup's margin, as :class:`agents.strategies.Exp3` defines it). Compared:
the default learning rate (eta = 0.5) and Auer et al.'s eta = gamma / K.

    .venv/bin/python benchmarks/bench_learning.py [--markdown] [--seeds 20]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy import stats

import mechanisms
from agents import strategies
from agents.solver import pay_as_bid_ask
from agents.strategies import MarketInfo, RoundFeedback

COST_PRIOR = stats.lognorm(s=0.5, scale=0.25)


def run(eta: float, T: int, seed: int, cost: float, n: int = 10, k: int = 3, capacity: int = 20):
    rng = np.random.default_rng(seed)
    mech = mechanisms.get("first-price")
    info = MarketInfo(mechanism=mech, k=k, n_rivals=n - 1, reserve=1.0, cost_dist=COST_PRIOR)
    learner = strategies.get("learning", eta=eta)
    grid = np.array(learner.grid)
    scale = capacity * cost * grid.max()
    arm_rewards = np.zeros(grid.size)
    got = 0.0
    for _ in range(T):
        rival_costs = COST_PRIOR.ppf(rng.random((capacity, n - 1)))
        rival_asks = pay_as_bid_ask(rival_costs, k=k, n_rivals=n - 1, cost_dist=COST_PRIOR,
                                    reserve=1.0)  # fmt: skip
        u = rng.random((capacity, n))
        ask = learner.ask(cost, info, rng)
        # every arm on the same tasks: profit -> reward
        asks = np.minimum(cost * (1.0 + grid), 1.0)
        rows = np.concatenate([np.c_[np.full(capacity, a), rival_asks] for a in asks])
        out = mech.run_batch(rows, k, reserve=1.0, tie_break=np.tile(u, (grid.size, 1)))
        won = out.won[:, 0].reshape(grid.size, capacity)
        profit = ((out.payments[:, 0].reshape(grid.size, capacity)) - cost * won).sum(axis=1)
        reward = np.clip(profit / scale, 0.0, 1.0)
        arm_rewards += reward
        j = int(np.argmin(np.abs(asks - ask)))
        got += reward[j]
        wins = int(won[j].sum())
        fb = RoundFeedback(ask=ask, bids=capacity, wins=wins, revenue=wins * ask, cost=cost)
        learner.observe(fb, info, rng)
    best = int(np.argmax(arm_rewards))
    return (arm_rewards.max() - got) / T, float(grid[best])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()
    gamma, K = 0.1, len(strategies.get("learning").grid)
    rows = []
    t0 = time.perf_counter()
    for cost in (0.15, 0.25):
        for T in (50, 120, 1000):
            for name, eta in (("eta = 0.5 (default)", 0.5), ("eta = gamma / K", gamma / K)):
                reg = [run(eta, T, s, cost)[0] for s in range(args.seeds)]
                m, se = float(np.mean(reg)), float(np.std(reg, ddof=1) / np.sqrt(len(reg)))
                rows.append((cost, T, name, m, se))
    if args.markdown:
        print("| cost | rounds T | learning rate | mean regret per round (reward units) | se |")
        print("|---|---|---|---|---|")
        for cost, T, name, m, se in rows:
            print(f"| ${cost:.2f} | {T} | {name} | {m:.4f} | {se:.4f} |")
    else:
        for r in rows:
            print(*r)
    print(f"\n{args.seeds} seeds per cell; {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
