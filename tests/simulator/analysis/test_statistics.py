"""Statistics over runs (simulator.analysis.statistics)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from simulator.analysis.statistics import (
    cell_table,
    confidence_interval,
    marginal_efficiency,
    paired_verdict,
    rank_agreement,
)


def test_confidence_interval():
    mean, lo, hi = confidence_interval(np.array([1.0, 2.0, 3.0, 4.0, 5.0]))
    assert mean == 3.0
    half = 2.7764451051977987 * np.sqrt(2.5) / np.sqrt(5)  # t_{0.975, 4} * s / sqrt(n)
    assert (lo, hi) == pytest.approx((3.0 - half, 3.0 + half))
    # covers the true mean about 95 % of the time
    rng = np.random.default_rng(0)
    draws = rng.normal(1.0, 2.0, size=(2000, 10))
    covered = [lo <= 1.0 <= hi for _, lo, hi in map(confidence_interval, draws)]
    assert 0.93 < np.mean(covered) < 0.97
    assert confidence_interval(np.array([1.0, np.nan, 3.0]))[0] == 2.0
    m, lo, hi = confidence_interval(np.array([2.0]))
    assert m == 2.0 and math.isnan(lo) and math.isnan(hi)
    assert all(math.isnan(v) for v in confidence_interval(np.array([])))


def test_cell_table_counts_failures_and_gives_t_intervals():
    runs = pd.DataFrame(
        {
            "mechanism": ["a"] * 4 + ["b"] * 3,
            "status": ["ok", "ok", "ok", "error", "ok", "ok", "ok"],
            "spend": [1.0, 2.0, 4.0, np.nan, 3.0, 3.0, 6.0],
        }
    )
    t = cell_table(runs, ["mechanism"], ["spend", "not_a_column"]).set_index("mechanism")
    assert t.loc["a", "runs"] == 3 and t.loc["a", "failed"] == 1
    # scipy's t-interval of the three successful runs, not the code's own helper
    x = np.array([1.0, 2.0, 4.0])
    lo, hi = stats.t.interval(0.95, x.size - 1, loc=x.mean(), scale=stats.sem(x))
    got = (t.loc["a", "spend"], t.loc["a", "spend_lo"], t.loc["a", "spend_hi"])
    assert got == pytest.approx((x.mean(), lo, hi))
    assert "not_a_column" not in t.columns


@pytest.mark.parametrize("n", [3, 5, 10, 40])
def test_detectable_difference_is_detected_80_percent_of_the_time(n):
    """Simulated: paired differences with the reported minimum detectable mean
    (and the sample's sd) make scipy's one-sample t-test reject at 5% in 80%
    of 20,000 designs of n pairs (Monte Carlo error about 0.003)."""
    from simulator.analysis.statistics import detectable_difference

    diff = np.random.default_rng(n).normal(0.0, 2.0, n)
    mde = detectable_difference(diff)
    sims = np.random.default_rng(99).normal(mde, diff.std(ddof=1), (20_000, n))
    rejected = stats.ttest_1samp(sims, 0.0, axis=1).pvalue < 0.05
    assert abs(rejected.mean() - 0.8) < 0.012
    assert np.isnan(detectable_difference(diff[:1]))
    assert paired_verdict(diff)["detectable"] == mde


def test_marginal_efficiency_on_a_constructed_curve():
    """quality = 0.5 + 0.1 * sqrt(spend / 100) + a per-seed offset (common random
    numbers: it cancels in a paired slope). Between $100 and $400 the slope is
    (0.2 - 0.1) / 300 for every seed; the average efficiency at $400,
    0.2 / 400, is larger than that marginal one, as for any concave curve.
    A second rule spends only half its budget: its slopes are per dollar spent."""
    rows = []
    for seed in range(4):
        offset = 0.01 * seed
        for budget in (100.0, 400.0, 900.0):
            for name, share in (("full", 1.0), ("half", 0.5)):
                spend = budget * share
                q = 0.5 + 0.1 * math.sqrt(spend / 100) + offset
                rows.append({"mechanism": name, "seed": seed, "budget": budget,
                             "spend": spend, "quality_after": q})  # fmt: skip
    cells = pd.DataFrame(rows)
    out = marginal_efficiency(cells).set_index(["mechanism", "budget_from"])
    full = out.loc[("full", 100.0)]
    assert full.budget_to == 400.0 and full.seeds == 4
    assert full.marginal == pytest.approx(0.1 / 300)
    assert full.marginal_lo == pytest.approx(0.1 / 300) and full.marginal_hi == pytest.approx(
        0.1 / 300
    )
    assert out.loc[("full", 400.0)].marginal == pytest.approx(0.1 / 500)
    assert 0.2 / 400 > full.marginal  # average efficiency above the marginal one
    half = out.loc[("half", 100.0)]
    want = 0.1 * (math.sqrt(2) - math.sqrt(0.5)) / 150
    assert half.marginal == pytest.approx(want) and half.spend_to == 200.0
    # seeds whose spend did not move give no slope; noisy seeds give an interval
    cells.loc[(cells.mechanism == "full") & (cells.seed == 0), "spend"] = 50.0
    noisy = cells.assign(quality_after=cells.quality_after + 0.01 * np.sin(np.arange(len(cells))))
    got = marginal_efficiency(noisy).set_index(["mechanism", "budget_from"]).loc[("full", 100.0)]
    assert got.seeds == 3 and got.marginal_lo < got.marginal < got.marginal_hi
    with pytest.raises(ValueError, match="seed"):
        marginal_efficiency(cells.drop(columns="seed"))


def test_rank_agreement_interval_covers_the_population_spearman():
    """For a bivariate normal with correlation r, Spearman's population rho is
    (6 / pi) * arcsin(r / 2) (Pearson 1907): the 95% interval covers it in
    about 95% of samples of 12 cells (the size of an efficiency grid)."""
    rng = np.random.default_rng(0)
    r = 0.7
    truth = 6 / math.pi * math.asin(r / 2)
    cover, trials = 0, 600
    for _ in range(trials):
        xy = rng.multivariate_normal([0, 0], [[1, r], [r, 1]], size=12)
        got = rank_agreement(xy[:, 0], xy[:, 1])
        cover += got["lo"] <= truth <= got["hi"]
    assert 0.91 <= cover / trials <= 0.99
    same = rank_agreement([1, 2, 3, 4, 5], [10, 20, 30, 40, 50])
    assert same["rho"] == pytest.approx(1.0) and same["n"] == 5
    assert math.isnan(rank_agreement([1, 2, 3], [3, 2, 1])["lo"])  # n < 4: no interval
    assert rank_agreement([1, 2, np.nan, 4, 5], [1, 2, 3, 4, 5])["n"] == 4
