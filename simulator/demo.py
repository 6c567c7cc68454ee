"""One-shot comparison of every registered mechanism on the same batch of
tasks: the main job behind ``make run`` until the Mesa market exists.

Every mechanism sees the same annotators, the same tasks and the same
tie-breaking draws (common random numbers), so differences between rows come
from the rules alone. Annotators ask their true cost (truthful bidding), and
quality-aware rules see the true qualities: a best case for them that the
market simulator replaces with estimates.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
from scipy import stats

import mechanisms


@dataclass(frozen=True)
class DemoConfig:
    """The embedded default market (dollars per label).

    Costs are i.i.d. uniform on [cost_low, cost_high]; label accuracies are
    Beta(quality_a, quality_b) (mean 0.8); each annotator bids on each task
    with probability ``participation``.
    """

    tasks: int = 20_000
    annotators: int = 20
    k: int = 3
    cost_low: float = 0.05
    cost_high: float = 0.50
    quality_a: float = 8.0
    quality_b: float = 2.0
    participation: float = 0.6
    reserve: float = 0.50
    fixed_price: float = 0.30
    buyer_value: float = 0.60
    seed: int = 0

    HELP: ClassVar[dict[str, str]] = {
        "tasks": "tasks in the batch",
        "annotators": "annotators (each bids on a task with probability --participation)",
        "k": "labels bought per task",
        "cost_low": "lowest per-label cost, $ (costs are uniform on [low, high])",
        "cost_high": "highest per-label cost, $",
        "quality_a": "label accuracy is Beta(a, b): a",
        "quality_b": "label accuracy is Beta(a, b): b",
        "participation": "probability that an annotator bids on a given task, in (0, 1]",
        "reserve": "reserve price, $ per label",
        "fixed_price": "the fixed-price mechanism's posted price, $",
        "buyer_value": "the buyer's value per label, $ (Myerson's optimal reserve uses it)",
        "seed": "random seed",
    }

    def __post_init__(self) -> None:
        if self.tasks < 1 or self.annotators < 1 or self.k < 1:
            raise ValueError("tasks, annotators and k must be >= 1")
        if not 0 <= self.cost_low < self.cost_high:
            raise ValueError("need 0 <= cost_low < cost_high")
        if not 0 < self.participation <= 1:
            raise ValueError("participation must be in (0, 1]")
        if self.reserve < 0:
            raise ValueError("reserve must be >= 0")

    def mechanism_params(self) -> dict[str, dict]:
        """Parameters each rule gets in the comparison."""
        dist = stats.uniform(loc=self.cost_low, scale=self.cost_high - self.cost_low)
        return {
            "fixed-price": {"price": self.fixed_price},
            "myerson": {"value": self.buyer_value, "distribution": dist},
        }


def mechanism_table() -> pd.DataFrame:
    """One row per registered mechanism: its properties and source."""
    rows = []
    for name in mechanisms.available():
        m = mechanisms.get(name)
        rows.append({"mechanism": name, **asdict(m.properties), "source": m.source})
    return pd.DataFrame(rows)


def compare_mechanisms(config: DemoConfig | None = None) -> pd.DataFrame:
    """Run every registered mechanism on the same tasks; one row per mechanism."""
    cfg = config or DemoConfig()
    pop_seq, task_seq, tie_seq = np.random.SeedSequence(cfg.seed).spawn(3)
    pop = np.random.default_rng(pop_seq)
    cost = pop.uniform(cfg.cost_low, cfg.cost_high, cfg.annotators)
    quality = pop.beta(cfg.quality_a, cfg.quality_b, cfg.annotators)
    bids = np.random.default_rng(task_seq).random((cfg.tasks, cfg.annotators))
    asks = np.where(bids < cfg.participation, cost, np.nan)  # truthful asks
    params = cfg.mechanism_params()
    rows = []
    for name in mechanisms.available():
        mech = mechanisms.get(name, **params.get(name, {}))
        out = mech.run_batch(
            asks, cfg.k, quality=quality, reserve=cfg.reserve, rng=np.random.default_rng(tie_seq)
        )
        won = out.won
        n_labels = int(won.sum())
        paid = float(out.payments.sum())
        winner_cost = np.broadcast_to(cost, won.shape)[won]
        winner_quality = np.broadcast_to(quality, won.shape)[won]
        expected_correct = float(winner_quality.sum())
        rows.append(
            {
                "mechanism": name,
                "labels_per_task": n_labels / cfg.tasks,
                "tasks_filled": float((out.n_won == cfg.k).mean()),
                "mean_price": paid / n_labels if n_labels else np.nan,
                "total_paid": paid,
                "mean_winner_cost": float(winner_cost.mean()) if n_labels else np.nan,
                "annotator_profit": paid - float(winner_cost.sum()),
                "mean_label_accuracy": float(winner_quality.mean()) if n_labels else np.nan,
                "correct_labels_per_dollar": expected_correct / paid if paid else np.nan,
                "truthful": mech.properties.truthful,
            }
        )
    return pd.DataFrame(rows)


def save_comparison(table: pd.DataFrame, config: DemoConfig, out: Path) -> list[Path]:
    """Write the table (Parquet + CSV), the config (JSON) and a figure (PNG)."""
    import json

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    paths = [
        out / "comparison.parquet",
        out / "comparison.csv",
        out / "config.json",
        out / "comparison.png",
    ]
    table.to_parquet(paths[0], index=False)
    table.to_csv(paths[1], index=False)
    paths[2].write_text(json.dumps(asdict(config), indent=2) + "\n")
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), constrained_layout=True)
    colours = ("#0072B2", "#E69F00")  # Okabe-Ito: colour-blind safe
    for ax, col, label in [
        (axes[0], "mean_price", "mean price per label ($)"),
        (axes[1], "correct_labels_per_dollar", "expected correct labels per $"),
    ]:
        ax.barh(table["mechanism"], table[col], color=colours[0 if ax is axes[0] else 1])
        ax.set_xlabel(label)
        ax.invert_yaxis()
    axes[1].set_yticklabels([])
    fig.suptitle(
        f"{config.tasks:,} tasks, {config.annotators} annotators asking their cost, "
        f"k={config.k} (not equilibrium bids for non-truthful rules)"
    )
    fig.savefig(paths[3], dpi=120)
    plt.close(fig)
    return paths
