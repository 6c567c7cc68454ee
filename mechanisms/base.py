"""The common interface every mechanism implements.

A mechanism is a reverse (procurement) auction: a buyer wants ``k`` labels for
one task and ``n`` annotators each offer at most one label at an asking price.
The mechanism decides who wins and what each winner is paid.

A new mechanism is one file: subclass :class:`Mechanism`, set its metadata
(``name``, ``properties``, ``source``) and implement :meth:`Mechanism.allocate`,
the rule itself, on a validated batch of tasks. The base class provides
:meth:`Mechanism.run` (one task) and :meth:`Mechanism.run_batch` (many tasks),
which validate inputs and draw the tie-breaking random numbers.

Random-number discipline
------------------------
Every call draws exactly ``n`` uniforms per task from ``rng``, in task order
(``rng.random((T, n))`` for a batch, ``rng.random(n)`` for one task), and the
rule breaks every tie by these uniforms: among equal keys, the bidder with the
smaller uniform ranks first. Hence, for the same starting generator state,
``run_batch(asks, ...)`` row ``t`` equals the ``t``-th of ``T`` successive
``run(asks[t], ...)`` calls on that generator. Ties are never broken by index.
"""

from __future__ import annotations

import math
import numbers
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

__all__ = ["BatchOutcome", "Mechanism", "Outcome", "Properties"]


@dataclass(frozen=True)
class Properties:
    """What a mechanism guarantees, in the sense of auction theory.

    Attributes:
        truthful: dominant-strategy incentive compatible in asks: for any
            asks of the others (and fixed quality scores), no bidder gains by
            asking anything other than its true cost.
        individually_rational: every winner is paid at least its ask and
            losers are paid nothing.
        budget_feasible: total payment for a task never exceeds its budget.
        quality_aware: the rule needs quality scores (``quality=``).
        pay_as_bid: the k lowest eligible asks win and each winner is paid
            its own ask (a discriminatory auction). Bidders then have the
            closed-form k-unit pay-as-bid equilibrium ask (Krishna, *Auction
            Theory*, ch. 12-13); other non-truthful rules are solved numerically.
        uses_claims: the quality scores are the bidders' own *claims* (a
            strategic choice, as in Zhang & Duan 2024), not the buyer's
            estimates; bidders then choose a claim as well as an ask.
    """

    truthful: bool
    individually_rational: bool
    budget_feasible: bool
    quality_aware: bool = False
    pay_as_bid: bool = False
    uses_claims: bool = False

    def __post_init__(self) -> None:
        if self.uses_claims and not self.quality_aware:
            raise ValueError("Properties: uses_claims=True needs quality_aware=True")


@dataclass(frozen=True)
class Outcome:
    """The result of one task's auction.

    Attributes:
        winners: indices into ``asks`` of the winning bidders, in the
            mechanism's ranking order (best first; for ``vickrey-feedback``
            this is (chosen, rejected)).
        payments: float array of length n, 0 for losers.
    """

    winners: np.ndarray
    payments: np.ndarray

    @property
    def total(self) -> float:
        """Total paid for this task."""
        return float(self.payments.sum())


@dataclass(frozen=True, init=False)
class BatchOutcome:
    """The result of T auctions at once.

    Attributes:
        won: (T, n) bool, True where bidder i won task t.
        payments: (T, n) float, 0 where bidder i did not win task t.
        rank: (T, n) small int array, the winner's position in the ranking
            (0 = best), -1 for non-winners; only for mechanisms whose winners
            are ordered (``vickrey-feedback``), else None. A rule may pass a
            function that computes it: it is then computed when first read.
    """

    won: np.ndarray
    payments: np.ndarray

    def __init__(self, won: np.ndarray, payments: np.ndarray, rank=None) -> None:
        object.__setattr__(self, "won", won)
        object.__setattr__(self, "payments", payments)
        object.__setattr__(self, "_rank", rank)

    @property
    def rank(self) -> np.ndarray | None:
        if callable(self._rank):
            object.__setattr__(self, "_rank", self._rank())
        return self._rank

    @property
    def totals(self) -> np.ndarray:
        """(T,) total paid per task."""
        return self.payments.sum(axis=1)

    @property
    def n_won(self) -> np.ndarray:
        """(T,) number of labels bought per task."""
        return self.won.sum(axis=1)

    def outcome(self, t: int) -> Outcome:
        """Task ``t`` as an :class:`Outcome`."""
        return _row_outcome(self, t)


def _row_outcome(batch: BatchOutcome, t: int) -> Outcome:
    if batch.rank is None:
        winners = np.flatnonzero(batch.won[t])
    else:
        r = batch.rank[t]
        idx = np.flatnonzero(r >= 0)
        winners = idx[np.argsort(r[idx], kind="stable")]
    return Outcome(winners=winners.astype(np.intp), payments=batch.payments[t].copy())


def _as_rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, numbers.Integral | np.random.SeedSequence):
        return np.random.default_rng(rng)
    raise ValueError(
        f"rng must be a numpy.random.Generator, a seed or None, got {type(rng).__name__}"
    )


def _check_k(k: object) -> int:
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise ValueError(f"k (labels per task) must be an integer >= 1, got {k!r}")
    if k < 1:
        raise ValueError(f"k (labels per task) must be >= 1, got {k}")
    return int(k)


def _per_task(value: object, name: str, T: int) -> np.ndarray:
    """A scalar or (T,) money limit (reserve, budget) as a (T,) float array."""
    arr = np.asarray(value, dtype=float)
    if arr.ndim == 0:
        arr = np.full(T, float(arr))
    elif arr.shape != (T,):
        raise ValueError(
            f"{name} must be a scalar or have one value per task (shape ({T},)), "
            f"got shape {arr.shape}"
        )
    if np.isnan(arr).any() or (arr < 0).any():
        raise ValueError(f"{name} must be >= 0 (math.inf for no limit), got {value!r}")
    return arr


class Mechanism(ABC):
    """A reverse auction for ``k`` labels per task.

    Subclasses set the class attributes and implement :meth:`allocate`.
    Parameters of a rule (e.g. a posted price) are constructor arguments.
    """

    #: registry name, e.g. ``"vickrey"``
    name: ClassVar[str]
    #: theoretical guarantees; a subclass may compute it per instance
    properties: Properties
    #: the paper or theorem the rule follows
    source: ClassVar[str] = ""

    # ------------------------------------------------------------------ rule
    @abstractmethod
    def allocate(
        self,
        asks: np.ndarray,
        k: int,
        *,
        quality: np.ndarray | None,
        reserve: np.ndarray,
        budget: np.ndarray,
        u: np.ndarray,
    ) -> BatchOutcome:
        """The rule itself, on validated inputs; deterministic given ``u``.

        Args:
            asks: (T, n) float, NaN where a bidder is absent, else finite >= 0.
            k: labels wanted per task, >= 1.
            quality: (T, n) finite float where present, or None.
            reserve: (T,) per-label reserve, >= 0, may be inf.
            budget: (T,) cap on each task's total payment, >= 0, may be inf.
            u: (T, n) uniforms in [0, 1) that break ties (smaller ranks first).
        """

    # ------------------------------------------------------------- interface
    def run(
        self,
        asks: np.ndarray,
        k: int,
        *,
        quality: np.ndarray | None = None,
        reserve: float = math.inf,
        budget: float = math.inf,
        rng: np.random.Generator | int | None = None,
    ) -> Outcome:
        """Run the auction for one task.

        Args:
            asks: 1-D array of the n asks (finite, >= 0, no NaN).
            k: number of labels wanted (>= 1).
            quality: optional 1-D array of n quality scores (higher is better),
                required by quality-aware rules and ignored by the others.
            reserve: highest price the buyer pays per label; only asks <= reserve win.
            budget: cap on the task's total payment.
            rng: generator for tie-breaking (draws ``n`` uniforms); a seed or
                None (fresh entropy) is turned into one.
        """
        a = np.asarray(asks, dtype=float)
        if a.ndim != 1:
            raise ValueError(
                f"asks must be a 1-D array for run(), got shape {a.shape}; "
                "use run_batch() for many tasks"
            )
        if np.isnan(a).any():
            raise ValueError("asks contains NaN; absence (NaN) is only allowed in run_batch()")
        q = None if quality is None else np.asarray(quality, dtype=float)
        if q is not None and q.shape != a.shape:
            raise ValueError(f"quality must have the shape of asks {a.shape}, got {q.shape}")
        gen = _as_rng(rng)
        k = _check_k(k)
        reserve_arr = _per_task(reserve, "reserve", 1)
        budget_arr = _per_task(budget, "budget", 1)
        a2 = a[None, :]
        q2 = None if q is None else q[None, :]
        self._validate(a2, q2)
        u = gen.random(a.shape[0])[None, :]
        batch = self.allocate(a2, k, quality=q2, reserve=reserve_arr, budget=budget_arr, u=u)
        return batch.outcome(0)

    def run_batch(
        self,
        asks: np.ndarray,
        k: int,
        *,
        quality: np.ndarray | None = None,
        reserve: float | np.ndarray = math.inf,
        budget: float | np.ndarray = math.inf,
        rng: np.random.Generator | int | None = None,
        tie_break: np.ndarray | None = None,
    ) -> BatchOutcome:
        """Run T independent auctions at once, vectorized over tasks.

        Args:
            asks: (T, n) array; NaN means bidder i does not bid on task t.
            k: number of labels wanted per task (>= 1).
            quality: optional (T, n) or (n,) quality scores (higher is better).
            reserve: scalar or (T,) per-label reserve.
            budget: scalar or (T,) cap on each task's total payment.
            rng: generator for tie-breaking (draws ``T * n`` uniforms in task order).
            tie_break: (T, n) uniforms in [0, 1) to break ties with instead of
                drawing them from ``rng`` (which is then not used): common random
                numbers across calls, as the equilibrium solver needs.
        """
        a = np.asarray(asks, dtype=float)
        if a.ndim != 2:
            raise ValueError(
                f"asks must be a 2-D (tasks, bidders) array for run_batch(), got shape {a.shape}"
            )
        T, n = a.shape
        q = None
        if quality is not None:
            q = np.asarray(quality, dtype=float)
            if q.shape == (n,):
                q = np.broadcast_to(q, (T, n))
            elif q.shape != (T, n):
                raise ValueError(f"quality must have shape {(T, n)} or {(n,)}, got {q.shape}")
        k = _check_k(k)
        reserve_arr = _per_task(reserve, "reserve", T)
        budget_arr = _per_task(budget, "budget", T)
        self._validate(a, q)
        if tie_break is None:
            u = _as_rng(rng).random((T, n))
        else:
            u = np.asarray(tie_break, dtype=float)
            if u.shape != (T, n):
                raise ValueError(f"tie_break must have the shape of asks {(T, n)}, got {u.shape}")
        return self.allocate(a, k, quality=q, reserve=reserve_arr, budget=budget_arr, u=u)

    # ------------------------------------------------------------ validation
    def _validate(self, asks: np.ndarray, quality: np.ndarray | None) -> None:
        if np.isinf(asks).any():
            raise ValueError("asks must be finite (use NaN in run_batch for an absent bidder)")
        if (asks < 0).any():
            raise ValueError("asks must be >= 0")
        if self.properties.quality_aware:
            if quality is None:
                raise ValueError(f"mechanism {self.name!r} is quality-aware: pass quality=")
            present = ~np.isnan(asks)
            if not np.isfinite(quality[present]).all():
                raise ValueError("quality must be finite wherever an ask is present")
            self._validate_quality(quality[present])

    def _validate_quality(self, quality: np.ndarray) -> None:  # noqa: B027 (optional hook)
        """Hook for rules that restrict the quality scores (e.g. to > 0)."""

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({params})"

    def params(self) -> dict[str, object]:
        """The rule's parameters (constructor arguments)."""
        return {}

    @classmethod
    def market_params(cls, *, cost_dist, reserve: float) -> dict[str, object]:
        """Parameters the rule takes from the market it runs in, where the user
        sets none: e.g. a posted price from the cost distribution (a frozen
        ``scipy.stats`` distribution) and the reserve. None by default."""
        return {}
