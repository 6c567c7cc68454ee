"""Diversity of a set of responses: the measures behind the paper's claim 3
(selecting only top bids narrows the data; Zhang & Duan 2024, arXiv:2409.18417).

- :func:`distinct_n`: distinct n-grams / all n-grams over the set (distinct-1
  and distinct-2 of Li et al. 2016, "A Diversity-Promoting Objective Function
  for Neural Conversation Models", NAACL), lower-cased, whitespace tokens;
- :func:`embedding_diversity`: the mean pairwise cosine distance of the
  responses' all-MiniLM-L6-v2 sentence embeddings (:class:`rlhf.proxy.Embedder`),
  computed from the sum of the unit vectors in O(n d), not O(n^2 d);
- :func:`text_embeddings`: those embeddings, kept on disk for a fixed set of
  texts (a provider pool), so a market pays for them once per machine.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from itertools import pairwise

import numpy as np

__all__ = ["NgramIndex", "distinct_n", "embedding_diversity", "text_embeddings"]


def distinct_n(texts: Sequence[str], n: int = 2) -> float:
    """Distinct n-grams / all n-grams over ``texts``; NaN when they hold none."""
    if n < 1:
        raise ValueError(f"n: must be >= 1, got {n}")
    grams: list[tuple[str, ...]] = []
    for t in texts:
        words = t.lower().split()
        if n == 1:
            grams += [(w,) for w in words]
        elif n == 2:
            grams += list(pairwise(words))
        else:
            grams += [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    return len(set(grams)) / len(grams) if grams else math.nan


class NgramIndex:
    """The unigrams and bigrams of a fixed list of texts as integer ids, so that
    distinct-1/2 of any subset (given by row numbers) is two array gathers and a
    ``np.unique``, not a Python pass over the words: a market that buys from a
    fixed pool pays for the tokenization once. ``distinct(rows, n)`` equals
    ``distinct_n([texts[i] for i in rows], n)`` (a test checks)."""

    def __init__(self, texts: Sequence[str]) -> None:
        vocab: dict[str, int] = {}
        words = [[vocab.setdefault(w, len(vocab)) for w in t.lower().split()] for t in texts]
        self._v = np.int64(max(len(vocab), 1))
        uni = [np.asarray(w, dtype=np.int64) for w in words]
        bi = [u[:-1] * self._v + u[1:] for u in uni]
        self._grams = {1: self._flat(uni), 2: self._flat(bi)}

    @staticmethod
    def _flat(parts: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        lengths = np.array([p.size for p in parts], dtype=np.int64)
        flat = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        return flat, np.concatenate([[0], np.cumsum(lengths)])

    def distinct(self, rows: np.ndarray, n: int = 2) -> float:
        """Distinct n-grams / all n-grams (n = 1 or 2) over texts ``rows``
        (repeats count as often as they appear); NaN when they hold none."""
        if n not in self._grams:
            raise ValueError(f"n: NgramIndex holds unigrams and bigrams (n = 1, 2), got {n}")
        flat, offsets = self._grams[n]
        rows = np.asarray(rows, dtype=np.int64)
        start, length = offsets[rows], offsets[rows + 1] - offsets[rows]
        total = int(length.sum())
        if total == 0:
            return math.nan
        # positions of every gram of the chosen rows, without a Python loop
        first = np.repeat(start - np.concatenate([[0], np.cumsum(length)[:-1]]), length)
        grams = flat[first + np.arange(total)]
        return np.unique(grams).size / total


def embedding_diversity(emb: np.ndarray) -> float:
    """Mean cosine distance 1 - cos(e_i, e_j) over all pairs i < j of the rows
    of ``emb`` (unit-norm rows); NaN for fewer than two rows.

    With unit rows, sum_{i != j} cos = |sum_i e_i|^2 - n, so the mean over the
    n(n-1) ordered pairs needs one sum, not a Gram matrix."""
    emb = np.asarray(emb, dtype=float)
    n = emb.shape[0]
    if n < 2:
        return math.nan
    s = emb.sum(axis=0)
    mean_cos = (float(s @ s) - float(np.einsum("ij,ij->", emb, emb))) / (n * (n - 1))
    return 1.0 - mean_cos


def text_embeddings(texts: Sequence[str], *, cache: bool = True) -> np.ndarray:
    """Unit-norm MiniLM embeddings of ``texts`` (n, 384), float32, in order.

    With ``cache``, the array for this exact list of texts is kept under the
    model cache (``embeddings/<sha256 of the texts>.npy``, written atomically)
    and read back next time."""
    from .models import cache_dir
    from .proxy import get_embedder

    texts = [str(t) for t in texts]
    path = None
    if cache:
        digest = hashlib.sha256("\x00".join(texts).encode()).hexdigest()[:24]
        path = cache_dir() / "embeddings" / f"{digest}.npy"
        if path.is_file():
            try:
                emb = np.load(path, allow_pickle=False)
                if emb.shape[0] == len(texts):
                    return emb
            except (OSError, ValueError, EOFError):
                pass  # unreadable: compute it again below
    emb = get_embedder().encode(texts)
    if path is not None:
        from .files import write_atomically

        def save(tmp: str) -> None:
            with open(tmp, "wb") as fh:  # a file object: np.save adds no suffix
                np.save(fh, emb, allow_pickle=False)

        try:
            write_atomically(path, save)
        except OSError:
            pass  # a read-only cache only costs the next run the same work
    return emb
