"""Run functions for the sweep tests. They live in a module (not in the test
file's closures) because process-pool and Dask workers import them by name."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from simulator.experiments.runfns import run_market

BAD_BUDGET = 123.0


def slow_run(config):
    """A market run that takes at least 0.25 s (time to kill a sweep mid-way)."""
    time.sleep(0.25)
    return run_market(config)


def failing_run(config):
    """Raises for the cells whose budget is BAD_BUDGET."""
    if config.budget == BAD_BUDGET:
        raise ValueError(f"no market at budget {config.budget}")
    return run_market(config)


def crash_once(config):
    """Kills its own worker process (SIGKILL) the first time it runs the config
    whose budget is BAD_BUDGET; the marker file named by $SWEEP_CRASH_MARKER
    remembers that it happened."""
    marker = Path(os.environ["SWEEP_CRASH_MARKER"])
    if config.budget == BAD_BUDGET and not marker.exists():
        marker.write_text("crashed")
        os.kill(os.getpid(), signal.SIGKILL)
    return run_market(config)


def summary_only(config, *, scale: float = 1.0):
    """Returns a mapping, not a result (allowed): the run's summary, its spend
    times ``scale`` (a run parameter)."""
    summary = dict(run_market(config).summary)
    summary["scaled_spend"] = summary["spend"] * scale
    return summary
