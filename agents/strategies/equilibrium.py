"""``equilibrium``: the symmetric Bayes-Nash ask for the market's format.

- Truthful mechanism (``info.truthful`` and not pay-as-bid): ask = cost, the
  dominant strategy (Vickrey, 1961).
- Pay-as-bid (``info.pay_as_bid``): the symmetric equilibrium of the k-unit
  discriminatory procurement auction with unit-supply sellers whose costs are
  i.i.d. F (``info.cost_dist``, required) on [lo, hi]. With Y the k-th lowest
  cost among the ``n_rivals`` rivals, a seller wins iff its cost is below Y,
  and its equilibrium ask is b(c) = E[min(Y, r) | Y > c], i.e.

      b(c) = c + integral_c^u P(Y > t) dt / P(Y > c),   u = min(hi, r),
      P(Y > t) = P(Binomial(n_rivals, F(t)) <= k - 1),

  where r is the reserve (rivals above it do not bid). For an unbounded
  support hi is F^{-1}(1 - 1e-9). For U[0, 1] costs, k = 1 and n = n_rivals + 1
  bidders this is the textbook b(c) = c + (1 - c) / n. If fewer than k rivals
  exist the seller always wins and asks u.
- Any other format (not truthful, not pay-as-bid: e.g. ``vickrey-feedback``
  with the paper's payment) has no known closed-form equilibrium; the strategy
  then asks its cost.
- Quality claims: under ``vickrey-feedback`` winners are the highest claims
  and no payment rule depends on one's own claim, so claiming the maximum
  (1.0) is weakly dominant; the strategy does so. Elsewhere claims are not
  used and it reports its quality.

The ask is never below the cost and, when the cost is below the reserve,
never above the reserve (a seller whose cost exceeds the reserve asks its cost
and loses).

Source: Vickrey (1961); Krishna, *Auction Theory*, 2nd ed., ch. 2 (first-price
equilibrium, reserve prices) and ch. 3 (revenue equivalence), in procurement
form; multi-unit pay-as-bid with unit demand: Krishna, ch. 12-13.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import integrate, special

from .base import MarketInfo, Strategy
from .registry import register

__all__ = ["Equilibrium", "pay_as_bid_ask"]

#: upper quantile used in place of an infinite upper end of the cost support.
UPPER_QUANTILE = 1.0 - 1e-9


def _support(cost_dist) -> tuple[float, float]:
    """(lo, hi) of the cost distribution, hi finite (a far quantile if need be)."""
    if hasattr(cost_dist, "support"):
        lo, hi = (float(x) for x in cost_dist.support())
    else:
        lo, hi = float(cost_dist.ppf(0.0)), float(cost_dist.ppf(1.0))
    if not math.isfinite(hi):
        hi = float(cost_dist.ppf(UPPER_QUANTILE))
    return lo, hi


def _survival_of_kth_rival(t: float, k: int, n_rivals: int, cost_dist) -> float:
    """P(Y > t): fewer than k of the rivals have a cost <= t.

    ``special.bdtr(k - 1, n, p)`` is ``stats.binom.cdf(k - 1, n, p)`` (same
    function, without the distribution-object overhead).
    """
    if n_rivals < k:
        return 1.0
    p = min(max(float(cost_dist.cdf(t)), 0.0), 1.0)
    return float(special.bdtr(k - 1, n_rivals, p))


def pay_as_bid_ask(
    cost: float, *, k: int, n_rivals: int, cost_dist, reserve: float = math.inf
) -> float:
    """The symmetric k-unit pay-as-bid equilibrium ask of a seller with ``cost``.

    b(c) = c + integral_c^u P(Y > t) dt / P(Y > c) with u = min(hi, reserve),
    clipped to [cost, u] (the ask is ``cost`` when ``cost >= u``).

    Args:
        cost: the seller's own cost.
        k: units bought per auction.
        n_rivals: the other sellers.
        cost_dist: frozen scipy.stats distribution of the i.i.d. costs.
        reserve: per-unit reserve price (``inf`` = none).
    """
    c = float(cost)
    lo, hi = _support(cost_dist)
    upper = min(hi, float(reserve))
    if c >= upper:
        return c
    if n_rivals < k:
        return upper
    s_c = _survival_of_kth_rival(c, k, n_rivals, cost_dist)
    if s_c <= 0.0:
        return c
    points = [lo] if c < lo < upper else None
    area, _ = integrate.quad(
        _survival_of_kth_rival,
        c,
        upper,
        args=(k, n_rivals, cost_dist),
        points=points,
        epsabs=1e-11 * s_c * (upper - c),
        epsrel=1e-10,
        limit=200,
    )
    return min(max(c + area / s_c, c), upper)


@register
class Equilibrium(Strategy):
    """Ask = the symmetric Bayes-Nash equilibrium ask for ``info``'s format.

    The pay-as-bid ask is computed by numerical integration and cached for
    the last (cost, info) seen, so a fixed-cost annotator integrates once.
    """

    name = "equilibrium"

    def __init__(self) -> None:
        self._cache_key: tuple[float, MarketInfo] | None = None
        self._cache_ask: float = math.nan

    def claim(self, quality: float, info: MarketInfo, rng: np.random.Generator) -> float:
        """The maximum (1.0) under ``vickrey-feedback``, where a higher claim
        only ever helps; its true quality elsewhere."""
        return 1.0 if info.mechanism == "vickrey-feedback" else float(quality)

    def ask(self, cost: float, info: MarketInfo, rng: np.random.Generator) -> float:
        cost = float(cost)
        if not info.pay_as_bid:
            return self._record(cost, cost)
        if info.cost_dist is None:
            raise ValueError(
                "equilibrium: a pay-as-bid market needs info.cost_dist (the common "
                "prior over costs) to compute the equilibrium ask"
            )
        key = (cost, info)
        if self._cache_key is None or self._cache_key != key:
            self._cache_ask = pay_as_bid_ask(
                cost,
                k=info.k,
                n_rivals=info.n_rivals,
                cost_dist=info.cost_dist,
                reserve=info.reserve,
            )
            self._cache_key = key
        return self._record(cost, self._cache_ask)
