"""Populations: distributions, the cost-quality copula, types, reproducibility."""

from __future__ import annotations

import mesa
import numpy as np
import pytest
from scipy import stats

from agents import Annotator, PopulationSampler, make_population, strategies


def _model() -> mesa.Model:
    return mesa.Model(rng=np.random.default_rng(0))


def test_make_population_builds_annotators():
    model = _model()
    pop = make_population(
        model,
        50,
        mix={"honest": 0.6, "spammer": 0.2, "adversary": 0.2},
        strategies={"truthful": 0.5, "markup": 0.5},
        capacity=7,
        seed=1,
    )
    assert len(pop) == 50 and all(isinstance(a, Annotator) for a in pop)
    assert len(model.agents) == 50
    assert {a.kind for a in pop} == {"honest", "spammer", "adversary"}
    assert {a.strategy.name for a in pop} == {"truthful", "markup"}
    assert all(a.capacity == 7 for a in pop)
    assert all(a.quality == 0.5 for a in pop if a.kind == "spammer")
    # adversaries report the opposite of what they judge: accuracy 1 - q, q ~ Beta(7, 3)
    assert np.mean([a.quality for a in pop if a.kind == "adversary"]) < 0.5
    # stateless strategies share one instance per (name, params); learners get a row each
    learners = make_population(_model(), 6, strategies={"learning": 1.0}, seed=2)
    assert len({id(a.strategy) for a in learners}) == 6
    assert len({id(a.strategy) for a in pop if a.strategy.name == "markup"}) == 1


def test_adding_annotators_does_not_shift_draws():
    small = make_population(_model(), 10, correlation=0.5, seed=3)
    large = make_population(_model(), 40, correlation=0.5, seed=3)
    for a, b in zip(small, large, strict=False):
        assert (a.cost, a.quality, a.kind, a.strategy.name) == (
            b.cost,
            b.quality,
            b.kind,
            b.strategy.name,
        )
    # and their bids: a strategy's draws are keyed by (seed, round, annotator)
    learn = {"strategies": {"learning": 1.0}, "seed": 3}
    few, many = make_population(_model(), 10, **learn), make_population(_model(), 40, **learn)
    info = strategies.MarketInfo()
    for a, b in zip(few, many, strict=False):
        a.bid(info)
        b.bid(info)
        assert a.ask == b.ask


def test_marginals_and_correlation():
    ss = np.random.SeedSequence(7)
    cost = {"dist": "lognormal", "median": 0.25, "sigma": 0.5}
    quality = {"dist": "beta", "a": 7.0, "b": 3.0}
    for rho in (-0.8, 0.0, 0.8):
        sampler = PopulationSampler(ss, cost=cost, quality=quality, correlation=rho)
        draws = sampler.draw(3000)
        c, q = draws["cost"], draws["quality"]
        assert stats.kstest(c, stats.lognorm(s=0.5, scale=0.25).cdf).pvalue > 1e-3
        assert stats.kstest(q, stats.beta(7, 3).cdf).pvalue > 1e-3
        r = stats.spearmanr(c, q).statistic
        # Spearman's rho of a Gaussian copula: (6/pi) asin(rho/2)
        assert r == pytest.approx(6 / np.pi * np.arcsin(rho / 2), abs=0.05)


def test_spammers_are_cheaper_by_the_factor():
    ss = np.random.SeedSequence(2)
    kw = dict(
        cost={"dist": "uniform", "low": 0.1, "high": 0.5},
        quality={"dist": "beta", "a": 7.0, "b": 3.0},
        mix={"spammer": 1.0},
    )
    full = PopulationSampler(ss, **kw, spammer_cost=1.0).draw(5)
    half = PopulationSampler(ss, **kw, spammer_cost=0.5).draw(5)
    np.testing.assert_allclose(half["cost"], full["cost"] / 2)


def test_bad_population_parameters():
    with pytest.raises(ValueError, match="correlation"):
        make_population(_model(), 3, correlation=1.5)
    with pytest.raises(ValueError, match="cost dist"):
        make_population(_model(), 3, cost={"dist": "pareto"})
    with pytest.raises(ValueError, match="unknown strategy"):
        make_population(_model(), 3, strategies={"psychic": 1.0})


def test_annotator_observes_only_its_outcome():
    model = _model()
    a = Annotator(
        model,
        cost=0.2,
        quality=0.8,
        capacity=5,
        strategy=strategies.get("truthful"),
    )
    a.bid(strategies.MarketInfo())
    assert a.ask == 0.2 and a.claim == 0.8
    a.observe(strategies.MarketInfo(), bids=5, wins=2, revenue=0.7)
    assert a.profit == pytest.approx(0.3) and a.wins == 2 and a.negative_rounds == 0
    a.observe(strategies.MarketInfo(), bids=5, wins=3, revenue=0.0)
    assert a.profit == pytest.approx(-0.3) and a.negative_rounds == 1
    with pytest.raises(ValueError, match="quality"):
        Annotator(
            model,
            cost=0.2,
            quality=1.2,
            capacity=5,
            strategy=strategies.get("truthful"),
        )
