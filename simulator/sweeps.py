"""Compatibility: the sweep API under its name from before the sub-packages.

The code lives in :mod:`simulator.experiments` (``design``, ``runfns``,
``runner``, ``store``, ``executors``, ``sweep``); new code imports from
:mod:`simulator` (``from simulator import Design, sweep, load_results``).
This module stays because the name is stored data: design files name
``run_fn: simulator.sweeps:run_market`` or
``simulator.sweeps:market_with_efficiency``, and the default run function's
name ``"simulator.sweeps:run_market"`` is part of every run's store key, so
existing stores resume only while it imports.
"""

from .experiments.design import Design
from .experiments.executors import SEQUENTIAL_MAX
from .experiments.runfns import DEFAULT_RUN_FN, SweepError, market_with_efficiency, run_market
from .experiments.runner import run_key
from .experiments.store import factors, load_results, verify_store
from .experiments.sweep import SweepOutcome, sweep

__all__ = [
    "DEFAULT_RUN_FN",
    "SEQUENTIAL_MAX",
    "Design",
    "SweepError",
    "SweepOutcome",
    "factors",
    "load_results",
    "market_with_efficiency",
    "run_key",
    "run_market",
    "sweep",
    "verify_store",
]
