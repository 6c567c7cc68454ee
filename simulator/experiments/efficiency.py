"""Market -> dataset -> training -> evaluation, per mechanism, budget and seed:
the loop behind ``vickreyfeedback efficiency``.

Every cell runs the market on the RLHF task world (the shipped training
pairs, common random numbers across mechanisms for a seed), turns the bought
dataset into preference pairs by the market's aggregated labels, and scores
what they teach with :func:`rlhf.efficiency.dollar_efficiency` on held-out
gold pairs the market never sold. The grid is a sweep design
(:func:`efficiency_design`) run by the sweep runner
(:func:`~simulator.experiments.sweep.run_grid`: store, resume, executors,
progress).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from rlhf.efficiency import TRAINERS
from rlhf.settings import TrainSettings

from ..analysis.statistics import confidence_interval
from ..market.config import MarketConfig
from .compare import check_mechanisms, market_grid
from .design import Design
from .runfns import STORED_MODULE
from .sweep import preset

DEFAULT_MECHANISMS = ("vickrey", "first-price", "fixed-price", "vickrey-feedback")
#: the budgets ($) and seeds per cell of ``vickreyfeedback efficiency``
DEFAULT_BUDGETS = (50.0, 100.0, 200.0, 400.0)
DEFAULT_SEEDS = 3
EFFICIENCY_RUN_FN = f"{STORED_MODULE}:market_with_efficiency"
"""The run function of every efficiency cell (by the name stores keep)."""


def efficiency_design(
    config: MarketConfig,
    *,
    mechanism_names: Sequence[str] = DEFAULT_MECHANISMS,
    budgets: Sequence[float] = DEFAULT_BUDGETS,
    seeds: int | Iterable[int] = DEFAULT_SEEDS,
    trainer: str = "proxy",
    heldout: int | None = None,
    settings: TrainSettings | None = None,
    samples: int = 0,
    **overrides,
) -> Design:
    """The efficiency grid as a sweep design: one task-world market per
    (budget, seed, mechanism), seeds ``0..seeds-1`` (or the ones given), run by
    :func:`~simulator.experiments.runfns.market_with_efficiency` with the
    trainer, the held-out size and (for dpo / qa-dpo) every training setting
    and ``samples`` (held-out prompts whose sampled replies are scored) as its
    ``run_params``."""
    if trainer not in TRAINERS:
        raise ValueError(f"trainer: must be one of {', '.join(TRAINERS)}, got {trainer!r}")
    names = list(mechanism_names)
    check_mechanisms(names)  # before the settings: the first error is the grid's
    settings = (settings or TrainSettings()).replace(**overrides)
    params: dict = {"trainer": trainer}
    if heldout is not None:
        if isinstance(heldout, bool) or not isinstance(heldout, int) or heldout < 1:
            raise ValueError(
                "heldout: must be an integer >= 1 (score on the first n shipped held-out "
                f"pairs), got {type(heldout).__name__}"
            )
        params["heldout"] = heldout
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 0:
        raise ValueError(f"samples: must be an integer >= 0, got {samples!r}")
    if trainer != "proxy":  # the proxy trains no policy: its settings are not part of a run
        params.update(dataclasses.asdict(settings.resolved()))  # lr spelt out
        if samples:
            params["samples"] = samples
    elif samples:
        raise ValueError("samples: the proxy samples no replies (use trainer dpo or qa-dpo)")
    configs = market_grid(config, names, budgets, seeds, task_source="taskworld")
    return dataclasses.replace(
        Design.configs(configs, name=f"efficiency-{trainer}"),
        run_fn=EFFICIENCY_RUN_FN,
        run_params=params,
    )


efficiency_runs = preset(
    efficiency_design,
    "efficiency_runs",
    """One row per (mechanism, budget, seed): market figures and dollar-efficiency.

    ``efficiency_runs(config, *, store=None, executor="sequential", workers=None,
    progress=False, **grid)``: ``grid`` (``mechanism_names``, ``budgets``,
    ``seeds``, ``trainer``, ``heldout``, ``settings`` and single training
    settings such as ``epochs=1``) builds :func:`efficiency_design`, which
    :func:`~simulator.experiments.sweep.run_grid` runs (``store`` keeps the
    runs and a rerun into it resumes; ``executor`` and ``workers`` as for
    :func:`~simulator.experiments.sweep.sweep`).

    Columns: those of :func:`simulator.load_results` (config, seed, status,
    market figures such as spend, labels_bought, tasks_labeled) plus
    label_accuracy (share of bought pairs whose aggregated label is right),
    n_pairs, quality_before, quality_after, gain, per_dollar and trainer.
    """,
)


def budget_curve(
    cells: pd.DataFrame, *, x: str = "spend", y: str = "quality_after", by: str = "mechanism"
) -> pd.DataFrame:
    """Mean and 95% t-interval of ``y`` per (``by``, budget) over seeds
    (:func:`simulator.analysis.statistics.confidence_interval`, non-finite values left
    out), with the mean dollars spent: the data behind a quality-vs-dollars
    figure."""
    rows = []
    for (name, budget), grp in cells.groupby([by, "budget"], sort=True):
        v = grp[y].to_numpy(dtype=float)
        mean, lo, hi = confidence_interval(v[np.isfinite(v)])
        rows.append(
            {by: name, "budget": budget, x: float(grp[x].mean()), y: mean,
             f"{y}_lo": lo, f"{y}_hi": hi, "runs": len(grp)}
        )  # fmt: skip
    return pd.DataFrame(rows)
