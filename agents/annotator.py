"""The annotator: a Mesa agent that sells preference labels.

Private values (never shown to other agents): ``cost`` (dollars per label) and
``quality`` (probability that its label is correct). Each round it chooses
one ask (and, for the VickreyFeedback protocol, one quality claim) through its
``strategy``, bids on up to ``capacity`` tasks, and learns only its own
outcome.

Its state is one row of the model's :class:`agents.crowd.Crowd`: the market
acts on every annotator at once through the crowd's arrays, and the agent
shows (and, with ``bid``/``observe``, acts on) its own row, so the two paths
run the same code (a test checks that a market run through the agents one
by one gives the same result).
"""

from __future__ import annotations

import mesa
import numpy as np

from .crowd import KINDS, Crowd, crowd_of
from .ids import IdCounters
from .strategies import MarketInfo, Strategy

__all__ = ["KINDS", "Annotator"]


class Annotator(mesa.Agent):
    """A label seller with private cost and quality and a bidding strategy.

    Attributes (views of its row in ``model.crowd``):
        cost: dollars per label (private).
        quality: probability its label is correct on a task of difficulty 0
            (private; 0.5 for spammers, below 0.5 for adversaries).
        capacity: labels it can supply per round.
        strategy: how it sets its ask and quality claim.
        kind: "honest", "spammer" (labels at random) or "adversary" (labels
            wrong on purpose).
        active, ask, claim, profit (running), revenue, wins, negative_rounds
            (consecutive rounds with negative running profit).

    Built directly, it adopts ``strategy`` (an instance of its own); a
    :class:`agents.population.PopulationSampler` builds annotators in bulk
    with ``row`` already in the crowd.
    """

    #: Mesa's per-model id counters, kept weakly (see :mod:`agents.ids`)
    _ids = IdCounters()

    def __init__(
        self,
        model: mesa.Model,
        *,
        cost: float = 0.0,
        quality: float = 0.5,
        capacity: int = 1,
        strategy: Strategy | None = None,
        kind: str = "honest",
        row: int | None = None,
    ) -> None:
        crowd = crowd_of(model)
        if row is not None:  # the row exists (built in bulk): take its reserved id
            self._ids[model].preset(int(crowd.uid[row]))
        super().__init__(model)
        self._crowd: Crowd = crowd
        if row is not None:
            self.index = int(row)
            return
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        if not 0.0 <= quality <= 1.0:
            raise ValueError(f"quality must be in [0, 1], got {quality}")
        if cost < 0 or capacity < 1:
            raise ValueError("cost must be >= 0 and capacity >= 1")
        if strategy is None:
            raise ValueError("Annotator: pass a strategy")
        pool, member = self._crowd.adopt(strategy)
        self.index = int(
            self._crowd.add(
                cost=np.array([float(cost)]), quality=np.array([float(quality)]),
                capacity=np.array([int(capacity)]), kind=np.array([kind]),
                uid=np.array([self.unique_id]), pool=pool, row=np.array([member]),
            )[0]
        )  # fmt: skip

    def _get(self, name: str):
        return getattr(self._crowd, name)[self.index]

    cost = property(lambda self: float(self._get("cost")), doc="Dollars per label (private).")
    quality = property(lambda self: float(self._get("quality")), doc="Label accuracy (private).")
    capacity = property(lambda self: int(self._get("capacity")), doc="Labels per round.")
    ask = property(lambda self: float(self._get("ask")), doc="This round's ask.")
    claim = property(lambda self: float(self._get("claim")), doc="This round's quality claim.")
    profit = property(lambda self: float(self._get("profit")), doc="Running profit.")
    revenue = property(lambda self: float(self._get("revenue")), doc="Dollars received.")
    wins = property(lambda self: int(self._get("wins")), doc="Labels sold so far.")
    negative_rounds = property(
        lambda self: int(self._get("negative_rounds")),
        doc="Consecutive rounds with negative running profit.",
    )

    @property
    def kind(self) -> str:
        return self._crowd.kind_name(self.index)

    @property
    def strategy(self) -> Strategy:
        return self._crowd.strategy(self.index)

    @property
    def active(self) -> bool:
        """Still in the market."""
        return bool(self._get("active"))

    @active.setter
    def active(self, value: bool) -> None:
        self._crowd.set_active([self.index], value)

    def bid(self, info: MarketInfo) -> None:
        """Choose this round's ask and quality claim."""
        self._crowd.bid(np.array([self.index]), info)

    def observe(
        self, info: MarketInfo, bids: int, wins: int, revenue: float, bid_cost: float = 0.0
    ) -> None:
        """Learn this round's own outcome; update profit and the strategy
        (:meth:`agents.crowd.Crowd.observe` on this annotator's row)."""
        self._crowd.observe(
            np.array([self.index]), info, np.array([bids]), np.array([wins]),
            np.array([revenue], dtype=float), bid_cost=bid_cost,
        )  # fmt: skip

    @property
    def markup(self) -> float:
        """The strategy's current markup (ask / cost - 1 where it has none)."""
        return float(self._crowd.markups(np.array([self.index]))[0])
