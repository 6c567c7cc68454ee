"""A results store under attack: a tampered manifest, a broken sweep.json,
foreign files, shards copied from another store, corrupted shards. What was
finished is never deleted (a file in the way goes to quarantine/, byte for
byte), nothing outside the store is read, and every error is one line."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import pandas as pd
import pytest

from simulator import Design, MarketConfig, SweepError, load_results, sweep

from .support import assert_refused, cli

TINY = MarketConfig(n_annotators=10, rounds=1, tasks_per_round=5, bidders_per_task=4)


def _design(name: str = "d", budgets=(5.0, 6.0)) -> Design:
    return Design.configs([TINY.replace(budget=b, seed=i) for i, b in enumerate(budgets)],
                          name=name)  # fmt: skip


@pytest.fixture
def store(tmp_path) -> Path:
    sweep(_design(), store=tmp_path / "s", executor="sequential")
    return tmp_path / "s"


def _quiet_load(path, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_results(path, **kw)


def _add_line(store: Path, line: str) -> None:
    with open(store / "manifest.jsonl", "a") as fh:
        fh.write(line + "\n")


def _receipt(store: Path) -> dict:
    return json.loads((store / "manifest.jsonl").read_text().splitlines()[0])


MANIFEST_LINES = {
    "not-json": lambda r: "this is not json",
    "a-list": lambda r: "[1, 2, 3]",
    "no-files": lambda r: json.dumps({k: v for k, v in r.items() if k != "files"}),
    "key-traversal": lambda r: json.dumps({**r, "key": "../../x"}),
    "path-outside": lambda r: json.dumps(
        {**r, "files": {"../outside.parquet": {"sha256": "0" * 64, "bytes": 1}}}),
    "absolute-path": lambda r: json.dumps(
        {**r, "files": {"/etc/passwd": {"sha256": "0" * 64, "bytes": 1}}}),
    "other-key-file": lambda r: json.dumps({**r, "files": {
        f"runs/{'f' * 20}.parquet": {"sha256": "0" * 64, "bytes": 1}}}),
    "bad-sha": lambda r: json.dumps({**r, "files": {
        f"runs/{r['key']}.parquet": {"sha256": "xyz", "bytes": 1}}}),
    "negative-size": lambda r: json.dumps({**r, "files": {
        f"runs/{r['key']}.parquet": {"sha256": "0" * 64, "bytes": -1}}}),
    "bad-status": lambda r: json.dumps({**r, "status": "great"}),
    "string-cell": lambda r: json.dumps({**r, "cell": "0"}),
    "uppercase-key": lambda r: json.dumps({**r, "key": r["key"].upper()}),
}  # fmt: skip


@pytest.mark.parametrize("make", list(MANIFEST_LINES.values()), ids=list(MANIFEST_LINES))
def test_tampered_manifest_lines_are_ignored_with_a_warning(store, tmp_path, make):
    before = _quiet_load(store)
    (tmp_path / "outside.parquet").write_bytes(b"not for you")
    _add_line(store, make(_receipt(store)))
    with pytest.warns(UserWarning, match="not run receipts"):
        after = load_results(store)
    pd.testing.assert_frame_equal(after, before)  # the stored runs, nothing else
    assert (tmp_path / "outside.parquet").read_bytes() == b"not for you"


@pytest.mark.parametrize("text", ["{not json", "[]", '{"schema": 99, "designs": []}',
                                  '{"schema": 1, "designs": 3}', ""])  # fmt: skip
def test_a_broken_sweep_json_is_named(store, text):
    (store / "sweep.json").write_text(text)
    with pytest.raises(SweepError, match=r"sweep\.json"):
        sweep(_design(), store=store, executor="sequential")
    code, _, err = cli(["report", str(store), "--no-figures"])
    assert_refused(code, err, "sweep.json", status=1)


def test_foreign_files_in_a_store_are_moved_aside_never_deleted(store):
    mine = store / "runs" / "my_notes.parquet"
    pd.DataFrame({"x": [1, 2]}).to_parquet(mine)
    data = mine.read_bytes()
    junk = store / "runs" / "0123456789abcdef0123.parquet"
    junk.write_bytes(b"garbage that claims a run key")
    with pytest.warns(UserWarning, match="quarantine"):
        out = sweep(_design(), store=store, executor="sequential")
    assert out.skipped == 2 and out.ran == 0
    assert (store / "quarantine" / "runs" / "my_notes.parquet").read_bytes() == data
    assert (store / "quarantine" / "runs" / junk.name).read_bytes().startswith(b"garbage")
    assert len(_quiet_load(store)) == 2


def test_a_shard_copied_from_another_store_is_not_adopted(tmp_path, store):
    other = tmp_path / "other"
    sweep(_design("e", budgets=(8.0,)), store=other, executor="sequential")
    (key,) = _quiet_load(other).run_key
    shutil.copy(other / "runs" / f"{key}.parquet", store / "runs" / f"{key}.parquet")
    with pytest.warns(UserWarning, match="another store"):
        out = sweep(_design("e", budgets=(8.0,)), store=store, executor="sequential")
    assert out.ran == 1 and out.recovered == 0  # run here, not adopted
    assert (store / "quarantine" / "runs" / f"{key}.parquet").exists()
    runs = _quiet_load(store)
    assert runs.store_id.nunique() == 1 and len(runs) == 3


def test_a_copied_whole_store_still_resumes(tmp_path, store):
    backup = tmp_path / "backup"
    shutil.copytree(store, backup)
    assert sweep(_design(), store=backup, executor="sequential").skipped == 2
    pd.testing.assert_frame_equal(_quiet_load(backup), _quiet_load(store))


@pytest.mark.parametrize("damage", ["truncate", "flip", "directory", "empty"])
def test_a_damaged_shard_is_kept_in_quarantine_and_the_run_redone(store, damage):
    key = _quiet_load(store).run_key.iloc[0]
    shard = store / "rounds" / f"{key}.parquet"
    original = shard.read_bytes()
    if damage == "truncate":
        shard.write_bytes(original[: len(original) // 2])
    elif damage == "flip":
        shard.write_bytes(original[:100] + bytes([original[100] ^ 0xFF]) + original[101:])
    elif damage == "directory":
        shard.unlink()
        shard.mkdir()
    else:
        shard.write_bytes(b"")
    with pytest.raises(SweepError, match=key):
        load_results(store)
    with pytest.warns(UserWarning):
        out = sweep(_design(), store=store, executor="sequential")
    assert out.repaired == 1 and out.ran == 1
    assert shard.read_bytes() == original  # the run is deterministic: the same bytes again
    assert (store / "quarantine" / "rounds" / f"{key}.parquet").exists()
    assert len(load_results(store)) == 2


def test_a_manifest_that_is_a_directory_or_unreadable(store):
    (store / "manifest.jsonl").unlink()
    (store / "manifest.jsonl").mkdir()
    code, _, err = cli(["report", str(store), "--no-figures"])
    assert code in (1, 2) and "Traceback" not in err and len(err.strip().splitlines()) == 1
