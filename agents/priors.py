"""The prior over rivals' costs that equilibrium bidders shade for.

A market's annotators are a mix of types (``honest``, ``spammer``,
``adversary``) and spammers cost ``spammer_cost`` times what they draw, so the
costs a bidder competes against follow a *mixture*: with honest cost
distribution F and spammer share s, F_mix(c) = (1 - s) F(c) + s F(c / m).
:class:`Mixture` is that distribution with the frozen-``scipy.stats`` methods
the equilibrium code uses (``cdf``, ``pdf``, ``ppf``, ``support``, ``rvs``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from scipy import special, stats

__all__ = ["Mixture", "ScaledDistribution", "describe", "market_cost_prior"]


class ScaledDistribution:
    """The distribution of ``factor * X`` for a frozen distribution X (factor > 0)."""

    def __init__(self, base, factor: float) -> None:
        if not factor > 0:
            raise ValueError(f"ScaledDistribution: factor must be > 0, got {factor!r}")
        self.base = base
        self.factor = float(factor)

    def cdf(self, x):
        return self.base.cdf(np.asarray(x, dtype=float) / self.factor)

    def pdf(self, x):
        return self.base.pdf(np.asarray(x, dtype=float) / self.factor) / self.factor

    def ppf(self, q):
        return self.base.ppf(q) * self.factor

    def support(self) -> tuple[float, float]:
        lo, hi = self.base.support()
        return float(lo) * self.factor, float(hi) * self.factor

    def rvs(self, size=None, random_state=None):
        return self.base.rvs(size=size, random_state=random_state) * self.factor

    def describe(self) -> dict:
        return {"scaled": describe(self.base), "factor": self.factor}


class Mixture:
    """A finite mixture of frozen distributions (weights >= 0, summing to 1).

    ``ppf`` inverts the mixture's cdf: exactly (a bracket from a table of its
    components' quantiles, then Newton steps kept inside the bracket) on a
    table of normal scores z in [-7, 7] at construction, then by linear
    interpolation of x against z = Phi^-1(q) (x(z) is smooth, so the error is
    far below the solver's sampling noise; outside the table: the exact path).
    """

    _TABLE = 4097
    _Z = np.linspace(-7.0, 7.0, 16385)

    def __init__(self, components: Sequence, weights: Sequence[float]) -> None:
        w = np.asarray(weights, dtype=float)
        if len(components) != w.size or w.size == 0:
            raise ValueError("Mixture: need one weight per component, at least one component")
        if (w < 0).any() or not math.isclose(float(w.sum()), 1.0, abs_tol=1e-9):
            raise ValueError(f"Mixture: weights must be >= 0 and sum to 1, got {w.tolist()}")
        keep = w > 0
        self.components = [c for c, k in zip(components, keep, strict=True) if k]
        self.weights = w[keep] / w[keep].sum()
        q = np.concatenate([[1e-12], np.linspace(1e-6, 1 - 1e-6, self._TABLE), [1 - 1e-12]])
        xs = np.unique(np.concatenate([np.asarray(c.ppf(q), dtype=float) for c in self.components]))
        self._x = xs[np.isfinite(xs)]
        self._F = self.cdf(self._x)
        self._zx = self._ppf_exact(special.ndtr(self._Z))

    def cdf(self, x):
        x = np.asarray(x, dtype=float)
        parts = zip(self.weights, self.components, strict=True)
        return sum(w * np.asarray(c.cdf(x), dtype=float) for w, c in parts)

    def pdf(self, x):
        x = np.asarray(x, dtype=float)
        parts = zip(self.weights, self.components, strict=True)
        return sum(w * np.asarray(c.pdf(x), dtype=float) for w, c in parts)

    def ppf(self, q):
        q = np.asarray(q, dtype=float)
        z = special.ndtri(np.clip(q, 0.0, 1.0))
        inside = (z >= self._Z[0]) & (z <= self._Z[-1])
        x = np.interp(z, self._Z, self._zx)
        if not inside.all():
            x = np.where(inside, x, self._ppf_exact(np.where(inside, 0.5, q)))
        return x if x.ndim else float(x)

    def _ppf_exact(self, q):
        q = np.asarray(q, dtype=float)
        lo, hi = self.support()
        j = np.clip(np.searchsorted(self._F, q), 1, self._F.size - 1)
        x_lo = np.where(q < self._F[0], lo, self._x[j - 1])
        x_hi = np.where(q > self._F[-1], self._tail(q), self._x[j])
        x = np.clip(np.interp(q, self._F, self._x), x_lo, x_hi)
        for _ in range(3):  # Newton steps on F(x) = q, inside the bracket
            f = self.pdf(x)
            step = np.where(f > 0, (self.cdf(x) - q) / np.where(f > 0, f, 1.0), 0.0)
            x = np.clip(x - step, x_lo, x_hi)
        x = np.where(q <= 0, lo, x)
        return np.where(q >= 1, hi, x)

    def _tail(self, q: np.ndarray) -> np.ndarray:
        """Past the table: the largest component quantile bounds the mixture's."""
        qq = np.clip(q, 0.0, 1.0)
        return np.max([np.asarray(c.ppf(qq), dtype=float) for c in self.components], axis=0)

    def support(self) -> tuple[float, float]:
        bounds = np.array([[float(b) for b in c.support()] for c in self.components])
        return float(bounds[:, 0].min()), float(bounds[:, 1].max())

    def rvs(self, size=None, random_state=None):
        rng = np.random.default_rng(random_state)
        return self.ppf(rng.random(size))

    def describe(self) -> dict:
        return {
            "mixture": [describe(c) for c in self.components],
            "weights": self.weights.tolist(),
        }


def describe(dist) -> dict | None:
    """A JSON-able description of a distribution (for settings keys and saved solutions)."""
    if dist is None:
        return None
    if hasattr(dist, "describe") and callable(dist.describe):
        return dist.describe()
    if hasattr(dist, "dist") and hasattr(dist, "args"):  # a frozen scipy.stats distribution
        return {
            "dist": dist.dist.name,
            "args": [float(a) for a in dist.args],
            "kwds": {k: float(v) for k, v in sorted(dist.kwds.items())},
        }
    return {"repr": repr(dist)}


def market_cost_prior(honest, mix: Mapping[str, float] | None, spammer_cost: float):
    """The costs a bidder competes against: honest and adversarial annotators
    draw from ``honest``, spammers from ``spammer_cost`` times it."""
    share = float((mix or {}).get("spammer", 0.0))
    if share <= 0 or spammer_cost == 1.0:
        return honest
    if spammer_cost <= 0:
        spam = stats.uniform(loc=0.0, scale=1e-12)  # free spammers: a point mass at 0, smoothed
    else:
        spam = ScaledDistribution(honest, spammer_cost)
    if share >= 1:
        return spam
    return Mixture([honest, spam], [1.0 - share, share])
