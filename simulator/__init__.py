"""The market simulator: the Mesa model of the market, results, comparisons,
plots and the ``vickreyfeedback`` command line. The only package that imports
the others (``agents``, ``mechanisms``, ``rlhf``).

``simulator.sweep(design, store=...)`` runs many markets in parallel into a
results store and ``simulator.load_results(store)`` reads it back
(:mod:`simulator.sweeps`).

>>> from simulator import MarketConfig, run
>>> result = run(MarketConfig(mechanism="vickrey", budget=100.0, rounds=3))
>>> result.metrics.columns[:4].tolist()
['round', 'tasks', 'labels_bought', 'spend']
"""

from .experiments.compare import mechanism_table
from .experiments.design import Design
from .experiments.runfns import SweepError
from .experiments.store import load_results
from .experiments.sweep import sweep
from .market.config import ConfigError, MarketConfig
from .market.model import METRICS, MarketModel
from .market.results import SimulationResult, run
from .market.tasks import SyntheticTaskSource, TaskBatch, TaskSource

__all__ = [
    "METRICS",
    "ConfigError",
    "Design",
    "MarketConfig",
    "MarketModel",
    "SimulationResult",
    "SweepError",
    "SyntheticTaskSource",
    "TaskBatch",
    "TaskSource",
    "load_results",
    "mechanism_table",
    "run",
    "sweep",
]
