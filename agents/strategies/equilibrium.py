"""``equilibrium``: the symmetric Bayes-Nash ask (and claim) for the rule being played.

What the bidder does follows from the mechanism's ``Properties`` and from
playing it, never from its name:

- a rule that collects quality claims (``uses_claims``): ask and claim from
  :func:`~agents.strategies.solve_equilibrium`, the numerical equilibrium of the
  rule as implemented (the claim is part of the solved strategy);
- a truthful rule: ask = cost, the dominant strategy (Vickrey 1961; Myerson's
  lemma for critical-value payments);
- a pay-as-bid rule (the k lowest asks win, each paid its own ask): the
  closed-form symmetric equilibrium of the k-unit discriminatory auction,
  :func:`~agents.solver.pay_as_bid_ask` (Krishna, *Auction
  Theory*, ch. 2 and 12-13), which the solver reproduces (a test checks);
- any other rule: :func:`~agents.strategies.solve_equilibrium`.

The prior is ``info.cost_dist``: in a market, the costs the bidders actually
face (the population's type mix, cheaper spammers included). A solve is done
once per setting and cached, in the process and on disk
(:func:`equilibrium_for`), so a market pays it once, not per round or per
annotator, and the next process reads it back.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import math
from collections import OrderedDict

import numpy as np

from ..priors import describe
from ..solver import EquilibriumSolution, SolverSettings, cache, pay_as_bid_ask, solve_equilibrium
from .base import MarketInfo, Strategy
from .registry import register

__all__ = ["Equilibrium", "equilibrium_for", "forget_solved"]

#: solved equilibria of this process, by setting (least recently used dropped)
_SOLVED: OrderedDict[str, EquilibriumSolution] = OrderedDict()
_SOLVED_MAX = 64


@functools.cache
def _source_digest(cls: type) -> str | None:
    """A digest of a mechanism class's source, so an edited rule is re-solved."""
    try:
        return hashlib.sha256(inspect.getsource(cls).encode()).hexdigest()
    except (OSError, TypeError):  # defined where its source cannot be read
        return None


#: the last settings keys built, by the MarketInfo object they were built for
_KEYS: OrderedDict[int, tuple[MarketInfo, SolverSettings | None, str]] = OrderedDict()


def _key(info: MarketInfo, settings: SolverSettings | None) -> str:
    """The settings key of ``info``'s equilibrium (built once per ``info`` object:
    every annotator of a market asks with the same one)."""
    hit = _KEYS.get(id(info))
    if hit is not None and hit[0] is info and hit[1] is settings:
        return hit[2]
    key = _build_key(info, settings)
    _KEYS[id(info)] = (info, settings, key)
    while len(_KEYS) > _SOLVED_MAX:
        _KEYS.popitem(last=False)
    return key


def _build_key(info: MarketInfo, settings: SolverSettings | None) -> str:
    mech = info.mechanism
    params = {k: describe(v) if hasattr(v, "cdf") else v for k, v in mech.params().items()}
    source = _source_digest(type(mech))
    return json.dumps(
        {
            "rule": f"{type(mech).__module__}.{type(mech).__qualname__}",
            "source": source,
            "params": params,
            "n": info.n_rivals + 1,
            "k": info.k,
            "reserve": repr(info.reserve),
            "budget": repr(info.budget),
            "cost": describe(info.cost_dist),
            "quality": describe(info.quality_dist),
            "settings": None if settings is None else repr(settings),
        },
        sort_keys=True,
        default=repr,
    )


def forget_solved() -> None:
    """Forget the equilibria solved in this process (the disk cache stays):
    the next ``equilibrium_for`` reads the disk, as a new process would."""
    _SOLVED.clear()
    _KEYS.clear()


def equilibrium_for(
    info: MarketInfo, settings: SolverSettings | None = None, *, disk: bool = True
) -> EquilibriumSolution:
    """The solved equilibrium of ``info``'s auction, solved once per setting:
    kept in this process and (``disk``) on disk (:mod:`agents.solver.cache`)."""
    if info.cost_dist is None:
        raise ValueError(
            f"equilibrium: solving {info.mechanism.name!r} needs info.cost_dist (the "
            "common prior over costs)"
        )
    key = _key(info, settings)
    if key in _SOLVED:
        _SOLVED.move_to_end(key)
        return _SOLVED[key]
    solution = cache.load(key) if disk else None
    if solution is not None:
        _SOLVED[key] = solution
        return solution
    solution = solve_equilibrium(
        info.mechanism,
        n=info.n_rivals + 1,
        k=info.k,
        cost_dist=info.cost_dist,
        reserve=info.reserve,
        budget=info.budget,
        quality_dist=info.quality_dist,
        settings=settings,
    )
    if disk:
        cache.store(key, solution)
    _SOLVED[key] = solution
    while len(_SOLVED) > _SOLVED_MAX:
        _SOLVED.popitem(last=False)
    return solution


@register
class Equilibrium(Strategy):
    """Ask (and claim) = the symmetric Bayes-Nash equilibrium of ``info``'s rule.

    A closed-form ask is cached for the last (cost, info) seen, so a
    fixed-cost annotator computes it once.
    """

    name = "equilibrium"
    shared = True
    #: a solved rule may make an ask below cost optimal (the solver does not clip)
    asks_below_cost = True

    def __init__(self) -> None:
        self._cache_key: tuple[float, MarketInfo] | None = None
        self._cache_ask: float = math.nan
        self._solution: tuple[MarketInfo, EquilibriumSolution] | None = None
        # pay-as-bid asks computed so far, by cost (sorted), for one MarketInfo
        self._table: tuple[MarketInfo, np.ndarray, np.ndarray] | None = None

    def _solve(self, info: MarketInfo) -> EquilibriumSolution:
        """``equilibrium_for(info)``, remembered for the market's one ``info``
        (building the settings key every round would cost more than the ask)."""
        if self._solution is None or self._solution[0] is not info:
            self._solution = (info, equilibrium_for(info))
        return self._solution[1]

    def _solved(self, info: MarketInfo) -> bool:
        return info.uses_claims or not (info.truthful or info.pay_as_bid)

    def claim(
        self, quality: float, info: MarketInfo, rng: np.random.Generator, *, cost: float
    ) -> float:
        """The solved equilibrium claim where the rule collects claims, else the truth."""
        if not info.uses_claims:
            return float(quality)
        return float(self._solve(info).claim(np.array([float(cost)]))[0])

    def claim_many(self, qualities, costs, info: MarketInfo, u) -> np.ndarray:
        """:meth:`claim` for many annotators at once."""
        if not info.uses_claims:
            return np.array(qualities, dtype=float)
        return np.asarray(self._solve(info).claim(np.asarray(costs, dtype=float)), dtype=float)

    def ask_many(self, costs: np.ndarray, info: MarketInfo, u: np.ndarray) -> np.ndarray:
        """:meth:`ask` for many annotators at once (one interpolation or one
        vectorized quadrature for all of them)."""
        costs = np.asarray(costs, dtype=float)
        if self._solved(info):
            return np.asarray(self._solve(info).ask(costs), dtype=float)
        if info.truthful:
            return costs.copy()
        self._need_prior(info)
        # costs are private and fixed: compute each distinct cost's ask once per
        # market (a sorted table, looked up with searchsorted, no loop)
        if self._table is None or self._table[0] is not info:
            self._table = (info, np.empty(0), np.empty(0))
        _, known_c, known_a = self._table
        pos = np.minimum(np.searchsorted(known_c, costs), max(known_c.size - 1, 0))
        hit = known_c.size > 0
        missing = ~(known_c[pos] == costs) if hit else np.ones(costs.size, bool)
        if missing.any():
            new_c = np.unique(costs[missing])
            new_a = pay_as_bid_ask(
                new_c,
                k=info.k,
                n_rivals=info.n_rivals,
                cost_dist=info.cost_dist,
                reserve=min(info.reserve, info.budget / info.k),
            )
            known_c = np.concatenate([known_c, new_c])
            known_a = np.concatenate([known_a, np.asarray(new_a, dtype=float)])
            order = np.argsort(known_c, kind="stable")
            known_c, known_a = known_c[order], known_a[order]
            self._table = (info, known_c, known_a)
            pos = np.searchsorted(known_c, costs)
        return known_a[pos].copy()

    @staticmethod
    def _need_prior(info: MarketInfo) -> None:
        if info.cost_dist is None:
            raise ValueError(
                "equilibrium: a pay-as-bid market needs info.cost_dist (the common "
                "prior over costs) to compute the equilibrium ask"
            )

    def ask(self, cost: float, info: MarketInfo, rng: np.random.Generator) -> float:
        cost = float(cost)
        if self._solved(info):
            return self._record(cost, float(self._solve(info).ask(np.array([cost]))[0]))
        if info.truthful:
            return self._record(cost, cost)
        self._need_prior(info)
        key = (cost, info)
        if self._cache_key is None or self._cache_key != key:
            self._cache_ask = pay_as_bid_ask(
                cost,
                k=info.k,
                n_rivals=info.n_rivals,
                cost_dist=info.cost_dist,
                reserve=min(info.reserve, info.budget / info.k),
            )
            self._cache_key = key
        return self._record(cost, self._cache_ask)
