"""A saved market result under attack: missing, swapped, corrupted or
emptied files are found on load (checksums.json), each named in one line."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from simulator import MarketConfig, SimulationResult, run

FILES = ["metrics.parquet", "labels.parquet", "dataset.parquet", "summary.json", "config.yaml"]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("result") / "r"
    run(MarketConfig(n_annotators=10, rounds=2, tasks_per_round=5, bidders_per_task=4)).save(folder)
    return folder


@pytest.fixture
def copy(saved, tmp_path):
    return shutil.copytree(saved, tmp_path / "r")


def test_a_saved_result_loads_and_matches(copy):
    back = SimulationResult.load(copy)
    assert back.summary["spend"] > 0 and json.loads((copy / "checksums.json").read_text())


@pytest.mark.parametrize("name", FILES)
@pytest.mark.parametrize("damage", ["missing", "directory", "flip", "empty", "appended"])
def test_every_damaged_file_is_named(copy, name, damage):
    path = copy / name
    data = path.read_bytes()
    if damage == "missing":
        path.unlink()
    elif damage == "directory":
        path.unlink()
        path.mkdir()
    elif damage == "flip":
        path.write_bytes(data[:20] + bytes([data[20] ^ 0x01]) + data[21:])
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        path.write_bytes(data + b"\n")
    with pytest.raises(ValueError, match=re.escape(name)) as exc:
        SimulationResult.load(copy)
    assert "\n" not in str(exc.value)


def test_swapped_tables_are_found(copy):
    a, b = copy / "metrics.parquet", copy / "labels.parquet"
    a.rename(copy / "tmp")
    b.rename(a)
    (copy / "tmp").rename(b)
    with pytest.raises(ValueError, match="changed since"):
        SimulationResult.load(copy)


@pytest.mark.parametrize("text", ["", "{", "[]", '{"metrics.parquet": 3}'])
def test_a_broken_checksum_file_is_refused(copy, text):
    (copy / "checksums.json").write_text(text)
    with pytest.raises(ValueError, match="checksum"):
        SimulationResult.load(copy)


def test_a_result_saved_before_checksums_loads_with_a_warning(copy):
    (copy / "checksums.json").unlink()
    with pytest.warns(UserWarning, match="without checksums"):
        SimulationResult.load(copy)
    (copy / "config.yaml").write_text("")  # and an empty config is still refused
    with pytest.raises(ValueError, match=r"config\.yaml"), pytest.warns(UserWarning):
        SimulationResult.load(copy)


def test_not_a_result(tmp_path):
    for where in [tmp_path / "nothing", tmp_path]:
        with pytest.raises(ValueError, match="not a saved result"):
            SimulationResult.load(where)
