"""The market as a Mesa model: each ``step()`` is one round of buying labels.

(Over 400 lines on purpose: :class:`MarketModel` is one Mesa model whose
round, in ``_round``, reads and updates the model's state at every stage;
split into modules, those stages would pass that state around or reach into
the model's private attributes. :class:`AgentByAgentMarket`, the per-agent
reference path, overrides two of its private methods and stays beside them.)

A round: the buyer posts a batch of tasks; every active annotator chooses an
ask (and a quality claim) and bids on up to ``capacity`` tasks, ``bidders_per_task``
bidders per task; the mechanism allocates and prices the whole batch in one
``run_batch`` call; winners label; the buyer pays from its budget (never below
zero); labels are aggregated; the buyer updates its estimates of annotator
quality (from gold questions or Dawid-Skene); every annotator observes its own
outcome; annotators whose running profit stays negative leave and new ones may
enter. Mesa's DataCollector records one row of metrics per round.

Random numbers (:mod:`agents.randomness`): one seed per run, and a stream
per consumer *by name* (population, tasks, tie-breaks, aggregation, entry,
incentive-gap sampling, Mesa's own), so adding a stream shifts no other. Draws
that must agree across the arms of a paired comparison are keyed instead of
streamed: a label's noise is a function of (seed, task id, annotator id), the
bidders' queue for tasks and a strategy's draws of (seed, round, annotator),
the order of the round's tasks of (seed, round, position). So every mechanism
run with the same seed sees the same annotators and tasks, and the same
annotator labelling the same task is right or wrong in every arm alike
(common random numbers; :meth:`MarketModel._assign_slots` says what exits do).
"""

from __future__ import annotations

import math

import mesa
import numpy as np
import pandas as pd
from mesa.agent import AgentSet

import mechanisms
from agents.annotator import Annotator
from agents.crowd import Crowd
from agents.population import PopulationSampler
from agents.priors import market_cost_prior
from agents.randomness import keyed_bits, keyed_uniform, named_stream, stream_generator
from agents.strategies import MarketInfo

from .aggregation import aggregate, dawid_skene
from .config import MarketConfig
from .metrics import cheapest_feasible_cost, gini, incentive_gap
from .tasks import PairTaskSource, SyntheticTaskSource, TaskBatch, TaskSource

_EPS = np.finfo(float).eps

METRICS = (
    "round", "tasks", "labels_bought", "spend", "budget_left", "raw_accuracy",
    "aggregated_accuracy", "correct_aggregated", "mean_price", "price_sd",
    "cost_per_correct", "profit_total", "profit_mean", "profit_gini", "social_cost",
    "efficiency", "active_annotators", "entered", "exited", "mean_markup", "incentive_gap",
)  # fmt: skip


def split_budget(remaining: float, n_tasks: int) -> float:
    """Each task's share of the remaining budget, shaved by a few ulps so that
    ``n_tasks`` shares never add up to more than ``remaining``."""
    return remaining / n_tasks * (1.0 - 2.0 * (n_tasks + 1) * _EPS)


def build_mechanism(cfg: MarketConfig, cost_dist) -> mechanisms.Mechanism:
    """The config's mechanism, with the parameters it takes from the market
    (``Mechanism.market_params``: e.g. Myerson's cost prior) where the config
    sets none."""
    cls = type(mechanisms.get(cfg.mechanism, **cfg.mechanism_params))
    params = {**cls.market_params(cost_dist=cost_dist, reserve=cfg.reserve), **cfg.mechanism_params}
    return mechanisms.get(cfg.mechanism, **params)


def default_task_source(cfg: MarketConfig, rng: np.random.Generator) -> TaskSource:
    """The config's task source: the RLHF task world's shipped training pairs
    (at most ``n_tasks`` of them) or a synthetic stream."""
    if cfg.task_source == "synthetic":
        return SyntheticTaskSource(
            rng, n_tasks=cfg.n_tasks, difficulty=cfg.difficulty, gold_rate=cfg.gold_rate
        )
    from rlhf.taskworld import shipped_pairs

    pairs = shipped_pairs("train")
    if cfg.n_tasks is not None:
        pairs = pairs.iloc[: cfg.n_tasks]
    return PairTaskSource(pairs, rng, gold_rate=cfg.gold_rate)


def _resolve_config(config: MarketConfig | None, seed, rng, fields: dict) -> MarketConfig:
    """The run's config from Mesa-style arguments: ``config`` (default
    ``MarketConfig()``) with ``fields`` changed, and the seed from ``seed``,
    or from ``rng`` (an int, SeedSequence or Generator, as Mesa 3 accepts),
    or, with neither and no ``config``, fresh OS entropy as Mesa does for
    ``seed=None`` (so ``mesa.batch_run`` iterations are distinct replicates);
    the seed used is kept in ``model.config.seed``."""
    if seed is not None and rng is not None:
        raise ValueError("MarketModel: pass seed or rng, not both")
    if rng is not None:
        if isinstance(rng, np.random.Generator):
            seed = int(rng.integers(2**63))
        elif isinstance(rng, np.random.SeedSequence):
            seed = int(rng.generate_state(2, np.uint64)[0] >> np.uint64(1))
        else:
            seed = rng
    if seed is None and config is None:
        seed = int(np.random.SeedSequence().generate_state(2, np.uint64)[0] >> np.uint64(1))
    if seed is not None:
        fields = {**fields, "seed": seed}
    if config is None:  # the fields on the defaults (a market's own defaults: k, bidders)
        return MarketConfig.from_dict(fields)
    return config.replace(**fields) if fields else config


class MarketModel(mesa.Model):
    """A budgeted buyer, a population of annotators and a mechanism.

    Args:
        config: the run's parameters.
        tasks: a task source; default :func:`default_task_source` (the task
            world's pairs, or a :class:`SyntheticTaskSource`) built from
            the config and the run's task stream.
    """

    def __init__(
        self,
        config: MarketConfig | None = None,
        tasks: TaskSource | None = None,
        *,
        seed: int | None = None,
        rng: int | np.random.Generator | np.random.SeedSequence | None = None,
        **fields,
    ):
        cfg = _resolve_config(config, seed, rng, fields)
        if cfg.market != "labels":
            raise ValueError(
                f"market: MarketModel runs the label market, got {cfg.market!r} "
                "(simulator.market.responses.ResponseMarket runs the response market)"
            )
        super().__init__(rng=stream_generator(cfg.seed, "mesa"))
        self.config = cfg
        self.budget_left = float(cfg.budget)
        self.spent = 0.0
        self.round = 0
        self.tasks = tasks or default_task_source(cfg, stream_generator(cfg.seed, "tasks"))
        self._mech_rng = stream_generator(cfg.seed, "tie-breaks")
        self._agg_rng = stream_generator(cfg.seed, "aggregation")
        self._entry_rng = stream_generator(cfg.seed, "entry")
        self._gap_rng = stream_generator(cfg.seed, "incentive-gap")
        #: every annotator's state as arrays (the agents are views of its rows)
        self.crowd = Crowd(seed=cfg.seed)
        self._agents_built = 0
        self.sampler = PopulationSampler(
            named_stream(cfg.seed, "population"),
            cost=cfg.cost,
            quality=cfg.quality,
            correlation=cfg.correlation,
            mix=cfg.mix,
            strategies=cfg.strategies,
            strategy_params=cfg.strategy_params,
            capacity=cfg.capacity,
            spammer_cost=cfg.spammer_cost,
        )
        self.mechanism = build_mechanism(cfg, self.sampler.cost_dist)
        # the per-task budget share caps a label's price only where the reserve does not
        task_budget = cfg.budget / cfg.tasks_per_round
        self.info = MarketInfo(
            mechanism=self.mechanism,
            k=cfg.k,
            n_rivals=cfg.bidders_per_task - 1,
            reserve=cfg.reserve,
            budget=task_budget if task_budget < cfg.k * cfg.reserve else math.inf,
            # the competition bidders face: the type mix, cheaper spammers included
            cost_dist=market_cost_prior(self.sampler.cost_dist, cfg.mix, cfg.spammer_cost),
            quality_dist=self.sampler.quality_dist,
        )
        # the buyer's prior on an annotator's accuracy: the population's quality distribution
        self._prior_a, self._prior_b = float(cfg.quality["a"]), float(cfg.quality["b"])
        # the buyer's quality estimates, by annotator index: gold counts and the estimate
        self._gold_answered = np.zeros(0)
        self._gold_correct = np.zeros(0)
        self._estimate = np.zeros(0)
        # every label bought so far, for Dawid-Skene estimates pooled over rounds
        self._ds_pool: dict[str, list[np.ndarray]] = {
            key: [] for key in ("task", "worker", "label", "gold_task", "gold_label")
        }
        self._add_annotators(cfg.n_annotators)
        self._labels: list[dict[str, np.ndarray]] = []
        self._dataset: list[dict[str, np.ndarray]] = []
        self._texts: list[pd.DataFrame] = []
        self.last_metrics: dict[str, float] = dict.fromkeys(METRICS, math.nan)
        self.datacollector = mesa.DataCollector(
            model_reporters={key: _reporter(key) for key in METRICS}
        )
        self._next_batch: TaskBatch | None = None
        self._prepare_next()

    # ----------------------------------------------------------- population
    def _add_annotators(self, n: int) -> None:
        self.sampler.add_rows(self, n)  # rows of self.crowd; Mesa agents on first look
        prior = self._prior_a / (self._prior_a + self._prior_b)  # no gold answers yet
        self._gold_answered = np.concatenate([self._gold_answered, np.zeros(n)])
        self._gold_correct = np.concatenate([self._gold_correct, np.zeros(n)])
        self._estimate = np.concatenate([self._estimate, np.full(n, prior)])

    def _build_agents(self) -> None:
        """Build the Mesa agents of annotators that have none yet (in order of
        arrival, each with the id reserved for it)."""
        crowd = self.__dict__.get("crowd")
        if crowd is None or self._agents_built >= crowd.n:
            return
        first, self._agents_built = self._agents_built, crowd.n
        for i in range(first, crowd.n):
            Annotator(self, row=i)

    @property
    def agents(self) -> AgentSet:
        """Mesa's AgentSet: one Annotator per annotator that ever joined. The
        agents are views of the crowd's rows, built on first look, so a market
        of 10^5 annotators runs on arrays and builds them only if asked."""
        self._build_agents()
        return super().agents

    @property
    def agents_by_type(self) -> dict:
        self._build_agents()
        return super().agents_by_type

    @property
    def annotators(self) -> list:
        """Every annotator that ever joined, in order of arrival (a view of
        the model's ``agents`` AgentSet; there is no second list)."""
        return list(self.agents)

    def quality_estimates(self) -> pd.Series:
        """The buyer's current accuracy estimate of every annotator, by unique_id."""
        index = pd.Index(self.crowd.uid.copy(), name="annotator")
        return pd.Series(self._estimate[: self.crowd.n].copy(), index=index, name="estimate")

    def active_annotators(self) -> AgentSet:
        """The annotators still in the market, in order of arrival."""
        return self.agents.select(lambda a: a.active)

    # ----------------------------------------------------------------- round
    def _assign_slots(self, capacity: np.ndarray, uid: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """(T, bidders_per_task) positions into this round's bidders (-1 = empty).

        The bidders queue in an order keyed by (seed, round, annotator) and
        hand out ``min(capacity, T)`` bids each; the bids fill the grid column
        by column, so one annotator's bids land on distinct tasks and every
        task gets ``bidders_per_task`` bidders while bids last; the rows are
        then put in an order keyed by (seed, round, task position), so which
        tasks get fewer bidders is random. Every arm of a comparison queues
        its bidders alike: with the same annotators still in the market, the
        same annotator bids on the same tasks. (Exits move later bidders up
        the queue: keeping every task at ``bidders_per_task`` bidders, the
        competition the equilibrium is solved for, ties a bidder's tasks to
        the bids queued ahead of it. Letting each annotator pick its tasks
        alone, then capping each task, leaves tasks short when bids are
        scarce: measured, revenue equivalence at n = 5 then fails by 0.05.)
        """
        S, T, seed = self.config.bidders_per_task, ids.size, self.config.seed
        queue = np.argsort(keyed_bits(seed, "queue", self.round, uid))
        tokens = np.repeat(queue, np.minimum(capacity[queue], T))[: T * S]
        flat = np.full(T * S, -1, dtype=np.int64)
        flat[: tokens.size] = tokens
        grid = flat.reshape(S, T).T  # bid j -> task j % T, slot j // T
        return grid[np.argsort(keyed_bits(seed, "task-order", self.round, np.arange(T)))]

    def _quality_input(self, idx: np.ndarray) -> np.ndarray | None:
        if not self.mechanism.properties.quality_aware:
            return None
        if self.mechanism.properties.uses_claims:
            return self.crowd.claim[idx]  # the bidders' own claims
        if self.config.quality_estimate == "oracle":
            accuracy = self.crowd.quality[idx]
        else:
            accuracy = self._estimate[idx]
        if self.config.quality_score == "informativeness":
            return np.maximum(2.0 * accuracy - 1.0, 1e-3)  # a coin flip is worth nothing
        return np.maximum(accuracy, 1e-3)  # the (estimated) accuracy, kept positive

    def affordable_tasks(self) -> int:
        """How many tasks the buyer posts this round: ``tasks_per_round``, but
        with a finite reserve never more than it can pay k labels at the reserve
        for (so no posted task is under-funded; the market stops when not even
        one task is affordable)."""
        cfg = self.config
        if self.budget_left <= 0:
            return 0
        if math.isinf(cfg.reserve) or cfg.reserve == 0:
            return cfg.tasks_per_round
        return int(min(cfg.tasks_per_round, self.budget_left // (cfg.k * cfg.reserve)))

    def _prepare_next(self) -> None:
        """Draw the next round's tasks now, so that ``running`` turns False on
        the step that ends the market (Mesa's convention: ``batch_run`` and
        SolaraViz step while ``running``): the round limit, a budget that
        cannot pay one task at the reserve, an exhausted task source or an
        empty market end it. The task stream is drawn in the same order as
        if each round drew its own tasks."""
        cfg = self.config
        self._next_batch = None
        n_post = self.affordable_tasks()
        if (cfg.rounds is not None and self.round >= cfg.rounds) or n_post < 1:
            self.running = False
            return
        if not self.crowd.active.any():
            self.running = False
            return
        batch = self.tasks.next_batch(n_post)
        if batch is None or len(batch) == 0:
            self.running = False
            return
        self._next_batch = batch

    def step(self) -> None:
        """One round of the market; one row of the DataCollector."""
        if not self.running or self._next_batch is None:
            self.running = False
            return
        batch, self._next_batch = self._next_batch, None
        self.round += 1
        self.crowd.round = self.round
        self._round(batch, self.crowd.active_indices())
        self.datacollector.collect(self)
        if self.config.rounds is None and self.last_metrics["labels_bought"] == 0:
            self.running = False  # open-ended run and nothing sells any more: stop
            return
        self._prepare_next()

    def post(self, batch: TaskBatch) -> None:
        """One round on tasks posted from outside: the response market posts the
        pairs it bought when annotators order them (``pair_label: annotators``).
        The round runs as any other, from the budget left; one DataCollector row."""
        if len(batch) == 0 or self.budget_left <= 0 or not self.crowd.active.any():
            return
        self.round += 1
        self.crowd.round = self.round
        self._round(batch, self.crowd.active_indices())
        self.datacollector.collect(self)

    def round_dataset(self, i: int = -1) -> dict[str, np.ndarray]:
        """Round ``i``'s rows of the dataset table, as arrays (the last by default)."""
        return self._dataset[i]

    def _bid(self, idx: np.ndarray) -> None:
        """Annotators ``idx`` choose their asks and claims (all at once)."""
        self.crowd.bid(idx, self.info)

    def _observe(self, idx, bids, wins, revenue) -> None:
        """Annotators ``idx`` learn their own outcomes (all at once)."""
        self.crowd.observe(idx, self.info, bids, wins, revenue, bid_cost=self.config.bid_cost)

    def _round(self, batch: TaskBatch, idx_a: np.ndarray) -> None:
        cfg, crowd = self.config, self.crowd
        T, m = len(batch), idx_a.size
        self._bid(idx_a)
        ask_a, cost_a = crowd.ask[idx_a], crowd.cost[idx_a]
        qual_a, claim_a, uid_a = crowd.quality[idx_a], crowd.claim[idx_a], crowd.uid[idx_a]
        collects_claims = self.mechanism.properties.uses_claims
        # what the buyer credits each labeler with (QA-DPO's bids): its claim where
        # the mechanism collects claims, else the buyer's accuracy estimate
        credit_a = claim_a if collects_claims else self._estimate[idx_a].copy()
        slots = self._assign_slots(crowd.capacity[idx_a], uid_a, batch.ids)
        present = slots >= 0
        safe = np.where(present, slots, 0)
        asks = np.where(present, ask_a[safe], np.nan)
        q_a = self._quality_input(idx_a)
        quality = None if q_a is None else np.where(present, q_a[safe], np.nan)
        budget_t = split_budget(self.budget_left, T)
        out = self.mechanism.run_batch(
            asks, cfg.k, quality=quality, reserve=cfg.reserve, budget=budget_t, rng=self._mech_rng
        )
        won, pay = out.won, out.payments
        t_w, s_w = np.nonzero(won)
        who = slots[t_w, s_w]  # positions into `active`
        paid = pay[t_w, s_w]
        spent = float(paid.sum())
        if spent > self.budget_left:  # guaranteed by split_budget; kept as a hard check
            raise RuntimeError(f"round {self.round}: spent {spent} > budget {self.budget_left}")
        self.budget_left -= spent
        self.spent += spent

        # labels: correct with probability 0.5 + (q - 0.5)(1 - 2 d)
        truth = batch.truth[t_w]
        p_correct = 0.5 + (qual_a[who] - 0.5) * (1.0 - 2.0 * batch.difficulty[t_w])
        # the noise of a label is keyed by (seed, task, annotator): the same in every arm
        noise = keyed_uniform(cfg.seed, "labels", batch.ids[t_w], uid_a[who])
        correct = noise < p_correct
        labels = np.where(correct, truth, 1 - truth).astype(np.int8)
        agg = aggregate(t_w, idx_a[who], labels, cfg.aggregation, rng=self._agg_rng, n_tasks=T)

        # the buyer's quality estimates
        gold = batch.gold[t_w]
        if gold.any():
            np.add.at(self._gold_answered, idx_a[who[gold]], 1.0)
            np.add.at(self._gold_correct, idx_a[who[gold]], correct[gold].astype(float))
        if cfg.quality_estimate == "gold":
            self._estimate = (self._gold_correct + self._prior_a) / (
                self._gold_answered + self._prior_a + self._prior_b
            )
        elif cfg.quality_estimate == "dawid-skene":
            self._pool_for_dawid_skene(batch.ids[t_w], idx_a[who], labels, gold, truth)

        # annotators learn their own outcomes
        bids = np.bincount(slots[present], minlength=m)
        wins = np.bincount(who, minlength=m)
        revenue = np.bincount(who, weights=paid, minlength=m)
        self._observe(idx_a, bids, wins, revenue)
        exited = 0
        if cfg.exit_after > 0:
            leaving = idx_a[crowd.negative_rounds[idx_a] >= cfg.exit_after]
            crowd.set_active(leaving, False)
            exited = int(leaving.size)
        entered = int(self._entry_rng.poisson(cfg.entry_rate)) if cfg.entry_rate > 0 else 0
        if entered:
            self._add_annotators(entered)

        # records
        self._labels.append(
            {
                "round": np.full(who.size, self.round, dtype=np.int32),
                "task": batch.ids[t_w],
                "annotator": uid_a[who],
                "ask": asks[t_w, s_w],
                "quality_claim": claim_a[who] if collects_claims else np.full(who.size, np.nan),
                "payment": paid,
                "label": labels,
                "true_label": truth,
                "gold": gold,
            }
        )
        n_labels = np.bincount(t_w, minlength=T)
        labeled = n_labels > 0
        agg_correct = labeled & (agg.label == batch.truth)
        self._dataset.append(
            {
                "task": batch.ids,
                "round": np.full(T, self.round, dtype=np.int32),
                "n_labels": n_labels,
                "label": agg.label,
                "confidence": agg.confidence,
                "true_label": batch.truth,
                "total_paid": pay.sum(axis=1),
                # the labelers' quality claims behind each side (QA-DPO's bids)
                "bid_a": np.bincount(t_w, weights=credit_a[who] * (labels == 0), minlength=T),
                "bid_b": np.bincount(t_w, weights=credit_a[who] * (labels == 1), minlength=T),
                "gold": batch.gold,
            }
        )
        if batch.text is not None:
            self._texts.append(batch.text.reset_index(drop=True))

        # metrics
        profit_round = revenue - wins * cost_a - bids * cfg.bid_cost
        social_cost = float(cost_a[who].sum())
        cheapest = cheapest_feasible_cost(np.where(present, cost_a[safe], np.nan), won.sum(axis=1))
        n_correct = int(agg_correct.sum())
        gap = math.nan
        if cfg.incentive_sample > 0 and who.size:
            gap = incentive_gap(
                lambda rows_asks, rows: self._rerun(rows_asks, rows, quality, budget_t),
                asks,
                np.where(present, cost_a[safe], np.nan),
                sample=cfg.incentive_sample,
                rng=self._gap_rng,
            )
        still_active = crowd.active_indices()
        self.last_metrics = {
            "round": self.round,
            "tasks": T,
            "labels_bought": int(who.size),
            "spend": spent,
            "budget_left": self.budget_left,
            "raw_accuracy": float(correct.mean()) if who.size else math.nan,
            "aggregated_accuracy": float(agg_correct[labeled].mean())
            if labeled.any()
            else math.nan,
            "correct_aggregated": n_correct,
            "mean_price": spent / who.size if who.size else math.nan,
            "price_sd": float(paid.std()) if who.size else math.nan,
            "cost_per_correct": spent / n_correct if n_correct else math.nan,
            "profit_total": float(profit_round.sum()),
            "profit_mean": float(profit_round.mean()),
            "profit_gini": gini(np.maximum(crowd.profit[still_active], 0.0))
            if still_active.size
            else math.nan,
            "social_cost": social_cost,
            "efficiency": cheapest / social_cost if social_cost > 0 else math.nan,
            "active_annotators": int(still_active.size),
            "entered": entered,
            "exited": exited,
            "mean_markup": float(np.mean(crowd.markups(idx_a))) if m else math.nan,
            "incentive_gap": gap,
        }

    def _pool_for_dawid_skene(self, task_ids, workers, labels, gold, truth) -> None:
        """Refit Dawid-Skene on every label bought so far, the gold answers
        fixed at their known labels, and take its worker accuracies, shrunk
        toward the buyer's prior by the number of labels behind them, as the
        buyer's estimates (whatever the aggregation; Dawid & Skene 1979)."""
        pool = self._ds_pool
        pool["task"].append(task_ids)
        pool["worker"].append(workers)
        pool["label"].append(labels)
        pool["gold_task"].append(task_ids[gold])
        pool["gold_label"].append(truth[gold])
        cat = {key: np.concatenate(parts) for key, parts in pool.items()}
        if cat["task"].size == 0:
            return
        ids, task = np.unique(cat["task"], return_inverse=True)
        gold_task = np.searchsorted(ids, cat["gold_task"])
        fit = dawid_skene(
            task, cat["worker"], cat["label"], gold_task=gold_task, gold_label=cat["gold_label"]
        )
        who = np.fromiter(fit.accuracy.keys(), dtype=np.int64, count=len(fit.accuracy))
        acc = np.fromiter(fit.accuracy.values(), dtype=float, count=who.size)
        # the buyer's Beta(a, b) prior on accuracy, updated with the worker's n labels
        # as n soft observations of rate acc (the posterior mean, as for gold answers):
        # a worker seen on three tasks is not yet known to be perfect or useless
        n = np.bincount(cat["worker"], minlength=self._estimate.size)[who]
        a, b = self._prior_a, self._prior_b
        self._estimate[who] = (acc * n + a) / (n + a + b)

    def _rerun(self, asks: np.ndarray, rows: np.ndarray, quality, budget: float):
        """The mechanism's rule on modified copies of task rows ``rows`` (for the
        incentive gap), with one tie-break draw per source row shared by its copies."""
        R, n = asks.shape
        uniq, inv = np.unique(rows, return_inverse=True)
        u = self._gap_rng.random((uniq.size, n))[inv]
        out = self.mechanism.allocate(
            asks,
            self.config.k,
            quality=None if quality is None else quality[rows],
            reserve=np.full(R, self.config.reserve),
            budget=np.full(R, budget),
            u=u,
        )
        return out.won, out.payments

    # --------------------------------------------------------------- tables
    def labels_table(self) -> pd.DataFrame:
        """One row per bought label."""
        return _concat(self._labels, LABEL_DTYPES)

    def dataset_table(self) -> pd.DataFrame:
        """One row per posted task with its aggregated label."""
        df = _concat(self._dataset, DATASET_DTYPES)
        if self._texts:
            df = pd.concat([df, pd.concat(self._texts, ignore_index=True)], axis=1)
        return df

    def metrics_table(self) -> pd.DataFrame:
        """One row per round (Mesa's DataCollector)."""
        df = self.datacollector.get_model_vars_dataframe().reset_index(drop=True)
        return (
            df.astype(
                {
                    "round": "int64",
                    "tasks": "int64",
                    "labels_bought": "int64",
                    "correct_aggregated": "int64",
                    "active_annotators": "int64",
                    "entered": "int64",
                    "exited": "int64",
                }
            )
            if len(df)
            else df
        )


LABEL_DTYPES = {
    "round": "int32", "task": "int64", "annotator": "int64", "ask": "float64",
    "quality_claim": "float64", "payment": "float64", "label": "int8",
    "true_label": "int8", "gold": "bool",
}  # fmt: skip
DATASET_DTYPES = {
    "task": "int64", "round": "int32", "n_labels": "int64", "label": "int8",
    "confidence": "float64", "true_label": "int8", "total_paid": "float64",
    "bid_a": "float64", "bid_b": "float64", "gold": "bool",
}  # fmt: skip


def _concat(chunks: list[dict[str, np.ndarray]], dtypes: dict[str, str]) -> pd.DataFrame:
    if not chunks:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in dtypes.items()})
    cols = {c: np.concatenate([ch[c] for ch in chunks]).astype(t) for c, t in dtypes.items()}
    return pd.DataFrame(cols)


def _reporter(key: str):
    def report(model: MarketModel) -> float:
        return model.last_metrics[key]

    report.__name__ = f"report_{key}"
    return report


class AgentByAgentMarket(MarketModel):
    """The same market with each annotator bidding and learning through its
    own Mesa agent, one Python call each (``Annotator.bid`` / ``observe``):
    the per-agent reference path. It gives the same results as
    :class:`MarketModel`, which acts on the crowd's arrays at once (a test
    checks), only slower; the market benchmark measures by how much."""

    def _by_index(self) -> dict:
        return {a.index: a for a in self.agents}

    def _bid(self, idx: np.ndarray) -> None:
        agents = self._by_index()
        for i in idx:
            agents[int(i)].bid(self.info)

    def _observe(self, idx, bids, wins, revenue) -> None:
        agents = self._by_index()
        for i, b, w, r in zip(idx, bids, wins, revenue, strict=True):
            agents[int(i)].observe(self.info, b, w, r, bid_cost=self.config.bid_cost)
