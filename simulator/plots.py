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
