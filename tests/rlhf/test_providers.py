"""rlhf.personas and rlhf.providers: the response providers' personas, the
shipped provider pool, and the generation loop (on the tiny random model; the
slow test samples SmolLM2 itself)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch

from rlhf.models import load_policy
from rlhf.personas import PERSONAS, Persona, get_persona, persona_names
from rlhf.prompts import load_prompts, prompt_split
from rlhf.providers import (
    POOL_COLUMNS,
    _generate_batch,
    _lengths,
    _nucleus,
    generate_provider_pool,
    persona_summary,
    shipped_provider_pool,
)
from rlhf.reward import gold_reward

NAMES = ["enthusiast", "professional", "friendly", "plain", "neutral", "critic", "terse", "rambler"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def pool() -> pd.DataFrame:
    return shipped_provider_pool()


@pytest.fixture(scope="module")
def tiny():
    return load_policy("tiny")


# ------------------------------------------------------------------ personas


def test_the_eight_personas():
    assert persona_names() == NAMES == list(PERSONAS)
    for name, p in PERSONAS.items():
        assert p.name == name and isinstance(p, Persona)
        assert 0 < p.temperature and 0 < p.top_p <= 1 and p.max_new_tokens >= 1
        assert p.description
    assert PERSONAS["plain"].system == "" and PERSONAS["rambler"].system == ""
    assert (PERSONAS["plain"].temperature, PERSONAS["plain"].top_p) == (1.0, 0.95)
    assert (PERSONAS["rambler"].temperature, PERSONAS["rambler"].top_p) == (1.6, 1.0)
    assert PERSONAS["terse"].max_new_tokens == 16
    assert PERSONAS["friendly"].system == "You are a friendly assistant."
    with pytest.raises(dataclasses.FrozenInstanceError):
        PERSONAS["plain"].temperature = 0.5  # type: ignore[misc]


def test_get_persona_names_the_unknown_one():
    assert get_persona("critic") is PERSONAS["critic"]
    with pytest.raises(ValueError, match="'nope'") as err:
        get_persona("nope")
    assert "\n" not in str(err.value)
    assert all(name in str(err.value) for name in NAMES)


# ------------------------------------------------------------------ the shipped pool


def test_shipped_pool_has_every_persona_and_prompt_once(pool):
    assert list(pool.columns) == list(POOL_COLUMNS)
    prompts = load_prompts("all")
    assert len(pool) == len(NAMES) * len(prompts) == 3200
    assert not pool.duplicated(["persona", "prompt"]).any()
    assert pool.persona.unique().tolist() == NAMES
    for _, g in pool.groupby("persona"):
        assert sorted(g.prompt) == sorted(prompts)
    assert pool.split.tolist() == [prompt_split(p) for p in pool.prompt]


def test_shipped_pool_dtypes(pool):
    for c in ("persona", "prompt", "split", "response"):
        assert pool[c].map(type).eq(str).all(), c
    assert pool.reward.dtype == np.float64
    assert pool.n_tokens.dtype == np.int64
    assert pool.truncated.dtype == bool
    assert (pool.n_tokens >= 0).all()
    caps = pool.persona.map(lambda n: PERSONAS[n].max_new_tokens)
    assert (pool.n_tokens <= caps).all()
    # a truncated reply took exactly its cap; one that ended took fewer tokens
    assert (pool.n_tokens[pool.truncated] == caps[pool.truncated]).all()
    assert (pool.n_tokens[~pool.truncated] < caps[~pool.truncated]).all()


def test_shipped_pool_rewards_are_the_gold_reward(pool):
    sample = pool.sample(50, random_state=0)
    np.testing.assert_allclose(sample.reward, gold_reward(sample.response.tolist()), atol=1e-12)


def test_shipped_pool_is_cached_but_returned_as_a_copy(pool):
    a = shipped_provider_pool()
    a.loc[0, "response"] = "changed"
    assert shipped_provider_pool().loc[0, "response"] == pool.loc[0, "response"]


def test_most_replies_end_on_their_own(pool):
    """terse (16 tokens) and rambler (temperature 1.6: eos is almost never
    drawn) are mostly cut at their caps; the other six personas end about
    four replies in five on their own within 128 tokens (the rest are
    rambling answers to open-ended prompts such as "give a brief opinion")."""
    share = pool.groupby("persona").truncated.mean()
    assert share["rambler"] > 0.9 and share["terse"] > 0.5
    others = share.drop(["terse", "rambler"])
    assert (others < 0.3).all()
    assert pool.truncated[~pool.persona.isin(["terse", "rambler"])].mean() < 0.25
    assert pool.truncated.mean() < 0.4


def test_persona_mean_rewards_span_a_clear_range(pool):
    """enthusiast tops the pool; critic, terse and rambler are its three
    lowest, well below every other persona (per-persona standard errors are
    about 0.02-0.03 with 400 replies each)."""
    means = persona_summary(pool).mean_reward
    assert means.idxmax() == "enthusiast"
    assert means.max() - means.min() > 0.5
    low = means[["critic", "terse", "rambler"]]
    rest = means.drop(low.index)
    assert set(means.nsmallest(3).index) == set(low.index)
    assert rest.min() > low.max() + 0.15
    assert means["enthusiast"] > means["plain"] + 0.1


# ------------------------------------------------------------------ the generation loop


def test_lengths_from_token_ids():
    eos, pad = 2, 0
    ids = torch.tensor([[5, 6, eos, pad], [7, 8, 9, 10], [eos, pad, pad, pad]])
    n, cut = _lengths(ids, {eos}, 4)
    assert n.tolist() == [2, 4, 0] and cut.tolist() == [False, True, False]
    assert n.dtype == np.int64 and cut.dtype == bool
    # pad == eos (SmolLM2): the first eos still ends the reply
    n, cut = _lengths(torch.tensor([[5, eos, eos], [eos, eos, eos]]), {eos}, 3)
    assert n.tolist() == [1, 0] and cut.tolist() == [False, False]
    with pytest.raises(RuntimeError, match="shorter than max_new_tokens"):
        _lengths(torch.tensor([[5, 6]]), {eos}, 4)


def _hf_distribution(logits, temperature, top_p):
    from transformers.generation.logits_process import (
        TemperatureLogitsWarper,
        TopPLogitsWarper,
    )

    scores = TemperatureLogitsWarper(temperature)(None, logits.clone())
    if top_p < 1.0:
        scores = TopPLogitsWarper(top_p)(None, scores)
    return torch.softmax(scores, dim=-1)


@pytest.mark.parametrize(
    ("temperature", "top_p", "flat"),
    [(0.7, 0.9, False), (1.0, 0.95, False), (1.6, 1.0, False), (1.0, 0.95, True)],
)
def test_nucleus_is_transformers_temperature_and_top_p(temperature, top_p, flat):
    """The same sampling distribution as transformers' warpers (top_k=0); the
    flat case has a nucleus wider than the partial sort's candidates."""
    g = torch.Generator().manual_seed(1)
    scale = 0.01 if flat else 4.0
    logits = torch.randn(6, 5000, generator=g) * scale
    weights, idx = _nucleus(logits, temperature, top_p)
    mine = torch.zeros_like(logits).scatter_(1, idx, weights)
    mine = mine / mine.sum(dim=1, keepdim=True)
    theirs = _hf_distribution(logits, temperature, top_p)
    assert torch.allclose(mine, theirs, atol=1e-6)
    if flat:
        assert ((mine > 0).sum(dim=1) > 1024).all()


def test_generate_batch_matches_greedy_generate(tiny, monkeypatch):
    """With argmax in place of sampling, the loop (which drops finished rows
    from the batch and its cache) gives exactly what ``model.generate`` gives
    greedily. The random tiny model never picks eos, so a token it does pick
    in the middle of one reply stands in for eos."""
    import rlhf.providers as providers

    model, tok = tiny
    monkeypatch.setattr(providers, "_sample_next", lambda logits, t, p: logits.argmax(-1))
    persona = Persona("x", "Be brief.", 1.0, 1.0, 12, "")
    prompts = load_prompts("all")[:6]
    pad = tok.pad_token_id
    tok.padding_side = "left"
    try:
        texts = [providers._chat(tok, p, persona.system) for p in prompts]
        enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        start = enc["input_ids"].shape[1]
        with torch.inference_mode():
            free = model.generate(
                **enc, do_sample=False, max_new_tokens=12, pad_token_id=pad, eos_token_id=-1
            )[:, start:]
            stop = int(free[0, 4])
            mine = _generate_batch(model, enc, persona, {stop}, pad)
            ref = model.generate(
                **enc, do_sample=False, max_new_tokens=12, pad_token_id=pad, eos_token_id=stop
            )[:, start:]
    finally:
        tok.padding_side = "right"
    n_mine, cut_mine = _lengths(mine, {stop}, 12)
    n_ref, cut_ref = _lengths(ref, {stop}, 12)
    assert n_mine.tolist() == n_ref.tolist() and cut_mine.tolist() == cut_ref.tolist()
    assert not cut_ref.all()  # at least one row ended early and was dropped
    for a, b, k in zip(mine.tolist(), ref.tolist(), n_ref.tolist(), strict=True):
        assert a[: k + 1] == b[: k + 1]


def test_generate_provider_pool_is_deterministic_and_independent_per_persona(tiny):
    model, tok = tiny
    prompts = load_prompts("all")[:5]
    personas = [
        Persona("a", "", 1.0, 0.95, 8, ""),
        Persona("b", "Be brief.", 1.6, 1.0, 6, ""),
    ]
    rng_state = torch.random.get_rng_state()
    df = generate_provider_pool(model, tok, prompts, personas, seed=3, progress=False)
    assert torch.equal(torch.random.get_rng_state(), rng_state)  # the caller's RNG untouched
    assert tok.padding_side == "right"  # restored
    assert list(df.columns) == list(POOL_COLUMNS) and len(df) == 10
    assert df.persona.tolist() == ["a"] * 5 + ["b"] * 5
    assert df.n_tokens.dtype == np.int64 and df.truncated.dtype == bool
    assert (df.n_tokens <= df.persona.map({"a": 8, "b": 6})).all()
    np.testing.assert_allclose(df.reward, gold_reward(df.response.tolist()))
    again = generate_provider_pool(model, tok, prompts, personas, seed=3, progress=False)
    pd.testing.assert_frame_equal(df, again)
    # persona "b" is seeded with seed + 1 whatever comes before it
    alone = generate_provider_pool(model, tok, prompts, personas[1:], seed=4, progress=False)
    pd.testing.assert_frame_equal(
        alone, df[df.persona == "b"].reset_index(drop=True), check_dtype=True
    )
    other = generate_provider_pool(model, tok, prompts, personas, seed=4, progress=False)
    assert other.response.tolist() != df.response.tolist()


def test_generate_provider_pool_edge_cases(tiny):
    model, tok = tiny
    empty = generate_provider_pool(model, tok, [], ["plain"], progress=False)
    assert list(empty.columns) == list(POOL_COLUMNS) and len(empty) == 0
    assert empty.n_tokens.dtype == np.int64 and empty.truncated.dtype == bool
    with pytest.raises(ValueError, match="'nope'"):
        generate_provider_pool(model, tok, ["x"], ["nope"], progress=False)
    with pytest.raises(ValueError, match="repeat"):
        generate_provider_pool(model, tok, ["x"], ["plain", "plain"], progress=False)


@pytest.mark.slow
def test_smollm2_persona_replies_end_and_score_as_expected():
    """A few real SmolLM2 replies: most end on their own, their token counts
    respect the cap, and the enthusiast out-scores the critic on the same prompts."""
    model, tok = load_policy("smollm2-135m")
    prompts = load_prompts("all")[::50]
    df = generate_provider_pool(model, tok, prompts, ["enthusiast", "critic"], progress=False)
    assert len(df) == 2 * len(prompts)
    assert df.truncated.mean() < 0.5
    assert (df.n_tokens[~df.truncated] < 128).all() and (df.n_tokens <= 128).all()
    means = df.groupby("persona").reward.mean()
    assert means["enthusiast"] > means["critic"]
