"""The paper's claims in the paper's own market: LLM agents selling responses.

The label market (:mod:`simulator.analysis.claims`) asks the claims of a
world the paper did not run; this module supplies what the response market
needs to ask them where the paper did (Zhang & Duan 2024, arXiv:2409.18417):

- :func:`buy_everything_responses`: the paper's baseline, every offered
  response bought at a posted price (the 90th percentile of the response cost
  prior, at most the reserve; the price is also the reserve, so the buyer
  posts as many prompts as it can pay every reply of at that price, and the
  label market's reserve is that price too) and every pair of a prompt's responses labelled
  by annotators (one label per pair, bought with ``vickrey`` from 40% of the
  budget: a pair needs an order, and buying everything leaves C(8, 2) = 28 of
  them per prompt);
- :func:`response_diversity`: claim 3a's measure: the mean pairwise MiniLM
  cosine distance (and distinct-2) of the responses each arm *bought* on the
  prompts both arms bought, which does not fall with the number of responses
  as distinct-n does;
- the held-out yardstick of this market is
  :func:`simulator.market.responses.heldout_response_pairs`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..market.config import MarketConfig

__all__ = ["buy_everything_responses", "response_diversity"]

BASELINE_QUANTILE = 0.9
LABEL_SHARE = 0.4


def buy_everything_responses(cfg: MarketConfig) -> MarketConfig:
    """The paper's baseline in a response market (see the module docstring)."""
    from ..market.provider_pool import response_cost_prior

    price = float(min(cfg.reserve, response_cost_prior(cfg).ppf(BASELINE_QUANTILE)))
    return cfg.replace(
        mechanism="fixed-price",
        mechanism_params={"price": price},
        reserve=price,
        k=cfg.bidders_per_task,
        pair_label="annotators",
        label_mechanism="vickrey",
        label_k=1,
        label_budget_share=LABEL_SHARE,
    )


def response_diversity(runs: pd.DataFrame, responses: pd.DataFrame, arm_of: dict) -> pd.DataFrame:
    """Per (seed, arm): the diversity of the responses each arm bought, on the
    prompts both arms of the seed bought (and on all it bought)."""
    from rlhf.diversity import distinct_n, embedding_diversity, text_embeddings
    from rlhf.providers import shipped_provider_pool

    pool = shipped_provider_pool()
    text = pool.set_index(["persona", "prompt"]).response
    rows = []
    for seed in sorted(runs.seed.unique()):
        keys = runs.run_key[runs.seed == seed]
        bought = {arm_of[k]: responses[responses.run_key == k] for k in keys}
        common = set.intersection(*(set(b.task) for b in bought.values()))
        for arm, b in bought.items():
            texts_all = text.loc[list(zip(b.persona, b.prompt, strict=True))].tolist()
            on_common = b.task.isin(common).to_numpy()
            texts_common = [t for t, keep in zip(texts_all, on_common, strict=True) if keep]
            rows.append(
                {
                    "seed": int(seed),
                    "arm": arm,
                    "n_bought": len(b),
                    "n_common_prompts": len(common),
                    "embedding_diversity_common": embedding_diversity(text_embeddings(texts_common))
                    if len(texts_common) > 1
                    else np.nan,
                    "embedding_diversity_all": embedding_diversity(text_embeddings(texts_all))
                    if len(texts_all) > 1
                    else np.nan,
                    "distinct_2_common": distinct_n(texts_common, 2),
                }
            )
    return pd.DataFrame(rows)
