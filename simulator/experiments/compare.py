"""Every mechanism on the same market: the comparison behind
``vickreyfeedback compare`` and ``make run``.

For each mechanism, budget and seed one market is run; seeds are shared across
mechanisms, so each mechanism faces the same annotators and tasks (common
random numbers). The table reports means with 95% t confidence intervals over
seeds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

import mechanisms

from ..analysis.statistics import cell_table, format_cells
from ..market.config import MarketConfig
from ..market.results import HEADLINES, run


def default_params(name: str, config: MarketConfig) -> dict:
    """Parameters a mechanism gets in a comparison unless the config says
    otherwise: the plain-data ones it takes from the market
    (``Mechanism.market_params``), so that they are stored with the run."""
    if name == config.mechanism and config.mechanism_params:
        return dict(config.mechanism_params)
    from agents.population import cost_distribution

    cls = type(mechanisms.get(name))
    params = cls.market_params(cost_dist=cost_distribution(config.cost), reserve=config.reserve)
    return {k: v for k, v in params.items() if isinstance(v, int | float | str | bool)}


def compare_runs(
    config: MarketConfig,
    *,
    mechanism_names: Sequence[str] | None = None,
    seeds: int | Iterable[int] = 3,
    budgets: Sequence[float] | None = None,
    progress: bool = False,
) -> pd.DataFrame:
    """One row per (mechanism, budget, seed) run with its summary figures."""
    names = list(mechanism_names or mechanisms.available())
    seed_list = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    budget_list = list(budgets or [config.budget])
    cells = [(b, s, n) for b in budget_list for s in seed_list for n in names]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(cells), unit="run", desc="compare")
    rows = []
    for budget, seed, name in cells:
        cfg = config.replace(
            mechanism=name,
            mechanism_params=default_params(name, config),
            budget=float(budget),
            seed=int(seed),
        )
        summary = run(cfg).summary
        rows.append({**summary, "budget": float(budget)})
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return pd.DataFrame(rows)


def summary_table(runs: pd.DataFrame, budget: float | None = None) -> pd.DataFrame:
    """Mean and 95% CI per mechanism of the headline figures (at one budget)."""
    if budget is not None:
        runs = runs[np.isclose(runs.budget, budget)]
    return cell_table(runs, ["mechanism"], HEADLINES)


def format_table(table: pd.DataFrame) -> str:
    """``mean [lo, hi]`` strings for printing."""
    return format_cells(table, ["mechanism"], HEADLINES)


def mechanism_table() -> pd.DataFrame:
    """One row per registered mechanism: its properties and source (what
    ``vickreyfeedback mechanisms`` prints)."""
    rows = []
    for name in mechanisms.available():
        m = mechanisms.get(name)
        rows.append({"mechanism": name, **dataclasses.asdict(m.properties), "source": m.source})
    return pd.DataFrame(rows)
