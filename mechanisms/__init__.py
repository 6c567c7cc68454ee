"""Allocation and payment rules for buying labels: reverse auctions behind one
interface and a registry by name.

>>> import mechanisms
>>> m = mechanisms.get("vickrey")
>>> out = m.run([0.3, 0.1, 0.2], k=1, rng=0)
>>> out.winners.tolist(), out.payments.tolist()
([1], [0.0, 0.2, 0.0])

This package is pure numpy/scipy: it imports no other package of the project.
"""

from . import (  # noqa: F401  (importing a rule module registers it)
    budget_feasible,
    first_price,
    fixed_price,
    myerson,
    quality_vickrey,
    vickrey,
    vickrey_feedback,
)
from .base import BatchOutcome, Mechanism, Outcome, Properties
from .registry import available, get, register

__all__ = [
    "BatchOutcome",
    "Mechanism",
    "Outcome",
    "Properties",
    "available",
    "get",
    "register",
]
