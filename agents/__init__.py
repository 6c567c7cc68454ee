"""Annotator agents, populations, bidding strategies and labeling behaviour
(Mesa agents). Imports Mesa, numpy and scipy only, never ``simulator``,
``mechanisms`` or ``rlhf``: a strategy learns about the auction format only
from the :class:`~agents.strategies.MarketInfo` the model gives it.
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
