"""``fixed-price``: a posted price.

Allocation: every annotator whose ask is <= the posted price p is willing; k
of them (or all, if fewer are willing) are chosen uniformly at random. The
posted price is ``min(price, reserve)``: the buyer never pays above its reserve.
Payment: each winner is paid p. A finite budget B limits the number of labels
bought to the largest m <= k with m * p <= B.

Properties: truthful (the ask only decides whether one is willing; accepting
is a dominant strategy exactly when p >= cost), individually rational,
budget-feasible. It ignores who is cheapest, so it is not cost-minimizing.

Source: posted-price mechanisms, e.g. Singla & Krause (2013), "Truthful
incentives in crowdsourcing tasks using regret minimization mechanisms", WWW.
"""

from __future__ import annotations

import numpy as np

from ._select import masked, select_lowest
from .base import BatchOutcome, Mechanism, Properties
from .registry import register


@register
class FixedPrice(Mechanism):
    """Pay ``price`` to k randomly chosen annotators among those asking <= price."""

    name = "fixed-price"
    properties = Properties(truthful=True, individually_rational=True, budget_feasible=True)
    source = "posted price; Singla & Krause (2013)"

    def __init__(self, price: float = 0.5) -> None:
        price = float(price)
        if not np.isfinite(price) or price < 0:
            raise ValueError(f"fixed-price: price must be finite and >= 0, got {price}")
        self.price = price

    def params(self) -> dict[str, object]:
        return {"price": self.price}

    #: cost quantile of the default posted price in a market: 60 % of the
    #: population is willing, so k of the 10 default bidders usually are.
    MARKET_QUANTILE = 0.6

    @classmethod
    def market_params(cls, *, cost_dist, reserve: float) -> dict[str, object]:
        """The posted price: the cost distribution's 60th percentile, at most the reserve."""
        return {"price": float(min(reserve, cost_dist.ppf(cls.MARKET_QUANTILE)))}

    def allocate(self, asks, k, *, quality, reserve, budget, u) -> BatchOutcome:
        p = np.minimum(self.price, reserve)
        with np.errstate(divide="ignore", invalid="ignore"):
            m = np.where(p > 0, np.floor(budget / p), np.inf)
        m = np.minimum(m, k)
        m = np.where(m * p > budget, m - 1, m).astype(np.int64)
        key = masked(u, asks <= p[:, None])  # random order among the willing
        sorted_key = np.sort(key, axis=1)
        won = select_lowest(key, sorted_key, m, u)
        payments = np.where(won, p[:, None], 0.0)
        # Floating-point guard: adding m copies of p can round above the
        # budget by an ulp when p is not a dyadic number; buy one label fewer.
        over = np.flatnonzero(payments.sum(axis=1) > budget)
        while over.size:
            m[over] -= 1
            won[over] = select_lowest(key[over], sorted_key[over], m[over], u[over])
            payments[over] = np.where(won[over], p[over, None], 0.0)
            over = over[payments[over].sum(axis=1) > budget[over]]
        return BatchOutcome(won=won, payments=payments)
