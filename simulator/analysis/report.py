"""Per-cell summaries of many runs: the table and figures behind
``vickreyfeedback report``.

A *cell* is one combination of the factors a sweep varies (say mechanism x
budget); its runs are the replications (seeds). :func:`~simulator.analysis.statistics.cell_table`
gives each cell's mean and 95% t confidence interval (over replications) of
the headline metrics; :func:`report` does it for a sweep store and writes the
standard figures (:mod:`simulator.analysis.plots`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from ..experiments.store import factors as store_factors
from ..experiments.store import load_results
from ..files import atomic_write
from ..market.results import headlines_of
from . import plots
from .statistics import cell_table

__all__ = ["FIGURE_METRICS", "ROUND_METRICS", "pick_x", "report"]

FIGURE_METRICS = ("aggregated_accuracy", "dollars_per_correct", "annotator_profit",
                  "mean_markup_final", "order_accuracy", "dollars_per_pair", "chosen_reward",
                  "embedding_diversity")  # fmt: skip
"""Metrics the report plots against a numeric factor (those a store has: the
first four in a label market, the last four in a response market)."""
ROUND_METRICS = ("mean_price", "mean_markup", "active_annotators")
"""Per-round metrics the report plots over rounds."""


def pick_x(runs: pd.DataFrame, factors: Sequence[str]) -> str | None:
    """The factor to put on a figure's x axis: ``budget`` if varied, else the
    numeric factor with the most values (None if no factor is numeric)."""
    numeric = [
        f for f in factors
        if f in runs and pd.api.types.is_numeric_dtype(runs[f]) and runs[f].nunique() > 1
    ]  # fmt: skip
    if not numeric:
        return None
    if "budget" in numeric:
        return "budget"
    return max(numeric, key=lambda f: runs[f].nunique())


_NOT_METRICS = ("cell", "replication", "seed", "elapsed_s")
"""Numeric columns of a store that are bookkeeping, not metrics."""


def check_metrics(
    store: str | os.PathLike, metrics: Sequence[str], runs: pd.DataFrame | None = None
) -> list[str]:
    """``metrics`` if each is a numeric metric column of the store (not a factor
    or bookkeeping), else a one-line ValueError naming the unknown ones and
    listing the store's metrics."""
    runs = load_results(store) if runs is None else runs
    by = store_factors(store, runs)
    metrics = list(metrics)
    numeric = [c for c in runs.columns if pd.api.types.is_numeric_dtype(runs[c])]
    known = [c for c in numeric if c not in by and c not in _NOT_METRICS]
    unknown = [m for m in metrics if m not in known]
    if unknown or not metrics:
        raise ValueError(
            f"metrics: {', '.join(map(repr, unknown)) or 'none given'} "
            f"{'is' if len(unknown) == 1 else 'are'} not a metric of this store; its "
            f"metrics: {', '.join(known)}"
        )
    return metrics


def report(
    store: str | os.PathLike,
    out: str | os.PathLike | None = None,
    *,
    metrics: Sequence[str] | None = None,
    figures: bool = True,
) -> tuple[pd.DataFrame, list[Path]]:
    """Per-cell means with 95% CIs of a sweep store, and its standard figures.

    Writes ``cells.csv`` / ``cells.parquet`` and the figures (PNG + SVG) into
    ``out`` (default ``<store>/report``): each figure metric against the main
    numeric factor (one line per combination of the other factors, CI bands),
    or bars per cell when no factor is numeric; and, when the store has
    per-round tables, the per-round metrics over rounds.

    ``metrics`` defaults to the headline metrics of the store's market
    (:func:`simulator.market.results.headlines_of`). Returns ``(cells, figure paths)``.
    """
    runs = load_results(store)
    if runs.empty:
        raise ValueError(f"{store}: the store holds no runs yet")
    by = store_factors(store, runs)
    if metrics is not None:
        metrics = check_metrics(store, metrics, runs)
    table = cell_table(runs, by, headlines_of(runs) if metrics is None else metrics)
    out = Path(out) if out is not None else Path(store) / "report"
    atomic_write(out / "cells.csv", lambda p: table.to_csv(p, index=False))
    atomic_write(out / "cells.parquet", lambda p: table.to_parquet(p, index=False))
    paths: list[Path] = []
    fig_metrics = [m for m in FIGURE_METRICS if m in runs and runs[m].nunique() > 1]
    if not figures or not fig_metrics:  # nothing varies (one run, or every run failed)
        return table, paths
    x = pick_x(runs, by)
    hue = [f for f in by if f != x]
    if x is not None:
        fig = plots.metric_vs(cell_table(runs, [*hue, x], fig_metrics), x, fig_metrics, hue)
        paths += plots.save(fig, out / f"metrics_vs_{x.replace('.', '_')}")
    else:
        bars = plots.cell_bars(cell_table(runs, by, fig_metrics), by, fig_metrics)
        paths += plots.save(bars, out / "metrics_by_cell")
    try:
        rounds = load_results(store, table="rounds")
    except Exception:  # a store without per-round tables
        rounds = None
    if (
        rounds is not None
        and len(rounds)
        and any(m in rounds and rounds[m].nunique() > 1 for m in ROUND_METRICS)
    ):
        rm = [m for m in ROUND_METRICS if m in rounds and rounds[m].nunique() > 1]
        name = "rounds"
        if x is not None:  # one line per combination of the other factors, at the largest x
            top = rounds[x].max()
            rounds = rounds[rounds[x] == top]
            name = f"rounds_at_{x.replace('.', '_')}_{top:g}"
        fig = plots.over_rounds(rounds, rm, hue if x is not None else by)
        paths += plots.save(fig, out / name)
    return table, paths
