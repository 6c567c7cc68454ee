"""The command line under attack: every config option fed values no field
takes, out-of-range and absurd sizes, broken grid/sweep/report/dashboard
options and broken config files. Each is refused with one line (exit 2),
no traceback, and leaves nothing behind (``--out`` is never created)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from simulator import MarketConfig

from .support import LAUGHS_VALUE, PYTHON_TAG, UNIVERSALLY_BAD, assert_refused, cli, snapshot

FIELDS = [f.name for f in dataclasses.fields(MarketConfig)]


def _opt(name: str) -> str:
    return "--" + name.replace("_", "-")


@pytest.mark.parametrize("value", list(UNIVERSALLY_BAD.values()), ids=list(UNIVERSALLY_BAD))
@pytest.mark.parametrize("field", FIELDS)
def test_every_config_option_refuses_what_no_field_takes(tmp_path, field, value):
    out = tmp_path / "out"
    code, _, err = cli(["simulate", _opt(field), value, "--out", str(out), "--quiet"])
    assert_refused(code, err, _opt(field), field)
    assert not out.exists()


RANGE_ATTACKS = [
    ("n_annotators", "-1"), ("n_annotators", "0"), ("n_annotators", "1e12"),
    ("n_annotators", "2.5"), ("n_annotators", "true"),
    ("bidders_per_task", "0"), ("bidders_per_task", "1e12"), ("bidders_per_task", "-3"),
    ("entry_rate", "1e12"), ("entry_rate", "-1"), ("entry_rate", "inf"),
    ("k", "0"), ("k", "-1"), ("k", "1e12"),
    ("budget", "-5"), ("budget", "0"), ("budget", "inf"), ("budget", "-inf"),
    ("reserve", "-1"), ("reserve", "-inf"),
    ("correlation", "2"), ("correlation", "-1.5"), ("correlation", "inf"),
    ("gold_rate", "1"), ("gold_rate", "-0.1"), ("gold_rate", "1.5"),
    ("spammer_cost", "2"), ("spammer_cost", "-1"),
    ("capacity", "0"), ("capacity", "1e12"),
    ("tasks_per_round", "0"), ("tasks_per_round", "1e12"),
    ("rounds", "0"), ("rounds", "-2"), ("rounds", "1e12"),
    ("n_tasks", "0"), ("n_tasks", "1e15"),
    ("exit_after", "-1"), ("incentive_sample", "-1"), ("incentive_sample", "1e9"),
    ("seed", "-1"), ("seed", "1e30"), ("seed", "0.5"),
    ("bid_cost", "-0.1"), ("bid_cost", "inf"),
    ("difficulty", "[0.6]"), ("difficulty", "[]"), ("difficulty", "-0.1"),
    ("cost", "{dist: lognormal, median: 0.3, sigma: 1000}"),
    ("cost", "{dist: lognormal, median: -1, sigma: 0.5}"),
    ("cost", "{dist: uniform, low: 0.5, high: 0.1}"),
    ("cost", "{dist: uniform, low: 0, high: 1e300}"),
    ("cost", "{dist: cauchy, loc: 0}"),
    ("quality", "{dist: beta, a: 0, b: 1}"), ("quality", "{dist: beta, a: 1}"),
    ("mix", "{honest: 0.5}"), ("mix", "{honest: 2, spammer: -1}"), ("mix", "{robot: 1}"),
    ("strategies", "{truthful: 0.5}"), ("strategies", "{bluffing: 1}"),
    ("strategy_params", "{markup: {zzz: 1}}"), ("strategy_params", "{markup: {m: -1}}"),
    ("strategy_params", "{markup: {m: '0.2'}}"), ("strategy_params", "{learning: {gamma: 5}}"),
    ("strategy_params", "{markup: 3}"),
    ("mechanism", "dutch"), ("mechanism", "VICKREY"),
    ("mechanism_params", "{price: 0.4}"),  # vickrey takes no price
    ("aggregation", "mean"), ("quality_estimate", "psychic"), ("quality_score", "vibes"),
    ("task_source", "internet"),
]  # fmt: skip


@pytest.mark.parametrize("field, value", RANGE_ATTACKS)
def test_out_of_range_and_absurd_sizes_are_refused(tmp_path, field, value):
    out = tmp_path / "out"
    code, _, err = cli(["simulate", _opt(field), value, "--out", str(out), "--quiet"])
    assert_refused(code, err, _opt(field), field)
    assert not out.exists()


def test_typed_parameters_are_one_config(tmp_path):
    """``"0.4"`` is refused where a number belongs, so a store never holds two
    spellings of one run (and never a column of mixed types)."""
    code, _, err = cli(["simulate", "--mechanism", "fixed-price", "--mechanism-params",
                        "{price: '0.4'}", "--quiet"])  # fmt: skip
    assert_refused(code, err, "mechanism_params.price")
    assert MarketConfig(mechanism="fixed-price", mechanism_params={"price": 1}) == MarketConfig(
        mechanism="fixed-price", mechanism_params={"price": 1.0}
    )


GRID_ATTACKS = [
    (["compare", "--seeds", "0"], "--seeds"), (["compare", "--seeds", "-1"], "--seeds"),
    (["compare", "--seeds", "1.5"], "--seeds"), (["compare", "--seeds", "abc"], "--seeds"),
    (["compare", "--seeds", ""], "--seeds"),
    (["efficiency", "--seeds", "0"], "--seeds"),
    (["compare", "--budgets", ",,"], "--budgets"), (["compare", "--budgets", "abc"], "--budgets"),
    (["compare", "--budgets", "-5"], "--budgets"), (["compare", "--budgets", "inf"], "--budgets"),
    (["compare", "--budgets", "nan"], "--budgets"), (["compare", "--budgets", "0"], "--budgets"),
    (["compare", "--budgets", "100,"], "--budgets"),
    (["efficiency", "--budgets", "1e400"], "--budgets"),
    (["compare", "--mechanisms", ","], "mechanisms"),
    (["compare", "--mechanisms", ""], "mechanisms"),
    (["compare", "--mechanisms", "vickrey,vickrey"], "mechanisms"),
    (["compare", "--mechanisms", "dutch"], "mechanisms"),
    (["compare", "--mechanisms", "vickrey,,first-price"], "mechanisms"),
    (["efficiency", "--mechanisms", "vickrey,vickrey"], "mechanisms"),
    (["compare", "--workers", "0"], "--workers"), (["compare", "--workers", "500"], "workers"),
    (["compare", "--workers", "-1"], "--workers"), (["compare", "--workers", "two"], "--workers"),
    (["compare", "--executor", "dask"], "--executor"),
    (["compare", "--executor", ""], "--executor"),
    (["efficiency", "--trainer", "ppo"], "--trainer"),
    (["efficiency", "--epochs", "0"], "epochs"), (["efficiency", "--epochs", "-1"], "epochs"),
    (["efficiency", "--epochs", "1.5"], "--epochs"),
    (["efficiency", "--lr", "1e30"], "lr"), (["efficiency", "--lr", "0"], "lr"),
    (["efficiency", "--lr", "nan"], "lr"), (["efficiency", "--lr", "-1e-5"], "lr"),
    (["efficiency", "--beta", "nan"], "beta"), (["efficiency", "--beta", "inf"], "beta"),
    (["efficiency", "--beta", "0"], "beta"), (["efficiency", "--beta", "-1"], "beta"),
    (["efficiency", "--batch-size", "0"], "batch_size"),
    (["efficiency", "--max-length", "-3"], "max_length"),
    (["efficiency", "--model-name", ""], "model_name"),
    (["compare", "--budget", "1e3", "--k", "0"], "k: must be"),
    (["compare", "--config", "/nonexistent/market.yaml"], "market.yaml"),
]  # fmt: skip


@pytest.mark.parametrize("argv, name", GRID_ATTACKS, ids=[" ".join(a) for a, _ in GRID_ATTACKS])
def test_grid_options_are_checked_before_anything_is_made(tmp_path, argv, name):
    out = tmp_path / "out"
    code, _, err = cli([*argv, "--out", str(out), "--quiet"])
    assert_refused(code, err, name)
    assert not out.exists()


@pytest.mark.parametrize("command", ["compare", "efficiency", "simulate"])
def test_an_out_that_is_a_file_or_holds_other_results_is_never_written(tmp_path, command):
    blocker = tmp_path / "file"
    blocker.write_bytes(b"precious")
    argv = [command, "--rounds", "1", "--n-annotators", "10", "--quiet"]
    if command != "simulate":
        argv += ["--mechanisms", "vickrey", "--budgets", "5", "--seeds", "1"]
    code, _, err = cli([*argv, "--out", str(blocker)])
    assert_refused(code, err, "--out")
    assert blocker.read_bytes() == b"precious"
    other = tmp_path / "other"
    other.mkdir()
    (other / "thesis.tex").write_text("finished work")
    (other / "runs.parquet").write_bytes(b"somebody else's table")
    before = snapshot(other)
    code, _, err = cli([*argv, "--out", str(other)])
    assert_refused(code, err, "--out", "--force")
    assert snapshot(other) == before


def test_force_writes_its_tables_and_keeps_every_other_file(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    argv = ["simulate", "--rounds", "1", "--n-annotators", "10", "--quiet", "--out", str(out)]
    code, _, _ = cli([*argv, "--force"])
    assert code == 0 and (out / "notes.txt").read_text() == "mine"
    assert (out / "checksums.json").exists()
    code, _, _ = cli(argv)  # the same command again: its own outputs, no --force needed
    assert code == 0
    code, _, err = cli([*argv[:-2], "--seed", "3", "--out", str(out)])  # other settings
    assert_refused(code, err, "--out")


SWEEP_FILES = {
    "empty": "",
    "not-a-mapping": "[1, 2, 3]",
    "scalar": "42",
    "unknown-key": "grid: {mechanism: [vickrey]}\nbogus: 1\n",
    "unknown-field": "grid: {colour: [red]}\n",
    "huge-replications": "base: {}\nreplications: 1000000000000\n",
    "zero-replications": "base: {}\nreplications: 0\n",
    "bool-replications": "base: {}\nreplications: true\n",
    "huge-sample": "sample: {n: 1000000000, ranges: {budget: [10, 100]}}\n",
    "zero-sample": "sample: {n: 0, ranges: {budget: [10, 100]}}\n",
    "bad-range": "sample: {n: 4, ranges: {budget: [100, 10]}}\n",
    "huge-grid": "grid: {seed: [" + ",".join(map(str, range(1100))) + "], budget: ["
    + ",".join(str(b) for b in range(1, 1001)) + "]}\nreplications: null\n",
    "laughs-in-description": f"description: {LAUGHS_VALUE}\nbase: {{}}\n",
    "laughs-in-params": f"base: {{mechanism_params: {{x: {LAUGHS_VALUE}}}}}\n",
    "python-tag": f"base: {{budget: {PYTHON_TAG}}}\n",
    "duplicate-key": "base: {budget: 10}\nbase: {budget: 20}\n",
    "duplicate-inner-key": "base: {budget: 10, budget: 20}\n",
    "foreign-run-fn": "base: {}\nrun_fn: os:system\n",
    "this-import": "base: {}\nrun_fn: this:s\n",
    "bad-tables": "base: {}\ntables: [rounds, secrets]\n",
    "tables-string": "base: {}\ntables: rounds\n",
    "description-list": "description: [1]\nbase: {}\n",
    "base-list": "base: [1]\n",
    "grid-scalar": "grid: {budget: 5}\n",
    "grid-empty-list": "grid: {budget: []}\n",
    "configs-and-grid": "configs: [{budget: 5}]\ngrid: {budget: [5]}\n",
    "bad-value": "base: {budget: -5}\n",
    "yaml-1.1-time": "base: {budget: 1:30}\n",
    "malformed": "base: {budget: [1\n",
    "tabs": "base:\n\tbudget: 5\n",
    "two-documents": "base: {}\n---\nbase: {}\n",
    "seed-factor": "grid: {seed: [1, 2]}\nreplications: 2\n",
    "negative-seed": "base: {}\nseed: -1\n",
}  # fmt: skip


@pytest.mark.parametrize("text", list(SWEEP_FILES.values()), ids=list(SWEEP_FILES))
def test_bad_design_files_are_refused_before_anything_runs(tmp_path, text):
    design = tmp_path / "design.yaml"
    design.write_text(text)
    marker = Path("/tmp/vickreyfeedback-pwned")
    marker.unlink(missing_ok=True)
    store = tmp_path / "store"
    code, _, err = cli(["sweep", str(design), "--out", str(store), "--quiet"])
    assert code in (1, 2), err
    assert_refused(code, err, status=code)
    assert not marker.exists()  # no code ran
    assert not (store / "runs").exists()  # nothing ran


SWEEP_OPTIONS = [
    (["--workers", "0"], "--workers"), (["--workers", "500"], "workers"),
    (["--timeout", "0"], "--timeout"), (["--timeout", "-1"], "--timeout"),
    (["--timeout", "nan"], "--timeout"), (["--timeout", "inf"], "--timeout"),
    (["--timeout", "soon"], "--timeout"), (["--replications", "abc"], "--replications"),
    (["--tables", "rounds,secrets"], "tables"), (["--tables", "labels"], "tables"),
    (["--executor", "threads"], "--executor"),
    (["--scheduler", "tcp://127.0.0.1:9", "--executor", "process"], "--scheduler"),
    (["--run-fn", "nomodule_xyz:f"], "run_fn"), (["--run-fn", "os"], "run_fn"),
    (["--scheduler", "tcp://127.0.0.1:9"], "scheduler"),  # nothing listens there
]  # fmt: skip


@pytest.mark.parametrize("extra, name", SWEEP_OPTIONS, ids=[" ".join(e) for e, _ in SWEEP_OPTIONS])
def test_bad_sweep_options_are_refused(tmp_path, extra, name):
    design = tmp_path / "design.yaml"
    design.write_text("base: {rounds: 1, n_annotators: 10}\n")
    code, _, err = cli(["sweep", str(design), "--out", str(tmp_path / "store"), "--quiet", *extra])
    assert_refused(code, err, name, status=code)
    assert code in (1, 2)
    assert not (tmp_path / "store" / "runs").exists()


def test_sweep_paths_that_are_not_designs_or_stores(tmp_path):
    (tmp_path / "d.txt").write_text("base: {}\n")
    for design in ["/nonexistent/d.yaml", str(tmp_path), str(tmp_path / "d.txt")]:
        code, _, err = cli(["sweep", design, "--out", str(tmp_path / "s"), "--quiet"])
        assert_refused(code, err, "design", "d.txt")
    good = tmp_path / "d.yaml"
    good.write_text("base: {rounds: 1, n_annotators: 10}\n")
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    code, _, err = cli(["sweep", str(good), "--out", str(blocker), "--quiet"])
    assert_refused(code, err, "--out")
    home = tmp_path / "home"
    home.mkdir()
    (home / "essay.md").write_text("mine")
    code, _, err = cli(["sweep", str(good), "--out", str(home), "--quiet"])
    assert_refused(code, err, "--out", "--force")
    assert snapshot(home) == {"essay.md": b"mine"}


REPORT_ATTACKS = [
    (["report", "/nonexistent/store"], "store"),
    (["report", "{tmp}/empty"], "store"),
    (["report", "{tmp}/a-file"], "store"),
]


@pytest.mark.parametrize("argv, name", REPORT_ATTACKS, ids=["missing", "empty-dir", "file"])
def test_report_on_what_is_not_a_store(tmp_path, argv, name):
    (tmp_path / "empty").mkdir()
    (tmp_path / "a-file").write_text("x")
    code, _, err = cli([a.replace("{tmp}", str(tmp_path)) for a in argv])
    assert_refused(code, err, name)
    assert list((tmp_path / "empty").iterdir()) == []


DASHBOARD_ATTACKS = [
    (["--port", "-1"], "--port"),
    (["--port", "65536"], "--port"),
    (["--port", "abc"], "--port"),
    (["--port", "1.5"], "--port"),
    (["--host", ""], "--host"),
    (["--host", "a b"], "--host"),
]


@pytest.mark.parametrize(
    "extra, name", DASHBOARD_ATTACKS, ids=[" ".join(e) for e, _ in DASHBOARD_ATTACKS]
)
def test_bad_dashboard_options(extra, name):
    pytest.importorskip("solara")
    code, _, err = cli(["dashboard", *extra])
    assert_refused(code, err, name)


CONFIG_FILES = {
    "missing": None,
    "directory": "DIR",
    "empty.yaml": "",
    "empty-mapping.yaml": "{}",
    "list.yaml": "[1, 2]",
    "unknown.yaml": "colour: red\n",
    "tag.yaml": f"budget: {PYTHON_TAG}\n",
    "laughs.yaml": f"mechanism_params: {{x: {LAUGHS_VALUE}}}\n",
    "duplicate.yaml": "budget: 10\nbudget: 20\n",
    "malformed.yaml": "budget: [1\n",
    "bad.toml": "budget = \n",
    "duplicate.toml": "budget = 1\nbudget = 2\n",
    "bad.json": "{budget: 1}",
    "duplicate.json": '{"budget": 1, "budget": 2}',
    "market.ini": "budget=1\n",
    "binary.yaml": b"\xff\xfe\x00garbage",
    "invalid-value.yaml": "budget: -1\n",
    "time.yaml": "budget: 1:30\n",
}


@pytest.mark.parametrize("name", list(CONFIG_FILES))
def test_bad_config_files_name_the_file(tmp_path, name):
    content = CONFIG_FILES[name]
    path = tmp_path / (name if "." in name else f"{name}.yaml")
    if content == "DIR":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    code, _, err = cli(["simulate", "--config", str(path), "--quiet"])
    assert_refused(code, err, path.name)


def test_a_report_of_unknown_metrics_names_them(tmp_path):
    design = tmp_path / "d.yaml"
    design.write_text(json.dumps({"base": {"rounds": 1, "n_annotators": 10, "tasks_per_round": 5},
                                  "grid": {"budget": [5, 10]}}))  # fmt: skip
    assert cli(["sweep", str(design), "--out", str(tmp_path / "s"), "--quiet"])[0] == 0
    for metrics in ["bogus", "spend,bogus", ",", "budget"]:
        code, _, err = cli(["report", str(tmp_path / "s"), "--metrics", metrics, "--no-figures"])
        assert_refused(code, err, "metrics")


def test_an_out_that_cannot_be_made_is_named(tmp_path):
    code, _, err = cli(["compare", "--out", "/proc/vickreyfeedback-nowhere", "--quiet"])
    assert_refused(code, err, "--out")


def test_results_are_as_readable_as_any_file_the_user_makes(tmp_path):
    """Not 0600 (``mkstemp``'s mode): 0666 less the umask, like ``open()``."""
    from simulator.files import new_file_mode

    out = tmp_path / "r"
    design = tmp_path / "d.yaml"
    design.write_text("base: {n_annotators: 10, rounds: 1, tasks_per_round: 5}\n")
    assert cli(["simulate", "--n-annotators", "10", "--rounds", "1", "--quiet",
                "--out", str(out)])[0] == 0  # fmt: skip
    assert cli(["sweep", str(design), "--out", str(tmp_path / "s"), "--quiet"])[0] == 0
    files = [*out.iterdir(), *(tmp_path / "s").rglob("*.parquet"), tmp_path / "s" / "sweep.json"]
    assert files and {f.stat().st_mode & 0o777 for f in files} == {new_file_mode()}


@pytest.mark.slow
def test_a_module_in_the_working_directory_is_never_imported(tmp_path):
    """``vickreyfeedback sweep`` from a directory holding a ``mesa.py``: neither
    the command nor its pool workers import it (``python -m`` would: Python
    itself puts the working directory first there, before any project code)."""
    import subprocess
    import sys

    (tmp_path / "mesa.py").write_text("open('PWNED', 'w').write('ran')\n")
    lines = [f"  - {{seed: {i}, n_annotators: 10, rounds: 1}}\n" for i in range(6)]
    (tmp_path / "d.yaml").write_text("configs:\n" + "".join(lines))
    command = Path(sys.executable).parent / "vickreyfeedback"
    proc = subprocess.run(
        [str(command), "sweep", "d.yaml", "--out", "s", "--quiet", "--executor", "process",
         "--workers", "2"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert not (tmp_path / "PWNED").exists()


def test_a_folder_with_a_runs_subfolder_is_not_taken_for_a_store(tmp_path):
    """``runs/`` is a common name (TensorBoard, Hydra): without sweep.json or a
    manifest the folder is not a store, and its files are never moved."""
    import pandas as pd

    project = tmp_path / "project"
    (project / "runs").mkdir(parents=True)
    pd.DataFrame({"x": [1]}).to_parquet(project / "runs" / "mydata.parquet")
    before = snapshot(project)
    design = tmp_path / "d.yaml"
    design.write_text("base: {n_annotators: 10, rounds: 1}\n")
    code, _, err = cli(["sweep", str(design), "--out", str(project), "--quiet"])
    assert_refused(code, err, "--out", "--force")
    code, _, err = cli(["report", str(project)])
    assert_refused(code, err, "store")
    assert snapshot(project) == before
