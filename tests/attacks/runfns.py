"""Misbehaving run functions for the attack suite (module level, so pool
workers import them by name)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from simulator.experiments.runfns import run_market

TRIGGER = 7.0
"""The budget at which these functions misbehave; other runs are normal."""


def _normal(config):
    return run_market(config)


def raises(config):
    if config.budget == TRIGGER:
        raise RuntimeError("the run function gave up")
    return _normal(config)


def exits(config):
    if config.budget == TRIGGER:
        raise SystemExit(3)
    return _normal(config)


def interrupts(config):
    if config.budget == TRIGGER:
        raise KeyboardInterrupt
    return _normal(config)


def dies_once(config):
    """``os._exit`` the first time (the marker in $ATTACK_MARKER remembers)."""
    marker = Path(os.environ["ATTACK_MARKER"])
    if config.budget == TRIGGER and not marker.exists():
        marker.write_text("died")
        os._exit(1)
    return _normal(config)


def hangs(config):
    if config.budget == TRIGGER:
        while True:  # a Python-level hang (the timeout interrupts it)
            time.sleep(0.05)
    return _normal(config)


GARBAGE = {
    "none": None,
    "int": 42,
    "string": "done",
    "list": [1, 2, 3],
    "nested": {"spend": {"a": 1}},
    "array": {"spend": [1.0, 2.0]},
    "int-keys": {1: 2.0},
}


def garbage(config, *, kind: str):
    return GARBAGE[kind] if config.budget == TRIGGER else _normal(config)


def mixed_types(config):
    """A number in one run, a string in another."""
    return {"answer": 1.5 if config.seed % 2 else "forty-two", "spend": 0.0}


def slow_with_pid(config):
    """Records its worker's pid, then runs for a while."""
    folder = Path(os.environ["ATTACK_PIDS"])
    (folder / str(os.getpid())).write_text("")
    time.sleep(0.4)
    return {"spend": 0.0}


def fails_when_told(config):
    """Normal, unless $ATTACK_FAIL is set (a run that breaks on a rerun)."""
    if os.environ.get("ATTACK_FAIL"):
        raise RuntimeError("broken on the rerun")
    return _normal(config)


def hangs_stubbornly(config):
    """A hang inside ``except Exception`` (as a model loader might have)."""
    if config.budget == TRIGGER:
        while True:
            try:
                time.sleep(0.05)
            except Exception:
                pass
    return _normal(config)
