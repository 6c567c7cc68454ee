"""The common interface every annotator bidding strategy implements.

A strategy decides, once per round, the *ask* (dollars per label) an annotator
submits on every task it bids on, and, for the quality-aware
``vickrey-feedback`` protocol, the quality it *claims*. After the round it
observes only its own outcomes (:class:`RoundFeedback`) and may adapt.

What a strategy knows about the market is :class:`MarketInfo`: public facts
about the auction format (is it truthful? pay-as-bid? how many labels per task,
how many rivals, the reserve, the common prior over costs). It never sees a
mechanism's internals nor other annotators' bids, which keeps ``agents/``
independent of ``mechanisms/``.

A new strategy is one file: subclass :class:`Strategy`, set ``name``, implement
:meth:`Strategy.ask` and register it with :func:`agents.strategies.register`.

Contract (checked for every registered strategy by the test suite):

- each annotator owns its own instance (strategies hold per-annotator state);
- deterministic given the ``rng`` passed in; no other source of randomness;
- picklable (no lambdas or open handles stored);
- ``ask(cost, ...) >= cost`` unless the class sets ``asks_below_cost = True``;
  asks are finite and >= 0.
"""

from __future__ import annotations

import inspect
import math
import numbers
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

__all__ = ["MarketInfo", "RoundFeedback", "Strategy"]


@dataclass(frozen=True)
class MarketInfo:
    """What the market tells every strategy about the auction format (public knowledge only).

    Attributes:
        mechanism: registry name of the mechanism, informational only.
        truthful: is the mechanism dominant-strategy truthful in asks?
        pay_as_bid: are winners paid their own ask (first-price)?
        k: labels bought per task.
        n_rivals: other bidders per task (bidders_per_task - 1).
        reserve: per-label reserve in dollars (``inf`` = none).
        cost_dist: frozen ``scipy.stats`` distribution of the population's
            costs (the common prior), or None when unknown.
    """

    mechanism: str = "vickrey"
    truthful: bool = True
    pay_as_bid: bool = False
    k: int = 1
    n_rivals: int = 9
    reserve: float = math.inf
    cost_dist: object | None = None

    def __post_init__(self) -> None:
        if isinstance(self.k, bool) or not isinstance(self.k, numbers.Integral) or self.k < 1:
            raise ValueError(f"MarketInfo.k must be an integer >= 1, got {self.k!r}")
        if (
            isinstance(self.n_rivals, bool)
            or not isinstance(self.n_rivals, numbers.Integral)
            or self.n_rivals < 0
        ):
            raise ValueError(f"MarketInfo.n_rivals must be an integer >= 0, got {self.n_rivals!r}")
        if math.isnan(self.reserve) or self.reserve < 0:
            raise ValueError(f"MarketInfo.reserve must be >= 0 (inf = none), got {self.reserve!r}")


@dataclass(frozen=True)
class RoundFeedback:
    """What one annotator learns after a round: only its own outcomes.

    Attributes:
        ask: the ask it used this round.
        bids: number of tasks it bid on.
        wins: number of tasks it won.
        revenue: dollars received.
        cost: its own cost per label.
    """

    ask: float
    bids: int
    wins: int
    revenue: float
    cost: float

    @property
    def profit(self) -> float:
        """Revenue minus the cost of the labels it delivered."""
        return self.revenue - self.wins * self.cost


def init_params(cls: type) -> list[str]:
    """Names of the keyword arguments ``cls(...)`` takes (none if it has no ``__init__``)."""
    if cls.__init__ is object.__init__:
        return []
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    sig = inspect.signature(cls.__init__)
    return [p.name for p in sig.parameters.values() if p.name != "self" and p.kind in kinds]


class Strategy(ABC):
    """An annotator's bidding rule: the ask (and quality claim) for each round.

    Subclasses store each constructor argument under an attribute of the same
    name, so that :meth:`params` and ``repr`` work without extra code.
    """

    name: ClassVar[str]
    #: contract: ``ask() >= cost`` unless True.
    asks_below_cost: ClassVar[bool] = False

    _last_markup: float | None = None

    @abstractmethod
    def ask(self, cost: float, info: MarketInfo, rng: np.random.Generator) -> float:
        """The ask for this round (the same ask on all tasks of the round)."""

    def claim(self, quality: float, info: MarketInfo, rng: np.random.Generator) -> float:
        """The quality claim for the ``vickrey-feedback`` protocol; honest by default."""
        return float(quality)

    def observe(  # noqa: B027  (optional hook: the default ignores feedback)
        self, feedback: RoundFeedback, info: MarketInfo, rng: np.random.Generator
    ) -> None:
        """Learn from this round's own outcomes; the default ignores them."""

    def params(self) -> dict:
        """The constructor arguments, for ``repr`` and configs."""
        return {p: getattr(self, p) for p in init_params(type(self))}

    @property
    def markup(self) -> float | None:
        """Last ask / cost - 1 if known (used by metrics), else None."""
        return self._last_markup

    def _record(self, cost: float, ask: float) -> float:
        """Remember the markup of ``ask`` over ``cost`` and return ``ask``."""
        self._last_markup = ask / cost - 1.0 if cost > 0 else None
        return ask

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"
