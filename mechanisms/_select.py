"""Vectorized building blocks shared by the rules: order statistics, selection
of the k best bidders per task with random tie-breaking, and the budget cap.

All functions work on (T, n) arrays where NaN marks a bidder that is absent or
ineligible for the task; no function loops over tasks in Python.
"""

from __future__ import annotations

import numpy as np

_EPS = np.finfo(float).eps


def order_stat(sorted_key: np.ndarray, j: np.ndarray | int) -> np.ndarray:
    """The j-th smallest key per row (1-based) from a row-sorted array.

    NaN where the row has fewer than j present keys (or j is outside 1..n).
    """
    T, n = sorted_key.shape
    if np.ndim(j) == 0:
        j = int(j)
        if 1 <= j <= n:
            return sorted_key[:, j - 1]
        return np.full(T, np.nan)
    j = np.asarray(j)
    ok = (j >= 1) & (j <= n)
    col = np.clip(j - 1, 0, max(n - 1, 0))
    out = np.take_along_axis(sorted_key, col[:, None], axis=1)[:, 0] if n else np.full(T, np.nan)
    return np.where(ok, out, np.nan)


def select_lowest(
    key: np.ndarray,
    sorted_key: np.ndarray,
    k: np.ndarray | int,
    u: np.ndarray,
    cap: np.ndarray | None = None,
) -> np.ndarray:
    """Select, in each row t, the ``k[t]`` entries with the smallest ``(key, u)``.

    ``key`` is (T, n) with NaN for entries that can never be selected,
    ``sorted_key`` is ``np.sort(key, axis=1)`` (NaN sort last), ``k`` an int or
    a (T,) int array (0 selects nothing) and ``u`` (T, n) uniforms. Ties in
    ``key`` at the selection boundary go to the smaller ``u``, so the chosen
    set is uniformly random among tied entries. Rows with fewer than ``k``
    present entries select all of them. With ``cap`` (T,), only keys
    ``<= cap[t]`` can be selected (cheaper than masking ``key`` with NaN).
    Returns a (T, n) bool array.
    """
    T = key.shape[0]
    k_arr = np.broadcast_to(np.asarray(k), (T,))
    # Boundary value: the k-th smallest key; rows with fewer present keys take all.
    thr = order_stat(sorted_key, k)
    thr = np.where(np.isnan(thr), np.inf, thr)
    thr = np.where(k_arr <= 0, -np.inf, thr)
    if cap is not None:
        thr = np.minimum(thr, cap)  # a k-th key above the cap: no tie can straddle it
    won = key <= thr[:, None]
    # A tie straddles the boundary iff the (k+1)-th smallest equals the k-th.
    nxt = order_stat(sorted_key, int(k) + 1 if np.ndim(k) == 0 else k_arr + 1)
    tie_rows = nxt == thr
    if not tie_rows.any():
        return won
    if 2 * int(tie_rows.sum()) > T:  # most rows tie (everyone asks the same, say): no gather
        rows, sub_key, sub_u, v, kr = slice(None), key, u, thr[:, None], k_arr
    else:
        rows = np.flatnonzero(tie_rows)
        sub_key, sub_u, v, kr = key[rows], u[rows], thr[rows, None], k_arr[rows]
    less = sub_key < v
    tied = sub_key == v
    need = kr - less.sum(axis=1)
    tie_u = np.where(tied, sub_u, np.inf)
    # the tied entries with the `need` smallest uniforms: at most the need-th smallest,
    # found by a partial sort per distinct `need` (there are at most k + 1 of them)
    nth = np.full(need.shape, -np.inf)
    for m in np.unique(need[need > 0]):
        sel = need == m
        part = np.partition(tie_u[sel], int(m) - 1, axis=1)
        nth[sel] = part[:, int(m) - 1]
    chosen = less | (tied & (tie_u <= nth[:, None]))
    if isinstance(rows, slice):
        won = np.where(tie_rows[:, None], chosen, won)
    else:
        won[rows] = chosen
    return won


def rank_winners(won: np.ndarray, key: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Position of each winner in its row's ``(key, u)`` order (0 = best), -1 elsewhere.

    The few winners of each row are gathered into a narrow (T, m) array and
    ordered there (by u, then stably by key), so no global sort is needed."""
    T, n = won.shape
    m = int(won.sum(axis=1).max(initial=0))
    rank = np.full((T, n), -1, dtype=np.min_scalar_type(-max(m, 1)))
    if m == 0:
        return rank
    t_idx, i_idx = np.nonzero(won)  # row-major: each row's winners are contiguous
    starts = np.searchsorted(t_idx, np.arange(T))
    cols = np.zeros((T, m), dtype=np.intp)
    valid = np.zeros((T, m), dtype=bool)
    slot = np.arange(t_idx.size) - starts[t_idx]
    cols[t_idx, slot] = i_idx
    valid[t_idx, slot] = True
    rows = np.arange(T)[:, None]
    kk = np.where(valid, key[rows, cols], np.inf)
    uu = np.where(valid, u[rows, cols], np.inf)
    by_u = np.argsort(uu, axis=1, kind="stable")
    order = np.take_along_axis(by_u, np.argsort(np.take_along_axis(kk, by_u, axis=1), axis=1,
                                                kind="stable"), axis=1)  # fmt: skip
    pos = np.empty_like(order)
    np.put_along_axis(pos, order, np.broadcast_to(np.arange(m), order.shape), axis=1)
    rank[t_idx, i_idx] = pos[t_idx, slot]
    return rank


def share(budget: np.ndarray, j: np.ndarray | int) -> np.ndarray:
    """``budget / j``, shaved by a few ulps so that adding up ``j`` payments of
    this size in floating point never exceeds ``budget``. inf for j = 0."""
    j = np.asarray(j, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = budget / j * (1.0 - 2.0 * (j + 1.0) * _EPS)
    return np.where(j > 0, out, np.inf)


def effective_reserve(reserve: np.ndarray, budget: np.ndarray, k: int) -> np.ndarray:
    """Per-label price cap: the reserve, and the budget treated as a per-unit
    reserve ``budget / k``. Being fixed before the asks are seen, it keeps
    truthful rules truthful while ``k`` labels can never cost more than the budget."""
    return np.minimum(reserve, share(budget, k))


def masked(values: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """``values`` where ``keep`` else NaN (a new array)."""
    return np.where(keep, values, np.nan)


def select_cheapest(
    asks: np.ndarray, k: int, cap: np.ndarray, u: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` lowest asks per row among those ``<= cap[t]``, ties by ``u``.

    Returns ``(won, sorted_key)`` where ``sorted_key`` is the row-sorted array
    of eligible asks (NaN for absent or ineligible), for reading order statistics.
    """
    sorted_key = np.sort(asks, axis=1)
    won = select_lowest(asks, sorted_key, k, u, cap=cap)
    # order statistics above the cap are not eligible asks
    sorted_key[sorted_key > cap[:, None]] = np.nan
    return won, sorted_key


def uniform_price_payments(won: np.ndarray, price: np.ndarray, rule: str) -> np.ndarray:
    """Pay every winner of task t the price ``price[t]``; a winner facing an
    infinite price means the rule had nothing to set the price with."""
    bad = np.isinf(price) & won.any(axis=1)
    if bad.any():
        raise ValueError(
            f"{rule}: {int(bad.sum())} task(s) have fewer than k+1 eligible asks and no finite "
            "reserve or budget to set the price; pass reserve= or budget="
        )
    return np.where(won, price[:, None], 0.0)
