"""Market -> dataset -> training -> evaluation, per mechanism, budget and seed:
the loop behind ``vickreyfeedback efficiency``.

Every cell runs the market on the RLHF task world (the shipped training
pairs, common random numbers across mechanisms for a seed), turns the bought
dataset into preference pairs by the market's aggregated labels, and scores
what they teach with :func:`rlhf.efficiency.dollar_efficiency` on held-out
gold pairs the market never sold.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

import mechanisms
from rlhf.efficiency import TRAINERS

from ..analysis.statistics import confidence_interval
from ..market.config import MarketConfig
from ..market.results import run
from .compare import default_params

DEFAULT_MECHANISMS = ("vickrey", "first-price", "fixed-price", "vickrey-feedback")
#: the budgets ($) and seeds per cell of ``vickreyfeedback efficiency``
DEFAULT_BUDGETS = (50.0, 100.0, 200.0, 400.0)
DEFAULT_SEEDS = 3


def efficiency_runs(
    config: MarketConfig,
    *,
    mechanism_names: Sequence[str] = DEFAULT_MECHANISMS,
    budgets: Sequence[float] = DEFAULT_BUDGETS,
    seeds: int = DEFAULT_SEEDS,
    trainer: str = "proxy",
    progress: bool = False,
    heldout: pd.DataFrame | None = None,
    **train_kwargs,
) -> pd.DataFrame:
    """One row per (mechanism, budget, seed): market figures and dollar-efficiency.

    Columns: mechanism, budget, seed, spend, labels_bought, tasks_labeled,
    label_accuracy (share of bought pairs whose aggregated label is right),
    n_pairs, quality_before, quality_after, gain, per_dollar, trainer.
    """
    from rlhf.efficiency import dollar_efficiency
    from rlhf.taskworld import shipped_pairs

    if trainer not in TRAINERS:
        raise ValueError(f"trainer must be one of {TRAINERS}, got {trainer!r}")
    for name in mechanism_names:
        if name not in mechanisms.available():
            raise ValueError(
                f"unknown mechanism {name!r}; known: {', '.join(mechanisms.available())}"
            )
    heldout = shipped_pairs("heldout") if heldout is None else heldout
    cells = [(float(b), s, n) for b in budgets for s in range(seeds) for n in mechanism_names]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(cells), unit="cell", desc=f"efficiency ({trainer})")
    rows = []
    for budget, seed, name in cells:
        cfg = config.replace(
            mechanism=name,
            mechanism_params=default_params(name, config),
            budget=budget,
            seed=seed,
            task_source="taskworld",
        )
        result = run(cfg)
        eff = dollar_efficiency(
            result,
            heldout=heldout,
            trainer=trainer,
            seed=seed,
            **train_kwargs,
        )
        rows.append(
            {
                "mechanism": name,
                "budget": budget,
                "seed": seed,
                "labels_bought": result.summary["labels_bought"],
                "tasks_labeled": result.summary["tasks_labeled"],
                **eff,
                "trainer": trainer,
            }
        )
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return pd.DataFrame(rows)


def budget_curve(
    cells: pd.DataFrame, *, x: str = "spend", y: str = "quality_after", by: str = "mechanism"
) -> pd.DataFrame:
    """Mean and 95% t-interval of ``y`` per (``by``, budget) over seeds
    (:func:`simulator.analysis.statistics.confidence_interval`, non-finite values left
    out), with the mean dollars spent: the data behind a quality-vs-dollars
    figure."""
    rows = []
    for (name, budget), grp in cells.groupby([by, "budget"], sort=True):
        v = grp[y].to_numpy(dtype=float)
        mean, lo, hi = confidence_interval(v[np.isfinite(v)])
        rows.append(
            {by: name, "budget": budget, x: float(grp[x].mean()), y: mean,
             f"{y}_lo": lo, f"{y}_hi": hi, "runs": len(grp)}
        )  # fmt: skip
    return pd.DataFrame(rows)
