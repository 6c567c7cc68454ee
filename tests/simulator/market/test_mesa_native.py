"""The market is a Mesa model used the way Mesa models are used: keyword
parameters and ``seed`` (Mesa 3's conventions), ``running`` turning False on
the step that ends the market, one DataCollector row per step, annotators in
the model's AgentSet, and Mesa's own ``batch_run`` as an independent runner."""

from __future__ import annotations

import mesa
import pandas as pd
import pytest

from simulator import MarketConfig, run
from simulator.market.model import MarketModel

FAST = {"rounds": 4, "tasks_per_round": 60, "n_annotators": 40, "task_source": "synthetic"}


def test_batch_run_runs_and_gives_distinct_replicates():
    rows = mesa.batch_run(
        MarketModel,
        {"budget": [100, 200], "mechanism": ["vickrey", "first-price"]},
        iterations=3,
        max_steps=10,
        number_processes=1,
        display_progress=False,
    )
    df = pd.DataFrame(rows)
    assert len(df) == 2 * 2 * 3  # one final row per run
    assert set(df.iteration) == {0, 1, 2}
    for _, cell in df.groupby(["budget", "mechanism"]):
        # iterations are replicates with their own seeds, not three copies of one run
        assert cell.spend.nunique() == 3 or cell.aggregated_accuracy.nunique() == 3
        assert (cell.spend <= cell.budget + 1e-9).all()


def test_batch_run_with_seeds_matches_our_own_runner_step_by_step():
    rows = mesa.batch_run(
        MarketModel,
        {"seed": [1, 2], "mechanism": ["first-price"], **{k: [v] for k, v in FAST.items()}},
        iterations=1,
        max_steps=100,
        number_processes=1,
        data_collection_period=1,
        display_progress=False,
    )
    df = pd.DataFrame(rows)
    for seed, got in df.groupby("seed"):
        ours = run(MarketConfig(mechanism="first-price", seed=int(seed), **FAST)).metrics
        # one Mesa step per round, no extra no-op step
        assert got.Step.tolist() == list(range(len(ours)))
        for col in ("labels_bought", "spend", "aggregated_accuracy", "mean_price"):
            assert got[col].tolist() == pytest.approx(ours[col].tolist(), nan_ok=True)


def test_running_turns_false_on_the_step_that_ends_the_market():
    model = MarketModel(seed=3, mechanism="vickrey", **FAST)
    steps = 0
    while model.running:
        model.step()
        steps += 1
    assert steps == model.steps == FAST["rounds"]
    assert len(model.datacollector.get_model_vars_dataframe()) == model.steps
    # a budget that cannot pay one task at the reserve never starts
    idle = MarketModel(seed=3, budget=1.0, reserve=1.0, k=3, task_source="synthetic")
    assert not idle.running


def test_keyword_parameters_seed_and_config_agree():
    cfg = MarketConfig(mechanism="vickrey", seed=7, **FAST)
    a = MarketModel(cfg)
    b = MarketModel(seed=7, mechanism="vickrey", **FAST)
    c = MarketModel(config=MarketConfig(seed=0, **FAST), seed=7, mechanism="vickrey")
    assert a.config == b.config == c.config
    for m in (a, b, c):
        while m.running:
            m.step()
    assert a.metrics_table().equals(b.metrics_table())
    assert a.metrics_table().equals(c.metrics_table())
    # a Generator as rng seeds it reproducibly
    import numpy as np

    d = MarketModel(rng=np.random.default_rng(5), **FAST)
    e = MarketModel(rng=np.random.default_rng(5), **FAST)
    assert d.config.seed == e.config.seed
    with pytest.raises(ValueError, match="seed or rng"):
        MarketModel(seed=1, rng=2)
    with pytest.raises(ValueError, match="budgett"):
        MarketModel(budgett=5)


def test_annotators_live_in_the_models_agentset():
    model = MarketModel(seed=1, mechanism="vickrey", exit_after=1, bid_cost=0.05, **FAST)
    while model.running:
        model.step()
    assert model.annotators == list(model.agents)
    assert len(model.agents) == FAST["n_annotators"]
    active = model.active_annotators()
    assert isinstance(active, mesa.agent.AgentSet)
    assert [a.unique_id for a in active] == [a.unique_id for a in model.agents if a.active]
    assert len(active) < len(model.agents)  # some left, and stayed inspectable
