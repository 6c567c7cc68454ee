"""The quality-vs-dollars curve behind ``vickreyfeedback efficiency``."""

from __future__ import annotations

import pandas as pd
import pytest
from scipy import stats

from simulator.experiments.efficiency import budget_curve


def test_budget_curve_has_confidence_bands():
    cells = pd.DataFrame(
        {
            "mechanism": ["v"] * 4,
            "budget": [10, 10, 20, 20],
            "spend": [9.0, 10.0, 19.0, 20.0],
            "quality_after": [0.6, 0.7, 0.7, 0.8],
        }
    )
    curve = budget_curve(cells)
    assert curve.spend.tolist() == [9.5, 19.5]
    assert curve.quality_after.tolist() == pytest.approx([0.65, 0.75])
    # two seeds per budget: mean +- t(0.975, 1) * sd / sqrt(2), by the textbook formula
    half = stats.t.ppf(0.975, 1) * pd.Series([0.6, 0.7]).std() / 2**0.5
    assert curve.quality_after_lo.tolist() == pytest.approx([0.65 - half, 0.75 - half])
    assert curve.quality_after_hi.tolist() == pytest.approx([0.65 + half, 0.75 + half])


def test_efficiency_runs_per_mechanism_budget_and_seed():
    from simulator import MarketConfig
    from simulator.experiments.efficiency import efficiency_runs

    cells = efficiency_runs(
        MarketConfig(n_annotators=40),
        mechanism_names=["vickrey", "vickrey-feedback"],
        budgets=[10.0, 20.0],
        seeds=2,
        heldout=60,
    )
    assert len(cells) == 2 * 2 * 2
    assert (cells.spend <= cells.budget).all()
    assert set(cells.columns) >= {
        "mechanism",
        "budget",
        "seed",
        "quality_after",
        "per_dollar",
        "label_accuracy",
        "n_pairs",
    }
    assert (cells.n_pairs > 0).all() and cells.quality_after.between(0, 1).all()
    from simulator.experiments.efficiency import budget_curve

    curve = budget_curve(cells)
    assert len(curve) == 4 and (curve.runs == 2).all()
    with pytest.raises(ValueError, match="heldout: must be an integer"):
        efficiency_runs(MarketConfig(), heldout=cells)
