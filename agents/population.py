"""Annotator populations: costs, qualities, their correlation, types and strategies.

Costs follow a uniform or lognormal distribution (crowd wages are
right-skewed), qualities a beta distribution, and a Gaussian copula with
correlation ``rho`` couples them: a positive ``rho`` means good annotators are
expensive, the adverse-selection case in which "cheapest wins" buys bad labels
(Akerlof 1970). Draws come from separate streams of one SeedSequence per
attribute, so the first n annotators are the same whatever n is.
"""

from __future__ import annotations

from collections.abc import Mapping

import mesa
import numpy as np
from scipy import stats

from .annotator import Annotator
from .crowd import KINDS, crowd_of

#: the default cost distribution of honest annotators ($ per label; the sources
#: are in ``simulator.market.config``'s module docstring)
DEFAULT_COST = {"dist": "lognormal", "median": 0.25, "sigma": 0.5}
#: the default label-accuracy distribution: Beta(7, 3), mean 0.7
DEFAULT_QUALITY = {"dist": "beta", "a": 7.0, "b": 3.0}


def cost_distribution(spec: Mapping) -> stats.rv_continuous:
    """A frozen scipy distribution of per-label costs from a config dict:
    ``{"dist": "uniform", "low", "high"}`` or ``{"dist": "lognormal", "median", "sigma"}``."""
    kind = spec.get("dist")
    if kind == "uniform":
        return stats.uniform(loc=spec["low"], scale=spec["high"] - spec["low"])
    if kind == "lognormal":
        return stats.lognorm(s=spec["sigma"], scale=spec["median"])
    raise ValueError(f"cost dist must be 'uniform' or 'lognormal', got {kind!r}")


def quality_distribution(spec: Mapping) -> stats.rv_continuous:
    """A frozen beta distribution of label accuracies: ``{"dist": "beta", "a", "b"}``."""
    if spec.get("dist", "beta") != "beta":
        raise ValueError(f"quality dist must be 'beta', got {spec.get('dist')!r}")
    return stats.beta(spec["a"], spec["b"])


class PopulationSampler:
    """Draws annotators i = 0, 1, 2, ... reproducibly from one SeedSequence.

    Annotator i's cost, quality, type and strategy depend only
    on the seed and i (each attribute has its own stream, consumed in order),
    so a larger population never changes the first annotators, and entrants
    continue the same sequence.

    Args:
        seed: the population's SeedSequence (a child of the run's).
        cost: cost distribution spec (default :data:`DEFAULT_COST`, lognormal,
            median $0.25, sigma 0.5).
        quality: beta accuracy spec (default :data:`DEFAULT_QUALITY`, Beta(7, 3)).
        correlation: Gaussian-copula correlation of cost and quality in [-1, 1].
        mix: shares of "honest", "spammer", "adversary" annotators.
        strategies: shares of strategy names (``agents.strategies.available()``).
        strategy_params: per strategy name, its parameters.
        capacity: labels per annotator per round.
        spammer_cost: spammers' cost as a fraction of the cost they draw.
    """

    def __init__(
        self,
        seed: np.random.SeedSequence,
        *,
        cost: Mapping | None = None,
        quality: Mapping | None = None,
        correlation: float = 0.0,
        mix: Mapping | None = None,
        strategies: Mapping | None = None,
        strategy_params: Mapping | None = None,
        capacity: int = 20,
        spammer_cost: float = 1.0,
    ) -> None:
        if not -1.0 <= correlation <= 1.0:
            raise ValueError(f"correlation must be in [-1, 1], got {correlation}")
        self.cost_dist = cost_distribution(cost or DEFAULT_COST)
        self.quality_dist = quality_distribution(quality or DEFAULT_QUALITY)
        self.correlation = float(correlation)
        mix = dict(mix or {"honest": 1.0})
        self.kinds = [k for k in KINDS if mix.get(k, 0) > 0]
        self.kind_p = np.array([mix[k] for k in self.kinds], dtype=float)
        strategies = dict(strategies or {"truthful": 1.0})
        self.strategy_names = [s for s, w in strategies.items() if w > 0]
        self.strategy_p = np.array([strategies[s] for s in self.strategy_names], dtype=float)
        self.strategy_params = {k: dict(v) for k, v in (strategy_params or {}).items()}
        self.capacity = int(capacity)
        if not 0.0 <= spammer_cost <= 1.0:
            raise ValueError(f"spammer_cost must be in [0, 1], got {spammer_cost}")
        self.spammer_cost = float(spammer_cost)
        self._seed = seed
        # fixed children of the seed (not seed.spawn, which depends on earlier spawns)
        self._z_rng = self._child(0)
        self._kind_rng = self._child(1)
        self._strategy_rng = self._child(2)
        self._drawn = 0

    def _child(self, *key: int) -> np.random.Generator:
        ss = np.random.SeedSequence(self._seed.entropy, spawn_key=(*self._seed.spawn_key, *key))
        return np.random.default_rng(ss)

    def draw(self, n: int) -> dict[str, np.ndarray]:
        """Private values, types and strategies of the next ``n`` annotators.

        Each attribute comes from its own stream, drawn in order, so the values
        of annotator i do not depend on how many are drawn at once.
        """
        z = self._z_rng.standard_normal((n, 2))
        rho = self.correlation
        z2 = rho * z[:, 0] + np.sqrt(max(0.0, 1 - rho * rho)) * z[:, 1]
        cost = self.cost_dist.ppf(stats.norm.cdf(z[:, 0]))
        quality = self.quality_dist.ppf(stats.norm.cdf(z2))
        kind_p = np.cumsum(self.kind_p / self.kind_p.sum())
        kind = np.minimum(
            np.searchsorted(kind_p, self._kind_rng.random(n), side="right"), len(self.kinds) - 1
        )
        strat_p = np.cumsum(self.strategy_p / self.strategy_p.sum())
        strat = np.minimum(
            np.searchsorted(strat_p, self._strategy_rng.random(n), side="right"),
            len(self.strategy_names) - 1,
        )
        kinds = np.array(self.kinds, dtype=object)[kind]
        spam = kinds == "spammer"
        quality = np.where(spam, 0.5, quality)
        cost = np.where(spam, cost * self.spammer_cost, cost)  # no reading, less effort
        quality = np.where(kinds == "adversary", 1.0 - quality, quality)  # wrong on purpose
        return {
            "cost": cost,
            "quality": quality,
            "kind": kinds,
            "strategy": np.array(self.strategy_names, dtype=object)[strat],
        }

    def add_rows(self, model: mesa.Model, n: int) -> np.ndarray:
        """Add the next ``n`` annotators to ``model``'s crowd
        (:func:`agents.crowd.crowd_of`) with reserved Mesa ids, without
        building their Mesa agents (:meth:`make` builds them); their rows."""
        d = self.draw(n)
        crowd = crowd_of(model)
        names = d["strategy"]
        pool = np.empty(n, dtype=np.int32)
        for name in dict.fromkeys(names):
            pool[names == name] = crowd.pool_id(name, self.strategy_params.get(name, {}))
        rows = crowd.add(
            cost=d["cost"],
            quality=d["quality"],
            capacity=np.full(n, self.capacity),
            kind=d["kind"],
            uid=Annotator._ids[model].reserve(n),
            pool=pool,
        )
        self._drawn += n
        return rows

    def make(self, model: mesa.Model, n: int) -> list[Annotator]:
        """Create the next ``n`` annotators in ``model``: rows of its crowd and
        the Mesa agents that view them."""
        return [Annotator(model, row=int(i)) for i in self.add_rows(model, n)]


def make_population(
    model: mesa.Model, n: int, *, seed: np.random.SeedSequence | int = 0, **population
) -> list[Annotator]:
    """Create ``n`` annotators in ``model``: a :class:`PopulationSampler` with
    ``population``'s fields (cost, quality, correlation, mix, strategies,
    strategy_params, capacity, spammer_cost; the defaults are the sampler's),
    seeded by ``seed`` (a SeedSequence, a child of the run's, or an int)."""
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    return PopulationSampler(ss, **population).make(model, n)
