"""The response market's world: the provider pool's prompts and replies, the
cost prior bidders solve their asks for, the held-out yardstick, and the
small array helpers of a round (who gets how many personas; every pair of a
prompt's winners).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from agents.population import cost_distribution

from .config import MarketConfig

__all__ = [
    "CLAIM_RANGE",
    "POOL_COLUMNS",
    "apportion",
    "heldout_response_pairs",
    "pairs_of",
    "response_cost_prior",
]

CLAIM_RANGE = (-1.5, 1.0)
"""The range of the gold reward (:mod:`rlhf.reward`), so of quality claims."""
POOL_COLUMNS = ("persona", "prompt", "response", "reward", "n_tokens", "truncated")
"""The columns a provider pool must have (``split`` is optional)."""


def response_cost_prior(cfg: MarketConfig, pool: pd.DataFrame | None = None):
    """The common prior over response costs that bidders' equilibrium asks are
    solved for: a lognormal fitted (by log-moments) to token_cost x length +
    fixed_cost over a fixed quantile grid of token costs and the length of every
    training reply of the config's personas in ``pool`` (default: the shipped
    pool). It depends on the config and the pool only, not on the seed, so one
    solved equilibrium serves every replication."""
    if pool is None:
        from rlhf.providers import shipped_provider_pool

        pool = shipped_provider_pool()
    wanted = [p for p, share in cfg.personas.items() if share > 0]
    keep = pool.persona.isin(wanted)
    if "split" in pool.columns:
        keep &= pool.split == "train"
    u = (np.arange(64) + 0.5) / 64
    per_token = np.asarray(cost_distribution(cfg.token_cost).ppf(u), dtype=float)
    lengths = pool.n_tokens[keep].to_numpy(float)
    costs = np.maximum(np.outer(per_token, lengths).ravel() + cfg.fixed_cost, 1e-6)
    logs = np.log(costs)
    median, sigma = float(np.exp(logs.mean())), float(max(logs.std(), 1e-3))
    return stats.lognorm(s=float(f"{sigma:.4g}"), scale=float(f"{median:.4g}"))


def heldout_response_pairs(pairs_per_prompt: int = 4) -> pd.DataFrame:
    """The response market's held-out yardstick: gold pairs (label 1 = B has the
    higher gold reward) of the shipped provider pool's replies to the held-out
    prompts, which the market never sells; ``pairs_per_prompt`` per prompt (seed 0)."""
    from rlhf.providers import shipped_provider_pool
    from rlhf.taskworld import make_pairs

    pool = shipped_provider_pool()
    return make_pairs(pool[pool.split == "heldout"], pairs_per_prompt=pairs_per_prompt, seed=0)


def apportion(shares: np.ndarray, n: int) -> np.ndarray:
    """Integer counts summing to n, proportional to ``shares`` (largest remainder)."""
    raw = shares * n
    counts = np.floor(raw).astype(np.int64)
    rest = n - counts.sum()
    if rest > 0:
        counts[np.argsort(-(raw - counts), kind="stable")[:rest]] += 1
    return counts


def pairs_of(ranked: np.ndarray, n_won: np.ndarray) -> np.ndarray:
    """Every pair (i < j in rank order) of each prompt's winners: rows of (task
    row, slot of A, slot of B), A ranked above B."""
    K = int(n_won.max()) if n_won.size else 0
    if K < 2:
        return np.zeros((0, 3), dtype=np.int64)
    ii, jj = np.triu_indices(K, k=1)
    T = ranked.shape[0]
    ok = jj[None, :] < n_won[:, None]  # (T, K(K-1)/2)
    t = np.broadcast_to(np.arange(T)[:, None], ok.shape)[ok]
    a = ranked[:, :K][:, ii][ok]
    b = ranked[:, :K][:, jj][ok]
    return np.stack([t, a, b], axis=1).astype(np.int64)
