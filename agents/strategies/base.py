"""The common interface every annotator bidding strategy implements.

A strategy decides, once per round, the *ask* (dollars per label) an annotator
submits on every task it bids on, and, for the quality-aware
``vickrey-feedback`` protocol, the quality it *claims*. After the round it
observes only its own outcomes (:class:`RoundFeedback`) and may adapt.

What a strategy knows about the market is :class:`MarketInfo`: the rule
being played (which it may only query through its ``Properties`` or play
through ``run_batch``, never branch on its name), how many labels per task,
how many rivals, the reserve and budget, and the common prior over costs. It
never sees other annotators' bids.

A new strategy is one file: subclass :class:`Strategy`, set ``name``, implement
:meth:`Strategy.ask` and register it with :func:`agents.strategies.register`.

Contract (checked for every registered strategy by the test suite):

- each annotator owns its own instance (strategies hold per-annotator state),
  unless the class is ``shared`` (stateless: one instance serves all, through
  ``ask_many``/``claim_many``) or brings a vectorized ``pool_class``;
- deterministic given the ``rng`` (or the uniforms) passed in; no other
  source of randomness;
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

import mechanisms
from mechanisms import Mechanism, Properties

__all__ = ["MarketInfo", "RoundFeedback", "Strategy"]


@dataclass(frozen=True)
class MarketInfo:
    """What every strategy knows about the auction (public knowledge only).

    Attributes:
        mechanism: the rule being played, a :class:`mechanisms.Mechanism` (a
            registered name is turned into one). Strategies learn about it
            only through its ``properties`` and by playing it (the
            equilibrium solver calls its ``run_batch``), never from its name.
        k: labels bought per task.
        n_rivals: other bidders per task (bidders_per_task - 1).
        reserve: per-label reserve in dollars (``inf`` = none).
        budget: cap on one task's total payment in dollars (``inf`` = none).
        cost_dist: frozen ``scipy.stats``-like distribution of the rivals'
            costs (the common prior the bidders face), or None when unknown.
        quality_dist: distribution of the quality scores a quality-aware rule
            uses (the buyer's estimates, or the range of claims), or None.
    """

    mechanism: Mechanism | str = "vickrey"
    k: int = 1
    n_rivals: int = 9
    reserve: float = math.inf
    budget: float = math.inf
    cost_dist: object | None = None
    quality_dist: object | None = None

    def __post_init__(self) -> None:
        if isinstance(self.mechanism, str):
            object.__setattr__(self, "mechanism", mechanisms.get(self.mechanism))
        elif not isinstance(self.mechanism, Mechanism):
            raise ValueError(
                "MarketInfo.mechanism must be a mechanisms.Mechanism or a registered name, "
                f"got {type(self.mechanism).__name__}"
            )
        if isinstance(self.k, bool) or not isinstance(self.k, numbers.Integral) or self.k < 1:
            raise ValueError(f"MarketInfo.k must be an integer >= 1, got {self.k!r}")
        if (
            isinstance(self.n_rivals, bool)
            or not isinstance(self.n_rivals, numbers.Integral)
            or self.n_rivals < 0
        ):
            raise ValueError(f"MarketInfo.n_rivals must be an integer >= 0, got {self.n_rivals!r}")
        for name in ("reserve", "budget"):
            v = getattr(self, name)
            if math.isnan(v) or v < 0:
                raise ValueError(f"MarketInfo.{name} must be >= 0 (inf = none), got {v!r}")

    @property
    def properties(self) -> Properties:
        """The mechanism's :class:`mechanisms.Properties`."""
        return self.mechanism.properties

    @property
    def truthful(self) -> bool:
        """Is asking one's cost a dominant strategy?"""
        return self.properties.truthful

    @property
    def pay_as_bid(self) -> bool:
        """Do the k lowest asks win, each paid its own ask?"""
        return self.properties.pay_as_bid

    @property
    def uses_claims(self) -> bool:
        """Does the rule rank bidders by their own quality claims?"""
        return self.properties.uses_claims


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
    #: stateless: one instance serves every annotator that plays it, through
    #: the vectorized :meth:`ask_many` / :meth:`claim_many` (a ``SharedPool``).
    shared: ClassVar[bool] = False
    #: a vectorized pool class of the strategy's own (``agents.strategies.pool``),
    #: for strategies that keep state in arrays; None: shared or one object each.
    pool_class: ClassVar[type | None] = None

    _last_markup: float | None = None

    @abstractmethod
    def ask(self, cost: float, info: MarketInfo, rng: np.random.Generator) -> float:
        """The ask for this round (the same ask on all tasks of the round)."""

    def claim(
        self, quality: float, info: MarketInfo, rng: np.random.Generator, *, cost: float
    ) -> float:
        """The quality claim, for rules that collect claims
        (``info.uses_claims``); honest by default. ``cost`` is the bidder's own."""
        return float(quality)

    def ask_many(self, costs: np.ndarray, info: MarketInfo, u: np.ndarray) -> np.ndarray:
        """The asks of many annotators with this strategy at ``costs`` (shared
        strategies). ``u`` holds one uniform per annotator for strategies that
        randomize. The default calls :meth:`ask` once per cost, each with a
        generator seeded from its uniform; override it with numpy work."""
        return np.array(
            [
                self.ask(float(c), info, np.random.default_rng(int(x * 2**53)))
                for c, x in zip(costs, u, strict=True)
            ],
            dtype=float,
        )

    def claim_many(
        self, qualities: np.ndarray, costs: np.ndarray, info: MarketInfo, u: np.ndarray
    ) -> np.ndarray:
        """The quality claims of many annotators (shared strategies); the default
        calls :meth:`claim` once per annotator, as :meth:`ask_many` does."""
        return np.array(
            [
                self.claim(float(q), info, np.random.default_rng(int(x * 2**53)), cost=float(c))
                for q, c, x in zip(qualities, costs, u, strict=True)
            ],
            dtype=float,
        )

    @property
    def fixed_markup(self) -> float | None:
        """A markup that does not depend on the cost (e.g. ``markup``'s m), or None."""
        return None

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
