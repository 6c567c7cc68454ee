"""Annotator bidding strategies: how an annotator sets its ask (and quality
claim) each round and adapts to its own outcomes, behind one interface and a
registry by name.

>>> import numpy as np
>>> from agents import strategies
>>> s = strategies.get("markup", m=0.25)
>>> s.ask(0.4, strategies.MarketInfo(), np.random.default_rng(0))
0.5

Strategies know the auction only through :class:`MarketInfo` (the rule's
``Properties``, and playing it: :func:`solve_equilibrium` finds the symmetric
Bayes-Nash equilibrium of any registered rule numerically) and learn only from
their own :class:`RoundFeedback`. This package imports numpy, scipy and
``mechanisms``: never ``simulator`` or ``rlhf``.
"""

from ..solver import (
    EquilibriumSolution,
    EquilibriumWarning,
    SolverSettings,
    pay_as_bid_ask,
    solve_equilibrium,
)
from . import (  # noqa: F401  (importing a strategy module registers it)
    equilibrium,
    learning,
    markup,
    quality_claim,
    truthful,
)
from .base import MarketInfo, RoundFeedback, Strategy
from .equilibrium import Equilibrium, equilibrium_for
from .learning import Exp3
from .markup import FixedMarkup
from .quality_claim import HonestClaim, InflatedClaim
from .registry import available, get, register, strategy_class
from .truthful import Truthful

__all__ = [
    "Equilibrium",
    "EquilibriumSolution",
    "EquilibriumWarning",
    "Exp3",
    "FixedMarkup",
    "HonestClaim",
    "InflatedClaim",
    "MarketInfo",
    "RoundFeedback",
    "SolverSettings",
    "Strategy",
    "Truthful",
    "available",
    "equilibrium_for",
    "get",
    "pay_as_bid_ask",
    "register",
    "solve_equilibrium",
    "strategy_class",
]
