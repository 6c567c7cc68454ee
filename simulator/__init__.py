"""The market simulator: the Mesa model of the market, sweeps of many markets,
their analysis and the ``vickreyfeedback`` command line. The only package that
imports the others (``agents``, ``mechanisms``, ``rlhf``).

Sub-packages, each with one job (``tests/test_layering.py`` checks who may
import whom):

* :mod:`simulator.market`: one market run: config, model, tasks, aggregation,
  market metrics, results;
* :mod:`simulator.experiments`: many runs: sweep designs, the results store,
  executors, ``sweep``, the mechanism comparison and dollar-efficiency grids;
* :mod:`simulator.analysis`: statistics, reports, figures, the paper's claims;
* :mod:`simulator.app`: the command line and the dashboard.

``simulator.sweep(design, store=...)`` runs many markets in parallel into a
results store and ``simulator.load_results(store)`` reads it back
(:mod:`simulator.experiments.sweep`).

>>> from simulator import MarketConfig, run
>>> result = run(MarketConfig(mechanism="vickrey", budget=100.0, rounds=3))
>>> result.metrics.columns[:4].tolist()
['round', 'tasks', 'labels_bought', 'spend']
"""

import sys

from .analysis import plots
from .analysis.statistics import cell_table, confidence_interval, format_cells
from .experiments.compare import compare_runs, format_table, mechanism_table, summary_table
from .experiments.design import Design
from .experiments.efficiency import budget_curve, efficiency_runs
from .experiments.runfns import SweepError
from .experiments.store import load_results
from .experiments.sweep import sweep
from .market.config import ConfigError, MarketConfig
from .market.model import METRICS, MarketModel
from .market.results import SimulationResult, run
from .market.tasks import SyntheticTaskSource, TaskBatch, TaskSource

# ``import simulator.plots`` (and ``from simulator.plots import ...``) keep
# working: the figures moved to simulator/analysis/plots.py, and registering the
# module under its old name makes the import system find it there (one module
# object, not a copy).
sys.modules[f"{__name__}.plots"] = plots

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
    "budget_curve",
    "cell_table",
    "compare_runs",
    "confidence_interval",
    "efficiency_runs",
    "format_cells",
    "format_table",
    "load_results",
    "mechanism_table",
    "plots",
    "run",
    "summary_table",
    "sweep",
]
