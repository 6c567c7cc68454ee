"""Headline figures of a response market run (:func:`summarize_responses`)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from rlhf.diversity import embedding_diversity

__all__ = ["summarize_responses"]


def summarize_responses(
    model: Any,
    metrics: pd.DataFrame,
    labels: pd.DataFrame,
    dataset: pd.DataFrame,
    responses: pd.DataFrame,
) -> dict:
    """What the run bought and what it cost: dollars per pair, the mean gold
    reward of chosen and rejected responses, how often the pair's order is the
    gold order (pairs of equal reward left out), diversity of everything bought
    (distinct-1/2, mean pairwise MiniLM cosine distance) and providers' profit."""
    cfg = model.config
    response_spend = float(responses.payment.sum())
    label_spend = float(labels.payment.sum())
    spend = response_spend + label_spend
    ordered = dataset[dataset.ordered]
    b = ordered.label.to_numpy() == 1
    chosen = np.where(b, ordered.reward_b, ordered.reward_a)
    rejected = np.where(b, ordered.reward_a, ordered.reward_b)
    distinct = ordered[ordered.reward_a != ordered.reward_b]
    order_ok = (distinct.label == distinct.true_label).to_numpy()
    rows = (
        model.pool_rows(responses.persona, responses.task)
        if len(responses)
        else np.zeros(0, dtype=np.int64)
    )
    emb = model.embeddings(rows) if rows.size else np.zeros((0, 1))
    n_pairs = len(ordered)
    return {
        "market": "responses",
        "mechanism": cfg.mechanism,
        "seed": cfg.seed,
        "rounds": int(model.round),
        "prompts_posted": int(metrics.prompts.sum()) if len(metrics) else 0,
        "responses_bought": len(responses),
        "pairs": n_pairs,
        "pairs_unordered": int(len(dataset) - n_pairs),
        "labels_bought": len(labels),
        "spend": spend,
        "response_spend": response_spend,
        "label_spend": label_spend,
        "budget_left": float(cfg.budget - spend),
        "dollars_per_pair": spend / n_pairs if n_pairs else math.nan,
        "mean_price": response_spend / len(responses) if len(responses) else math.nan,
        "chosen_reward": float(chosen.mean()) if n_pairs else math.nan,
        "rejected_reward": float(rejected.mean()) if n_pairs else math.nan,
        "order_accuracy": float(order_ok.mean()) if order_ok.size else math.nan,
        "bought_reward": float(responses.reward.mean()) if len(responses) else math.nan,
        "distinct_1": model.ngrams.distinct(rows, 1),
        "distinct_2": model.ngrams.distinct(rows, 2),
        "embedding_diversity": embedding_diversity(emb) if rows.size > 1 else math.nan,
        "provider_profit": float((responses.payment - responses.cost).sum()),
        "claims_caught": int(responses.caught.sum()),
        "truncated_share": float(responses.truncated.mean()) if len(responses) else math.nan,
    }
