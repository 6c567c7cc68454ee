"""The equilibrium solver's engine: a mechanism played by one bidder against
rivals who follow a strategy, over stratified samples of rival profiles.

Everything here calls the mechanism only through ``run_batch`` (with explicit
tie-break uniforms, so that every candidate action of a type faces the same
rivals and the same ties: common random numbers). See
:mod:`agents.solver.solve` for the method.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats
from scipy.interpolate import make_smoothing_spline
from scipy.stats import qmc

from mechanisms import Mechanism

from .solution import Extrapolating

__all__ = ["Game", "Samples", "StrategyGrid", "vertex"]


def open_uniform(rng: np.random.Generator, shape) -> np.ndarray:
    """Uniforms in the open interval (0, 1), so quantiles stay finite and > 0."""
    return np.clip(rng.random(shape), 1e-12, 1.0 - 1e-12)


@dataclass
class StrategyGrid:
    """A symmetric strategy: asks (and claims) on a grid of cost types,
    interpolated in between (:class:`Extrapolating`)."""

    costs: np.ndarray
    asks: np.ndarray
    claims: np.ndarray | None = None
    claim_range: tuple[float, float] | None = None

    def ask(self, c: np.ndarray) -> np.ndarray:
        return np.maximum(Extrapolating(self.costs, self.asks)(c), 0.0)

    def claim(self, c: np.ndarray) -> np.ndarray | None:
        if self.claims is None:
            return None
        return np.clip(Extrapolating(self.costs, self.claims)(c), *self.claim_range)


@dataclass
class Samples:
    """Rival profiles for G types: rival costs (G, M, n - 1), weights (G, M)
    summing to 1 per type, the buyer's quality scores (rivals' and the
    bidder's own) where a quality-aware rule needs them, tie-breaks (G, M, n)."""

    rival_costs: np.ndarray
    weights: np.ndarray
    rival_quality: np.ndarray | None
    own_quality: np.ndarray | None
    tie_break: np.ndarray

    def head(self, m: int) -> Samples:
        """The first m profiles of each type, reweighted to sum to 1."""
        M = self.weights.shape[1]
        if m >= M:
            return self
        w = self.weights[:, :m]
        w = w / w.sum(axis=1, keepdims=True)
        return Samples(
            self.rival_costs[:, :m],
            w,
            None if self.rival_quality is None else self.rival_quality[:, :m],
            None if self.own_quality is None else self.own_quality[:, :m],
            self.tie_break[:, :m],
        )


class Game:
    """A mechanism, the auction settings and the priors: expected outcomes of
    a bidder's candidate actions against rivals playing a strategy."""

    def __init__(
        self,
        mech: Mechanism,
        *,
        n: int,
        k: int,
        reserve: float,
        budget: float,
        cost_dist,
        quality_dist,
        claim_range,
        rows_per_call: int,
    ) -> None:
        self.mech, self.n, self.k = mech, n, k
        self.reserve, self.budget = reserve, budget
        self.cost_dist, self.quality_dist = cost_dist, quality_dist
        self.claim_range = claim_range
        self.rows_per_call = rows_per_call
        self.claims = mech.properties.uses_claims
        self.buyer_scores = mech.properties.quality_aware and not self.claims

    # ------------------------------------------------------------- samples
    def draw(self, costs: np.ndarray, M: int, rng: np.random.Generator) -> Samples:
        """M rival profiles for each type, stratified by J, the number of rivals
        cheaper than the type: J ~ Binomial(n - 1, F(c)). Stratum j gets a share
        0.5 P(J = j) + 0.5 (1 / (j + 1)) / H of the samples (H normalizes) and
        weight P(J = j) / share: the strata with few cheaper rivals, where a
        dear type can win, are sampled even when they are rare events. Rival
        cost quantiles within a stratum are scrambled Sobol points."""
        G, r = costs.size, self.n - 1
        q = np.clip(np.asarray(self.cost_dist.cdf(costs), dtype=float), 0.0, 1.0)
        rival_costs = np.empty((G, M, r))
        weights = np.empty((G, M))
        for g in range(G):
            p = stats.binom.pmf(np.arange(r + 1), r, q[g])
            floor = 1.0 / np.arange(1, r + 2)  # few cheaper rivals: where a dear type wins
            alloc = 0.5 * p + 0.5 * floor / floor.sum()
            pts = qmc.Sobol(1 + r, scramble=True, seed=rng).random(M)
            j = np.minimum(np.searchsorted(np.cumsum(alloc), pts[:, 0], side="right"), r)
            weights[g] = p[j] / alloc[j] / M
            if r:
                below = np.arange(r)[None, :] < j[:, None]  # the first j rivals are cheaper
                quant = np.where(below, q[g] * pts[:, 1:], q[g] + (1.0 - q[g]) * pts[:, 1:])
                quant = np.clip(quant, 1e-12, 1.0 - 1e-12)
                rc = np.asarray(self.cost_dist.ppf(quant), dtype=float)
                rival_costs[g] = rng.permuted(rc, axis=1)
        rival_quality = own_quality = None
        if self.buyer_scores:
            rival_quality = np.asarray(self.quality_dist.ppf(open_uniform(rng, (G, M, r))), float)
            own_quality = np.asarray(self.quality_dist.ppf(open_uniform(rng, (G, M))), float)
        return Samples(rival_costs, weights, rival_quality, own_quality, rng.random((G, M, self.n)))

    # ------------------------------------------------------------ outcomes
    def outcomes(
        self,
        s: Samples,
        rivals: StrategyGrid,
        cand_asks: np.ndarray,
        cand_claims: np.ndarray | None = None,
        keep_samples: bool = False,
    ):
        """Expected (win, payment) of each type's candidate actions, (G, C) each,
        against rivals playing ``rivals``. ``cand_*`` are (G, C). With
        ``keep_samples`` also the per-profile (won, payment), (G, C, M)."""
        G, C = cand_asks.shape
        M, n = s.weights.shape[1], self.n
        rival_asks = rivals.ask(s.rival_costs)
        rival_claims = rivals.claim(s.rival_costs) if self.claims else None
        step = max(1, self.rows_per_call // (C * M))
        W, P = np.empty((G, C)), np.empty((G, C))
        won_all = pay_all = None
        if keep_samples:
            won_all, pay_all = np.empty((G, C, M), dtype=bool), np.empty((G, C, M))
        for start in range(0, G, step):
            sl = slice(start, min(G, start + step))
            B = sl.stop - sl.start
            asks = np.empty((B, C, M, n))
            asks[..., 0] = cand_asks[sl][:, :, None]
            asks[..., 1:] = rival_asks[sl][:, None]
            quality = None
            if self.claims or self.buyer_scores:
                quality = np.empty((B, C, M, n))
                if self.claims:
                    quality[..., 0] = cand_claims[sl][:, :, None]
                    quality[..., 1:] = rival_claims[sl][:, None]
                else:
                    quality[..., 0] = s.own_quality[sl][:, None]
                    quality[..., 1:] = s.rival_quality[sl][:, None]
                quality = quality.reshape(-1, n)
            u = np.broadcast_to(s.tie_break[sl][:, None], (B, C, M, n)).reshape(-1, n)
            out = self.mech.run_batch(
                asks.reshape(-1, n),
                self.k,
                quality=quality,
                reserve=self.reserve,
                budget=self.budget,
                tie_break=u,
            )
            won = out.won[:, 0].reshape(B, C, M)
            pay = out.payments[:, 0].reshape(B, C, M)
            w = s.weights[sl][:, None, :]
            W[sl] = (won * w).sum(axis=2)
            P[sl] = (pay * w).sum(axis=2)
            if keep_samples:
                won_all[sl], pay_all[sl] = won, pay
        return (W, P, won_all, pay_all) if keep_samples else (W, P)

    def utility(self, s, rivals, costs, cand_asks, cand_claims=None) -> tuple:
        """(U, W): expected utility and win probability of the candidates, (G, C)."""
        W, P = self.outcomes(s, rivals, cand_asks, cand_claims)
        return P - costs[:, None] * W, W

    # --------------------------------------------------------- best replies
    def ask_response(self, s, rivals, costs, b, cl, glob, delta, n_local, a_lo, a_hi):
        """Each type's best ask against ``rivals``, in two passes: (1) its current
        ask, its cost, the global grid ``glob`` and ``n_local`` asks within +-delta
        of the current ask; (2) nine asks around the best of pass 1, spaced half
        its distance to the nearest other candidate, and the vertex of the
        least-squares parabola through them, where it is at least as good as
        the best of them (at a corner it is not). The current ask is kept unless
        another is strictly better (inertia: an indifferent type stays put).
        Returns the best asks and which types are indifferent (several distinct
        asks exactly as good)."""
        G = b.size
        rows = np.arange(G)
        local = b[:, None] + delta[:, None] * np.linspace(-1.0, 1.0, n_local)[None]
        cand = np.concatenate([b[:, None], costs[:, None], np.repeat(glob[None], G, 0), local], 1)
        cand = np.clip(cand, a_lo, a_hi)
        cand[:, 0] = b
        U, _ = self.utility(s, rivals, costs, cand, _repeat(cl, cand.shape[1]))
        a1 = cand[rows, np.argmax(U, axis=1)]
        gap = np.abs(cand - a1[:, None])
        gap[gap <= 1e-15] = np.inf
        h = np.minimum(gap.min(axis=1), (a_hi - a_lo) / 4)
        zoom = np.clip(a1[:, None] + h[:, None] * np.linspace(-2.0, 2.0, 9)[None], a_lo, a_hi)
        cand2 = np.concatenate([b[:, None], zoom], axis=1)
        U2, _ = self.utility(s, rivals, costs, cand2, _repeat(cl, cand2.shape[1]))
        j = np.argmax(U2, axis=1)
        best = U2[rows, j]
        out = cand2[rows, j]
        v = vertex(zoom, U2[:, 1:], fallback=out)
        moved = v != out  # the vertex replaces the best grid point only if it is as good
        if moved.any():
            Uv, _ = self.utility(s, rivals, costs, np.stack([out, v], axis=1), _repeat(cl, 2))
            out = np.where(moved & (Uv[:, 1] >= Uv[:, 0]), v, out)
        keep = best <= U2[:, 0] + tie_tol(best)
        # indifferent: distinct asks as good as the best (exact ties under CRN)
        ties = np.where(U2 >= (best - tie_tol(best))[:, None], cand2, np.nan)
        indifferent = (np.nanmax(ties, axis=1) - np.nanmin(ties, axis=1)) > 0
        return np.where(keep, b, out), indifferent

    def claim_response(self, s, rivals, costs, b, cl, claim_grid) -> np.ndarray:
        """Each type's best claim on the claim grid, holding its ask: its current
        claim unless another is strictly better; among equally good claims, the
        highest (a claim that merely beats the rivals' is no longer best once
        they claim a little more: the claim race then ends in one step)."""
        G = b.size
        cands = np.concatenate([cl[:, None], np.repeat(claim_grid[None], G, axis=0)], axis=1)
        U, _ = self.utility(s, rivals, costs, _repeat(b, cands.shape[1]), cands)
        best = U.max(axis=1)
        tied = U >= (best - tie_tol(best))[:, None]
        keep = tied[:, 0]
        top = np.where(tied, cands, -np.inf).max(axis=1)  # among equally good claims, the highest
        return np.where(keep, cl, top)

    # ------------------------------------------------------------ checks
    def probe(self, rng: np.random.Generator) -> None:
        """Run the rule once on truthful profiles: a rule that cannot price them
        (k >= n with no finite reserve or budget, say) fails here, not mid-solve."""
        costs = np.asarray(self.cost_dist.ppf(open_uniform(rng, (256, self.n))), dtype=float)
        self.mech.run_batch(
            costs,
            self.k,
            quality=self._profile_quality(costs, None, rng),
            reserve=self.reserve,
            budget=self.budget,
            rng=rng,
        )

    def _profile_quality(self, costs, sol: StrategyGrid | None, rng):
        if self.claims:
            if sol is None:
                return rng.uniform(*self.claim_range, size=costs.shape)
            return sol.claim(costs)
        if self.buyer_scores:
            return np.asarray(self.quality_dist.ppf(open_uniform(rng, costs.shape)), float)
        return None

    def verify(
        self,
        sol: StrategyGrid,
        cv: np.ndarray,
        M: int,
        M_check: int,
        fine: int,
        coarse: int,
        n_claims: int,
        a_lo: float,
        a_hi: float,
        rng,
    ):
        """epsilon: the largest gain of a type in ``cv`` from a unilateral
        deviation against rivals playing ``sol``; its standard error; the type.

        Two stages, so that the maximum over many noisy candidates does not
        inflate epsilon: (1) on M fresh profiles per type, the best actions on
        a fine grid of asks (with claims, also claims x a coarse grid of asks)
        are found; (2) the three best per type and the solution's own action
        are scored again on M_check further fresh profiles, where the gains
        are measured."""
        G = cv.size
        s = self.draw(cv, M, rng)
        bv = sol.ask(cv)
        clv = sol.claim(cv)
        grid = np.linspace(a_lo, a_hi, fine)
        h = grid[1] - grid[0]
        local = np.clip(bv[:, None] + np.linspace(-h, h, 17)[None], a_lo, a_hi)
        cand = np.concatenate(
            [bv[:, None], np.clip(cv, a_lo, a_hi)[:, None], np.repeat(grid[None], G, 0), local],
            axis=1,
        )
        cand_cl = _repeat(clv, cand.shape[1])
        if self.claims:
            claim_grid = np.linspace(*self.claim_range, max(2, (n_claims + 1) // 2))
            asks = np.concatenate([[np.nan], np.linspace(a_lo, a_hi, (coarse + 1) // 2)])
            joint_a = np.tile(asks, claim_grid.size)[None].repeat(G, 0)
            joint_a[np.isnan(joint_a)] = np.repeat(bv, claim_grid.size)
            joint_c = np.repeat(claim_grid, asks.size)[None].repeat(G, 0)
            cand_cl = np.concatenate([cand_cl, joint_c], axis=1)
            cand = np.concatenate([cand, joint_a], axis=1)
        U, _ = self.utility(s, sol, cv, cand, cand_cl)
        top = np.argsort(-U[:, 1:], axis=1, kind="stable")[:, :3] + 1
        pick = np.concatenate([np.zeros((G, 1), dtype=int), top], axis=1)
        rows = np.arange(G)[:, None]
        s2 = self.draw(cv, M_check, rng)
        picked = cand[rows, pick]
        picked_cl = None if cand_cl is None else cand_cl[rows, pick]
        W, P, won, pay = self.outcomes(s2, sol, picked, picked_cl, keep_samples=True)
        U2 = P - cv[:, None] * W
        j = np.argmax(U2, axis=1)
        gain = np.maximum(U2[np.arange(G), j] - U2[:, 0], 0.0)
        # standard error of each type's gain: per-profile differences, importance-weighted
        r = np.arange(G)
        d = (pay[r, j] - cv[:, None] * won[r, j]) - (pay[:, 0] - cv[:, None] * won[:, 0])
        y = d * s2.weights * s2.weights.shape[1]
        se = y.std(axis=1, ddof=1) / math.sqrt(y.shape[1])
        return gain, se

    def payments(self, sol: StrategyGrid, N: int, rng) -> tuple[float, float, float, float]:
        """The buyer's expected total payment per task and a bidder's ex-ante
        expected utility (with standard errors), over N full profiles of n
        bidders playing ``sol``."""
        c = np.asarray(self.cost_dist.ppf(open_uniform(rng, (N, self.n))), dtype=float)
        out = self.mech.run_batch(
            sol.ask(c),
            self.k,
            quality=self._profile_quality(c, sol, rng),
            reserve=self.reserve,
            budget=self.budget,
            rng=rng,
        )
        totals = out.payments.sum(axis=1)
        util = (out.payments - c * out.won).mean(axis=1)
        root_n = math.sqrt(N)
        return (
            float(totals.mean()),
            float(totals.std(ddof=1) / root_n),
            float(util.mean()),
            float(util.std(ddof=1) / root_n),
        )


# ------------------------------------------------------------------ helpers


def _repeat(x: np.ndarray | None, C: int) -> np.ndarray | None:
    return None if x is None else np.repeat(x[:, None], C, axis=1)


def tie_tol(U: np.ndarray) -> np.ndarray:
    """Utility differences this small are ties (exact ties under common random numbers)."""
    return 1e-12 * np.maximum(np.abs(U), 1e-300)


def vertex(x: np.ndarray, U: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """Per row, the vertex of the least-squares parabola through (x, U) where it
    is concave with its vertex inside the row's x range, else ``fallback``. A
    parabola through several points averages the sampling noise of U that a
    plain argmax would follow."""
    mid = x.mean(axis=1, keepdims=True)
    span = np.ptp(x, axis=1)
    ok = span > 0
    z = (x - mid) / np.where(ok, span, 1.0)[:, None]
    X = np.stack([np.ones_like(z), z, z * z], axis=2)
    scale = np.maximum(np.abs(U).max(axis=1, keepdims=True), 1e-300)
    XtX = np.einsum("gmi,gmj->gij", X, X) + 1e-12 * np.eye(3)
    XtU = np.einsum("gmi,gm->gi", X, U / scale)
    coef = np.linalg.solve(XtX, XtU[..., None])[..., 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        v = mid[:, 0] - coef[:, 1] / (2.0 * coef[:, 2]) * span
    good = ok & (coef[:, 2] < 0) & np.isfinite(v) & (v >= x.min(axis=1)) & (v <= x.max(axis=1))
    return np.where(good, v, fallback)


def smooth(x: np.ndarray, br: np.ndarray, fit: np.ndarray) -> np.ndarray:
    """A smoothing spline (penalty by generalized cross-validation) through the
    best responses of the types in ``fit``, replacing theirs. Independent
    sampling noise of neighbouring types averages out, and so do the wiggles
    that best-response dynamics amplify (a rival's ask density is the ask
    function's derivative). Types left out (indifferent ones) keep theirs."""
    if fit.sum() < 5:
        return br
    try:
        fitted = make_smoothing_spline(x[fit], br[fit])(x)
    except (ValueError, np.linalg.LinAlgError):
        return br
    return np.where(fit, fitted, br)
