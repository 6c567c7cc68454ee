"""The standard figures, in one consistent style (Okabe-Ito colour-blind-safe
palette, labelled axes with units), saved as PNG and SVG."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000", "#F0E442")
MARKERS = "osD^v<>P"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig, path: Path) -> list[Path]:
    """Save ``fig`` as PNG and SVG next to each other; returns both paths."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    out = [path.with_suffix(".png"), path.with_suffix(".svg")]
    fig.savefig(out[0], dpi=130)
    fig.savefig(out[1])
    return out


def plot_vs_budget(runs: pd.DataFrame, path: Path) -> list[Path]:
    """Aggregated accuracy and dollars per correct label against the budget,
    one line per mechanism, 95% CI bands over seeds."""
    from .metrics import confidence_interval

    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    panels = [
        ("aggregated_accuracy", "aggregated label accuracy"),
        ("dollars_per_correct", "dollars per correct aggregated label ($)"),
    ]
    for j, (name, grp) in enumerate(runs.groupby("mechanism", sort=True)):
        colour, marker = OKABE_ITO[j % len(OKABE_ITO)], MARKERS[j % len(MARKERS)]
        for ax, (col, _) in zip(axes, panels, strict=True):
            stats = [
                confidence_interval(g[col].to_numpy(dtype=float))
                for _, g in grp.groupby("budget", sort=True)
            ]
            budgets = np.array(sorted(grp.budget.unique()))
            mean, lo, hi = (np.array(v) for v in zip(*stats, strict=True))
            ax.plot(budgets, mean, marker=marker, color=colour, label=name)
            ax.fill_between(budgets, lo, hi, color=colour, alpha=0.15, linewidth=0)
    for ax, (_, label) in zip(axes, panels, strict=True):
        ax.set_xlabel("total budget ($)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, frameon=False)
    paths = save(fig, path)
    plt.close(fig)
    return paths


def plot_quality_vs_dollars(curve: pd.DataFrame, path: Path, *, ylabel: str) -> list[Path]:
    """Model quality against dollars spent, one line per mechanism with its 95%
    band over seeds (``curve`` from :func:`rlhf.efficiency.budget_curve`)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4.2), constrained_layout=True)
    for j, (name, grp) in enumerate(curve.groupby("mechanism", sort=True)):
        grp = grp.sort_values("spend")
        colour, marker = OKABE_ITO[j % len(OKABE_ITO)], MARKERS[j % len(MARKERS)]
        ax.plot(grp.spend, grp.quality_after, marker=marker, color=colour, label=name)
        ax.fill_between(
            grp.spend,
            grp.quality_after_lo,
            grp.quality_after_hi,
            color=colour,
            alpha=0.15,
            linewidth=0,
        )
    ax.set_xlabel("dollars spent on labels ($)")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, frameon=False)
    paths = save(fig, path)
    plt.close(fig)
    return paths


LABELS = {
    "aggregated_accuracy": "aggregated label accuracy",
    "raw_accuracy": "label accuracy",
    "dollars_per_correct": "dollars per correct label ($)",
    "cost_per_correct": "dollars per correct label ($)",
    "annotator_profit": "annotators' total profit ($)",
    "mean_markup_final": "mean markup, last round ($)",
    "mean_markup": "mean markup: ask - cost ($)",
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
}
"""Axis labels (with units) of the metrics and factors."""


def label(name: str) -> str:
    """The axis label of a metric or factor (its name if none is known)."""
    return LABELS.get(name, name.replace("_", " "))


def _hue_groups(frame: pd.DataFrame, hue: list[str]):
    if not hue:
        yield "", frame
        return
    for key, grp in frame.groupby(hue, sort=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        name = ", ".join(
            str(v) if len(hue) == 1 else f"{h}={v}" for h, v in zip(hue, key, strict=True)
        )
        yield name, grp


def _panels(plt, n: int):
    cols = min(n, 2)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(
        rows, cols, figsize=(5.6 * cols, 3.9 * rows), constrained_layout=True, squeeze=False
    )
    flat = axes.ravel()
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def plot_metrics_vs(
    cells: pd.DataFrame, x: str, hue: list[str], metrics: list[str], path: Path
) -> list[Path]:
    """Each metric against factor ``x``, one line per combination of ``hue``,
    with the 95% CI band (``cells`` from :func:`simulator.report.cell_table`)."""
    plt = _pyplot()
    fig, axes = _panels(plt, len(metrics))
    for j, (name, grp) in enumerate(_hue_groups(cells, hue)):
        grp = grp.sort_values(x)
        colour, marker = OKABE_ITO[j % len(OKABE_ITO)], MARKERS[j % len(MARKERS)]
        for ax, m in zip(axes, metrics, strict=True):
            ax.plot(grp[x], grp[m], marker=marker, color=colour, label=name or None)
            ax.fill_between(grp[x], grp[f"{m}_lo"], grp[f"{m}_hi"], color=colour, alpha=0.15,
                            linewidth=0)  # fmt: skip
    return _finish(plt, fig, axes, x, metrics, bool(hue), path)


def _finish(plt, fig, axes, x: str, metrics: list[str], legend: bool, path: Path) -> list[Path]:
    """Label the panels, add the legend, save (PNG + SVG) and close."""
    for ax, m in zip(axes, metrics, strict=True):
        if x == "round":
            from matplotlib.ticker import MaxNLocator

            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel(label(x))
        ax.set_ylabel(label(m))
        ax.grid(alpha=0.3)
    if legend:
        axes[0].legend(fontsize=8, frameon=False)
    paths = save(fig, path)
    plt.close(fig)
    return paths


def plot_cell_bars(
    table: pd.DataFrame, by: list[str], metrics: list[str], path: Path
) -> list[Path]:
    """One bar per cell for each metric, with 95% CI error bars."""
    plt = _pyplot()
    fig, axes = _panels(plt, len(metrics))
    names = [", ".join(str(r[b]) for b in by) if by else "all runs" for _, r in table.iterrows()]
    pos = np.arange(len(table))
    for ax, m in zip(axes, metrics, strict=True):
        err = np.vstack([table[m] - table[f"{m}_lo"], table[f"{m}_hi"] - table[m]])
        err = np.where(np.isfinite(err), err, 0.0)
        ax.bar(pos, table[m], color=[OKABE_ITO[i % len(OKABE_ITO)] for i in pos], yerr=err,
               capsize=3)  # fmt: skip
        ax.set_xticks(pos, names, rotation=30, ha="right", fontsize=8)
        ax.set_ylabel(label(m))
        ax.grid(alpha=0.3, axis="y")
    paths = save(fig, path)
    plt.close(fig)
    return paths


def plot_rounds(rounds: pd.DataFrame, hue: list[str], metrics: list[str], path: Path) -> list[Path]:
    """Per-round metrics over rounds: the mean over replications, one line per
    combination of ``hue``, with its 95% CI band."""
    from .metrics import confidence_interval

    plt = _pyplot()
    fig, axes = _panels(plt, len(metrics))
    for j, (name, grp) in enumerate(_hue_groups(rounds, list(hue))):
        colour = OKABE_ITO[j % len(OKABE_ITO)]
        for ax, m in zip(axes, metrics, strict=True):
            stats = grp.groupby("round", sort=True)[m].apply(
                lambda s: confidence_interval(s.to_numpy(dtype=float))
            )
            mean, lo, hi = (np.array(v) for v in zip(*stats.to_numpy(), strict=True))
            ax.plot(stats.index, mean, color=colour, label=name or None)
            ax.fill_between(stats.index, lo, hi, color=colour, alpha=0.15, linewidth=0)
    return _finish(plt, fig, axes, "round", metrics, bool(hue), path)
