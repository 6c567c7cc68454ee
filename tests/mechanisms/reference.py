"""Plain-Python reference implementations of every rule, one task at a time.

They follow each module's docstring literally (sort by (key, tie-break
uniform), take the first k, read the next order statistic) and serve as an
independent oracle for the vectorized ``allocate`` methods.
"""

from __future__ import annotations

import math

import numpy as np

_EPS = np.finfo(float).eps


def share(budget: float, j: int) -> float:
    """The documented budget share: ``budget / j`` less 2(j + 1) ulps, so that
    j such payments never add up to more than the budget (inf for j = 0).
    Written here from the rule, not imported from the code under test."""
    if j <= 0:
        return math.inf
    return float(budget) / j * (1.0 - 2.0 * (j + 1.0) * _EPS)


def myerson_reserve(dist, value: float) -> float:
    """Myerson's optimal reserve phi^-1(value), phi(c) = c + F(c) / f(c), by
    plain bisection on the support (an independent solver: the code uses
    Brent's method); for U[0, h] it is min(value / 2, h)."""
    lo, hi = (float(x) for x in dist.support())
    lo = max(lo, 0.0)
    if not math.isfinite(hi):
        hi = float(dist.ppf(1.0 - 1e-12))

    def phi(c: float) -> float:
        return c + float(dist.cdf(c)) / float(dist.pdf(c))

    a = lo if math.isfinite(phi(lo)) else float(dist.ppf(1e-12))
    b = float(np.nextafter(hi, lo))
    if value <= phi(a):
        return a
    if value >= phi(b):
        return hi
    for _ in range(200):
        mid = 0.5 * (a + b)
        if phi(mid) < value:
            a = mid
        else:
            b = mid
    return 0.5 * (a + b)


def _cap(reserve: float, budget: float, k: int) -> float:
    return min(reserve, share(budget, k))


def _ordered(ids, key, u):
    return sorted(ids, key=lambda i: (key[i], u[i]))


def reference(mech, asks, k, quality, reserve, budget, u):
    """(winners in rank order, payments) for one task; NaN asks are absent."""
    n = len(asks)
    present = [i for i in range(n) if not math.isnan(asks[i])]
    pay = np.zeros(n)
    name = mech.name
    if name in ("vickrey", "first-price", "myerson"):
        cap = _cap(reserve, budget, k)
        if name == "myerson":
            cap = min(cap, myerson_reserve(mech.distribution, mech.value))
        order = _ordered([i for i in present if asks[i] <= cap], asks, u)
        winners = order[:k]
        nxt = asks[order[k]] if len(order) > k else math.inf
        for i in winners:
            if name == "first-price":
                pay[i] = asks[i]
            else:
                price = min(cap, nxt)
                if math.isinf(price):
                    raise ValueError("needs a reserve or budget")
                pay[i] = price
        return sorted(winners), pay
    if name == "fixed-price":
        p = min(mech.price, reserve)
        m = k if p == 0 else min(k, math.floor(budget / p)) if math.isfinite(budget) else k
        if m * p > budget:
            m -= 1
        order = _ordered([i for i in present if asks[i] <= p], u, u)
        while True:
            winners = order[:m]
            pay = np.zeros(n)
            pay[winners] = p
            if pay.sum() <= budget:
                return sorted(winners), pay
            m -= 1
    if name == "quality-vickrey":
        cap = _cap(reserve, budget, k)
        key = {i: asks[i] / quality[i] for i in present}
        order = _ordered([i for i in present if asks[i] <= cap], key, u)
        winners = order[:k]
        x = key[order[k]] if len(order) > k else math.nan
        for i in winners:
            crit = cap if math.isnan(x) else min(cap, quality[i] * x)
            if math.isinf(crit):
                raise ValueError("needs a reserve or budget")
            pay[i] = max(crit, asks[i])
        return sorted(winners), pay
    if name == "vickrey-feedback":
        cap = _cap(reserve, budget, k)
        key = {i: -quality[i] for i in present}
        order = _ordered([i for i in present if asks[i] <= cap], key, u)
        winners = order[:k]
        for i in winners:
            if mech.payment == "truthful":
                if math.isinf(cap):
                    raise ValueError("needs a reserve or budget")
                pay[i] = cap
            else:
                floor = asks[order[k]] if len(order) > k else 0.0
                pay[i] = min(max(asks[i], floor), cap)
        return winners, pay
    if name == "budget-feasible":
        order = _ordered([i for i in present if asks[i] <= reserve], asks, u)
        j_star = 0
        for j in range(1, min(k, len(order)) + 1):
            if asks[order[j - 1]] <= share(budget, j):
                j_star = j
        winners = order[:j_star]
        nxt = asks[order[j_star]] if len(order) > j_star else math.inf
        price = min(share(budget, j_star), nxt, reserve)
        for i in winners:
            if math.isinf(price):
                raise ValueError("needs a reserve or budget")
            pay[i] = price
        return sorted(winners), pay
    raise NotImplementedError(f"no reference for {name}")
