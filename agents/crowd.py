"""The crowd: every annotator's state as arrays, acted on all at once.

A :class:`Crowd` holds one row per annotator (private cost and quality,
capacity, type, whether still in the market, this round's ask and claim, the
running profit, ...) and the strategy pools (:mod:`agents.strategies.pool`).
A market asks it for the asks of any set of annotators in one call
(:meth:`Crowd.bid`) and tells it their outcomes in one call
(:meth:`Crowd.observe`): numpy work proportional to the bids, whatever the
number of annotators. The Mesa agents (:class:`agents.annotator.Annotator`)
are views of their rows: what they show and what they do (``bid``,
``observe``) goes through the same code with one row.

Each annotator's random draws in round r come from
``keyed_bits(seed, "bid" | "observe", r, unique_id)``, so they do not depend
on who else bids (common random numbers across mechanisms).
"""

from __future__ import annotations

import functools
import json

import numpy as np

from . import strategies as strategy_registry
from .randomness import keyed_bits
from .strategies import MarketInfo, Strategy
from .strategies.pool import ObjectPool, StrategyPool, pool_for

__all__ = ["KINDS", "Crowd"]

KINDS = ("honest", "spammer", "adversary")

_FIELDS = {
    "cost": np.float64,
    "quality": np.float64,
    "capacity": np.int64,
    "kind": np.int8,
    "active": np.bool_,
    "ask": np.float64,
    "claim": np.float64,
    "profit": np.float64,
    "revenue": np.float64,
    "wins": np.int64,
    "negative_rounds": np.int64,
    "uid": np.int64,
    "pool": np.int32,
    "row": np.int64,
}


class Crowd:
    """Annotators as rows of arrays (the columns are :data:`_FIELDS`).

    Args:
        seed: the run's seed, for each annotator's keyed draws.
    """

    def __init__(self, seed: int = 0) -> None:
        self.seed = int(seed)
        self.round = 0  # the market's clock, for keyed draws
        self.n = 0
        self._data = {name: np.zeros(0, dtype=dt) for name, dt in _FIELDS.items()}
        self.pools: list[StrategyPool] = []
        self._pool_ids: dict[str, int] = {}

    def __len__(self) -> int:
        return self.n

    def __getattr__(self, name: str) -> np.ndarray:
        data = self.__dict__.get("_data")
        if data is not None and name in data:
            return data[name][: self.__dict__["n"]]
        raise AttributeError(name)

    # ------------------------------------------------------------ membership
    def pool_id(self, name: str, params: dict | None = None) -> int:
        """The id of the pool of strategy ``name`` with ``params`` (created on first use)."""
        params = dict(params or {})
        key = json.dumps([name, params], sort_keys=True, default=repr)
        if key not in self._pool_ids:
            cls = type(strategy_registry.get(name, **params))  # validates the params
            self.pools.append(
                pool_for(cls, functools.partial(strategy_registry.get, name, **params))
            )
            self._pool_ids[key] = len(self.pools) - 1
        return self._pool_ids[key]

    def adopt(self, strategy: Strategy) -> tuple[int, int]:
        """A pool of its own for an existing strategy instance: (pool id, row)."""
        pool = ObjectPool(type(strategy))
        self.pools.append(pool)
        return len(self.pools) - 1, pool.adopt(strategy)

    def add(
        self,
        *,
        cost: np.ndarray,
        quality: np.ndarray,
        capacity: np.ndarray,
        kind: np.ndarray,
        uid: np.ndarray,
        pool: np.ndarray,
        row: np.ndarray | None = None,
    ) -> np.ndarray:
        """Append annotators (arrays of one length; ``kind`` as names or codes);
        new members join their pools unless ``row`` is given. Their indices."""
        n_new = int(np.asarray(cost).size)
        pool = np.broadcast_to(np.asarray(pool, dtype=np.int32), (n_new,))
        if row is None:
            row = np.empty(n_new, dtype=np.int64)
            for p in np.unique(pool):
                sel = pool == p
                row[sel] = self.pools[int(p)].add(int(sel.sum()))
        kind = np.asarray(kind)
        if kind.dtype.kind in "OUS":  # names -> codes, one comparison per kind
            match = kind.astype(str)[:, None] == np.array(KINDS)[None, :]
            if not match.any(axis=1).all():
                raise ValueError(f"kind must be one of {KINDS}")
            kind = match.argmax(axis=1).astype(np.int8)
        values = {
            "cost": cost, "quality": quality, "capacity": capacity, "kind": kind,
            "active": True, "ask": cost, "claim": quality, "profit": 0.0, "revenue": 0.0,
            "wins": 0, "negative_rounds": 0, "uid": uid, "pool": pool, "row": row,
        }  # fmt: skip
        start, stop = self.n, self.n + n_new
        if stop > self._data["cost"].size:  # grow by doubling
            size = max(stop, 2 * self._data["cost"].size, 16)
            for name, arr in self._data.items():
                grown = np.zeros(size, dtype=arr.dtype)
                grown[: self.n] = arr[: self.n]
                self._data[name] = grown
        for name, v in values.items():
            self._data[name][start:stop] = v
        self.n = stop
        return np.arange(start, stop, dtype=np.int64)

    def set_active(self, idx, value: bool) -> None:
        self._data["active"][np.asarray(idx)] = bool(value)

    def strategy(self, i: int) -> Strategy:
        """Annotator i's strategy object (its pool's member)."""
        return self.pools[int(self.pool[i])].member(int(self.row[i]))

    def kind_name(self, i: int) -> str:
        return KINDS[int(self.kind[i])]

    def active_indices(self) -> np.ndarray:
        return np.flatnonzero(self.active)

    # ----------------------------------------------------------------- acting
    def _by_pool(self, idx: np.ndarray):
        pools = self.pool[idx]
        for p in np.unique(pools):
            sel = np.flatnonzero(pools == p)
            yield self.pools[int(p)], sel, idx[sel]

    def bid(self, idx: np.ndarray, info: MarketInfo) -> None:
        """Annotators ``idx`` choose this round's ask and quality claim."""
        idx = np.asarray(idx, dtype=np.int64)
        bits = keyed_bits(self.seed, "bid", self.round, self.uid[idx])
        for pool, sel, who in self._by_pool(idx):
            asks, claims = pool.bid(
                self.row[who], self.cost[who], self.quality[who], info, bits[sel]
            )
            self._data["ask"][who] = asks
            self._data["claim"][who] = claims

    def observe(
        self,
        idx: np.ndarray,
        info: MarketInfo,
        bids: np.ndarray,
        wins: np.ndarray,
        revenue: np.ndarray,
        bid_cost: float = 0.0,
    ) -> None:
        """Annotators ``idx`` learn their own outcomes this round.

        ``bid_cost`` per bid is the effort of reading a task before bidding: it
        lowers the running profit (and so drives exit) but is sunk for the
        strategy, which learns from revenue minus the cost of labels sold."""
        idx = np.asarray(idx, dtype=np.int64)
        bids, wins = np.asarray(bids, dtype=np.int64), np.asarray(wins, dtype=np.int64)
        revenue = np.asarray(revenue, dtype=float)
        d = self._data
        d["profit"][idx] += revenue - wins * d["cost"][idx] - bids * bid_cost
        d["revenue"][idx] += revenue
        d["wins"][idx] += wins
        # a tolerance keeps rounding noise (-1e-16) from counting as a loss
        losing = d["profit"][idx] < -1e-9
        d["negative_rounds"][idx] = np.where(losing, d["negative_rounds"][idx] + 1, 0)
        bits = keyed_bits(self.seed, "observe", self.round, self.uid[idx])
        for pool, sel, who in self._by_pool(idx):
            pool.observe(
                self.row[who],
                asks=self.ask[who],
                bids=bids[sel],
                wins=wins[sel],
                revenue=revenue[sel],
                costs=self.cost[who],
                info=info,
                bits=bits[sel],
            )

    def markups(self, idx: np.ndarray) -> np.ndarray:
        """Each annotator's current markup (the strategy's, else ask / cost - 1)."""
        idx = np.asarray(idx, dtype=np.int64)
        out = np.empty(idx.size)
        for pool, sel, who in self._by_pool(idx):
            out[sel] = pool.markups(self.row[who], self.cost[who], self.ask[who])
        return out


def crowd_of(model) -> Crowd:
    """The crowd of a Mesa model (created on first use, seed 0, for models that
    do not build their own)."""
    crowd = getattr(model, "crowd", None)
    if crowd is None:
        crowd = Crowd(seed=0)
        model.crowd = crowd
    return crowd
