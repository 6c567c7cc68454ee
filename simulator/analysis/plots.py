"""The standard figures, in one consistent style: the Okabe-Ito colour-blind-safe
palette, labelled axes with units, 95% confidence bands, saved as PNG and SVG.

Every figure function returns a ``matplotlib.figure.Figure`` (shown inline in
a notebook) and, given ``path``, also saves it as ``path.png`` and
``path.svg``. The figures are built with matplotlib's object API, not pyplot,
so they never open a window, need no display and leave no global state.

========================  =====================================================
figure                    what it shows
========================  =====================================================
:func:`over_rounds`       per-round metrics (price, markup, ...) over rounds,
                          mean and CI over replications; :func:`price_over_rounds`
:func:`cost_vs_budget`    accuracy and dollars per correct label against the
                          budget, one line per mechanism
:func:`metric_vs`         any metrics of a cell table against a numeric factor
:func:`cell_bars`         one bar per cell with CI error bars; :func:`efficiency_bars`
:func:`quality_vs_dollars`  model quality against dollars spent (dollar-efficiency)
========================  =====================================================

The CLI (``compare``, ``efficiency``, ``report``) and the notebooks use these
functions; nothing else in the project draws.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .statistics import cell_table, confidence_interval

OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000", "#F0E442")
MARKERS = "osD^v<>P"
PathLike = str | os.PathLike | None

LABELS = {
    "aggregated_accuracy": "aggregated label accuracy",
    "raw_accuracy": "label accuracy",
    "dollars_per_correct": "dollars per correct label ($)",
    "cost_per_correct": "dollars per correct label ($)",
    "annotator_profit": "annotators' total profit ($)",
    "profit_total": "annotators' profit ($)",
    "mean_markup_final": "mean markup, last round (ask / cost - 1)",
    "mean_markup": "mean markup (ask / cost - 1)",
    "mean_price": "mean price per label ($)",
    "labels_bought": "labels bought",
    "spend": "spend ($)",
    "efficiency": "allocative efficiency",
    "incentive_gap": "incentive gap ($)",
    "active_annotators": "active annotators",
    "budget": "total budget ($)",
    "correlation": "cost-quality correlation",
    "round": "round",
    "gain": "quality gain",
    "per_dollar": "quality gain per dollar",
    "quality_after": "model quality after training",
}
"""Axis labels (with units) of the metrics and factors."""


def label(name: str) -> str:
    """The axis label of a metric or factor (its name if none is known)."""
    return LABELS.get(name, name.replace("_", " "))


def save(fig, path: str | os.PathLike) -> list[Path]:
    """Save ``fig`` as PNG and SVG next to each other; returns both paths."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = [path.with_suffix(".png"), path.with_suffix(".svg")]
    fig.savefig(out[0], dpi=130)
    fig.savefig(out[1])
    return out


def _panels(n: int, *, width: float = 5.6, height: float = 3.9, cols: int = 2):
    from matplotlib.figure import Figure

    cols = min(n, cols)
    rows = (n + cols - 1) // cols
    fig = Figure(figsize=(width * cols, height * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, list(axes[:n])


def _finish(fig, axes, x: str, metrics: Sequence[str], legend: bool, path: PathLike):
    """Label the panels, add the legend, save if asked; return the figure."""
    from matplotlib.ticker import MaxNLocator

    for ax, m in zip(axes, metrics, strict=True):
        if x == "round":
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel(label(x))
        ax.set_ylabel(label(m))
        ax.grid(alpha=0.3)
    if legend:
        axes[0].legend(fontsize=8, frameon=False)
    if path is not None:
        save(fig, path)
    return fig


def _hue_groups(frame: pd.DataFrame, hue: Sequence[str]):
    hue = list(hue)
    if not hue:
        yield "", frame
        return
    for key, grp in frame.groupby(hue, sort=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        name = ", ".join(
            str(v) if len(hue) == 1 else f"{h}={v}" for h, v in zip(hue, key, strict=True)
        )
        yield name, grp


def _style(j: int) -> tuple[str, str]:
    return OKABE_ITO[j % len(OKABE_ITO)], MARKERS[j % len(MARKERS)]


# ------------------------------------------------------------------ figures


def metric_vs(
    cells: pd.DataFrame,
    x: str,
    metrics: Sequence[str],
    hue: Sequence[str] = (),
    *,
    path: PathLike = None,
):
    """Each metric against factor ``x``, one line per combination of ``hue``,
    with its 95% CI band. ``cells`` is a table of means and CIs
    (:func:`simulator.analysis.statistics.cell_table` grouped by ``[*hue, x]``)."""
    fig, axes = _panels(len(metrics))
    for j, (name, grp) in enumerate(_hue_groups(cells, hue)):
        grp = grp.sort_values(x)
        colour, marker = _style(j)
        for ax, m in zip(axes, metrics, strict=True):
            ax.plot(grp[x], grp[m], marker=marker, color=colour, label=name or None)
            ax.fill_between(
                grp[x], grp[f"{m}_lo"], grp[f"{m}_hi"], color=colour, alpha=0.15, linewidth=0
            )
    return _finish(fig, axes, x, metrics, bool(hue), path)


def cost_vs_budget(
    runs: pd.DataFrame, hue: Sequence[str] = ("mechanism",), *, path: PathLike = None
):
    """Aggregated accuracy and dollars per correct label against the total
    budget (in a response market: the gold accuracy of the pairs' order and
    dollars per pair), one line per mechanism, 95% CI bands over seeds.
    ``runs``: one row per run with ``budget``, the hue columns and the run's
    summary metrics (``simulator.compare_runs`` or ``simulator.load_results``)."""

    responses = "market" in runs and (runs["market"] == "responses").all()
    metrics = (
        ["order_accuracy", "dollars_per_pair"]
        if responses
        else ["aggregated_accuracy", "dollars_per_correct"]
    )
    cells = cell_table(runs, [*hue, "budget"], metrics)
    return metric_vs(cells, "budget", metrics, hue, path=path)


def over_rounds(
    rounds: pd.DataFrame,
    metrics: Sequence[str] = ("mean_price",),
    hue: Sequence[str] = ("mechanism",),
    *,
    path: PathLike = None,
    panel: tuple[float, float] = (5.6, 3.9),
    cols: int = 2,
):
    """Per-round metrics over rounds: the mean over the runs of each
    combination of ``hue`` (e.g. the seeds of a mechanism), with its 95% CI
    band. ``rounds``: one row per run and round (``load_results(store,
    table="rounds")``, or ``result.metrics`` with a ``mechanism`` column).
    ``panel`` is one panel's (width, height) in inches, ``cols`` panels a row."""

    fig, axes = _panels(len(metrics), width=panel[0], height=panel[1], cols=cols)
    for j, (name, grp) in enumerate(_hue_groups(rounds, hue)):
        colour, _ = _style(j)
        for ax, m in zip(axes, metrics, strict=True):
            stats = grp.groupby("round", sort=True)[m].apply(
                lambda s: confidence_interval(s.to_numpy(dtype=float))
            )
            mean, lo, hi = (np.array(v) for v in zip(*stats.to_numpy(), strict=True))
            ax.plot(stats.index, mean, color=colour, label=name or None)
            ax.fill_between(stats.index, lo, hi, color=colour, alpha=0.15, linewidth=0)
    return _finish(fig, axes, "round", metrics, bool(hue), path)


def price_over_rounds(
    rounds: pd.DataFrame, hue: Sequence[str] = ("mechanism",), *, path: PathLike = None
):
    """The mean price per label over rounds (:func:`over_rounds`)."""
    return over_rounds(rounds, ["mean_price"], hue, path=path)


def cell_bars(
    table: pd.DataFrame, by: Sequence[str], metrics: Sequence[str], *, path: PathLike = None
):
    """One bar per cell for each metric, with 95% CI error bars (``table``
    from :func:`simulator.analysis.statistics.cell_table`)."""
    fig, axes = _panels(len(metrics))
    by = list(by)
    names = [", ".join(str(r[b]) for b in by) if by else "all runs" for _, r in table.iterrows()]
    pos = np.arange(len(table))
    for ax, m in zip(axes, metrics, strict=True):
        err = np.vstack([table[m] - table[f"{m}_lo"], table[f"{m}_hi"] - table[m]])
        err = np.where(np.isfinite(err), err, 0.0)
        # colour by the first grouping column, in sorted order, as the line figures do
        first = table[by[0]] if by else pd.Series(range(len(table)))
        order = {v: i for i, v in enumerate(sorted(first.unique(), key=str))}
        colours = [OKABE_ITO[order[v] % len(OKABE_ITO)] for v in first]
        ax.bar(pos, table[m], color=colours, yerr=err, capsize=3)
        ax.set_xticks(pos, names, rotation=30, ha="right", fontsize=8)
        ax.set_ylabel(label(m))
        ax.grid(alpha=0.3, axis="y")
    if path is not None:
        save(fig, path)
    return fig


def efficiency_bars(
    runs: pd.DataFrame,
    by: Sequence[str] = ("mechanism",),
    metrics: Sequence[str] = ("efficiency", "dollars_per_correct"),
    *,
    path: PathLike = None,
):
    """Allocative efficiency (and dollars per correct label) per mechanism:
    bars with 95% CIs over the runs (one row per run)."""

    return cell_bars(cell_table(runs, by, metrics), by, metrics, path=path)


def quality_vs_dollars(
    curve: pd.DataFrame,
    *,
    ylabel: str = "model quality after training",
    y: str = "quality_after",
    path: PathLike = None,
):
    """Model quality against dollars spent, one line per mechanism with its 95%
    band over seeds (``curve`` from :func:`simulator.experiments.efficiency.budget_curve`:
    columns mechanism, spend, ``y``, ``y_lo``, ``y_hi``)."""
    fig = metric_vs(curve, "spend", [y], ["mechanism"])
    fig.axes[0].set_xlabel("dollars spent on labels ($)")
    fig.axes[0].set_ylabel(ylabel)
    if path is not None:
        save(fig, path)
    return fig
