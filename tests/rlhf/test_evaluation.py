"""rlhf.evaluation: samples scored for the gold reward and the KL estimate are
draws from the policy itself (no top-k, no nucleus truncation).

The yardstick is independent of the sampling code: the policy's own
next-token distribution from one forward pass. Under true policy sampling the
mean log-probability of the sampled tokens estimates minus the policy's
entropy; under transformers' default ``top_k = 50`` the samples come from the
50 likeliest tokens only, so that mean sits far above -H.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from rlhf.evaluation import POLICY_SAMPLING, evaluate, replies_cut
from rlhf.models import load_policy


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return load_policy("tiny")


def _first_tokens(model, ids, draws: int, **sampling) -> np.ndarray:
    torch.manual_seed(1)
    with torch.inference_mode():
        out = model.generate(
            input_ids=ids.repeat(draws, 1),
            attention_mask=torch.ones(draws, ids.shape[1], dtype=torch.long),
            do_sample=True,
            max_new_tokens=1,
            min_new_tokens=1,
            pad_token_id=2,
            **sampling,
        )
    return out[:, -1].numpy()


def test_policy_sampling_draws_from_the_full_next_token_distribution(tiny):
    model, tok = tiny
    ids = tok("Write a one-line movie review.", return_tensors="pt").input_ids
    with torch.inference_mode():
        logp = torch.log_softmax(model(input_ids=ids).logits[0, -1].double(), -1).numpy()
    entropy = float(-(np.exp(logp) * logp).sum())
    draws = 3000
    full = _first_tokens(model, ids, draws, **POLICY_SAMPLING)
    lp = logp[full]
    # E[log pi(y)] = -H under the policy: within 4 standard errors
    assert abs(lp.mean() + entropy) < 4 * lp.std() / np.sqrt(draws)
    assert np.unique(full).size > 50  # more tokens than any top-50 could give
    # the yardstick tells: transformers' default top_k = 50 truncates the policy
    cut = _first_tokens(model, ids, draws, temperature=1.0, top_p=1.0)
    assert np.unique(cut).size <= 50
    assert logp[cut].mean() + entropy > 8 * lp.std() / np.sqrt(draws)


def test_evaluate_samples_with_policy_sampling_and_scores_cut_replies_without_eos(tiny):
    model, tok = tiny
    seen = []
    original = model.generate

    def recording(*args, **kwargs):
        seen.append(kwargs)
        return original(*args, **kwargs)

    model.generate = recording
    try:
        pairs = pd.DataFrame(
            {"prompt": ["Hi."], "response_a": ["Bad."], "response_b": ["Good!"], "label": [1]}
        )
        out = evaluate(model, tok, ref_model=model, prompts=["Hi.", "Hello."], pairs=pairs,
                       n=2, max_new_tokens=6)  # fmt: skip
    finally:
        del model.generate
    assert seen and all(
        kw["top_k"] == 0 and kw["top_p"] == 1.0 and kw["temperature"] == 1.0 for kw in seen
    )
    assert out["kl"] == pytest.approx(0.0, abs=1e-6)  # the policy against itself
    assert out["preference_accuracy"] == 0.5


def test_replies_cut_marks_replies_that_reached_the_cap(tiny):
    _, tok = tiny
    long = "word " * 40
    assert replies_cut(tok, ["Fine.", long.strip()], 10) == [False, True]
    assert replies_cut(tok, [], 10) == []
