"""The response provider: a Mesa agent that sells LLM responses (the paper's seller).

Zhang & Duan (2024, arXiv:2409.18417) buy preference data from LLM agents:
per prompt each agent offers a response with an ask and a self-evaluated
quality bid. A provider here has a generation *persona* (how it writes: see
:mod:`rlhf.personas`), a private cost per generated token and a fixed cost
per response, drawn by :func:`draw_token_costs` with a Gaussian-copula
correlation to its persona's quality (as annotators' cost and accuracy are
correlated, :mod:`agents.population`).

Its state is one row of the model's :class:`ProviderBook`: the market acts on
all providers at once through the book's arrays, and the agent shows its row.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import mesa
import numpy as np
from scipy import stats

from .ids import IdCounters

__all__ = ["ProviderBook", "ResponseProvider", "draw_token_costs"]


@dataclass
class ProviderBook:
    """Every provider's state as arrays (row i = provider i).

    Attributes:
        uid: Mesa ``unique_id`` of each provider.
        persona: persona name of each provider.
        token_cost: private cost per generated token (dollars).
        fixed_cost: private fixed cost per response (dollars).
        revenue, cost_sold, sold, caught: running totals: dollars received,
            the cost of the responses sold, responses sold, and claims the
            buyer found false on gold (not paid).
    """

    uid: np.ndarray
    persona: np.ndarray
    token_cost: np.ndarray
    fixed_cost: np.ndarray
    revenue: np.ndarray = field(init=False)
    cost_sold: np.ndarray = field(init=False)
    sold: np.ndarray = field(init=False)
    caught: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        n = self.uid.size
        self.revenue = np.zeros(n)
        self.cost_sold = np.zeros(n)
        self.sold = np.zeros(n, dtype=np.int64)
        self.caught = np.zeros(n, dtype=np.int64)

    @property
    def n(self) -> int:
        return int(self.uid.size)

    @property
    def profit(self) -> np.ndarray:
        """Revenue less the cost of what was sold (a response costs its maker
        when it is sold, as a label does: the auction's private value)."""
        return self.revenue - self.cost_sold

    def record(self, who: np.ndarray, paid: np.ndarray, cost: np.ndarray, caught: np.ndarray):
        """Add one round's sales: provider rows ``who`` (one per response sold)."""
        np.add.at(self.revenue, who, paid)
        np.add.at(self.cost_sold, who, cost)
        np.add.at(self.sold, who, 1)
        np.add.at(self.caught, who, caught.astype(np.int64))


def draw_token_costs(
    quality: np.ndarray, token_cost_dist, correlation: float, rng: np.random.Generator
) -> np.ndarray:
    """Private per-token costs of providers whose personas have mean gold reward
    ``quality``, through a Gaussian copula of parameter ``correlation``.

    Quality takes few values (one per persona), so its normal score is drawn
    within its band of the providers' quality distribution: a provider whose
    persona holds quantiles (F(q-), F(q)] gets z_q = Phi^-1(U(F(q-), F(q))),
    which is exactly standard normal over the providers and ranks them by
    quality. Then z = rho z_q + sqrt(1 - rho^2) eps is standard normal too, and
    the cost is ``token_cost_dist.ppf(Phi(z))``: the configured marginal for
    every rho (a persona mix all alike gives independent costs)."""
    q = np.asarray(quality, dtype=float)
    n = q.size
    lo = np.searchsorted(np.sort(q), q, side="left") / n
    hi = np.searchsorted(np.sort(q), q, side="right") / n
    u = lo + (hi - lo) * rng.random(n)
    z_q = stats.norm.ppf(np.clip(u, 1e-12, 1 - 1e-12))
    eps = rng.standard_normal(n)
    z = correlation * z_q + np.sqrt(1.0 - correlation**2) * eps
    return np.asarray(token_cost_dist.ppf(stats.norm.cdf(z)), dtype=float)


class ResponseProvider(mesa.Agent):
    """An LLM agent that sells responses; a view of row ``index`` of ``book``."""

    #: Mesa's per-model id counters, kept weakly (see :mod:`agents.ids`)
    _ids = IdCounters()

    def __init__(self, model: mesa.Model, book: ProviderBook, index: int) -> None:
        super().__init__(model)
        self._book = book
        self.index = int(index)

    persona = property(lambda self: str(self._book.persona[self.index]), doc="Persona name.")
    token_cost = property(
        lambda self: float(self._book.token_cost[self.index]), doc="$ per token (private)."
    )
    fixed_cost = property(
        lambda self: float(self._book.fixed_cost[self.index]), doc="$ per response (private)."
    )
    revenue = property(lambda self: float(self._book.revenue[self.index]), doc="$ received.")
    sold = property(lambda self: int(self._book.sold[self.index]), doc="Responses sold.")
    caught = property(lambda self: int(self._book.caught[self.index]), doc="False claims found.")
    profit = property(lambda self: float(self._book.profit[self.index]), doc="Running profit.")

    def cost_of(self, n_tokens: np.ndarray) -> np.ndarray:
        """The private cost of replies of ``n_tokens`` tokens."""
        return self.token_cost * np.asarray(n_tokens, dtype=float) + self.fixed_cost
