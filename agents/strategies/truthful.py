"""``truthful``: ask exactly the private cost.

The dominant strategy in every truthful (DSIC) mechanism: in the k-unit
Vickrey auction, a posted price or any critical-value rule, asking the true
cost is optimal whatever the others ask. Elsewhere it is the naive benchmark
that earns zero profit under pay-as-bid.

Source: Vickrey (1961), "Counterspeculation, auctions, and competitive sealed
tenders", J. Finance 16(1); Krishna, *Auction Theory*, 2nd ed., ch. 2.
"""

from __future__ import annotations

import numpy as np

from .base import MarketInfo, Strategy
from .registry import register

__all__ = ["Truthful"]


@register
class Truthful(Strategy):
    """Ask = cost, every round."""

    name = "truthful"
    shared = True

    def ask(self, cost: float, info: MarketInfo, rng: np.random.Generator) -> float:
        return self._record(cost, float(cost))

    def ask_many(self, costs: np.ndarray, info: MarketInfo, u: np.ndarray) -> np.ndarray:
        return np.array(costs, dtype=float)

    def claim_many(self, qualities, costs, info: MarketInfo, u) -> np.ndarray:
        return np.array(qualities, dtype=float)

    @property
    def fixed_markup(self) -> float:
        return 0.0

    @property
    def markup(self) -> float:
        """Always 0."""
        return 0.0
