"""An interactive market: a Mesa ``SolaraViz`` app (``vickreyfeedback dashboard``).

Knobs (sidebar, "Model Parameters"): the market (labels, or the paper's
responses sold by LLM agents), the mechanism, the budget, k, the
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

import inspect

import pandas as pd
import solara
from mesa.visualization import Slider, SolaraViz
from mesa.visualization.utils import update_counter

import mechanisms

from ..analysis import plots
from ..experiments.changes import default_params
from ..market.config import MarketConfig
from ..market.model import MarketModel
from ..market.responses import ResponseMarket

ROUND_METRICS = ["mean_price", "spend", "aggregated_accuracy", "profit_total", "active_annotators"]
RESPONSE_ROUND_METRICS = [
    "mean_price", "spend", "order_accuracy", "chosen_reward", "embedding_diversity",
    "provider_profit",
]  # fmt: skip
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
    arguments, as SolaraViz builds models); with ``market="responses"`` it
    builds a :class:`DashboardResponses` instead (SolaraViz rebuilds a market
    from its class and the knobs, so either class builds either market)."""

    def __new__(cls, market: str = "labels", **knobs):
        if market == "responses":
            return DashboardResponses(**knobs)
        return super().__new__(cls)

    def __init__(
        self,
        market: str = "labels",
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


class DashboardResponses(ResponseMarket):
    """The paper's response market from the same knobs: ``correlation`` is the
    providers' cost-quality correlation; k (a pair), the annotators and the
    learning share do not apply (providers ask at equilibrium)."""

    def __new__(cls, market: str = "responses", **knobs):
        if market == "labels":
            return DashboardMarket(**knobs)
        return super().__new__(cls)

    def __init__(
        self,
        market: str = "responses",
        mechanism: str = "vickrey-feedback",
        budget: float = BASE.budget,
        k: int = 2,
        n_annotators: int = BASE.n_annotators,
        correlation: float = 0.0,
        learning_share: float = 0.0,
        seed: int = 0,
    ) -> None:
        base = MarketConfig(market="responses", tasks_per_round=40, rounds=None)
        config = base.replace(
            mechanism=mechanism,
            mechanism_params=default_params(mechanism, base),
            budget=float(budget),
            correlation=float(correlation),
            seed=int(seed),
        )
        super().__init__(config)


for _cls in (DashboardMarket, DashboardResponses):  # the knobs, not __new__'s **knobs
    _params = list(inspect.signature(_cls.__init__).parameters.values())[1:]
    _cls.__signature__ = inspect.Signature(_params)

MODEL_PARAMS = {
    "market": {
        "type": "Select",
        "value": "labels",
        "values": ["labels", "responses"],
        "label": "Market (labels, or the paper's responses)",
    },
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


def round_figure(model: MarketModel | ResponseMarket):
    """The per-round figure of a market (None before its first round)."""
    table = model.metrics_table()
    if table.empty:
        return None
    metrics = RESPONSE_ROUND_METRICS if isinstance(model, ResponseMarket) else ROUND_METRICS
    return plots.over_rounds(
        table.assign(mechanism=model.config.mechanism), metrics, panel=(3.4, 2.5), cols=3
    )


def provider_table(model: ResponseMarket) -> pd.DataFrame:
    """The latest round's sellers in a response market: one row per provider
    who sold responses, with its persona and private token cost."""
    resp = model.responses_table()
    cols = ["provider", "persona", "responses", "mean ask", "paid", "mean reward", "token cost"]
    if resp.empty:
        return pd.DataFrame(columns=cols)
    last = resp[resp["round"] == resp["round"].max()]
    out = last.groupby(["provider", "persona"]).agg(
        responses=("task", "size"), mean_ask=("ask", "mean"), paid=("payment", "sum"),
        mean_reward=("reward", "mean"),
    ).reset_index()  # fmt: skip
    out["token cost"] = model.book.token_cost[out.provider.to_numpy() - 1]
    out = out.rename(columns={"mean_ask": "mean ask", "mean_reward": "mean reward"})
    return out.sort_values(["paid", "provider"], ascending=[False, True], ignore_index=True)


def winners_table(model: MarketModel | ResponseMarket) -> pd.DataFrame:
    """The latest round's winners: one row per annotator who sold labels (per
    provider who sold responses, in a response market)."""
    if isinstance(model, ResponseMarket):
        return provider_table(model)
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
    spent = model.spent
    sellers = (
        f"{cfg.n_providers} providers"
        if isinstance(model, ResponseMarket)
        else f"{len(model.active_annotators())} active annotators"
    )
    with solara.Div(classes=["vf-winners"]):
        solara.Markdown(
            f"**Round {model.round}** · {cfg.market} market · mechanism `{cfg.mechanism}` · "
            f"spent ${spent:,.2f} of ${cfg.budget:,.0f} · {sellers} · "
            f"{len(table)} winners this round"
        )
        if len(table):
            body = table.head(25).to_html(
                index=False, classes="vf-winners-table", float_format=lambda x: f"{x:.3f}"
            )
            solara.HTML(tag="div", unsafe_innerHTML=body)
        else:
            solara.Text("Nothing bought yet.")


page = SolaraViz(
    DashboardMarket(),
    components=[(RoundPlots, 0), (Winners, 0)],
    model_params=MODEL_PARAMS,
    name="VickreyFeedback: a label or response market",
)
"""The app ``solara run simulator.app.dashboard`` serves."""
