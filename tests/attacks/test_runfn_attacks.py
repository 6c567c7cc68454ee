"""Run functions that misbehave: raise, exit, interrupt, die, hang, return
garbage or mixed types. Each outcome is asserted: failures are data, finished
runs are kept, nothing hangs, and pool workers do not outlive their sweep."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from simulator import Design, MarketConfig, SweepError, load_results, sweep

from .runfns import GARBAGE, TRIGGER
from .support import assert_refused, cli

TINY = MarketConfig(n_annotators=10, rounds=1, tasks_per_round=5, bidders_per_task=4)
FN = "tests.attacks.runfns:{}"


def _design(budgets=(5.0, TRIGGER, 9.0)) -> Design:
    return Design.configs([TINY.replace(budget=b, seed=i) for i, b in enumerate(budgets)])


@pytest.mark.parametrize(
    "executor", ["sequential", pytest.param("process", marks=pytest.mark.slow)]
)
@pytest.mark.parametrize("fn, error", [("raises", "RuntimeError: the run function gave up"),
                                       ("exits", "SystemExit: 3")])  # fmt: skip
def test_a_run_that_raises_or_exits_is_a_failed_run(tmp_path, executor, fn, error):
    out = sweep(_design(), store=tmp_path, executor=executor, workers=2, run_fn=FN.format(fn))
    assert (out.ran, out.failed) == (3, 1)
    runs = load_results(tmp_path)
    bad = runs[runs.status == "error"]
    assert bad.budget.tolist() == [TRIGGER] and bad.error.iloc[0] == error
    assert (runs[runs.status == "ok"].spend > 0).all()


def test_a_hanging_run_is_stopped_by_the_timeout(tmp_path):
    out = sweep(_design(), store=tmp_path, executor="sequential", run_fn=FN.format("hangs"),
                timeout=1.0)  # fmt: skip
    runs = load_results(tmp_path)
    assert out.failed == 1
    assert runs[runs.status == "error"].error.iloc[0].startswith("RunTimeout")


@pytest.mark.slow
def test_a_hanging_run_in_a_pool_worker_too(tmp_path):
    # a fresh worker's first run imports the simulator: allow for it
    out = sweep(_design(), store=tmp_path, executor="process", workers=2,
                run_fn=FN.format("hangs"), timeout=20.0)  # fmt: skip
    assert (out.ran, out.failed) == (3, 1)


@pytest.mark.parametrize("kind", list(GARBAGE))
def test_garbage_results_are_failed_runs_that_say_why(tmp_path, kind):
    out = sweep(_design(), store=tmp_path, executor="sequential", run_fn=FN.format("garbage"),
                run_params={"kind": kind})  # fmt: skip
    assert out.failed == 1
    err = load_results(tmp_path).query("status == 'error'").error.iloc[0]
    assert err.startswith("TypeError: run function tests.attacks.runfns:garbage")


def test_mixed_types_across_runs_still_load(tmp_path):
    sweep(_design((1.0, 2.0, 3.0, 4.0)), store=tmp_path, executor="sequential",
          run_fn=FN.format("mixed_types"))  # fmt: skip
    with pytest.warns(UserWarning, match="answer"):
        runs = load_results(tmp_path)
    assert sorted(map(str, runs.answer)) == ["1.5", "1.5", "forty-two", "forty-two"]


@pytest.mark.slow
def test_a_worker_that_dies_stops_the_sweep_and_a_rerun_completes(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTACK_MARKER", str(tmp_path / "marker"))
    design = _design((5.0, TRIGGER, 9.0, 11.0, 13.0, 15.0))
    with pytest.raises(SweepError, match="worker process died"):
        sweep(design, store=tmp_path / "s", executor="process", workers=2,
              run_fn=FN.format("dies_once"))  # fmt: skip
    kept = len(load_results(tmp_path / "s")) if (tmp_path / "s" / "runs").exists() else 0
    out = sweep(design, store=tmp_path / "s", executor="process", workers=2,
                run_fn=FN.format("dies_once"))  # fmt: skip
    assert out.skipped == kept and out.ran == 6 - kept and out.failed == 0


def test_an_interrupting_run_stops_the_sweep_and_keeps_what_finished(tmp_path):
    design = tmp_path / "d.yaml"
    design.write_text("configs:\n" + "".join(
        f"  - {{budget: {b}, seed: {i}, n_annotators: 10, rounds: 1, tasks_per_round: 5}}\n"
        for i, b in enumerate([5.0, 6.0, TRIGGER, 9.0])))  # fmt: skip
    code, _, err = cli(["sweep", str(design), "--out", str(tmp_path / "s"), "--executor",
                        "sequential", "--run-fn", FN.format("interrupts"), "--quiet"])  # fmt: skip
    assert code == 130 and "Traceback" not in err
    assert len(load_results(tmp_path / "s")) == 2  # the two runs before it


def test_a_design_file_cannot_name_code_but_the_user_can(tmp_path):
    design = tmp_path / "d.yaml"
    design.write_text(f"base: {{n_annotators: 10, rounds: 1}}\nrun_fn: {FN.format('raises')}\n")
    code, _, err = cli(["sweep", str(design), "--out", str(tmp_path / "s"), "--quiet"])
    assert_refused(code, err, "run_fn", status=1)
    code, _, err = cli(["sweep", str(design), "--out", str(tmp_path / "s"), "--quiet",
                        "--run-fn", FN.format("raises")])  # fmt: skip
    assert code == 0


@pytest.mark.slow
def test_pool_workers_die_with_a_killed_sweep(tmp_path):
    """``kill -9`` of the sweep: its pool workers notice within about a second
    and stop, instead of running and writing shards for minutes."""
    pids = tmp_path / "pids"
    pids.mkdir()
    script = tmp_path / "run.py"
    script.write_text(
        textwrap.dedent(f"""
        from simulator import Design, MarketConfig, sweep
        if __name__ == "__main__":
            cfgs = [MarketConfig(seed=i) for i in range(400)]
            sweep(Design.configs(cfgs), store={str(tmp_path / "s")!r}, executor="process",
                  workers=2, run_fn="tests.attacks.runfns:slow_with_pid")
    """)
    )
    env = {**os.environ, "ATTACK_PIDS": str(pids), "PYTHONPATH": str(Path.cwd())}
    proc = subprocess.Popen([sys.executable, str(script)], env=env)
    deadline = time.monotonic() + 120
    while len(list(pids.iterdir())) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    workers = [int(p.name) for p in pids.iterdir()]
    assert len(workers) >= 2, "the pool never started"
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    def alive(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        status = Path(f"/proc/{pid}/status")
        return not (status.exists() and "zombie" in status.read_text())

    deadline = time.monotonic() + 15
    while any(alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(p) for p in workers)


def test_a_failed_rerun_to_add_a_table_keeps_the_stored_result(tmp_path, monkeypatch):
    """Asking for a table a stored ok run lacks runs it again; if that rerun
    fails, the stored result stays exactly as it was."""
    fn = FN.format("fails_when_told")
    design = _design((5.0,))
    sweep(design, store=tmp_path, executor="sequential", run_fn=fn)
    shard = next((tmp_path / "runs").glob("*.parquet"))
    before = shard.read_bytes()
    monkeypatch.setenv("ATTACK_FAIL", "1")
    with pytest.warns(UserWarning, match="stored result is kept"):
        out = sweep(design, store=tmp_path, executor="sequential", run_fn=fn,
                    tables=("rounds", "labels"))  # fmt: skip
    assert out.failed == 1 and shard.read_bytes() == before
    assert load_results(tmp_path).status.tolist() == ["ok"]
    monkeypatch.delenv("ATTACK_FAIL")
    out = sweep(design, store=tmp_path, executor="sequential", run_fn=fn,
                tables=("rounds", "labels"))  # fmt: skip
    assert out.ran == 1 and len(load_results(tmp_path, table="labels")) > 0


def test_a_timeout_is_not_swallowed_by_the_runs_own_except_exception(tmp_path):
    out = sweep(_design(), store=tmp_path, executor="sequential",
                run_fn=FN.format("hangs_stubbornly"), timeout=1.0)  # fmt: skip
    err = load_results(tmp_path).query("status == 'error'").error.tolist()
    assert out.failed == 1 and err[0].startswith("RunTimeout")


def test_a_timeout_on_dask_threads_is_refused():
    with pytest.raises(ValueError, match="timeout"):
        sweep(_design(), store="/tmp/never-made", executor="local-dask", timeout=5.0)
    assert not Path("/tmp/never-made").exists()
