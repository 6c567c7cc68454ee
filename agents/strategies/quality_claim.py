"""Quality-claim strategies for the ``vickrey-feedback`` protocol.

In Zhang & Duan's protocol (arXiv:2409.18417) each provider submits a
self-assessed quality bid and the two highest claims win as the (chosen,
rejected) pair. Nothing in the payment rule rewards an honest claim, so a
provider gains by overstating its quality; these two strategies let the
simulator measure that effect. Both ask their true cost.

- ``honest-claim``: claim = true quality.
- ``inflated-claim``: claim = min(1, quality + delta).
"""

from __future__ import annotations

import math

import numpy as np

from .base import MarketInfo, Strategy
from .registry import register

__all__ = ["HonestClaim", "InflatedClaim"]


@register
class HonestClaim(Strategy):
    """Ask = cost, claim = quality."""

    name = "honest-claim"
    shared = True

    def ask_many(self, costs: np.ndarray, info: MarketInfo, u: np.ndarray) -> np.ndarray:
        return np.array(costs, dtype=float)

    def claim_many(self, qualities, costs, info: MarketInfo, u) -> np.ndarray:
        return np.array(qualities, dtype=float)

    def ask(self, cost: float, info: MarketInfo, rng: np.random.Generator) -> float:
        return self._record(cost, float(cost))

    def claim(
        self, quality: float, info: MarketInfo, rng: np.random.Generator, *, cost: float
    ) -> float:
        return float(quality)


@register
class InflatedClaim(Strategy):
    """Ask = cost, claim = min(1, quality + delta).

    Args:
        delta: how much the quality claim is overstated, finite and >= 0.
    """

    name = "inflated-claim"
    shared = True

    def __init__(self, delta: float = 0.2) -> None:
        delta = float(delta)
        if not math.isfinite(delta) or delta < 0:
            raise ValueError(f"inflated-claim: delta must be finite and >= 0, got {delta!r}")
        self.delta = delta

    def ask(self, cost: float, info: MarketInfo, rng: np.random.Generator) -> float:
        return self._record(cost, float(cost))

    def claim(
        self, quality: float, info: MarketInfo, rng: np.random.Generator, *, cost: float
    ) -> float:
        return min(1.0, float(quality) + self.delta)

    def ask_many(self, costs: np.ndarray, info: MarketInfo, u: np.ndarray) -> np.ndarray:
        return np.array(costs, dtype=float)

    def claim_many(self, qualities, costs, info: MarketInfo, u) -> np.ndarray:
        return np.minimum(1.0, np.asarray(qualities, dtype=float) + self.delta)
