"""YAML 1.2 reading (``load_yaml``, ``parse_value``) and the safety limits of
``simulator.market.formats``.

Expected values come from the YAML 1.2.2 spec, section 10.3 (core schema):
the tag-resolution table of 10.3.2 and its example documents; inputs that
YAML 1.1 (PyYAML's ``safe_load``) reads differently are checked against it
too, so the table shows what changed.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from simulator.market import formats
from simulator.market.config import MarketConfig
from simulator.market.formats import dumps, load_yaml, loads, parse_value
from simulator.market.validation import ConfigError

INF = math.inf
NAN = math.nan
WHAT = "where.yaml"

# ------------------------------------------------------------------ the table

#: (text, the value YAML 1.2's core schema gives it)
CORE_SCHEMA = [
    # null: "null | Null | NULL | ~" and the empty value (spec 10.3.2)
    ("null", None),
    ("Null", None),
    ("NULL", None),
    ("~", None),
    ("", None),
    # bool: "true | True | TRUE | false | False | FALSE"
    ("true", True),
    ("True", True),
    ("TRUE", True),
    ("false", False),
    ("False", False),
    ("FALSE", False),
    # int: "[-+]? [0-9]+", "0o [0-7]+", "0x [0-9a-fA-F]+" (example: 0, 0o7, 0x3A, -19)
    ("0", 0),
    ("0o7", 7),
    ("0x3A", 58),
    ("-19", -19),
    ("+12", 12),
    ("0o17", 15),
    ("0x1f", 31),
    ("010", 10),  # decimal: YAML 1.1 read it as octal 8
    ("08", 8),
    ("0777", 777),
    ("-010", -10),
    # float (example: 0., -0.0, .5, +12e03, -2E+05)
    ("0.", 0.0),
    ("-0.0", -0.0),
    (".5", 0.5),
    ("+12e03", 12000.0),
    ("-2E+05", -200000.0),
    ("1e3", 1000.0),  # YAML 1.1 read it as the string "1e3"
    ("1.5e-3", 0.0015),
    ("3.25", 3.25),
    ("10.", 10.0),
    # .inf / .nan (example: .inf, -.Inf, +.INF, .NAN)
    (".inf", INF),
    ("-.Inf", -INF),
    ("+.INF", INF),
    (".NAN", NAN),
    (".nan", NAN),
    (".NaN", NAN),
    # strings: everything the core schema does not resolve
    ("1:30", "1:30"),  # YAML 1.1: 90 (sexagesimal)
    ("yes", "yes"),  # YAML 1.1: True
    ("no", "no"),
    ("on", "on"),
    ("off", "off"),
    ("y", "y"),
    ("n", "n"),
    ("Yes", "Yes"),
    ("OFF", "OFF"),
    ("0b101", "0b101"),  # YAML 1.1: 5
    ("1_000", "1_000"),  # YAML 1.1: 1000
    ("2001-12-14", "2001-12-14"),  # YAML 1.1: a date
    ("tRUE", "tRUE"),
    ("nULL", "nULL"),
    ("inf", "inf"),
    ("nan", "nan"),
    ("-.nan", "-.nan"),  # .nan takes no sign
    ("0o8", "0o8"),
    ("0X1F", "0X1F"),
    ("-0x1F", "-0x1F"),  # hex and octal take no sign
    ("1e", "1e"),
    ("e3", "e3"),
    ("1.2.3", "1.2.3"),
    ("<<", "<<"),  # no merge keys in YAML 1.2
    ("=", "="),
    # quoted scalars and explicit core tags
    ("'010'", "010"),
    ('"true"', "true"),
    ("'null'", "null"),
    ("!!str 1e3", "1e3"),
    ("!!int '0x10'", 16),
    ("!!float '1'", 1.0),
    ("!!null ''", None),
    ("!!bool 'true'", True),
    # collections
    ("[0.0, 0.1]", [0.0, 0.1]),
    ("{price: 0.3}", {"price": 0.3}),
    ("a: 1e3\nb: [yes, 010, 1:30]\n", {"a": 1000.0, "b": ["yes", 10, "1:30"]}),
    ("- .inf\n- ~\n- off\n", [INF, None, "off"]),
    ("base: &b {x: 1}\nother: *b\n", {"base": {"x": 1}, "other": {"x": 1}}),
    ("# a comment only\n", None),
]


def _same(got: object, want: object) -> bool:
    """Equal and of the same type, NaN equal to NaN, -0.0 told from 0.0."""
    if type(got) is not type(want):
        return False
    if isinstance(want, float):
        if math.isnan(want):
            return math.isnan(got)
        return got == want and math.copysign(1, got) == math.copysign(1, want)
    if isinstance(want, list):
        return len(got) == len(want) and all(map(_same, got, want))
    if isinstance(want, dict):
        return list(got) == list(want) and all(_same(got[k], want[k]) for k in want)
    return got == want


@pytest.mark.parametrize(("text", "want"), CORE_SCHEMA, ids=repr)
def test_core_schema(text, want):
    assert _same(load_yaml(text, what=WHAT), want)


#: inputs PyYAML's YAML 1.1 loader reads as another value than YAML 1.2 does
YAML_11_DIFFERS = ["010", "1e3", "+12e03", "0o7", "1:30", "yes", "no", "on", "off", "0b101"]
YAML_11_DIFFERS += ["1_000", "2001-12-14", "08"]


@pytest.mark.parametrize("text", YAML_11_DIFFERS)
def test_the_table_checks_what_yaml_11_got_wrong(text):
    want = dict(CORE_SCHEMA)[text]
    try:
        old = yaml.safe_load(text)
    except yaml.YAMLError:  # "08": YAML 1.1 tries octal
        old = None
    assert not _same(old, want) and _same(load_yaml(text, what=WHAT), want)


# --------------------------------------------------------------------- errors


def _billion_laughs(levels: int = 9, width: int = 9) -> str:
    lines = [f"a0: &a0 [{', '.join(['lol'] * width)}]"]
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]")
    return "\n".join(lines) + "\n"


#: (text, a fragment of the error message)
REFUSED = [
    ("a: 1\na: 2\n", "duplicate key 'a' at line 1 and line 2"),
    ("x:\n  a: 1\n  b: 2\n  a: 3\n", "duplicate key 'a' at line 2 and line 4"),
    ("{a: 1, a: 2}", "duplicate key 'a'"),
    ("a: 1\n'a': 2\n", "duplicate key 'a' at line 1 and line 2"),
    ("- {k: 1, k: 2}\n", "duplicate key 'k'"),
    ("&k k: 1\n*k : 2\n", "duplicate key 'k' at line 1 and again through an alias"),
    ("1: x\n", "mapping key '1' is int, not a string"),
    ("null: x\n", "is NoneType, not a string"),
    ("true: x\n", "is bool, not a string"),
    ("[a]: x\n", "mapping key is a sequence"),
    ("? {a: 1}\n: x\n", "mapping key is a mapping"),
    ("!!python/object/apply:os.system ['true']", "tag !!python/object/apply:os.system is not"),
    ("!!python/name:os.system", "tag !!python/name:os.system is not allowed"),
    ("a: !!python/object/new:os.system [x]", "tag !!python/object/new:os.system"),
    ("%TAG !! tag:yaml.org,2002:python/\n---\n!!name:os.system\n", "!!python/name:os.system"),
    ("!!binary aGk=", "tag !!binary is not allowed"),
    ("!!timestamp 2001-12-14", "tag !!timestamp is not allowed"),
    ("!!set {a}", "tag !!set is not allowed"),
    ("!foo x", "tag !foo is not allowed"),
    ("a: !!map x", "tag !!map is not allowed"),
    ("!!int 1_000", "'1_000' is not a YAML 1.2 int"),
    ("!!bool yes", "'yes' is not a YAML 1.2 bool"),
    ("!!float 1:30", "'1:30' is not a YAML 1.2 float"),
    ("9" * 5000, "has too many digits (5,000)"),
    ("a\n---\nb\n", "a second YAML document starts at line 2"),
    ("---\na: 1\n---\nb: 2\n", "a second YAML document starts at line 3"),
    ("a: [1, 2", "expected ',' or ']'"),
    ("{a: 1", "line 1"),
    ("a:\n  b: 1\n c: 2\n", "line 3, column 2"),
    ("a:\n\tb: 1\n", "found character '\\t' that cannot start any token (line 2, column 1)"),
    ("a: 'x", "found unexpected end of stream"),
    ("a: b: c", "mapping values are not allowed here (line 1, column 5)"),
    ("*nowhere", "found undefined alias 'nowhere'"),
    ("a: \x00", "unacceptable character #x0000 at position 3"),
    ("&a [*a]", "an alias refers to a node that contains it"),
    (_billion_laughs(), "with its aliases expanded; at most 100,000 allowed"),
    ("[" * 5_000 + "]" * 5_000, "nested too deeply"),
    ("a" * (formats.MAX_TEXT_CHARS + 1), "1,000,001 characters is too long; at most 1,000,000"),
]


def _one_line_naming(exc: pytest.ExceptionInfo, what: str) -> str:
    message = str(exc.value)
    assert "\n" not in message and "\r" not in message
    assert message.startswith(f"{what}: ")
    return message


@pytest.mark.parametrize(("text", "fragment"), REFUSED, ids=lambda x: repr(x)[:40])
def test_refused_with_one_line(text, fragment):
    with pytest.raises(ConfigError) as exc:
        load_yaml(text, what=WHAT)
    assert fragment in _one_line_naming(exc, WHAT)


def test_python_tags_are_never_run(tmp_path):
    marker = tmp_path / "pwned"
    with pytest.raises(ConfigError, match="is not allowed"):
        load_yaml(f"seed: !!python/object/apply:os.system ['touch {marker}']\n", what=WHAT)
    assert not marker.exists()


def test_alias_budget_counts_expanded_nodes(monkeypatch):
    # 1 + 4 * (1 + 3) = 17 nodes once "*x" is expanded four times; the text holds 9
    text = "[&x [1, 2, 3], *x, *x, *x]"
    monkeypatch.setattr(formats, "MAX_YAML_NODES", 17)
    assert load_yaml(text, what=WHAT) == [[1, 2, 3]] * 4
    monkeypatch.setattr(formats, "MAX_YAML_NODES", 16)
    with pytest.raises(ConfigError) as exc:
        load_yaml(text, what=WHAT)
    assert "over 16 values" in _one_line_naming(exc, WHAT)


def test_node_budget_holds_without_aliases(monkeypatch):
    monkeypatch.setattr(formats, "MAX_YAML_NODES", 50)
    assert load_yaml(str(list(range(49))), what=WHAT) == list(range(49))
    with pytest.raises(ConfigError, match="over 50 values"):
        load_yaml(str(list(range(50))), what=WHAT)


def test_a_text_of_the_largest_size_is_read():
    text = "a" * formats.MAX_TEXT_CHARS
    assert load_yaml(text, what=WHAT) == text


# ---------------------------------------------------------------- parse_value

PARSED = [
    ("inf", INF),
    ("+inf", INF),
    ("INF", INF),
    ("Infinity", INF),
    ("-inf", -INF),
    ("-Inf", -INF),
    ("none", None),
    ("None", None),
    ("null", None),
    ("NULL", None),
    ("1e3", 1000.0),
    ("010", 10),
    ("[0.0, 0.1]", [0.0, 0.1]),
    ("{price: 0.3}", {"price": 0.3}),
    ("1:30", "1:30"),
    ("0.5", 0.5),
    (" 3 ", 3),
    ("vickrey", "vickrey"),
    ("yes", "yes"),
]


@pytest.mark.parametrize(("text", "want"), PARSED, ids=repr)
def test_parse_value(text, want):
    assert _same(parse_value(text, what="--budget"), want)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty value"),
        ("   ", "empty value"),
        ("#fff", "starts with '#'"),
        ("{a: 1, a: 2}", "duplicate key 'a'"),
        ("!!python/name:os.system", "is not allowed"),
        ("[1, 2", "not valid YAML"),
    ],
)
def test_parse_value_refuses(text, fragment):
    with pytest.raises(ConfigError) as exc:
        parse_value(text, what="--mechanism-params")
    assert fragment in _one_line_naming(exc, "--mechanism-params")


# ---------------------------------------------------------- loads and dumps


@pytest.mark.parametrize(
    ("fmt", "text", "fragment"),
    [
        ("json", '{"a": 1, "a": 2}', "duplicate key 'a' in a JSON object"),
        ("json", '{"a": {"b": 1, "b": 2}}', "duplicate key 'b' in a JSON object"),
        ("json", "[" * 100_000, "nested too deeply"),
        ("json", " " * formats.MAX_TEXT_CHARS + "{}", "is too long"),
        ("toml", "#" * (formats.MAX_TEXT_CHARS + 1), "is too long"),
        ("yaml", "k: 1\nk: 2\n", "duplicate key 'k'"),
        ("yaml", "k: [1", "not valid YAML"),
    ],
)
def test_loads_refuses(fmt, text, fragment):
    path = Path("dir") / f"c.{fmt}"
    with pytest.raises(ConfigError) as exc:
        loads(text, fmt, path)
    assert fragment in _one_line_naming(exc, str(path))


def test_loads_reads_yaml_12():
    data = loads("budget: 1e3\nk: 010\nreserve: .inf\n", "yaml", Path("c.yaml"))
    assert _same(data, {"budget": 1000.0, "k": 10, "reserve": INF})
    assert loads('{"k": 3, "n": {"k": 4}}', "json", Path("c.json")) == {"k": 3, "n": {"k": 4}}


@pytest.mark.parametrize(
    "cfg",
    [
        MarketConfig(),
        MarketConfig(
            mechanism="fixed-price",
            mechanism_params={"price": 0.3},
            reserve=INF,
            rounds=None,
            n_tasks=1000,
        ),
    ],
    ids=["defaults", "inf-and-none"],
)
def test_market_config_round_trips_through_load_yaml(cfg):
    d = cfg.to_dict()
    text = dumps(d, "yaml")
    back = load_yaml(text, what="config.yaml")
    assert _same(back, d)
    assert MarketConfig.from_dict(back) == cfg
    if math.isinf(d["reserve"]):
        assert "reserve: .inf" in text and back["reserve"] == INF


def test_dumps_quotes_strings_either_yaml_would_misread():
    strings = ["1e3", "0o17", "+12e03", "1.0e5", "yes", "off", "1:30", "010", "null", "~", ""]
    text = dumps({"s": strings, "n": [1e20, -0.5, 7]}, "yaml")
    assert load_yaml(text, what=WHAT) == {"s": strings, "n": [1e20, -0.5, 7]}
    assert yaml.safe_load(text) == {"s": strings, "n": [1e20, -0.5, 7]}  # YAML 1.1 readers too


def test_the_table_is_large_and_distinct():
    inputs = [t for t, _ in CORE_SCHEMA] + [t for t, _ in REFUSED] + [t for t, _ in PARSED]
    assert len(set(inputs)) >= 60
    assert len({t for t, _ in CORE_SCHEMA}) == len(CORE_SCHEMA)
