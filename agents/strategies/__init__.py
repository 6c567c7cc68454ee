"""Annotator bidding strategies: how an annotator sets its ask (and quality
claim) each round and adapts to its own outcomes, behind one interface and a
registry by name.

>>> import numpy as np
>>> from agents import strategies
>>> s = strategies.get("markup", m=0.25)
>>> s.ask(0.4, strategies.MarketInfo(), np.random.default_rng(0))
0.5

Strategies know the auction format only through :class:`MarketInfo` and learn
only from their own :class:`RoundFeedback`. This package imports numpy and
scipy only: never ``simulator``, ``mechanisms`` or ``rlhf``.
"""

from . import (  # noqa: F401  (importing a strategy module registers it)
    equilibrium,
    learning,
    markup,
    quality_claim,
    truthful,
)
from .base import MarketInfo, RoundFeedback, Strategy
from .equilibrium import Equilibrium, pay_as_bid_ask
from .learning import Exp3
from .markup import FixedMarkup
from .quality_claim import HonestClaim, InflatedClaim
from .registry import available, get, register
from .truthful import Truthful

__all__ = [
    "Equilibrium",
    "Exp3",
    "FixedMarkup",
    "HonestClaim",
    "InflatedClaim",
    "MarketInfo",
    "RoundFeedback",
    "Strategy",
    "Truthful",
    "available",
    "get",
    "pay_as_bid_ask",
    "register",
]
