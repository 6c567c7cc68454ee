"""The solver's dynamics: one step of damped best response on a grid of cost
types, the type grids, and adding types to a solved strategy."""

from __future__ import annotations

import math

import numpy as np

from .game import StrategyGrid, smooth

__all__ = ["BestResponseStep", "add_types", "claim_range_of", "type_grid", "verify_types"]


class BestResponseStep:
    """One step of the best-response dynamics (see the module docstring)."""

    def __init__(self, game, costs, settings, coarse, claim_grid, a_lo, a_hi, cap, scale):
        self.game, self.costs, self.settings = game, costs, settings
        self.coarse, self.claim_grid = coarse, claim_grid
        self.a_lo, self.a_hi, self.cap, self.scale = a_lo, a_hi, cap, scale
        G = costs.size
        self.alpha, self.prev = np.ones(G), np.zeros(G)
        self.delta = np.full(G, (a_hi - a_lo) / (settings.coarse - 1))
        self.need_global, self.checked_globally = True, False
        self.last_step = math.inf

    def step(self, sol: StrategyGrid, samp, it: int, average: int = 0):
        """The next strategy, whether it moved less than tol, and its largest step."""
        st, game, costs = self.settings, self.game, self.costs
        glob = self.coarse if (self.need_global or it % st.global_every == 1) else self.coarse[:0]
        self.checked_globally = glob.size > 0
        br, indifferent = game.ask_response(
            samp, sol, costs, sol.asks, sol.claims, glob, self.delta, st.local, self.a_lo, self.a_hi
        )
        if not math.isfinite(self.cap) and np.any(
            (br >= self.a_hi * (1 - 1e-9)) & (costs < self.a_hi)
        ):
            raise ValueError(
                f"{game.mech.name}: the best ask grows without bound (it reached the search "
                f"bound {self.a_hi:g}) with no finite reserve or budget; pass reserve= or budget="
            )
        if st.smooth:  # (types outside the searched range stay as they are; the spline
            # must not push a best response at the cap past it)
            inside = (br >= self.a_lo) & (br <= self.a_hi)
            br = smooth(costs, br, ~indifferent & inside)
            br = np.where(inside, np.clip(br, self.a_lo, self.a_hi), br)
        step = br - sol.asks
        step[np.abs(step) <= 1e-9 * self.scale] = 0.0  # rounding (the spline), not a move
        if average:
            alpha = np.full(costs.size, 1.0 / (average + 1))
        else:
            flip = step * self.prev < 0
            alpha = np.where(flip, self.alpha * 0.5, np.minimum(self.alpha * 1.25, 1.0))
            alpha = np.clip(alpha, st.min_damping, 1.0 if it == 1 else st.damping)
        self.alpha, self.prev = alpha, step
        # a full step lands exactly on the best response (a cap must not become cap + 1 ulp)
        asks = np.where(alpha >= 1.0, br, sol.asks + alpha * step)
        inside = (sol.asks >= self.a_lo) & (sol.asks <= self.a_hi) & (br <= self.a_hi)
        asks = np.where(inside, np.clip(asks, self.a_lo, self.a_hi), asks)
        moved = float(np.max(np.abs(alpha * step)))
        cl_moved, claims = 0.0, sol.claims
        if game.claims:
            # claims live on a grid, and a claim game is often a race to the top (the
            # best claim is the lowest that beats the rivals'): full steps, no damping
            claims = game.claim_response(samp, sol, costs, sol.asks, sol.claims, self.claim_grid)
            width = sol.claim_range[1] - sol.claim_range[0]
            cl_moved = float(np.max(np.abs(claims - sol.claims))) / width
        self.delta = np.clip(
            2.0 * np.abs(step), 4 * st.tol * self.scale, (self.a_hi - self.a_lo) / 4
        )
        small = moved <= st.tol * self.scale and cl_moved <= st.tol
        self.need_global = small
        self.last_step = moved
        return StrategyGrid(costs, asks, claims, sol.claim_range), small, max(moved, cl_moved)


def add_types(sol: StrategyGrid, c: np.ndarray, ask: np.ndarray, claim, scale: float):
    """``sol`` with types ``c`` playing (ask, claim): a solved type's action is
    replaced, a new type is inserted."""
    costs, asks = sol.costs.copy(), sol.asks.copy()
    claims = None if sol.claims is None else sol.claims.copy()
    for i, ci in enumerate(c):
        j = int(np.argmin(np.abs(costs - ci)))
        if abs(costs[j] - ci) <= 1e-9 * scale:
            asks[j] = ask[i]
            if claims is not None:
                claims[j] = claim[i]
        else:
            at = int(np.searchsorted(costs, ci))
            costs = np.insert(costs, at, ci)
            asks = np.insert(asks, at, ask[i])
            if claims is not None:
                claims = np.insert(claims, at, claim[i])
    return costs, StrategyGrid(costs, asks, claims, sol.claim_range)


def verify_types(costs: np.ndarray, m: int) -> np.ndarray:
    """``m`` types spread evenly over the solved types and the midpoints between
    them (a midpoint is where interpolation is furthest from a solved ask)."""
    both = np.sort(np.concatenate([costs, 0.5 * (costs[1:] + costs[:-1])]))
    if m >= both.size:
        return both
    return both[np.unique(np.round(np.linspace(0, both.size - 1, m)).astype(int))]


def type_grid(cost_dist, G: int, cap: float) -> np.ndarray:
    """G cost types: half at quantiles of the prior, half evenly spaced in cost
    between its 0.1 % and 99.9 % quantiles (so a long upper tail is not left
    with a few far-apart types), plus the price cap where it falls inside."""
    n_q = G // 2 + 1
    q = 1e-3 + (1 - 2e-3) * np.arange(n_q) / (n_q - 1)
    cq = quantiles(cost_dist, "cost_dist", q)
    if cq[0] < 0:
        raise ValueError(f"cost_dist: costs must be >= 0, the distribution has {cq[0]:g}")
    if np.any(np.diff(cq) <= 0):
        raise ValueError("cost_dist: quantiles must increase (a continuous distribution)")
    n_u = G - n_q
    cu = cq[0] + (cq[-1] - cq[0]) * (np.arange(n_u) + 0.5) / (n_u + 1)
    grid = np.concatenate([cq, cu])
    if math.isfinite(cap) and cq[0] < cap < cq[-1]:
        grid = np.append(grid, cap)
    grid = np.unique(grid)
    keep = np.concatenate([[True], np.diff(grid) > 1e-9 * max(float(grid[-1]), 1.0)])
    return grid[keep]


def claim_range_of(claim_range, quality_dist) -> tuple[float, float]:
    if claim_range is None:
        lo_q, hi_q = (float(x) for x in quality_dist.support())
        if not (math.isfinite(lo_q) and math.isfinite(hi_q)):
            lo_q, hi_q = (float(x) for x in quality_dist.ppf([1e-3, 1 - 1e-3]))
        claim_range = (lo_q, hi_q)
    c_lo, c_hi = (float(x) for x in claim_range)
    if not (math.isfinite(c_lo) and math.isfinite(c_hi) and c_lo < c_hi):
        raise ValueError(f"claim_range: must be finite with lo < hi, got {claim_range!r}")
    return c_lo, c_hi


def quantiles(dist, name: str, q: np.ndarray) -> np.ndarray:
    if not all(hasattr(dist, m) for m in ("ppf", "cdf")):
        raise ValueError(f"{name}: needs a frozen scipy.stats-like distribution (ppf and cdf)")
    x = np.asarray(dist.ppf(q), dtype=float)
    if not np.isfinite(x).all():
        raise ValueError(
            f"{name}: the distribution has no finite quantiles between {q.min():g} and "
            f"{q.max():g}; the solver needs them"
        )
    return x
