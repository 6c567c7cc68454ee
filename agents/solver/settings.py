"""How hard the equilibrium solver works: one frozen settings object."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

__all__ = ["EquilibriumWarning", "SolverSettings"]


class EquilibriumWarning(UserWarning):
    """The solver stopped at its iteration cap; the result carries its epsilon."""


@dataclass(frozen=True)
class SolverSettings:
    """How hard the solver works.

    Attributes:
        types: cost types the ask function is solved on (half at prior
            quantiles, half evenly spaced in cost, plus the price cap).
        samples: rival profiles per type and iteration (the first four
            iterations use the first quarter, then half of them: scrambled
            Sobol prefixes of a power-of-two size stay balanced).
        coarse: asks on the global search grid; local: on the grid around a
            type's current ask.
        claims: claims on the claim grid (rules that collect claims).
        search_iter: iterations of damped best response on one fixed sample
            (common random numbers across iterations). The first step goes all
            the way to the best response, later ones at most ``damping`` of it;
            a type's step halves each time its direction flips, down to
            ``min_damping``.
        average_iter: if the search has not converged (best responses that
            differ by sampling noise alone), this many further iterations on
            fresh samples, each moving the strategy to the running average of
            the best responses (fictitious play), so the noise averages out;
            ``average_samples`` rival profiles per type in each.
        global_every: the global grid is searched every this many iterations
            (and before convergence is declared); in between, the local grid.
        smooth: pass the best responses through a smoothing spline.
        tol: converged when no ask moves more than tol x the cost scale.
        verify_types, verify_samples, verify_fine, check_samples: the epsilon
            check: ``verify_types`` types (between the solved ones) search a
            grid of ``verify_fine`` asks on ``verify_samples`` fresh profiles;
            their best deviations are scored on ``check_samples`` more.
        refine, refine_above: epsilon-driven refinement: a verified type whose
            gain is significant (over two standard errors) and above
            ``refine_above`` x the expected utility joins the solved types, and
            half the averaging iterations run again; at most ``refine`` times.
        payment_samples: full profiles for the expected payment and utility.
        rows_per_call: rows per ``run_batch`` call (a memory bound).
    """

    types: int = 25
    samples: int = 2048
    coarse: int = 33
    local: int = 9
    claims: int = 11
    search_iter: int = 12
    average_iter: int = 8
    average_samples: int = 2048
    damping: float = 0.5
    min_damping: float = 0.05
    global_every: int = 4
    smooth: bool = True
    tol: float = 1e-3
    verify_types: int = 25
    refine: int = 2
    refine_above: float = 0.002
    verify_samples: int = 512
    verify_fine: int = 49
    check_samples: int = 32768
    payment_samples: int = 65536
    rows_per_call: int = 1_000_000

    def __post_init__(self) -> None:
        for name in (
            "types",
            "samples",
            "coarse",
            "local",
            "claims",
            "search_iter",
            "verify_types",
            "verify_samples",
            "verify_fine",
            "payment_samples",
            "check_samples",
            "average_samples",
            "rows_per_call",
            "global_every",
        ):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
                raise ValueError(f"SolverSettings.{name}: must be an integer >= 1, got {v!r}")
        for name in ("average_iter", "refine"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 0:
                raise ValueError(f"SolverSettings.{name}: must be an integer >= 0, got {v!r}")
        if self.types < 5 or self.coarse < 2 or self.local < 3 or self.claims < 2:
            raise ValueError("SolverSettings: types >= 5, coarse >= 2, local >= 3, claims >= 2")
        if not 0.0 < self.min_damping <= self.damping <= 1.0:
            raise ValueError(
                "SolverSettings: need 0 < min_damping <= damping <= 1, got "
                f"{self.min_damping!r} and {self.damping!r}"
            )
        if not (math.isfinite(self.tol) and self.tol > 0):
            raise ValueError(f"SolverSettings.tol: must be > 0 and finite, got {self.tol!r}")
