"""``budget-feasible``: Singer's proportional-share mechanism for a buyer
with a hard budget and equally valued labels.

Allocation: sort the eligible asks (those <= the reserve) c_(1) <= c_(2) <= ...
and buy from the j* cheapest, where j* is the largest j <= k with
``c_(j) <= B / j`` (each of j winners could be paid an equal share of the
budget B). Ties are broken at random. Payment: each winner is paid its
critical value ``min(B / j*, c_(j*+1), reserve)``.

Properties: truthful in asks, individually rational, and budget-feasible by
construction (j* winners times at most B / j* each), without a reserve: unlike
the others it spends the budget on as many labels as can share it (up to k)
instead of treating B / k as a fixed per-label cap. With an infinite budget it
is the k-unit Vickrey auction.

Source: Singer (2010), "Budget feasible mechanisms", FOCS, the
proportional-share allocation for additive valuations specialised to unit
values; Chen, Gravin & Lu (2011), "On the approximability of budget feasible
mechanisms", SODA.
"""

from __future__ import annotations

import numpy as np

from ._select import masked, order_stat, select_lowest, share, uniform_price_payments
from .base import BatchOutcome, Mechanism, Properties
from .registry import register


@register
class BudgetFeasible(Mechanism):
    """Proportional share: the largest j <= k cheapest with c_(j) <= B/j win."""

    name = "budget-feasible"
    properties = Properties(truthful=True, individually_rational=True, budget_feasible=True)
    source = "Singer (2010), Budget feasible mechanisms"

    def allocate(self, asks, k, *, quality, reserve, budget, u) -> BatchOutcome:
        key = asks
        if not np.isinf(reserve).all() and (asks > reserve[:, None]).any():
            key = masked(asks, asks <= reserve[:, None])
        sorted_key = np.sort(key, axis=1)
        n = asks.shape[1]
        j = np.arange(1, min(k, n) + 1)
        shares = share(budget[:, None], j[None, :])  # (T, min(k, n)), decreasing in j
        # c_(j) <= B/j holds on a prefix of j (c_(j) rises, B/j falls); NaN never holds.
        j_star = (sorted_key[:, : j.size] <= shares).sum(axis=1)
        won = select_lowest(key, sorted_key, j_star, u)
        price = np.fmin(share(budget, j_star), order_stat(sorted_key, j_star + 1))
        price = np.fmin(price, reserve)
        return BatchOutcome(won=won, payments=uniform_price_payments(won, price, self.name))
