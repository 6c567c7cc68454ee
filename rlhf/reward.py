"""The gold reward of the task world: how positive and how fluent a reply is.

``gold_reward(text) = compound(text) - 0.5 * (1 - fluency(text))``

- ``compound`` is VADER's compound sentiment score in [-1, 1] (Hutto & Gilbert
  2014, "VADER: A Parsimonious Rule-based Model for Sentiment Analysis of
  Social Media Text", ICWSM; the ``vaderSentiment`` package, MIT licence,
  lexicon inside the wheel).
- ``fluency`` in [0, 1] is a documented heuristic so that gibberish cannot win:
  the share of tokens that are words (letters, optionally with an apostrophe
  or hyphen) rather than junk (anything but ordinary punctuation), times
  min(1, 1.25 x the share of distinct words) (repetition like "good good
  good" scores low; ordinary prose repeats a few function words and keeps
  1), times a length factor min(1, words / 6) (a two-word reply is not a
  review).

The reward ranges over [-1.5, 1]. It is exact and cheap (about 60 us a text),
so the market's noisy labels can be scored against the truth.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

import numpy as np

_TOKEN = re.compile(r"[A-Za-z]+(?:['-][A-Za-z]+)*|[^\sA-Za-z]+")
_WORD = re.compile(r"[A-Za-z]+(?:['-][A-Za-z]+)*\Z")
_PUNCT = re.compile(r"[.,!?;:'\"()\u2013\u2014-]+\Z")
FLUENCY_WEIGHT = 0.5
MIN_WORDS = 6


@lru_cache(maxsize=1)
def _analyzer():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def sentiment(texts: Iterable[str]) -> np.ndarray:
    """VADER compound scores in [-1, 1]."""
    a = _analyzer()
    return np.array([a.polarity_scores(t)["compound"] for t in texts], dtype=float)


def fluency(texts: Iterable[str]) -> np.ndarray:
    """Word share x repetition factor x length factor, in [0, 1]."""
    out = []
    for t in texts:
        tokens = [tok for tok in _TOKEN.findall(t) if not _PUNCT.match(tok)]
        words = [w.lower() for w in tokens if _WORD.match(w)]
        if not words:
            out.append(0.0)
            continue
        word_share = len(words) / len(tokens)
        distinct = min(1.0, 1.25 * len(set(words)) / len(words))
        length = min(1.0, len(words) / MIN_WORDS)
        out.append(word_share * distinct * length)
    return np.array(out, dtype=float)


def gold_reward(texts: Iterable[str] | str) -> np.ndarray:
    """The task world's exact reward of each text (see the module docstring)."""
    texts = [texts] if isinstance(texts, str) else list(texts)
    return sentiment(texts) - FLUENCY_WEIGHT * (1.0 - fluency(texts))
