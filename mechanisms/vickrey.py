"""``vickrey``: the k-unit reverse Vickrey (uniform (k+1)-th price) auction.

Allocation: the k lowest asks among those <= the reserve win (ties broken at
random). Payment: every winner is paid the same price,
``min(reserve, (k+1)-th lowest ask)``; with fewer than k+1 eligible asks the
price is the reserve. A finite budget B acts as a per-label reserve B/k.

Properties: truthful in asks (dominant strategy), individually rational,
budget-feasible. With k = 1 it is the reverse second-price auction.

Source: Vickrey (1961), "Counterspeculation, auctions, and competitive sealed
tenders", J. Finance 16(1); for unit-supply bidders the (k+1)-th price auction
is the VCG mechanism (Krishna, *Auction Theory*, 2nd ed., ch. 12-13). With
i.i.d. U[0, 1] costs and truthful asks, the expected total payment is
k (k+1) / (n+1).
"""

from __future__ import annotations

import numpy as np

from ._select import effective_reserve, order_stat, select_cheapest, uniform_price_payments
from .base import BatchOutcome, Mechanism, Properties
from .registry import register


@register
class Vickrey(Mechanism):
    """k lowest asks win; each is paid min(reserve, (k+1)-th lowest ask)."""

    name = "vickrey"
    properties = Properties(truthful=True, individually_rational=True, budget_feasible=True)
    source = "Vickrey (1961); VCG for unit-supply sellers"

    def price_cap(self, reserve: np.ndarray, budget: np.ndarray, k: int) -> np.ndarray:
        """Highest price per label for each task (the reserve and the budget share)."""
        return effective_reserve(reserve, budget, k)

    def allocate(self, asks, k, *, quality, reserve, budget, u) -> BatchOutcome:
        cap = self.price_cap(reserve, budget, k)
        won, sorted_key = select_cheapest(asks, k, cap, u)
        price = np.fmin(cap, order_stat(sorted_key, k + 1))
        return BatchOutcome(won=won, payments=uniform_price_payments(won, price, self.name))
