"""Mesa ``unique_id`` counters, one per model, that a crowd can reserve from.

Mesa 3.3 numbers agents 1, 2, ... per model through ``Agent._ids``, a
class-wide ``defaultdict`` keyed by model: every model that ever created an
agent (and through it all its agents and tables) stays in memory, about 30 MB
per market run, without end in a long sweep. :class:`IdCounters` keys them
weakly, so a model's counter goes with the model.

A :class:`ModelIds` also hands out blocks of ids (:meth:`ModelIds.reserve`)
for annotators whose Mesa agents are built later, and gives such an agent its
reserved id when it is built (:meth:`ModelIds.preset`), so an annotator's id,
and with it every draw keyed by it, does not depend on when (or whether)
anyone looked at the agents.
"""

from __future__ import annotations

import weakref

import numpy as np

__all__ = ["IdCounters", "ModelIds"]


class ModelIds:
    """The next ``unique_id`` of one model (Mesa's ``next(Agent._ids[model])``)."""

    def __init__(self) -> None:
        self._next = 1
        self._preset: int | None = None

    def __iter__(self) -> ModelIds:
        return self

    def __next__(self) -> int:
        if self._preset is not None:
            uid, self._preset = self._preset, None
            return uid
        uid = self._next
        self._next += 1
        return uid

    def reserve(self, n: int) -> np.ndarray:
        """The next ``n`` ids, for agents to be built later."""
        ids = np.arange(self._next, self._next + n, dtype=np.int64)
        self._next += n
        return ids

    def preset(self, uid: int) -> None:
        """The id the next agent built gets (a reserved one)."""
        self._preset = int(uid)


class IdCounters(weakref.WeakKeyDictionary):
    """Per-model :class:`ModelIds` that do not keep finished models alive."""

    def __getitem__(self, model) -> ModelIds:
        try:
            return super().__getitem__(model)
        except KeyError:
            counter = ModelIds()
            self[model] = counter
            return counter
