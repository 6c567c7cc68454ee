"""Changes to a ``MarketConfig`` by dotted field names, and configs flattened
to dotted columns: the one spelling designs, run rows and the store share.

A change set maps field names to values; a dotted name such as
``cost.sigma`` or ``mechanism_params.price`` sets one key of a dict field.
:func:`_apply` makes the changed config (a changed mechanism, cost or reserve
without ``mechanism_params`` gets the comparison defaults,
:func:`default_params`); :func:`_flatten` turns a config's dict into the dotted
columns of a run's row.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from typing import Any

import mechanisms

from ..market.config import ConfigError, MarketConfig

_FIELDS = [f.name for f in dataclasses.fields(MarketConfig)]
"""The config's field names, in declaration order."""


def _field_order(name: str) -> int:
    top = name.split(".")[0]
    return _FIELDS.index(top) if top in _FIELDS else len(_FIELDS)


def _check_keys(changes: Mapping[str, Any]) -> None:
    bad = sorted(k for k in changes if k.split(".")[0] not in _FIELDS)
    if bad:
        raise ConfigError(f"unknown field(s) {', '.join(bad)}; valid fields: {', '.join(_FIELDS)}")


def _show(changes: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in changes.items()) or "no changes"


def _apply(cfg: MarketConfig, changes: Mapping[str, Any]) -> MarketConfig:
    """``cfg`` with ``changes`` (dotted names set keys of dict fields)."""
    if not changes:
        return cfg
    _check_keys(changes)
    d = cfg.spec()  # k and bidders_per_task at their default follow a changed market
    for key, value in changes.items():
        top, _, rest = key.partition(".")
        if not rest:
            d[top] = value
            continue
        if not isinstance(d[top], dict):
            raise ConfigError(f"{key}: {top} is not a dict field")
        node = d[top]
        parts = rest.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    params_given = any(
        k == "mechanism_params" or k.startswith("mechanism_params.") for k in changes
    )
    market_changed = any(k.split(".")[0] in PRICE_FIELDS for k in changes)
    if market_changed and not params_given:

        def defaults(name: str, fields: dict) -> dict:
            # the comparison defaults depend on the cost distribution and the reserve only
            probe = MarketConfig.from_dict({**fields, "mechanism": "vickrey",
                                            "mechanism_params": {}})  # fmt: skip
            return default_params(name, probe)

        was_default = cfg.mechanism_params == defaults(cfg.mechanism, cfg.to_dict())
        if d["mechanism"] != cfg.mechanism or was_default:
            d["mechanism_params"] = defaults(d["mechanism"], d)
    return MarketConfig.from_dict(d)


PRICE_FIELDS = ("mechanism", "cost", "reserve", "market", "token_cost", "fixed_cost", "personas")
"""Fields the comparison defaults of a mechanism's parameters depend on."""


def default_params(name: str, config: MarketConfig) -> dict:
    """Parameters a mechanism gets in a comparison unless the config says
    otherwise: the plain-data ones it takes from the market
    (``Mechanism.market_params``: e.g. a posted price from the cost prior: the
    annotators' label costs, or in a response market the prior over response
    costs, :func:`~simulator.market.responses.response_cost_prior`), so that
    they are stored with the run."""
    if name == config.mechanism and config.mechanism_params:
        return dict(config.mechanism_params)
    from agents.population import cost_distribution

    if config.market == "responses":
        from ..market.provider_pool import response_cost_prior

        prior = response_cost_prior(config)
    else:
        prior = cost_distribution(config.cost)
    cls = type(mechanisms.get(name))
    params = cls.market_params(cost_dist=prior, reserve=config.reserve)
    return {k: v for k, v in params.items() if isinstance(v, int | float | str | bool)}


def _flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        name = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(_flatten(v, name + ".") if v else {})
        elif isinstance(v, list | tuple):
            out[name] = json.dumps(list(v))
        elif v is None:
            out[name] = math.nan if name in ("rounds", "n_tasks") else v
        else:
            out[name] = float(v) if isinstance(v, int) and not isinstance(v, bool) and name in (
                "rounds", "n_tasks") else v  # fmt: skip
    return out
