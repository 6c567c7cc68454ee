"""The task world: prompts, the gold reward, candidates, pairs and the shipped pool."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rlhf.prompts import load_prompts, prompt_split
from rlhf.reward import fluency, gold_reward, sentiment
from rlhf.taskworld import PAIR_COLUMNS, make_pairs, pool_key, shipped_pairs, shipped_pool


def test_prompts_ship_with_a_heldout_split():
    everything, train, held = load_prompts("all"), load_prompts("train"), load_prompts("heldout")
    assert len(everything) >= 300 and len(set(everything)) == len(everything)
    assert set(train) | set(held) == set(everything) and not set(train) & set(held)
    assert len(held) == len(everything) // 5
    assert prompt_split(held[0]) == "heldout" and prompt_split(train[0]) == "train"
    with pytest.raises(ValueError, match="split"):
        load_prompts("test")


def test_gold_reward_prefers_positive_fluent_text():
    good = "The staff were friendly and the coffee was excellent, I loved it."
    bad = "The staff were rude and the coffee was awful, I hated it."
    spam = "good good good good good good"
    junk = "@@@ ### $$$ ~~~"
    r = gold_reward([good, bad, spam, junk, ""])
    assert r[0] > r[1]
    assert r[0] > r[2]  # repetition cannot beat a fluent positive review
    assert r[2] < sentiment([spam])[0]  # the fluency term bites
    assert fluency([good])[0] == 1.0 and fluency([junk])[0] == 0.0
    assert r[4] == -0.5 and (r >= -1.5).all() and (r <= 1.0).all()
    assert gold_reward(good)[0] == r[0]


def _toy_candidates() -> pd.DataFrame:
    prompts = load_prompts("all")[:10]
    texts = [
        "I loved it, wonderful place and great people.",
        "It was fine, nothing special to report today.",
        "Terrible, rude staff and a dirty floor everywhere.",
        "It was fine, nothing special to report today.",
    ]  # a duplicate reply
    rows = [(p, s, t) for p in prompts for s, t in enumerate(texts)]
    df = pd.DataFrame(rows, columns=["prompt", "sample", "response"])
    df["reward"] = gold_reward(df.response)
    return df


def test_make_pairs_labels_the_better_reply():
    pairs = make_pairs(_toy_candidates(), seed=1)
    assert tuple(pairs.columns) == PAIR_COLUMNS
    assert len(pairs) == 10 * 3  # 3 distinct replies per prompt -> 3 pairs
    better_b = pairs.reward_b > pairs.reward_a
    assert (pairs.label == better_b.astype(int)).all()
    assert 0 < pairs.label.mean() < 1  # A/B order is randomized
    assert pairs.difficulty.between(0, 0.5).all()
    # closer rewards are harder
    gap = (pairs.reward_b - pairs.reward_a).abs()
    assert pairs.difficulty[gap.idxmin()] >= pairs.difficulty[gap.idxmax()]
    assert len(make_pairs(_toy_candidates(), pairs_per_prompt=1)) == 10
    pd.testing.assert_frame_equal(make_pairs(_toy_candidates(), seed=1), pairs)


def test_pool_key_depends_on_everything():
    p = load_prompts("all")[:3]
    assert pool_key("m", p, n=4, seed=0) == pool_key("m", p, n=4, seed=0)
    assert pool_key("m", p, n=4, seed=0) != pool_key("m", p, n=4, seed=1)
    assert pool_key("m", p, n=4, seed=0) != pool_key("other", p, n=4, seed=0)
    assert pool_key("m", p, n=4, seed=0) != pool_key("m", p[:2], n=4, seed=0)
    assert pool_key("m", p, n=4, seed=0) != pool_key("m", p, n=3, seed=0)
    assert pool_key("m", p, n=4, seed=0, max_new_tokens=40) != pool_key(
        "m", p, n=4, seed=0, max_new_tokens=64
    )


def test_shipped_pool_and_pairs():
    pool = shipped_pool()
    assert set(pool.columns) >= {"prompt", "sample", "response", "reward"}
    assert set(pool.prompt) == set(load_prompts("all"))
    np.testing.assert_allclose(pool.reward, gold_reward(pool.response))  # scores are exact
    train, held = shipped_pairs("train"), shipped_pairs("heldout")
    assert len(train) > 1000 and len(held) > 200
    assert set(train.prompt).isdisjoint(held.prompt)


def test_generate_candidates_with_the_tiny_model():
    from rlhf.models import load_policy
    from rlhf.taskworld import generate_candidates

    model, tok = load_policy("tiny")
    prompts = load_prompts("heldout")[:3]
    a = generate_candidates(model, tok, prompts, n=2, max_new_tokens=5, seed=3, progress=False)
    b = generate_candidates(model, tok, prompts, n=2, max_new_tokens=5, seed=3, progress=False)
    assert len(a) == 6 and list(a.columns) == ["prompt", "sample", "response", "reward"]
    pd.testing.assert_frame_equal(a, b)  # same seed, same replies
    np.testing.assert_allclose(a.reward, gold_reward(a.response))
    assert tok.padding_side == "right"  # restored


def test_candidate_pool_generates_once_then_reads_the_cache(tmp_path, monkeypatch):
    import rlhf.models
    from rlhf.taskworld import candidate_pool

    prompts = load_prompts("heldout")[:2]
    first = candidate_pool(
        "tiny", prompts=prompts, n=2, max_new_tokens=3, cache=tmp_path, progress=False
    )
    files = list((tmp_path / "candidates").glob("*.parquet"))
    assert len(files) == 1 and not list((tmp_path / "candidates").glob("*.tmp"))

    def no_generation(*args, **kwargs):
        raise AssertionError("the cached pool must be read, not generated")

    monkeypatch.setattr(rlhf.models, "load_policy", no_generation)
    again = candidate_pool("tiny", prompts=prompts, n=2, max_new_tokens=3, cache=tmp_path)
    pd.testing.assert_frame_equal(first, again)
    with pytest.raises(ValueError, match="no prompts"):
        candidate_pool("tiny", prompts=[], cache=tmp_path)
