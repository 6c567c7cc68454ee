"""The annotator: a Mesa agent that sells preference labels.

Private values (never shown to other agents): ``cost`` (dollars per label) and
``quality`` (probability that its label is correct). Each round it chooses
one ask (and, for the VickreyFeedback protocol, one quality claim) through its
``strategy``, bids on up to ``capacity`` tasks, and learns only its own
outcome.
"""

from __future__ import annotations

import itertools
import weakref

import mesa
import numpy as np

from .strategies import MarketInfo, RoundFeedback, Strategy

KINDS = ("honest", "spammer", "adversary")


class _IdCounters(weakref.WeakKeyDictionary):
    """Per-model ``unique_id`` counters that do not keep finished models alive.

    Mesa 3.3's ``Agent._ids`` is a class-wide ``defaultdict`` keyed by model,
    so every model that ever created an agent (and through it all its agents
    and tables) stays in memory: about 30 MB per market run, without end in a
    long sweep. Keyed weakly, a model's counter goes with the model.
    """

    def __getitem__(self, model):
        try:
            return super().__getitem__(model)
        except KeyError:
            counter = itertools.count(1)
            self[model] = counter
            return counter


class Annotator(mesa.Agent):
    """A label seller with private cost and quality and a bidding strategy.

    Attributes:
        cost: dollars per label (private).
        quality: probability its label is correct on a task of difficulty 0
            (private; 0.5 for spammers, below 0.5 for adversaries).
        capacity: labels it can supply per round.
        strategy: how it sets its ask and quality claim.
        kind: "honest", "spammer" (labels at random) or "adversary" (labels
            wrong on purpose).
        own_rng: its own generator, spawned from the run's seed tree, so adding an
            annotator never shifts another's draws.
    """

    _ids = _IdCounters()

    def __init__(
        self,
        model: mesa.Model,
        *,
        cost: float,
        quality: float,
        capacity: int,
        strategy: Strategy,
        kind: str = "honest",
        rng: np.random.Generator,
    ) -> None:
        super().__init__(model)
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        if not 0.0 <= quality <= 1.0:
            raise ValueError(f"quality must be in [0, 1], got {quality}")
        if cost < 0 or capacity < 1:
            raise ValueError("cost must be >= 0 and capacity >= 1")
        self.cost = float(cost)
        self.quality = float(quality)
        self.capacity = int(capacity)
        self.strategy = strategy
        self.kind = kind
        self.own_rng = rng
        self.active = True
        self.ask = float(cost)
        self.claim = float(quality)
        self.profit = 0.0  # running (cumulative) profit
        self.revenue = 0.0
        self.wins = 0
        self.negative_rounds = 0  # consecutive rounds with negative running profit

    def bid(self, info: MarketInfo) -> None:
        """Choose this round's ask and quality claim."""
        self.ask = float(self.strategy.ask(self.cost, info, self.own_rng))
        self.claim = float(self.strategy.claim(self.quality, info, self.own_rng, cost=self.cost))

    def observe(
        self, info: MarketInfo, bids: int, wins: int, revenue: float, bid_cost: float = 0.0
    ) -> None:
        """Learn this round's own outcome; update profit and the strategy.

        ``bid_cost`` per bid is the effort of reading a task before bidding: it
        lowers the running profit (and so drives exit) but is sunk for the
        strategy, which learns from revenue minus the cost of labels sold."""
        feedback = RoundFeedback(
            ask=self.ask, bids=int(bids), wins=int(wins), revenue=float(revenue), cost=self.cost
        )
        self.profit += feedback.profit - bids * bid_cost
        self.revenue += feedback.revenue
        self.wins += feedback.wins
        # a tolerance keeps rounding noise (-1e-16) from counting as a loss
        self.negative_rounds = self.negative_rounds + 1 if self.profit < -1e-9 else 0
        self.strategy.observe(feedback, info, self.own_rng)

    @property
    def markup(self) -> float:
        """The strategy's current markup (ask / cost - 1)."""
        m = self.strategy.markup
        if m is not None:
            return float(m)
        return self.ask / self.cost - 1.0 if self.cost > 0 else 0.0
