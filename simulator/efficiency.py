"""Temporary: the committed notebooks import ``budget_curve``, ``efficiency_runs``
from ``simulator.efficiency``; this file keeps that line working until they import
the names from :mod:`simulator`. Delete it then (the code is in
:mod:`simulator.experiments.efficiency`)."""

from .experiments.efficiency import budget_curve, efficiency_runs

__all__ = ["budget_curve", "efficiency_runs"]
