"""The paper's claims as presets over the sweep runner (simulator.analysis.claims)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from simulator import MarketConfig, run

SMALL = MarketConfig(n_annotators=30, rounds=3, tasks_per_round=15, bidders_per_task=6)


def test_claim1_rows_are_the_markets_the_library_runs():
    """Claim 1's preset: both arms per seed, each row the proxy's score of the
    bare library market for that arm's config."""
    from rlhf.efficiency import dollar_efficiency
    from simulator.analysis.claims import buy_everything, claim1

    df = claim1(seeds=2, budget=30.0, market=SMALL)
    assert sorted(zip(df.seed, df.arm, strict=True)) == [
        (0, "buy-everything"), (0, "vickrey-feedback"),
        (1, "buy-everything"), (1, "vickrey-feedback"),
    ]  # fmt: skip
    cfg = buy_everything(SMALL.replace(budget=30.0, seed=1, k=2))
    want = dollar_efficiency(run(cfg), trainer="proxy")
    row = df[(df.seed == 1) & (df.arm == "buy-everything")].iloc[0]
    assert row.per_dollar == pytest.approx(want["per_dollar"])
    assert row.n_pairs == want["n_pairs"]


def test_claims_helpers():
    from rlhf.evaluation import distinct_2
    from simulator.analysis.statistics import paired_verdict

    assert distinct_2(["a b c", "a b d"]) == pytest.approx(3 / 4)
    assert paired_verdict(np.array([0.1, 0.2, 0.15]))["verdict"] == "holds"
    assert paired_verdict(np.array([-0.1, -0.2, -0.15]))["verdict"] == "does not hold"
    assert paired_verdict(np.array([-0.1, 0.2, 0.0]))["verdict"] == "inconclusive"


@pytest.mark.parametrize(
    "argv, says",
    [(["--claim", "2", "--train-layers", "-1"], "--train-layers: must be >= 0"),
     (["--claim", "1", "--train-layers", "0"], "--train-layers: only claim 2 fine-tunes"),
     (["--claim", "2", "--seeds", "1"], "--seeds: a paired interval needs at least 2 seeds"),
     (["--claim", "2", "--lr", "0"], "--lr: must be a finite number > 0"),
     (["--claim", "2", "--lr", "nan"], "--lr: must be a finite number > 0"),
     (["--claim", "2", "--lr", "2"], "--lr: must be a finite number > 0"),
     (["--claim", "3", "--lr", "1e-5"], "--lr: only claim 2 fine-tunes")],
)  # fmt: skip
def test_bad_claim_options_stop_before_any_run(argv, says, capsys):
    from simulator.analysis.claims import main

    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2 and says in capsys.readouterr().err


def test_claim2_keys_its_runs_by_the_learning_rate(monkeypatch):
    """The rate is part of each run's key, spelt out: the fast mode's default
    (1e-4) and an explicit 5e-6 are different runs."""
    from simulator.analysis import claims

    seen = []
    monkeypatch.setattr(claims, "run_grid", lambda design, run_params, **kw: seen.append(
        run_params) or pd.DataFrame({"seed": [0], "arm": [run_params["arm"]]}))  # fmt: skip
    claims.claim2(seeds=2)
    claims.claim2(seeds=2, lr=5e-6)
    claims.claim2(seeds=2, train_layers=0)
    assert [p["lr"] for p in seen] == [1e-4, 1e-4, 5e-6, 5e-6, 5e-6, 5e-6]
    with pytest.raises(ValueError, match="lr must be"):
        claims.claim2(seeds=2, lr=-1.0)
