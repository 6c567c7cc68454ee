"""The equilibrium solver: the symmetric Bayes-Nash equilibrium of any
registered mechanism, found numerically by playing it (``run_batch``) and
certified by epsilon, with the closed forms auction theory has.

>>> from scipy import stats
>>> from agents.solver import solve_equilibrium
>>> sol = solve_equilibrium("first-price", n=5, k=1, cost_dist=stats.uniform())  # doctest: +SKIP
>>> sol.ask([0.2, 0.5]), sol.epsilon_rel                                        # doctest: +SKIP

Modules: :mod:`.solve` (the method), :mod:`.game` (a rule played against a
strategy over stratified samples), :mod:`.dynamics` (best-response steps and
type grids), :mod:`.settings`, :mod:`.solution` (the result, saved as JSON),
:mod:`.closed_form` (the k-unit pay-as-bid equilibrium), :mod:`.cache`
(solved equilibria kept on disk).
"""

from . import cache
from .closed_form import pay_as_bid_ask
from .settings import EquilibriumWarning, SolverSettings
from .solution import EquilibriumSolution
from .solve import solve_equilibrium

__all__ = [
    "EquilibriumSolution",
    "EquilibriumWarning",
    "SolverSettings",
    "cache",
    "pay_as_bid_ask",
    "solve_equilibrium",
]
