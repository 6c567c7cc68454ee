"""Label aggregation: majority vote, Dawid–Skene (crowd-kit) and gold accuracy."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.market.aggregation import AggregateResult, aggregate, gold_accuracy, known_methods

# task 0: 2 x 1, 1 x 0 -> 1 (2/3); task 1: 0, 0 -> 0 (1); task 2: no labels; task 3: tie
TASK = np.array([0, 0, 0, 1, 1, 3, 3])
WORKER = np.array([0, 1, 2, 0, 1, 0, 2])
LABEL = np.array([1, 1, 0, 0, 0, 1, 0])


def test_majority_hand_example():
    res = aggregate(TASK, WORKER, LABEL, n_tasks=5, rng=np.random.default_rng(0))
    assert isinstance(res, AggregateResult)
    assert res.label.dtype == np.int8
    assert res.label[:3].tolist() == [1, 0, -1]
    assert res.label[3] in (0, 1)
    assert res.label[4] == -1
    np.testing.assert_allclose(res.confidence[[0, 1, 3]], [2 / 3, 1.0, 0.5])
    assert np.isnan(res.confidence[[2, 4]]).all()
    assert res.worker_accuracy is None


def test_majority_tie_is_a_coin_flip():
    tie = [
        aggregate(TASK, WORKER, LABEL, rng=np.random.default_rng(s)).label[3] for s in range(400)
    ]
    share = np.mean(tie)
    assert 0.4 < share < 0.6  # 4 standard errors is 0.1
    # reproducible, also without an explicit generator
    a, b = aggregate(TASK, WORKER, LABEL), aggregate(TASK, WORKER, LABEL)
    np.testing.assert_array_equal(a.label, b.label)


def test_majority_default_n_tasks_and_empty_input():
    assert len(aggregate(TASK, WORKER, LABEL).label) == 4
    empty = np.array([], dtype=int)
    for method in known_methods:
        res = aggregate(empty, empty, empty, method, n_tasks=2)
        assert res.label.tolist() == [-1, -1]
        assert np.isnan(res.confidence).all()


def test_bad_input_raises():
    with pytest.raises(ValueError, match="majority, dawid-skene"):
        aggregate(TASK, WORKER, LABEL, "median")
    with pytest.raises(ValueError, match="equal lengths"):
        aggregate(TASK, WORKER[:-1], LABEL)
    with pytest.raises(ValueError, match=r"0 \(A better\) or 1"):
        aggregate(TASK, WORKER, LABEL + 1)
    with pytest.raises(ValueError, match="task ids"):
        aggregate(TASK, WORKER, LABEL, n_tasks=3)


def _crowd(seed: int = 0, n_tasks: int = 300):
    """3 good workers (accuracy 0.9) outnumbered on every task by 4 spammers (0.5)."""
    rng = np.random.default_rng(seed)
    accuracy = np.array([0.9, 0.9, 0.9, 0.5, 0.5, 0.5, 0.5])
    truth = rng.integers(0, 2, n_tasks)
    task = np.repeat(np.arange(n_tasks), accuracy.size)
    worker = np.tile(np.arange(accuracy.size), n_tasks)
    right = rng.random(task.size) < accuracy[worker]
    label = np.where(right, truth[task], 1 - truth[task])
    return task, worker + 10, label, truth  # worker ids need not be compact


def test_dawid_skene_beats_majority_and_finds_the_good_workers():
    task, worker, label, truth = _crowd()
    mv = aggregate(task, worker, label, "majority", rng=np.random.default_rng(1))
    ds = aggregate(task, worker, label, "dawid-skene", rng=np.random.default_rng(1))
    mv_acc, ds_acc = np.mean(mv.label == truth), np.mean(ds.label == truth)
    assert ds_acc > mv_acc + 0.05
    assert ds_acc > 0.93  # majority of the 3 good workers alone: 0.972
    assert ((ds.confidence >= 0.5) & (ds.confidence <= 1.0)).all()

    acc = ds.worker_accuracy
    assert sorted(acc) == list(range(10, 17))
    good, spam = [acc[w] for w in (10, 11, 12)], [acc[w] for w in (13, 14, 15, 16)]
    assert min(good) > max(spam)
    np.testing.assert_allclose(good, 0.9, atol=0.06)
    np.testing.assert_allclose(spam, 0.5, atol=0.1)


def test_dawid_skene_unlabeled_tasks_and_one_sided_worker():
    # worker 5 only ever says 0: its confusion matrix has no row for label 1
    task = np.array([0, 0, 0, 2, 2, 2])
    worker = np.array([1, 2, 5, 1, 2, 5])
    label = np.array([0, 0, 0, 1, 1, 0])
    res = aggregate(task, worker, label, "dawid-skene", n_tasks=4)
    assert res.label.tolist() == [0, -1, 1, -1]
    assert np.isnan(res.confidence[[1, 3]]).all()
    assert set(res.worker_accuracy) == {1, 2, 5}
    assert all(0.0 <= a <= 1.0 for a in res.worker_accuracy.values())
    assert res.worker_accuracy[5] < res.worker_accuracy[1]


def test_gold_accuracy_hand_example():
    worker = np.array([0, 0, 0, 1, 1, 3])
    correct = np.array([True, True, False, False, False, True])
    est = gold_accuracy(worker, correct, n_workers=5)
    # (s + 1) / (n + 2); workers 2 and 4 answered nothing -> prior mean 1/2
    np.testing.assert_allclose(est, [3 / 5, 1 / 4, 1 / 2, 2 / 3, 1 / 2])
    np.testing.assert_allclose(
        gold_accuracy(worker, correct, prior=(9.0, 1.0)), [11 / 13, 9 / 12, 0.9, 10 / 11]
    )
    with pytest.raises(ValueError):
        gold_accuracy(worker, correct[:-1])
    with pytest.raises(ValueError):
        gold_accuracy(worker, correct, prior=(0.0, 1.0))


def _random_crowd(seed: int, n_tasks: int = 300, n_workers: int = 30, k: int = 3):
    rng = np.random.default_rng(seed)
    task = np.repeat(np.arange(n_tasks), k)
    worker = np.concatenate([rng.choice(n_workers, k, replace=False) for _ in range(n_tasks)])
    truth = rng.integers(0, 2, n_tasks)
    quality = rng.beta(7, 3, n_workers)
    quality[: n_workers // 5] = 0.5  # spammers
    correct = rng.random(task.size) < quality[worker]
    label = np.where(correct, truth[task], 1 - truth[task])
    return task, worker, label, truth, quality


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("with_gold", [False, True])
def test_dawid_skene_agrees_with_crowd_kit(seed, with_gold):
    """Our vectorized EM against crowd-kit's DawidSkene (the peer library),
    with and without known true labels on 10% of the tasks."""
    import warnings

    import pandas as pd
    from crowdkit.aggregation import DawidSkene

    from simulator.market.aggregation import dawid_skene

    task, worker, label, truth, _ = _random_crowd(seed)
    gold = np.arange(0, task.max() + 1, 10) if with_gold else np.array([], dtype=int)
    ours = dawid_skene(task, worker, label, gold_task=gold, gold_label=truth[gold])
    data = pd.DataFrame({"task": task, "worker": worker, "label": label})
    ref = DawidSkene(n_iter=100)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        true_labels = pd.Series(truth[gold], index=gold) if with_gold else None
        proba = ref.fit(data, true_labels=true_labels).probas_
    p1 = proba.reindex(index=np.arange(task.max() + 1), columns=[0, 1], fill_value=0.0)[1]
    assert np.abs(ours.p1 - p1.to_numpy()).max() < 1e-3
    errors = ref.errors_.reindex(columns=[0, 1], fill_value=0.0)
    priors = ref.priors_.reindex([0, 1], fill_value=0.0)
    for w_id, acc in ours.accuracy.items():
        theirs = sum(
            float(priors[c]) * float(errors.loc[(w_id, c), c]) if (w_id, c) in errors.index else 0.0
            for c in (0, 1)
        )
        assert acc == pytest.approx(theirs, abs=1e-3)


def test_dawid_skene_estimates_track_true_quality():
    from simulator.market.aggregation import dawid_skene

    task, worker, label, _, quality = _random_crowd(5, n_tasks=1000)
    fit = dawid_skene(task, worker, label)
    est = np.array([fit.accuracy[w] for w in range(len(quality))])
    assert np.corrcoef(est, quality)[0, 1] > 0.6  # about 100 labels per worker
    # the spammers are told apart from the honest workers on average
    spam = len(quality) // 5
    assert est[:spam].mean() < est[spam:].mean() - 0.05
