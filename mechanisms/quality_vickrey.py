"""``quality-vickrey``: a quality-adjusted (scoring) Vickrey auction.

Each bidder i has an ask a_i and a quality score q_i > 0 (the buyer's estimate
of the probability that its label is correct, or any positive score where
higher is better). The score is quality per dollar, q_i / a_i; equivalently a
bidder's *quality-adjusted ask* is a_i / q_i, the price per unit of quality.

Allocation: among asks <= the reserve, the k lowest quality-adjusted asks win
(ties broken at random). Payment: each winner is paid its critical value, the
highest ask at which it would still have won: ``min(reserve, q_i * x)`` where
x is the (k+1)-th lowest quality-adjusted ask among eligible bidders (the
reserve if there is none). A finite budget B acts as a per-label reserve B/k.

Properties: truthful in asks for given quality scores (the allocation is
monotone in the own ask and winners are paid the threshold: Myerson's lemma),
individually rational, budget-feasible. Quality scores are the buyer's, not
the bidder's, to report: a bidder that could inflate its own score could gain.

Source: Myerson (1981), "Optimal auction design", Math. Oper. Res. 6(1)
(monotone allocation + threshold payments); scoring auctions: Che (1993),
"Design competition through multidimensional auctions", RAND J. Econ. 24(4).
"""

from __future__ import annotations

import numpy as np

from ._select import effective_reserve, order_stat, select_lowest
from .base import BatchOutcome, Mechanism, Properties
from .registry import register


@register
class QualityVickrey(Mechanism):
    """k lowest ask/quality win; each is paid its critical ask."""

    name = "quality-vickrey"
    properties = Properties(
        truthful=True, individually_rational=True, budget_feasible=True, quality_aware=True
    )
    source = "Myerson (1981) threshold payments; Che (1993) scoring auctions"

    def _validate_quality(self, quality: np.ndarray) -> None:
        if (quality <= 0).any():
            raise ValueError("quality-vickrey needs quality scores > 0 (score = quality / ask)")

    def allocate(self, asks, k, *, quality, reserve, budget, u) -> BatchOutcome:
        cap = effective_reserve(reserve, budget, k)
        key = asks / quality  # quality-adjusted ask; in-place updates below keep memory low
        key[asks > cap[:, None]] = np.nan
        sorted_key = np.sort(key, axis=1)
        won = select_lowest(key, sorted_key, k, u)
        x = order_stat(sorted_key, k + 1)
        del key, sorted_key
        payments = np.multiply(quality, x[:, None])  # critical ask q_i * x ...
        np.fmin(payments, cap[:, None], out=payments)  # ... capped by the reserve
        if (won & np.isinf(payments)).any():
            bad = (won & np.isinf(payments)).any(axis=1)
            raise ValueError(
                f"{self.name}: {int(bad.sum())} task(s) have fewer than k+1 eligible "
                "asks and no finite reserve or budget to set the price; pass reserve= or budget="
            )
        # max(...) only absorbs rounding: mathematically q_i * x >= q_i * (a_i / q_i) = a_i.
        np.maximum(payments, asks, out=payments)
        payments[~won] = 0.0
        return BatchOutcome(won=won, payments=payments)
