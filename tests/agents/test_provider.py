"""Response providers (agents.provider): their private costs and their book."""

from __future__ import annotations

import mesa
import numpy as np
import pytest
from scipy import stats

from agents.provider import ProviderBook, ResponseProvider, draw_token_costs


@pytest.mark.parametrize("rho", [-0.8, 0.0, 0.5, 0.9])
def test_token_costs_follow_their_distribution_and_the_copula_correlation(rho):
    """Many providers of two qualities (half each): the costs' marginal is the
    configured lognormal (Kolmogorov-Smirnov), and the cost's normal score
    correlates with the quality group at rho sqrt(2 / pi), the point-biserial
    correlation of a standard normal with its own sign (a closed form of the
    Gaussian copula with a dichotomized margin)."""
    dist = stats.lognorm(s=0.5, scale=0.004)
    quality = np.repeat([0.2, 0.8], 20_000)
    cost = draw_token_costs(quality, dist, rho, np.random.default_rng(1))
    assert stats.kstest(cost, dist.cdf).pvalue > 0.001
    z_cost = stats.norm.ppf(dist.cdf(cost))
    z_q = (quality - quality.mean()) / quality.std()
    assert abs(np.corrcoef(z_cost, z_q)[0, 1] - rho * np.sqrt(2 / np.pi)) < 0.02


def test_equal_personas_give_uncorrelated_costs():
    dist = stats.lognorm(s=0.5, scale=0.004)
    cost = draw_token_costs(np.full(5000, 0.3), dist, 0.9, np.random.default_rng(2))
    assert stats.kstest(cost, dist.cdf).pvalue > 0.001


def test_the_book_adds_up_sales_and_the_agents_show_their_rows():
    model = mesa.Model(rng=0)
    book = ProviderBook(
        uid=np.array([1, 2, 3]), persona=np.array(["a", "b", "c"], dtype=object),
        token_cost=np.array([0.001, 0.002, 0.003]), fixed_cost=np.full(3, 0.02),
    )  # fmt: skip
    agents = [ResponseProvider(model, book, i) for i in range(3)]
    book.record(np.array([0, 0, 2]), np.array([1.0, 0.5, 0.0]), np.array([0.1, 0.1, 0.2]),
                np.array([False, False, True]))  # fmt: skip
    assert agents[0].revenue == 1.5 and agents[0].sold == 2
    assert agents[0].profit == pytest.approx(1.3)
    assert agents[2].caught == 1 and agents[2].profit == pytest.approx(-0.2)
    assert agents[1].sold == 0 and agents[1].persona == "b"
    assert agents[1].cost_of(np.array([10, 20])) == pytest.approx([0.04, 0.06])
