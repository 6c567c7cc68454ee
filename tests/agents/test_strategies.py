"""Annotator bidding strategies: the shared contract (every registered
strategy), the equilibrium ask against auction theory, EXP3 learning in a toy
market, and the registry."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
from scipy import stats

from agents import strategies
from agents.strategies import MarketInfo, RoundFeedback, Strategy

#: market formats every strategy is exercised under.
INFOS = {
    "vickrey": MarketInfo(mechanism="vickrey", k=2, n_rivals=5),
    "first-price": MarketInfo(
        mechanism="first-price", k=1, n_rivals=4, reserve=0.9, cost_dist=stats.uniform()
    ),
    "vickrey-feedback": MarketInfo(
        mechanism="vickrey-feedback",
        k=2,
        n_rivals=4,
        reserve=1.0,
        cost_dist=stats.uniform(0.05, 0.75),
        quality_dist=stats.beta(7, 3),
    ),
}


@pytest.fixture(params=strategies.available())
def name(request) -> str:
    return request.param


@pytest.fixture(params=list(INFOS), ids=list(INFOS))
def info(request) -> MarketInfo:
    return INFOS[request.param]


def play_round(s: Strategy, info: MarketInfo, rng: np.random.Generator, env: np.random.Generator):
    """One round of a toy market: a fresh cost, 3 bids against uniform rival prices."""
    cost = float(env.uniform(0.05, 0.8))
    ask = s.ask(cost, info, rng)
    claim = s.claim(float(env.random()), info, rng, cost=cost)
    rivals = env.random(3)
    wins = int((rivals > ask).sum())
    revenue = wins * (ask if info.pay_as_bid else float(np.max(rivals)))
    fb = RoundFeedback(ask=ask, bids=3, wins=wins, revenue=revenue, cost=cost)
    s.observe(fb, info, rng)
    return cost, ask, claim


def play(s: Strategy, info: MarketInfo, seed: int, rounds: int) -> list[tuple]:
    rng, env = np.random.default_rng(seed), np.random.default_rng([seed, 1])
    return [play_round(s, info, rng, env) for _ in range(rounds)]


# ---------------------------------------------------------------- contract


def test_deterministic_under_seed(name, info):
    a = play(strategies.get(name), info, seed=7, rounds=20)
    b = play(strategies.get(name), info, seed=7, rounds=20)
    assert a == b


def test_asks_are_finite_nonnegative_and_not_below_cost(name, info):
    s = strategies.get(name)
    for cost, ask, _ in play(s, info, seed=3, rounds=20):
        assert isinstance(ask, float)
        assert math.isfinite(ask) and ask >= 0
        if not s.asks_below_cost:
            assert ask >= cost


def test_zero_cost_ask(name, info):
    ask = strategies.get(name).ask(0.0, info, np.random.default_rng(0))
    assert math.isfinite(ask) and ask >= 0


def test_pickle_round_trip_mid_run(name, info):
    s = strategies.get(name)
    rng, env = np.random.default_rng(11), np.random.default_rng([11, 1])
    for _ in range(10):
        play_round(s, info, rng, env)
    s2, rng2, env2 = pickle.loads(pickle.dumps((s, rng, env)))
    assert play_round(s, info, rng, env) == play_round(s2, info, rng2, env2)


def test_claim_is_a_float_in_unit_interval(name, info):
    s = strategies.get(name)
    for q in (0.0, 0.55, 1.0):
        c = s.claim(q, info, np.random.default_rng(0), cost=0.3)
        assert isinstance(c, float)
        assert 0.0 <= c <= 1.0


def test_markup_is_none_or_finite(name, info):
    s = strategies.get(name)
    play(s, info, seed=5, rounds=3)
    assert s.markup is None or math.isfinite(s.markup)


def test_params_rebuild_an_equal_strategy(name):
    s = strategies.get(name)
    assert strategies.get(name, **s.params()).params() == s.params()
    assert repr(s).startswith(type(s).__name__ + "(")


def test_each_get_is_a_new_instance(name):
    assert strategies.get(name) is not strategies.get(name)


# ---------------------------------------------------------------- simple rules


def test_truthful_and_markup_asks():
    rng, info = np.random.default_rng(0), MarketInfo()
    assert strategies.get("truthful").ask(0.3, info, rng) == 0.3
    s = strategies.get("markup", m=0.5)
    assert s.ask(0.4, info, rng) == pytest.approx(0.6)
    assert s.markup == 0.5
    with pytest.raises(ValueError, match="m must be"):
        strategies.get("markup", m=-0.1)


def test_quality_claims():
    rng, info = np.random.default_rng(0), MarketInfo(mechanism="vickrey-feedback")
    assert strategies.get("honest-claim").claim(0.7, info, rng, cost=0.2) == 0.7
    inflated = strategies.get("inflated-claim", delta=0.2)
    assert inflated.claim(0.7, info, rng, cost=0.2) == pytest.approx(0.9)
    assert inflated.claim(0.95, info, rng, cost=0.2) == 1.0
    assert inflated.ask(0.3, info, rng) == 0.3
    with pytest.raises(ValueError, match="delta"):
        strategies.get("inflated-claim", delta=-0.1)


# ---------------------------------------------------------------- equilibrium


def pay_as_bid(n_rivals: int, k: int = 1, dist=None, reserve: float = math.inf) -> MarketInfo:
    return MarketInfo(
        mechanism="first-price",
        k=k,
        n_rivals=n_rivals,
        reserve=reserve,
        cost_dist=stats.uniform() if dist is None else dist,
    )


@pytest.mark.parametrize("n", [2, 3, 5, 10, 30])
@pytest.mark.parametrize("c", [0.0, 0.1, 0.37, 0.8, 0.99])
def test_equilibrium_matches_uniform_closed_form(c, n):
    s = strategies.get("equilibrium")
    ask = s.ask(c, pay_as_bid(n - 1), np.random.default_rng(0))
    assert ask == pytest.approx(c + (1 - c) / n, abs=1e-6)
    assert s.markup == pytest.approx(ask / c - 1) if c > 0 else s.markup is None


@pytest.mark.parametrize("c", [0.5, 1.4, 2.9])
def test_equilibrium_closed_form_on_shifted_support(c):
    """U[1, 3], n = 4: b(c) = c + (3 - c) / 4 on the support; below it, b(lo)."""
    info = pay_as_bid(3, dist=stats.uniform(loc=1.0, scale=2.0))
    ask = strategies.get("equilibrium").ask(c, info, np.random.default_rng(0))
    expected = max(c, 1.0) + (3 - max(c, 1.0)) / 4
    assert ask == pytest.approx(expected, abs=1e-6)


def test_equilibrium_k2_matches_monte_carlo():
    """k = 2, 5 rivals: b(c) = E[Y | Y > c], Y = 2nd lowest rival cost."""
    rng = np.random.default_rng(2024)
    y = np.sort(rng.random((400_000, 5)), axis=1)[:, 1]
    for c in (0.05, 0.2, 0.45):
        mc = y[y > c].mean()
        ask = strategies.get("equilibrium").ask(c, pay_as_bid(5, k=2), rng)
        assert ask == pytest.approx(mc, abs=1e-2)
        assert ask == pytest.approx(
            strategies.pay_as_bid_ask(c, k=2, n_rivals=5, cost_dist=stats.uniform())
        )


def test_equilibrium_with_reserve_is_capped_and_matches_monte_carlo():
    """With a reserve r, b(c) = E[min(Y, r) | Y > c]; costs above r ask their cost."""
    rng = np.random.default_rng(5)
    y = np.sort(rng.random((400_000, 4)), axis=1)[:, 0]
    r, c = 0.5, 0.2
    ask = strategies.get("equilibrium").ask(c, pay_as_bid(4, reserve=r), rng)
    assert ask <= r
    assert ask == pytest.approx(np.minimum(y[y > c], r).mean(), abs=1e-2)
    assert strategies.get("equilibrium").ask(0.7, pay_as_bid(4, reserve=r), rng) == 0.7


def test_equilibrium_unbounded_support_and_no_rivals():
    rng = np.random.default_rng(0)
    ask = strategies.get("equilibrium").ask(0.8, pay_as_bid(20, k=3, dist=stats.norm(1, 0.2)), rng)
    assert math.isfinite(ask) and 0.8 < ask < 2.5
    # fewer rivals than units: always wins, asks the top of the range / the reserve
    assert strategies.get("equilibrium").ask(0.2, pay_as_bid(1, k=2), rng) == pytest.approx(1.0)
    assert strategies.get("equilibrium").ask(0.2, pay_as_bid(1, k=2, reserve=0.6), rng) == 0.6


def test_equilibrium_is_truthful_in_truthful_mechanisms():
    rng = np.random.default_rng(0)
    s = strategies.get("equilibrium")
    for info in (MarketInfo(), MarketInfo(cost_dist=stats.uniform(), k=3, reserve=0.5)):
        for c in (0.0, 0.3, 0.9):
            assert s.ask(c, info, rng) == c


def test_equilibrium_pay_as_bid_needs_a_prior():
    with pytest.raises(ValueError, match="cost_dist"):
        strategies.get("equilibrium").ask(
            0.3, MarketInfo(mechanism="first-price"), np.random.default_rng(0)
        )


# ---------------------------------------------------------------- learning


def toy_market(s: Strategy, rounds: int, seed: int) -> None:
    """Win probability falls steeply above markup 0.35; markup 0.3 is the best arm."""
    rng, env = np.random.default_rng(seed), np.random.default_rng(seed + 1)
    info, cost = MarketInfo(), 0.5
    for _ in range(rounds):
        ask = s.ask(cost, info, rng)
        m = ask / cost - 1
        win = int(env.random() < 1 / (1 + math.exp((m - 0.35) / 0.02)))
        s.observe(RoundFeedback(ask=ask, bids=1, wins=win, revenue=win * ask, cost=cost), info, rng)


@pytest.mark.parametrize("init", ["uniform", "truthful"])
def test_learning_moves_towards_the_best_markup(init):
    s = strategies.get("learning", init=init)
    start = s.markup
    toy_market(s, rounds=2_000, seed=1)
    assert abs(s.markup - 0.3) < abs(start - 0.3)
    if init == "uniform":
        best = s.grid.index(0.3)
        assert s.probabilities()[best] > 0.3


def test_learning_initial_state():
    assert strategies.get("learning", init="truthful").markup < 0.1
    uniform = strategies.get("learning")
    assert uniform.markup == pytest.approx(np.mean(uniform.grid))
    assert uniform.probabilities().sum() == pytest.approx(1.0)


def test_learning_caps_at_reserve_only_when_reserve_covers_cost():
    s = strategies.get("learning", grid=(1.0,))
    rng = np.random.default_rng(0)
    assert s.ask(0.4, MarketInfo(reserve=0.6), rng) == 0.6
    assert s.ask(0.4, MarketInfo(reserve=0.3), rng) == pytest.approx(0.8)


def test_learning_skips_rounds_without_bids():
    s = strategies.get("learning")
    rng, info = np.random.default_rng(0), MarketInfo()
    before = s.probabilities()
    ask = s.ask(0.5, info, rng)
    s.observe(RoundFeedback(ask=ask, bids=0, wins=0, revenue=0.0, cost=0.5), info, rng)
    np.testing.assert_array_equal(s.probabilities(), before)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"grid": ()}, "grid"),
        ({"grid": (-0.1,)}, "grid"),
        ({"gamma": 0.0}, "gamma"),
        ({"init": "x"}, "init"),
    ],
)
def test_learning_rejects_bad_params(params, match):
    with pytest.raises(ValueError, match=match):
        strategies.get("learning", **params)


# ---------------------------------------------------------------- registry and types


def test_unknown_strategy_lists_known_names():
    with pytest.raises(ValueError, match=r"unknown strategy 'nope'.*truthful"):
        strategies.get("nope")


def test_unknown_parameter_is_named():
    with pytest.raises(ValueError, match=r"'markup' takes no parameter.*bogus"):
        strategies.get("markup", bogus=1)
    with pytest.raises(ValueError, match=r"truthful.*m; it takes: none"):
        strategies.get("truthful", m=0.1)


def test_register_rejects_duplicates_and_nameless():
    class Other(Strategy):
        name = "truthful"

        def ask(self, cost, info, rng):
            return cost

    with pytest.raises(ValueError, match="already registered"):
        strategies.register(Other)

    class Nameless(Strategy):
        def ask(self, cost, info, rng):
            return cost

    with pytest.raises(TypeError, match="name"):
        strategies.register(Nameless)


def test_feedback_profit_and_info_validation():
    assert RoundFeedback(ask=0.5, bids=4, wins=2, revenue=1.0, cost=0.3).profit == pytest.approx(
        0.4
    )
    for bad in (
        {"k": 0},
        {"n_rivals": -1},
        {"reserve": -1.0},
        {"reserve": math.nan},
        {"budget": -1.0},
        {"mechanism": "nope"},
        {"mechanism": 3},
    ):
        with pytest.raises(ValueError):
            MarketInfo(**bad)
