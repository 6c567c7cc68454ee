"""The common interface: registry, input validation, outcome shapes, the
random-number discipline and random tie-breaking."""

from __future__ import annotations

import math

import numpy as np
import pytest

import mechanisms
from mechanisms import BatchOutcome, Outcome

EXPECTED = {
    "vickrey",
    "first-price",
    "fixed-price",
    "vickrey-feedback",
    "quality-vickrey",
    "myerson",
    "budget-feasible",
}


def test_registry_lists_every_rule():
    assert EXPECTED <= set(mechanisms.available())
    assert mechanisms.available() == sorted(mechanisms.available())


def test_unknown_name_lists_known_mechanisms():
    with pytest.raises(ValueError, match="unknown mechanism 'dutch'") as err:
        mechanisms.get("dutch")
    for name in EXPECTED:
        assert name in str(err.value)


def test_unknown_parameter_is_named():
    with pytest.raises(ValueError, match=r"takes no parameter.*colour"):
        mechanisms.get("vickrey", colour="red")
    with pytest.raises(ValueError, match="payment must be one of"):
        mechanisms.get("vickrey-feedback", payment="cheap")
    with pytest.raises(ValueError, match="price"):
        mechanisms.get("fixed-price", price=-1)


def test_register_rejects_duplicate_name():
    class Impostor(mechanisms.Mechanism):
        name = "vickrey"
        properties = mechanisms.Properties(True, True, True)

        def allocate(self, asks, k, *, quality, reserve, budget, u):
            raise NotImplementedError

    with pytest.raises(ValueError, match="already registered"):
        mechanisms.register(Impostor)


def test_metadata_matches_behaviour(mech):
    """The ``Properties`` flags that strategies read describe what the rule
    does, on 400 random tasks: ``pay_as_bid`` iff every winner is paid
    exactly its own ask and the winners are the lowest asks;
    ``quality_aware`` iff the quality scores change some outcome."""
    assert isinstance(mech.properties, mechanisms.Properties)
    assert mech.source, "every mechanism cites its source"
    rng = np.random.default_rng(5)
    T, n, k = 400, 6, 2
    asks = rng.uniform(0.05, 0.9, (T, n))
    q = rng.uniform(0.55, 1.0, (T, n))
    out = mech.run_batch(asks, k, quality=q, reserve=1.0, rng=1)
    won = out.won
    paid_own_ask = np.allclose(out.payments[won], asks[won])
    lowest = np.sort(asks, axis=1)[:, k - 1 : k]
    lowest_win = bool(np.all(asks[won].reshape(-1) <= np.repeat(lowest, won.sum(axis=1))))
    assert mech.properties.pay_as_bid == (paid_own_ask and lowest_win)
    other = mech.run_batch(asks, k, quality=q[:, ::-1].copy(), reserve=1.0, rng=1)
    assert mech.properties.quality_aware == (not np.array_equal(other.won, won))


def _kw(mech, n, T=None):
    q = np.linspace(0.6, 0.95, n)
    if T is not None:
        q = np.broadcast_to(q, (T, n))
    return {"quality": q, "reserve": 1.0}


def test_outcome_shapes(mech):
    asks = np.array([0.3, 0.1, 0.2, 0.7, 0.4])
    out = mech.run(asks, 2, rng=0, **_kw(mech, 5))
    assert isinstance(out, Outcome)
    assert out.winners.dtype.kind == "i"
    assert out.payments.shape == (5,)
    assert out.total == pytest.approx(out.payments.sum())
    assert set(np.flatnonzero(out.payments > 0)) <= set(out.winners.tolist())
    batch = mech.run_batch(np.tile(asks, (4, 1)), 2, rng=0, **_kw(mech, 5, 4))
    assert isinstance(batch, BatchOutcome)
    assert batch.won.shape == batch.payments.shape == (4, 5)
    assert batch.won.dtype == bool
    assert batch.totals.shape == batch.n_won.shape == (4,)


def test_empty_batch(mech):
    out = mech.run_batch(np.empty((0, 3)), 1, rng=0, **_kw(mech, 3, 0))
    assert out.won.shape == (0, 3)


def test_absent_bidders_never_win(mech):
    asks = np.array([[np.nan, 0.1, np.nan, 0.2], [np.nan] * 4])
    out = mech.run_batch(asks, 1, rng=0, **_kw(mech, 4, 2))
    assert not out.won[np.isnan(asks)].any()
    assert out.payments[1].sum() == 0


@pytest.mark.parametrize(
    ("asks", "k", "match"),
    [
        ([0.1, -0.2], 1, "asks must be >= 0"),
        ([0.1, math.inf], 1, "finite"),
        ([0.1, math.nan], 1, "NaN"),
        ([[0.1, 0.2]], 1, "1-D"),
        ([0.1, 0.2], 0, "k .* >= 1"),
        ([0.1, 0.2], 1.5, "integer"),
        ([0.1, 0.2], True, "integer"),
    ],
)
def test_run_rejects_bad_input(mech, asks, k, match):
    with pytest.raises(ValueError, match=match):
        mech.run(asks, k, quality=[0.9, 0.8][: np.size(asks)] or None, reserve=1.0)


def test_bad_money_limits(mech):
    with pytest.raises(ValueError, match="reserve must be >= 0"):
        mech.run([0.1, 0.2], 1, quality=[0.9, 0.8], reserve=-1)
    with pytest.raises(ValueError, match="budget must be >= 0"):
        mech.run([0.1, 0.2], 1, quality=[0.9, 0.8], budget=math.nan)
    with pytest.raises(ValueError, match=r"budget must be a scalar or have one value per task"):
        mech.run_batch(np.ones((3, 2)), 1, quality=[0.9, 0.8], reserve=1, budget=[1.0, 2.0])


def test_run_batch_rejects_bad_input(mech):
    with pytest.raises(ValueError, match="2-D"):
        mech.run_batch(np.ones(3), 1, quality=np.ones(3), reserve=1)
    with pytest.raises(ValueError, match="finite"):
        mech.run_batch(np.array([[0.1, np.inf]]), 1, quality=[0.9, 0.8], reserve=1)
    with pytest.raises(ValueError, match=">= 0"):
        mech.run_batch(np.array([[0.1, -1.0]]), 1, quality=[0.9, 0.8], reserve=1)


def test_quality_shape_is_checked(mech):
    with pytest.raises(ValueError, match="quality must have"):
        mech.run([0.1, 0.2, 0.3], 1, quality=[0.9, 0.8], reserve=1)
    with pytest.raises(ValueError, match="quality must have"):
        mech.run_batch(np.ones((2, 3)), 1, quality=np.ones((3, 3)), reserve=1)


def test_quality_aware_rules_need_quality(mech):
    if not mech.properties.quality_aware:
        mech.run([0.1, 0.2], 1, reserve=1.0)  # quality is optional and ignored
        return
    with pytest.raises(ValueError, match="quality-aware: pass quality="):
        mech.run([0.1, 0.2], 1, reserve=1.0)
    with pytest.raises(ValueError, match="quality must be finite"):
        mech.run([0.1, 0.2], 1, quality=[0.9, math.nan], reserve=1.0)


def test_quality_vickrey_needs_positive_quality():
    with pytest.raises(ValueError, match="> 0"):
        mechanisms.get("quality-vickrey").run([0.1, 0.2], 1, quality=[0.9, 0.0], reserve=1)


@pytest.mark.parametrize("name", ["vickrey", "quality-vickrey", "budget-feasible"])
def test_price_needs_reserve_or_budget(name):
    m = mechanisms.get(name)
    with pytest.raises(ValueError, match="reserve or budget"):
        m.run([0.1, 0.2], 2, quality=[0.9, 0.8])
    # a reserve or a budget sets the price instead
    assert m.run([0.1, 0.2], 2, quality=[0.9, 0.8], reserve=0.5).total == pytest.approx(1.0)
    assert m.run([0.1, 0.2], 2, quality=[0.9, 0.8], budget=0.8).total <= 0.8


def test_vickrey_feedback_truthful_needs_finite_cap():
    m = mechanisms.get("vickrey-feedback", payment="truthful")
    with pytest.raises(ValueError, match="pays every winner the per-label cap"):
        m.run([0.1, 0.2, 0.3], 2, quality=[0.9, 0.8, 0.7])


def test_rng_discipline_run_equals_run_batch_rows(mech):
    """run_batch row t == the t-th of T successive run() calls on one generator."""
    data = np.random.default_rng(7)
    T, n, k = 60, 6, 2
    asks = data.integers(0, 4, (T, n)) / 4.0  # many ties, so tie-breaking matters
    qual = data.integers(1, 4, (T, n)) / 4.0
    batch = mech.run_batch(asks, k, quality=qual, reserve=0.8, rng=np.random.default_rng(3))
    gen = np.random.default_rng(3)
    for t in range(T):
        out = mech.run(asks[t], k, quality=qual[t], reserve=0.8, rng=gen)
        np.testing.assert_array_equal(np.sort(out.winners), np.flatnonzero(batch.won[t]))
        np.testing.assert_array_equal(out.winners, batch.outcome(t).winners)
        np.testing.assert_array_equal(out.payments, batch.payments[t])


def test_same_seed_same_outcome(mech):
    asks = np.random.default_rng(1).integers(0, 3, (50, 8)) / 3.0
    a = mech.run_batch(asks, 2, quality=np.ones(8) * 0.7, reserve=1.0, rng=11)
    b = mech.run_batch(asks, 2, quality=np.ones(8) * 0.7, reserve=1.0, rng=11)
    np.testing.assert_array_equal(a.won, b.won)
    np.testing.assert_array_equal(a.payments, b.payments)


def test_ties_broken_uniformly_not_by_index(mech):
    """Four bidders with identical asks and quality, one label: each wins ~1/4."""
    T = 20_000
    asks = np.full((T, 4), 0.2)
    out = mech.run_batch(asks, 1, quality=np.full(4, 0.8), reserve=0.5, rng=5)
    assert (out.n_won == 1).all()
    share = out.won.mean(axis=0)
    se = math.sqrt(0.25 * 0.75 / T)
    np.testing.assert_allclose(share, 0.25, atol=5 * se)


def test_tie_at_the_boundary_only_randomizes_the_tied():
    """asks 0.1 < 0.2 = 0.2 = 0.2, k = 2: bidder 0 always wins, one tied bidder joins."""
    out = mechanisms.get("vickrey").run_batch(
        np.tile([0.2, 0.1, 0.2, 0.2], (9000, 1)), 2, reserve=1.0, rng=2
    )
    assert out.won[:, 1].all()
    np.testing.assert_allclose(out.won[:, [0, 2, 3]].mean(0), 1 / 3, atol=0.03)
    assert (out.payments[out.won] == 0.2).all()
