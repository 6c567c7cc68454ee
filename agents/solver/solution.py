"""A solved symmetric equilibrium: the ask (and claim) function, its
certificate epsilon and the settings it was solved for; saved as JSON.

>>> sol = EquilibriumSolution.load("first_price.json")      # doctest: +SKIP
>>> sol.ask(np.array([0.1, 0.2]))                          # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.interpolate import PchipInterpolator

__all__ = ["EquilibriumSolution", "Extrapolating"]

FORMAT = "vickreyfeedback.equilibrium/1"


def write_json_atomic(path: Path, obj, indent: int | None = None) -> None:
    """Write ``obj`` as JSON to a temporary file beside ``path`` and move it
    into place (``os.replace``), so a reader never sees half a file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(obj, indent=indent) + "\n")
        mask = os.umask(0o022)  # mkstemp makes 0o600; a cache is as readable as any file
        os.umask(mask)
        os.chmod(tmp, 0o666 & ~mask)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class Extrapolating:
    """The shape-preserving piecewise-cubic (PCHIP, Fritsch & Carlson 1980)
    interpolant of (xp, fp), extended linearly past both ends with the end
    segments' slopes. Monotone data stay monotone, kinks (an ask that reaches
    the reserve) cause no overshoot, and smooth ask functions are followed to
    O(h^4) where straight lines between types would miss by O(h^2). Built once,
    called per round."""

    def __init__(self, xp: np.ndarray, fp: np.ndarray) -> None:
        self.xp = np.asarray(xp, dtype=float)
        self.fp = np.asarray(fp, dtype=float)
        n = self.xp.size
        self._pchip = PchipInterpolator(self.xp, self.fp, extrapolate=False) if n > 2 else None
        if n > 1:
            self._lo = (self.fp[1] - self.fp[0]) / (self.xp[1] - self.xp[0])
            self._hi = (self.fp[-1] - self.fp[-2]) / (self.xp[-1] - self.xp[-2])

    def __call__(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        xp, fp = self.xp, self.fp
        if xp.size == 1:
            return np.full(x.shape, float(fp[0]))
        y = np.interp(x, xp, fp) if self._pchip is None else self._pchip(x)
        y = np.where(x < xp[0], fp[0] + (x - xp[0]) * self._lo, y)
        return np.where(x > xp[-1], fp[-1] + (x - xp[-1]) * self._hi, y)


@dataclass
class EquilibriumSolution:
    """A symmetric Bayes-Nash ask function (cost -> ask), and the claim
    function (cost -> quality claim) for rules that collect claims.

    Attributes:
        mechanism: the rule's registry name; ``mechanism_params`` its parameters.
        n, k, reserve, budget: the auction it was solved for (bidders per
            task, units bought, per-label reserve, per-task budget).
        cost_dist, quality_dist: descriptions of the priors.
        costs: (G,) the cost types (quantiles of the prior) it was solved on.
        asks: (G,) the equilibrium ask of each type; between types the ask
            is interpolated by PCHIP (and extended linearly past the ends).
        claims: (G,) the equilibrium claim of each type, or None.
        utility, win_probability: (G,) each type's expected utility and
            chance of winning at the solution (the solve's own samples).
        indifferent_lo, indifferent_hi: (G,) the range of asks on the search
            grid that are exactly as good as the solution's (a type is
            indifferent over that range, e.g. any willing ask at a posted price).
        epsilon: the largest gain any verified type can get by a unilateral
            deviation (best response on a fine grid of asks, and claims, against
            rivals playing the solution, on fresh samples); ``epsilon_se`` its
            Monte Carlo standard error; ``epsilon_cost`` the type that gains it.
        expected_utility: a bidder's ex-ante expected utility at the solution
            (``expected_utility_se``); ``epsilon_rel`` = epsilon / expected_utility.
        payment_per_task: the buyer's expected total payment per task
            (``payment_per_task_se``).
        converged, iterations, last_step: how the iteration ended.
        notes: what the solver found worth saying (asks below cost, the ask
            floor at 0 binding, indifference, non-convergence).
        settings: the solver's settings; ``seed`` its seed; ``elapsed_s``.
    """

    mechanism: str
    mechanism_params: dict
    n: int
    k: int
    reserve: float
    budget: float
    cost_dist: dict | None
    quality_dist: dict | None
    costs: np.ndarray
    asks: np.ndarray
    claims: np.ndarray | None
    utility: np.ndarray
    win_probability: np.ndarray
    indifferent_lo: np.ndarray
    indifferent_hi: np.ndarray
    epsilon: float
    epsilon_se: float
    epsilon_cost: float
    expected_utility: float
    expected_utility_se: float
    epsilon_rel: float
    payment_per_task: float
    payment_per_task_se: float
    converged: bool
    iterations: int
    last_step: float
    seed: int
    settings: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    elapsed_s: float = math.nan

    # ------------------------------------------------------------ strategy
    def ask(self, costs) -> np.ndarray:
        """The equilibrium ask of each cost (vectorized)."""
        return self._interpolant("asks")(costs)

    def claim(self, costs) -> np.ndarray:
        """The equilibrium quality claim of each cost (rules that collect claims only)."""
        if self.claims is None:
            raise ValueError(f"{self.mechanism}: the rule collects no claims")
        return np.clip(self._interpolant("claims")(costs), *self.claim_range)

    def _interpolant(self, which: str) -> Extrapolating:
        """The interpolant of ``which`` over the types, built on first use."""
        built = self.__dict__.setdefault("_interpolants", {})
        key = (id(self.costs), id(getattr(self, which)))  # rebuilt if a field is replaced
        if built.get(which, (None,))[0] != key:
            built[which] = (key, Extrapolating(self.costs, getattr(self, which)))
        return built[which][1]

    @property
    def claim_range(self) -> tuple[float, float]:
        lo, hi = self.settings.get("claim_range", (-math.inf, math.inf))
        return float(lo), float(hi)

    @property
    def indifferent(self) -> np.ndarray:
        """(G,) True where a type's best asks span more than one search-grid point."""
        return self.indifferent_hi > self.indifferent_lo

    def to_frame(self) -> pd.DataFrame:
        """One row per solved type."""
        cols = {
            "cost": self.costs,
            "ask": self.asks,
            "utility": self.utility,
            "win_probability": self.win_probability,
            "indifferent_lo": self.indifferent_lo,
            "indifferent_hi": self.indifferent_hi,
        }
        if self.claims is not None:
            cols["claim"] = self.claims
        return pd.DataFrame(cols)

    def summary(self) -> str:
        """One line: the rule, convergence and the certificate."""
        state = "converged" if self.converged else "NOT converged"
        return (
            f"{self.mechanism} n={self.n} k={self.k}: {state} in {self.iterations} iterations, "
            f"epsilon {self.epsilon:.2e} (se {self.epsilon_se:.1e}), "
            f"epsilon_rel {self.epsilon_rel:.4f}, {self.elapsed_s:.1f} s"
        )

    # ----------------------------------------------------------------- files
    def to_dict(self) -> dict:
        d = asdict(self)
        for key, value in d.items():
            if isinstance(value, np.ndarray):
                d[key] = value.tolist()
        d["format"] = FORMAT
        return _json_safe(d)

    @classmethod
    def from_dict(cls, d: dict) -> EquilibriumSolution:
        d = dict(d)
        if d.pop("format", None) != FORMAT:
            raise ValueError(f"not an equilibrium solution (expected format {FORMAT!r})")
        d = _json_restore(d)
        for key in (
            "costs",
            "asks",
            "utility",
            "win_probability",
            "indifferent_lo",
            "indifferent_hi",
        ):
            d[key] = np.asarray(d[key], dtype=float)
        if d.get("claims") is not None:
            d["claims"] = np.asarray(d["claims"], dtype=float)
        return cls(**d)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the solution as JSON (no pickle)."""
        path = Path(path)
        if path.suffix.lower() != ".json":
            raise ValueError(f"{path}: an equilibrium solution is saved as .json")
        write_json_atomic(path, self.to_dict(), indent=1)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> EquilibriumSolution:
        """Read a solution written by :meth:`save`."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not a JSON equilibrium solution: {exc}") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path}: not a JSON equilibrium solution")
        return cls.from_dict(data)


def _json_safe(x):
    """inf/nan as strings (strict JSON has neither)."""
    if isinstance(x, dict):
        return {k: _json_safe(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_json_safe(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return repr(x)
    return x


def _json_restore(x):
    if isinstance(x, dict):
        return {k: _json_restore(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_json_restore(v) for v in x]
    if x in ("inf", "-inf", "nan"):
        return float(x)
    return x
