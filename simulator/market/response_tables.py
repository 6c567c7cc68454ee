"""What a response market records, and the composed label market's inputs.

:class:`ResponseRecords` keeps each round's bought responses and pairs as
arrays and builds the tables; :func:`round_metrics` is one row of the model's
DataCollector; :func:`label_config` and :func:`pair_batch` turn a response
market's config and pairs into the label market's config and tasks (when
annotators order the pairs, ``pair_label: annotators``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from agents.randomness import keyed_uniform
from rlhf.diversity import embedding_diversity
from rlhf.taskworld import DIFFICULTY_SCALE

from .config import MarketConfig
from .tasks import TaskBatch

__all__ = ["RESPONSE_METRICS", "ResponseRecords", "label_config", "pair_batch", "round_metrics"]

RESPONSE_METRICS = (
    "round", "prompts", "responses_bought", "pairs", "labels_bought", "spend",
    "response_spend", "label_spend", "budget_left", "dollars_per_pair", "mean_price",
    "chosen_reward", "rejected_reward", "order_accuracy", "distinct_1", "distinct_2",
    "embedding_diversity", "provider_profit", "claims_caught", "mean_markup",
)  # fmt: skip
"""One row per round of a response market (its DataCollector)."""


RESPONSE_DTYPES = {
    "round": "int32", "task": "int64", "prompt": "object", "provider": "int64",
    "persona": "object", "ask": "float64", "cost": "float64", "quality_claim": "float64",
    "payment": "float64", "reward": "float64", "rank": "int16", "truncated": "bool",
    "caught": "bool",
}  # fmt: skip
PAIR_DTYPES = {
    "task": "int64", "round": "int32", "prompt": "object", "response_a": "object",
    "response_b": "object", "reward_a": "float64", "reward_b": "float64",
    "provider_a": "int64", "provider_b": "int64", "persona_a": "object",
    "persona_b": "object", "ask_a": "float64", "ask_b": "float64", "bid_a": "float64",
    "bid_b": "float64", "payment_a": "float64", "payment_b": "float64",
    "truncated_a": "bool", "truncated_b": "bool", "n_labels": "int64", "label": "int8",
    "confidence": "float64", "true_label": "int8", "ordered": "bool", "total_paid": "float64",
}  # fmt: skip


def _frame(chunks: list[dict[str, np.ndarray]], dtypes: dict[str, str]) -> pd.DataFrame:
    if not chunks:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in dtypes.items()})
    return pd.DataFrame(
        {c: np.concatenate([ch[c] for ch in chunks]).astype(t) for c, t in dtypes.items()}
    )


class ResponseRecords:
    """Each round's bought responses and pairs (arrays), and their tables."""

    def __init__(self) -> None:
        self.responses_chunks: list[dict[str, np.ndarray]] = []
        self.pair_chunks: list[dict[str, np.ndarray]] = []
        self.last: dict[str, np.ndarray] = {}

    def add_round(self, m: Any, *, p_idx, who, rows, asks, costs, claims, won, pay,
                  caught, ranked, pairs, label, n_labels, confidence) -> None:  # fmt: skip
        book = m.book
        reward, text, trunc = m._reward, m.texts, m.truncated
        t_w, s_w = np.nonzero(won)
        rank = np.empty_like(ranked)
        np.put_along_axis(rank, ranked, np.arange(ranked.shape[1])[None, :], axis=1)
        r_w = rows[t_w, s_w]
        self.responses_chunks.append(
            {
                "round": np.full(t_w.size, m.round),
                "task": p_idx[t_w],
                "prompt": m.prompts[p_idx[t_w]],
                "provider": book.uid[who[t_w, s_w]],
                "persona": book.persona[who[t_w, s_w]],
                "ask": asks[t_w, s_w],
                "cost": costs[t_w, s_w],
                "quality_claim": claims[t_w, s_w],
                "payment": pay[t_w, s_w],
                "reward": reward[r_w],
                "rank": rank[t_w, s_w],
                "truncated": trunc[r_w],
                "caught": caught[t_w, s_w],
            }
        )
        t, a, b = pairs.T if pairs.size else (np.zeros(0, int),) * 3
        ra, rb = rows[t, a], rows[t, b]
        prompts = m.prompts[p_idx[t]]
        self.pair_chunks.append(
            {
                "task": p_idx[t],
                "round": np.full(t.size, m.round),
                "prompt": prompts,
                "response_a": text[ra],
                "response_b": text[rb],
                "reward_a": reward[ra],
                "reward_b": reward[rb],
                "provider_a": book.uid[who[t, a]],
                "provider_b": book.uid[who[t, b]],
                "persona_a": book.persona[who[t, a]],
                "persona_b": book.persona[who[t, b]],
                "ask_a": asks[t, a],
                "ask_b": asks[t, b],
                "bid_a": claims[t, a],
                "bid_b": claims[t, b],
                "payment_a": pay[t, a],
                "payment_b": pay[t, b],
                "truncated_a": trunc[ra],
                "truncated_b": trunc[rb],
                "n_labels": n_labels,
                "label": label,
                "confidence": confidence,
                "true_label": (reward[rb] > reward[ra]).astype(np.int8),
                "ordered": (n_labels > 0) if m.labels_model is not None else np.ones(t.size, bool),
                "total_paid": pay.sum(axis=1)[t],
            }
        )
        self.last = {"rows": r_w, "pay": pay, "won": won, "asks": asks,
                     "costs": costs, "caught": caught}  # fmt: skip

    def responses(self) -> pd.DataFrame:
        return _frame(self.responses_chunks, RESPONSE_DTYPES)

    def dataset(self) -> pd.DataFrame:
        return _frame(self.pair_chunks, PAIR_DTYPES)


def round_metrics(m: Any, label_spend: float) -> dict[str, float]:
    """This round's row of the DataCollector."""
    last, pairs = m.records.last, m.records.pair_chunks[-1]
    won, pay = last["won"], last["pay"]
    n_resp = int(won.sum())
    response_spend = float(pay.sum())
    n_pairs = int(pairs["task"].size)
    ordered = pairs["ordered"]
    chosen_b = pairs["label"] == 1
    chosen = np.where(chosen_b, pairs["reward_b"], pairs["reward_a"])[ordered]
    rejected = np.where(chosen_b, pairs["reward_a"], pairs["reward_b"])[ordered]
    distinct = pairs["reward_a"] != pairs["reward_b"]
    correct = (pairs["label"] == pairs["true_label"])[ordered & distinct]
    spend = response_spend + label_spend
    rows = last["rows"]
    emb = m.embeddings(rows)
    markup = last["asks"] / np.maximum(last["costs"], 1e-12) - 1.0
    return {
        "round": m.round,
        "prompts": int(won.shape[0]),
        "responses_bought": n_resp,
        "pairs": n_pairs,
        "labels_bought": int(pairs["n_labels"].sum()),
        "spend": spend,
        "response_spend": response_spend,
        "label_spend": label_spend,
        "budget_left": m.budget_left
        + (m.labels_model.budget_left if m.labels_model is not None else 0.0),
        "dollars_per_pair": spend / n_pairs if n_pairs else math.nan,
        "mean_price": response_spend / n_resp if n_resp else math.nan,
        "chosen_reward": float(chosen.mean()) if chosen.size else math.nan,
        "rejected_reward": float(rejected.mean()) if rejected.size else math.nan,
        "order_accuracy": float(correct.mean()) if correct.size else math.nan,
        "distinct_1": m.ngrams.distinct(rows, 1),
        "distinct_2": m.ngrams.distinct(rows, 2),
        "embedding_diversity": embedding_diversity(emb) if emb is not None else math.nan,
        "provider_profit": float((pay - np.where(won, last["costs"], 0.0)).sum()),
        "claims_caught": int(last["caught"].sum()),
        "mean_markup": float(np.nanmean(markup)) if markup.size else math.nan,
    }


def label_config(cfg: MarketConfig) -> MarketConfig:
    """The label market that orders a response market's pairs: its annotators,
    aggregation and quality estimates from ``cfg``, its own mechanism
    (``label_mechanism``, ``label_k`` labels per pair) and ``label_budget_share``
    of the budget. Its tasks are the pairs the response market posts."""
    share = cfg.label_budget_share
    pairs_per_round = cfg.tasks_per_round * cfg.k * (cfg.k - 1) // 2
    keep = (
        "n_annotators", "cost", "quality", "correlation", "mix", "spammer_cost", "strategies",
        "strategy_params", "capacity", "reserve", "gold_rate", "aggregation",
        "quality_estimate", "quality_score", "bid_cost", "exit_after", "entry_rate",
        "incentive_sample", "seed",
    )  # fmt: skip
    return MarketConfig(
        **{name: getattr(cfg, name) for name in keep},
        market="labels",
        mechanism=cfg.label_mechanism,
        k=cfg.label_k,
        bidders_per_task=max(cfg.label_k, min(10, cfg.n_annotators)),
        budget=cfg.budget * share,
        tasks_per_round=pairs_per_round,
        rounds=None,
        task_source="synthetic",
    )


def pair_batch(m: Any, ids, prompt_idx, rows_a, rows_b, reward_a, reward_b):
    """This round's pairs as label-market tasks: the truth is the gold order
    (1 = B better), the difficulty falls with the reward gap as in the task
    world (``0.5 exp(-gap / DIFFICULTY_SCALE)``), a ``gold_rate``
    share (keyed by (seed, pair)) are gold questions."""
    gap = np.abs(reward_b - reward_a)
    gold = keyed_uniform(m.config.seed, "pair-gold", ids) < m.config.gold_rate
    text = pd.DataFrame(
        {
            "prompt": m.prompts[prompt_idx],
            "response_a": m.texts[rows_a],
            "response_b": m.texts[rows_b],
        }
    )
    return TaskBatch(
        ids=np.asarray(ids, dtype=np.int64),
        truth=(reward_b > reward_a).astype(np.int8),
        difficulty=0.5 * np.exp(-gap / DIFFICULTY_SCALE),
        gold=gold,
        text=text,
    )
