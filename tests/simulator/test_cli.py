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
