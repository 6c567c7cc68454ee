"""Aggregating bought preference labels into one label per task.

A label is binary: 0 = response A is better, 1 = response B is better. The
input is one row per bought label, as three equal-length int arrays (task,
worker, label), with task ids compact (0 .. n_tasks-1).

Methods (:data:`known_methods`):

- ``"majority"``: the label most workers gave; ties broken uniformly at random.
- ``"dawid-skene"``: the EM estimate of Dawid & Skene (1979), "Maximum
  likelihood estimation of observer error-rates using the EM algorithm",
  J. R. Stat. Soc. C 28(1) (:func:`dawid_skene`, vectorized EM, tested
  against crowd-kit's ``DawidSkene``: Ustalov et al., "Learning from Crowds
  with Crowd-Kit", JOSS 2024). It models each worker by a confusion matrix,
  so it can outweigh a majority of random labellers.

:func:`gold_accuracy` estimates each worker's accuracy from gold questions
(tasks whose true label the buyer knows) as a Beta posterior mean.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "AggregateResult",
    "DawidSkeneFit",
    "aggregate",
    "dawid_skene",
    "gold_accuracy",
    "known_methods",
]

#: the aggregation methods :func:`aggregate` accepts
known_methods: tuple[str, ...] = ("majority", "dawid-skene")


@dataclass(frozen=True)
class AggregateResult:
    """One aggregated label per task.

    Attributes:
        label: (n_tasks,) int8, the aggregated label (0 or 1), -1 where a task
            has no labels.
        confidence: (n_tasks,) float in [0.5, 1]: the winning label's share of
            the votes (``"majority"``) or its posterior probability
            (``"dawid-skene"``); NaN where a task has no labels.
        worker_accuracy: Dawid–Skene's estimate of each worker's accuracy
            (worker id -> probability that its label is correct), None for
            ``"majority"``.
    """

    label: np.ndarray
    confidence: np.ndarray
    worker_accuracy: dict[int, float] | None = None


def aggregate(
    task: np.ndarray,
    worker: np.ndarray,
    label: np.ndarray,
    method: str = "majority",
    *,
    rng: np.random.Generator | None = None,
    n_tasks: int | None = None,
    n_iter: int = 100,
) -> AggregateResult:
    """Aggregate binary labels per task.

    Args:
        task: (m,) int task id of each bought label, in 0 .. n_tasks-1.
        worker: (m,) int id of the worker who gave it.
        label: (m,) int label, 0 (A better) or 1 (B better).
        method: one of :data:`known_methods`.
        rng: breaks exact ties (equal vote counts, or a Dawid–Skene posterior
            of exactly 0.5) uniformly at random, drawing one integer per tied
            task in task order. If None, ``np.random.default_rng(0)`` is used,
            so results are reproducible but ties are not independent across
            calls.
        n_tasks: number of tasks; default ``task.max() + 1`` (0 if no labels).
            Tasks without labels get label -1 and confidence NaN.
        n_iter: maximum EM iterations for ``"dawid-skene"``.

    Raises:
        ValueError: unknown method, arrays of different lengths, labels other
            than 0/1, or task ids outside 0 .. n_tasks-1.
    """
    if method not in known_methods:
        raise ValueError(
            f"unknown aggregation method {method!r}; known: {', '.join(known_methods)}"
        )
    task, worker, label = (
        _int_array(a, name) for a, name in ((task, "task"), (worker, "worker"), (label, "label"))
    )
    if not (len(task) == len(worker) == len(label)):
        raise ValueError(
            f"task, worker and label must have equal lengths, got "
            f"{len(task)}, {len(worker)}, {len(label)}"
        )
    if ((label != 0) & (label != 1)).any():
        raise ValueError("labels must be 0 (A better) or 1 (B better)")
    if n_tasks is None:
        n_tasks = int(task.max()) + 1 if len(task) else 0
    if len(task) and (task.min() < 0 or task.max() >= n_tasks):
        raise ValueError(f"task ids must lie in 0 .. n_tasks-1 = {n_tasks - 1}")
    rng = np.random.default_rng(0) if rng is None else rng

    if method == "majority":
        counts = np.bincount(task * 2 + label, minlength=2 * n_tasks).reshape(n_tasks, 2)
        total = counts.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            p1 = counts[:, 1] / total
        return _decide(p1, rng, worker_accuracy=None)
    return _dawid_skene(task, worker, label, n_tasks, rng, n_iter)


def _int_array(a: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(a)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array, got shape {arr.shape}")
    if arr.size and arr.dtype.kind not in "iub":
        raise ValueError(f"{name} must hold integers, got dtype {arr.dtype}")
    return arr.astype(np.int64)


def _decide(
    p1: np.ndarray, rng: np.random.Generator, worker_accuracy: dict[int, float] | None
) -> AggregateResult:
    """Labels from P(label = 1) per task (NaN = unlabeled); exact 0.5 ties at random."""
    labelled = ~np.isnan(p1)
    out = np.full(p1.shape, -1, dtype=np.int8)
    out[labelled] = p1[labelled] > 0.5
    tie = labelled & (p1 == 0.5)
    out[tie] = rng.integers(0, 2, size=int(tie.sum()))
    confidence = np.fmax(p1, 1.0 - p1)  # NaN stays NaN
    return AggregateResult(label=out, confidence=confidence, worker_accuracy=worker_accuracy)


def _dawid_skene(
    task: np.ndarray,
    worker: np.ndarray,
    label: np.ndarray,
    n_tasks: int,
    rng: np.random.Generator,
    n_iter: int,
) -> AggregateResult:
    """Dawid–Skene labels and worker accuracies (:func:`dawid_skene`)."""
    if len(task) == 0:
        return AggregateResult(
            label=np.full(n_tasks, -1, dtype=np.int8),
            confidence=np.full(n_tasks, np.nan),
            worker_accuracy={},
        )
    fit = dawid_skene(task, worker, label, n_tasks=n_tasks, n_iter=n_iter)
    p1 = fit.p1.copy()
    p1[np.bincount(task, minlength=n_tasks) == 0] = np.nan
    return _decide(p1, rng, worker_accuracy=fit.accuracy)


@dataclass(frozen=True)
class DawidSkeneFit:
    """A fitted binary Dawid–Skene model.

    Attributes:
        p1: (n_tasks,) posterior probability that each task's true label is 1
            (the class prior for tasks without labels).
        accuracy: worker id -> the probability, under the model, that its
            label on a random task is correct: sum_c prior_c P(label = c | true = c).
        prior: (2,) the class prior.
        iterations: EM iterations run.
    """

    p1: np.ndarray
    accuracy: dict[int, float]
    prior: np.ndarray
    iterations: int


def dawid_skene(
    task: np.ndarray,
    worker: np.ndarray,
    label: np.ndarray,
    *,
    n_tasks: int | None = None,
    gold_task: np.ndarray | None = None,
    gold_label: np.ndarray | None = None,
    n_iter: int = 100,
    tol: float = 1e-5,
) -> DawidSkeneFit:
    """Binary Dawid & Skene (1979) by EM, vectorized over labels.

    Each worker has a 2 x 2 confusion matrix P(label | true); EM starts from
    the majority-vote posteriors, as crowd-kit's ``DawidSkene`` does (and
    ``tests/simulator/test_aggregation.py`` checks the two agree). Tasks whose
    true label is known (``gold_task``, ``gold_label``) keep that label as a
    certain posterior in every iteration (crowd-kit's ``true_labels``), so
    gold answers anchor the workers' confusion matrices.
    """
    task, worker, label = (np.asarray(a, dtype=np.int64) for a in (task, worker, label))
    n_tasks = int(task.max()) + 1 if n_tasks is None else int(n_tasks)
    workers, w = np.unique(worker, return_inverse=True)
    W, m = workers.size, task.size
    gold_t = np.asarray([] if gold_task is None else gold_task, dtype=np.int64)
    gold_l = np.asarray([] if gold_label is None else gold_label, dtype=float)
    votes = np.bincount(task * 2 + label, minlength=2 * n_tasks).reshape(n_tasks, 2)
    labelled = votes.sum(axis=1) > 0
    gave = np.zeros((W, 2), dtype=bool)  # the labels each worker ever gave
    gave[w, label] = True
    eps = 1e-10  # crowd-kit's floor for counts, priors and posteriors

    def m_step(p1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Class prior and confusion matrices P(observed | true), (W, true, observed)."""
        post = np.stack([1.0 - p1[task], p1[task]], axis=1)  # (m, true)
        counts = np.zeros((W, 2, 2))
        for c in (0, 1):
            np.add.at(counts[:, c, :], (w, label), post[:, c])
        counts = np.where(gave[:, None, :], np.maximum(counts, eps), 0.0)
        prior = np.array([1.0 - p1[labelled].mean(), p1[labelled].mean()])
        return np.maximum(prior, eps), counts / counts.sum(axis=2, keepdims=True)

    def e_step(prior: np.ndarray, errors: np.ndarray) -> np.ndarray:
        log_e = np.log(errors[w, :, label])  # (m, true); a given label never has a 0 count
        logp = np.zeros((n_tasks, 2))
        np.add.at(logp, task, log_e)
        logp += np.log(prior)
        lik = np.exp(logp - logp.max(axis=1, keepdims=True))
        p1 = lik[:, 1] / lik.sum(axis=1)
        p1[gold_t] = gold_l  # known answers stay certain
        return p1

    def elbo(p1, prior, errors) -> float:
        post = np.stack([1.0 - p1, p1], axis=1)[labelled]
        log_e = np.log(errors[w, :, label])  # (m, true); a given label never has a 0 count
        joint = (np.stack([1.0 - p1[task], p1[task]], axis=1) * (log_e + np.log(prior))).sum()
        clipped = np.maximum(post, eps)
        return float(joint - (np.log(clipped) * clipped).sum())

    # start from the majority-vote posteriors, as crowd-kit does
    p1 = np.where(labelled, votes[:, 1] / np.maximum(votes.sum(axis=1), 1), 0.5)
    p1[gold_t] = gold_l
    prior, errors = m_step(p1)
    loss = -np.inf
    iterations = 0
    while iterations < n_iter:
        iterations += 1
        p1 = e_step(prior, errors)
        prior, errors = m_step(p1)
        new_loss = elbo(p1, prior, errors) / m
        if new_loss - loss < tol:
            break
        loss = new_loss
    p1 = np.where(labelled, p1, prior[1])
    acc = prior[0] * errors[:, 0, 0] + prior[1] * errors[:, 1, 1]
    accuracy = {int(k): float(a) for k, a in zip(workers, acc, strict=True)}
    return DawidSkeneFit(p1=p1, accuracy=accuracy, prior=prior, iterations=iterations)


def gold_accuracy(
    worker: np.ndarray,
    correct: np.ndarray,
    n_workers: int | None = None,
    prior: tuple[float, float] = (1.0, 1.0),
) -> np.ndarray:
    """Per-worker accuracy from gold questions, as a Beta posterior mean.

    With a Beta(a, b) prior (``prior=(a, b)``, default uniform) and a worker
    answering ``n`` gold questions, ``s`` of them correctly, the estimate is
    ``(s + a) / (n + a + b)``. Workers with no gold answers get the prior mean
    ``a / (a + b)``.

    Args:
        worker: (m,) int worker id (0 .. n_workers-1) of each gold answer.
        correct: (m,) bool, whether that answer matched the gold label.
        n_workers: length of the result; default ``worker.max() + 1``.
        prior: Beta prior pseudo-counts (correct, wrong), both > 0.

    Returns:
        (n_workers,) float array indexed by worker id.
    """
    worker = _int_array(worker, "worker")
    correct = np.asarray(correct)
    if correct.shape != worker.shape:
        raise ValueError(
            f"worker and correct must have equal lengths, got {len(worker)}, {correct.size}"
        )
    a, b = (float(p) for p in prior)
    if not (a > 0 and b > 0):
        raise ValueError(f"prior pseudo-counts must be > 0, got {prior!r}")
    if n_workers is None:
        n_workers = int(worker.max()) + 1 if len(worker) else 0
    if len(worker) and (worker.min() < 0 or worker.max() >= n_workers):
        raise ValueError(f"worker ids must lie in 0 .. n_workers-1 = {n_workers - 1}")
    answered = np.bincount(worker, minlength=n_workers)
    right = np.bincount(worker, weights=correct.astype(float), minlength=n_workers)
    return (right + a) / (answered + a + b)
