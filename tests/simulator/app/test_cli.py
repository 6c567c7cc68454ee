"""The command line and the mechanism comparison behind ``make run``."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import mechanisms
from rlhf.settings import TrainSettings
from simulator import mechanism_table
from simulator.app.cli import main


def test_mechanism_table_lists_every_rule():
    table = mechanism_table()
    assert table["mechanism"].tolist() == mechanisms.available()
    assert not table.loc[table.mechanism == "first-price", "truthful"].item()
    assert table.loc[table.mechanism == "vickrey", "truthful"].item()


def test_mechanisms_command_prints_every_rule_and_its_properties(capsys):
    assert main(["mechanisms"]) == 0
    text = capsys.readouterr().out
    for name in mechanisms.available():
        assert name in text
    assert "truthful" in text and "vickreyfeedback compare" in text


def test_cli_help_documents_options():
    out = subprocess.run(
        [sys.executable, "-m", "simulator", "mechanisms", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "vickreyfeedback compare" in out


def test_simulate_command(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(
        [
            "simulate",
            "--mechanism",
            "first-price",
            "--budget",
            "50",
            "--rounds",
            "3",
            "--seed",
            "2",
            "--k",
            "2",
            "--out",
            str(out),
            "--quiet",
        ]
    )
    assert code == 0
    summary = json.loads(capsys.readouterr().out.split("saved to")[0])
    assert summary["mechanism"] == "first-price" and summary["spend"] <= 50
    from simulator import SimulationResult

    res = SimulationResult.load(out)
    assert res.config.k == 2 and res.config.budget == 50.0


def test_simulate_reads_a_config_file_and_overrides_it(tmp_path, capsys):
    from simulator import MarketConfig

    MarketConfig(
        mechanism="fixed-price", mechanism_params={"price": 0.3}, budget=40.0, rounds=2
    ).save(tmp_path / "c.yaml")
    assert (
        main(
            [
                "simulate",
                "--config",
                str(tmp_path / "c.yaml"),
                "--seed",
                "5",
                "--out",
                str(tmp_path / "o"),
                "--quiet",
            ]
        )
        == 0
    )
    from simulator import SimulationResult

    cfg = SimulationResult.load(tmp_path / "o").config
    assert (cfg.mechanism, cfg.mechanism_params, cfg.seed, cfg.rounds) == (
        "fixed-price",
        {"price": 0.3},
        5,
        2,
    )


def test_bad_config_is_a_clear_error(capsys):
    assert main(["simulate", "--budget", "-5", "--quiet"]) == 2
    assert "budget" in capsys.readouterr().err
    assert main(["simulate", "--mechanism", "dutch", "--quiet"]) == 2
    assert "vickrey" in capsys.readouterr().err


def test_compare_command(tmp_path, capsys):
    code = main(
        [
            "compare",
            "--mechanisms",
            "vickrey,first-price",
            "--seeds",
            "2",
            "--budgets",
            "40,80",
            "--rounds",
            "3",
            "--out",
            str(tmp_path),
            "--quiet",
        ]
    )
    assert code == 0
    text = capsys.readouterr().out
    assert "vickrey" in text and "[" in text  # means with confidence intervals
    runs = pd.read_parquet(tmp_path / "runs.parquet")
    assert len(runs) == 2 * 2 * 2
    # a stored run is the market the library runs for that cell (no drift in the CLI path)
    from simulator import MarketConfig, run

    row = runs[(runs.mechanism == "first-price") & (runs.budget == 80) & (runs.seed == 1)]
    cfg = MarketConfig(mechanism="first-price", budget=80.0, rounds=3, seed=1)
    want = run(cfg).summary
    assert len(row) == 1
    for key in ("labels_bought", "spend", "aggregated_accuracy", "dollars_per_correct"):
        assert row[key].iloc[0] == pytest.approx(want[key]), key
    # the table is the mean and 95% t-interval over seeds, at the last budget
    table = pd.read_csv(tmp_path / "table.csv").set_index("mechanism")
    cell = runs[(runs.mechanism == "vickrey") & (runs.budget == 80)].spend.to_numpy()
    half = stats.t.ppf(0.975, cell.size - 1) * cell.std(ddof=1) / np.sqrt(cell.size)
    assert table.loc["vickrey", "spend"] == pytest.approx(cell.mean())
    assert table.loc["vickrey", "spend_hi"] == pytest.approx(cell.mean() + half)
    for ext, magic in (("png", b"\x89PNG"), ("svg", b"<?xml")):
        data = (tmp_path / f"accuracy_cost_vs_budget.{ext}").read_bytes()
        assert data.startswith(magic) and len(data) > 5_000


@pytest.mark.parametrize("command", ["simulate", "compare"])
def test_help_documents_every_config_field(command):
    from dataclasses import fields

    from simulator import MarketConfig

    out = subprocess.run(
        [sys.executable, "-m", "simulator", command, "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for f in fields(MarketConfig):
        assert f"--{f.name.replace('_', '-')}" in out


def test_efficiency_command(tmp_path, capsys):
    code = main(
        [
            "efficiency",
            "--mechanisms",
            "vickrey",
            "--budgets",
            "10,20",
            "--seeds",
            "2",
            "--n-annotators",
            "30",
            "--out",
            str(tmp_path),
            "--quiet",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "gain per $" in out and "Marginal efficiency" in out and "$10 -> $20" in out
    cells = pd.read_csv(tmp_path / "cells.csv")
    assert len(cells) == 4 and (cells.trainer == "proxy").all()
    # the marginal table: the paired slope between the budgets, per seed
    marginal = pd.read_csv(tmp_path / "marginal.csv")
    wide = cells.pivot(index="seed", columns="budget", values=["spend", "quality_after"])
    slopes = (wide["quality_after"][20.0] - wide["quality_after"][10.0]) / (
        wide["spend"][20.0] - wide["spend"][10.0]
    )
    assert len(marginal) == 1 and marginal.marginal[0] == pytest.approx(slopes.mean())
    settings = json.loads((tmp_path / "settings.json").read_text())
    assert settings["trainer"] == "proxy" and settings["epochs"] == 2  # TrainSettings, whole
    assert set(TrainSettings.names()) <= set(settings)
    for name in (
        "cells.parquet",
        "curve.csv",
        "marginal.csv",
        "config.yaml",
        "quality_vs_dollars.png",
        "quality_vs_dollars.svg",
    ):
        assert (tmp_path / name).exists(), name


def test_every_config_field_carries_its_help_text():
    """The CLI's help comes from each field's own metadata (one copy), and
    name lists in it come from the lists the config validates against."""
    from dataclasses import fields

    from simulator import MarketConfig
    from simulator.market.config import AGGREGATIONS

    for f in fields(MarketConfig):
        assert len(f.metadata.get("help", "")) > 5, f.name
    agg = next(f for f in fields(MarketConfig) if f.name == "aggregation")
    assert all(name in agg.metadata["help"] for name in AGGREGATIONS)


def test_efficiency_training_options_are_checked(capsys):
    """A bad training setting stops the command with one line naming it."""
    code = main(["efficiency", "--epochs", "0", "--quiet", "--out", "/nonexistent/x"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0 and "TrainSettings.epochs" in err


@pytest.mark.parametrize(
    "names, says", [("vickrey,vickrey", "more than once"), (",", "empty name"), ("dutch", "dutch")]
)
def test_a_bad_mechanism_list_is_refused_before_anything_runs(tmp_path, capsys, names, says):
    code = main(["compare", "--mechanisms", names, "--out", str(tmp_path / "o"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and says in err and err.count("\n") == 0
    assert not (tmp_path / "o").exists()


def test_compare_keeps_its_runs_in_a_store_and_a_rerun_resumes(tmp_path, capsys):
    from simulator import load_results

    argv = ["compare", "--mechanisms", "vickrey,first-price", "--seeds", "2", "--budgets",
            "30", "--rounds", "2", "--out", str(tmp_path), "--quiet"]  # fmt: skip
    assert main(argv) == 0
    manifest = (tmp_path / "store" / "manifest.jsonl").read_text()
    stored = load_results(tmp_path / "store")
    assert len(stored) == 4 and set(stored.run_key) == set(
        pd.read_parquet(tmp_path / "runs.parquet").run_key
    )
    first = capsys.readouterr().out
    assert main(argv) == 0  # nothing runs again: the manifest has no new line
    assert (tmp_path / "store" / "manifest.jsonl").read_text() == manifest
    assert capsys.readouterr().out.split("wrote")[0] == first.split("wrote")[0]


def test_an_unusable_out_fails_before_any_run(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    code = main(["compare", "--mechanisms", "vickrey", "--out", str(blocker), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "--out" in err and err.count("\n") == 0


def test_efficiency_with_a_fine_tune_prints_it_beside_the_proxy(tmp_path, capsys):
    """dpo cells (tiny model, fast mode): the fine-tuned model's held-out
    accuracy, the proxy's score of the same pairs, the gold reward of the
    policy's own samples and the reference's, and the KL, per cell."""
    code = main(
        ["efficiency", "--trainer", "dpo", "--model-name", "tiny", "--train-layers", "1",
         "--mechanisms", "vickrey", "--budgets", "10", "--seeds", "2", "--samples", "2",
         "--heldout", "6", "--batch-size", "4", "--epochs", "1", "--n-annotators", "30",
         "--out", str(tmp_path), "--quiet"]
    )  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "The fine-tuned model next to the proxy" in out and "KL" in out
    cells = pd.read_csv(tmp_path / "cells.csv")
    assert len(cells) == 2 and (cells.trainer == "dpo").all()
    for col in ("quality_after", "proxy_after", "gold_reward", "gold_reward_before", "kl"):
        assert cells[col].notna().all(), col
    assert (cells.gold_reward.between(-1.5, 1.0)).all()
    saved = json.loads((tmp_path / "settings.json").read_text())
    assert saved["train_layers"] == 1 and saved["lr"] == 1e-4  # the fast mode's rate, spelt out


def test_efficiency_samples_need_a_fine_tune(tmp_path, capsys):
    code = main(["efficiency", "--samples", "3", "--out", str(tmp_path / "o"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "samples" in err and err.count("\n") == 0
    assert not (tmp_path / "o").exists()
