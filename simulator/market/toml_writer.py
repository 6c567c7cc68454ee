"""A tiny TOML writer for configs (``tomllib`` reads TOML but cannot write it):
top-level scalars and lists, then one ``[table]`` per dict field."""

from __future__ import annotations

import math
import re
from typing import Any

from .validation import ConfigError

__all__ = ["toml_dumps"]


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_TOML_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else _toml_str(key)


def _toml_str(s: str) -> str:
    out = []
    for ch in s:
        if ch in _TOML_ESCAPES:
            out.append(_TOML_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _toml_value(x: Any, where: str) -> str:
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, int):
        return str(x)
    if isinstance(x, float):
        if math.isnan(x):
            return "nan"
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
        return repr(x)
    if isinstance(x, str):
        return _toml_str(x)
    if isinstance(x, list):
        return "[" + ", ".join(_toml_value(v, where) for v in x) + "]"
    if isinstance(x, dict):
        items = ", ".join(f"{_toml_key(k)} = {_toml_value(v, where)}" for k, v in x.items())
        return "{ " + items + " }" if items else "{}"
    if x is None:
        raise ConfigError(f"{where}: TOML cannot store None (null); use YAML or JSON")
    raise ConfigError(f"{where}: cannot write {type(x).__name__} to TOML")


def toml_dumps(data: dict[str, Any]) -> str:
    """Top-level scalars and lists first, then one [table] per dict field.

    None at the top level (``rounds``, ``n_tasks``) is written as "none".
    """
    lines: list[str] = []
    tables: list[tuple[str, dict]] = []
    for key, value in data.items():
        if isinstance(value, dict):
            tables.append((key, value))
        else:
            shown = "none" if value is None else value
            lines.append(f"{_toml_key(key)} = {_toml_value(shown, key)}")
    for key, table in tables:
        lines.append("")
        lines.append(f"[{_toml_key(key)}]")
        for sub, value in table.items():
            lines.append(f"{_toml_key(sub)} = {_toml_value(value, key)}")
    return "\n".join(lines) + "\n"
