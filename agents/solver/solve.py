"""A numerical symmetric Bayes-Nash equilibrium for any registered mechanism.

``solve_equilibrium(mechanism, n=..., k=..., cost_dist=...)`` finds the ask
function b(c) (and, for rules that collect quality claims, the claim function)
that every bidder plays in a symmetric equilibrium of the mechanism *as
implemented*: it only calls the rule's public ``run_batch``, never looks at its
name, and so works for a rule registered yesterday.

Method: damped iterated best response on a grid of cost types (Fudenberg &
Levine, *The Theory of Learning in Games*, 1998, ch. 2), certified afterwards
by best response on a fine grid against the solution, as in Bosshard, Bunz,
Lubin & Seuken (2020), "Computing Bayes-Nash equilibria in combinatorial
auctions with verification", JAIR 69.

1. Types: half at quantiles of the cost prior, half evenly spaced in cost,
   plus the price cap. Between types, asks are interpolated (PCHIP).
2. Samples: for each type, rival profiles *stratified* by J, the number of
   rivals cheaper than the type (J ~ Binomial(n - 1, F(c))), so that a dear
   type whose wins need every rival to be dearer is still measured; rival cost
   quantiles are scrambled Sobol points. Every candidate action of a type
   faces the same rivals and tie-breaks (common random numbers).
3. Search: each iteration evaluates, per type, its current ask, its cost, a
   grid of asks around the current one (and every few iterations a global
   grid), then zooms in on the best and takes the vertex of a parabola
   through the zoomed points where that is at least as good. A type keeps its
   ask unless another is strictly better (inertia: an indifferent type does
   not wander). Best responses pass through a smoothing spline (sampling noise
   of neighbouring types averages out, and so do the wiggles that best-response
   dynamics amplify, a rival's ask density being the ask function's
   derivative); asks move at most ``damping`` of the way (halving where a
   type's step keeps flipping). Claims (``Properties.uses_claims``) are best-
   responded on a grid, full steps, ties to the highest claim. The sample is
   fixed (early iterations use a prefix of it).
4. Averaging: if the search ends with asks still moving by sampling noise,
   further iterations on fresh samples move to the running average of the
   best responses (fictitious play).
5. Certificate: on fresh samples, types spread over the solved ones and the
   midpoints between them search a fine grid of deviations (asks, and claims
   x asks); their three best are scored on a larger fresh sample. epsilon is
   the largest gain, with its standard error. A type with a significant gain
   between the solved ones joins them and the averaging runs again
   (``SolverSettings.refine``).

Asks are searched in [0, cap] (cap: the reserve, or the budget share B / k,
or, with neither, well above the dearest type): asks below cost are allowed
where they pay, and the floor 0 (mechanisms reject negative asks) is reported
in the solution's notes when it binds. Quality scores of quality-aware rules
that do not collect claims are the buyer's, drawn from ``quality_dist`` for
every bidder, the bidder's own included (it does not know the buyer's score
of it), so the ask is a function of the cost alone.
"""

from __future__ import annotations

import math
import numbers
import time
import warnings
from dataclasses import asdict

import numpy as np

import mechanisms
from mechanisms import Mechanism

from ..priors import describe
from .dynamics import BestResponseStep, add_types, claim_range_of, type_grid, verify_types
from .game import Game, StrategyGrid
from .settings import EquilibriumWarning, SolverSettings
from .solution import EquilibriumSolution

__all__ = ["solve_equilibrium"]


# ----------------------------------------------------------------------- input


def _mechanism(mechanism) -> Mechanism:
    if isinstance(mechanism, Mechanism):
        return mechanism
    if isinstance(mechanism, str):
        return mechanisms.get(mechanism)  # unknown names: ValueError listing the known
    raise ValueError(
        f"mechanism: expected a registered name or a Mechanism, got {type(mechanism).__name__}"
    )


def _positive_int(name: str, v: object, lo: int) -> int:
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < lo:
        raise ValueError(f"{name}: must be an integer >= {lo}, got {v!r}")
    return int(v)


def _money(name: str, v: object) -> float:
    try:
        x = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{name}: must be a number >= 0 (inf for none), got {v!r}") from None
    if math.isnan(x) or x < 0:
        raise ValueError(f"{name}: must be a number >= 0 (inf for none), got {v!r}")
    return x


# ----------------------------------------------------------------------- solve


def solve_equilibrium(
    mechanism: Mechanism | str,
    *,
    n: int,
    k: int,
    cost_dist,
    reserve: float = math.inf,
    budget: float = math.inf,
    quality_dist=None,
    seed: int = 0,
    settings: SolverSettings | None = None,
    claim_range: tuple[float, float] | None = None,
    ask_range: tuple[float, float] | None = None,
    start=None,
) -> EquilibriumSolution:
    """The symmetric Bayes-Nash equilibrium of ``mechanism`` with ``n`` bidders
    per task buying ``k`` units, costs i.i.d. ``cost_dist``.

    Args:
        mechanism: a registered name or a :class:`mechanisms.Mechanism`.
        n: bidders per task (>= 1); k: units bought per task (>= 1).
        cost_dist: frozen ``scipy.stats`` distribution of costs (>= 0) with
            finite quantiles (a :class:`agents.priors.Mixture` works too).
        reserve: per-label reserve; budget: cap on a task's total payment.
        quality_dist: distribution of quality scores; required by
            quality-aware rules (the buyer's scores, or the range bidders claim in).
        seed: root of the solver's random numbers (same seed, same solution).
        settings: :class:`SolverSettings`.
        claim_range: (lo, hi) of allowed claims; default the support of
            ``quality_dist``.
        ask_range: (lo, hi) searched for asks; default [0, cap] (see module).
        start: a function cost -> ask to start from (a guess, or an earlier
            solution's ``ask``); default truthful (ask = cost).

    Raises:
        ValueError: an unknown mechanism, bad settings, a distribution without
            finite quantiles or with negative costs, a rule that cannot set a
            price (k >= n with no finite reserve or budget), or asks that grow
            without bound.

    Warns:
        EquilibriumWarning: when the iteration cap is reached (the last
            iterate is returned with its epsilon).
    """
    t0 = time.perf_counter()
    mech = _mechanism(mechanism)
    settings = settings or SolverSettings()
    n = _positive_int("n", n, 1)
    k = _positive_int("k", k, 1)
    reserve, budget = _money("reserve", reserve), _money("budget", budget)
    props = mech.properties
    if props.quality_aware and quality_dist is None:
        raise ValueError(
            f"quality_dist: {mech.name!r} is quality-aware; pass the distribution of "
            "quality scores (the buyer's estimates, or the range bidders claim in)"
        )
    cap = min(reserve, budget / k)
    costs = type_grid(cost_dist, settings.types, cap)
    scale = float(costs[-1] - costs[0])
    if ask_range is None:
        a_lo, a_hi = 0.0, (cap if math.isfinite(cap) else float(costs[-1]) + scale)
    else:
        a_lo, a_hi = (float(x) for x in ask_range)
        if not (0 <= a_lo < a_hi and math.isfinite(a_hi)):
            raise ValueError(f"ask_range: must be 0 <= lo < hi < inf, got {ask_range!r}")
    claims_on = props.uses_claims
    if claims_on:
        claim_range = claim_range_of(claim_range, quality_dist)

    root = np.random.SeedSequence(seed)
    names = ("solve", "average", "verify", "payment")
    rng = dict(zip(names, (np.random.default_rng(s) for s in root.spawn(len(names))), strict=True))
    game = Game(
        mech,
        n=n,
        k=k,
        reserve=reserve,
        budget=budget,
        cost_dist=cost_dist,
        quality_dist=quality_dist,
        claim_range=claim_range,
        rows_per_call=settings.rows_per_call,
    )
    try:
        game.probe(rng["payment"])
    except ValueError as exc:
        raise ValueError(
            f"{mech.name} cannot be solved with n={n}, k={k}, reserve={reserve:g}, "
            f"budget={budget:g}: {exc}"
        ) from None

    G = costs.size
    claims0 = np.full(G, float(np.mean(claim_range))) if claims_on else None
    truthful = StrategyGrid(costs, costs.copy(), claims0, claim_range)
    coarse = np.linspace(a_lo, a_hi, settings.coarse)
    claim_grid = np.linspace(*claim_range, settings.claims) if claims_on else None
    samp = game.draw(costs, settings.samples, rng["solve"])
    sol = (
        truthful
        if start is None
        else StrategyGrid(costs, np.asarray(start(costs), float), claims0, claim_range)
    )
    state = BestResponseStep(game, costs, settings, coarse, claim_grid, a_lo, a_hi, cap, scale)
    converged, moved = False, False
    for it in range(1, settings.search_iter + 1):  # damped best response, fixed samples
        # early iterations, far from the fixed point, look at a prefix of the sample
        m = settings.samples >> max(0, 2 - (it - 1) // 2)  # M/4, M/4, M/2, M/2, M, ...
        sol, small, step = state.step(sol, samp.head(m), it)
        moved = moved or step > 0
        if small and state.checked_globally and (m == settings.samples or step == 0.0):
            converged = True  # (at a prefix only if no type wanted to move at all)
            break

    util = game.payments(sol, settings.payment_samples, rng["payment"])[2]
    refined = averaged = 0
    while True:
        n_avg = settings.average_iter if not refined else (settings.average_iter + 1) // 2
        if not converged and moved and n_avg:  # average the sampling noise out
            for t in range(averaged + 1, averaged + n_avg + 1):  # (a refinement continues
                samp = game.draw(costs, settings.average_samples, rng["average"])  # the average)
                sol, small, _ = state.step(sol, samp, it + t, average=t)
            converged = small
            averaged += n_avg
            it += n_avg
        cv = verify_types(costs, settings.verify_types)
        gains, ses = game.verify(
            sol,
            cv,
            settings.verify_samples,
            settings.check_samples,
            settings.verify_fine,
            settings.coarse,
            settings.claims,
            a_lo,
            a_hi,
            rng["verify"],
        )
        bad = (gains > 2.0 * ses) & (gains > settings.refine_above * max(util, 0.0))
        if not bad.any() or refined >= settings.refine:
            break
        refined += 1
        # epsilon-driven refinement: a verified type between the solved ones that gains
        # joins them, and the averaging runs again (warm start)
        new = bad & (np.min(np.abs(cv[:, None] - costs[None, :]), axis=1) > 1e-9 * scale)
        costs, sol = add_types(
            sol,
            cv[new],
            sol.ask(cv[new]),
            None if sol.claims is None else sol.claim(cv[new]),
            scale,
        )
        state = BestResponseStep(game, costs, settings, coarse, claim_grid, a_lo, a_hi, cap, scale)
        state.need_global = False
        converged, moved = False, True
    g = int(np.argmax(gains))
    eps, eps_se, eps_cost = float(gains[g]), float(ses[g]), float(cv[g])
    last_step = state.last_step

    # each type at the solution, on the last samples: utility, wins, indifference
    G = costs.size
    samp = game.draw(costs, settings.samples, rng["average"])
    grid_c = np.concatenate([sol.asks[:, None], np.repeat(coarse[None], G, axis=0)], axis=1)
    cc = None if not claims_on else np.repeat(sol.claims[:, None], grid_c.shape[1], axis=1)
    U, W = game.utility(samp, sol, costs, grid_c, cc)
    top = U.max(axis=1, keepdims=True)
    near = U >= top - 1e-12 * np.maximum(np.abs(top), 1e-300)
    ind_lo = np.where(near, grid_c, np.inf).min(axis=1)
    ind_hi = np.where(near, grid_c, -np.inf).max(axis=1)

    pay, pay_se, util, util_se = game.payments(sol, settings.payment_samples, rng["payment"])
    notes = _notes(
        mech.name, costs, sol.asks, ind_lo, ind_hi, a_lo, coarse[1] - coarse[0], W[:, 0], converged
    )
    solution = EquilibriumSolution(
        mechanism=mech.name,
        mechanism_params={
            key: describe(v) if hasattr(v, "cdf") else v for key, v in mech.params().items()
        },
        n=n,
        k=k,
        reserve=reserve,
        budget=budget,
        cost_dist=describe(cost_dist),
        quality_dist=describe(quality_dist),
        costs=costs,
        asks=sol.asks,
        claims=sol.claims,
        utility=U[:, 0],
        win_probability=W[:, 0],
        indifferent_lo=ind_lo,
        indifferent_hi=ind_hi,
        epsilon=eps,
        epsilon_se=eps_se,
        epsilon_cost=eps_cost,
        expected_utility=util,
        expected_utility_se=util_se,
        epsilon_rel=eps / util if util > 0 else (0.0 if eps <= 0 else math.inf),
        payment_per_task=pay,
        payment_per_task_se=pay_se,
        converged=converged,
        iterations=it,
        last_step=last_step,
        seed=int(seed),
        settings={
            **asdict(settings),
            "ask_range": [a_lo, a_hi],
            "claim_range": list(claim_range) if claims_on else None,
        },
        notes=notes,
        elapsed_s=time.perf_counter() - t0,
    )
    if not converged:
        warnings.warn(
            f"{mech.name}: no convergence within {it} iterations (last step "
            f"{last_step:.3g}); returning the last iterate, epsilon = {eps:.3g} "
            f"(epsilon_rel = {solution.epsilon_rel:.3g})",
            EquilibriumWarning,
            stacklevel=2,
        )
    return solution


def _notes(name, costs, b, ind_lo, ind_hi, a_lo, step, win, converged) -> list[str]:
    notes = []
    below = (b < costs - 1e-9 * np.maximum(costs, 1.0)) & (win > 0)
    if below.any():
        notes.append(
            f"asks below cost where {name} makes that optimal: types with cost in "
            f"[{costs[below].min():.4g}, {costs[below].max():.4g}]"
        )
    floor = (b <= a_lo + 1e-12) & (costs > a_lo) & (win > 0)
    if floor.any():
        notes.append(
            "the best ask sits at 0, the lowest the mechanisms' input rules allow "
            f"(asks must be >= 0), for types with cost in [{costs[floor].min():.4g}, "
            f"{costs[floor].max():.4g}]: they might gain from a negative ask"
        )
    wide = (ind_hi - ind_lo >= step) & (win > 0)
    if wide.any():
        g = int(np.flatnonzero(wide)[len(np.flatnonzero(wide)) // 2])
        notes.append(
            f"indifference: {int(wide.sum())} of {costs.size} types are exactly as well off "
            f"with any ask in a range (e.g. cost {costs[g]:.4g}: any ask in "
            f"[{ind_lo[g]:.4g}, {ind_hi[g]:.4g}]); there the solution keeps the ask its "
            "iteration reached (where it started, truthful, unless a best response moved it)"
        )
    if not converged:
        notes.append("not converged: the iteration cap was reached")
    return notes
