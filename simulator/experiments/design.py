"""Sweep designs: which configs a sweep runs.

>>> from simulator import Design
>>> design = Design.grid({"mechanism": ["vickrey", "first-price"], "budget": [100, 300]},
...                      base={"task_source": "synthetic", "rounds": 3}, replications=2)
>>> len(design), design.n_runs
(4, 8)

A design is a base config (``MarketConfig`` fields; dotted names such as
``cost.sigma`` reach into dict fields) and a list of *cells*, each a set of
changes to the base:

* ``grid``: the full factorial over named fields (:meth:`Design.grid`), or
  a list of such grids (the union of their factorials, e.g. a parameter
  varied for one mechanism only);
* ``sample``: a Latin hypercube or scrambled Sobol sample over numeric ranges
  (``scipy.stats.qmc``; :meth:`Design.sample`), combined with the grid (every
  grid cell at every sampled point) when both are given;
* ``configs``: an explicit list of configs or change sets (:meth:`Design.configs`).

Every cell is run ``replications`` times. Replication ``r`` of *every* cell
uses seed ``r`` of ``numpy.random.SeedSequence(design.seed).spawn(R)``, so
cells are compared under common random numbers (the same annotators and tasks
for every mechanism in a replication), and raising ``replications`` later keeps
the seeds, and so the stored runs, of the replications already done. A
``configs`` design with ``replications=None`` runs each config once with its
own seed. When a cell sets ``mechanism`` without ``mechanism_params`` the
mechanism gets the comparison defaults
(:func:`simulator.experiments.changes.default_params`: a fixed price at the
cost distribution's 60th percentile, Myerson's value = the reserve).
"""

from __future__ import annotations

import itertools
import json
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..market.config import ConfigError, MarketConfig
from ..market.formats import loads
from ..market.results import jsonable
from .changes import _apply, _check_keys, _flatten, _show
from .sampling import _sample_points

__all__ = ["Design", "DesignLike"]

MAX_RUNS = 1_000_000
"""The most runs (cells x replications) one design may hold; a larger one is
refused before anything is built (it would not finish, and its plan alone
would fill memory)."""


@dataclass(frozen=True)
class Design:
    """Cells (sets of config changes) over a base config, each run ``replications`` times.

    Build one with :meth:`grid`, :meth:`sample`, :meth:`configs`,
    :meth:`from_dict` or :meth:`load` (a YAML/JSON design file).

    Attributes:
        base: changes to ``MarketConfig()`` shared by every cell.
        cells: one dict of changes per cell (dotted names reach into dict fields).
        replications: runs per cell, or None (``configs`` designs only) to run
            each config once with its own seed.
        seed: the root seed the replications' seeds are spawned from.
        name: a label stored with every run.
        factors: the fields the cells vary (the columns a report groups by).
        spec: the plain-data description the design was built from.
        run_fn: the run function's ``"module:function"`` name, if the design
            names one (:func:`~simulator.experiments.sweep.sweep`'s ``run_fn``
            wins over it).
        tables: the tables to store, if the design names them.
        run_params: keyword arguments for the run function (plain data, e.g.
            ``{"trainer": "dpo", "epochs": 2}``); part of every run's key when
            not empty, so runs with other parameters are other runs.
    """

    base: dict = field(default_factory=dict)
    cells: tuple[dict, ...] = ({},)
    replications: int | None = 1
    seed: int = 0
    name: str = "sweep"
    factors: tuple[str, ...] = ()
    spec: dict = field(default_factory=dict)
    run_fn: str | None = None
    tables: tuple[str, ...] | None = None
    run_params: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.replications is not None and (
            isinstance(self.replications, bool)
            or not isinstance(self.replications, int | np.integer)
            or not 1 <= self.replications <= MAX_RUNS
        ):
            raise ConfigError(
                f"replications: must be an integer from 1 to {MAX_RUNS:,}, got "
                f"{self.replications!r}"
            )
        if not isinstance(self.seed, int | np.integer) or self.seed < 0:
            raise ConfigError(f"seed: must be an integer >= 0, got {self.seed!r}")
        if not self.cells:
            raise ConfigError("design: has no cells")
        if self.n_runs > MAX_RUNS:
            raise ConfigError(
                f"design: {len(self.cells):,} cells x {self.replications or 1:,} replications "
                f"is {self.n_runs:,} runs; at most {MAX_RUNS:,} are allowed"
            )
        if not isinstance(self.run_params, Mapping) or not all(
            isinstance(k, str) and k.isidentifier() for k in self.run_params
        ):
            raise ConfigError(
                f"run_params: must map keyword names to values, got {self.run_params!r}"
            )
        base = _apply(MarketConfig(), self.base)  # validates the base
        for i, cell in enumerate(self.cells):
            try:
                _apply(base, cell)
            except ConfigError as exc:
                raise ConfigError(f"cell {i} ({_show(cell)}): {exc}") from None

    def __len__(self) -> int:
        return len(self.cells)

    @property
    def n_runs(self) -> int:
        """Number of runs: cells x replications."""
        return len(self.cells) * (self.replications or 1)

    def seeds(self) -> list[int] | None:
        """The replications' seeds (None when configs keep their own)."""
        if self.replications is None:
            return None
        children = np.random.SeedSequence(int(self.seed)).spawn(int(self.replications))
        return [int(c.generate_state(1, np.uint64)[0] >> np.uint64(1)) for c in children]

    def config(self, cell: int, replication: int = 0) -> MarketConfig:
        """The config of one run."""
        cfg = _apply(_apply(MarketConfig(), self.base), self.cells[cell])
        seeds = self.seeds()
        return cfg if seeds is None else cfg.replace(seed=seeds[replication])

    def runs(self) -> Iterator[tuple[int, int, MarketConfig]]:
        """``(cell, replication, config)`` for every run, cell by cell."""
        base = _apply(MarketConfig(), self.base)
        seeds = self.seeds()
        for i, changes in enumerate(self.cells):
            cfg = _apply(base, changes)
            if seeds is None:
                yield i, 0, cfg
            else:
                for r, s in enumerate(seeds):
                    yield i, r, cfg.replace(seed=s)

    # ---------------------------------------------------------- constructors

    @classmethod
    def grid(
        cls,
        axes: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Sequence[Any]]],
        *,
        base: Mapping[str, Any] | None = None,
        replications: int = 1,
        seed: int = 0,
        name: str = "grid",
    ) -> Design:
        """The full factorial over ``axes`` (field name -> list of values), or
        the union of the factorials of a list of such mappings."""
        grid = [dict(a) for a in axes] if isinstance(axes, list | tuple) else dict(axes)
        return cls.from_dict(
            {"name": name, "base": dict(base or {}), "grid": grid,
             "replications": replications, "seed": seed}
        )  # fmt: skip

    @classmethod
    def sample(
        cls,
        ranges: Mapping[str, Any],
        n: int,
        *,
        method: str = "sobol",
        base: Mapping[str, Any] | None = None,
        grid: Mapping[str, Sequence[Any]] | None = None,
        replications: int = 1,
        seed: int = 0,
        name: str = "sample",
    ) -> Design:
        """``n`` points of a space-filling design over numeric ``ranges``.

        ``ranges`` maps a field to ``[low, high]`` or ``{"low", "high", "log":
        bool}``; integer fields are rounded to integers in [low, high].
        ``method`` is ``"sobol"`` (scrambled Sobol; ``n`` a power of 2 keeps
        its balance) or ``"lhs"`` (Latin hypercube), both from
        ``scipy.stats.qmc`` seeded by ``seed``. With ``grid`` every grid cell
        is run at every sampled point.
        """
        spec = {"method": method, "n": n, "ranges": dict(ranges)}
        return cls.from_dict(
            {"name": name, "base": dict(base or {}), "grid": dict(grid or {}), "sample": spec,
             "replications": replications, "seed": seed}
        )  # fmt: skip

    @classmethod
    def configs(
        cls,
        configs: Sequence[MarketConfig | Mapping[str, Any]],
        *,
        replications: int | None = None,
        seed: int = 0,
        name: str = "configs",
    ) -> Design:
        """An explicit list of configs (or change sets to ``MarketConfig()``).

        With ``replications=None`` each runs once with its own seed; with an
        integer, each runs that many times with spawned seeds.
        """
        cells = [c.to_dict() if isinstance(c, MarketConfig) else dict(c) for c in configs]
        return cls.from_dict(
            {"name": name, "configs": cells, "replications": replications, "seed": seed}
        )

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Design:
        """A design from plain data (what a design file holds).

        Keys: ``name``, ``description``, ``base``, ``grid``, ``sample``
        (``method``, ``n``, ``ranges``), ``configs``, ``replications``,
        ``seed``, ``run_fn``, ``run_params`` and ``tables``.
        """
        if not isinstance(d, Mapping):
            raise ConfigError(f"design: expected a mapping, got {type(d).__name__}")
        known = {"name", "description", "base", "grid", "sample", "configs", "replications",
                 "seed", "run_fn", "run_params", "tables"}  # fmt: skip
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(
                f"design: unknown key(s) {', '.join(unknown)}; "
                f"valid keys: {', '.join(sorted(known))}"
            )
        for key in ("name", "description"):
            if key in d and not isinstance(d[key], str):
                raise ConfigError(f"{key}: must be a string, got {type(d[key]).__name__}")
        if not {"base", "grid", "sample", "configs"} & set(d):
            raise ConfigError(
                "design: says nothing to run; give base (one config), grid, sample or configs"
            )
        for key in ("base", "run_params"):
            if d.get(key) is not None and not isinstance(d[key], Mapping):
                raise ConfigError(f"{key}: must be a mapping, got {type(d[key]).__name__}")
        tables = d.get("tables")
        if tables is not None and (
            isinstance(tables, str) or not isinstance(tables, Sequence)
            or not all(isinstance(t, str) for t in tables)
        ):  # fmt: skip
            raise ConfigError(f"tables: must be a list of table names, got {tables!r}")
        spec = json.loads(json.dumps(jsonable(dict(d))))
        base = dict(d.get("base") or {})
        raw_grid = d.get("grid") or {}
        grids = [dict(g) for g in raw_grid] if isinstance(raw_grid, list) else [dict(raw_grid)]
        grid = {k: v for g in grids for k, v in g.items()}
        sample = d.get("sample")
        configs = d.get("configs")
        seed = d.get("seed", 0)
        if configs is not None:
            if grid or sample:
                raise ConfigError("design: give configs, or grid and/or sample, not both")
            if not isinstance(configs, Sequence) or isinstance(configs, str) or not configs:
                raise ConfigError("configs: must be a non-empty list of config mappings")
            cells = [dict(c) for c in configs]
            replications = d.get("replications")
        else:
            cells = []
            size = 0
            for g in grids:  # a list of grids: the union of their factorials
                for key, values in g.items():
                    if isinstance(values, str) or not isinstance(values, Sequence) or not values:
                        raise ConfigError(f"grid: {key} must be a non-empty list of values")
                size += math.prod(len(v) for v in g.values())
            n_points = sample.get("n", 1) if isinstance(sample, Mapping) else 1
            if isinstance(n_points, int) and size * max(n_points, 1) > MAX_RUNS:
                raise ConfigError(
                    f"design: {size:,} grid cells x {n_points:,} sampled points is more than "
                    f"the {MAX_RUNS:,} runs a design may hold"
                )
            for g in grids:
                keys = list(g)
                cells += [dict(zip(keys, combo, strict=True)) for combo in itertools.product(
                    *(g[k] for k in keys))]  # fmt: skip
            if sample:
                points = _sample_points(sample, seed)
                cells = [{**c, **p} for c in cells for p in points]
            replications = d.get("replications", 1)
        for c in cells:
            _check_keys(c)
        _check_keys(base)
        if configs is None and replications is not None and any("seed" in c for c in cells):
            raise ConfigError(
                "seed: cannot be a factor when the design has replications (each replication "
                "sets the seed); use replications, or a configs design with replications: null"
            )
        factors = _varying(cells)
        return cls(
            base=base,
            cells=tuple(cells),
            replications=replications,
            seed=seed,
            name=str(d.get("name", "sweep")),
            factors=tuple(factors),
            spec=spec,
            run_fn=None if d.get("run_fn") is None else str(d["run_fn"]),
            tables=None if d.get("tables") is None else tuple(d["tables"]),
            run_params=spec.get("run_params") or {},
        )

    @classmethod
    def load(cls, path: str | os.PathLike) -> Design:
        """Read a design file (``.yaml`` / ``.yml`` / ``.json``; safe loaders)."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix not in (".yaml", ".yml", ".json"):
            raise ConfigError(f"{path}: unknown design format {path.suffix!r}; use .yaml or .json")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read the design file: {exc}") from None
        data = loads(text, "json" if suffix == ".json" else "yaml", path)
        if data is None:
            raise ConfigError(f"{path}: the design file is empty")
        if not isinstance(data, Mapping):
            raise ConfigError(f"{path}: a design file holds a mapping, got {type(data).__name__}")
        data = dict(data)
        data.setdefault("name", path.stem)
        return cls.from_dict(data)


DesignLike = (
    Design | Mapping[str, Any] | Sequence[MarketConfig | Mapping[str, Any]] | str | os.PathLike
)
"""What :func:`~simulator.experiments.sweep.sweep` accepts as a design."""


def _as_design(design: Any) -> Design:
    if isinstance(design, Design):
        return design
    if isinstance(design, str | os.PathLike):
        return Design.load(design)
    if isinstance(design, Mapping):
        return Design.from_dict(design)
    if isinstance(design, Sequence):
        return Design.configs(list(design))
    raise TypeError(f"design: expected a Design, mapping, path or list of configs, got {design!r}")


def _varying(cells: Sequence[Mapping[str, Any]]) -> list[str]:
    """The dotted names whose values differ between cells (dict values flattened),
    in order of first appearance; ``seed`` is never a factor."""
    flat = [_flatten(c) for c in cells]
    names: list[str] = []
    for f in flat:
        names += [k for k in f if k not in names and k != "seed"]
    missing = object()
    return [n for n in names if len({repr(f.get(n, missing)) for f in flat}) > 1]
