"""Where labeling tasks come from.

A task is one preference comparison (prompt, response A, response B) whose
true label (0 = A is better, 1 = B is better) the simulator knows and no agent
does. Any object with a ``next_batch(n)`` method returning a :class:`TaskBatch`
(or None once exhausted) is a task source. The market's default is
:class:`PairTaskSource` over the RLHF task world's shipped pairs (with their
texts); :class:`SyntheticTaskSource` is an unlimited stream of random labels
(``task_source: synthetic``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class TaskBatch:
    """A batch of tasks posted in one round.

    Attributes:
        ids: (T,) int64 task ids, unique over the run.
        truth: (T,) int8 true labels, 0 or 1.
        difficulty: (T,) float in [0, 0.5]: an annotator of accuracy q labels
            the task correctly with probability 0.5 + (q - 0.5)(1 - 2 d).
        gold: (T,) bool, True for gold questions (the buyer knows the answer).
        text: optional DataFrame with columns prompt, response_a, response_b.
    """

    ids: np.ndarray
    truth: np.ndarray
    difficulty: np.ndarray
    gold: np.ndarray
    text: pd.DataFrame | None = None

    def __len__(self) -> int:
        return int(self.ids.size)


@runtime_checkable
class TaskSource(Protocol):
    """Anything that posts tasks: ``next_batch(n)`` returns up to n new tasks,
    or None when no tasks are left."""

    def next_batch(self, n: int) -> TaskBatch | None: ...


class SyntheticTaskSource:
    """Tasks with random true labels and difficulty levels, no text.

    Args:
        rng: the task stream's own generator.
        n_tasks: pool size; None for an unlimited stream.
        difficulty: difficulty levels, drawn uniformly per task.
        gold_rate: share of tasks that are gold questions.
    """

    def __init__(
        self,
        rng: np.random.Generator,
        *,
        n_tasks: int | None = None,
        difficulty: tuple[float, ...] = (0.0,),
        gold_rate: float = 0.0,
    ) -> None:
        levels = np.asarray(difficulty, dtype=float)
        if levels.size == 0 or (levels < 0).any() or (levels > 0.5).any():
            raise ValueError("difficulty levels must be in [0, 0.5]")
        if not 0 <= gold_rate < 1:
            raise ValueError("gold_rate must be in [0, 1)")
        # one child stream per attribute, read with random() (float64 draws do
        # not depend on how they are chunked): task i gets the same truth,
        # difficulty and gold flag whatever batch sizes the buyer posts
        self._truth_rng, self._level_rng, self._gold_rng = rng.spawn(3)
        self.n_tasks = n_tasks
        self.levels = levels
        self.gold_rate = float(gold_rate)
        self.posted = 0

    def next_batch(self, n: int) -> TaskBatch | None:
        if self.n_tasks is not None:
            n = min(n, self.n_tasks - self.posted)
        if n <= 0:
            return None
        ids = np.arange(self.posted, self.posted + n, dtype=np.int64)
        self.posted += n
        level = np.minimum(
            (self._level_rng.random(n) * self.levels.size).astype(np.int64), self.levels.size - 1
        )
        return TaskBatch(
            ids=ids,
            truth=(self._truth_rng.random(n) < 0.5).astype(np.int8),
            difficulty=self.levels[level],
            gold=self._gold_rng.random(n) < self.gold_rate,
        )


class PairTaskSource:
    """Tasks from a table of preference pairs (the RLHF task world).

    Args:
        pairs: DataFrame with columns prompt, response_a, response_b, label
            (the true label, 1 = B better) and optionally difficulty in
            [0, 0.5] (default 0); e.g. ``rlhf.taskworld.make_pairs(...)``.
        rng: the task stream's generator (order of posting, gold flags).
        gold_rate: share of tasks that are gold questions.
        shuffle: post the pairs in a random order (else in table order).

    Each pair is posted once; task ids are the row positions in ``pairs``.
    The posting order is fixed up front and gold flags come from their own
    stream read with random(), so task i is the same whatever batch sizes the
    buyer posts (common random numbers across mechanisms).
    """

    def __init__(
        self,
        pairs: pd.DataFrame,
        rng: np.random.Generator,
        *,
        gold_rate: float = 0.0,
        shuffle: bool = True,
    ) -> None:
        missing = {"prompt", "response_a", "response_b", "label"} - set(pairs.columns)
        if missing:
            raise ValueError(f"pairs lacks columns {sorted(missing)}")
        if not 0 <= gold_rate < 1:
            raise ValueError("gold_rate must be in [0, 1)")
        labels = pairs["label"].to_numpy()
        if not np.isin(labels, (0, 1)).all():
            raise ValueError("pairs.label must be 0 or 1")
        self.pairs = pairs.reset_index(drop=True)
        order_rng, self._gold_rng = rng.spawn(2)
        self.gold_rate = float(gold_rate)
        self.order = (
            order_rng.permutation(len(self.pairs)) if shuffle else np.arange(len(self.pairs))
        )
        self.posted = 0

    def next_batch(self, n: int) -> TaskBatch | None:
        take = self.order[self.posted : self.posted + n]
        if take.size == 0:
            return None
        self.posted += take.size
        rows = self.pairs.iloc[take]
        difficulty = (
            rows["difficulty"].to_numpy(dtype=float)
            if "difficulty" in rows
            else np.zeros(take.size)
        )
        return TaskBatch(
            ids=take.astype(np.int64),
            truth=rows["label"].to_numpy().astype(np.int8),
            difficulty=np.clip(difficulty, 0.0, 0.5),
            gold=self._gold_rng.random(take.size) < self.gold_rate,
            text=rows[["prompt", "response_a", "response_b"]].reset_index(drop=True),
        )
