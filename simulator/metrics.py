"""Temporary: the committed notebooks import ``confidence_interval``
from ``simulator.metrics``; this file keeps that line working until they import
the names from :mod:`simulator`. Delete it then (the code is in
:mod:`simulator.analysis.statistics`)."""

from .analysis.statistics import confidence_interval

__all__ = ["confidence_interval"]
