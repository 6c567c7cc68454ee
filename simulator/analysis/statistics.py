"""Statistics over runs, each written once: the Student-t interval of a
mean (:func:`confidence_interval`), a paired comparison's verdict
(:func:`paired_verdict`), and per-cell tables of means with intervals
(:func:`cell_table`, :func:`format_cells`) that the comparison, the reports,
the figures and the notebooks share.

Pure functions of arrays and tables (numpy, scipy, pandas); imports nothing
from the project.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["cell_table", "confidence_interval", "format_cells", "paired_verdict"]


def confidence_interval(x: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and Student-t confidence interval of the mean.

    NaN values are dropped first. Returns ``(mean, low, high)``; with fewer
    than 2 values the interval is ``(nan, nan)`` (and the mean is NaN when
    there are none).
    """
    x = np.asarray(x, dtype=float).ravel()
    x = x[~np.isnan(x)]
    n = x.size
    if n == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(x.mean())
    if n < 2:
        return mean, float("nan"), float("nan")
    half = float(stats.t.ppf(0.5 + level / 2, df=n - 1) * x.std(ddof=1) / np.sqrt(n))
    return mean, mean - half, mean + half


def paired_verdict(diff: np.ndarray) -> dict:
    """Mean paired difference, its 95% t-interval and the verdict."""
    diff = np.asarray(diff, dtype=float)
    mean, lo, hi = confidence_interval(diff)
    verdict = "holds" if lo > 0 else "does not hold" if hi < 0 else "inconclusive"
    return {"mean_diff": mean, "lo": lo, "hi": hi, "n": int(diff.size), "verdict": verdict}


def cell_table(runs: pd.DataFrame, by: Sequence[str], metrics: Sequence[str]) -> pd.DataFrame:
    """Mean and 95% CI of each metric per cell (one row per combination of ``by``).

    Failed runs (``status == "error"``) are counted in ``failed`` and left
    out of the means. Columns: the ``by`` columns, ``runs``, ``failed``, and
    ``<metric>``, ``<metric>_lo``, ``<metric>_hi`` for each metric present.
    """
    by = list(by)
    metrics = [m for m in metrics if m in runs.columns]
    rows = []
    groups = runs.groupby(by, sort=True, dropna=False) if by else [((), runs)]
    for key, grp in groups:
        key = key if isinstance(key, tuple) else (key,)
        row: dict = dict(zip(by, key, strict=True))
        good = grp if "status" not in grp else grp[grp.status == "ok"]
        row["runs"] = len(good)
        row["failed"] = len(grp) - len(good)
        for col in metrics:
            mean, lo, hi = confidence_interval(good[col].to_numpy(dtype=float))
            row[col], row[f"{col}_lo"], row[f"{col}_hi"] = mean, lo, hi
        rows.append(row)
    return pd.DataFrame(rows)


def _num(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"


def format_cells(table: pd.DataFrame, by: Sequence[str], metrics: Sequence[str]) -> str:
    """The table as text, each metric as ``mean [lo, hi]``."""
    out = table[[*by, "runs", "failed"]].copy()
    for col in metrics:
        if col not in table:
            continue

        def fmt(r, c=col):
            if not np.isfinite(r[c]):
                return "n/a"
            if not np.isfinite(r[f"{c}_lo"]):
                return _num(r[c])
            return f"{_num(r[c])} [{_num(r[f'{c}_lo'])}, {_num(r[f'{c}_hi'])}]"

        out[col] = table.apply(fmt, axis=1) if len(table) else []
    return out.to_string(index=False)
