"""The file formats a ``MarketConfig`` is saved in and read from: YAML, TOML
and JSON, chosen by the file's suffix, read with safe parsers only
(``yaml.safe_load``, ``tomllib``, ``json``: a config file holds data, never
code). How values that a format cannot spell are encoded (``inf``, None) is
in the module docstring of :mod:`simulator.market.config`.
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from pathlib import Path
from typing import Any

from .validation import ConfigError

__all__ = ["dumps", "format_of", "loads"]


def format_of(path: Path) -> str:
    """``"yaml"``, ``"toml"`` or ``"json"``, by the file's suffix."""
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        return "yaml"
    if suffix in (".toml", ".json"):
        return suffix[1:]
    raise ConfigError(
        f"{path}: unknown config format {path.suffix!r}; use .yaml, .yml, .toml or .json"
    )


def _yaml():
    try:
        import yaml
    except ImportError:  # pragma: no cover - PyYAML ships with transformers
        raise ConfigError("YAML configs need PyYAML (pip install pyyaml)") from None
    return yaml


def dumps(data: dict[str, Any], fmt: str) -> str:
    """A config's plain data (``MarketConfig.to_dict()``) as the text of a
    ``"yaml"``, ``"toml"`` or ``"json"`` file."""
    if fmt == "yaml":
        yaml = _yaml()
        return yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
    if fmt == "toml":
        return _toml_dumps(data)
    if math.isinf(data["reserve"]):
        data = {**data, "reserve": "inf"}  # strict JSON has no infinity
    return json.dumps(data, indent=2) + "\n"


def loads(text: str, fmt: str, path: Path) -> Any:
    """The plain data of a config file's text, read with a safe parser only."""
    try:
        if fmt == "yaml":
            yaml = _yaml()
            try:
                return yaml.safe_load(text)
            except yaml.YAMLError as exc:
                raise ConfigError(f"{path}: not a valid YAML config: {exc}") from None
        if fmt == "toml":
            return tomllib.loads(text)
        return json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not a valid {fmt.upper()} config: {exc}") from None


# ------------------------------------------------------------ a tiny TOML writer

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


def _toml_dumps(data: dict[str, Any]) -> str:
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
