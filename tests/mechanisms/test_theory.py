"""Textbook results reproduced by Monte Carlo (fixed seeds; tolerances from
the standard error) and worked examples from the literature."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

import mechanisms

T = 200_000
Z = 4.0  # |error| < 4 standard errors: a false alarm about once in 16,000 runs


def _assert_mean(sample: np.ndarray, expected: float) -> None:
    se = sample.std(ddof=1) / math.sqrt(sample.size)
    assert abs(sample.mean() - expected) < Z * se, (sample.mean(), expected, se)


@pytest.mark.parametrize(("n", "k"), [(2, 1), (5, 1), (10, 3), (20, 5)])
def test_vickrey_expected_total_payment(n, k):
    """k-unit Vickrey, i.i.d. U[0,1] costs, truthful asks: E[total] = k(k+1)/(n+1),
    i.e. k times the expected (k+1)-th order statistic."""
    costs = np.random.default_rng(n * 100 + k).random((T, n))
    out = mechanisms.get("vickrey").run_batch(costs, k, rng=1)
    assert (out.n_won == k).all()
    _assert_mean(out.totals, k * (k + 1) / (n + 1))


@pytest.mark.parametrize("n", [2, 4, 8])
def test_revenue_equivalence_first_price_equilibrium(n):
    """Single-unit first-price with the symmetric equilibrium ask
    b(c) = c + (1 - c)/n pays 2/(n+1) on average, the same as second price."""
    costs = np.random.default_rng(n).random((T, n))
    fp = mechanisms.get("first-price").run_batch(costs + (1 - costs) / n, 1, rng=2)
    sp = mechanisms.get("vickrey").run_batch(costs, 1, rng=2)
    _assert_mean(fp.totals, 2 / (n + 1))
    _assert_mean(sp.totals, 2 / (n + 1))
    # the same bidder wins in both (b is increasing): efficient allocation
    np.testing.assert_array_equal(fp.won, sp.won)


@pytest.mark.parametrize("value", [0.3, 0.8, 1.0])
def test_myerson_one_bidder_is_posted_price_at_half_value(value):
    costs = np.random.default_rng(3).random((T, 1))
    out = mechanisms.get("myerson", value=value).run_batch(costs, 1, rng=4)
    np.testing.assert_array_equal(out.won[:, 0], costs[:, 0] <= value / 2)
    np.testing.assert_allclose(out.payments[out.won], value / 2, rtol=1e-12)
    _assert_mean(out.totals, (value / 2) ** 2)  # P(c <= v/2) * v/2


def test_myerson_reserve_maximizes_buyer_surplus():
    """Among reserve prices r for a Vickrey auction, buyer surplus
    E[value * labels - payments] peaks at Myerson's r* = value/2 (U[0,1], n=3)."""
    value, n = 0.9, 3
    costs = np.random.default_rng(5).random((T, n))
    vick = mechanisms.get("vickrey")

    def surplus(reserve: float) -> float:
        out = vick.run_batch(costs, 1, reserve=reserve, rng=6)
        return float((value * out.n_won - out.totals).mean())

    best = mechanisms.get("myerson", value=value).run_batch(costs, 1, rng=6)
    s_star = float((value * best.n_won - best.totals).mean())
    assert s_star == pytest.approx(surplus(value / 2))
    for r in (0.2, 0.35, 0.55, 0.7, 0.9):
        assert s_star > surplus(r)


def test_myerson_general_distribution():
    """Exponential(1) costs: phi(c) = c + e^c - 1; r* = phi^{-1}(2) is found numerically."""
    dist = stats.expon()
    m = mechanisms.get("myerson", value=2.0, distribution=dist)
    r = m.reserve_star
    assert r + math.expm1(r) == pytest.approx(2.0, rel=1e-10)
    with pytest.raises(ValueError, match="not regular"):
        mechanisms.get("myerson", value=1.0, distribution=stats.beta(0.3, 0.3))


def test_quality_vickrey_with_equal_quality_is_vickrey():
    costs = np.random.default_rng(8).random((5000, 9))
    a = mechanisms.get("quality-vickrey").run_batch(
        costs, 3, quality=np.full(9, 0.8), reserve=1.0, rng=9
    )
    b = mechanisms.get("vickrey").run_batch(costs, 3, reserve=1.0, rng=9)
    np.testing.assert_array_equal(a.won, b.won)
    np.testing.assert_allclose(a.payments, b.payments, rtol=1e-12)


def test_quality_vickrey_worked_example():
    """asks (0.3, 0.1, 0.2, 0.25), quality (0.9, 0.6, 0.7, 0.8), k = 2: adjusted asks
    0.333, 0.167, 0.286, 0.3125; bidders 1, 2 win and are paid q_i * 0.3125."""
    out = mechanisms.get("quality-vickrey").run(
        [0.3, 0.1, 0.2, 0.25], 2, quality=[0.9, 0.6, 0.7, 0.8], reserve=1.0, rng=0
    )
    assert out.winners.tolist() == [1, 2]
    np.testing.assert_allclose(out.payments, [0, 0.6 * 0.3125, 0.7 * 0.3125, 0])


def test_budget_feasible_worked_example():
    """Budget 1, asks 0.1, 0.2, 0.3, 0.45, k = 4: c_(3) = 0.3 <= 1/3 but
    c_(4) = 0.45 > 1/4, so three win, each paid min(1/3, 0.45) = 1/3."""
    out = mechanisms.get("budget-feasible").run([0.3, 0.1, 0.45, 0.2], 4, budget=1.0, rng=0)
    assert out.winners.tolist() == [0, 1, 3]
    np.testing.assert_allclose(out.payments, [1 / 3, 1 / 3, 0, 1 / 3])
    assert out.total <= 1.0
    # with an ample budget it is the k-unit Vickrey auction
    costs = np.random.default_rng(10).random((2000, 6))
    a = mechanisms.get("budget-feasible").run_batch(costs, 2, budget=100.0, rng=1)
    b = mechanisms.get("vickrey").run_batch(costs, 2, budget=100.0, rng=1)
    np.testing.assert_array_equal(a.won, b.won)
    np.testing.assert_allclose(a.payments, b.payments)


def test_budget_feasible_buys_more_than_a_per_unit_cap():
    """With budget 1 and k = 4, asks 0.3 exceed the per-unit cap 1/4 that
    vickrey uses, but three of them fit the proportional share 1/3."""
    asks = [0.3, 0.3, 0.3, 0.3, 0.32]
    assert mechanisms.get("vickrey").run(asks, 4, budget=1.0, rng=0).winners.size == 0
    assert mechanisms.get("budget-feasible").run(asks, 4, budget=1.0, rng=0).winners.size == 3


def test_fixed_price_worked_example():
    m = mechanisms.get("fixed-price", price=0.4)
    out = m.run_batch(np.tile([0.1, 0.5, 0.3, 0.4, 0.2], (10_000, 1)), 2, rng=0)
    assert (out.n_won == 2).all()
    assert not out.won[:, 1].any()  # asks above the price never win
    np.testing.assert_allclose(out.won[:, [0, 2, 3, 4]].mean(0), 0.5, atol=0.02)
    assert (out.payments[out.won] == 0.4).all()
    # budget 1.0 buys two labels at 0.4, not three; exact budgets are used fully
    assert m.run([0.1, 0.2, 0.3], 3, budget=1.0, rng=0).winners.size == 2
    assert (
        mechanisms.get("fixed-price", price=1.0).run([0.1] * 4, 3, budget=3.0, rng=0).winners.size
        == 3
    )
