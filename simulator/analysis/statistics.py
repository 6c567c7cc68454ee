"""Statistics over runs, each written once: the Student-t interval of a
mean (:func:`confidence_interval`), a paired comparison's verdict
(:func:`paired_verdict`), and per-cell tables of means with intervals
(:func:`cell_table`, :func:`format_cells`) that the comparison, the reports,
the figures and the notebooks share.

Pure functions of arrays and tables (numpy, scipy, pandas); imports nothing
from the project.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

__all__ = [
    "cell_table", "confidence_interval", "detectable_difference", "format_cells",
    "format_interval", "paired_verdict",
]  # fmt: skip


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
    """Mean paired difference, its 95% t-interval, the verdict, and the
    smallest true difference the design would detect with 80% power
    (:func:`detectable_difference`)."""
    diff = np.asarray(diff, dtype=float)
    mean, lo, hi = confidence_interval(diff)
    verdict = "holds" if lo > 0 else "does not hold" if hi < 0 else "inconclusive"
    return {"mean_diff": mean, "lo": lo, "hi": hi, "n": int(diff.size), "verdict": verdict,
            "detectable": detectable_difference(diff)}  # fmt: skip


def detectable_difference(diff: np.ndarray, power: float = 0.8, alpha: float = 0.05) -> float:
    """The smallest mean paired difference a two-sided paired t-test at level
    ``alpha`` detects with probability ``power``, for the spread of ``diff``
    (its sample sd taken as the true one) and its number of pairs n: the
    minimum detectable effect, solved exactly from the power of the t-test,
    whose statistic follows a noncentral t with n - 1 degrees of freedom and
    noncentrality delta sqrt(n) / sd (Cohen 1988, *Statistical Power
    Analysis*, ch. 2). NaN with fewer than 2 pairs or no spread."""
    from scipy import optimize

    x = np.asarray(diff, dtype=float).ravel()
    x = x[~np.isnan(x)]
    n = x.size
    if n < 2 or not x.std(ddof=1) > 0:
        return float("nan")
    df, tc = n - 1, stats.t.ppf(1 - alpha / 2, df=n - 1)

    def shortfall(nc: float) -> float:
        # the far tail underflows to NaN in scipy at small df and large nc: it is 0
        upper = float(np.nan_to_num(stats.nct.sf(tc, df, nc), nan=1.0))
        lower = float(np.nan_to_num(stats.nct.cdf(-tc, df, nc), nan=0.0))
        return upper + lower - power

    # the normal-approximation answer (t quantiles) is close; bracket around it
    guess = tc + stats.t.ppf(power, df=df)
    nc = optimize.brentq(shortfall, 0.0, 2.0 * guess, xtol=1e-10)
    return float(nc * x.std(ddof=1) / np.sqrt(n))


def marginal_efficiency(
    cells: pd.DataFrame,
    *,
    x: str = "spend",
    y: str = "quality_after",
    by: str = "mechanism",
    level: float = 0.95,
) -> pd.DataFrame:
    """The marginal dollar-efficiency: the slope of ``y`` against ``x`` between
    consecutive budgets, per ``by`` group, paired over seeds.

    The average efficiency ``(quality - 0.5) / spend`` favours whoever spends
    least (a rule that spends $10 for a small gain beats one that spends $100
    for a large one); the marginal one asks what the next dollar buys. For
    each pair of consecutive budgets b < b' and each seed run at both, the
    slope is ``(y(b') - y(b)) / (x(b') - x(b))`` (common random numbers: the
    same seed's markets at both budgets); a seed whose spend did not change
    (the budget did not bind) gives no slope. Returns one row per (group, b,
    b'): ``budget_from``, ``budget_to``, ``spend_from``, ``spend_to`` (means),
    ``marginal`` (mean slope), its t-interval ``marginal_lo`` /
    ``marginal_hi`` (:func:`confidence_interval`) and ``seeds`` (slopes used).
    """
    need = {x, y, by, "budget", "seed"} - set(cells.columns)
    if need:
        raise ValueError(f"cells lacks the column(s) {sorted(need)}")
    rows = []
    for name, grp in cells.groupby(by, sort=True):
        wide_y = grp.pivot_table(index="seed", columns="budget", values=y, aggfunc="mean")
        wide_x = grp.pivot_table(index="seed", columns="budget", values=x, aggfunc="mean")
        budgets = sorted(wide_y.columns)
        for b0, b1 in itertools.pairwise(budgets):
            dx = (wide_x[b1] - wide_x[b0]).to_numpy(float)
            dy = (wide_y[b1] - wide_y[b0]).to_numpy(float)
            ok = np.isfinite(dx) & np.isfinite(dy) & (dx != 0)
            mean, lo, hi = confidence_interval(dy[ok] / dx[ok], level)
            rows.append(
                {by: name, "budget_from": b0, "budget_to": b1,
                 "spend_from": float(wide_x[b0].mean()), "spend_to": float(wide_x[b1].mean()),
                 "marginal": mean, "marginal_lo": lo, "marginal_hi": hi, "seeds": int(ok.sum())}
            )  # fmt: skip
    return pd.DataFrame(rows)


def rank_agreement(x, y, level: float = 0.95) -> dict:
    """Spearman's rank correlation of ``x`` and ``y`` (e.g. the proxy's and the
    fine-tuned model's quality over the same cells) with a confidence
    interval: Fisher's z = atanh(rho) with the standard error
    sqrt((1 + rho^2 / 2) / (n - 3)) of Bonett & Wright (2000, Psychometrika
    65: "Sample size requirements for estimating Pearson, Kendall and
    Spearman correlations"). Pairs with a NaN are dropped; with fewer than 4
    the interval is NaN. Returns ``{"rho", "lo", "hi", "n"}``."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    n = int(x.size)
    if n < 2:
        return {"rho": float("nan"), "lo": float("nan"), "hi": float("nan"), "n": n}
    rho = float(stats.spearmanr(x, y).statistic)
    if n < 4 or not np.isfinite(rho):
        return {"rho": rho, "lo": float("nan"), "hi": float("nan"), "n": n}
    z = np.arctanh(np.clip(rho, -1 + 1e-12, 1 - 1e-12))
    half = stats.norm.ppf(0.5 + level / 2) * np.sqrt((1 + rho**2 / 2) / (n - 3))
    return {"rho": rho, "lo": float(np.tanh(z - half)), "hi": float(np.tanh(z + half)), "n": n}


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


def format_interval(mean: float, lo: float, hi: float, digits: int = 3) -> str:
    """``"mean [lo, hi]"`` with ``digits`` decimals, or ``"mean"`` alone where
    there is no interval (one seed: :func:`confidence_interval` gives NaN bounds)."""
    if not np.isfinite(lo):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


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
