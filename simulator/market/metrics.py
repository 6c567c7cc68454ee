"""Per-round market metrics: pure functions of arrays (numpy only).

- :func:`gini`: inequality of earnings (Gini 1912; the sorted-values formula
  of e.g. Damgaard & Weiner, "Describing inequality in plant size or
  fecundity", Ecology 81(4), 2000).
- :func:`cheapest_feasible_cost` and :func:`allocative_efficiency`: the social
  cost of the labels bought against the cheapest way to buy as many.
- :func:`incentive_gap`: the largest gain a sampled annotator would have had
  from a different ask (an empirical check of incentive compatibility).

Statistics over many runs (confidence intervals, cell tables) are in
:mod:`simulator.analysis.statistics`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

__all__ = [
    "allocative_efficiency",
    "cheapest_feasible_cost",
    "gini",
    "incentive_gap",
]

#: ask = deviation factor x true cost, for :func:`incentive_gap`
DEFAULT_DEVIATIONS: tuple[float, ...] = (0.0, 0.5, 0.8, 0.9, 1.1, 1.25, 1.5, 2.0)


def gini(x: np.ndarray) -> float:
    """Gini coefficient of non-negative values.

    ``G = sum_i (2i - n - 1) x_(i) / (n sum x)`` over the sorted values
    ``x_(1) <= ... <= x_(n)``: 0 when all are equal, ``(n-1)/n`` when one holds
    everything. Returns 0.0 when all values are 0 and NaN for an empty input.

    Raises:
        ValueError: negative or non-finite values (shift or clip them first,
            e.g. profits that can be negative).
    """
    x = np.sort(np.asarray(x, dtype=float).ravel())
    n = x.size
    if n == 0:
        return float("nan")
    if not np.isfinite(x).all():
        raise ValueError("gini needs finite values")
    if x[0] < 0:
        raise ValueError(f"gini needs non-negative values, got minimum {x[0]}")
    total = x.sum()
    if total == 0:
        return 0.0
    i = np.arange(1, n + 1)
    return float(((2 * i - n - 1) * x).sum() / (n * total))


def allocative_efficiency(winner_costs_total: float, cheapest_total: float) -> float:
    """Cheapest feasible social cost / the winners' true cost (1.0 = efficient).

    ``cheapest_total`` comes from :func:`cheapest_feasible_cost` for the same
    numbers of labels. Returns NaN when ``winner_costs_total`` is 0 (nothing
    bought, or only costless labels: the ratio is undefined).
    """
    if winner_costs_total == 0:
        return float("nan")
    return float(cheapest_total / winner_costs_total)


def cheapest_feasible_cost(asks_present_costs: np.ndarray, won_count_per_task: np.ndarray) -> float:
    """Social cost of the cheapest annotators buying the same labels per task.

    Sum over tasks t of the ``won_count[t]`` lowest true costs in row t. Each
    task is taken on its own (an annotator's capacity across tasks and the
    reserve are ignored), so this is a lower bound on any feasible cost.

    Args:
        asks_present_costs: (T, n) true costs of the bidders present on each
            task, NaN where absent.
        won_count_per_task: (T,) number of labels bought for each task.

    Raises:
        ValueError: shapes disagree, or a task bought more labels than it had
            bidders present.
    """
    costs = np.asarray(asks_present_costs, dtype=float)
    won = np.asarray(won_count_per_task)
    if costs.ndim != 2 or won.shape != (costs.shape[0],):
        raise ValueError(
            f"need costs (T, n) and won counts (T,), got {costs.shape} and {won.shape}"
        )
    if (won > (~np.isnan(costs)).sum(axis=1)).any():
        raise ValueError("a task bought more labels than it had bidders present")
    ordered = np.sort(costs, axis=1)  # NaN (absent) sorts last
    take = np.arange(costs.shape[1])[None, :] < won[:, None]
    return float(np.where(take, ordered, 0.0).sum())


def incentive_gap(
    run_batch_fn: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]],
    asks: np.ndarray,
    costs: np.ndarray,
    *,
    deviations: Sequence[float] = DEFAULT_DEVIATIONS,
    sample: int = 20,
    rng: np.random.Generator,
) -> float:
    """Empirical incentive gap: the best gain of a sampled annotator from another ask.

    Samples up to ``sample`` distinct present slots (t, i). For each, row t is
    re-run once as it was and once per ask ``costs[t, i] * d`` for ``d`` in
    ``deviations`` (the rest of row t unchanged); all ``sample x (1 + D)`` rows
    go through one call of ``run_batch_fn``, which must break ties the same way
    within a slot's group of rows (``simulator.market.model`` passes one tie-break
    draw per slot to the mechanism's ``allocate``), so the comparison holds
    everything but the ask fixed. A slot's utility is ``payment - cost`` if it
    wins, else 0. The gap is the maximum over sampled slots of (best deviation
    utility - utility of the ask actually made), floored at 0.

    It is a lower bound on the true gap (a finite sample of bidders and of
    deviations), in dollars per label. For a truthful mechanism and truthful
    asks it is 0.

    Args:
        run_batch_fn: ``(asks (R, n), source_row (R,)) -> (won (R, n) bool,
            payments (R, n))``: the round's mechanism with its k, reserve and
            budget fixed; ``source_row`` says which task row each row copies.
        asks: (T, n) asks of the round, NaN where a bidder is absent.
        costs: (T, n) true cost of the bidder in each slot.
        deviations: ask multipliers of the true cost to try.
        sample: number of slots to sample (fewer if fewer are present).
        rng: generator for the sample.

    Returns:
        The gap (>= 0); 0.0 if no bidder is present.
    """
    asks = np.asarray(asks, dtype=float)
    costs = np.asarray(costs, dtype=float)
    if not (asks.ndim == 2 and asks.shape == costs.shape):
        raise ValueError(
            f"asks and costs must be (T, n) arrays of one shape, got {asks.shape}, {costs.shape}"
        )
    dev = np.asarray(deviations, dtype=float)
    present = np.flatnonzero(~np.isnan(asks))
    if present.size == 0 or dev.size == 0 or sample < 1:
        return 0.0
    slots = rng.choice(present, size=min(sample, present.size), replace=False)
    t, i = np.unravel_index(slots, asks.shape)
    cost = costs[t, i]
    D = dev.size + 1  # the actual ask first, then the deviations
    rows = np.repeat(asks[t], D, axis=0)  # (S * D, n), slot-major
    col = np.repeat(i, D)
    tried = np.concatenate([asks[t, i][:, None], cost[:, None] * dev[None, :]], axis=1)
    rows[np.arange(rows.shape[0]), col] = tried.ravel()
    dev_won, dev_pay = run_batch_fn(rows, np.repeat(t, D))
    r = np.arange(rows.shape[0])
    dev_won = np.asarray(dev_won, dtype=bool)[r, col]
    dev_pay = np.asarray(dev_pay, dtype=float)[r, col]
    utility = np.where(dev_won, dev_pay - np.repeat(cost, D), 0.0).reshape(-1, D)
    return float(max(0.0, (utility[:, 1:].max(axis=1) - utility[:, 0]).max()))
