"""The file formats a ``MarketConfig`` is saved in and read from: YAML, TOML
and JSON, chosen by the file's suffix, and the one YAML reader for every
place the project reads YAML (config files, design files, command-line
values). A config file holds data, never code.

YAML is read by :func:`load_yaml` under the **YAML 1.2 core schema**, not
PyYAML's YAML 1.1 rules: ``null``/``~``/empty, ``true``/``false`` (three
spellings each), decimal ints (``010`` is 10), ``0o17``, ``0x1F``, floats
such as ``1e3`` and ``.5`` and ``.inf``/``.nan``; everything else
(``yes``, ``on``, ``1:30``, ``1_000``, ``2024-01-01``) is a string. It
refuses, with a one-line :class:`ConfigError` naming the file or option:
duplicate mapping keys (also in JSON), keys that are not strings, tags
other than the core ones (``!!python/...`` never builds anything), more
than one document, texts over :data:`MAX_TEXT_CHARS` characters (all three
formats) and documents whose aliases would expand to over
:data:`MAX_YAML_NODES` nodes (billion laughs). :func:`parse_value` reads a
command-line value. TOML is read by ``tomllib``, JSON by ``json``. How
values that a format cannot spell are encoded (``inf``, None) is in the
module docstring of :mod:`simulator.market.config`.
"""

from __future__ import annotations

import functools
import json
import math
import re
import tomllib
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .toml_writer import toml_dumps
from .validation import ConfigError

__all__ = ["dumps", "format_of", "load_yaml", "loads", "parse_value"]

#: the longest config/design text read, in characters (any format)
MAX_TEXT_CHARS = 1_000_000
#: the most YAML nodes a document may hold with every alias expanded
MAX_YAML_NODES = 100_000


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


def dumps(data: dict[str, Any], fmt: str) -> str:
    """A config's plain data (``MarketConfig.to_dict()``) as the text of a
    ``"yaml"``, ``"toml"`` or ``"json"`` file.

    YAML strings that YAML 1.1 *or* 1.2 would read as another type (``yes``,
    ``1e3``, ``0o17``) are quoted, so the file reads back the same either way.
    """
    if fmt == "yaml":
        return yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False)
    if fmt == "toml":
        return toml_dumps(data)
    if math.isinf(data["reserve"]):
        data = {**data, "reserve": "inf"}  # strict JSON has no infinity
    return json.dumps(data, indent=2) + "\n"


def loads(text: str, fmt: str, path: Path) -> Any:
    """The plain data of a config file's text, read with a safe parser only."""
    _check_size(text, str(path))
    try:
        if fmt == "yaml":
            return load_yaml(text, what=str(path))
        if fmt == "toml":
            return tomllib.loads(text)
        hook = functools.partial(_json_object, what=str(path))
        return json.loads(text, object_pairs_hook=hook)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not a valid {fmt.upper()} config: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to be a {fmt.upper()} config") from None


def _json_object(pairs: list[tuple[str, Any]], *, what: str) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise ConfigError(f"{what}: duplicate key {key!r} in a JSON object; give it once")
        obj[key] = value
    return obj


def _check_size(text: str, what: str) -> None:
    if not isinstance(text, str):
        raise TypeError(f"{what}: expected the text as str, got {type(text).__name__}")
    if len(text) > MAX_TEXT_CHARS:
        raise ConfigError(
            f"{what}: text of {len(text):,} characters is too long; at most {MAX_TEXT_CHARS:,}"
        )


# ------------------------------------------------------------ YAML 1.2 reading

_CORE = "tag:yaml.org,2002:"
_NULL_RE = re.compile(r"(?:~|null|Null|NULL|)\Z")
_BOOL_RE = re.compile(r"(?:true|True|TRUE|false|False|FALSE)\Z")
_DEC_RE = re.compile(r"[-+]?[0-9]+\Z")
_INT_RE = re.compile(r"(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)\Z")
_INF_RE = re.compile(r"[-+]?\.(?:inf|Inf|INF)\Z")
_NAN_RE = re.compile(r"\.(?:nan|NaN|NAN)\Z")
_FLOAT_RE = re.compile(
    r"(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))\Z"
)
#: the tags each kind of node may carry (the YAML 1.2 core schema)
_ALLOWED_TAGS = {
    ScalarNode: {_CORE + t for t in ("str", "int", "float", "bool", "null")},
    SequenceNode: {_CORE + "seq"},
    MappingNode: {_CORE + "map"},
}
_KIND = {ScalarNode: "scalar", SequenceNode: "sequence", MappingNode: "mapping"}


def _at(node: Node) -> str:
    return f"line {node.start_mark.line + 1}"


def _shown_tag(tag: str) -> str:
    return "!!" + tag[len(_CORE) :] if tag.startswith(_CORE) else tag


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2 core-schema resolvers and
    constructors for the core tags only; ``what`` names the text in errors."""

    yaml_implicit_resolvers: dict = {}  # noqa: RUF012 - PyYAML's class registry
    yaml_constructors: dict = {}  # noqa: RUF012

    def __init__(self, text: str, what: str) -> None:
        super().__init__(text)
        self.what = what
        self.n_nodes = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        """Compose as PyYAML does, stopping once the text holds too many nodes."""
        self.n_nodes += 1
        if self.n_nodes > MAX_YAML_NODES:
            raise _too_many(self.what, self.peek_event().start_mark.line + 1)
        return super().compose_node(parent, index)

    def construct_core_scalar(self, node: ScalarNode) -> Any:
        """A null, bool, int or float, by the node's tag and the core schema."""
        kind = node.tag[len(_CORE) :]
        regexp, convert, _ = _SCALARS[kind]
        value = node.value
        shown = repr(value) if len(value) <= 40 else repr(value[:40]) + "..."
        if not regexp.match(value):
            raise ConfigError(f"{self.what}: {_at(node)}: {shown} is not a YAML 1.2 {kind}")
        try:
            return convert(value)
        except ValueError:  # more digits than sys.get_int_max_str_digits()
            raise ConfigError(
                f"{self.what}: {_at(node)}: {shown} has too many digits ({len(value):,})"
            ) from None

    def construct_core_map(self, node: MappingNode):
        data: dict[str, Any] = {}
        yield data
        firsts: dict[str, Node] = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node) if isinstance(key_node, ScalarNode) else None
            if not isinstance(key, str):
                shown = (
                    f"{key_node.value!r} is {type(key).__name__}"
                    if isinstance(key_node, ScalarNode)
                    else f"is a {_KIND[type(key_node)]}"
                )
                raise ConfigError(
                    f"{self.what}: {_at(key_node)}: mapping key {shown}, not a string; "
                    "keys must be strings"
                )
            if key in firsts:
                again = "again through an alias" if key_node is firsts[key] else _at(key_node)
                raise ConfigError(
                    f"{self.what}: duplicate key {key!r} at {_at(firsts[key])} and {again}; "
                    "give each key once"
                )
            firsts[key] = key_node
            data[key] = self.construct_object(value_node)


def _to_int(value: str) -> int:
    return int(value, 10) if _DEC_RE.match(value) else int(value[2:], 8 if value[1] == "o" else 16)


def _to_float(value: str) -> float:
    if _INF_RE.match(value):
        return -math.inf if value[0] == "-" else math.inf
    return math.nan if _NAN_RE.match(value) else float(value)


#: core-schema scalar tag -> (its regexp, the conversion, the first characters it may have);
#: registered in this order, and the first match wins: int before float
_SCALARS = {
    "null": (_NULL_RE, lambda value: None, ["~", "n", "N", ""]),
    "bool": (_BOOL_RE, lambda value: value in ("true", "True", "TRUE"), list("tTfF")),
    "int": (_INT_RE, _to_int, list("-+0123456789")),
    "float": (_FLOAT_RE, _to_float, list("-+.0123456789")),
}
for _tag, (_regexp, _, _first) in _SCALARS.items():
    _Loader.add_implicit_resolver(_CORE + _tag, _regexp, _first)
    _Loader.add_constructor(_CORE + _tag, _Loader.construct_core_scalar)
_Loader.add_constructor(_CORE + "str", yaml.SafeLoader.construct_yaml_str)
_Loader.add_constructor(_CORE + "seq", yaml.SafeLoader.construct_yaml_seq)
_Loader.add_constructor(_CORE + "map", _Loader.construct_core_map)


class _Dumper(yaml.SafeDumper):
    """PyYAML's safe dumper that also quotes strings YAML 1.2 would not read
    as strings (``1e3``, ``0o17``), keeping its YAML 1.1 quoting too."""


for _tag in ("int", "float"):
    _Dumper.add_implicit_resolver(_CORE + _tag, _SCALARS[_tag][0], _SCALARS[_tag][2])


def load_yaml(text: str, *, what: str) -> Any:
    """The plain data of one YAML document, read under the YAML 1.2 core schema.

    ``what`` (a file name or an option) starts every error message. Raises
    :class:`ConfigError` (one line) for invalid YAML, duplicate or
    non-string keys, tags beyond the core schema, several documents, a text
    over :data:`MAX_TEXT_CHARS` characters, or aliases expanding to over
    :data:`MAX_YAML_NODES` nodes. An empty document is None.
    """
    _check_size(text, what)
    loader = None
    try:
        loader = _Loader(text, what)
        loader.get_event()  # stream start
        node = None if loader.check_event(yaml.StreamEndEvent) else loader.compose_document()
        if not loader.check_event(yaml.StreamEndEvent):
            extra = loader.get_event()
            raise ConfigError(
                f"{what}: a second YAML document starts at line {extra.start_mark.line + 1}; "
                "give one document only"
            )
        if node is None:
            return None
        _check_nodes(node, what)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{what}: not valid YAML: {_one_line(exc)}") from None
    except RecursionError:
        raise ConfigError(f"{what}: YAML nested too deeply") from None
    finally:
        if loader is not None:
            loader.dispose()


def parse_value(text: str, *, what: str) -> Any:
    """A config value given on the command line, e.g. ``0.5``, ``inf``,
    ``none``, ``[0.0, 0.1]`` or ``{price: 0.3}``.

    ``inf``/``+inf``/``infinity`` and ``-inf`` (any case) are floats, ``none``
    and ``null`` (any case) None; everything else is read by :func:`load_yaml`
    (``1e3`` is 1000.0, ``010`` is 10, ``1:30`` the string '1:30').
    """
    low = text.strip().lower()
    if not low:
        raise ConfigError(
            f"{what}: empty value; give a number, inf, none, a string, [a, list] or {{a: mapping}}"
        )
    if low.startswith("#"):
        raise ConfigError(f"{what}: {text!r} starts with '#', a YAML comment; put it in quotes")
    if low in ("inf", "+inf", "infinity", "+infinity"):
        return math.inf
    if low in ("-inf", "-infinity"):
        return -math.inf
    if low in ("none", "null"):
        return None
    return load_yaml(text, what=what)


def _check_nodes(root: Node, what: str) -> None:
    """Refuse tags beyond the core schema, aliases that refer to themselves,
    and documents over MAX_YAML_NODES nodes with aliases expanded; counted
    without expanding (a shared node's size is computed once)."""
    size: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        children = _children(node)
        if finished:
            total = 1 + sum(size[id(c)] for c in children)
            if total > MAX_YAML_NODES:
                raise _too_many(what, node.start_mark.line + 1)
            size[id(node)] = total
            open_nodes.discard(id(node))
            continue
        if id(node) in size:
            continue
        if id(node) in open_nodes:
            raise ConfigError(f"{what}: {_at(node)}: an alias refers to a node that contains it")
        if node.tag not in _ALLOWED_TAGS[type(node)]:
            allowed = ", ".join(sorted(_shown_tag(t) for t in _ALLOWED_TAGS[type(node)]))
            raise ConfigError(
                f"{what}: {_at(node)}: tag {_shown_tag(node.tag)} is not allowed; tags other "
                f"than the YAML 1.2 core ones ({allowed} on a {_KIND[type(node)]}) are refused"
            )
        open_nodes.add(id(node))
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in size)


def _too_many(what: str, line: int) -> ConfigError:
    return ConfigError(
        f"{what}: line {line}: the YAML holds over {MAX_YAML_NODES:,} values with its aliases "
        f"expanded; at most {MAX_YAML_NODES:,} allowed"
    )


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return node.value
    if isinstance(node, MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _one_line(exc: yaml.YAMLError) -> str:
    """PyYAML's multi-line error message as one line, with line and column."""
    if isinstance(exc, yaml.MarkedYAMLError):
        text = ", ".join(p for p in (exc.context, exc.problem) if p) or "invalid YAML"
        mark = exc.problem_mark or exc.context_mark
        if mark is not None:
            text += f" (line {mark.line + 1}, column {mark.column + 1})"
    elif isinstance(exc, yaml.reader.ReaderError) and isinstance(exc.character, int):
        text = f"unacceptable character #x{exc.character:04x} at position {exc.position}"
        text += f": {exc.reason}"
    else:
        text = str(exc)
    return " ".join(text.split())
