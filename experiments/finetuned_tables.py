"""The README's fine-tuned efficiency tables, from the grid of
``experiments/finetuned_efficiency.sh`` (one ``cells.parquet`` per trainer
under ``OUT/dpo`` and ``OUT/qa-dpo``).

Prints, with every interval a 95% t-interval over seeds and every verdict
with the smallest difference the design detects at 80% power:

1. per trainer, mechanism and budget: dollars spent, pairs, label accuracy,
   held-out implicit-reward accuracy, the gold reward of the policy's own
   samples (and the reference's), KL, the proxy's score of the same pairs,
   the average efficiency ``(accuracy - 0.5) / spend`` and the marginal one
   (the slope to the next budget, paired over seeds);
2. the learning check: accuracy at the largest budget minus the smallest,
   and the gold reward of samples minus the reference's, paired over seeds;
3. mechanisms against each other at each budget (paired over seeds);
4. QA-DPO minus DPO on the same pairs (claim 2's question at these budgets);
5. the proxy's ranking against the fine-tuned model's: Spearman's rho over
   the (mechanism, budget) cells, with its interval.

Usage::

    .venv/bin/python experiments/finetuned_tables.py [OUT]   # default results/finetuned
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from simulator.analysis.statistics import (
    confidence_interval,
    format_interval,
    marginal_efficiency,
    paired_verdict,
    rank_agreement,
)

TRAINERS = ("dpo", "qa-dpo")
PER_K = 1000.0  # efficiencies per $1,000


def _ci(x, scale: float = 1.0, digits: int = 3) -> str:
    return format_interval(*confidence_interval(np.asarray(x, dtype=float) * scale), digits)


def _verdict(diff, digits: int = 3) -> str:
    """A paired difference: mean, 95% interval, pairs, what 80% power detects,
    the verdict; pairs with a missing side are dropped first."""
    d = np.asarray(diff, dtype=float)
    d = d[np.isfinite(d)]
    if d.size < 2:
        return f"{d.mean():+.{digits}f} on {d.size} pair(s): no interval" if d.size else "no pairs"
    v = paired_verdict(d)
    return (f"{v['mean_diff']:+.{digits}f} [{v['lo']:+.{digits}f}, {v['hi']:+.{digits}f}], "
            f"n {v['n']}, detectable {v['detectable']:.{digits}f}: {v['verdict']}")  # fmt: skip


def _md(df: pd.DataFrame) -> str:
    head = "| " + " | ".join(df.columns) + " |\n|" + "---|" * len(df.columns) + "\n"
    return head + "\n".join("| " + " | ".join(str(v) for v in r) + " |" for r in df.to_numpy())


def load(out: Path) -> dict[str, pd.DataFrame]:
    """The finished cells of each trainer's grid (failed runs left out, and
    counted): ``cells.parquet``, or, for a grid still running or stopped, the
    runs its store holds so far (said, with how many)."""
    from simulator.experiments.store import is_store, load_results

    cells = {}
    for trainer in TRAINERS:
        path = out / trainer / "cells.parquet"
        if path.exists():
            df = pd.read_parquet(path)
        elif is_store(out / trainer / "store"):
            df = load_results(out / trainer / "store")
            print(f"{trainer}: the grid is not finished; {len(df)} run(s) from its store")
        else:
            raise SystemExit(f"OUT: no {path}; run experiments/finetuned_efficiency.sh first")
        ok = df.status != "error" if "status" in df else np.ones(len(df), bool)
        if not ok.all():
            print(f"{trainer}: {int((~ok).sum())} failed run(s) left out")
        cells[trainer] = df[ok]
    return cells


def per_cell(df: pd.DataFrame) -> pd.DataFrame:
    """Table 1 for one trainer."""
    df = df.assign(average=(df.quality_after - 0.5) / df.spend)
    marginal = marginal_efficiency(df)
    if len(marginal):
        marginal = marginal.set_index(["mechanism", "budget_from"])
    rows = []
    for (mech, budget), g in df.groupby(["mechanism", "budget"], sort=True):
        nxt = marginal.loc[(mech, budget)] if (mech, budget) in marginal.index else None
        bounds = ("marginal", "marginal_lo", "marginal_hi")
        slope = "" if nxt is None else format_interval(*(nxt[c] * PER_K for c in bounds), 2)
        rows.append({
            "mechanism": f"`{mech}`", "budget": f"${budget:g}",
            "spent": f"${g.spend.mean():.1f}", "pairs": f"{g.n_pairs.mean():.0f}",
            "labels right": f"{g.label_accuracy.mean():.3f}",
            "held-out accuracy": _ci(g.quality_after),
            "gold reward of samples": _ci(g.gold_reward),
            "reference's": f"{g.gold_reward_before.mean():.3f}",
            "KL": f"{g.kl.mean():.2f}",
            "proxy": _ci(g.proxy_after),
            "average per $1,000": _ci(g.average, PER_K, 2),
            "marginal per $1,000 (to next budget)": slope,
        })  # fmt: skip
    return pd.DataFrame(rows)


def _wide(df: pd.DataFrame, col: str, index=("seed",), columns=("mechanism", "budget")):
    return df.pivot_table(index=list(index), columns=list(columns), values=col, aggfunc="mean")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0] if args else "results/finetuned")
    cells = load(out)
    print(f"$ .venv/bin/python experiments/finetuned_tables.py {out}\n")
    for trainer, df in cells.items():
        print(f"## 1. {trainer}: per mechanism and budget (mean [95% CI] over seeds; "
              f"{df.seed.nunique()} seeds)\n")  # fmt: skip
        print(_md(per_cell(df)) + "\n")

    print("## 2. Learning check (paired over seeds)\n")
    for trainer, df in cells.items():
        for mech, g in df.groupby("mechanism", sort=True):
            lo_b, hi_b = g.budget.min(), g.budget.max()
            if hi_b == lo_b:
                continue
            w = _wide(g, "quality_after", columns=("budget",))
            print(f"- {trainer}, `{mech}`: accuracy ${hi_b:g} - ${lo_b:g}: "
                  f"{_verdict(w[hi_b] - w[lo_b])}")  # fmt: skip
        print(f"- {trainer}, every cell: gold reward of samples - reference's: "
              f"{_verdict(df.gold_reward - df.gold_reward_before)}")  # fmt: skip

    print("\n## 3. Mechanisms against each other (held-out accuracy, paired over seeds)\n")
    for trainer, df in cells.items():
        mechs = sorted(df.mechanism.unique())
        for a, b in itertools.combinations(mechs, 2):
            for budget in sorted(df.budget.unique()):
                w = _wide(df[df.budget == budget], "quality_after", columns=("mechanism",))
                print(f"- {trainer}, ${budget:g}: `{b}` - `{a}`: {_verdict(w[b] - w[a])}")

    print("\n## 4. QA-DPO - DPO on the same pairs (every mechanism x budget x seed cell)\n")
    key = ["mechanism", "budget", "seed"]
    both = cells["dpo"].merge(cells["qa-dpo"], on=key, suffixes=("_dpo", "_qa"))
    for col, name in [("quality_after", "held-out accuracy"),
                      ("gold_reward", "gold reward of samples"),
                      ("distinct_2", "distinct-2 of samples")]:  # fmt: skip
        print(f"- {name}: {_verdict(both[f'{col}_qa'] - both[f'{col}_dpo'])}")
    for budget, g in both.groupby("budget", sort=True):
        print(f"- held-out accuracy at ${budget:g}: "
              f"{_verdict(g['quality_after_qa'] - g['quality_after_dpo'])}")  # fmt: skip

    print("\n## 5. The proxy's ranking against the fine-tuned model's (Spearman over cells)\n")
    for trainer, df in cells.items():
        means = df.groupby(["mechanism", "budget"])[
            ["quality_after", "gold_reward", "proxy_after"]].mean()  # fmt: skip
        for col, name in [("quality_after", "held-out accuracy"),
                          ("gold_reward", "gold reward of samples")]:  # fmt: skip
            r = rank_agreement(means.proxy_after, means[col])
            print(f"- {trainer}, proxy vs {name}: rho {r['rho']:.2f} "
                  f"[{r['lo']:.2f}, {r['hi']:.2f}] over {r['n']} cells")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
