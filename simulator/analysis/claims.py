"""The paper's claims (Zhang & Duan 2024), tested as hypotheses in this world.

Each claim is a paired comparison over seeds (common random numbers: the same
annotators and tasks for both arms of a seed); the verdict is "holds" when the
95% t-interval of the mean paired difference lies above 0, "does not hold"
when it lies below 0, and "inconclusive" otherwise
(:func:`simulator.analysis.statistics.paired_verdict`).

1. VickreyFeedback buys more model quality per dollar than buying every
   offered label at a fixed price.
2. QA-DPO beats DPO on small datasets.
3. Selecting only top bids reduces the diversity of the chosen responses, and
   QA-DPO offsets part of that loss.

Each claim is a preset over the sweep runner: a design (:func:`claim_design`,
one config per seed and arm, seeds ``0..seeds-1``) and a run function, run by
:func:`~simulator.experiments.sweep.run_grid`, so that a claim gets the store
(``store=``: a rerun into it resumes, which matters for claim 2's fine-tunes),
executors and progress of every sweep.

Run: ``python -m simulator.claims [--claim 1|2|3] [--seeds N] [--store DIR]``.
"""

from __future__ import annotations

import argparse
from typing import Any

import pandas as pd

from ..experiments.design import Design
from ..experiments.sweep import run_grid
from ..market.config import MarketConfig
from .statistics import paired_verdict

ARMS = ("vickrey-feedback", "buy-everything")
"""Claims 1 and 3: the paper's auction against buying every offered label."""
TRAINED_ARMS = ("dpo", "qa-dpo")
"""Claim 2: the two trainers on the same bought pairs."""


def buy_everything(cfg: MarketConfig) -> MarketConfig:
    """Fixed price at the 90th cost percentile (at most the reserve), every
    offered label bought (k = bidders per task): the paper's baseline (in a
    response market: :func:`~simulator.analysis.response_claims.buy_everything_responses`)."""
    from agents.population import cost_distribution

    if cfg.market == "responses":
        from .response_claims import buy_everything_responses

        return buy_everything_responses(cfg)
    price = float(min(cfg.reserve, cost_distribution(cfg.cost).ppf(0.9)))
    return cfg.replace(
        mechanism="fixed-price", mechanism_params={"price": price}, k=cfg.bidders_per_task
    )


def claim_design(
    name: str, seeds: int, budget: float, market: MarketConfig | None = None
) -> Design:
    """Both arms of claims 1 and 3 for seeds ``0..seeds-1`` (k = 2 for the
    auction) on ``market`` (default: ``MarketConfig()``)."""
    configs = []
    for seed in range(seeds):
        base = (market or MarketConfig()).replace(budget=budget, seed=seed, k=2)
        configs += [base.replace(mechanism="vickrey-feedback"), buy_everything(base)]
    return Design.configs(configs, name=name)


def _arm(runs: pd.DataFrame) -> pd.Series:
    return runs.mechanism.map({"vickrey-feedback": ARMS[0], "fixed-price": ARMS[1]})


def claim1(
    seeds: int = 5, budget: float = 100.0, market: MarketConfig | None = None, **grid: Any
) -> pd.DataFrame:
    """Proxy quality per dollar: vickrey-feedback (k = 2) vs buying everything,
    on ``market`` (default: ``MarketConfig()``). ``grid``: ``store``,
    ``executor``, ``workers``, ``progress`` of
    :func:`~simulator.experiments.sweep.run_grid` (as for every claim)."""
    runs = run_grid(
        claim_design("claim1", seeds, budget, market),
        run_fn="simulator.sweeps:market_with_efficiency",
        run_params={"trainer": "proxy"},
        **grid,
    )
    return runs.assign(arm=_arm(runs))


def claim3(
    seeds: int = 5, budget: float = 100.0, market: MarketConfig | None = None, **grid: Any
) -> pd.DataFrame:
    """Distinct-2 of the chosen responses, on the tasks both arms bought (equal
    samples: distinct-n falls with sample size), and on all each arm bought. In
    a response market: the diversity of the responses each arm bought
    (:func:`~simulator.analysis.response_claims.response_diversity`)."""
    from rlhf.efficiency import training_pairs
    from rlhf.evaluation import distinct_2

    responses = market is not None and market.market == "responses"
    out = run_grid(
        claim_design("claim3", seeds, budget, market),
        tables=("rounds", "responses" if responses else "dataset"),
        read=("runs", "responses" if responses else "dataset"),
        **grid,
    )
    runs = out["runs"]
    arms = dict(zip(runs.run_key, _arm(runs), strict=True))
    if responses:
        from .response_claims import response_diversity

        return response_diversity(runs, out["responses"], arms)
    dataset = out["dataset"]
    rows = []
    for seed in range(seeds):
        keys = runs.run_key[runs.seed == seed]
        pairs = {
            arms[k]: training_pairs(dataset[dataset.run_key == k]).set_index("task") for k in keys
        }
        common = pairs[ARMS[0]].index.intersection(pairs[ARMS[1]].index)
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


def train_arm(
    config: MarketConfig,
    *,
    arm: str,
    epochs: int = 3,
    heldout: int | None = None,
    generate: int = 40,
    train_layers: int = 2,
    lr: float | None = None,
) -> dict[str, float]:
    """Claim 2's run function: the market of ``config``, then ``arm`` ("dpo" or
    "qa-dpo") fine-tunes SmolLM2 on the pairs it bought (the fast mode:
    ``train_layers`` top layers, :mod:`rlhf.fast_dpo`; 0 = every parameter;
    ``lr`` None: the mode's validated rate, :func:`rlhf.settings.default_lr`);
    held-out implicit-reward accuracy on the market's held-out gold pairs (the
    first ``heldout``; default all), and the gold reward, distinct-2 and KL
    to the reference of the policy's own replies to ``generate`` held-out
    prompts (sampled from the policy itself), through
    :func:`rlhf.efficiency.quality`."""
    from rlhf.efficiency import quality, training_pairs
    from rlhf.settings import TrainSettings

    from ..experiments.runfns import heldout_pairs_for
    from ..market.results import run

    if arm not in TRAINED_ARMS:
        raise ValueError(f"arm: must be one of {', '.join(TRAINED_ARMS)}, got {arm!r}")
    held = heldout_pairs_for(config)
    held = held if heldout is None else held.iloc[:heldout]
    pairs = training_pairs(run(config).dataset)
    settings = TrainSettings(epochs=epochs, train_layers=train_layers, lr=lr)
    q = quality(arm, pairs, held, seed=config.seed, settings=settings, samples=generate)
    return {
        "arm": arm,
        "n_pairs": len(pairs),
        "label_accuracy": float(pairs.correct.mean()),
        "heldout_accuracy": q["after"],
        "gold_reward": q["gold_reward"],
        "gold_reward_before": q["gold_reward_before"],
        "kl": q["kl"],
        "distinct_2": q["distinct_2"],
    }


def claim2(
    seeds: int = 3,
    budget: float = 20.0,
    epochs: int = 3,
    heldout: int | None = None,
    generate: int = 40,
    market: MarketConfig | None = None,
    train_layers: int = 2,
    lr: float | None = None,
    **grid: Any,
) -> pd.DataFrame:
    """DPO vs QA-DPO on the small dataset vickrey-feedback buys with ``budget``:
    held-out implicit-reward accuracy, gold reward and distinct-2 of replies
    (:func:`train_arm` per seed and arm; ``lr`` None: the mode's validated
    rate, :func:`rlhf.settings.default_lr`)."""
    configs = [
        (market or MarketConfig()).replace(
            mechanism="vickrey-feedback", k=2, budget=budget, seed=seed
        )
        for seed in range(seeds)
    ]
    from rlhf.settings import TrainSettings

    # the rate spelt out in each run's key: a changed default is another run, not a false
    # hit (and a bad one is refused here, before any market runs)
    rate = TrainSettings(train_layers=train_layers, lr=lr).learning_rate
    params = {"epochs": epochs, "generate": generate, "train_layers": train_layers,
              "lr": rate}  # fmt: skip
    if heldout is not None:
        params["heldout"] = heldout
    parts = [
        run_grid(
            Design.configs(configs, name=f"claim2-{arm}"),
            run_fn=f"{__name__}:train_arm",
            run_params={"arm": arm, **params},
            **grid,
        )
        for arm in TRAINED_ARMS
    ]
    return pd.concat(parts, ignore_index=True).sort_values(["seed", "arm"], ignore_index=True)


def _paired(df: pd.DataFrame, col: str, a: str, b: str) -> dict:
    wide = df.pivot(index="seed", columns="arm", values=col)
    return paired_verdict((wide[a] - wide[b]).to_numpy())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m simulator.claims", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("--claim", type=int, choices=(1, 2, 3), action="append")
    ap.add_argument("--seeds", type=int, default=None, help="seeds per arm (default: the claim's)")
    ap.add_argument(
        "--store",
        default=None,
        help="a results store that keeps the runs (a rerun resumes); default: none",
    )
    ap.add_argument("--workers", type=int, default=None, help="worker processes")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")  # fmt: skip
    ap.add_argument(
        "--market",
        choices=("labels", "responses"),
        default="labels",
        help="the label market (default) or the paper's response market",
    )
    ap.add_argument("--budget", type=float, default=None, help="$ per run (default: the claim's)")
    ap.add_argument(
        "--tasks-per-round",
        type=int,
        default=None,
        help="tasks (prompts) posted per round (default: the config's, 200)",
    )
    ap.add_argument(
        "--train-layers",
        type=int,
        default=None,
        help="claim 2: top decoder layers to fine-tune (default 2, the fast mode; 0: every "
        "parameter)",
    )
    ap.add_argument(
        "--lr",
        type=float,
        default=None,
        help="claim 2: AdamW learning rate (default: the mode's validated rate, 1e-4 in the "
        "fast mode, 5e-6 with every parameter; rlhf.settings.default_lr)",
    )
    args = ap.parse_args(argv)
    pd.set_option("display.width", 200)
    pd.set_option("display.max_columns", 20)
    grid = {"store": args.store, "executor": None, "workers": args.workers,
            "progress": not args.quiet}  # fmt: skip
    market = MarketConfig(market=args.market)
    if args.tasks_per_round is not None:
        market = market.replace(tasks_per_round=args.tasks_per_round)
    if market != MarketConfig():
        grid["market"] = market
    if args.budget is not None:
        if not args.budget > 0 or args.budget == float("inf"):
            ap.error(f"--budget: must be > 0 and finite, got {args.budget}")
        grid["budget"] = args.budget
    if args.seeds is not None:
        if args.seeds < 2:
            ap.error(f"--seeds: a paired interval needs at least 2 seeds, got {args.seeds}")
        grid["seeds"] = args.seeds
    if args.train_layers is not None:
        if args.train_layers < 0:
            ap.error(f"--train-layers: must be >= 0 (0: every parameter), got {args.train_layers}")
        if 2 not in (args.claim or (1, 3, 2)):
            ap.error("--train-layers: only claim 2 fine-tunes")
    if args.lr is not None:
        from rlhf.settings import check_train_value

        try:  # the limits and words every training setting uses
            check_train_value("lr", args.lr, "--lr:")
        except ValueError as exc:
            ap.error(str(exc))
        if 2 not in (args.claim or (1, 3, 2)):
            ap.error("--lr: only claim 2 fine-tunes")
    for c in args.claim or (1, 3, 2):
        if c == 1:
            df = claim1(**grid)
            print(df.groupby("arm")[["spend", "quality_after", "per_dollar", "n_pairs"]].mean())
            print(
                "claim 1, per_dollar(vickrey-feedback - buy-everything):",
                _paired(df, "per_dollar", "vickrey-feedback", "buy-everything"),
            )
        elif c == 2:
            layers = {} if args.train_layers is None else {"train_layers": args.train_layers}
            df = claim2(**grid, **layers, lr=args.lr)
            cols = ["n_pairs", "heldout_accuracy", "gold_reward", "gold_reward_before", "kl",
                    "distinct_2"]  # fmt: skip
            print(df.groupby("arm")[cols].mean())
            print(
                "claim 2, heldout_accuracy(qa-dpo - dpo):",
                _paired(df, "heldout_accuracy", "qa-dpo", "dpo"),
            )
            print(
                "claim 3b, distinct_2 of replies (qa-dpo - dpo):",
                _paired(df, "distinct_2", "qa-dpo", "dpo"),
            )
        elif args.market == "responses":
            df = claim3(**grid)
            cols = ["n_bought", "n_common_prompts", "embedding_diversity_common",
                    "embedding_diversity_all", "distinct_2_common"]  # fmt: skip
            print(df.groupby("arm")[cols].mean())
            print(
                "claim 3a, diversity lost by top-bid selection: embedding diversity of the "
                "responses bought on common prompts (buy-everything - vickrey-feedback; "
                "'holds' = vickrey-feedback's are less diverse):",
                _paired(df, "embedding_diversity_common", "buy-everything", "vickrey-feedback"),
            )
        else:
            df = claim3(**grid)
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
