"""The paper's claims (Zhang & Duan 2024), tested as hypotheses in this world.

Each claim is a paired comparison over seeds (common random numbers: the same
annotators and tasks for both arms of a seed); the verdict is "holds" when the
95% t-interval of the mean paired difference lies above 0, "does not hold"
when it lies below 0, and "inconclusive" otherwise.

1. VickreyFeedback buys more model quality per dollar than buying every
   offered label at a fixed price.
2. QA-DPO beats DPO on small datasets.
3. Selecting only top bids reduces the diversity of the chosen responses, and
   QA-DPO offsets part of that loss.

Run: ``python -m simulator.claims [--claim 1|2|3] [--seeds N]``.
"""

from __future__ import annotations

import argparse
import math
from itertools import pairwise

import pandas as pd

from ..market.config import MarketConfig
from ..market.results import run
from .statistics import paired_verdict


def distinct_2(texts: list[str]) -> float:
    """Distinct bigrams / all bigrams over a set of texts (Li et al. 2016)."""
    grams = [g for t in texts for g in pairwise(t.lower().split())]
    return len(set(grams)) / len(grams) if grams else math.nan


def _buy_everything(cfg: MarketConfig) -> MarketConfig:
    """Fixed price at the 90th cost percentile, every offered label bought."""
    from agents.population import cost_distribution

    price = float(min(cfg.reserve, cost_distribution(cfg.cost).ppf(0.9)))
    return cfg.replace(
        mechanism="fixed-price", mechanism_params={"price": price}, k=cfg.bidders_per_task
    )


def claim1(seeds: int = 5, budget: float = 100.0) -> pd.DataFrame:
    """Proxy quality per dollar: vickrey-feedback (k = 2) vs buying everything."""
    from rlhf.efficiency import dollar_efficiency
    from rlhf.taskworld import shipped_pairs

    held = shipped_pairs("heldout")
    rows = []
    for seed in range(seeds):
        base = MarketConfig(budget=budget, seed=seed, k=2)
        for arm, cfg in (
            ("vickrey-feedback", base.replace(mechanism="vickrey-feedback")),
            ("buy-everything", _buy_everything(base)),
        ):
            res = run(cfg)
            eff = dollar_efficiency(res, heldout=held, trainer="proxy")
            rows.append({"seed": seed, "arm": arm, **eff})
    return pd.DataFrame(rows)


def claim2(
    seeds: int = 3, budget: float = 20.0, epochs: int = 3, heldout: int = 200, generate: int = 40
) -> pd.DataFrame:
    """DPO vs QA-DPO on the small dataset vickrey-feedback buys with ``budget``:
    held-out implicit-reward accuracy, gold reward and distinct-2 of replies."""
    from rlhf.dpo import implicit_reward_accuracy
    from rlhf.efficiency import fine_tune, training_pairs
    from rlhf.evaluation import heldout_pairs_as_preferences
    from rlhf.models import load_policy
    from rlhf.prompts import load_prompts
    from rlhf.taskworld import generate_candidates, shipped_pairs

    held = heldout_pairs_as_preferences(shipped_pairs("heldout").iloc[:heldout])
    prompts = load_prompts("heldout")[:generate]
    ref, tok = load_policy()
    rows = []
    for seed in range(seeds):
        res = run(MarketConfig(mechanism="vickrey-feedback", k=2, budget=budget, seed=seed))
        pairs = training_pairs(res.dataset)
        for arm in ("dpo", "qa-dpo"):
            model, _ = fine_tune(arm, pairs, seed=seed, epochs=epochs)
            acc = implicit_reward_accuracy(model, ref, tok, held, batch_size=16, max_length=128)
            replies = generate_candidates(
                model, tok, prompts, n=1, max_new_tokens=32, seed=seed, progress=False
            )
            rows.append(
                {
                    "seed": seed,
                    "arm": arm,
                    "n_pairs": len(pairs),
                    "label_accuracy": float(pairs.correct.mean()),
                    "heldout_accuracy": acc,
                    "gold_reward": float(replies.reward.mean()),
                    "distinct_2": distinct_2(replies.response.tolist()),
                }
            )
    return pd.DataFrame(rows)


def claim3(seeds: int = 5, budget: float = 100.0) -> pd.DataFrame:
    """Distinct-2 of the chosen responses, on the tasks both arms bought (equal
    samples: distinct-n falls with sample size), and on all each arm bought."""
    from rlhf.efficiency import training_pairs

    rows = []
    for seed in range(seeds):
        base = MarketConfig(budget=budget, seed=seed, k=2)
        arms = {
            "vickrey-feedback": base.replace(mechanism="vickrey-feedback"),
            "buy-everything": _buy_everything(base),
        }
        pairs = {
            arm: training_pairs(run(cfg).dataset).set_index("task") for arm, cfg in arms.items()
        }
        common = pairs["vickrey-feedback"].index.intersection(pairs["buy-everything"].index)
        for arm, p in pairs.items():
            rows.append(
                {
                    "seed": seed,
                    "arm": arm,
                    "n_pairs": len(p),
                    "n_common": len(common),
                    "distinct_2_all": distinct_2(p.chosen.tolist()),
                    "distinct_2_common": distinct_2(p.loc[common].chosen.tolist()),
                }
            )
    return pd.DataFrame(rows)


def _paired(df: pd.DataFrame, col: str, a: str, b: str) -> dict:
    wide = df.pivot(index="seed", columns="arm", values=col)
    return paired_verdict((wide[a] - wide[b]).to_numpy())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m simulator.claims", description=__doc__)
    ap.add_argument("--claim", type=int, choices=(1, 2, 3), action="append")
    ap.add_argument("--seeds", type=int, default=None)
    args = ap.parse_args(argv)
    for c in args.claim or (1, 3, 2):
        if c == 1:
            df = claim1(**({"seeds": args.seeds} if args.seeds else {}))
            print(df.groupby("arm")[["spend", "quality_after", "per_dollar", "n_pairs"]].mean())
            print(
                "claim 1, per_dollar(vickrey-feedback - buy-everything):",
                _paired(df, "per_dollar", "vickrey-feedback", "buy-everything"),
            )
        elif c == 2:
            df = claim2(**({"seeds": args.seeds} if args.seeds else {}))
            print(
                df.groupby("arm")[
                    ["n_pairs", "heldout_accuracy", "gold_reward", "distinct_2"]
                ].mean()
            )
            print(
                "claim 2, heldout_accuracy(qa-dpo - dpo):",
                _paired(df, "heldout_accuracy", "qa-dpo", "dpo"),
            )
            print(
                "claim 3b, distinct_2 of replies (qa-dpo - dpo):",
                _paired(df, "distinct_2", "qa-dpo", "dpo"),
            )
        else:
            df = claim3(**({"seeds": args.seeds} if args.seeds else {}))
            cols = ["n_pairs", "n_common", "distinct_2_all", "distinct_2_common"]
            print(df.groupby("arm")[cols].mean())
            print(
                "claim 3a, distinct_2 of chosen replies on common tasks "
                "(vickrey-feedback - buy-everything):",
                _paired(df, "distinct_2_common", "vickrey-feedback", "buy-everything"),
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
