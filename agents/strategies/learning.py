"""``learning``: an EXP3 bandit over a grid of markups.

Each round the annotator samples a markup arm j from

    p_j = (1 - gamma) w_j / sum(w) + gamma / K,

asks cost x (1 + grid[j]) (capped at the reserve when the reserve is at least
the cost) and, after the round, credits arm j with the importance-weighted
reward r / p_j: w_j *= exp(eta r / p_j). A row of weights is rescaled to a
largest weight of 1 when it passes 1e200 (the probabilities do not change).

The learning rate is a heuristic, not Auer et al.'s. Their Exp3 ties it to
the exploration, eta = gamma / K (0.01 on the default grid), which bounds the
worst-case regret; a separate eta is the common variant (Bubeck &
Cesa-Bianchi 2012, "Regret analysis of stochastic and nonstochastic
multi-armed bandit problems", section 3.1). The default eta = 0.5 was chosen
by measurement: against the best fixed markup in hindsight, one bidder among
first-price equilibrium rivals (n = 10, k = 3, lognormal costs) has a lower
regret with it than with gamma / K at every horizon measured, e.g. 0.060 vs
0.144 reward units per round after 120 rounds at cost $0.15, and 0.031 vs
0.112 after 1,000 (``benchmarks/bench_learning.py``; table in
``benchmarks/README.md``). With gamma / K a bidder barely moves within the
tens of rounds a market runs, because rewards are small (see below).

The reward must lie in [0, 1]; it is the round's profit per bid relative to
the largest markup's margin,

    r = clip(profit / (max(bids, 1) x cost x max(grid) + tiny), 0, 1),

so r = 1 means "won every bid at the largest markup on the grid". A round in
which the annotator placed no bid says nothing about the arm and is skipped.

``init="truthful"`` gives the smallest markup on the grid (0 by default) a
head start of ``e**5`` in weight, so the bidder starts close to truthful
(expected markup about 0.06 on the default grid) and learns to shade up only
if that pays.

Source: Auer, Cesa-Bianchi, Freund & Schapire (2002), "The nonstochastic
multiarmed bandit problem", SIAM J. Computing 32(1), algorithm Exp3.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np

from ..randomness import to_uniform
from .base import MarketInfo, RoundFeedback, Strategy
from .pool import StrategyPool
from .registry import register

__all__ = ["Exp3", "Exp3Pool"]

DEFAULT_GRID = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.6, 0.8, 1.0)
#: log-weight head start of the smallest markup under ``init="truthful"``.
TRUTHFUL_HEAD_START = 5.0
_TINY = 1e-12


class Exp3Pool(StrategyPool):
    """EXP3 for many annotators at once: one row of weights per member (a
    matrix), arms sampled and credited with numpy, no loop over members.

    Weights are kept as w = exp(log-weight) with each row's sum; an update
    multiplies one entry (the arm played) by exp(eta r / p), so crediting
    costs O(1) per member, and a row is rescaled to a maximum of 1 only when
    its largest weight passes 1e200 (same probabilities, no overflow).
    All members share the grid, gamma, eta and init of the pool's factory.
    Each member's arm this round comes from its own uniform, so a member
    plays the same arm alone or among 10^5 others.
    """

    _RESCALE_ABOVE = 1e200

    def __init__(self, factory) -> None:
        super().__init__(factory)
        template = factory()
        self.grid, self.gamma, self.eta, self.init = (
            template.grid, template.gamma, template.eta, template.init,
        )  # fmt: skip
        self.markups_grid = np.array(self.grid)
        K = len(self.grid)
        start = np.zeros(K)
        if self.init == "truthful":
            start[int(np.argmin(self.markups_grid))] = TRUTHFUL_HEAD_START
        self._start = np.exp(start - start.max())
        self.w = np.zeros((0, K))
        self.w_sum = np.zeros(0)
        self.arm = np.zeros(0, dtype=np.int64)  # the arm played this round (-1: none)
        self.p_arm = np.zeros(0)
        self._steps = (np.arange(K) + 1.0) / K  # the uniform part of the cdf
        self._members: dict[int, Exp3] = {}

    def add(self, n: int) -> np.ndarray:
        rows = super().add(n)
        if self.size > self.w.shape[0]:  # grow by doubling: entrants stay cheap
            grow = max(self.size, 2 * self.w.shape[0]) - self.w.shape[0]
            self.w = np.vstack([self.w, np.tile(self._start, (grow, 1))])
            self.w_sum = np.concatenate([self.w_sum, np.full(grow, self._start.sum())])
            self.arm = np.concatenate([self.arm, np.full(grow, -1, dtype=np.int64)])
            self.p_arm = np.concatenate([self.p_arm, np.full(grow, np.nan)])
        return rows

    def member(self, row: int) -> Exp3:
        m = self._members.get(row)
        if m is None:
            m = Exp3._view(self, row)
            self._members[row] = m
        return m

    def probabilities(self, rows: np.ndarray) -> np.ndarray:
        """(len(rows), K) arm probabilities: (1 - gamma) w / sum(w) + gamma / K."""
        K = self.w.shape[1]
        return (1.0 - self.gamma) * self.w[rows] / self.w_sum[rows, None] + self.gamma / K

    def asks(self, rows, costs, info: MarketInfo, u: np.ndarray) -> np.ndarray:
        """Sample each member's arm from its uniform; ask cost x (1 + markup),
        capped at the reserve when the reserve is at least the cost."""
        K = self.w.shape[1]
        w = self.w[rows]
        scale = (1.0 - self.gamma) / self.w_sum[rows]
        cdf = np.cumsum(w, axis=1) * scale[:, None] + self.gamma * self._steps
        arm = np.minimum((cdf <= (u * cdf[:, -1])[:, None]).sum(axis=1), K - 1)
        self.arm[rows] = arm
        self.p_arm[rows] = w[np.arange(rows.size), arm] * scale + self.gamma / K
        costs = np.asarray(costs, dtype=float)
        ask = costs * (1.0 + self.markups_grid[arm])
        if info.reserve < np.inf:
            ask = np.where(info.reserve >= costs, np.minimum(ask, info.reserve), ask)
        return ask

    def bid(self, rows, costs, qualities, info, bits):
        return self.asks(rows, costs, info, to_uniform(bits)), np.array(qualities, dtype=float)

    def observe(self, rows, *, asks, bids, wins, revenue, costs, info, bits):
        """Credit each member's arm with its importance-weighted, normalized profit
        (members that placed no bid, or played no arm, learn nothing)."""
        arm = self.arm[rows]
        learn = (np.asarray(bids) > 0) & (arm >= 0)
        r, a = rows[learn], arm[learn]
        costs = np.asarray(costs, dtype=float)[learn]
        scale = np.maximum(np.asarray(bids)[learn], 1) * costs * float(self.markups_grid.max())
        profit = np.asarray(revenue, dtype=float)[learn] - np.asarray(wins)[learn] * costs
        reward = np.clip(profit / (scale + _TINY), 0.0, 1.0)
        old = self.w[r, a]
        new = old * np.exp(self.eta * reward / self.p_arm[r])
        self.w[r, a] = new
        self.w_sum[r] += new - old
        big = r[new > self._RESCALE_ABOVE]
        if big.size:
            self.w[big] /= self.w[big].max(axis=1, keepdims=True)
            self.w_sum[big] = self.w[big].sum(axis=1)
        self.arm[rows] = -1

    def markups(self, rows, costs, asks):
        """Expected markup under each member's current arm probabilities."""
        mean = float(self.markups_grid.mean())
        return (1.0 - self.gamma) * (self.w[rows] @ self.markups_grid) / self.w_sum[
            rows
        ] + self.gamma * mean


@register
class Exp3(Strategy):
    """EXP3 over markups: ask = cost x (1 + sampled markup).

    An instance is one row of an :class:`Exp3Pool` (its own pool of one when
    built directly), so the per-annotator and the vectorized paths are one code.

    Args:
        grid: the markups to choose from, finite and >= 0.
        gamma: exploration rate in (0, 1].
        eta: learning rate (> 0) applied to the importance-weighted reward.
        init: ``"uniform"`` (equal weights) or ``"truthful"`` (most weight on
            the smallest markup).
    """

    name = "learning"
    pool_class = Exp3Pool

    def __init__(
        self,
        grid: Sequence[float] = DEFAULT_GRID,
        gamma: float = 0.1,
        init: str = "uniform",
        eta: float = 0.5,
    ) -> None:
        grid = tuple(float(g) for g in grid)
        if not grid or not all(math.isfinite(g) and g >= 0 for g in grid):
            raise ValueError(f"learning: grid must be non-empty, finite and >= 0, got {grid!r}")
        gamma = float(gamma)
        if not 0.0 < gamma <= 1.0:
            raise ValueError(f"learning: gamma must be in (0, 1], got {gamma!r}")
        eta = float(eta)
        if not (math.isfinite(eta) and eta > 0):
            raise ValueError(f"learning: eta must be finite and > 0, got {eta!r}")
        if init not in ("uniform", "truthful"):
            raise ValueError(f"learning: init must be 'uniform' or 'truthful', got {init!r}")
        self.grid = grid
        self.gamma = gamma
        self.eta = eta
        self.init = init
        self._pool: Exp3Pool | None = None
        self._row = 0

    @classmethod
    def _view(cls, pool: Exp3Pool, row: int) -> Exp3:
        view = cls.__new__(cls)
        view.grid, view.gamma, view.eta, view.init = pool.grid, pool.gamma, pool.eta, pool.init
        view._pool, view._row = pool, row
        return view

    def _own(self) -> tuple[Exp3Pool, np.ndarray]:
        if self._pool is None:  # built directly: a pool of one, created on first use
            self._pool = Exp3Pool(
                functools.partial(Exp3, self.grid, self.gamma, self.init, self.eta)
            )
            self._row = int(self._pool.add(1)[0])
        return self._pool, np.array([self._row])

    def probabilities(self) -> np.ndarray:
        """Current probability of each arm: (1 - gamma) w / sum(w) + gamma / K."""
        pool, rows = self._own()
        return pool.probabilities(rows)[0]

    def ask(self, cost: float, info: MarketInfo, rng: np.random.Generator) -> float:
        """Sample an arm (one uniform from ``rng``) and ask cost x (1 + its markup)."""
        pool, rows = self._own()
        return float(pool.asks(rows, np.array([float(cost)]), info, np.array([rng.random()]))[0])

    def observe(self, feedback: RoundFeedback, info: MarketInfo, rng: np.random.Generator) -> None:
        """Credit the arm played with its importance-weighted, normalized profit."""
        pool, rows = self._own()
        pool.observe(
            rows,
            asks=np.array([feedback.ask]),
            bids=np.array([feedback.bids]),
            wins=np.array([feedback.wins]),
            revenue=np.array([feedback.revenue]),
            costs=np.array([feedback.cost]),
            info=info,
            bits=np.zeros(1, dtype=np.uint64),
        )

    @property
    def markup(self) -> float:
        """Expected markup under the current arm probabilities (what metrics plot)."""
        pool, rows = self._own()
        return float(pool.markups(rows, None, None)[0])
