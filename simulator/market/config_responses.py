"""The fields of :class:`~simulator.market.config.MarketConfig` that describe the
response market (``market: responses``), and their checks.

A response market (Zhang & Duan 2024, arXiv:2409.18417) sells *responses*:
``n_providers`` LLM agents, each with a generation persona (``personas``:
name -> share of providers, names from :data:`rlhf.personas.PERSONAS`), a
private cost per response (``token_cost`` per generated token, times the
reply's length, plus ``fixed_cost``) and a quality bid (a self-evaluation of
its reply, its gold reward plus Gaussian noise of sd ``self_eval_noise``:
``provider_claims: honest``; or the mechanism's equilibrium claim:
``strategic``). ``verify_claims`` (a tolerance, or None) has the buyer check
the winners' claims on gold after the auction and not pay a claim above gold +
tolerance. ``pair_label`` says what orders a bought pair: the bids (the
paper: the higher bid is chosen, so k must be 2) or annotators bought in the
label market (``label_mechanism``, ``label_k`` labels per pair, from
``label_budget_share`` of the budget), where k >= 2 responses per prompt
make k(k-1)/2 pairs.
"""

from __future__ import annotations

from collections.abc import Callable

import mechanisms

from .validation import ConfigError, _choice, _distribution, _float, _int, _shares

__all__ = [
    "DEFAULT_TOKEN_COST",
    "MARKETS",
    "PAIR_LABELS",
    "PROVIDER_CLAIMS",
    "check_response_auction",
    "check_response_fields",
    "persona_names",
]

MARKETS = ("labels", "responses")
"""What a market sells: preference labels on fixed pairs, or responses."""
PAIR_LABELS = ("bids", "annotators")
"""What orders a bought pair of responses: the quality bids, or bought labels."""
PROVIDER_CLAIMS = ("honest", "strategic")
"""Providers' quality bids: their noisy self-evaluation, or the equilibrium claim."""
DEFAULT_TOKEN_COST = {"dist": "lognormal", "median": 0.004, "sigma": 0.5}
"""A provider's private cost per generated token, in dollars: a 30-token reply
costs about $0.12 plus the fixed cost (an order-of-magnitude anchor for a
small hosted model's serving cost and margin, not a measured price)."""
MAX_PROVIDERS = 100_000
_TOKEN_COST_KEYS = {"lognormal": ("median", "sigma"), "uniform": ("low", "high")}


def persona_names() -> tuple[str, ...]:
    """The personas the project ships (:data:`rlhf.personas.PERSONAS`)."""
    from rlhf.personas import PERSONAS

    return tuple(PERSONAS)


def check_response_fields(cfg, put: Callable[[str, object], None]) -> None:
    """Check (and normalize, through ``put``) the response-market fields of
    ``cfg``; they are checked whatever the market, so a saved config is valid
    in both."""
    put("n_providers", _int("n_providers", cfg.n_providers, lo=1, hi=MAX_PROVIDERS))
    names = persona_names()
    personas = cfg.personas
    if isinstance(personas, list | tuple) and all(isinstance(p, str) for p in personas):
        personas = {p: 1.0 / len(personas) for p in personas} if personas else {}
    if not personas:
        personas = {name: 1.0 / len(names) for name in names}
    if isinstance(personas, dict):
        unknown = sorted(str(p) for p in personas if p not in names)
        if unknown:
            raise ConfigError(
                f"personas: unknown persona(s) {', '.join(map(repr, unknown))}; "
                f"known personas: {', '.join(names)}"
            )
    put("personas", _shares("personas", personas, allowed=names))
    put("token_cost", _distribution("token_cost", cfg.token_cost, _TOKEN_COST_KEYS))
    put("fixed_cost", _float("fixed_cost", cfg.fixed_cost, lo=0.0))
    put("self_eval_noise", _float("self_eval_noise", cfg.self_eval_noise, lo=0.0))
    put("provider_claims", _choice("provider_claims", cfg.provider_claims, PROVIDER_CLAIMS))
    verify = cfg.verify_claims
    if isinstance(verify, str) and verify.strip().lower() in ("none", "null", "off"):
        verify = None
    if verify is not None:
        verify = _float("verify_claims", verify, lo=0.0, allowed=">= 0 (a tolerance) or none")
    put("verify_claims", verify)
    put("pair_label", _choice("pair_label", cfg.pair_label, PAIR_LABELS))
    if not isinstance(cfg.label_mechanism, str) or cfg.label_mechanism not in (
        mechanisms.available()
    ):
        raise ConfigError(
            f"label_mechanism: unknown mechanism {cfg.label_mechanism!r}; "
            f"known mechanisms: {', '.join(mechanisms.available())}"
        )
    put("label_k", _int("label_k", cfg.label_k, lo=1, hi=10))
    put(
        "label_budget_share",
        _float(
            "label_budget_share", cfg.label_budget_share, lo=0.0, hi=1.0,
            lo_open=True, hi_open=True, allowed="in (0, 1)",
        ),
    )  # fmt: skip


def check_response_auction(cfg) -> None:
    """The auction's shape in a response market: k responses per prompt out of
    ``bidders_per_task`` providers; a pair ordered by bids needs exactly two."""
    if cfg.k < 2:
        raise ConfigError(f"k: a response market buys at least 2 responses per prompt, got {cfg.k}")
    if cfg.pair_label == "bids" and cfg.k != 2:
        raise ConfigError(
            f"k: pair_label 'bids' orders one pair per prompt by its two bids, so k must be 2, "
            f"got {cfg.k} (use pair_label: annotators to buy more responses and label "
            "every pair)"
        )
    if cfg.bidders_per_task > cfg.n_providers:
        raise ConfigError(
            f"bidders_per_task: at most n_providers ({cfg.n_providers}) providers can bid on "
            f"a prompt, got {cfg.bidders_per_task}"
        )
    if cfg.pair_label == "annotators":
        if cfg.label_k > cfg.n_annotators:
            raise ConfigError(
                f"label_k: must be <= n_annotators ({cfg.n_annotators}), got {cfg.label_k}"
            )
        if cfg.label_mechanism == "vickrey-feedback":
            raise ConfigError(
                "label_mechanism: 'vickrey-feedback' sells responses, not labels; "
                "choose a label mechanism (e.g. vickrey)"
            )
