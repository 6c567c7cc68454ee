"""The command line and the mechanism comparison behind ``make run``."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

import mechanisms
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
