"""Shared fixtures: every registered mechanism, with the parameter variants
that matter. The contract tests run over all of them, so a new mechanism gets
them for free once it is registered."""

from __future__ import annotations

import pytest

import mechanisms

#: (name, params) cases; names without an entry run with their defaults.
VARIANTS: dict[str, list[dict]] = {
    "fixed-price": [{"price": 0.5}, {"price": 0.25}],
    "vickrey-feedback": [{"payment": "paper"}, {"payment": "truthful"}],
    "myerson": [{"value": 1.0}, {"value": 0.6, "hi": 1.0}],
}


def all_cases() -> list[tuple[str, dict]]:
    cases = []
    for name in mechanisms.available():
        for params in VARIANTS.get(name, [{}]):
            cases.append((name, params))
    return cases


def case_id(case: tuple[str, dict]) -> str:
    name, params = case
    return name + "".join(f"[{k}={v}]" for k, v in params.items())


CASES = all_cases()


@pytest.fixture(params=CASES, ids=[case_id(c) for c in CASES])
def mech(request) -> mechanisms.Mechanism:
    name, params = request.param
    return mechanisms.get(name, **params)
