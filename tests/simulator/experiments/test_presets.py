"""The fixed grids (compare, efficiency, the paper's claims) are presets over
the sweep runner: the same store, resume, run keys and failure reports as any
sweep (simulator.experiments.{compare,efficiency,claims}, sweep.run_grid)."""

from __future__ import annotations

import pandas as pd
import pytest

from simulator import Design, MarketConfig, SweepError, load_results, run, sweep
from simulator.experiments.compare import compare_design, compare_runs
from simulator.experiments.efficiency import efficiency_design
from simulator.experiments.runner import run_key
from simulator.experiments.sweep import run_grid

from .sweep_support import BAD_BUDGET

SMALL = MarketConfig(n_annotators=30, rounds=3, tasks_per_round=15, bidders_per_task=6)


def _manifest_lines(store) -> int:
    return len((store / "manifest.jsonl").read_text().splitlines())


def test_compare_is_a_sweep_design_with_explicit_seeds_and_shared_runs(tmp_path):
    design = compare_design(SMALL, mechanism_names=["vickrey", "first-price"], seeds=2,
                            budgets=[20.0, 40.0])  # fmt: skip
    assert design.replications is None and design.n_runs == 8
    assert sorted({cfg.seed for _, _, cfg in design.runs()}) == [0, 1]
    runs = compare_runs(SMALL, mechanism_names=["vickrey", "first-price"], seeds=2,
                        budgets=[20.0, 40.0], store=tmp_path)  # fmt: skip
    assert len(runs) == 8 and (runs.status == "ok").all()
    # every row is the bare library's market for its config (nothing lost on the way)
    row = runs[(runs.mechanism == "first-price") & (runs.budget == 40.0) & (runs.seed == 1)]
    want = run(SMALL.replace(mechanism="first-price", budget=40.0, seed=1)).summary
    for key in ("spend", "labels_bought", "aggregated_accuracy"):
        assert row[key].iloc[0] == pytest.approx(want[key]), key
    # the store is an ordinary sweep store: sweep(design) into it finds every run done
    n = _manifest_lines(tmp_path)
    outcome = sweep(design, store=tmp_path, executor="sequential")
    assert (outcome.skipped, outcome.ran) == (8, 0)
    # and a rerun of the preset resumes: nothing runs again
    again = compare_runs(SMALL, mechanism_names=["vickrey", "first-price"], seeds=2,
                         budgets=[20.0, 40.0], store=tmp_path)  # fmt: skip
    assert _manifest_lines(tmp_path) == n
    pd.testing.assert_frame_equal(again, runs)


def test_a_grid_returns_only_its_own_runs_in_design_order(tmp_path):
    compare_runs(SMALL, mechanism_names=["vickrey"], seeds=2, store=tmp_path)
    runs = compare_runs(SMALL, mechanism_names=["first-price", "vickrey"], seeds=[1],
                        store=tmp_path)  # fmt: skip
    assert runs.mechanism.tolist() == ["first-price", "vickrey"] and (runs.seed == 1).all()
    assert len(load_results(tmp_path)) == 3  # vickrey seed 1 is one run, stored once


@pytest.mark.parametrize(
    "names, match",
    [([], "at least one"), (["vickrey", "vickrey"], "more than once"), (["dutch"], "unknown")],
)
def test_bad_mechanism_lists_are_refused(names, match):
    with pytest.raises(ValueError, match=match):
        compare_design(SMALL, mechanism_names=names, seeds=1)


def test_a_failed_run_stops_the_grid_naming_its_error(tmp_path):
    design = Design.configs([SMALL.replace(budget=BAD_BUDGET, seed=3), SMALL.replace(seed=4)])
    with pytest.raises(SweepError, match=r"1 of 2 runs failed.*seed 3.*no market at budget") as e:
        run_grid(design, store=tmp_path,
                 run_fn="tests.simulator.experiments.sweep_support:failing_run")  # fmt: skip
    assert any("Traceback" in note for note in e.value.__notes__)
    assert len(load_results(tmp_path)) == 2  # the good run is kept


def test_run_params_reach_the_run_function_and_key_the_run(tmp_path):
    """A run function that returns a mapping is stored (a rerun skips it), and
    its parameters are part of the run's key and of its row."""
    fn = "tests.simulator.experiments.sweep_support:summary_only"
    design = Design.configs([SMALL.replace(seed=5)])
    first = sweep(design, store=tmp_path, executor="sequential", run_fn=fn,
                  run_params={"scale": 2.0})  # fmt: skip
    again = sweep(design, store=tmp_path, executor="sequential", run_fn=fn,
                  run_params={"scale": 2.0})  # fmt: skip
    assert (first.ran, again.ran, again.skipped) == (1, 0, 1)
    other = sweep(design, store=tmp_path, executor="sequential", run_fn=fn,
                  run_params={"scale": 3.0})  # fmt: skip
    assert other.ran == 1
    runs = load_results(tmp_path).sort_values("scaled_spend", ignore_index=True)
    assert runs.scaled_spend.tolist() == pytest.approx([2 * runs.spend[0], 3 * runs.spend[0]])
    assert runs.run_params_json.tolist() == ['{"scale": 2.0}', '{"scale": 3.0}']
    cfg = SMALL.replace(seed=5)
    assert set(runs.run_key) == {run_key(cfg, fn, {"scale": s}) for s in (2.0, 3.0)}
    assert run_key(cfg, fn, {}) == run_key(cfg, fn)  # no parameters: the key it always had
    with pytest.raises(SweepError, match="unexpected keyword"):
        run_grid(design, store=tmp_path / "bad", run_fn=fn, run_params={"bogus": 1})


def test_efficiency_cells_carry_their_trainer_and_only_relevant_settings():
    proxy = efficiency_design(SMALL, mechanism_names=["vickrey"], budgets=[10.0], seeds=1)
    assert proxy.run_params == {"trainer": "proxy"}  # the proxy trains no policy
    dpo = efficiency_design(SMALL, mechanism_names=["vickrey"], budgets=[10.0], seeds=1,
                            trainer="dpo", epochs=1)  # fmt: skip
    assert dpo.run_params["trainer"] == "dpo" and dpo.run_params["epochs"] == 1
    ((_, _, cfg),) = dpo.runs()
    assert cfg.task_source == "taskworld" and cfg.seed == 0
    with pytest.raises(ValueError, match="trainer"):
        efficiency_design(SMALL, trainer="ppo")
    with pytest.raises(ValueError, match=r"TrainSettings\.epochs"):
        efficiency_design(SMALL, trainer="dpo", epochs=0)
