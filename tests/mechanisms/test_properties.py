"""Property tests (hypothesis) of what each mechanism claims: individual
rationality, budget feasibility and truthfulness in asks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import mechanisms

from .conftest import CASES, case_id

PROPERTY_SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])

money = st.floats(0.0, 2.0, allow_nan=False, allow_infinity=False)
# a coarse grid as well as arbitrary floats: ties are where rules go wrong
ask_value = st.one_of(money, st.integers(0, 8).map(lambda x: x / 8))


@st.composite
def instances(draw, n_min=1, n_max=8):
    n = draw(st.integers(n_min, n_max))
    asks = np.array(draw(st.lists(ask_value, min_size=n, max_size=n)))
    quality = np.array(
        draw(st.lists(st.integers(1, 8).map(lambda x: x / 8), min_size=n, max_size=n))
    )
    k = draw(st.integers(1, n + 1))
    reserve = draw(st.one_of(st.just(math.inf), money))
    budget = draw(st.one_of(st.just(math.inf), st.floats(0.0, 5.0)))
    if math.isinf(reserve) and math.isinf(budget):
        reserve = draw(money)  # some finite cap sets the price
    seed = draw(st.integers(0, 2**32 - 1))
    return asks, quality, k, reserve, budget, seed


def _cases(predicate):
    chosen = []
    for name, params in CASES:
        m = mechanisms.get(name, **params)
        if predicate(m.properties):
            chosen.append(pytest.param(name, params, id=case_id((name, params))))
    return chosen


@pytest.mark.parametrize(("name", "params"), _cases(lambda p: p.individually_rational))
@PROPERTY_SETTINGS
@given(inst=instances())
def test_individually_rational(name, params, inst):
    asks, quality, k, reserve, budget, seed = inst
    out = mechanisms.get(name, **params).run(
        asks, k, quality=quality, reserve=reserve, budget=budget, rng=seed
    )
    won = np.zeros(asks.size, bool)
    won[out.winners] = True
    assert (out.payments[won] >= asks[won]).all()
    assert (out.payments[~won] == 0).all()
    assert len(out.winners) <= k
    assert (asks[won] <= reserve).all()


@pytest.mark.parametrize(("name", "params"), _cases(lambda p: p.budget_feasible))
@PROPERTY_SETTINGS
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 12),
    k=st.integers(1, 6),
    reserve=st.floats(0.01, 3.0),
    grid=st.booleans(),
)
def test_never_exceeds_budget(name, params, seed, n, k, reserve, grid):
    g = np.random.default_rng(seed)
    T = 64
    asks = g.integers(0, 10, (T, n)) / 10 if grid else g.uniform(0, 2, (T, n))
    asks[g.random((T, n)) < 0.2] = np.nan
    budget = np.round(g.uniform(0, 3, T), g.integers(1, 17))  # exact and awkward budgets
    out = mechanisms.get(name, **params).run_batch(
        asks, k, quality=g.uniform(0.1, 1, (T, n)), reserve=reserve, budget=budget, rng=g
    )
    assert (out.totals <= budget).all()
    assert (out.n_won <= k).all()


def _utility_of_reports(mech, costs, i, reports, k, quality, reserve, budget, u):
    """Bidder i's utility (payment - cost if it wins) for each of its reports,
    the others asking their costs; tie-break uniforms u held fixed."""
    asks = np.tile(costs, (len(reports), 1))
    asks[:, i] = reports
    R = len(reports)
    out = mech.allocate(
        asks,
        k,
        quality=np.tile(quality, (R, 1)),
        reserve=np.full(R, reserve),
        budget=np.full(R, budget),
        u=np.tile(u, (R, 1)),
    )
    return np.where(out.won[:, i], out.payments[:, i] - costs[i], 0.0)


def _report_grid(costs, k, reserve, budget):
    """A fine grid over [0, 2.5] and over [0, per-label cap], plus every other
    ask, the reserve, the budget shares, and points just around each of them."""
    top = 2.5 if math.isinf(reserve) else reserve * 1.2 + 0.1
    cap = min(reserve, budget / k)
    marks = np.concatenate([costs, [reserve, budget], budget / np.arange(1, k + 2)])
    marks = marks[np.isfinite(marks)]
    nearby = np.concatenate([marks, marks * (1 + 1e-9) + 1e-12, marks * (1 - 1e-9) - 1e-12])
    fine = np.linspace(0, cap, 41) if math.isfinite(cap) else []
    grid = np.concatenate([np.linspace(0, top, 121), fine, nearby])
    return np.unique(grid[np.isfinite(grid) & (grid >= 0)])


@pytest.mark.parametrize(("name", "params"), _cases(lambda p: p.truthful))
@PROPERTY_SETTINGS
@given(inst=instances(n_min=1, n_max=6))
def test_truthful_no_profitable_misreport(name, params, inst):
    costs, quality, k, reserve, budget, seed = inst
    mech = mechanisms.get(name, **params)
    u = np.random.default_rng(seed).random(costs.size)
    for i in range(costs.size):
        reports = np.concatenate([[costs[i]], _report_grid(costs, k, reserve, budget)])
        util = _utility_of_reports(mech, costs, i, reports, k, quality, reserve, budget, u)
        assert util.max() <= util[0] + 1e-9, (
            f"bidder {i} (cost {costs[i]}) gains {util.max() - util[0]:.3g} by asking "
            f"{reports[util.argmax()]}"
        )


@PROPERTY_SETTINGS
@given(inst=instances(n_min=2, n_max=6))
def test_first_price_is_not_truthful(inst):
    """Whenever a winner's cost is below the (k+1)-th lowest cost (and the cap),
    raising its ask towards that value is profitable: the check finds it."""
    costs, quality, k, reserve, budget, seed = inst
    mech = mechanisms.get("first-price")
    cap = min(reserve, budget / k)
    order = np.sort(costs)
    assume(k < costs.size)
    ceiling = min(order[k], cap)
    winners = np.flatnonzero(costs < ceiling)
    assume(0 < winners.size <= k and ceiling - costs[winners].max() > 1e-6)
    i = int(winners[np.argmax(costs[winners])])
    u = np.random.default_rng(seed).random(costs.size)
    reports = np.concatenate([[costs[i]], _report_grid(costs, k, reserve, budget)])
    util = _utility_of_reports(mech, costs, i, reports, k, quality, reserve, budget, u)
    assert util.max() > util[0] + 1e-7


def test_first_price_deviation_worked_example():
    """Costs 0.1, 0.5, 0.9, one label: truthful earns 0; asking 0.45 earns 0.35."""
    m = mechanisms.get("first-price")
    truthful = m.run([0.1, 0.5, 0.9], 1, rng=0)
    shaded = m.run([0.45, 0.5, 0.9], 1, rng=0)
    assert truthful.payments[0] - 0.1 == 0.0
    assert shaded.winners.tolist() == [0]
    assert shaded.payments[0] - 0.1 == pytest.approx(0.35)


def test_vickrey_feedback_paper_reading_is_not_truthful():
    """Under the paper's reading a winner gains by raising its ask up to the cap."""
    m = mechanisms.get("vickrey-feedback", payment="paper")
    q = [0.9, 0.8, 0.7]
    honest = m.run([0.1, 0.1, 0.3], 2, quality=q, reserve=1.0, rng=0)
    greedy = m.run([0.9, 0.1, 0.3], 2, quality=q, reserve=1.0, rng=0)
    assert greedy.payments[0] - 0.1 > honest.payments[0] - 0.1
