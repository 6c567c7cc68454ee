"""MarketConfig: defaults, validation rules, file round-trips, safe loading."""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import tomllib
import types

import numpy as np
import pytest

import mechanisms
from simulator.market.config import ConfigError, MarketConfig


def test_defaults_validate():
    cfg = MarketConfig()
    assert cfg.mechanism in mechanisms.available()
    assert cfg.cost == {"dist": "lognormal", "median": 0.25, "sigma": 0.5}
    assert cfg.quality == {"dist": "beta", "a": 7.0, "b": 3.0}
    assert cfg.mix == {"honest": 0.9, "spammer": 0.1, "adversary": 0.0}
    assert cfg.strategies == {"equilibrium": 1.0}
    assert (cfg.k, cfg.n_annotators, cfg.bidders_per_task, cfg.rounds) == (3, 100, 10, 50)
    assert cfg.difficulty == (0.0, 0.1, 0.25)
    assert MarketConfig.from_dict({}) == cfg
    assert MarketConfig.from_dict(cfg.to_dict()) == cfg


def test_frozen_and_defaults_not_shared():
    a, b = MarketConfig(), MarketConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.k = 2  # type: ignore[misc]
    assert a.cost is not b.cost
    params = {"price": 0.3}
    cfg = MarketConfig(mechanism="fixed-price", mechanism_params=params)
    params["price"] = 9.0  # the caller's dict is copied
    assert cfg.mechanism_params == {"price": 0.3}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"budget": -5}, "budget"),
        ({"budget": math.inf}, "budget"),
        ({"budget": 0}, "budget"),
        ({"quality": {"dist": "beta", "a": 0.0, "b": 3.0}}, "quality"),
        ({"quality": {"dist": "beta", "a": 7.0, "b": -1.0}}, "quality"),
        ({"quality": {"dist": "normal", "mean": 0.7}}, "quality"),
        ({"cost": {"dist": "lognormal", "median": -0.1, "sigma": 0.5}}, "cost"),
        ({"cost": {"dist": "lognormal", "median": 0.25}}, "cost"),
        ({"cost": {"dist": "uniform", "low": 0.5, "high": 0.1}}, "cost"),
        ({"correlation": 1.5}, "correlation"),
        ({"mix": {"honest": 0.5, "spammer": 0.1, "adversary": 0.0}}, "mix"),
        ({"mix": {"honest": 0.9, "bot": 0.1}}, "mix"),
        ({"mix": {"honest": 1.1, "spammer": -0.1}}, "mix"),
        ({"strategies": {"truthful": 0.5}}, "strategies"),
        ({"strategy_params": {"truthful": 3}}, "strategy_params"),
        ({"n_annotators": 2}, "n_annotators"),
        ({"k": 11}, "bidders_per_task"),
        ({"k": 0}, "k"),
        ({"mechanism": "dutch"}, "mechanism"),
        ({"mechanism": "fixed-price", "mechanism_params": {"prize": 0.3}}, "mechanism_params"),
        ({"mechanism": "fixed-price", "mechanism_params": {"price": -1.0}}, "mechanism_params"),
        ({"mechanism_params": {"f": object()}}, "mechanism_params"),
        ({"aggregation": "mean"}, "aggregation"),
        ({"quality_estimate": "guess"}, "quality_estimate"),
        ({"gold_rate": 1.0}, "gold_rate"),
        ({"gold_rate": -0.1}, "gold_rate"),
        ({"difficulty": (0.0, 0.7)}, "difficulty"),
        ({"difficulty": ()}, "difficulty"),
        ({"capacity": 0}, "capacity"),
        ({"reserve": -1.0}, "reserve"),
        ({"reserve": math.nan}, "reserve"),
        ({"rounds": 0}, "rounds"),
        ({"rounds": 2.5}, "rounds"),
        ({"n_tasks": 0}, "n_tasks"),
        ({"tasks_per_round": 0}, "tasks_per_round"),
        ({"exit_after": -1}, "exit_after"),
        ({"entry_rate": -0.5}, "entry_rate"),
        ({"incentive_sample": -1}, "incentive_sample"),
        ({"seed": -1}, "seed"),
        ({"seed": True}, "seed"),
    ],
)
def test_validation_names_the_field(changes, field):
    with pytest.raises(ConfigError, match=field):
        MarketConfig(**changes)
    with pytest.raises(ConfigError, match=field):  # replace validates too
        MarketConfig().replace(**changes)


def test_k_above_n_annotators_names_both():
    with pytest.raises(ConfigError) as err:
        MarketConfig(n_annotators=5, bidders_per_task=10, k=6)
    assert "k" in str(err.value) and "n_annotators" in str(err.value)


def test_messages_state_the_range():
    with pytest.raises(ConfigError, match=r"^budget: must be > 0 and finite, got -5$"):
        MarketConfig(budget=-5)
    with pytest.raises(ConfigError, match=r"known mechanisms: .*vickrey"):
        MarketConfig(mechanism="dutch")


def test_unknown_field_in_from_dict_and_replace():
    with pytest.raises(ConfigError, match="budgte") as err:
        MarketConfig.from_dict({"budgte": 10.0})
    assert "valid fields" in str(err.value) and "budget" in str(err.value)
    with pytest.raises(ConfigError, match="budgte"):
        MarketConfig().replace(budgte=10.0)
    with pytest.raises(ConfigError):
        MarketConfig.from_dict([("budget", 10.0)])  # type: ignore[arg-type]


def test_coercion():
    cfg = MarketConfig(
        budget=500,
        reserve=np.float64(0.5),
        correlation=-0.0,
        n_annotators=np.int64(50),
        rounds=20.0,
        difficulty=[0.1, 0.2],
        mix={"honest": 1},
        quality={"dist": "beta", "a": 2, "b": 2},
        cost={"dist": "uniform", "low": 0, "high": 1},
    )
    assert cfg.budget == 500.0 and type(cfg.budget) is float
    assert type(cfg.reserve) is float and type(cfg.n_annotators) is int
    assert cfg.rounds == 20 and type(cfg.rounds) is int
    assert cfg.difficulty == (0.1, 0.2)
    assert cfg.mix == {"honest": 1.0, "spammer": 0.0, "adversary": 0.0}
    assert type(cfg.quality["a"]) is float and type(cfg.cost["low"]) is float
    assert MarketConfig(difficulty=0.2).difficulty == (0.2,)
    # string forms that file formats need
    special = MarketConfig(reserve="inf", rounds="none", n_tasks="None")
    assert math.isinf(special.reserve) and special.rounds is None and special.n_tasks is None


def test_replace_returns_validated_copy():
    cfg = MarketConfig()
    other = cfg.replace(k=2, budget=10)
    assert (other.k, other.budget) == (2, 10.0) and cfg.k == 3
    assert other != cfg


def test_equal_configs_hash_alike():
    a = MarketConfig(mechanism="fixed-price", mechanism_params={"price": 1})
    b = MarketConfig(mechanism="fixed-price", mechanism_params={"price": 1.0})
    assert a == b and hash(a) == hash(b)
    assert len({MarketConfig(), MarketConfig(), MarketConfig(seed=1)}) == 2


def test_to_dict_is_plain_json_data():
    cfg = MarketConfig(strategy_params={"learning": {"grid": (0.1, 0.2)}})
    d = cfg.to_dict()
    assert isinstance(d["difficulty"], list)
    assert d["strategy_params"] == {"learning": {"grid": [0.1, 0.2]}}
    json.dumps(d)
    d["cost"]["median"] = 99.0  # a copy: the config is unchanged
    assert cfg.cost["median"] == 0.25


ROUND_TRIP = MarketConfig(
    mechanism="fixed-price",
    mechanism_params={"price": 0.3},
    reserve=math.inf,
    rounds=None,
    n_tasks=1000,
    budget=250,
    correlation=0.4,
    cost={"dist": "uniform", "low": 0.05, "high": 0.5},
    mix={"honest": 0.7, "spammer": 0.2, "adversary": 0.1},
    difficulty=(0.0, 0.3, 0.5),
    aggregation="dawid-skene",
    quality_estimate="oracle",
    strategy_params={"learning": {"grid": [1, 2.5, 3], "gamma": 0.2, "init": "truthful"}},
    seed=7,
)


@pytest.mark.parametrize("suffix", [".yaml", ".yml", ".toml", ".json", ".JSON"])
@pytest.mark.parametrize("cfg", [MarketConfig(), ROUND_TRIP], ids=["defaults", "special"])
def test_round_trip(tmp_path, suffix, cfg):
    path = tmp_path / "sub" / f"market{suffix}"
    assert cfg.save(path) == path
    back = MarketConfig.load(path)
    assert back == cfg
    assert back.to_dict() == cfg.to_dict()
    assert list(tmp_path.joinpath("sub").iterdir()) == [path]  # no temp file left


def test_file_encodings_of_inf_and_none(tmp_path):
    ROUND_TRIP.save(tmp_path / "c.json")
    data = json.loads((tmp_path / "c.json").read_text())  # strict JSON
    assert data["reserve"] == "inf" and data["rounds"] is None and data["n_tasks"] == 1000
    ROUND_TRIP.save(tmp_path / "c.toml")
    data = tomllib.loads((tmp_path / "c.toml").read_text())
    assert math.isinf(data["reserve"]) and data["rounds"] == "none"
    assert data["mechanism_params"] == {"price": 0.3}


def test_toml_cannot_store_nested_none(tmp_path):
    cfg = MarketConfig(mechanism="myerson", mechanism_params={"value": 1.0, "distribution": None})
    with pytest.raises(ConfigError, match="None"):
        cfg.save(tmp_path / "c.toml")
    assert not (tmp_path / "c.toml").exists()
    assert MarketConfig.load(cfg.save(tmp_path / "c.yaml")) == cfg


def test_save_overwrites(tmp_path):
    path = tmp_path / "c.yaml"
    MarketConfig(seed=1).save(path)
    MarketConfig(seed=2).save(path)
    assert MarketConfig.load(path).seed == 2


def test_partial_file_takes_defaults(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("budget: 50\nk: 2\nreserve: .inf\n")
    assert MarketConfig.load(path) == MarketConfig(budget=50.0, k=2, reserve=math.inf)
    path = tmp_path / "c.toml"
    path.write_text('mechanism = "fixed-price"\n[mechanism_params]\nprice = 0.2\n')
    assert MarketConfig.load(path).mechanism_params == {"price": 0.2}


def test_unknown_suffix(tmp_path):
    with pytest.raises(ConfigError, match=r"\.ini"):
        MarketConfig().save(tmp_path / "c.ini")
    (tmp_path / "c.ini").write_text("k = 3\n")
    with pytest.raises(ConfigError, match=r"\.ini"):
        MarketConfig.load(tmp_path / "c.ini")


def test_unknown_field_in_file(tmp_path):
    path = tmp_path / "c.json"
    path.write_text('{"budget": 10, "colour": "red"}')
    with pytest.raises(ConfigError, match="colour"):
        MarketConfig.load(path)


@pytest.mark.parametrize(
    ("name", "text"),
    [("c.json", "{not json"), ("c.toml", "k = = 3"), ("c.yaml", "k: [1, 2"), ("c.yaml", "- 1\n")],
)
def test_unparsable_files(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError):
        MarketConfig.load(path)


def test_yaml_python_tags_are_refused_not_run(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.yaml"
    path.write_text(f"seed: !!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(ConfigError):
        MarketConfig.load(path)
    assert not marker.exists()


def test_strategy_names_checked_when_registry_exists(monkeypatch):
    fake = types.ModuleType("agents.strategies")
    fake.available = lambda: ["equilibrium", "learning", "shading", "truthful"]
    monkeypatch.setitem(sys.modules, "agents.strategies", fake)
    MarketConfig(strategies={"truthful": 0.5, "shading": 0.5}, strategy_params={"shading": {}})
    with pytest.raises(ConfigError, match=r"strategies: unknown strategy name.*'bluffing'"):
        MarketConfig(strategies={"truthful": 0.5, "bluffing": 0.5})
    with pytest.raises(ConfigError, match="strategy_params: unknown strategy name"):
        MarketConfig(strategy_params={"bluffing": {}})


def test_strategy_names_unchecked_without_registry(monkeypatch):
    monkeypatch.setitem(sys.modules, "agents.strategies", None)  # import fails
    cfg = MarketConfig(strategies={"anything": 1.0}, strategy_params={"anything": {"x": 1}})
    assert cfg.strategies == {"anything": 1.0}
