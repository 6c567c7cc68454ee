"""Temporary: the committed notebooks import ``compare_runs``, ``format_table``, ``summary_table``
from ``simulator.compare``; this file keeps that line working until they import
the names from :mod:`simulator`. Delete it then (the code is in
:mod:`simulator.experiments.compare`)."""

from .experiments.compare import compare_runs, format_table, summary_table

__all__ = ["compare_runs", "format_table", "summary_table"]
