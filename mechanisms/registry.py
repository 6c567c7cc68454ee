"""The mechanism registry: look a rule up by name, list what exists."""

from __future__ import annotations

import inspect
from typing import TypeVar

from .base import Mechanism

__all__ = ["available", "get", "register"]

_REGISTRY: dict[str, type[Mechanism]] = {}

M = TypeVar("M", bound=type[Mechanism])


def register(cls: M) -> M:
    """Class decorator: make ``cls`` available as ``mechanisms.get(cls.name)``."""
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise TypeError(f"{cls.__name__} needs a non-empty class attribute `name`")
    if name in _REGISTRY and _REGISTRY[name] is not cls:
        raise ValueError(
            f"a mechanism named {name!r} is already registered ({_REGISTRY[name].__qualname__})"
        )
    _REGISTRY[name] = cls
    return cls


def available() -> list[str]:
    """Names of all registered mechanisms, sorted."""
    return sorted(_REGISTRY)


def get(name: str, **params: object) -> Mechanism:
    """Build the mechanism registered as ``name`` with its parameters.

    Raises:
        ValueError: for an unknown name (listing the known ones) or a
            parameter the mechanism does not take.
    """
    try:
        cls = _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"unknown mechanism {name!r}; known mechanisms: {', '.join(available())}"
        ) from None
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise ValueError(
            f"mechanism {name!r} takes no parameter(s) {', '.join(unknown)}; "
            f"it takes: {', '.join(accepted) or 'none'}"
        )
    return cls(**params)
