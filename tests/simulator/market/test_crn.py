"""Common random numbers across the arms of a paired comparison, and the
vectorized crowd against the agents acting one by one."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from agents import strategies
from agents.strategies import Strategy
from simulator import MarketConfig, MarketModel
from simulator.market.model import AgentByAgentMarket

ARMS = ("vickrey", "first-price", "quality-vickrey", "vickrey-feedback", "fixed-price")


def _labels(mechanism: str, **fields) -> pd.DataFrame:
    model = MarketModel(mechanism=mechanism, seed=3, **fields)
    while model.running:
        model.step()
    t = model.labels_table()
    return t.assign(correct=t.label == t.true_label)[["round", "task", "annotator", "correct"]]


def test_a_label_is_equally_right_under_every_mechanism():
    """The same (task, annotator) label has the same correctness in every arm,
    in every round (the issue measured 73% in round 2 and 67% in round 4)."""
    fields = {"budget": 400.0, "n_annotators": 60, "exit_after": 1, "bid_cost": 0.002}
    arms = {m: _labels(m, **fields) for m in ARMS}
    base = arms["vickrey"]
    checked_rounds = set()
    for name, other in arms.items():
        if name == "vickrey":
            continue
        both = base.merge(other, on=["task", "annotator"], suffixes=("", "_other"))
        assert len(both) > 100, name
        assert (both.correct == both.correct_other).all(), name
        checked_rounds |= set(both["round"])
    assert max(checked_rounds) >= 4  # well past the first round, after exits


class _Jittery(Strategy):
    """A test strategy with state and randomness and no vectorized form: it
    runs in an ObjectPool, one instance per annotator."""

    name = "test-jittery"

    def __init__(self) -> None:
        self.extra = 0.0

    def ask(self, cost, info, rng):
        return float(cost) * (1.0 + self.extra + 0.1 * rng.random())

    def observe(self, feedback, info, rng):
        self.extra = 0.05 if feedback.wins == 0 else 0.0


@pytest.fixture
def jittery(monkeypatch):
    monkeypatch.setitem(strategies.registry._REGISTRY, _Jittery.name, _Jittery)


@pytest.mark.parametrize("mechanism", ["first-price", "vickrey-feedback"])
def test_the_crowd_acts_as_its_agents_one_by_one(mechanism, jittery):
    cfg = MarketConfig(
        mechanism=mechanism,
        budget=150.0,
        n_annotators=40,
        tasks_per_round=20,
        strategies={"learning": 0.4, "equilibrium": 0.3, "markup": 0.1, "test-jittery": 0.2},
        mix={"honest": 0.7, "spammer": 0.2, "adversary": 0.1},
        exit_after=2,
        bid_cost=0.003,
        entry_rate=1.0,
        incentive_sample=0,
        task_source="synthetic",
        seed=11,
    )
    runs = []
    for cls in (MarketModel, AgentByAgentMarket):
        model = cls(cfg)
        while model.running:
            model.step()
        runs.append(model)
    fast, slow = runs
    pd.testing.assert_frame_equal(fast.labels_table(), slow.labels_table(), rtol=1e-12)
    pd.testing.assert_frame_equal(fast.metrics_table(), slow.metrics_table(), rtol=1e-12)
    assert fast.metrics_table().entered.sum() > 0 and fast.metrics_table().exited.sum() > 0
    np.testing.assert_allclose(fast.crowd.profit, slow.crowd.profit, rtol=1e-12)
