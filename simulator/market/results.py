"""What one market run produced, and running it.

:func:`run` builds a :class:`~simulator.market.model.MarketModel`, steps it until it
stops (rounds done, budget spent or tasks exhausted) and returns a
:class:`SimulationResult`: tidy pandas tables an analyst can use directly, a
summary of headline figures, and ``save``/``load`` to Parquet + JSON + YAML.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..files import atomic_write, atomic_write_text, sha256_of
from .config import MarketConfig
from .model import MarketModel
from .tasks import TaskSource

TABLES = ("metrics", "labels", "dataset", "responses")
HEADLINES = (
    "labels_bought", "aggregated_accuracy", "dollars_per_correct", "annotator_profit",
    "efficiency", "incentive_gap", "spend",
)  # fmt: skip
"""The summary figures a comparison, a sweep's run table and a report show first."""
RESPONSE_HEADLINES = (
    "pairs", "order_accuracy", "dollars_per_pair", "chosen_reward", "rejected_reward",
    "embedding_diversity", "distinct_2", "provider_profit", "spend",
)  # fmt: skip
"""The same for a response market."""
ALL_HEADLINES = HEADLINES + tuple(h for h in RESPONSE_HEADLINES if h not in HEADLINES)
"""Both markets' headline figures (a frame of runs of both markets)."""


def headlines(market: str | None = "labels") -> tuple[str, ...]:
    """The headline figures of a market (``"labels"`` or ``"responses"``)."""
    return RESPONSE_HEADLINES if market == "responses" else HEADLINES


def headlines_of(runs: pd.DataFrame) -> tuple[str, ...]:
    """The headline figures of a frame of runs: its market's, or both markets'
    where it holds both."""
    markets = set(runs["market"].dropna()) if "market" in runs else {"labels"}
    if markets == {"responses"}:
        return RESPONSE_HEADLINES
    return ALL_HEADLINES if "responses" in markets else HEADLINES


@dataclass
class SimulationResult:
    """The outcome of one run.

    Attributes:
        config: the run's configuration.
        metrics: one row per round (see ``simulator.market.model.METRICS``).
        labels: one row per bought label: round, task, annotator, ask,
            quality_claim, payment, label, true_label, gold.
        dataset: one row per posted task: aggregated label, confidence,
            n_labels, total_paid, true_label, gold (and text columns if any);
            in a response market one row per bought pair (both responses,
            rewards, bids, asks, payments, providers, personas, the order).
        responses: one row per bought response (a response market; empty in
            a label market).
        summary: headline figures of the whole run.
    """

    config: MarketConfig
    metrics: pd.DataFrame
    labels: pd.DataFrame
    dataset: pd.DataFrame
    summary: dict = field(default_factory=dict)
    responses: pd.DataFrame = field(default_factory=pd.DataFrame)

    def save(self, directory: str | os.PathLike) -> Path:
        """Write metrics/labels/dataset as Parquet, summary.json, config.yaml
        and, last, ``checksums.json`` (each file's SHA-256 and size).

        Each file is written to a temporary name and renamed, so an interrupted
        save never leaves a half-written file under the final name, and
        :meth:`load` finds any file changed since.
        """
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        for name in TABLES:
            table: pd.DataFrame = getattr(self, name)
            atomic_write(out / f"{name}.parquet", lambda p, df=table: df.to_parquet(p, index=False))
        summary = json.dumps(jsonable(self.summary), indent=2, sort_keys=True) + "\n"
        atomic_write_text(out / "summary.json", summary)
        self.config.save(out / "config.yaml")
        sums = {f: {"sha256": sha256_of(out / f), "bytes": (out / f).stat().st_size}
                for f in _FILES}  # fmt: skip
        atomic_write_text(out / CHECKSUMS, json.dumps(sums, indent=2, sort_keys=True) + "\n")
        return out

    @classmethod
    def load(cls, directory: str | os.PathLike) -> SimulationResult:
        """Read a result written by :meth:`save`, checking every file against
        ``checksums.json`` first.

        Raises:
            ValueError: one line naming the file that is missing, not a file,
                or changed since it was saved (a result saved before checksums
                existed is read with a warning).
        """
        d = Path(directory)
        if not d.is_dir():
            raise ValueError(f"{d}: not a saved result (not a directory)")
        sums = _read_checksums(d)
        newer = (d / "responses.parquet").exists() or "responses.parquet" in (sums or {})
        files = _FILES if newer else _FILES_BEFORE_RESPONSES
        for f in files:
            if not (d / f).is_file():
                raise ValueError(
                    f"{d}: not a saved result: {f} is "
                    f"{'not a file' if (d / f).exists() else 'missing'}"
                )
        if sums is None:
            warnings.warn(
                f"{d}: saved without checksums (an older version); its files are not verified",
                stacklevel=2,
            )
        else:
            for f in files:
                want, path = sums.get(f), d / f
                if not isinstance(want, dict) or path.stat().st_size != want.get("bytes") or (
                    sha256_of(path) != want.get("sha256")
                ):  # fmt: skip
                    raise ValueError(
                        f"{path}: changed since the result was saved (size or checksum differ "
                        f"from {CHECKSUMS}); the result cannot be trusted"
                    )
        tables = {t: pd.read_parquet(d / f"{t}.parquet") for t in TABLES
                  if (d / f"{t}.parquet").exists()}  # fmt: skip
        summary = json.loads((d / "summary.json").read_text(encoding="utf-8"))
        return cls(config=MarketConfig.load(d / "config.yaml"), summary=summary, **tables)


CHECKSUMS = "checksums.json"
_FILES = (*(f"{t}.parquet" for t in TABLES), "summary.json", "config.yaml")
_FILES_BEFORE_RESPONSES = tuple(f for f in _FILES if f != "responses.parquet")
"""A result saved before the response market had no responses table."""


def _read_checksums(d: Path) -> dict | None:
    path = d / CHECKSUMS
    if not path.exists():
        return None
    try:
        sums = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise ValueError(f"{path}: not a valid checksum file") from None
    if not isinstance(sums, dict):
        raise ValueError(f"{path}: not a valid checksum file")
    return sums


def jsonable(x: Any) -> Any:
    """Plain JSON data, one rule for every file the simulator writes: mappings
    (keys as strings), lists and tuples recursively, numpy scalars as Python
    ones, NaN as null and infinities as the strings ``"inf"`` / ``"-inf"``
    (which ``MarketConfig`` reads back, e.g. ``reserve: inf``)."""
    if isinstance(x, Mapping):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [jsonable(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None if math.isnan(x) else ("inf" if x > 0 else "-inf")
    return x


def summarize(
    model: MarketModel, metrics: pd.DataFrame, labels: pd.DataFrame, dataset: pd.DataFrame
) -> dict:
    """Headline figures of a run."""
    labeled = dataset[dataset.n_labels > 0]
    n_correct = int((labeled.label == labeled.true_label).sum())
    spend = float(labels.payment.sum())
    social = metrics.social_cost.sum() if len(metrics) else 0.0
    cheapest = float((metrics.efficiency * metrics.social_cost).sum()) if len(metrics) else 0.0
    return {
        "mechanism": model.config.mechanism,
        "seed": model.config.seed,
        "rounds": int(model.round),
        "tasks_posted": len(dataset),
        "tasks_labeled": len(labeled),
        "labels_bought": len(labels),
        "spend": spend,
        "budget_left": model.budget_left,
        "raw_accuracy": float((labels.label == labels.true_label).mean())
        if len(labels)
        else math.nan,
        "aggregated_accuracy": n_correct / len(labeled) if len(labeled) else math.nan,
        "correct_aggregated": n_correct,
        "dollars_per_correct": spend / n_correct if n_correct else math.nan,
        "mean_price": spend / len(labels) if len(labels) else math.nan,
        "annotator_profit": float(metrics.profit_total.sum()) if len(metrics) else 0.0,
        "efficiency": float(cheapest / social) if social > 0 else math.nan,
        "incentive_gap": float(metrics.incentive_gap.max()) if len(metrics) else math.nan,
        "mean_markup_final": float(metrics.mean_markup.iloc[-1]) if len(metrics) else math.nan,
        "active_annotators_final": int(metrics.active_annotators.iloc[-1])
        if len(metrics)
        else model.config.n_annotators,
    }


def run(
    config: MarketConfig | None = None, *, tasks: TaskSource | None = None, progress: bool = False
) -> SimulationResult:
    """Run one market to the end and collect its tables.

    Args:
        config: the run's parameters (default ``MarketConfig()``).
        tasks: an optional task source (default: the one the config's
            ``task_source`` names, see :func:`simulator.market.model.default_task_source`).
        progress: show a progress bar over rounds (tqdm).
    """
    config = config or MarketConfig()
    if config.market == "responses":
        if tasks is not None:
            raise ValueError("tasks: a response market posts the provider pool's prompts")
        from .responses import ResponseMarket

        model = ResponseMarket(config)
    else:
        model = MarketModel(config, tasks=tasks)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=config.rounds, unit="round", desc=config.mechanism)
    while model.running:
        before = model.round
        model.step()
        if bar is not None and model.round > before:
            bar.update(1)
            bar.set_postfix(spent=f"${model.spent:,.2f}")
    if bar is not None:
        bar.close()
    metrics = model.metrics_table()
    labels = model.labels_table()
    dataset = model.dataset_table()
    if config.market == "responses":
        from .response_summary import summarize_responses

        responses = model.responses_table()
        summary = summarize_responses(model, metrics, labels, dataset, responses)
    else:
        responses = _empty_responses()
        summary = summarize(model, metrics, labels, dataset)
    return SimulationResult(
        config=config,
        metrics=metrics,
        labels=labels,
        dataset=dataset,
        summary=summary,
        responses=responses,
    )


def _empty_responses() -> pd.DataFrame:
    from .response_tables import RESPONSE_DTYPES

    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in RESPONSE_DTYPES.items()})
