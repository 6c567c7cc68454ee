"""An interactive market: a Mesa ``SolaraViz`` app (``vickreyfeedback dashboard``).

Knobs (sidebar, "Model Parameters"): the mechanism, the budget, k, the
population size, the cost-quality correlation, the share of learning (EXP3)
bidders among equilibrium bidders, and the seed. A change takes effect on
*Reset*, which builds a new market with the knobs' values; *Step* runs one
round, *▶* plays rounds until the budget is spent, *❚❚* pauses.

Main view: the per-round figure (mean price per label, spend, aggregated
accuracy, annotators' profit and active annotators; drawn by
:func:`simulator.analysis.plots.over_rounds`) and a table of the latest round's
winners (labels won, mean ask, total paid, and, since this is the
economist's view of the market, each winner's private cost, quality and type).

Run it with ``vickreyfeedback dashboard`` (or ``solara run
simulator.app.dashboard``). It needs the ``mesa[viz]`` extra (solara), a
dependency of this package.
"""

from __future__ import annotations

import pandas as pd
import solara
from mesa.visualization import Slider, SolaraViz
from mesa.visualization.utils import update_counter

import mechanisms

from ..analysis import plots
from ..experiments.changes import default_params
from ..market.config import MarketConfig
from ..market.model import MarketModel

ROUND_METRICS = ["mean_price", "spend", "aggregated_accuracy", "profit_total", "active_annotators"]
BASE = MarketConfig(
    task_source="synthetic",
    tasks_per_round=40,
    rounds=None,
    budget=300.0,
    n_annotators=60,
    incentive_sample=0,
    bid_cost=0.0,
)
"""The dashboard's market before the knobs: synthetic tasks, 40 a round, run
until the budget is spent."""


class DashboardMarket(MarketModel):
    """A :class:`MarketModel` built from the dashboard's knobs (keyword
    arguments, as SolaraViz builds models)."""

    def __init__(
        self,
        mechanism: str = "vickrey",
        budget: float = BASE.budget,
        k: int = BASE.k,
        n_annotators: int = BASE.n_annotators,
        correlation: float = 0.0,
        learning_share: float = 0.0,
        seed: int = 0,
    ) -> None:
        share = round(float(learning_share), 6)
        strategies = {"equilibrium": 1.0 - share, "learning": share}
        config = BASE.replace(
            mechanism=mechanism,
            mechanism_params=default_params(mechanism, BASE),
            budget=float(budget),
            k=int(k),
            n_annotators=int(n_annotators),
            correlation=float(correlation),
            strategies={name: s for name, s in strategies.items() if s > 0},
            seed=int(seed),
        )
        super().__init__(config)


MODEL_PARAMS = {
    "mechanism": {
        "type": "Select",
        "value": "vickrey",
        "values": mechanisms.available(),
        "label": "Mechanism",
    },
    "budget": Slider("Budget ($)", 300, 50, 2000, 50),
    "k": Slider("Labels per task (k)", 3, 1, 5, 1),
    "n_annotators": Slider("Annotators", 60, 10, 200, 10),
    "correlation": Slider("Cost-quality correlation", 0.0, -0.9, 0.9, 0.1),
    "learning_share": Slider("Share of learning bidders", 0.0, 0.0, 1.0, 0.1),
    "seed": Slider("Seed", 0, 0, 99, 1),
}


def round_figure(model: MarketModel):
    """The per-round figure of a market (None before its first round)."""
    table = model.metrics_table()
    if table.empty:
        return None
    return plots.over_rounds(
        table.assign(mechanism=model.config.mechanism), ROUND_METRICS, panel=(3.4, 2.5), cols=3
    )


def winners_table(model: MarketModel) -> pd.DataFrame:
    """The latest round's winners: one row per annotator who sold labels."""
    labels = model.labels_table()
    if labels.empty:
        return pd.DataFrame(
            columns=["annotator", "type", "labels", "mean ask", "paid", "cost", "quality"]
        )
    last = labels[labels["round"] == labels["round"].max()]
    won = last.groupby("annotator").agg(
        labels=("task", "size"), mean_ask=("ask", "mean"), paid=("payment", "sum")
    )
    by_id = {a.unique_id: a for a in model.annotators}
    out = won.reset_index()
    out.insert(1, "type", [by_id[i].kind for i in out.annotator])
    out["cost"] = [by_id[i].cost for i in out.annotator]
    out["quality"] = [by_id[i].quality for i in out.annotator]
    out = out.rename(columns={"mean_ask": "mean ask"})
    return out.sort_values(["paid", "annotator"], ascending=[False, True], ignore_index=True)


@solara.component
def RoundPlots(model: MarketModel):
    """Price, spend, accuracy, profit and participation per round."""
    update_counter.get()  # redraw after every step
    fig = round_figure(model)
    with solara.Div(classes=["vf-round-plots"]):
        if fig is None:
            solara.Markdown("No round yet: press **Step** or **▶**.")
        else:
            solara.FigureMatplotlib(fig, format="png")


@solara.component
def Winners(model: MarketModel):
    """The latest round's winners."""
    update_counter.get()
    table = winners_table(model)
    cfg = model.config
    spent = cfg.budget - model.budget_left
    with solara.Div(classes=["vf-winners"]):
        solara.Markdown(
            f"**Round {model.round}** · mechanism `{cfg.mechanism}` · spent "
            f"${spent:,.2f} of ${cfg.budget:,.0f} · {len(model.active_annotators())} active "
            f"annotators · {len(table)} winners this round"
        )
        if len(table):
            body = table.head(25).to_html(
                index=False, classes="vf-winners-table", float_format=lambda x: f"{x:.3f}"
            )
            solara.HTML(tag="div", unsafe_innerHTML=body)
        else:
            solara.Text("No labels bought yet.")


page = SolaraViz(
    DashboardMarket(),
    components=[(RoundPlots, 0), (Winners, 0)],
    model_params=MODEL_PARAMS,
    name="VickreyFeedback: a label market",
)
"""The app ``solara run simulator.app.dashboard`` serves."""
