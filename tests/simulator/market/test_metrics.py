"""Per-round market metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest

import mechanisms
from simulator.market.metrics import (
    allocative_efficiency,
    cheapest_feasible_cost,
    gini,
    incentive_gap,
)


def test_gini():
    assert gini(np.array([1.0, 1.0, 1.0])) == 0.0
    assert gini(np.array([0.0, 0.0, 1.0])) == pytest.approx(2 / 3)
    assert gini(np.array([0.0, 0.0, 0.0, 5.0])) == pytest.approx(3 / 4)  # (n-1)/n
    assert gini(np.array([3.0, 1.0, 2.0])) == pytest.approx(2 / 9)  # order does not matter
    assert gini(np.zeros(4)) == 0.0
    assert math.isnan(gini(np.array([])))
    with pytest.raises(ValueError, match="non-negative"):
        gini(np.array([-1.0, 2.0]))
    with pytest.raises(ValueError, match="finite"):
        gini(np.array([np.nan, 2.0]))


def test_cheapest_feasible_cost_and_efficiency():
    nan = np.nan
    costs = np.array(
        [
            [0.5, nan, 0.1, 0.3],  # 2 bought: 0.1 + 0.3
            [nan, 0.2, nan, nan],  # 1 bought: 0.2
            [0.4, 0.9, 0.7, 0.8],  # 0 bought
        ]
    )
    assert cheapest_feasible_cost(costs, np.array([2, 1, 0])) == pytest.approx(0.6)
    with pytest.raises(ValueError, match="more labels"):
        cheapest_feasible_cost(costs, np.array([2, 2, 0]))
    with pytest.raises(ValueError):
        cheapest_feasible_cost(costs, np.array([2, 1]))
    assert allocative_efficiency(0.8, 0.6) == pytest.approx(0.75)
    assert allocative_efficiency(0.6, 0.6) == 1.0
    assert math.isnan(allocative_efficiency(0.0, 0.0))


def _round(name: str, T: int = 200, n: int = 6, k: int = 2, seed: int = 0):
    rng = np.random.default_rng(seed)
    costs = rng.random((T, n))
    asks = costs.copy()  # truthful asks
    asks[rng.random((T, n)) < 0.2] = np.nan
    mech = mechanisms.get(name)

    def run_batch_fn(a, source_row):
        # one tie-break draw per source row, shared by all its copies
        u = np.random.default_rng(0).random(asks.shape)[source_row]
        R = a.shape[0]
        out = mech.allocate(
            a, k, quality=None, reserve=np.full(R, 1.0), budget=np.full(R, np.inf), u=u
        )
        return out.won, out.payments

    return run_batch_fn, asks, costs


def test_incentive_gap_zero_for_vickrey():
    args = _round("vickrey")
    gap = incentive_gap(*args, sample=50, rng=np.random.default_rng(1))
    assert gap == pytest.approx(0.0, abs=1e-12)


def test_incentive_gap_positive_for_first_price():
    args = _round("first-price")
    gap = incentive_gap(*args, sample=50, rng=np.random.default_rng(1))
    assert gap > 0.01
    # a larger sample never shows a smaller gap on the same round
    assert incentive_gap(*args, sample=10_000, rng=np.random.default_rng(1)) >= gap


def test_incentive_gap_nothing_present():
    asks = np.full((3, 4), np.nan)

    def never_called(a, rows):
        raise AssertionError("no rows to run")

    zeros = np.zeros((3, 4))
    assert incentive_gap(never_called, asks, zeros, rng=np.random.default_rng(0)) == 0.0
