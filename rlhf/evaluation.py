"""Scoring a fine-tuned policy against the task world's exact gold reward.

:func:`evaluate` reports, on held-out data the market never sold:

- ``gold_reward``: mean gold reward (:mod:`rlhf.reward`) of replies sampled
  from the policy for the held-out prompts (fixed seed, ``n`` replies each);
- ``preference_accuracy``: share of held-out gold pairs whose implicit DPO
  reward ``beta * (log pi - log ref)`` ranks the truly better reply first;
- ``kl``: a Monte Carlo estimate of KL(policy || reference) per reply: the
  mean over the sampled replies of ``log pi(y|x) - log ref(y|x)``. Replies
  are sampled with :data:`POLICY_SAMPLING` (temperature 1, no nucleus and no
  top-k truncation: transformers' default ``top_k=50`` would sample from a
  truncated policy, so neither the gold reward nor the "KL" would be the
  policy's), so they come from the policy itself; the estimate is approximate
  in one way: replies are scored after decoding and re-tokenizing. A reply cut
  at ``max_new_tokens`` is scored without an end-of-sequence token (it never
  ended).

:func:`distinct_2` measures the diversity of a set of replies.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .diversity import distinct_n
from .dpo import implicit_reward_accuracy, sequence_logps
from .taskworld import generate_candidates

#: sampling settings under which a reply is a draw from the policy itself
POLICY_SAMPLING = {"temperature": 1.0, "top_p": 1.0, "top_k": 0}


def distinct_2(texts: list[str]) -> float:
    """Distinct bigrams / all bigrams over a set of texts (distinct-2, Li et al.
    2016: "A Diversity-Promoting Objective Function for Neural Conversation
    Models"); NaN when the texts hold no bigram (:func:`rlhf.diversity.distinct_n`)."""
    return distinct_n(texts, 2)


def heldout_pairs_as_preferences(pairs: pd.DataFrame) -> pd.DataFrame:
    """Gold (prompt, chosen, rejected) from task-world pairs (label 1 = B better);
    ``truncated_a`` / ``truncated_b``, when both are present, are carried as
    ``truncated_chosen`` / ``truncated_rejected``."""
    b = pairs["label"].to_numpy() == 1
    out = pd.DataFrame(
        {
            "prompt": pairs["prompt"].to_numpy(),
            "chosen": np.where(b, pairs["response_b"], pairs["response_a"]),
            "rejected": np.where(b, pairs["response_a"], pairs["response_b"]),
        }
    )
    if "truncated_a" in pairs and "truncated_b" in pairs:
        cut_a = pairs["truncated_a"].to_numpy(dtype=bool)
        cut_b = pairs["truncated_b"].to_numpy(dtype=bool)
        out["truncated_chosen"] = np.where(b, cut_b, cut_a)
        out["truncated_rejected"] = np.where(b, cut_a, cut_b)
    return out


def replies_cut(tokenizer, replies: list[str], max_new_tokens: int) -> list[bool]:
    """Which decoded replies were (most likely) cut at ``max_new_tokens``: those
    that re-tokenize to at least that many tokens (a reply that ended on its
    own stopped earlier)."""
    if not replies:
        return []
    ids = tokenizer(list(replies), add_special_tokens=False)["input_ids"]
    return [len(x) >= max_new_tokens for x in ids]


def sampled_reward_and_kl(
    model,
    tokenizer,
    *,
    ref_model,
    prompts: list[str],
    n: int = 1,
    max_new_tokens: int = 40,
    seed: int = 0,
    batch_size: int = 16,
    progress: bool = False,
) -> dict[str, float]:
    """Gold reward of replies sampled from the policy itself
    (:data:`POLICY_SAMPLING`, ``n`` per prompt, seeded) and the Monte Carlo
    KL(policy || reference) per reply: the mean of ``log pi(y|x) - log
    ref(y|x)`` over them (a reply cut at ``max_new_tokens`` scored without
    eos, :func:`replies_cut`)."""
    replies = generate_candidates(
        model,
        tokenizer,
        prompts,
        n=n,
        max_new_tokens=max_new_tokens,
        seed=seed,
        batch_size=batch_size,
        progress=progress,
        **POLICY_SAMPLING,  # sample from the policy itself (the KL estimate needs it)
    )
    cut = replies_cut(tokenizer, replies.response.tolist(), max_new_tokens)
    args = (tokenizer, replies.prompt.tolist(), replies.response.tolist())
    lp = sequence_logps(model, *args, batch_size=batch_size, truncated=cut).numpy()
    lr = sequence_logps(ref_model, *args, batch_size=batch_size, truncated=cut).numpy()
    return {
        "gold_reward": float(replies.reward.mean()),
        "kl": float(np.mean(lp - lr)),
        "n_replies": len(replies),
        "distinct_2": distinct_2(replies.response.tolist()),
    }


def evaluate(
    model,
    tokenizer,
    *,
    ref_model,
    prompts: list[str],
    pairs: pd.DataFrame,
    n: int = 1,
    max_new_tokens: int = 40,
    seed: int = 0,
    beta: float = 0.1,
    batch_size: int = 16,
    progress: bool = False,
) -> dict[str, float]:
    """Gold reward of sampled replies, held-out preference accuracy and KL
    (:func:`sampled_reward_and_kl` and
    :func:`rlhf.dpo.implicit_reward_accuracy`).

    Args:
        model: the policy to score.
        ref_model: the reference (the policy before fine-tuning).
        prompts: held-out prompts to sample replies for.
        pairs: held-out task-world pairs (prompt, response_a, response_b, label).
        n, max_new_tokens, seed: sampling settings (same seed -> same draws).
    """
    sampled = sampled_reward_and_kl(
        model, tokenizer, ref_model=ref_model, prompts=prompts, n=n,
        max_new_tokens=max_new_tokens, seed=seed, batch_size=batch_size, progress=progress,
    )  # fmt: skip
    gold = heldout_pairs_as_preferences(pairs)
    acc = implicit_reward_accuracy(
        model, ref_model, tokenizer, gold, beta=beta, batch_size=batch_size
    )
    return {
        "gold_reward": sampled["gold_reward"],
        "preference_accuracy": acc,
        "kl": sampled["kl"],
        "n_replies": sampled["n_replies"],
    }
