"""Sweeps: designs, executors, the store, resume after a kill, failures as
data and corrupted shards (simulator.experiments)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simulator import Design, MarketConfig, SweepError, load_results, run, sweep
from simulator.experiments.runner import run_key
from simulator.experiments.store import verify_store
from simulator.market.config import ConfigError

from .sweep_support import BAD_BUDGET

ROOT = Path(__file__).resolve().parents[3]
TINY = {
    "task_source": "synthetic",
    "n_annotators": 20,
    "bidders_per_task": 6,
    "rounds": 3,
    "tasks_per_round": 15,
    "bid_cost": 0.0,
    "incentive_sample": 2,
}


def _design(replications: int = 2, budgets=(60.0, 120.0), seed: int = 7) -> Design:
    return Design.grid(
        {"mechanism": ["vickrey", "first-price", "fixed-price"], "budget": list(budgets)},
        base=TINY,
        replications=replications,
        seed=seed,
        name="tiny",
    )


def _comparable(df: pd.DataFrame) -> pd.DataFrame:
    """The table without the wall time and the store's identity, in a fixed order."""
    return df.drop(columns=["elapsed_s", "store_id"]).sort_values("run_key", ignore_index=True)


# ----------------------------------------------------------------- designs


def test_grid_is_the_full_factorial_with_distinct_reproducible_seeds():
    d = _design(replications=3)
    assert len(d) == 6 and d.n_runs == 18
    assert d.factors == ("mechanism", "budget")
    cells = {(c["mechanism"], c["budget"]) for c in d.cells}
    assert len(cells) == 6
    expected = d.seeds()
    # replications are independent draws: distinct, valid seeds, the same in every
    # session, and another design seed gives other ones
    assert len(set(expected)) == 3 and all(0 <= x < 2**63 for x in expected)
    assert _design(replications=3).seeds() == expected
    assert not set(_design(replications=3, seed=8).seeds()) & set(expected)
    runs = list(d.runs())
    assert len(runs) == 18
    # common random numbers: every cell's replication r has the same seed
    for cell, rep, cfg in runs:
        assert cfg.seed == expected[rep]
        assert cfg.mechanism == d.cells[cell]["mechanism"]
        assert cfg.n_annotators == 20


def test_more_replications_keep_the_seeds_of_the_first():
    assert _design(replications=5).seeds()[:2] == _design(replications=2).seeds()


def test_a_changed_mechanism_gets_the_comparison_defaults():
    d = _design()
    fixed = next(cfg for _, _, cfg in d.runs() if cfg.mechanism == "fixed-price")
    assert "price" in fixed.mechanism_params
    vick = next(cfg for _, _, cfg in d.runs() if cfg.mechanism == "vickrey")
    assert vick.mechanism_params == {}
    own = Design.grid(
        {"mechanism": ["fixed-price"], "mechanism_params.price": [0.2, 0.4]}, base=TINY
    )
    assert [own.config(i).mechanism_params["price"] for i in range(2)] == [0.2, 0.4]


def test_a_list_of_grids_is_the_union_of_their_factorials():
    d = Design.grid(
        [{"mechanism": ["vickrey"], "budget": [60, 120]},
         {"mechanism": ["quality-vickrey"], "quality_score": ["accuracy", "informativeness"],
          "budget": [60, 120]}],
        base=TINY,
    )  # fmt: skip
    assert len(d) == 6 and d.factors == ("mechanism", "budget", "quality_score")
    cfgs = [d.config(i) for i in range(6)]
    assert [c.quality_score for c in cfgs if c.mechanism == "vickrey"] == ["accuracy"] * 2
    assert {(c.quality_score, c.budget) for c in cfgs if c.mechanism != "vickrey"} == {
        (q, b) for q in ("accuracy", "informativeness") for b in (60.0, 120.0)
    }


def test_dotted_names_reach_into_dict_fields():
    d = Design.grid({"cost.sigma": [0.3, 0.9]}, base={**TINY, "cost.median": 0.4})
    cfgs = [d.config(i) for i in range(2)]
    assert [c.cost["sigma"] for c in cfgs] == [0.3, 0.9]
    assert all(c.cost["median"] == 0.4 and c.cost["dist"] == "lognormal" for c in cfgs)


@pytest.mark.parametrize("method", ["sobol", "lhs"])
def test_sampled_designs_cover_their_ranges(method):
    ranges = {"correlation": [-0.8, 0.8], "k": [1, 3], "budget": {"low": 10, "high": 1000,
              "log": True}}  # fmt: skip
    d = Design.sample(ranges, 16, method=method, base=TINY, grid={"mechanism": ["vickrey",
                      "quality-vickrey"]}, seed=3)  # fmt: skip
    assert len(d) == 32 and set(d.factors) == {"mechanism", "correlation", "k", "budget"}
    pts = pd.DataFrame(d.cells)
    assert pts.correlation.between(-0.8, 0.8).all()
    assert set(pts.k) <= {1, 2, 3} and len(set(pts.k)) == 3
    assert pts.budget.between(10, 1000).all()
    assert (np.log10(pts.budget) < 2).any() and (np.log10(pts.budget) > 2).any()
    # the same seed gives the same points, another seed others
    again = Design.sample(ranges, 16, method=method, base=TINY, seed=3)
    other = Design.sample(ranges, 16, method=method, base=TINY, seed=4)
    assert [c["correlation"] for c in again.cells] == list(pts.correlation[:16])
    assert [c["correlation"] for c in other.cells] != list(pts.correlation[:16])


def test_a_configs_design_keeps_each_configs_seed_unless_replicated():
    cfgs = [MarketConfig(**TINY, seed=11), MarketConfig(**TINY, mechanism="first-price", seed=12)]
    d = Design.configs(cfgs)
    assert [cfg.seed for _, _, cfg in d.runs()] == [11, 12]
    assert [cfg.mechanism for _, _, cfg in d.runs()] == ["vickrey", "first-price"]
    rep = Design.configs(cfgs, replications=2)
    assert rep.n_runs == 4 and len({cfg.seed for _, _, cfg in rep.runs()}) == 2


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ({"grid": {"budgett": [1, 2]}}, "unknown field"),
        ({"grid": {"budget": [-1]}}, "budget"),
        ({"grid": {"budget": []}}, "non-empty list"),
        ({"grid": {"k": [1]}, "replications": 0}, "replications"),
        ({"grid": {"k": [1]}, "configs": [{}]}, "not both"),
        ({"sample": {"n": 4, "ranges": {"k": [3, 1]}}}, "low < high"),
        ({"sample": {"n": 4, "method": "grid", "ranges": {"k": [1, 3]}}}, "method"),
        ({"grids": {}}, "unknown key"),
    ],
)
def test_bad_designs_are_refused_with_the_reason(spec, match):
    with pytest.raises(ConfigError, match=match):
        Design.from_dict(spec)


@pytest.mark.parametrize(
    "path", sorted((ROOT / "experiments").glob("*.yaml")), ids=lambda p: p.stem
)
def test_the_example_designs_load(path):
    d = Design.load(path)
    assert d.name == path.stem and d.n_runs >= 20 and d.factors
    list(d.runs())  # every config is valid


# --------------------------------------------------------------- executors


@pytest.mark.slow
def test_sequential_process_pool_and_dask_give_identical_tables(tmp_path):
    pytest.importorskip("distributed")
    d = _design()
    seq = sweep(d, store=tmp_path / "seq", executor="sequential")
    pool = sweep(d, store=tmp_path / "pool", executor="process", workers=2)
    dask = sweep(d, store=tmp_path / "dask", executor="local-dask", workers=2)
    assert (seq.ran, pool.ran, dask.ran) == (12, 12, 12)
    assert pool.executor == "process x2" and dask.executor == "local-dask x2"
    a, b, c = (_comparable(load_results(tmp_path / n)) for n in ("seq", "pool", "dask"))
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(a, c)
    ra, rb = (
        load_results(tmp_path / n, table="rounds").sort_values(["run_key", "round"],
                                                               ignore_index=True)
        for n in ("seq", "dask")
    )  # fmt: skip
    pd.testing.assert_frame_equal(ra, rb)


def test_a_stored_run_matches_a_bare_run(tmp_path):
    d = _design(replications=1)
    sweep(d, store=tmp_path, executor="sequential")
    runs = load_results(tmp_path)
    rounds = load_results(tmp_path, table="rounds")
    cell, rep, cfg = next(iter(d.runs()))
    bare = run(cfg)
    row = runs[(runs.cell == cell) & (runs.replication == rep)].iloc[0]
    assert row.run_key == run_key(cfg)
    assert row.status == "ok" and pd.isna(row.error)
    assert row.seed == cfg.seed and row.mechanism == cfg.mechanism
    assert MarketConfig.from_dict(json.loads(row.config_json)) == cfg
    for k in ("spend", "labels_bought", "aggregated_accuracy", "dollars_per_correct"):
        assert row[k] == pytest.approx(bare.summary[k], nan_ok=True)
    assert row.rounds_run == bare.summary["rounds"]
    mine = rounds[rounds.run_key == row.run_key].drop(
        columns=["run_key", "cell", "replication", "seed", "mechanism", "budget"]
    )
    pd.testing.assert_frame_equal(mine.reset_index(drop=True), bare.metrics, check_dtype=False)
    # one row per (cell, replication); rounds carry the factor columns
    assert not runs.duplicated(["cell", "replication"]).any()
    assert {"mechanism", "budget", "round", "mean_price"} <= set(rounds.columns)


def test_rerunning_skips_what_is_stored_and_more_replications_add_runs(tmp_path):
    first = sweep(_design(replications=2), store=tmp_path, executor="sequential")
    again = sweep(_design(replications=2), store=tmp_path, executor="sequential")
    assert (first.ran, again.ran, again.skipped) == (12, 0, 12)
    before = load_results(tmp_path)
    more = sweep(_design(replications=3), store=tmp_path, executor="sequential")
    assert (more.skipped, more.ran) == (12, 6)
    after = load_results(tmp_path)
    assert len(after) == 18
    kept = after[after.run_key.isin(before.run_key)]
    pd.testing.assert_frame_equal(_comparable(kept), _comparable(before), check_exact=True)


def test_run_functions_must_be_importable(tmp_path):
    with pytest.raises(SweepError, match="not importable"):
        sweep(_design(), store=tmp_path, run_fn=lambda cfg: run(cfg))


def test_stores_written_before_the_sub_packages_keep_their_run_keys():
    """The default run function is stored as ``simulator.sweeps:run_market``
    (the name is part of every run key), whether named or passed as a function,
    and the compatibility module still exports the run functions and the API."""
    import simulator.sweeps as compat
    from simulator.experiments.runfns import DEFAULT_RUN_FN, _fn_name, market_with_efficiency
    from simulator.experiments.runfns import run_market as moved_run_market

    assert DEFAULT_RUN_FN == "simulator.sweeps:run_market"
    assert _fn_name(None) == _fn_name(moved_run_market) == _fn_name(compat.run_market)
    assert _fn_name(compat.run_market) == DEFAULT_RUN_FN
    assert _fn_name(market_with_efficiency) == "simulator.sweeps:market_with_efficiency"
    assert _fn_name("simulator.sweeps:market_with_efficiency") == _fn_name(market_with_efficiency)
    # the key of this run as the flat simulator/sweeps.py computed it
    config = MarketConfig(task_source="synthetic", rounds=3, seed=5)
    assert run_key(config) == "3faafaf3b7604dbc1677"
    assert (compat.sweep, compat.load_results, compat.Design) == (sweep, load_results, Design)


# ------------------------------------------------------------------ failures


def test_a_run_that_raises_is_recorded_and_the_others_complete(tmp_path):
    d = _design(replications=2, budgets=(60.0, BAD_BUDGET))
    out = sweep(d, store=tmp_path, executor="process", workers=2,
                run_fn="tests.simulator.experiments.sweep_support:failing_run")  # fmt: skip
    assert (out.ran, out.failed) == (12, 6)
    runs = load_results(tmp_path)
    bad = runs[runs.budget == BAD_BUDGET]
    good = runs[runs.budget != BAD_BUDGET]
    assert (bad.status == "error").all() and (good.status == "ok").all()
    assert bad.error.str.contains("ValueError: no market at budget 123").all()
    assert bad.traceback.str.contains("failing_run").all()
    assert bad.spend.isna().all() and good.spend.notna().all()
    # failures are data: a plain rerun keeps them, --retry-failed runs them again
    again = sweep(d, store=tmp_path, executor="sequential",
                  run_fn="tests.simulator.experiments.sweep_support:failing_run")  # fmt: skip
    assert again.ran == 0
    retry = sweep(d, store=tmp_path, executor="sequential", retry_failed=True,
                  run_fn="tests.simulator.experiments.sweep_support:failing_run")  # fmt: skip
    assert (retry.ran, retry.failed) == (6, 6)
    assert len(load_results(tmp_path)) == 12


def test_a_worker_killed_mid_run_stops_the_sweep_and_a_rerun_completes(tmp_path, monkeypatch):
    monkeypatch.setenv("SWEEP_CRASH_MARKER", str(tmp_path / "crashed"))
    d = _design(replications=3, budgets=(60.0, BAD_BUDGET))
    fn = "tests.simulator.experiments.sweep_support:crash_once"
    with pytest.raises(SweepError, match="worker process died"):
        sweep(d, store=tmp_path / "store", executor="process", workers=2, run_fn=fn)
    stored = _files(tmp_path / "store")
    assert (tmp_path / "crashed").exists()
    out = sweep(d, store=tmp_path / "store", executor="process", workers=2, run_fn=fn)
    runs = load_results(tmp_path / "store")
    assert len(runs) == d.n_runs and (runs.status == "ok").all()
    assert not runs.duplicated(["cell", "replication"]).any()
    assert out.skipped + out.ran == d.n_runs and out.ran >= 1
    for rel, data in stored.items():  # finished before the kill: untouched
        assert (tmp_path / "store" / rel).read_bytes() == data


def _files(store: Path) -> dict[str, bytes]:
    """The run shards the manifest lists, with their bytes."""
    out = {}
    for line in (store / "manifest.jsonl").read_text().splitlines():
        for rel in json.loads(line)["files"]:
            out[rel] = (store / rel).read_bytes()
    return out


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_a_killed_sweep_resumes_with_one_row_per_run(tmp_path, sig):
    """Kill the whole sweep (parent and workers: kill -9, or Ctrl-C) mid-way;
    the rerun keeps every stored run byte for byte and runs only the rest."""
    store = tmp_path / "store"
    script = textwrap.dedent(
        f"""
        from simulator import Design, sweep
        d = Design.grid({{"mechanism": ["vickrey", "first-price"], "budget": [60.0, 120.0]}},
                        base={TINY!r}, replications=6, seed=7, name="tiny")
        if __name__ == "__main__":
            try:
                sweep(d, store={str(store)!r}, executor="process", workers=2,
                      run_fn="tests.simulator.experiments.sweep_support:slow_run")
            except KeyboardInterrupt:
                raise SystemExit(130)
        """
    )
    (tmp_path / "job.py").write_text(script)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, str(tmp_path / "job.py")],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    manifest = store / "manifest.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if manifest.exists() and len(manifest.read_text().splitlines()) >= 6:
            break
        if proc.poll() is not None:
            pytest.fail("the sweep ended before it could be killed")
        time.sleep(0.05)
    os.killpg(proc.pid, sig)
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        _, err = proc.communicate()
        pytest.fail(f"the sweep did not stop within 60 s of {sig!r}:\n{err.decode()[-3000:]}")
    if sig == signal.SIGINT:  # Ctrl-C: a clean stop that says how to resume
        assert proc.returncode == 130, err.decode()
        assert "run the same sweep again to resume" in err.decode()
    else:
        assert proc.returncode == -signal.SIGKILL
    stored = _files(store)
    n_stored = len(manifest.read_text().splitlines())
    assert 6 <= n_stored < 24
    d = Design.grid({"mechanism": ["vickrey", "first-price"], "budget": [60.0, 120.0]},
                    base=TINY, replications=6, seed=7, name="tiny")  # fmt: skip
    out = sweep(d, store=store, executor="process", workers=2,
                run_fn="tests.simulator.experiments.sweep_support:slow_run")  # fmt: skip
    assert out.skipped >= n_stored and out.skipped + out.ran == 24
    runs = load_results(store)
    assert len(runs) == 24 and (runs.status == "ok").all()
    assert not runs.duplicated(["cell", "replication"]).any()
    for rel, data in stored.items():
        assert (store / rel).read_bytes() == data
    assert not verify_store(store)


# -------------------------------------------------------------- the store


def test_a_truncated_or_altered_shard_is_detected_and_rerun(tmp_path):
    d = _design(replications=1)
    sweep(d, store=tmp_path, executor="sequential")
    keys = sorted(load_results(tmp_path).run_key)
    run_shard = tmp_path / "runs" / f"{keys[0]}.parquet"
    run_shard.write_bytes(run_shard.read_bytes()[:-40])  # truncated
    rounds_shard = tmp_path / "rounds" / f"{keys[1]}.parquet"
    data = bytearray(rounds_shard.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one byte flipped
    rounds_shard.write_bytes(bytes(data))
    assert set(verify_store(tmp_path)) == {keys[0], keys[1]}
    with pytest.raises(SweepError, match="2 run"):
        load_results(tmp_path)
    with pytest.warns(UserWarning, match="corrupted"):
        partial = load_results(tmp_path, on_corrupt="skip")
    assert len(partial) == 4 and not set(partial.run_key) & {keys[0], keys[1]}
    with pytest.warns(UserWarning, match="running it again"):
        out = sweep(d, store=tmp_path, executor="sequential")
    assert (out.repaired, out.ran, out.skipped) == (2, 2, 4)
    assert not verify_store(tmp_path)
    fixed = load_results(tmp_path)
    assert len(fixed) == 6 and (fixed.status == "ok").all()


def test_a_complete_shard_missing_from_the_manifest_is_indexed_not_rerun(tmp_path):
    d = _design(replications=1)
    sweep(d, store=tmp_path, executor="sequential")
    manifest = tmp_path / "manifest.jsonl"
    lines = manifest.read_text().splitlines(keepends=True)
    # the parent was killed after the worker's rename, mid-way through the line
    manifest.write_text("".join(lines[:-1]) + lines[-1][:25])
    with pytest.warns(UserWarning, match="not in the manifest"):
        assert len(load_results(tmp_path)) == 5
    out = sweep(d, store=tmp_path, executor="sequential")
    assert (out.recovered, out.ran) == (1, 0)
    assert len(load_results(tmp_path)) == 6
    # later appends start on a fresh line after the torn one
    assert all(json.loads(x) for x in manifest.read_text().splitlines()[-1:])


def test_an_unreadable_orphan_shard_is_rerun(tmp_path):
    d = _design(replications=1)
    sweep(d, store=tmp_path, executor="sequential")
    manifest = tmp_path / "manifest.jsonl"
    lines = manifest.read_text().splitlines(keepends=True)
    manifest.write_text("".join(lines[:-1]))
    key = json.loads(lines[-1])["key"]
    shard = tmp_path / "runs" / f"{key}.parquet"
    shard.write_bytes(b"PAR1 not really")
    out = sweep(d, store=tmp_path, executor="sequential")
    assert (out.recovered, out.repaired, out.ran) == (0, 1, 1)
    assert len(load_results(tmp_path)) == 6


def test_load_results_refuses_what_is_not_a_store(tmp_path):
    with pytest.raises(SweepError, match="not a sweep store"):
        load_results(tmp_path)
    with pytest.raises(ValueError, match="table"):
        load_results(tmp_path, table="nope")


def test_reading_the_store_with_pyarrow_dataset(tmp_path):
    """The documented layout: runs/*.parquet read as one dataset, with the
    union of the shards' schemas (mechanism_params.price is fixed-price's only)."""
    import pyarrow as pa
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    sweep(_design(replications=1), store=tmp_path, executor="sequential")
    files = sorted((tmp_path / "runs").glob("*.parquet"))
    schema = pa.unify_schemas([pq.read_schema(f) for f in files])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = ds.dataset(files, format="parquet", schema=schema).to_table().to_pandas()
    assert len(table) == 6 and {"mechanism", "budget", "dollars_per_correct"} <= set(table)
    prices = table.set_index("mechanism")["mechanism_params.price"]
    assert prices["fixed-price"].notna().all() and prices["vickrey"].isna().all()
    ours = load_results(tmp_path).set_index("run_key")["mechanism_params.price"]
    pd.testing.assert_series_equal(
        table.set_index("run_key")["mechanism_params.price"].sort_index(), ours.sort_index()
    )


def test_labels_and_dataset_tables_on_demand(tmp_path):
    sweep(_design(replications=1), store=tmp_path, executor="sequential",
          tables=("rounds", "labels", "dataset"))  # fmt: skip
    labels = load_results(tmp_path, table="labels")
    runs = load_results(tmp_path)
    assert set(labels.run_key) == set(runs.run_key)
    assert labels.groupby("run_key").size().to_dict() == runs.set_index(
        "run_key").labels_bought.astype(int).to_dict()  # fmt: skip
    assert len(load_results(tmp_path, table="dataset"))
    with pytest.raises(ValueError, match="tables"):
        sweep(_design(), store=tmp_path / "x", tables=("labels",))


# --------------------------------------------------------- command and report


def test_sweep_and_report_commands(tmp_path, capsys):
    from simulator.app.cli import main

    design = tmp_path / "design.yaml"
    design.write_text(
        "name: cli\nbase: " + json.dumps(TINY) + "\n"
        "grid:\n  mechanism: [vickrey, fixed-price]\n  budget: [60, 120]\n"
        "replications: 3\nseed: 1\n"
    )
    store = tmp_path / "store"
    assert main(["sweep", str(design), "--out", str(store), "--executor", "sequential",
                 "--quiet"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "12 runs in the design: 0 already stored, 12 run now (0 failed)" in out
    assert main(["sweep", str(design), "--out", str(store), "--quiet"]) == 0
    assert "12 already stored, 0 run now" in capsys.readouterr().out
    assert main(["report", str(store)]) == 0
    out = capsys.readouterr().out
    assert "4 cells, 12 runs" in out and "dollars_per_correct" in out
    cells = pd.read_csv(store / "report" / "cells.csv")
    assert len(cells) == 4 and (cells.runs == 3).all()
    runs = load_results(store)
    grp = runs[(runs.mechanism == "vickrey") & (runs.budget == 60)].spend
    row = cells[(cells.mechanism == "vickrey") & (cells.budget == 60)].iloc[0]
    assert row.spend == pytest.approx(grp.mean())
    for name in ("metrics_vs_budget", "rounds_at_budget_120"):
        for ext in ("png", "svg"):
            assert (store / "report" / f"{name}.{ext}").stat().st_size > 1000


def test_report_without_a_numeric_factor_draws_bars(tmp_path):
    from simulator.analysis.report import report

    d = Design.grid({"mechanism": ["vickrey", "first-price"]}, base=TINY, replications=2)
    sweep(d, store=tmp_path / "s", executor="sequential")
    table, paths = report(tmp_path / "s", tmp_path / "r")
    assert len(table) == 2 and (table.runs == 2).all()
    names = {p.name for p in paths}
    assert {"metrics_by_cell.png", "metrics_by_cell.svg", "rounds.png", "rounds.svg"} <= names


def test_report_command_on_a_missing_store(tmp_path, capsys):
    from simulator.app.cli import main

    assert main(["report", str(tmp_path / "nothing")]) == 2
    assert "not a results store" in capsys.readouterr().err
    assert not (tmp_path / "nothing").exists()  # nothing made where there is no store


def test_one_sweep_at_a_time_per_store_and_stale_temp_files_go(tmp_path):
    from simulator.experiments.store import _Store

    with _Store(tmp_path).lock(), pytest.raises(SweepError, match="in use by another sweep"):
        sweep(_design(), store=tmp_path, executor="sequential")
    (tmp_path / "runs").mkdir(exist_ok=True)
    stale = tmp_path / "runs" / ".0123456789abcdef0123.parquet.x1_k9.tmp"  # atomic_write's name
    stale.write_bytes(b"half a shard")
    foreign = tmp_path / "runs" / ".notes.tmp"  # not ours: never touched
    foreign.write_bytes(b"the user's file")
    sweep(_design(replications=1), store=tmp_path, executor="sequential")
    assert not stale.exists() and len(load_results(tmp_path)) == 6
    assert foreign.read_bytes() == b"the user's file"


def test_a_sweep_that_trains_adds_dollar_efficiency(tmp_path):
    """run_fn market_with_efficiency: the proxy's quality gain per dollar in each row."""
    d = Design.grid(
        {"mechanism": ["vickrey", "fixed-price"]},
        base={"n_tasks": 60, "rounds": 2, "tasks_per_round": 30, "n_annotators": 30},
    )
    out = sweep(d, store=tmp_path, executor="sequential",
                run_fn="simulator.sweeps:market_with_efficiency")  # fmt: skip
    runs = load_results(tmp_path)
    assert out.failed == 0 and len(runs) == 2
    for col in ("quality_before", "quality_after", "gain", "per_dollar", "label_accuracy"):
        assert runs[col].notna().all(), col
    assert np.allclose(runs.gain, runs.quality_after - runs.quality_before)
    assert np.allclose(runs.per_dollar, runs.gain / runs.spend)


# ------------------------------------------------- edge cases from review


def test_overlapping_cells_are_refused_before_anything_runs(tmp_path):
    d = Design.grid([{"mechanism": ["vickrey", "first-price"]},
                     {"mechanism": ["vickrey"], "k": [3, 2]}], base=TINY)  # fmt: skip
    with pytest.raises(ConfigError, match="same run"):
        sweep(d, store=tmp_path, executor="sequential")
    assert not (tmp_path / "runs").exists()
    with pytest.raises(ConfigError, match="seed: cannot be a factor"):
        Design.grid({"seed": [1, 2]}, base=TINY, replications=2)


def test_large_seeds_have_their_own_keys():
    a, b = MarketConfig(seed=2**60), MarketConfig(seed=2**60 + 1)
    assert run_key(a) != run_key(b)
    p1 = MarketConfig(mechanism="fixed-price", mechanism_params={"price": 1})
    p2 = MarketConfig(mechanism="fixed-price", mechanism_params={"price": 1.0})
    assert run_key(p1) == run_key(p2)


def test_factors_are_the_dotted_fields_that_vary():
    d = Design.configs([{**TINY, "cost.median": 0.2}, {**TINY, "cost.median": 0.4}])
    assert d.factors == ("cost.median",)
    costs = [{"dist": "uniform", "low": 0.0, "high": h} for h in (1.0, 2.0)]
    whole = Design.grid({"cost": costs}, base=TINY)
    assert whole.factors == ("cost.high",)


def test_default_prices_follow_the_cell(tmp_path):
    d = Design.grid({"cost.median": [0.1, 1.0]}, base={**TINY, "mechanism": "fixed-price"})
    prices = [d.config(i).mechanism_params["price"] for i in range(2)]
    assert prices[0] < 0.2 < prices[1]
    base = {**TINY, "mechanism": "fixed-price", "mechanism_params.price": 0.3}
    own = Design.grid({"cost.median": [0.1, 1.0]}, base=base)
    assert [own.config(i).mechanism_params["price"] for i in range(2)] == [0.3, 0.3]


def test_a_changed_design_rerun_into_the_same_store_reports_its_own_cells(tmp_path):
    from simulator.analysis.report import report

    sweep(_design(replications=2), store=tmp_path, executor="sequential")
    changed = Design.grid(
        {"mechanism": ["vickrey", "first-price", "fixed-price"], "budget": [60.0, 120.0]},
        base={**TINY, "rounds": 2}, replications=2, seed=7, name="tiny",
    )  # fmt: skip
    sweep(changed, store=tmp_path, executor="sequential")
    table, _ = report(tmp_path, tmp_path / "rep", figures=False)
    assert "rounds" in table.columns and len(table) == 12 and (table.runs == 2).all()


def test_the_default_executor_counts_only_this_designs_runs(tmp_path):
    other = Design.grid({"budget": [60.0, 70.0, 80.0]}, base=TINY, name="other")
    sweep(other, store=tmp_path, executor="sequential")
    out = sweep(_design(replications=1), store=tmp_path, workers=2)
    assert out.ran == 6 and out.executor == "process x2"
    assert sweep(_design(replications=1), store=tmp_path).executor == "sequential"


def test_asking_for_more_tables_reruns_the_runs_without_them(tmp_path):
    d = _design(replications=1)
    sweep(d, store=tmp_path, executor="sequential")
    out = sweep(d, store=tmp_path, executor="sequential", tables=("rounds", "labels"))
    assert out.ran == 6
    assert set(load_results(tmp_path, table="labels").run_key) == set(
        load_results(tmp_path).run_key
    )


def test_a_report_of_failed_runs_only_does_not_crash(tmp_path):
    from simulator.analysis.report import report

    d = Design.grid({"budget": [BAD_BUDGET]}, base=TINY, replications=2)
    sweep(d, store=tmp_path, executor="sequential",
          run_fn="tests.simulator.experiments.sweep_support:failing_run")  # fmt: skip
    table, paths = report(tmp_path)
    assert table.failed.sum() == 2 and table.runs.sum() == 0 and paths == []


def test_runs_the_executor_loses_are_not_stored_and_run_next_time(tmp_path, monkeypatch):
    import concurrent.futures as cf

    class LosesTheFirst(cf.Executor):
        lost = False

        def submit(self, fn, /, *args, **kwargs):
            fut = cf.Future()
            if not self.lost:
                self.lost = True
                fut.set_exception(RuntimeError("worker gone"))
            else:
                fut.set_result(fn(*args, **kwargs))
            return fut

    monkeypatch.chdir(tmp_path)
    d = _design(replications=1)
    with pytest.warns(UserWarning, match="lost run"):
        out = sweep(d, store="store", executor=LosesTheFirst())
    assert (out.lost, out.ran) == (1, 5) and out.store.is_absolute()
    assert len(load_results(tmp_path / "store")) == 5
    again = sweep(d, store="store", executor="sequential")
    assert (again.skipped, again.ran) == (5, 1)
