"""Statistics over runs (simulator.analysis.statistics)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from simulator.analysis.statistics import cell_table, confidence_interval, paired_verdict


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
