"""The response market (the paper's): LLM agents sell responses with quality bids.

Zhang & Duan (2024), "VickreyFeedback", arXiv:2409.18417: per prompt, several
LLM agents each offer a response with an ask and a self-evaluated quality bid;
the auction keeps two responses, which become the (chosen, rejected) pair.
Each ``step()`` is one round:

1. the buyer posts up to ``tasks_per_round`` prompts (the shipped provider
   pool's training prompts, in an order keyed by the seed; the market stops
   when they run out, the budget cannot pay a pair at the reserve, or
   ``rounds`` are done);
2. ``bidders_per_task`` providers bid on each prompt: their response (one per
   persona and prompt, from :func:`rlhf.providers.shipped_provider_pool`), an
   ask (the symmetric Bayes-Nash ask of the rule as implemented, from
   :class:`agents.strategies.Equilibrium` on a cost prior fitted to the
   market's response costs) and a quality bid (``provider_claims``);
3. any registered mechanism picks k responses per prompt in one
   ``run_batch`` call: ``vickrey-feedback`` by quality bids, cost-based rules by
   asks, ``quality-vickrey`` by the buyer's running estimate of each provider's
   gold reward per dollar. Payments, budget and reserve as in the label market;
4. optionally (``verify_claims``) the buyer checks the winners' claims on gold
   and does not pay a claim above gold + tolerance;
5. the bought responses become pairs: ordered by the bids (``pair_label:
   bids``; the higher bid is chosen) or labelled by annotators bought in the
   label market (``pair_label: annotators``: a :class:`MarketModel` with its own
   mechanism and ``label_budget_share`` of the budget, fed this round's pairs).

Random numbers: a provider's self-evaluation noise is keyed by (seed, prompt,
provider), the bidders of a prompt by (seed, prompt, provider), the prompts'
order by the seed, so every mechanism compared with the same seed sees the same
providers, responses and self-evaluations (common random numbers).
"""

from __future__ import annotations

import hashlib
import math

import mesa
import numpy as np
import pandas as pd
from scipy import special, stats

from agents.population import cost_distribution
from agents.provider import ProviderBook, ResponseProvider, draw_token_costs
from agents.randomness import keyed_bits, keyed_uniform, stream_generator
from agents.strategies import MarketInfo
from agents.strategies import get as get_strategy

from .config import ConfigError, MarketConfig
from .model import MarketModel, _resolve_config, build_mechanism, split_budget
from .provider_pool import (
    CLAIM_RANGE,
    POOL_COLUMNS,
    apportion,
    pairs_of,
    response_cost_prior,
)
from .response_tables import (
    RESPONSE_METRICS,
    ResponseRecords,
    label_config,
    pair_batch,
    round_metrics,
)

__all__ = ["ResponseMarket"]


class ResponseMarket(mesa.Model):
    """A budgeted buyer, ``n_providers`` LLM agents and a mechanism, per prompt.

    Args:
        config: the run's parameters; ``market`` must be ``"responses"``.
        pool: the provider pool (columns persona, prompt, response, reward,
            n_tokens, truncated; ``split`` optional); default the shipped one.
        seed, rng, fields: as for :class:`MarketModel` (Mesa-style arguments).
    """

    def __init__(
        self,
        config: MarketConfig | None = None,
        pool: pd.DataFrame | None = None,
        *,
        seed: int | None = None,
        rng=None,
        **fields,
    ):
        if config is None and "market" not in fields:
            fields = {**fields, "market": "responses"}
        cfg = _resolve_config(config, seed, rng, fields)
        if cfg.market != "responses":
            raise ConfigError(
                f"market: ResponseMarket runs market 'responses', got {cfg.market!r} "
                "(MarketModel runs the label market)"
            )
        super().__init__(rng=stream_generator(cfg.seed, "mesa"))
        self.config = cfg
        self.round = 0
        self._mech_rng = stream_generator(cfg.seed, "tie-breaks")
        self._load_pool(pool)
        self._build_providers()
        self.mechanism = build_mechanism(cfg, self.cost_prior)
        self._response_budget = cfg.budget * (
            1.0 - cfg.label_budget_share if cfg.pair_label == "annotators" else 1.0
        )
        self.budget_left = self._response_budget
        self.spent = 0.0
        task_budget = self._response_budget / cfg.tasks_per_round
        claims = self.mechanism.properties.uses_claims
        lo, hi = CLAIM_RANGE
        self.info = MarketInfo(
            mechanism=self.mechanism,
            k=cfg.k,
            n_rivals=cfg.bidders_per_task - 1,
            reserve=cfg.reserve,
            budget=task_budget if task_budget < cfg.k * cfg.reserve else math.inf,
            cost_dist=self.cost_prior,
            quality_dist=stats.uniform(loc=lo, scale=hi - lo) if claims else stats.uniform(),
        )
        self._strategy = get_strategy("equilibrium")
        # the buyer's running mean gold reward of each provider's bought responses
        self._seen = np.zeros(self.book.n)
        self._seen_sum = np.zeros(self.book.n)
        self.labels_model: MarketModel | None = None
        if cfg.pair_label == "annotators":
            self.labels_model = MarketModel(label_config(cfg), tasks=_NoTasks())
        self.records = ResponseRecords()
        self._next_pair_id = 0
        self.last_metrics: dict[str, float] = dict.fromkeys(RESPONSE_METRICS, math.nan)
        self.datacollector = mesa.DataCollector(
            model_reporters={key: _reporter(key) for key in RESPONSE_METRICS}
        )
        self._cursor = 0
        self._check_running()

    # ------------------------------------------------------------ the world
    def _load_pool(self, pool: pd.DataFrame | None) -> None:
        cfg = self.config
        if pool is None:
            from rlhf.providers import shipped_provider_pool

            pool = shipped_provider_pool()
        missing = [c for c in POOL_COLUMNS if c not in pool.columns]
        if missing:
            raise ValueError(f"pool: missing column(s) {', '.join(missing)}")
        wanted = [p for p, share in cfg.personas.items() if share > 0]
        absent = sorted(set(wanted) - set(pool.persona))
        if absent:
            raise ConfigError(
                f"personas: the provider pool has no replies of {', '.join(map(repr, absent))} "
                f"(it has: {', '.join(sorted(set(pool.persona)))})"
            )
        self._full_pool = pool
        world = _world(pool, tuple(wanted))
        order = np.argsort(keyed_bits(cfg.seed, "prompt-order", np.arange(world.prompts.size)))
        order = order[: cfg.n_tasks] if cfg.n_tasks is not None else order
        if order.size == 0:
            raise ValueError("pool: no training prompt has a reply from every persona asked for")
        self.personas = wanted
        self.prompts = world.prompts[order]
        self._rows = world.rows[:, order]  # [j, p]: the pool row of persona j's reply to prompt p
        self._persona_mean = world.persona_mean
        self.pool = world.pool
        self.texts, self.truncated = world.texts, world.truncated
        self._reward, self._tokens = world.reward, world.tokens
        self.ngrams = world.ngrams
        self._world = world

    def _build_providers(self) -> None:
        cfg = self.config
        shares = np.array([cfg.personas[p] for p in self.personas])
        counts = apportion(shares / shares.sum(), cfg.n_providers)
        persona_idx = np.repeat(np.arange(len(self.personas)), counts)
        quality = self._persona_mean[persona_idx]  # its persona's mean gold reward
        token_cost = draw_token_costs(
            quality,
            cost_distribution(cfg.token_cost),
            cfg.correlation,
            stream_generator(cfg.seed, "population"),
        )
        n = cfg.n_providers
        self._persona_idx = persona_idx
        self.book = ProviderBook(
            uid=np.arange(1, n + 1, dtype=np.int64),
            persona=np.array(self.personas, dtype=object)[persona_idx],
            token_cost=token_cost,
            fixed_cost=np.full(n, cfg.fixed_cost),
        )
        for i in range(n):  # a handful of agents, views of the book's rows
            ResponseProvider(self, self.book, i)
        # the prior depends on the pool, the personas and the cost settings only
        key = repr((cfg.token_cost, cfg.fixed_cost))
        if key not in self._world.priors:
            self._world.priors[key] = response_cost_prior(cfg, self._full_pool)
        self.cost_prior = self._world.priors[key]

    def embeddings(self, rows: np.ndarray) -> np.ndarray:
        """MiniLM embeddings of pool rows ``rows`` (for diversity), computed once
        for every training reply of the market's personas and kept on disk
        (:func:`rlhf.diversity.text_embeddings`)."""
        world = self._world
        if world.emb is None:
            from rlhf.diversity import text_embeddings

            # every training reply of the market's personas, in pool order: the
            # same list (and cache file) for every seed and number of prompts
            world.emb = text_embeddings(self.texts.tolist())
        return world.emb[rows]

    def pool_rows(self, persona: pd.Series, task: pd.Series) -> np.ndarray:
        """The pool rows of responses given by persona name and task (prompt index)."""
        j = persona.map({p: i for i, p in enumerate(self.personas)}).to_numpy(np.int64)
        return self._rows[j, task.to_numpy(np.int64)]

    @property
    def providers(self) -> list[ResponseProvider]:
        """The providers, in order (Mesa's AgentSet as a list)."""
        return list(self.agents)

    # ----------------------------------------------------------------- round
    def affordable_prompts(self) -> int:
        """Prompts the buyer posts this round: ``tasks_per_round``, but with a
        finite reserve never more than it can pay k responses at the reserve for."""
        cfg = self.config
        if self.budget_left <= 0:
            return 0
        n = min(cfg.tasks_per_round, self.prompts.size - self._cursor)
        if math.isinf(cfg.reserve) or cfg.reserve == 0:
            return n
        # a hair over k reserves per prompt, so that an ask at the reserve stays
        # eligible after the per-prompt budget share is shaved (split_budget)
        return int(min(n, self.budget_left // (cfg.k * cfg.reserve * (1.0 + 1e-9))))

    def _check_running(self) -> None:
        cfg = self.config
        done = cfg.rounds is not None and self.round >= cfg.rounds
        if done or self.affordable_prompts() < 1:
            self.running = False

    def step(self) -> None:
        """One round; one row of the DataCollector."""
        if not self.running:
            return
        n_post = self.affordable_prompts()
        p_idx = np.arange(self._cursor, self._cursor + n_post)
        self._cursor += n_post
        self.round += 1
        self._round(p_idx)
        self.datacollector.collect(self)
        self._check_running()

    def _bidders(self, p_idx: np.ndarray) -> np.ndarray:
        """(T, S) provider rows bidding on each prompt: all providers in an
        order keyed by (seed, prompt, provider), the first S of them."""
        cfg, uid = self.config, self.book.uid
        bits = keyed_bits(cfg.seed, "bidders", p_idx[:, None], uid[None, :])
        return np.argsort(bits, axis=1)[:, : cfg.bidders_per_task]

    def _claims(self, reward, costs, p_idx, who) -> np.ndarray:
        """Quality bids: the self-evaluation (gold + noise keyed by (seed,
        prompt, provider)), or where the rule collects claims and providers are
        strategic, the solved equilibrium claim; when the buyer verifies claims,
        capped at self-evaluation + tolerance - 2 noise sd (a rule of thumb, not
        a solved equilibrium of the verified game: the highest claim a provider
        expects to pass the check)."""
        cfg = self.config
        u = keyed_uniform(cfg.seed, "self-eval", p_idx[:, None], self.book.uid[who])
        self_eval = reward + cfg.self_eval_noise * special.ndtri(np.clip(u, 1e-12, 1 - 1e-12))
        if cfg.provider_claims == "honest" or not self.mechanism.properties.uses_claims:
            return self_eval
        eq = self._strategy.claim_many(self_eval.ravel(), costs.ravel(), self.info, None)
        claims = np.asarray(eq, dtype=float).reshape(self_eval.shape)
        if cfg.verify_claims is not None:
            # the largest claim it expects to pass the check: a claim above
            # gold + tolerance is not paid, and its own self-evaluation is off
            # by up to 2 sd of its noise about 97.7% of the time
            margin = max(cfg.verify_claims - 2.0 * cfg.self_eval_noise, 0.0)
            claims = np.minimum(claims, self_eval + margin)
        return claims

    def _quality(self, who: np.ndarray, claims: np.ndarray) -> np.ndarray | None:
        props = self.mechanism.properties
        if not props.quality_aware:
            return None
        if props.uses_claims:
            return claims
        # the buyer's estimate: running mean gold reward (prior: the pool's mean,
        # weight 1), on (0, 1] as quality per dollar needs a positive score
        prior = float(self._reward.mean())
        est = (self._seen_sum + prior) / (self._seen + 1.0)
        lo, hi = CLAIM_RANGE
        return np.maximum((est[who] - lo) / (hi - lo), 1e-3)

    def _round(self, p_idx: np.ndarray) -> None:
        cfg, book = self.config, self.book
        T = p_idx.size
        who = self._bidders(p_idx)  # (T, S) provider rows
        rows = self._rows[self._persona_idx[who], p_idx[:, None]]  # (T, S) pool rows
        reward, tokens = self._reward[rows], self._tokens[rows]
        costs = book.token_cost[who] * tokens + book.fixed_cost[who]
        asks = np.asarray(
            self._strategy.ask_many(costs.ravel(), self.info, None), dtype=float
        ).reshape(costs.shape)
        claims = self._claims(reward, costs, p_idx, who)
        out = self.mechanism.run_batch(
            asks,
            cfg.k,
            quality=self._quality(who, claims),
            reserve=cfg.reserve,
            budget=split_budget(self.budget_left, T),
            rng=self._mech_rng,
        )
        won, pay = out.won, out.payments.copy()
        caught = np.zeros_like(won)
        if cfg.verify_claims is not None:
            caught = won & (claims > reward + cfg.verify_claims)
            pay[caught] = 0.0  # a claim found false on gold is not paid
        spent = float(pay.sum())
        if spent > self.budget_left:  # guaranteed by split_budget; kept as a hard check
            raise RuntimeError(f"round {self.round}: spent {spent} > budget {self.budget_left}")
        self.budget_left -= spent
        self.spent += spent
        t_w, s_w = np.nonzero(won)
        book.record(who[t_w, s_w], pay[t_w, s_w], costs[t_w, s_w], caught[t_w, s_w])
        np.add.at(self._seen, who[t_w, s_w], 1.0)
        np.add.at(self._seen_sum, who[t_w, s_w], reward[t_w, s_w])

        # the winners of each prompt, best first: the rule's ranking where it
        # ranks them, else the higher quality bid first (the paper's order)
        order_key = np.where(won, -claims, np.inf)
        if out.rank is not None:
            order_key = np.where(won, out.rank.astype(float), np.inf)
        ranked = np.argsort(order_key, axis=1, kind="stable")
        n_won = won.sum(axis=1)
        pairs = pairs_of(ranked, n_won)  # (P, 3): task row, slot of A, slot of B
        label, n_labels, confidence, label_spend = self._order_pairs(pairs, p_idx, rows, reward)
        self.records.add_round(
            self, p_idx=p_idx, who=who, rows=rows, asks=asks, costs=costs, claims=claims,
            won=won, pay=pay, caught=caught, ranked=ranked, pairs=pairs, label=label,
            n_labels=n_labels, confidence=confidence,
        )  # fmt: skip
        self.last_metrics = round_metrics(self, label_spend)

    def _order_pairs(self, pairs, p_idx, rows, reward):
        """(label, n_labels, confidence, label dollars) of this round's pairs:
        0 (A, the higher-ranked response, is chosen) by the bids, or the label
        market's aggregated label for the pair."""
        P = pairs.shape[0]
        if self.labels_model is None or P == 0:
            return np.zeros(P, np.int8), np.zeros(P, np.int64), np.full(P, np.nan), 0.0
        t, a, b = pairs.T
        ids = self._next_pair_id + np.arange(P, dtype=np.int64)
        self._next_pair_id += P
        batch = pair_batch(self, ids, p_idx[t], rows[t, a], rows[t, b], reward[t, a], reward[t, b])
        lm = self.labels_model
        before, round_before = lm.spent, lm.round
        lm.post(batch)
        if lm.round == round_before:  # the label budget is spent: the pairs stay unordered
            return np.zeros(P, np.int8), np.zeros(P, np.int64), np.full(P, np.nan), 0.0
        last = lm.round_dataset(-1)
        return (
            last["label"].astype(np.int8),
            last["n_labels"].astype(np.int64),
            last["confidence"].astype(float),
            lm.spent - before,
        )

    # --------------------------------------------------------------- tables
    def responses_table(self) -> pd.DataFrame:
        """One row per bought response."""
        return self.records.responses()

    def dataset_table(self) -> pd.DataFrame:
        """One row per bought pair: both responses, rewards, bids, asks,
        payments, providers and personas, the pair's order and its truth."""
        return self.records.dataset()

    def labels_table(self) -> pd.DataFrame:
        """One row per label bought for the pairs (empty when bids order them)."""
        if self.labels_model is None:
            from .model import LABEL_DTYPES, _concat

            return _concat([], LABEL_DTYPES)
        return self.labels_model.labels_table()

    def metrics_table(self) -> pd.DataFrame:
        """One row per round (Mesa's DataCollector)."""
        df = self.datacollector.get_model_vars_dataframe().reset_index(drop=True)
        ints = ("round", "prompts", "responses_bought", "pairs", "labels_bought", "claims_caught")
        return df.astype({c: "int64" for c in ints}) if len(df) else df


class _World:
    """A pool's training replies of some personas, as arrays (built once per
    pool and persona list, see :func:`_world`)."""

    def __init__(self, pool: pd.DataFrame, wanted: tuple[str, ...]) -> None:
        from rlhf.diversity import NgramIndex

        if "split" in pool.columns:
            pool = pool[pool.split == "train"]
        pool = pool[pool.persona.isin(wanted)].reset_index(drop=True)
        prompt_code, prompts = pd.factorize(pool.prompt)
        persona_code = pd.Categorical(pool.persona, categories=list(wanted)).codes
        rows = np.full((len(wanted), prompts.size), -1, dtype=np.int64)
        rows[persona_code, prompt_code] = np.arange(len(pool))
        complete = (rows >= 0).all(axis=0)  # prompts every persona answered
        self.pool = pool
        self.prompts = np.asarray(prompts, dtype=object)[complete]
        self.rows = rows[:, complete]
        self.texts = pool.response.to_numpy(object)
        self.truncated = pool.truncated.to_numpy(bool)
        self.reward = pool.reward.to_numpy(float)
        self.tokens = pool.n_tokens.to_numpy(np.int64)
        self.persona_mean = np.array([self.reward[self.rows[j]].mean() for j in range(len(wanted))])
        self.ngrams = NgramIndex(self.texts.tolist())
        self.emb: np.ndarray | None = None  # MiniLM embeddings, when first asked for
        self.priors: dict[str, object] = {}  # response cost priors by cost settings


_WORLDS: dict[tuple, _World] = {}


def _world(pool: pd.DataFrame, wanted: tuple[str, ...]) -> _World:
    """The pool's :class:`_World` for ``wanted``, kept for the last few pools
    (keyed by the pool's content: the shipped pool is a fresh copy per call)."""
    cols = [c for c in (*POOL_COLUMNS, "split") if c in pool.columns]
    digest = pd.util.hash_pandas_object(pool[cols], index=False).to_numpy().tobytes()
    key = (wanted, hashlib.blake2b(digest, digest_size=16).hexdigest())
    world = _WORLDS.get(key)
    if world is None:
        world = _WORLDS[key] = _World(pool, wanted)
        while len(_WORLDS) > 4:
            _WORLDS.pop(next(iter(_WORLDS)))
    return world


class _NoTasks:
    """The composed label market's task source: it posts nothing by itself
    (the response market posts its pairs with :meth:`MarketModel.post`)."""

    def next_batch(self, n: int):
        return None


def _reporter(key: str):
    def report(model: ResponseMarket) -> float:
        return model.last_metrics[key]

    report.__name__ = f"report_{key}"
    return report
