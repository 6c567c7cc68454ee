"""Closed-form equilibrium asks, where auction theory has one.

The k-unit pay-as-bid (discriminatory) procurement auction with unit-supply
sellers whose costs are i.i.d. F on [lo, hi] and a per-unit reserve r: with Y
the k-th lowest cost among the ``n_rivals`` rivals, a seller wins iff its cost
is below Y, and its symmetric Bayes-Nash ask is b(c) = E[min(Y, r) | Y > c]:

    b(c) = c + integral_c^u P(Y > t) dt / P(Y > c),   u = min(hi, r),
    P(Y > t) = P(Binomial(n_rivals, F(t)) <= k - 1).

For U[0, 1] costs, k = 1 and n = n_rivals + 1 sellers this is the textbook
b(c) = c + (1 - c) / n. A seller with fewer than k rivals always wins and asks
u; a seller whose cost is at least u asks its cost (it cannot win at a profit).
For an unbounded support hi is F^{-1}(1 - 1e-9).

Source: Krishna, *Auction Theory*, 2nd ed., ch. 2 (first-price equilibrium,
reserve prices) and ch. 12-13 (multi-unit auctions with unit demand), in
procurement form.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special

__all__ = ["UPPER_QUANTILE", "pay_as_bid_ask", "support"]

#: upper quantile used in place of an infinite upper end of the cost support.
UPPER_QUANTILE = 1.0 - 1e-9

# composite Gauss-Legendre rule: PANELS panels of NODES nodes on [c, u]
_PANELS, _NODES = 16, 16
_GL_X, _GL_W = np.polynomial.legendre.leggauss(_NODES)
# many costs at once (a response market: every reply has its own cost) share one
# grid of panels on [lo, u] instead of 16 panels each (:func:`_shared_grid_area`)
_MANY, _GRID_PANELS = 64, 256


def support(cost_dist) -> tuple[float, float]:
    """(lo, hi) of a frozen distribution, hi finite (a far quantile if need be)."""
    if hasattr(cost_dist, "support"):
        lo, hi = (float(x) for x in cost_dist.support())
    else:
        lo, hi = float(cost_dist.ppf(0.0)), float(cost_dist.ppf(1.0))
    if not math.isfinite(hi):
        hi = float(cost_dist.ppf(UPPER_QUANTILE))
    if not math.isfinite(lo):
        lo = float(cost_dist.ppf(1.0 - UPPER_QUANTILE))
    return lo, hi


def _survival(t: np.ndarray, k: int, n_rivals: int, cost_dist) -> np.ndarray:
    """P(Y > t): fewer than k of the rivals have a cost <= t (``bdtr`` is the binomial cdf)."""
    p = np.clip(np.asarray(cost_dist.cdf(t), dtype=float), 0.0, 1.0)
    return special.bdtr(k - 1, n_rivals, p)


def _gl_area(a: np.ndarray, b: np.ndarray, k: int, n_rivals: int, cost_dist) -> np.ndarray:
    """integral_a^b P(Y > t) dt, one 16-node Gauss-Legendre panel per (a, b)."""
    half = (b - a) / 2.0
    t = a[:, None] + half[:, None] * (_GL_X[None, :] + 1.0)
    return (_survival(t, k, n_rivals, cost_dist) * _GL_W[None, :]).sum(axis=1) * half


def _shared_grid_area(start, lo, upper, k, n_rivals, cost_dist) -> np.ndarray:
    """integral_start^upper P(Y > t) dt for many starts at once: the integral
    over a fixed grid of ``_GRID_PANELS`` panels on [lo, upper] is summed once
    (cumulatively, from the top), and each start adds only the piece of the
    panel it falls in. Every panel is at most (upper - lo) / 256 wide, finer
    than the per-cost rule's (upper - start) / 16, so this is at least as
    accurate, with 16 survival evaluations per cost instead of 256."""
    edges = np.linspace(lo, upper, _GRID_PANELS + 1)
    panel = _gl_area(edges[:-1], edges[1:], k, n_rivals, cost_dist)
    above = np.concatenate([np.cumsum(panel[::-1])[::-1], [0.0]])  # area from edge j to upper
    j = np.clip(np.searchsorted(edges, start, side="right"), 1, _GRID_PANELS)
    return _gl_area(start, edges[j], k, n_rivals, cost_dist) + above[j]


def pay_as_bid_ask(
    cost, *, k: int, n_rivals: int, cost_dist, reserve: float = math.inf
) -> float | np.ndarray:
    """The symmetric k-unit pay-as-bid equilibrium ask of sellers with ``cost``.

    Vectorized: ``cost`` may be a scalar (a float is returned) or an array (an
    array of its shape is returned). The integral is a composite Gauss-Legendre
    rule (16 panels x 16 nodes) on [max(c, lo), u]; below the support the
    survival is 1, so that part is exact.

    Args:
        cost: the sellers' own costs.
        k: units bought per auction (>= 1).
        n_rivals: the other sellers (>= 0).
        cost_dist: frozen scipy.stats distribution of the i.i.d. costs.
        reserve: per-unit reserve price (``inf`` = none).
    """
    c = np.asarray(cost, dtype=float)
    scalar = c.ndim == 0
    c = np.atleast_1d(c)
    lo, hi = support(cost_dist)
    upper = min(hi, float(reserve))
    out = c.copy()
    if n_rivals < k:
        out = np.where(c < upper, upper, c)
        return float(out[0]) if scalar else out
    live = c < upper
    if live.any():
        cl = c[live]
        start = np.maximum(cl, lo)  # S = 1 on [c, lo): that part integrates to lo - c
        if cl.size > _MANY:
            area = _shared_grid_area(start, lo, upper, k, n_rivals, cost_dist)
        else:
            width = (upper - start) / _PANELS
            # nodes: (m, panels, nodes)
            left = start[:, None] + width[:, None] * np.arange(_PANELS)[None, :]
            t = left[:, :, None] + (width[:, None, None] / 2.0) * (_GL_X[None, None, :] + 1.0)
            s = _survival(t, k, n_rivals, cost_dist)
            area = (s * _GL_W[None, None, :]).sum(axis=(1, 2)) * width / 2.0
        area += np.maximum(lo - cl, 0.0)
        s_c = _survival(cl, k, n_rivals, cost_dist)
        with np.errstate(divide="ignore", invalid="ignore"):
            ask = np.where(s_c > 0.0, cl + area / s_c, cl)
        out[live] = np.clip(ask, cl, upper)
    return float(out[0]) if scalar else out
