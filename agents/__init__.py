"""Annotator agents, populations, bidding strategies and labeling behaviour
(Mesa agents). Imports Mesa, numpy, scipy and ``mechanisms`` (the equilibrium
solver plays a rule through its public ``run_batch`` and ``Properties``),
never ``simulator`` or ``rlhf``: a strategy learns about the auction only from
the :class:`~agents.strategies.MarketInfo` the model gives it.
"""

from . import strategies
from .annotator import KINDS, Annotator
from .population import (
    PopulationSampler,
    cost_distribution,
    make_population,
    quality_distribution,
)
from .strategies import MarketInfo, RoundFeedback, Strategy

__all__ = [
    "KINDS",
    "Annotator",
    "MarketInfo",
    "PopulationSampler",
    "RoundFeedback",
    "Strategy",
    "cost_distribution",
    "make_population",
    "quality_distribution",
    "strategies",
]
