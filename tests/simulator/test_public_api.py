"""The imports users have keep working after the sub-packages: the names
``simulator`` exports, ``simulator.plots`` both ways, the ``simulator.sweeps``
façade and ``python -m simulator.claims``."""

from __future__ import annotations

import subprocess
import sys

import simulator


def test_simulator_exports_what_the_notebooks_and_the_readme_use():
    for name in simulator.__all__:
        assert getattr(simulator, name) is not None, name
    from simulator.analysis.statistics import cell_table, confidence_interval, format_cells
    from simulator.experiments.compare import compare_runs, format_table, summary_table
    from simulator.experiments.efficiency import budget_curve, efficiency_runs

    for fn in (cell_table, confidence_interval, format_cells, compare_runs, format_table,
               summary_table, budget_curve, efficiency_runs):  # fmt: skip
        assert getattr(simulator, fn.__name__) is fn


def test_plots_is_one_module_under_both_names():
    import simulator.plots
    from simulator import plots
    from simulator.analysis import plots as moved
    from simulator.plots import metric_vs

    assert simulator.plots is plots is moved
    assert metric_vs is moved.metric_vs


def test_the_sweeps_facade_reexports_the_sweep_api():
    import simulator.sweeps as compat
    from simulator.experiments import runfns, store, sweep

    assert compat.sweep is sweep.sweep and compat.load_results is store.load_results
    assert compat.run_market is runfns.run_market
    assert set(compat.__all__) <= set(dir(compat))


def test_python_m_simulator_claims_still_runs():
    out = subprocess.run(
        [sys.executable, "-m", "simulator.claims", "--help"],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    assert "python -m simulator.claims" in out.stdout and "--claim" in out.stdout
