"""The strategy registry: look a bidding strategy up by name, list what exists."""

from __future__ import annotations

from typing import TypeVar

from .base import Strategy, init_params

__all__ = ["available", "get", "register", "strategy_class"]

_REGISTRY: dict[str, type[Strategy]] = {}

S = TypeVar("S", bound=type[Strategy])


def register(cls: S) -> S:
    """Class decorator: make ``cls`` available as ``strategies.get(cls.name)``."""
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise TypeError(f"{cls.__name__} needs a non-empty class attribute `name`")
    if name in _REGISTRY and _REGISTRY[name] is not cls:
        raise ValueError(
            f"a strategy named {name!r} is already registered ({_REGISTRY[name].__qualname__})"
        )
    _REGISTRY[name] = cls
    return cls


def available() -> list[str]:
    """Names of all registered strategies, sorted."""
    return sorted(_REGISTRY)


def strategy_class(name: str) -> type[Strategy]:
    """The class registered as ``name`` (ValueError listing the known names)."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"unknown strategy {name!r}; known strategies: {', '.join(available())}"
        ) from None


def get(name: str, **params: object) -> Strategy:
    """A new instance of the strategy registered as ``name`` with its parameters.

    Every call builds a fresh instance: give each annotator its own.

    Raises:
        ValueError: for an unknown name (listing the known ones) or a
            parameter the strategy does not take.
    """
    cls = strategy_class(name)
    accepted = init_params(cls)
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise ValueError(
            f"strategy {name!r} takes no parameter(s) {', '.join(unknown)}; "
            f"it takes: {', '.join(accepted) or 'none'}"
        )
    return cls(**params)
