"""Strategy pools: every annotator that plays one strategy, acting at once.

A market asks each strategy for the asks of all its annotators in one call
(arrays in, arrays out), so a round costs numpy work proportional to the bids,
not a Python call per annotator (AuctionGym's bidder interface works the same
way). A pool holds the strategy state of its annotators; the Mesa agents read
their own row of it (``Annotator.strategy`` is the pool's member for that row).

Three kinds, chosen by the strategy class (:meth:`Strategy.make_pool`):

- :class:`SharedPool` for stateless strategies (``Strategy.shared = True``):
  one instance serves every member through its vectorized ``ask_many`` and
  ``claim_many``;
- a strategy's own pool for vectorized learners (``learning``'s EXP3 keeps its
  weights as one matrix);
- :class:`ObjectPool`, the default, for any other strategy: one instance per
  member, called in a loop (correct for every ``Strategy``, just not fast).

Randomness: each member's draws this round come from 64 key bits
(:func:`agents.randomness.keyed_bits` of the run's seed, the round and the
annotator), so a member draws the same numbers alone or in a pool of 10^5,
and in every arm of a paired comparison.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..randomness import to_uniform
from .base import MarketInfo, RoundFeedback, Strategy

__all__ = ["ObjectPool", "SharedPool", "StrategyPool", "pool_for"]


class StrategyPool:
    """The members that share one strategy (class and parameters).

    Rows are member numbers, 0, 1, ... in order of :meth:`add`.
    """

    def __init__(self, factory: Callable[[], Strategy]) -> None:
        self.factory = factory
        self.size = 0

    def add(self, n: int) -> np.ndarray:
        """Add ``n`` members; their rows."""
        rows = np.arange(self.size, self.size + n, dtype=np.int64)
        self.size += n
        return rows

    def member(self, row: int) -> Strategy:
        """The strategy object of member ``row`` (for inspection)."""
        raise NotImplementedError

    def bid(
        self,
        rows: np.ndarray,
        costs: np.ndarray,
        qualities: np.ndarray,
        info: MarketInfo,
        bits: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """This round's (asks, claims) of members ``rows``."""
        raise NotImplementedError

    def observe(
        self,
        rows: np.ndarray,
        *,
        asks: np.ndarray,
        bids: np.ndarray,
        wins: np.ndarray,
        revenue: np.ndarray,
        costs: np.ndarray,
        info: MarketInfo,
        bits: np.ndarray,
    ) -> None:
        """Members ``rows`` learn their own outcomes (default: nothing to learn)."""

    def markups(self, rows: np.ndarray, costs: np.ndarray, asks: np.ndarray) -> np.ndarray:
        """Each member's current markup (what the metrics plot): ask / cost - 1
        (0 at cost 0) unless the strategy knows better."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(costs > 0, asks / costs - 1.0, 0.0)


class ObjectPool(StrategyPool):
    """One instance per member, called in a Python loop (any :class:`Strategy`).

    Member i's generator this round is ``default_rng(bits[i])``: its ask and
    then its claim draw from it, as the per-instance interface documents.
    """

    def __init__(self, factory: Callable[[], Strategy]) -> None:
        super().__init__(factory)
        self.members: list[Strategy] = []

    def add(self, n: int) -> np.ndarray:
        self.members.extend(self.factory() for _ in range(n))
        return super().add(n)

    def adopt(self, strategy: Strategy) -> int:
        """Add an existing instance as a member; its row."""
        self.members.append(strategy)
        return int(super().add(1)[0])

    def member(self, row: int) -> Strategy:
        return self.members[row]

    def bid(self, rows, costs, qualities, info, bits):
        asks = np.empty(rows.size)
        claims = np.empty(rows.size)
        for i, row in enumerate(rows):
            s = self.members[row]
            rng = np.random.default_rng(int(bits[i]))
            asks[i] = s.ask(float(costs[i]), info, rng)
            claims[i] = s.claim(float(qualities[i]), info, rng, cost=float(costs[i]))
        return asks, claims

    def observe(self, rows, *, asks, bids, wins, revenue, costs, info, bits):
        for i, row in enumerate(rows):
            feedback = RoundFeedback(
                ask=float(asks[i]),
                bids=int(bids[i]),
                wins=int(wins[i]),
                revenue=float(revenue[i]),
                cost=float(costs[i]),
            )
            self.members[row].observe(feedback, info, np.random.default_rng(int(bits[i])))

    def markups(self, rows, costs, asks):
        out = super().markups(rows, costs, asks)
        for i, row in enumerate(rows):
            m = self.members[row].markup
            if m is not None:
                out[i] = m
        return out


class SharedPool(StrategyPool):
    """One stateless instance for every member (``Strategy.shared = True``)."""

    def __init__(self, factory: Callable[[], Strategy]) -> None:
        super().__init__(factory)
        self.instance = factory()

    def member(self, row: int) -> Strategy:
        return self.instance

    def bid(self, rows, costs, qualities, info, bits):
        u = to_uniform(bits)
        asks = np.asarray(self.instance.ask_many(costs, info, u), dtype=float)
        claims = np.asarray(self.instance.claim_many(qualities, costs, info, u), dtype=float)
        return asks, claims

    def markups(self, rows, costs, asks):
        fixed = self.instance.fixed_markup
        if fixed is not None:
            return np.full(rows.size, float(fixed))
        return super().markups(rows, costs, asks)


def pool_for(cls: type[Strategy], factory: Callable[[], Strategy]) -> StrategyPool:
    """The pool that runs strategy class ``cls``: its own ``pool_class``, a
    :class:`SharedPool` if it is ``shared``, else an :class:`ObjectPool`."""
    if cls.pool_class is not None:
        return cls.pool_class(factory)
    return SharedPool(factory) if cls.shared else ObjectPool(factory)
