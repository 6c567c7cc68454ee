"""``first-price``: the pay-as-bid (discriminatory) reverse auction.

Allocation: the k lowest asks among those <= the reserve win (ties broken at
random). Payment: each winner is paid its own ask. A finite budget B acts as a
per-label reserve B/k.

Properties: individually rational and budget-feasible, but *not* truthful:
a winner gains by raising its ask towards the (k+1)-th lowest ask. In the
symmetric Bayes-Nash equilibrium with i.i.d. U[0, 1] costs and k = 1, a
bidder with cost c asks b(c) = c + (1 - c) / n, and the expected payment
2 / (n+1) equals the second-price auction's (revenue equivalence).

Source: Vickrey (1961); Krishna, *Auction Theory*, 2nd ed., ch. 2-3
(procurement form of the first-price equilibrium).
"""

from __future__ import annotations

import numpy as np

from ._select import effective_reserve, select_cheapest
from .base import BatchOutcome, Mechanism, Properties
from .registry import register


@register
class FirstPrice(Mechanism):
    """k lowest asks win; each is paid its own ask."""

    name = "first-price"
    properties = Properties(
        truthful=False, individually_rational=True, budget_feasible=True, pay_as_bid=True
    )
    source = "Vickrey (1961); Krishna, Auction Theory (2010), ch. 2"

    def allocate(self, asks, k, *, quality, reserve, budget, u) -> BatchOutcome:
        cap = effective_reserve(reserve, budget, k)
        won, _ = select_cheapest(asks, k, cap, u)
        return BatchOutcome(won=won, payments=np.where(won, asks, 0.0))
