"""Checks of the plain values a ``MarketConfig`` is built from.

Each check returns the value in its canonical form (floats for numbers, plain
dicts and lists, ``None`` for "none") or raises :class:`ConfigError` whose
message starts with the field's name and states the allowed range, e.g.
``"budget: must be > 0 and finite, got -5"``. :mod:`simulator.market.config`
applies them field by field; the checks that tie fields together (k against
the population, Dawid-Skene against k) stay with the config.
"""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

__all__ = ["ConfigError"]

_SHARE_TOL = 1e-9
_NONE_STRINGS = ("none", "null")


class ConfigError(ValueError):
    """An invalid market configuration; the message names the field."""


def _is_number(x: object) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def _int(
    name: str, x: object, *, lo: int, hi: int | None = None, optional: bool = False
) -> int | None:
    allowed = (f"an integer >= {lo}" if hi is None else f"an integer from {lo} to {hi:,}") + (
        " or None" if optional else ""
    )
    if optional and (x is None or (isinstance(x, str) and x.strip().lower() in _NONE_STRINGS)):
        return None
    if isinstance(x, numbers.Integral) and not isinstance(x, bool):
        value = int(x)
    elif _is_number(x) and math.isfinite(float(x)) and float(x).is_integer():
        value = int(float(x))  # 100.0 from a YAML/TOML file
    else:
        raise ConfigError(f"{name}: must be {allowed}, got {x!r}")
    if value < lo or (hi is not None and value > hi):
        raise ConfigError(f"{name}: must be {allowed}, got {value}")
    return value


def _float(
    name: str,
    x: object,
    *,
    lo: float = -math.inf,
    hi: float = math.inf,
    lo_open: bool = False,
    hi_open: bool = False,
    finite: bool = True,
    allowed: str | None = None,
) -> float:
    if allowed is None:
        if lo > -math.inf and hi < math.inf:
            allowed = f"in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
        elif lo > -math.inf:
            allowed = f"{'>' if lo_open else '>='} {lo:g}" + (" and finite" if finite else "")
        else:
            allowed = "finite"
    if not _is_number(x):
        raise ConfigError(f"{name}: must be a number {allowed}, got {x!r}")
    value = float(x) + 0.0  # -0.0 -> 0.0
    bad = (
        math.isnan(value)
        or (finite and math.isinf(value))
        or value < lo
        or value > hi
        or (lo_open and value == lo)
        or (hi_open and value == hi)
    )
    if bad:
        shown = int(value) if value.is_integer() else value
        raise ConfigError(f"{name}: must be {allowed}, got {shown}")
    return value


def _choice(name: str, x: object, options: tuple[str, ...]) -> str:
    if x not in options:
        raise ConfigError(f"{name}: must be one of {', '.join(options)}; got {x!r}")
    return str(x)


def _distribution(name: str, spec: object, kinds: dict[str, tuple[str, ...]]) -> dict:
    """Check ``{"dist": kind, <its parameters>}``; parameters become floats."""
    forms = "; ".join(f"{{'dist': {k!r}, {', '.join(map(repr, v))}}}" for k, v in kinds.items())
    if not isinstance(spec, Mapping) or spec.get("dist") not in kinds:
        raise ConfigError(f"{name}: must be a dict of the form {forms}; got {spec!r}")
    dist = spec["dist"]
    keys = kinds[dist]
    if set(spec) != {"dist", *keys}:
        extra = sorted(map(str, set(spec) - {"dist", *keys}))
        missing = sorted(set(keys) - set(spec))
        parts = ([f"unknown key(s) {', '.join(extra)}"] if extra else []) + (
            [f"missing key(s) {', '.join(missing)}"] if missing else []
        )
        raise ConfigError(
            f"{name}: {'; '.join(parts)}; a {dist!r} distribution takes {', '.join(keys)}"
        )
    out: dict[str, Any] = {"dist": dist}
    for key in keys:
        value = spec[key]
        if not _is_number(value) or not math.isfinite(float(value)):
            raise ConfigError(f"{name}: {key} must be a finite number, got {value!r}")
        out[key] = float(value) + 0.0
    if dist == "uniform":
        if not 0 <= out["low"] < out["high"]:
            raise ConfigError(
                f"{name}: a uniform cost needs 0 <= low < high, "
                f"got low = {out['low']:g}, high = {out['high']:g}"
            )
    else:
        for key in keys:
            if out[key] <= 0:
                raise ConfigError(
                    f"{name}: {key} of a {dist!r} distribution must be > 0, got {out[key]:g}"
                )
    for key, top in _DIST_LIMITS.get(dist, {}).items():
        if out[key] > top:
            raise ConfigError(
                f"{name}: {key} of a {dist!r} distribution must be <= {top:g} "
                f"({_DIST_WHY[key]}), got {out[key]:g}"
            )
    return out


_DIST_LIMITS = {
    "lognormal": {"median": 1e6, "sigma": 10.0},
    "uniform": {"high": 1e6},
    "beta": {"a": 1e6, "b": 1e6},
}
_DIST_WHY = {
    "median": "a dollar cost per label",
    "high": "a dollar cost per label",
    "sigma": "wider spreads costs beyond what floating point and the equilibrium solver hold",
    "a": "larger is a point mass in all but name",
    "b": "larger is a point mass in all but name",
}


def _shares(name: str, spec: object, allowed: tuple[str, ...] | None = None) -> dict[str, float]:
    """Check a dict of name -> share: shares >= 0 summing to 1."""
    if not isinstance(spec, Mapping) or not spec:
        raise ConfigError(f"{name}: must be a non-empty dict of name -> share, got {spec!r}")
    out: dict[str, float] = {}
    for key, value in spec.items():
        if not isinstance(key, str):
            raise ConfigError(f"{name}: names must be strings, got {key!r}")
        if allowed is not None and key not in allowed:
            raise ConfigError(f"{name}: unknown key {key!r}; allowed keys: {', '.join(allowed)}")
        if not _is_number(value) or not math.isfinite(float(value)) or float(value) < 0:
            raise ConfigError(f"{name}: the share of {key!r} must be a number >= 0, got {value!r}")
        out[key] = float(value) + 0.0
    if allowed is not None:
        out = {key: out.get(key, 0.0) for key in allowed}
    total = math.fsum(out.values())
    if abs(total - 1.0) > _SHARE_TOL:
        raise ConfigError(f"{name}: shares must sum to 1 (within {_SHARE_TOL:g}), got {total!r}")
    return out


def _difficulty(x: object) -> tuple[float, ...]:
    levels = [x] if _is_number(x) else x
    if isinstance(levels, str | bytes | Mapping) or not isinstance(levels, Iterable):
        raise ConfigError(f"difficulty: must be a list of numbers in [0, 0.5], got {x!r}")
    out = tuple(_float("difficulty", d, lo=0.0, hi=0.5) for d in levels)
    if not out:
        raise ConfigError("difficulty: must hold at least one level in [0, 0.5], got none")
    return out


def _typed_params(name: str, params: dict, cls: type) -> dict:
    """``params`` for ``cls(**params)`` with each value checked against the type
    of its default (a number default wants a number, kept as float; a string
    wants a string; a bool a bool), so that ``"0.4"`` and ``0.4`` are never two
    configs; a name ``cls`` does not take is refused, naming the ones it takes."""
    sig = inspect.signature(cls.__init__).parameters
    accepted = [p for p, v in sig.items() if p != "self" and v.kind is v.POSITIONAL_OR_KEYWORD]
    out: dict[str, Any] = {}
    for key, value in params.items():
        if key not in accepted:
            raise ConfigError(
                f"{name}: unknown parameter {key!r}; it takes "
                f"{', '.join(accepted) if accepted else 'no parameters'}"
            )
        default = sig[key].default
        where = f"{name}.{key}"
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise ConfigError(f"{where}: must be true or false, got {value!r}")
        elif _is_number(default):
            if not _is_number(value) or not math.isfinite(float(value)):
                raise ConfigError(f"{where}: must be a finite number, got {value!r}")
            value = float(value) + 0.0
        elif isinstance(default, str) and not isinstance(value, str):
            raise ConfigError(f"{where}: must be a string, got {value!r}")
        out[key] = value
    return out


def _plain_mapping(name: str, x: object) -> dict:
    if not isinstance(x, Mapping):
        raise ConfigError(f"{name}: must be a dict, got {type(x).__name__}")
    return _plain(name, x)


def _plain(name: str, x: Any) -> Any:
    """A deep copy of ``x`` as plain data, or ConfigError if it is not plain data."""
    if x is None or isinstance(x, bool | str):
        return x
    if isinstance(x, np.bool_):
        return bool(x)
    if isinstance(x, numbers.Integral):
        return int(x)
    if isinstance(x, numbers.Real):
        return float(x)
    if isinstance(x, Mapping):
        out = {}
        for key, value in x.items():
            if not isinstance(key, str):
                raise ConfigError(f"{name}: keys must be strings, got {key!r}")
            out[key] = _plain(name, value)
        return out
    if isinstance(x, list | tuple):
        return [_plain(name, v) for v in x]
    raise ConfigError(
        f"{name}: values must be plain data (str, number, bool, None, list, dict) so the "
        f"config can be saved; got {type(x).__name__}"
    )


def _copy_plain(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _copy_plain(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_copy_plain(v) for v in x]
    return x


def _canonical(x: Any) -> Any:
    """Equal plain values map to one JSON form (numbers as floats, -0.0 as 0.0)."""
    if isinstance(x, dict):
        return {k: _canonical(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_canonical(v) for v in x]
    if isinstance(x, bool | int | float):
        return float(x) + 0.0
    return x
