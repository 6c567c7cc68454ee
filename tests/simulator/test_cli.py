"""The command line and the mechanism comparison behind ``make run``."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

import mechanisms
from simulator import DemoConfig, compare_mechanisms, mechanism_table
from simulator.cli import main


def test_mechanism_table_lists_every_rule():
    table = mechanism_table()
    assert table["mechanism"].tolist() == mechanisms.available()
    assert not table.loc[table.mechanism == "first-price", "truthful"].item()
    assert table.loc[table.mechanism == "vickrey", "truthful"].item()


def test_compare_uses_common_random_numbers():
    cfg = DemoConfig(tasks=2000, annotators=12, seed=3)
    a, b = compare_mechanisms(cfg), compare_mechanisms(cfg)
    pd.testing.assert_frame_equal(a, b)
    rows = a.set_index("mechanism")
    # same tasks and tie draws: vickrey and budget-feasible (ample budget) coincide
    assert rows.loc["vickrey", "total_paid"] == rows.loc["budget-feasible", "total_paid"]
    # truthful asks: first-price pays exactly the winners' costs
    assert rows.loc["first-price", "annotator_profit"] == pytest.approx(0, abs=1e-9)
    assert (rows["mean_price"] <= cfg.reserve + 1e-12).all()
    assert rows.loc["fixed-price", "mean_price"] == pytest.approx(cfg.fixed_price)


def test_cli_prints_and_writes(tmp_path, capsys):
    assert main(["mechanisms", "--tasks", "500", "--seed", "1", "--out", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    for name in mechanisms.available():
        assert name in text
    table = pd.read_parquet(tmp_path / "comparison.parquet")
    assert len(table) == len(mechanisms.available())
    assert json.loads((tmp_path / "config.json").read_text())["tasks"] == 500
    assert (tmp_path / "comparison.png").stat().st_size > 1000


def test_cli_help_documents_options():
    out = subprocess.run(
        [sys.executable, "-m", "simulator", "mechanisms", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for option in ("--tasks", "--annotators", "--k", "--reserve", "--seed", "--out"):
        assert option in out


def test_bad_demo_config():
    with pytest.raises(ValueError, match="cost_low"):
        DemoConfig(cost_low=0.6, cost_high=0.5)


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
    table = pd.read_csv(tmp_path / "table.csv")
    assert {"aggregated_accuracy_lo", "dollars_per_correct_hi"} <= set(table.columns)
    assert (tmp_path / "accuracy_cost_vs_budget.png").exists()
    assert (tmp_path / "accuracy_cost_vs_budget.svg").exists()


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
            "10",
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
    assert "gain per $" in capsys.readouterr().out
    cells = pd.read_csv(tmp_path / "cells.csv")
    assert len(cells) == 2 and (cells.trainer == "proxy").all()
    assert json.loads((tmp_path / "settings.json").read_text())["trainer"] == "proxy"
    for name in (
        "cells.parquet",
        "curve.csv",
        "config.yaml",
        "quality_vs_dollars.png",
        "quality_vs_dollars.svg",
    ):
        assert (tmp_path / name).exists(), name


def test_every_config_field_has_a_help_text():
    from dataclasses import fields

    from simulator import MarketConfig
    from simulator.cli import _FIELD_HELP

    assert {f.name for f in fields(MarketConfig)} <= set(_FIELD_HELP)
