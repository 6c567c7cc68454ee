"""The equilibrium solver on every registered mechanism at n = 10, k = 3.

For each rule: wall time of ``solve_equilibrium`` (default settings, one
solve, this process), iterations, epsilon and epsilon_rel with epsilon's
standard error, and the largest gap to the closed form where one exists
(truthful rules: ask = cost; pay-as-bid: the k-unit closed form), on the
market's default prior (lognormal costs, median $0.25, sigma 0.5; Beta(7, 3)
qualities; reserve $1). Also the vectorized closed form against the scalar
one it replaced (a quadrature per cost).

    .venv/bin/python benchmarks/bench_equilibrium.py [--markdown]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from scipy import integrate, special, stats

import mechanisms
from agents.solver import EquilibriumWarning, pay_as_bid_ask, solve_equilibrium

COSTS = stats.lognorm(s=0.5, scale=0.25)
QUALITY = stats.beta(7, 3)


def rules():
    for name in mechanisms.available():
        if name == "myerson":
            yield name, {"value": 1.0, "distribution": COSTS}
        elif name == "vickrey-feedback":
            yield name, {"payment": "paper"}
            yield name, {"payment": "truthful"}
        else:
            yield name, {}


def scalar_closed_form(c: float, k: int, n_rivals: int, reserve: float) -> float:
    """The per-cost quadrature the vectorized closed form replaced."""
    upper = min(COSTS.ppf(1 - 1e-9), reserve)

    def surv(t):
        return special.bdtr(k - 1, n_rivals, COSTS.cdf(t))

    area, _ = integrate.quad(surv, c, upper, limit=200)
    return c + area / surv(c)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()
    rows = []
    for name, params in rules():
        mech = mechanisms.get(name, **params)
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", EquilibriumWarning)
            sol = solve_equilibrium(
                mech, n=10, k=3, cost_dist=COSTS, reserve=1.0, quality_dist=QUALITY
            )
        wall = time.perf_counter() - t0
        live = sol.win_probability >= 0.01
        if mech.properties.pay_as_bid:
            ref = pay_as_bid_ask(sol.costs, k=3, n_rivals=9, cost_dist=COSTS, reserve=1.0)
        elif mech.properties.truthful:
            ref = sol.costs
        else:
            ref = None
        gap = "" if ref is None else f"{np.abs(sol.asks - ref)[live].max():.4f}"
        label = name + ("" if "payment" not in params else f" ({params['payment']})")
        rows.append((label, wall, sol, gap))
    costs = COSTS.ppf(np.linspace(0.01, 0.99, 200))
    t0 = time.perf_counter()
    for c in costs[:50]:
        scalar_closed_form(float(c), 3, 9, 1.0)
    scalar_ms = (time.perf_counter() - t0) / 50 * 1e3
    t0 = time.perf_counter()
    pay_as_bid_ask(costs, k=3, n_rivals=9, cost_dist=COSTS, reserve=1.0)
    vec_ms = (time.perf_counter() - t0) * 1e3
    if args.markdown:
        print(
            "| mechanism | wall (s) | iterations | converged | epsilon (se) | epsilon_rel "
            "| max gap to closed form (types winning >= 1 %) |"
        )
        print("|---|---|---|---|---|---|---|")
        for label, wall, sol, gap in rows:
            print(
                f"| `{label}` | {wall:.1f} | {sol.iterations} | {sol.converged} | "
                f"{sol.epsilon:.1e} ({sol.epsilon_se:.1e}) | {sol.epsilon_rel:.4f} | "
                f"{gap or 'none known'} |"
            )
        print(
            f"\nclosed form: {scalar_ms:.2f} ms per cost by quadrature (the old scalar call) vs "
            f"{vec_ms:.2f} ms for 200 costs in one vectorized call "
            f"({scalar_ms * 200 / vec_ms:.0f}x)"
        )
    else:
        for label, wall, sol, gap in rows:
            print(f"{label:32s} {wall:6.1f} s  {sol.summary()}  gap {gap}")
        print(f"closed form: scalar {scalar_ms:.2f} ms/cost, vectorized {vec_ms:.2f} ms/200")


if __name__ == "__main__":
    main()
