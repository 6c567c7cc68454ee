"""``markup``: ask the private cost times a fixed ``1 + m``.

A rule-of-thumb bidder that shades its ask up by a constant proportion, the
simplest non-truthful behaviour. Against a truthful mechanism it can only
lose trades it would have profited from (Vickrey, 1961); against pay-as-bid it
is a crude stand-in for equilibrium shading (Krishna, *Auction Theory*,
ch. 2). It ignores the reserve: an ask above the reserve just loses.
"""

from __future__ import annotations

import math

import numpy as np

from .base import MarketInfo, Strategy
from .registry import register

__all__ = ["FixedMarkup"]


@register
class FixedMarkup(Strategy):
    """Ask = cost x (1 + m), every round.

    Args:
        m: the proportional markup, finite and >= 0.
    """

    name = "markup"

    def __init__(self, m: float = 0.2) -> None:
        m = float(m)
        if not math.isfinite(m) or m < 0:
            raise ValueError(f"markup: m must be finite and >= 0, got {m!r}")
        self.m = m

    shared = True

    def ask(self, cost: float, info: MarketInfo, rng: np.random.Generator) -> float:
        return self._record(cost, float(cost) * (1.0 + self.m))

    def ask_many(self, costs: np.ndarray, info: MarketInfo, u: np.ndarray) -> np.ndarray:
        return np.asarray(costs, dtype=float) * (1.0 + self.m)

    def claim_many(self, qualities, costs, info: MarketInfo, u) -> np.ndarray:
        return np.array(qualities, dtype=float)

    @property
    def fixed_markup(self) -> float:
        return self.m

    @property
    def markup(self) -> float:
        """Always ``m``."""
        return self.m
