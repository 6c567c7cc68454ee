"""The market simulator: the Mesa model of the market, results, sweeps, plots
and the ``vickreyfeedback`` command line. The only package that imports the
others (``agents``, ``mechanisms``, ``rlhf``).

Today it holds the mechanism comparison behind ``make run``
(:func:`simulator.demo.compare_mechanisms`); the Mesa market model follows.
"""

from .demo import DemoConfig, compare_mechanisms, mechanism_table

__all__ = ["DemoConfig", "compare_mechanisms", "mechanism_table"]
