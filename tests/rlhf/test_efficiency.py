"""Dollar-efficiency: training pairs from a market dataset, the proxy score,
the budget curve; and the market on the task world."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from rlhf.dpo import qa_dpo_weights
from rlhf.efficiency import dollar_efficiency, training_pairs
from rlhf.taskworld import shipped_pairs


def _dataset() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "prompt": ["p1", "p2", "p3"],
            "response_a": ["a1", "a2", "a3"],
            "response_b": ["b1", "b2", "b3"],
            "label": np.array([1, 0, -1], dtype=np.int8),
            "true_label": np.array([1, 1, 0], dtype=np.int8),
            "n_labels": [3, 2, 0],
            "bid_a": [0.7, 1.5, 0.0],
            "bid_b": [2.1, 0.6, 0.0],
        }
    )


def test_training_pairs_follow_the_aggregated_label():
    pairs = training_pairs(_dataset())
    assert len(pairs) == 2  # the unlabeled task is dropped
    assert pairs.chosen.tolist() == ["b1", "a2"] and pairs.rejected.tolist() == ["a1", "b2"]
    assert pairs.b_chosen.tolist() == [2.1, 1.5] and pairs.b_rejected.tolist() == [0.7, 0.6]
    assert pairs.correct.tolist() == [True, False]
    w = qa_dpo_weights(pairs.b_chosen, pairs.b_rejected)
    assert w[0] == pytest.approx(0.5 + 1 / (1 + math.exp(-1.4)))
    with pytest.raises(ValueError, match="lacks columns"):
        training_pairs(_dataset().drop(columns="prompt"))


def test_gold_questions_train_on_the_known_answer():
    d = _dataset().assign(gold=[True, True, False])
    pairs = training_pairs(d)
    assert pairs.chosen.tolist() == ["b1", "b2"]  # task 2's wrong vote is overruled
    assert pairs.correct.all()


def test_noisy_market_labels_give_a_worse_proxy_than_clean_ones():
    """The same bought pairs with aggregated labels 35% wrong teach the proxy
    reward model less than with the gold labels."""
    train = shipped_pairs("train").iloc[:400]
    held = shipped_pairs("heldout").iloc[:150]
    rng = np.random.default_rng(0)
    clean = train.assign(true_label=train.label, n_labels=3)
    flip = rng.random(len(train)) < 0.35
    noisy = clean.assign(label=np.where(flip, 1 - clean.label, clean.label))
    a = dollar_efficiency(clean, 100.0, held, trainer="proxy")
    b = dollar_efficiency(noisy, 100.0, held, trainer="proxy")
    assert a["quality_after"] > b["quality_after"]
    assert a["label_accuracy"] == 1.0 and b["label_accuracy"] == pytest.approx(1 - flip.mean())
    assert a["per_dollar"] == pytest.approx((a["quality_after"] - 0.5) / 100.0)
    none = dollar_efficiency(clean.iloc[:0], 0.0, held)
    assert none["gain"] == 0 and math.isnan(none["per_dollar"])


def test_market_on_the_task_world_records_texts_and_claims():
    from simulator import MarketConfig, run

    res = run(MarketConfig(mechanism="vickrey-feedback", budget=30.0, n_annotators=40))
    d = res.dataset
    assert {"prompt", "response_a", "response_b", "bid_a", "bid_b"} <= set(d.columns)
    labeled = d[d.n_labels > 0]
    np.testing.assert_allclose(
        labeled.bid_a + labeled.bid_b,
        res.labels.groupby("task").quality_claim.sum().loc[labeled.task].to_numpy(),
    )
    pairs = shipped_pairs("train")
    np.testing.assert_array_equal(d.true_label, pairs.label.to_numpy()[d.task])
    assert (d.prompt.to_numpy() == pairs.prompt.to_numpy()[d.task]).all()


def test_dollar_efficiency_takes_a_market_result():
    from simulator import MarketConfig, run

    res = run(MarketConfig(mechanism="vickrey", budget=15.0, n_annotators=40))
    held = shipped_pairs("heldout").iloc[:40]
    a = dollar_efficiency(res, heldout=held)
    b = dollar_efficiency(res.dataset, res.summary["spend"], held)
    assert a == b and a["spend"] == res.summary["spend"] > 0
    with pytest.raises(ValueError, match="spend"):
        dollar_efficiency(res.dataset, heldout=held)


def test_bids_never_reveal_private_quality():
    """Where the mechanism collects no claims, the bids behind a side are the
    buyer's accuracy estimates (the population prior 0.7 before any gold
    answer), not the annotators' private qualities."""
    from simulator import MarketConfig, run

    res = run(MarketConfig(mechanism="vickrey", budget=10.0, n_annotators=40, gold_rate=0.0))
    assert res.labels.quality_claim.isna().all()  # vickrey collects no claims
    labeled = res.dataset[res.dataset.n_labels > 0]
    np.testing.assert_allclose(labeled.bid_a + labeled.bid_b, 0.7 * labeled.n_labels)


def test_evaluate_reports_reward_accuracy_and_kl():
    from rlhf.evaluation import evaluate
    from rlhf.models import load_policy

    model, tok = load_policy("tiny")
    ref, _ = load_policy("tiny")
    out = evaluate(
        model,
        tok,
        ref_model=ref,
        prompts=shipped_pairs("heldout").prompt[:3].tolist(),
        pairs=shipped_pairs("heldout").iloc[:4],
        n=1,
        max_new_tokens=4,
    )
    assert out["kl"] == pytest.approx(0.0, abs=1e-5)  # the policy is its reference
    assert out["preference_accuracy"] == 0.5  # no implicit reward yet: every pair ties
    assert -1.5 <= out["gold_reward"] <= 1.0 and out["n_replies"] == 3


@pytest.mark.parametrize("trainer", ["dpo", "qa-dpo"])
def test_dpo_trainers_are_wired_end_to_end(trainer):
    """dollar_efficiency with a DPO trainer fine-tunes a fresh policy on the
    bought pairs and scores held-out gold pairs (tiny model: wiring only)."""
    train = shipped_pairs("train").iloc[:12]
    d = train.assign(true_label=train.label, n_labels=2, bid_a=1.0, bid_b=0.5)
    out = dollar_efficiency(
        d,
        5.0,
        shipped_pairs("heldout").iloc[:6],
        trainer=trainer,
        model_name="tiny",
        epochs=1,
        batch_size=4,
        max_length=64,
    )
    assert out["quality_before"] == 0.5 and out["n_pairs"] == 12
    assert 0.0 <= out["quality_after"] <= 1.0
    assert out["per_dollar"] == pytest.approx((out["quality_after"] - 0.5) / 5.0)


@pytest.mark.parametrize(
    "n, batch, says",
    [(0, 4, "pairs: the dataset is empty"), (3, 4, "batch_size: the market bought 3 pair")],
)
def test_data_a_fine_tune_cannot_learn_from_is_refused_before_training(n, batch, says):
    train = shipped_pairs("train").iloc[:n]
    d = train.assign(true_label=train.label, n_labels=2, bid_a=1.0, bid_b=0.5)
    with pytest.raises(ValueError, match=says) as err:
        dollar_efficiency(d, 5.0, shipped_pairs("heldout").iloc[:4], trainer="dpo",
                          model_name="tiny", batch_size=batch)  # fmt: skip
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "change, says",
    [({"trainer": "ppo"}, "trainer"), ({"beta": 0.0}, "beta"), ({"beta": -1.0}, "beta"),
     ({"train_layers": -1}, "train_layers")],
)  # fmt: skip
def test_bad_training_options_are_refused_before_training(change, says):
    train = shipped_pairs("train").iloc[:8]
    d = train.assign(true_label=train.label, n_labels=2, bid_a=1.0, bid_b=0.5)
    kw = {"trainer": "dpo", "model_name": "tiny", "batch_size": 4, **change}
    with pytest.raises(ValueError, match=says):
        dollar_efficiency(d, 5.0, shipped_pairs("heldout").iloc[:4], **kw)


def test_the_fast_mode_is_wired_end_to_end():
    """train_layers reaches the fine-tune and the held-out scoring: on the tiny
    model (2 layers) training the top one gives the same held-out accuracy as
    full training with the bottom layer and embeddings frozen would; here: it
    runs and scores, and a trained top layer moved while the bottom did not."""
    from rlhf.efficiency import fine_tune
    from rlhf.models import load_policy

    train = shipped_pairs("train").iloc[:8]
    pairs = train.assign(chosen=train.response_b, rejected=train.response_a, b_chosen=1.0,
                         b_rejected=0.0)  # fmt: skip
    base, _ = load_policy("tiny")
    model, _ = fine_tune("dpo", pairs, model_name="tiny", train_layers=1, batch_size=4,
                         epochs=1, lr=1e-3)  # fmt: skip
    assert torch.equal(
        model.model.layers[0].mlp.up_proj.weight, base.model.layers[0].mlp.up_proj.weight
    )
    assert not torch.equal(
        model.model.layers[1].mlp.up_proj.weight, base.model.layers[1].mlp.up_proj.weight
    )
    out = dollar_efficiency(
        train.assign(true_label=train.label, n_labels=2, bid_a=1.0, bid_b=0.5), 5.0,
        shipped_pairs("heldout").iloc[:6], trainer="qa-dpo", model_name="tiny",
        train_layers=1, batch_size=4, epochs=1, lr=1e-3,
    )  # fmt: skip
    assert 0.0 <= out["quality_after"] <= 1.0 and out["n_pairs"] == 8
