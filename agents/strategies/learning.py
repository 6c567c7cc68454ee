"""``learning``: an EXP3 bandit over a grid of markups.

Each round the annotator samples a markup arm j from

    p_j = (1 - gamma) w_j / sum(w) + gamma / K,

asks cost x (1 + grid[j]) (capped at the reserve when the reserve is at least
the cost) and, after the round, credits arm j with the importance-weighted
reward r / p_j: log w_j += eta (r / p_j). Weights are kept as logs
(shifted so the largest is 0) for numerical stability.

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

import math
from collections.abc import Sequence

import numpy as np

from .base import MarketInfo, RoundFeedback, Strategy
from .registry import register

__all__ = ["Exp3"]

DEFAULT_GRID = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.6, 0.8, 1.0)
#: log-weight head start of the smallest markup under ``init="truthful"``.
TRUTHFUL_HEAD_START = 5.0
_TINY = 1e-12


@register
class Exp3(Strategy):
    """EXP3 over markups: ask = cost x (1 + sampled markup).

    Args:
        grid: the markups to choose from, finite and >= 0.
        gamma: exploration rate in (0, 1].
        eta: learning rate (> 0) applied to the importance-weighted reward.
        init: ``"uniform"`` (equal weights) or ``"truthful"`` (most weight on
            the smallest markup).
    """

    name = "learning"

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
        self._markups = np.array(grid)
        self._log_w = np.zeros(len(grid))
        if init == "truthful":
            self._log_w[int(np.argmin(self._markups))] = TRUTHFUL_HEAD_START
            self._log_w -= self._log_w.max()
        self._arm: int | None = None
        self._p_arm = math.nan
        self._p: np.ndarray | None = None

    def probabilities(self) -> np.ndarray:
        """Current probability of each arm: (1 - gamma) w / sum(w) + gamma / K."""
        if self._p is None:  # cached until the weights change
            w = np.exp(self._log_w - self._log_w.max())
            self._p = (1.0 - self.gamma) * w / w.sum() + self.gamma / len(w)
        return self._p

    def ask(self, cost: float, info: MarketInfo, rng: np.random.Generator) -> float:
        """Sample an arm (one uniform from ``rng``) and ask cost x (1 + its markup)."""
        cost = float(cost)
        p = self.probabilities()
        cdf = np.cumsum(p)
        arm = min(int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right")), len(p) - 1)
        self._arm, self._p_arm = arm, float(p[arm])
        ask = cost * (1.0 + self._markups[arm])
        if info.reserve >= cost:
            ask = min(ask, info.reserve)
        return float(ask)

    def observe(self, feedback: RoundFeedback, info: MarketInfo, rng: np.random.Generator) -> None:
        """Credit the arm played with its importance-weighted, normalized profit."""
        if self._arm is None or feedback.bids <= 0:
            return
        scale = max(feedback.bids, 1) * feedback.cost * float(self._markups.max()) + _TINY
        reward = min(max(feedback.profit / scale, 0.0), 1.0)
        self._log_w[self._arm] += self.eta * reward / self._p_arm
        self._log_w -= self._log_w.max()
        self._p = None
        self._arm = None

    @property
    def markup(self) -> float:
        """Expected markup under the current arm probabilities (what metrics plot)."""
        return float(self.probabilities() @ self._markups)
