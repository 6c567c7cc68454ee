"""Every mechanism on the same market: the comparison behind
``vickreyfeedback compare`` and ``make run``.

For each mechanism, budget and seed one market is run; seeds are shared across
mechanisms, so each mechanism faces the same annotators and tasks (common
random numbers). The grid is a sweep design (:func:`compare_design`) run by
the sweep runner (:func:`~simulator.experiments.sweep.run_grid`: store,
resume, executors, progress). The table reports means with 95% t confidence
intervals over seeds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

import mechanisms

from ..analysis.statistics import cell_table, format_cells
from ..market.config import MarketConfig
from ..market.results import ALL_HEADLINES, headlines_of
from .changes import default_params
from .design import Design
from .sweep import preset


def compare_design(
    config: MarketConfig,
    *,
    mechanism_names: Sequence[str] | None = None,
    seeds: int | Iterable[int] = 3,
    budgets: Sequence[float] | None = None,
) -> Design:
    """The comparison as a sweep design: one config per (budget, seed, mechanism)
    (``mechanism_names=None``: every registered one),
    each run once with its own seed (seeds ``0..seeds-1``, or the ones given),
    so every mechanism of a seed faces the same annotators and tasks."""
    names = mechanisms.available() if mechanism_names is None else list(mechanism_names)
    configs = market_grid(config, names, budgets or [config.budget], seeds)
    return Design.configs(configs, name="compare")


def market_grid(
    config: MarketConfig,
    mechanism_names: Sequence[str],
    budgets: Iterable[float],
    seeds: int | Iterable[int],
    **changes,
) -> list[MarketConfig]:
    """``config`` for every (budget, seed, mechanism), in that order, each
    mechanism with its comparison defaults
    (:func:`~simulator.experiments.changes.default_params`) and ``changes``;
    ``seeds``: ``0..seeds-1`` or the seeds themselves. The mechanism list is
    checked first (:func:`check_mechanisms`)."""
    names = list(mechanism_names)
    check_mechanisms(names)
    seed_list = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    return [
        config.replace(
            mechanism=name,
            mechanism_params=default_params(name, config),
            budget=float(budget),
            seed=int(seed),
            **changes,
        )
        for budget in budgets
        for seed in seed_list
        for name in names
    ]


compare_runs = preset(
    compare_design,
    "compare_runs",
    """One row per (mechanism, budget, seed) run with its config and summary
    figures (the columns of :func:`simulator.load_results`).

    ``compare_runs(config, *, store=None, executor="sequential", workers=None,
    progress=False, **grid)``: ``grid`` (``mechanism_names``, ``seeds``,
    ``budgets``) builds :func:`compare_design`, which
    :func:`~simulator.experiments.sweep.run_grid` runs (``store`` keeps the
    runs, and a rerun into it resumes; ``executor``/``workers`` as for
    :func:`~simulator.experiments.sweep.sweep`).
    """,
)


def check_mechanisms(names: Sequence[str]) -> None:
    """Refuse an empty list, an unknown name or a repeated one (a repeat would
    count the same runs twice as independent samples)."""
    known = mechanisms.available()
    if not names:
        raise ValueError(f"mechanisms: name at least one; known: {', '.join(known)}")
    for name in names:
        if name not in known:
            raise ValueError(f"mechanisms: unknown mechanism {name!r}; known: {', '.join(known)}")
    repeated = sorted({n for n in names if list(names).count(n) > 1})
    if repeated:
        raise ValueError(f"mechanisms: {', '.join(repeated)} named more than once")


def summary_table(runs: pd.DataFrame, budget: float | None = None) -> pd.DataFrame:
    """Mean and 95% CI per mechanism of the headline figures (at one budget)."""
    if budget is not None:
        runs = runs[np.isclose(runs.budget, budget)]
    return cell_table(runs, ["mechanism"], headlines_of(runs))


def format_table(table: pd.DataFrame) -> str:
    """``mean [lo, hi]`` strings for printing."""
    return format_cells(table, ["mechanism"], ALL_HEADLINES)


def mechanism_table() -> pd.DataFrame:
    """One row per registered mechanism: its properties and source (what
    ``vickreyfeedback mechanisms`` prints)."""
    rows = []
    for name in mechanisms.available():
        m = mechanisms.get(name)
        rows.append({"mechanism": name, **dataclasses.asdict(m.properties), "source": m.source})
    return pd.DataFrame(rows)
