"""experiments/finetuned_tables.py on constructed grids with known answers."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[3]


def _script():
    spec = importlib.util.spec_from_file_location(
        "finetuned_tables", ROOT / "experiments" / "finetuned_tables.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _grid(qa_shift: float, seeds: int = 4) -> dict[str, pd.DataFrame]:
    """Two mechanisms x budgets 25/50/100: accuracy 0.5 + 0.001 x spend (so the
    marginal slope is 1.0 per $1,000 and the average 1.0 too), `b` better than
    `a` by 0.02, seed noise shared by every cell of a seed (common random
    numbers), QA-DPO = DPO + qa_shift."""
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 0.01, seeds)
    out = {}
    for trainer, shift in (("dpo", 0.0), ("qa-dpo", qa_shift)):
        rows = []
        for budget in (25.0, 50.0, 100.0):
            for seed in range(seeds):
                for mech, edge in (("a", 0.0), ("b", 0.02)):
                    spend = budget - 2.0
                    acc = 0.5 + 0.001 * spend + edge + noise[seed] + shift
                    rows.append({
                        "mechanism": mech, "budget": budget, "seed": seed, "status": "ok",
                        "spend": spend, "n_pairs": budget * 2, "label_accuracy": 0.7,
                        "quality_after": acc, "gold_reward": acc + 0.1,
                        "gold_reward_before": acc - 0.1, "kl": 1.0,
                        "distinct_2": 0.9, "proxy_after": acc + 0.1,
                    })  # fmt: skip
        out[trainer] = pd.DataFrame(rows)
    return out


@pytest.fixture
def grid_dir(tmp_path):
    for trainer, df in _grid(qa_shift=0.01).items():
        (tmp_path / trainer).mkdir()
        df.to_parquet(tmp_path / trainer / "cells.parquet", index=False)
    return tmp_path


def test_tables_recover_the_constructed_answers(grid_dir, capsys):
    assert _script().main([str(grid_dir)]) == 0
    text = capsys.readouterr().out
    # marginal and average efficiency: 1.0 per $1,000 exactly (no noise in a slope)
    assert "| 1.00 [1.00, 1.00] |" in text
    # the learning check: $100 - $25 = 0.075 for every seed
    assert "accuracy $100 - $25: +0.075 [+0.075, +0.075]" in text
    # b beats a by 0.02 at every budget; the gold reward beats the reference's by 0.2
    assert "`b` - `a`: +0.020 [+0.020, +0.020]" in text
    assert "gold reward of samples - reference's: +0.200" in text
    # QA-DPO - DPO: +0.01 on every one of the 24 cells -> holds
    assert "held-out accuracy: +0.010 [+0.010, +0.010], n 24" in text
    # the proxy is the accuracy + 0.1: the same ranking
    assert "proxy vs held-out accuracy: rho 1.00" in text
    assert "proxy vs gold reward of samples: rho 1.00" in text


def test_a_missing_grid_is_named(tmp_path):
    with pytest.raises(SystemExit, match=r"no .*dpo/cells\.parquet"):
        _script().main([str(tmp_path)])
