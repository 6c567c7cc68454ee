"""The market simulator: the Mesa model of the market, results, comparisons,
plots and the ``vickreyfeedback`` command line. The only package that imports
the others (``agents``, ``mechanisms``, ``rlhf``).

>>> from simulator import MarketConfig, run
>>> result = run(MarketConfig(mechanism="vickrey", budget=100.0, rounds=3))
>>> result.metrics.columns[:4].tolist()
['round', 'tasks', 'labels_bought', 'spend']
"""

from .config import ConfigError, MarketConfig
from .demo import DemoConfig, compare_mechanisms, mechanism_table
from .model import METRICS, MarketModel
from .results import SimulationResult, run
from .tasks import SyntheticTaskSource, TaskBatch, TaskSource

__all__ = [
    "METRICS",
    "ConfigError",
    "DemoConfig",
    "MarketConfig",
    "MarketModel",
    "SimulationResult",
    "SyntheticTaskSource",
    "TaskBatch",
    "TaskSource",
    "compare_mechanisms",
    "mechanism_table",
    "run",
]
