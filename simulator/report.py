"""Temporary: the committed notebooks import ``cell_table``, ``format_cells``
from ``simulator.report``; this file keeps that line working until they import
the names from :mod:`simulator`. Delete it then (the code is in
:mod:`simulator.analysis.statistics`)."""

from .analysis.statistics import cell_table, format_cells

__all__ = ["cell_table", "format_cells"]
