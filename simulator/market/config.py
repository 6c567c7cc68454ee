"""Every parameter of one market run, validated, in one frozen object.

(Over 400 lines on purpose: one frozen dataclass of 41 fields, each declared
with its default and command-line help, documented in the class docstring and
checked in ``__post_init__`` beside the checks that tie fields together; split
up, one field's contract would be spread over several files. The response
market's checks are in :mod:`simulator.market.config_responses`. The generic value
checks are in :mod:`simulator.market.validation`, the file formats in
:mod:`simulator.market.formats`.)

>>> from simulator import MarketConfig
>>> cfg = MarketConfig(mechanism="fixed-price", mechanism_params={"price": 0.3}, budget=500)
>>> cfg.budget, cfg.k
(500.0, 3)
>>> cfg.replace(k=2).k
2

:class:`MarketConfig` checks each field when it is built (and again on
:meth:`MarketConfig.replace`) and raises :class:`ConfigError` (a
``ValueError``) whose message starts with the field's name and states the
allowed range, e.g. ``"budget: must be > 0 and finite, got -5"``.
:meth:`MarketConfig.save` and :meth:`MarketConfig.load` store a config as
YAML, TOML or JSON (chosen by the file's suffix) and round-trip it exactly.
Files are read with safe parsers only (YAML 1.2 core schema via
:func:`simulator.market.formats.load_yaml`, ``tomllib``,
``json``): a config file can hold data, never code.

Where the defaults come from
----------------------------
The defaults describe a plausible crowdsourcing market for pairwise
preference labels. They are order-of-magnitude anchors taken from public
reports, not estimates fitted to any one platform; change them freely.

* **Per-label cost** (``cost``): crowdsourced pairwise preference judgements
  are typically paid tens of cents each. A comparison takes roughly 30-60
  seconds; at US$15-20 an hour that is about $0.12-$0.35 per label (cheaper
  crowd platforms pay less, expert labelling far more). Crowd wages are
  right-skewed, hence a lognormal with median $0.25 and sigma 0.5: mean
  $0.28, 90 % of annotators between $0.11 and $0.57.
* **Label accuracy** (``quality``): agreement between trained human labelers
  on preference comparisons is around 63-77 %. InstructGPT (Ouyang et al.,
  2022) reports 72.6 +/- 1.5 % inter-labeler agreement among its training
  labelers; Anthropic's HH-RLHF (Bai et al., 2022) and AlpacaFarm (Dubois
  et al., 2023) report agreement in the mid-60s %. Hence Beta(7, 3): mean
  0.70, standard deviation 0.14, about 9 % of honest annotators below 0.5.
* **Market shape** (``n_annotators``, ``bidders_per_task``, ``k``,
  ``capacity``, ``tasks_per_round``, ``reserve``, ``budget``): a small market
  that runs in seconds. 100 annotators with 20 labels each per round offer
  2,000 bid slots, exactly the 200 tasks x 10 bidders a round asks for;
  ``k = 3`` is the usual smallest redundancy that lets a majority vote break
  ties; the $1 reserve is four times the median cost.

Encoding in files
-----------------
* ``reserve = inf`` is written as ``.inf`` in YAML, ``inf`` in TOML and the
  string ``"inf"`` in JSON (strict JSON has no infinity).
* ``rounds = None`` / ``n_tasks = None`` are written as ``null`` in YAML and
  JSON. TOML has no null, so they are written as the string ``"none"``.
  Building a config accepts these string forms too (``"inf"`` for
  ``reserve``, ``"none"`` for ``rounds`` and ``n_tasks``), so a file written
  by hand or another tool reads back the same way.
* ``mechanism_params`` and ``strategy_params`` must be plain data (strings,
  numbers, booleans, None, lists and string-keyed dicts of these) so that
  every config can be saved; TOML cannot store None inside them.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import json
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mechanisms
from agents.annotator import KINDS
from agents.population import DEFAULT_COST, DEFAULT_QUALITY

from ..files import atomic_write_text
from .aggregation import known_methods
from .config_responses import (
    DEFAULT_TOKEN_COST,
    MARKETS,
    PAIR_LABELS,
    PROVIDER_CLAIMS,
    check_response_auction,
    check_response_fields,
)
from .formats import dumps, format_of, loads
from .validation import (
    ConfigError,
    _canonical,
    _choice,
    _copy_plain,
    _difficulty,
    _distribution,
    _float,
    _int,
    _plain_mapping,
    _shares,
    _typed_params,
)

__all__ = [
    "AGGREGATIONS",
    "ANNOTATOR_KINDS",
    "QUALITY_ESTIMATES",
    "ConfigError",
    "MarketConfig",
]

AGGREGATIONS = known_methods
TASK_SOURCES = ("taskworld", "synthetic")
"""Label aggregation rules the buyer can use."""

QUALITY_ESTIMATES = ("gold", "dawid-skene", "oracle")
QUALITY_SCORES = ("accuracy", "informativeness")
"""How the buyer estimates annotator quality for quality-aware mechanisms."""

ANNOTATOR_KINDS = KINDS
"""Annotator types that ``mix`` shares out."""

MAX_ANNOTATORS = 2_000_000
"""The largest crowd a config may ask for (real crowds: 10^5-10^6 workers)."""
MAX_BIDDERS_PER_TASK = 10_000
MAX_TASKS_PER_ROUND = 10_000_000
MAX_BIDS_PER_ROUND = 100_000_000
"""tasks_per_round x bidders_per_task: one round's bid arrays must fit in memory."""
MAX_ENTRY_RATE = 100_000
"""New annotators expected per round."""
_COST_KEYS = {"lognormal": ("median", "sigma"), "uniform": ("low", "high")}
_QUALITY_KEYS = {"beta": ("a", "b")}
_INF_STRINGS = ("inf", "+inf", "infinity", "+infinity")


DEFAULT_K = 3
"""Labels bought per task in a label market (a response market buys a pair)."""
DEFAULT_BIDDERS = 10
"""Annotators bidding on each task in a label market (a response market: every provider)."""


def _help(text: str) -> str:
    """A field's help text with the allowed values filled in from their one list."""
    for name, values in (
        ("MARKETS", MARKETS),
        ("PAIR_LABELS", PAIR_LABELS),
        ("PROVIDER_CLAIMS", PROVIDER_CLAIMS),
        ("AGGREGATIONS", AGGREGATIONS),
        ("QUALITY_ESTIMATES", QUALITY_ESTIMATES),
        ("QUALITY_SCORES", QUALITY_SCORES),
        ("TASK_SOURCES", TASK_SOURCES),
    ):
        text = text.replace(f"<{name}>", ", ".join(values))
    return text


@dataclass(frozen=True)
class MarketConfig:
    """The parameters of one market run (money in dollars).

    Attributes:
        mechanism: the auction rule, a name from ``mechanisms.available()``.
        mechanism_params: keyword arguments for ``mechanisms.get(mechanism,
            **mechanism_params)``, e.g. ``{"price": 0.3}`` for
            ``fixed-price``; checked by building the mechanism once.
        n_annotators: annotators in the initial population (>= 1).
        cost: per-label cost distribution. ``{"dist": "lognormal",
            "median": m, "sigma": s}`` (m > 0, s > 0) or ``{"dist":
            "uniform", "low": lo, "high": hi}`` (0 <= lo < hi). Default:
            lognormal, median $0.25, sigma 0.5 (see the module docstring).
        quality: label accuracy (probability that a label is correct)
            distribution of honest annotators, ``{"dist": "beta", "a": a,
            "b": b}`` (a, b > 0). Default Beta(7, 3), mean 0.7.
        correlation: Gaussian-copula correlation between cost and quality,
            in [-1, 1]; positive means good annotators are expensive (the
            adverse-selection case).
        mix: population shares of annotator types ``"honest"``,
            ``"spammer"`` (labels at random) and ``"adversary"`` (labels
            mostly wrong); each >= 0, summing to 1. Missing types get 0.
        spammer_cost: a spammer's cost as a fraction of the cost it draws,
            in [0, 1] (default 0.5: clicking at random takes less effort
            than reading the task, so spammers can undercut honest workers).
        strategies: bidding strategy name -> population share; each >= 0,
            summing to 1. Names are checked against
            ``agents.strategies.available()`` when that package exists.
            Default: everyone plays ``equilibrium`` (their cost under truthful
            rules, the Bayes-Nash ask under first-price), so a comparison of
            mechanisms compares equilibria, not naive bidding.
        strategy_params: strategy name -> its parameters (a dict).
        capacity: labels one annotator can sell per round (>= 1).
        bidders_per_task: sellers who see and bid on each task (>= 1; the
            simulator caps it at the number of active annotators). Default
            (None): 10 annotators in a label market, every provider
            (``n_providers``) in a response market.
        k: items bought per task (1 <= k <= bidders_per_task). Default
            (None): 3 labels (k <= n_annotators) in a label market, 2
            responses (the pair) in a response market.
        reserve: the most the buyer pays per label (>= 0; ``inf`` for none).
        budget: the buyer's total budget in dollars (> 0, finite).
        tasks_per_round: tasks auctioned per round (>= 1).
        rounds: number of rounds (>= 1), or None to run until the budget
            (always finite) or the task pool runs out.
        task_source: where tasks come from: ``"taskworld"`` (default: the
            RLHF task world's preference pairs that ship with the package,
            training split, with prompt and response texts and difficulty
            from the gold-reward gap; the market stops when they run out) or
            ``"synthetic"`` (random true labels, ``difficulty`` levels, an
            unlimited stream).
        n_tasks: size of the task pool (>= 1; for the task world at most
            the number of shipped pairs are used), or None for all of them
            (task world) or an unlimited stream (synthetic).
        difficulty: synthetic task difficulty levels (``task_source:
            synthetic`` only), each in [0, 0.5],
            drawn uniformly per task. A task of difficulty d turns an
            annotator of accuracy q into one of accuracy
            0.5 + (q - 0.5) * (1 - 2 d): d = 0 leaves it, d = 0.5 makes
            every label a coin flip.
        gold_rate: share of tasks that are gold questions with known
            answers, in [0, 1).
        aggregation: how the buyer aggregates a task's labels:
            ``"majority"`` or ``"dawid-skene"``.
        quality_estimate: how the buyer estimates annotator quality for
            quality-aware mechanisms: ``"gold"`` (accuracy on gold
            questions), ``"dawid-skene"`` (Dawid-Skene refit each round on
            every label bought so far, gold answers fixed at their known
            labels, whatever the aggregation; needs k >= 2) or ``"oracle"``
            (the true quality; for experiments only).
        quality_score: the score ``quality-vickrey`` ranks by, per dollar:
            ``"accuracy"`` (the estimated accuracy q, the default) or
            ``"informativeness"`` (2q - 1, floored at 0.001: a coin-flipping
            spammer's label is worth nothing, so it cannot win on price alone).
        bid_cost: dollars an annotator spends per task it bids on (reading
            the comparison to decide), paid whether or not it wins (>= 0,
            default $0.01: about 2-3 s of reading at US$15-20 an hour). It
            is what makes losing bidders lose money, and so leave.
        exit_after: an annotator whose running profit has been negative for
            this many consecutive rounds leaves (>= 0; 0 disables exit).
        entry_rate: expected number of new annotators entering per round
            (Poisson mean, >= 0, finite).
        incentive_sample: bid slots sampled per round for the incentive-gap
            metric (>= 0; 0 disables it).
        seed: the root random seed (>= 0).

    The response market (``market: "responses"``; the paper's market, see
    :mod:`simulator.market.responses` and
    :mod:`simulator.market.config_responses`), fields that a label market
    ignores:

        market: ``"labels"`` (default: annotators sell labels on fixed pairs)
            or ``"responses"`` (LLM agents sell responses with quality bids).
        n_providers: response providers (>= 1, default 8).
        personas: persona name -> share of providers (names from
            :data:`rlhf.personas.PERSONAS`; a list means equal shares; default
            every shipped persona alike).
        token_cost: a provider's private cost per generated token, a
            lognormal or uniform distribution like ``cost`` (default
            lognormal, median $0.004, sigma 0.5), correlated with its persona's
            mean gold reward by ``correlation``; a response costs
            token_cost x its length + ``fixed_cost``.
        fixed_cost: dollars per response on top of the tokens (>= 0, $0.02).
        self_eval_noise: sd of the Gaussian noise in a provider's
            self-evaluation of its reply's gold reward (>= 0, default 0.1).
        provider_claims: ``"honest"`` (the quality bid is the noisy
            self-evaluation: the paper's setting) or ``"strategic"`` (the
            mechanism's solved equilibrium claim where it collects claims).
        verify_claims: None, or a tolerance >= 0: the buyer checks winners'
            claims on gold and does not pay a claim above gold + tolerance.
        pair_label: ``"bids"`` (the higher bid is chosen; k must be 2) or
            ``"annotators"`` (the label market orders every pair of a prompt's
            k responses).
        label_mechanism, label_k, label_budget_share: that label market's
            mechanism, labels per pair and share of the budget.
    """

    mechanism: str = field(
        default="vickrey", metadata={"help": "mechanism name (see `vickreyfeedback mechanisms`)"}
    )
    mechanism_params: dict = field(
        default_factory=dict, metadata={"help": "mechanism parameters, e.g. '{price: 0.3}'"}
    )
    n_annotators: int = field(default=100, metadata={"help": "number of annotators at the start"})
    cost: dict = field(
        default_factory=lambda: dict(DEFAULT_COST),
        metadata={
            "help": "cost distribution in $/label, e.g. '{dist: uniform, low: 0.05, high: 0.5}'"
        },
    )
    quality: dict = field(
        default_factory=lambda: dict(DEFAULT_QUALITY),
        metadata={"help": "label-accuracy distribution, e.g. '{dist: beta, a: 7, b: 3}'"},
    )
    correlation: float = field(
        default=0.0, metadata={"help": "cost-quality Gaussian-copula correlation in [-1, 1]"}
    )
    mix: dict = field(
        default_factory=lambda: {"honest": 0.9, "spammer": 0.1, "adversary": 0.0},
        metadata={"help": "shares of annotator types, e.g. '{honest: 0.8, spammer: 0.2}'"},
    )
    spammer_cost: float = field(
        default=0.5,
        metadata={"help": "spammers' cost as a fraction of the cost they draw, in [0, 1]"},
    )
    strategies: dict = field(
        default_factory=lambda: {"equilibrium": 1.0},
        metadata={"help": "shares of bidding strategies, e.g. '{truthful: 0.5, learning: 0.5}'"},
    )
    strategy_params: dict = field(
        default_factory=dict,
        metadata={"help": "per-strategy parameters, e.g. '{markup: {m: 0.3}}'"},
    )
    capacity: int = field(default=20, metadata={"help": "labels per annotator per round"})
    bidders_per_task: int | None = field(
        default=None,
        metadata={"help": "sellers that bid on each task (default: 10 annotators; every provider)"},
    )
    k: int | None = field(
        default=None,
        metadata={"help": "items bought per task (default: 3 labels; 2 responses, a pair)"},
    )
    reserve: float = field(
        default=1.0, metadata={"help": "reserve price, $ per label ('inf' for none)"}
    )
    budget: float = field(default=1000.0, metadata={"help": "total budget, $"})
    tasks_per_round: int = field(default=200, metadata={"help": "tasks the buyer posts per round"})
    rounds: int | None = field(
        default=50,
        metadata={"help": "number of rounds ('none': until the budget or the tasks run out)"},
    )
    task_source: str = field(
        default="taskworld",
        metadata={
            "help": _help("<TASK_SOURCES>: the shipped RLHF pairs or an unlimited random stream")
        },
    )
    n_tasks: int | None = field(
        default=None, metadata={"help": "size of the task pool ('none': unlimited)"}
    )
    difficulty: tuple[float, ...] = field(
        default=(0.0, 0.1, 0.25), metadata={"help": "task difficulty levels in [0, 0.5]"}
    )
    gold_rate: float = field(default=0.05, metadata={"help": "share of gold questions"})
    aggregation: str = field(
        default="majority",
        metadata={"help": _help("how a task's labels are aggregated: <AGGREGATIONS>")},
    )
    quality_estimate: str = field(
        default="gold",
        metadata={
            "help": _help(
                "the buyer's quality estimates for quality-aware rules: <QUALITY_ESTIMATES>"
            )
        },
    )
    quality_score: str = field(
        default="accuracy",
        metadata={"help": _help("quality-vickrey's score per dollar: <QUALITY_SCORES> (2q-1)")},
    )
    bid_cost: float = field(
        default=0.01, metadata={"help": "$ an annotator spends per task it bids on (drives exit)"}
    )
    exit_after: int = field(
        default=5,
        metadata={
            "help": "rounds of negative running profit before an annotator leaves (0: never)"
        },
    )
    entry_rate: float = field(default=0.0, metadata={"help": "expected new annotators per round"})
    incentive_sample: int = field(
        default=20, metadata={"help": "slots sampled per round for the incentive gap (0: off)"}
    )
    seed: int = field(default=0, metadata={"help": "random seed"})
    # the response market (``market: responses``; see simulator.market.responses)
    market: str = field(
        default="labels",
        metadata={"help": _help("what is sold: <MARKETS> (labels on fixed pairs, or responses)")},
    )
    n_providers: int = field(
        default=8, metadata={"help": "response providers (LLM agents) in a response market"}
    )
    personas: dict = field(
        default_factory=dict,
        metadata={"help": "providers' personas and shares, e.g. '{enthusiast: 0.5, terse: 0.5}'"},
    )
    token_cost: dict = field(
        default_factory=lambda: dict(DEFAULT_TOKEN_COST),
        metadata={"help": "a provider's private cost per generated token ($), a distribution"},
    )
    fixed_cost: float = field(
        default=0.02, metadata={"help": "a provider's fixed cost per response ($)"}
    )
    self_eval_noise: float = field(
        default=0.1, metadata={"help": "sd of the noise in a provider's self-evaluation (>= 0)"}
    )
    provider_claims: str = field(
        default="honest",
        metadata={"help": _help("providers' quality bids: <PROVIDER_CLAIMS>")},
    )
    verify_claims: float | None = field(
        default=None,
        metadata={
            "help": "check winners' claims on gold: a claim above gold + this tolerance is "
            "not paid ('none': no check)"
        },
    )
    pair_label: str = field(
        default="bids",
        metadata={"help": _help("what orders a bought pair: <PAIR_LABELS>")},
    )
    label_mechanism: str = field(
        default="vickrey",
        metadata={"help": "the label market's mechanism when pair_label is annotators"},
    )
    label_k: int = field(
        default=3, metadata={"help": "labels bought per pair when pair_label is annotators"}
    )
    label_budget_share: float = field(
        default=0.5,
        metadata={"help": "share of the budget kept for labels when pair_label is annotators"},
    )

    # ------------------------------------------------------------------ checks

    def __post_init__(self) -> None:
        def put(name: str, value: object) -> None:
            object.__setattr__(self, name, value)

        # the mechanism and its parameters
        if not isinstance(self.mechanism, str) or self.mechanism not in mechanisms.available():
            raise ConfigError(
                f"mechanism: unknown mechanism {self.mechanism!r}; "
                f"known mechanisms: {', '.join(mechanisms.available())}"
            )
        put(
            "mechanism_params",
            _typed_params(
                "mechanism_params",
                _plain_mapping("mechanism_params", self.mechanism_params),
                type(mechanisms.get(self.mechanism)),
            ),
        )
        try:
            mechanisms.get(self.mechanism, **self.mechanism_params)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"mechanism_params: invalid for {self.mechanism!r}: {exc}") from None

        # the population
        put("n_annotators", _int("n_annotators", self.n_annotators, lo=1, hi=MAX_ANNOTATORS))
        put("cost", _distribution("cost", self.cost, _COST_KEYS))
        put("quality", _distribution("quality", self.quality, _QUALITY_KEYS))
        put("correlation", _float("correlation", self.correlation, lo=-1.0, hi=1.0))
        put("mix", _shares("mix", self.mix, allowed=ANNOTATOR_KINDS))
        put("spammer_cost", _float("spammer_cost", self.spammer_cost, lo=0.0, hi=1.0))
        put("strategies", _shares("strategies", self.strategies))
        params = _plain_mapping("strategy_params", self.strategy_params)
        for name, value in params.items():
            if not isinstance(value, dict):
                raise ConfigError(
                    f"strategy_params: the parameters of {name!r} must be a dict, "
                    f"got {type(value).__name__}"
                )
        put("strategy_params", params)
        known = _known_strategies()
        if known is not None:
            for fname, names in (("strategies", self.strategies), ("strategy_params", params)):
                unknown = sorted(set(names) - known)
                if unknown:
                    raise ConfigError(
                        f"{fname}: unknown strategy name(s) {', '.join(map(repr, unknown))}; "
                        f"known strategies: {', '.join(sorted(known))}"
                    )
            registry = importlib.import_module("agents.strategies")
            if hasattr(registry, "strategy_class"):
                params = {
                    name: _typed_params(
                        f"strategy_params.{name}", value, registry.strategy_class(name)
                    )
                    for name, value in params.items()
                }
                for name, value in params.items():
                    try:
                        registry.get(name, **value)
                    except (TypeError, ValueError) as exc:
                        raise ConfigError(f"strategy_params.{name}: {exc}") from None
                put("strategy_params", params)
        put("capacity", _int("capacity", self.capacity, lo=1, hi=1_000_000))

        # the market and its sellers
        put("market", _choice("market", self.market, MARKETS))
        responses = self.market == "responses"
        check_response_fields(self, put)

        # the auction and the buyer
        if self.bidders_per_task is None:
            put("bidders_per_task", self.n_providers if responses else DEFAULT_BIDDERS)
        put(
            "bidders_per_task",
            _int("bidders_per_task", self.bidders_per_task, lo=1, hi=MAX_BIDDERS_PER_TASK),
        )
        if self.k is None:
            put("k", 2 if responses else DEFAULT_K)
        put("k", _int("k", self.k, lo=1))
        if responses:
            check_response_auction(self)
        elif self.k > self.n_annotators:
            raise ConfigError(f"k: must be <= n_annotators ({self.n_annotators}), got k = {self.k}")
        if self.k > self.bidders_per_task:
            raise ConfigError(
                f"k: must be <= bidders_per_task ({self.bidders_per_task}), got k = {self.k}"
            )
        reserve = self.reserve
        if isinstance(reserve, str) and reserve.strip().lower() in _INF_STRINGS:
            reserve = math.inf
        put(
            "reserve",
            _float("reserve", reserve, lo=0.0, finite=False, allowed=">= 0 (inf allowed)"),
        )
        put("budget", _float("budget", self.budget, lo=0.0, lo_open=True, allowed="> 0 and finite"))
        put(
            "tasks_per_round",
            _int("tasks_per_round", self.tasks_per_round, lo=1, hi=MAX_TASKS_PER_ROUND),
        )
        if self.tasks_per_round * self.bidders_per_task > MAX_BIDS_PER_ROUND:
            raise ConfigError(
                f"tasks_per_round: times bidders_per_task must be at most {MAX_BIDS_PER_ROUND:,} "
                f"bids per round (memory), got {self.tasks_per_round:,} x "
                f"{self.bidders_per_task:,}"
            )
        put("rounds", _int("rounds", self.rounds, lo=1, hi=10_000_000, optional=True))
        put("n_tasks", _int("n_tasks", self.n_tasks, lo=1, hi=1_000_000_000, optional=True))

        # the tasks and the labels
        put("task_source", _choice("task_source", self.task_source, TASK_SOURCES))
        put("difficulty", _difficulty(self.difficulty))
        put("gold_rate", _float("gold_rate", self.gold_rate, lo=0.0, hi=1.0, hi_open=True))
        put("aggregation", _choice("aggregation", self.aggregation, AGGREGATIONS))
        put(
            "quality_estimate",
            _choice("quality_estimate", self.quality_estimate, QUALITY_ESTIMATES),
        )
        put("quality_score", _choice("quality_score", self.quality_score, QUALITY_SCORES))
        if self.k == 1 and "dawid-skene" in (self.aggregation, self.quality_estimate):
            field_ = "aggregation" if self.aggregation == "dawid-skene" else "quality_estimate"
            raise ConfigError(
                f"{field_}: 'dawid-skene' needs k >= 2 labels per task; with one label "
                "per task no label is checked against another, so every worker looks "
                "perfect (use 'majority'/'gold', or raise k)"
            )

        # dynamics and bookkeeping
        put("bid_cost", _float("bid_cost", self.bid_cost, lo=0.0))
        put("exit_after", _int("exit_after", self.exit_after, lo=0, hi=10_000_000))
        put("entry_rate", _float("entry_rate", self.entry_rate, lo=0.0, hi=float(MAX_ENTRY_RATE)))
        put("incentive_sample", _int("incentive_sample", self.incentive_sample, lo=0, hi=100_000))
        put("seed", _int("seed", self.seed, lo=0, hi=2**63 - 1))

    def __hash__(self) -> int:
        # consistent with ==: equal values (1 == 1.0 == True, -0.0 == 0.0) hash alike
        return hash(json.dumps(_canonical(self.to_dict()), sort_keys=True))

    # ---------------------------------------------------------- conversions

    def to_dict(self) -> dict[str, Any]:
        """All fields as plain Python data (dicts, lists, str, int, float, None).

        ``difficulty`` becomes a list; ``reserve`` may be ``float("inf")``
        and ``rounds`` / ``n_tasks`` may be None (:meth:`save` handles what a
        file format cannot store). ``MarketConfig.from_dict(cfg.to_dict())
        == cfg``.
        """
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            out[f.name] = _copy_plain(getattr(self, f.name))
        return out

    def key_dict(self) -> dict[str, Any]:
        """:meth:`to_dict` less the response-market fields where they hold their
        defaults: what a run's store key hashes, so every run stored before the
        response market existed keeps its key."""
        out = self.to_dict()
        defaults = _defaults()
        for name in RESPONSE_FIELDS:
            if out[name] == defaults[name]:
                del out[name]
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> MarketConfig:
        """Build a config from a mapping; missing fields take their defaults.

        Raises:
            ConfigError: for keys that are not fields (naming them and
                listing the valid ones) or any invalid value.
        """
        if not isinstance(d, Mapping):
            raise ConfigError(f"config: expected a mapping of fields, got {type(d).__name__}")
        _check_names(d.keys())
        return cls(**dict(d))

    def replace(self, **changes: Any) -> MarketConfig:
        """A copy with some fields changed, validated like a new config. ``k`` and
        ``bidders_per_task`` left at their market's default follow the market:
        ``MarketConfig().replace(market="responses").k == 2``."""
        _check_names(changes.keys())
        return MarketConfig(**{**self.spec(), **changes})

    def spec(self) -> dict[str, Any]:
        """:meth:`to_dict` with ``k`` and ``bidders_per_task`` as None where they
        hold their market's default (3 and 10 labels; 2 and n_providers
        responses): the form changes are applied to, so that changing the
        market changes those defaults too."""
        out = self.to_dict()
        responses = self.market == "responses"
        if self.k == (2 if responses else DEFAULT_K):
            out["k"] = None
        if self.bidders_per_task == (self.n_providers if responses else DEFAULT_BIDDERS):
            out["bidders_per_task"] = None
        return out

    # ----------------------------------------------------------------- files

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the config to ``path``, in the format its suffix names.

        ``.yaml`` / ``.yml`` (YAML), ``.toml`` or ``.json``. The file is
        written to a temporary file in the same folder and moved into place
        (``os.replace``), so a crash never leaves a half-written config.
        Returns the path.

        Raises:
            ConfigError: for an unknown suffix, or a value the format cannot
                store (None inside ``*_params`` in TOML).
        """
        path = Path(path)
        atomic_write_text(path, dumps(self.to_dict(), format_of(path)))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> MarketConfig:
        """Read a config written by :meth:`save` (or by hand).

        The format follows the suffix (``.yaml`` / ``.yml``, ``.toml``,
        ``.json``); only safe parsers are used. Fields the file omits take
        their defaults.

        Raises:
            ConfigError: for an unknown suffix, a file that does not parse
                (including YAML tags that would build Python objects), or an
                invalid config.
            A missing, unreadable or empty file is a ConfigError too, naming it.
        """
        path = Path(path)
        fmt = format_of(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such config file") from None
        except IsADirectoryError:
            raise ConfigError(f"{path}: is a directory, not a config file") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read the config file: {exc}") from None
        data = loads(text, fmt, path)
        if data is None or data == {}:
            raise ConfigError(
                f"{path}: the config file is empty; write the fields to change (an empty "
                "mapping `{}` is not a config either: omit --config for the defaults)"
            )
        if not isinstance(data, Mapping):
            raise ConfigError(f"{path}: expected a mapping of fields, got {type(data).__name__}")
        try:
            return cls.from_dict(data)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None


# --------------------------------------------------------------------- helpers

RESPONSE_FIELDS = (
    "market", "n_providers", "personas", "token_cost", "fixed_cost", "self_eval_noise",
    "provider_claims", "verify_claims", "pair_label", "label_mechanism", "label_k",
    "label_budget_share",
)  # fmt: skip
"""The fields of the response market (added after the label market's)."""


@functools.cache
def _defaults() -> dict[str, Any]:
    return MarketConfig().to_dict()


def _field_names() -> list[str]:
    return [f.name for f in dataclasses.fields(MarketConfig)]


def _check_names(names: Iterable[object]) -> None:
    valid = _field_names()
    unknown = sorted(str(n) for n in names if n not in valid)
    if unknown:
        raise ConfigError(
            f"unknown field(s) {', '.join(unknown)}; valid fields: {', '.join(valid)}"
        )


def _known_strategies() -> set[str] | None:
    """Names from ``agents.strategies.available()``, or None if it does not exist."""
    try:
        from agents.strategies import available as strategies_available
    except ImportError:
        return None
    return set(strategies_available())
