"""``vickrey-feedback``: the protocol of Zhang & Duan (2024), "VickreyFeedback:
Cost-efficient Data Construction for Reinforcement Learning from Human
Feedback", arXiv:2409.18417.

Per prompt, response providers each submit an ask (dollars) and a quality bid
(``quality``: a self-assessed quality of the response they offer; public
summaries say the paper used response length in this role).

Allocation: among bidders with ask <= the reserve, the k highest quality bids
win (ties broken at random), ranked best first. The paper's setting is k = 2:
the winners are the (chosen, rejected) pair, in that order.

Payment, by the ``payment`` parameter (the paper is ambiguous on it), and the
properties each reading has:

- ``"paper"`` (default): the summaries' "pays the second-highest bid", mapped
  to dollars as: every winner is paid the ask of the *runner-up* (the best
  eligible bidder that did not win), but never less than its own ask and never
  more than the per-label cap (reserve, and budget / k); with no runner-up a
  winner is paid its own ask. Individually rational and budget-feasible; not
  truthful in asks (the allocation ignores asks, so a winner gains by asking
  up to the cap) and not truthful in quality bids (inflating a claim wins).
- ``"truthful"``: critical-value payments in asks. As the allocation depends on
  quality alone, the highest ask at which a winner still wins is the per-label
  cap, so every winner is paid ``min(reserve, budget / k)``; this needs a
  finite reserve or budget. Truthful in asks (for given quality bids),
  individually rational, budget-feasible; still not truthful in quality bids,
  which the buyer must verify or estimate.

Properties of the allocation under both readings: it maximizes the quality of
the pair bought, not the buyer's cost, and it buys from at most k bidders.
"""

from __future__ import annotations

import numpy as np

from ._select import (
    effective_reserve,
    masked,
    rank_winners,
    select_lowest,
)
from .base import BatchOutcome, Mechanism, Properties
from .registry import register

PAYMENT_RULES = ("paper", "truthful")


@register
class VickreyFeedback(Mechanism):
    """Highest quality bids win (chosen, rejected); payment by ``payment``."""

    name = "vickrey-feedback"
    source = "Zhang & Duan (2024), arXiv:2409.18417"

    def __init__(self, payment: str = "paper") -> None:
        if payment not in PAYMENT_RULES:
            raise ValueError(
                f"vickrey-feedback: payment must be one of {PAYMENT_RULES}, got {payment!r}"
            )
        self.payment = payment
        self.properties = Properties(
            truthful=payment == "truthful",
            individually_rational=True,
            budget_feasible=True,
            quality_aware=True,
            uses_claims=True,
        )

    def params(self) -> dict[str, object]:
        return {"payment": self.payment}

    def allocate(self, asks, k, *, quality, reserve, budget, u) -> BatchOutcome:
        cap = effective_reserve(reserve, budget, k)
        key = masked(-quality, asks <= cap[:, None])  # highest quality first
        sorted_key = np.sort(key, axis=1)
        won = select_lowest(key, sorted_key, k, u)
        rank = lambda: rank_winners(won, key, u)  # noqa: E731 (computed when read)
        if self.payment == "truthful":
            if (np.isinf(cap) & won.any(axis=1)).any():
                raise ValueError(
                    "vickrey-feedback(payment='truthful') pays every winner the per-label cap "
                    "(its critical ask, as the allocation ignores asks): pass a finite reserve= "
                    "or budget="
                )
            payments = np.where(won, cap[:, None], 0.0)
        else:
            runner_up = select_lowest(key, sorted_key, k + 1, u) & ~won
            has_runner = runner_up.any(axis=1)
            runner_ask = np.where(runner_up, asks, 0.0).sum(axis=1)
            floor = np.where(has_runner, runner_ask, 0.0)[:, None]
            pay = np.minimum(np.maximum(asks, floor), cap[:, None])
            payments = np.where(won, pay, 0.0)
        return BatchOutcome(won=won, payments=payments, rank=rank)
