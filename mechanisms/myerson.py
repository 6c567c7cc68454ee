"""``myerson``: the buyer-optimal (revenue-maximizing, here cost-minimizing)
reverse auction for sellers with i.i.d. private costs.

The buyer values each of the k labels at ``value`` dollars. Costs are i.i.d.
with distribution F (density f), by default uniform on [0, hi]. A seller's
*virtual cost* is phi(c) = c + F(c) / f(c).

Allocation: the k lowest virtual costs win, but only sellers whose virtual
cost is at most ``value`` (and whose ask is <= the reserve). Payment: each
winner is paid its critical value. For a regular F (phi increasing) ordering by
virtual cost equals ordering by ask, so the rule is the k-unit Vickrey auction
with the optimal reserve ``r* = phi^{-1}(value)``: every winner is paid
``min(reserve, r*, (k+1)-th lowest ask)``. For U[0, hi], phi(c) = 2c and
r* = value / 2: with one seller it is a posted price of half the buyer's value.
A finite budget B acts as a per-label reserve B/k.

Properties: truthful in asks, individually rational, budget-feasible; it
maximizes the buyer's expected surplus (value of labels bought minus
payments) among all truthful mechanisms when costs follow F. Irregular
distributions (which would need ironing) are rejected.

Source: Myerson (1981), "Optimal auction design", Math. Oper. Res. 6(1);
procurement form: Krishna, *Auction Theory*, 2nd ed., ch. 5.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize, stats

from ._select import effective_reserve
from .base import Properties
from .registry import register
from .vickrey import Vickrey


def virtual_cost(dist, c: np.ndarray) -> np.ndarray:
    """phi(c) = c + F(c) / f(c) for a frozen scipy.stats distribution."""
    c = np.asarray(c, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return c + dist.cdf(c) / dist.pdf(c)


def optimal_reserve(dist, value: float) -> float:
    """r* = phi^{-1}(value): the highest cost the optimal mechanism buys at."""
    lo, hi = (float(x) for x in dist.support())
    lo = max(lo, 0.0)
    grid = dist.ppf(np.linspace(1e-4, 1 - 1e-4, 401))
    phi = virtual_cost(dist, grid)
    if not np.all(np.diff(phi) >= -1e-9 * np.abs(phi[1:]).max()):
        raise ValueError(
            "myerson: the cost distribution is not regular (virtual cost "
            "c + F(c)/f(c) is not increasing); ironing is not implemented"
        )
    if value <= lo:
        return lo
    if np.isfinite(hi):
        if value >= virtual_cost(dist, np.nextafter(hi, lo)):
            return hi
        upper = hi
    else:
        upper = max(float(dist.ppf(0.5)), 1.0)
        while virtual_cost(dist, upper) < value:
            upper *= 2.0
    start = lo if np.isfinite(virtual_cost(dist, lo)) else float(dist.ppf(1e-12))
    if value <= virtual_cost(dist, start):
        return start
    return float(
        optimize.brentq(
            lambda c: virtual_cost(dist, c) - value,
            start,
            np.nextafter(upper, lo),
            xtol=1e-14,
            rtol=4 * np.finfo(float).eps,
        )
    )


@register
class Myerson(Vickrey):
    """k lowest asks with virtual cost <= value win; critical-value payments."""

    name = "myerson"
    properties = Properties(truthful=True, individually_rational=True, budget_feasible=True)
    source = "Myerson (1981), Optimal auction design"

    def __init__(self, value: float = 1.0, hi: float = 1.0, distribution=None) -> None:
        value, hi = float(value), float(hi)
        if not np.isfinite(value) or value < 0:
            raise ValueError(
                f"myerson: value (buyer's value per label) must be finite and >= 0, got {value}"
            )
        if distribution is None:
            if not np.isfinite(hi) or hi <= 0:
                raise ValueError(f"myerson: hi must be finite and > 0, got {hi}")
            distribution = stats.uniform(loc=0.0, scale=hi)
        elif not hasattr(distribution, "cdf") or not hasattr(distribution, "pdf"):
            raise ValueError("myerson: distribution must be a frozen scipy.stats distribution")
        self.value = value
        self.hi = hi
        self.distribution = distribution
        self.reserve_star = optimal_reserve(distribution, value)

    def params(self) -> dict[str, object]:
        return {"value": self.value, "hi": self.hi, "distribution": self.distribution}

    @classmethod
    def market_params(cls, *, cost_dist, reserve: float) -> dict[str, object]:
        """The buyer values a label at the reserve and knows the cost prior."""
        return {"value": float(reserve), "distribution": cost_dist}

    def price_cap(self, reserve, budget, k):
        return np.minimum(effective_reserve(reserve, budget, k), self.reserve_star)
