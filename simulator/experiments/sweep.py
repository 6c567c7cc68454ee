"""Parameter sweeps: many market runs, in parallel, into a durable store.

>>> from simulator.sweeps import Design, sweep, load_results
>>> design = Design.grid({"mechanism": ["vickrey", "first-price"], "budget": [100, 300]},
...                      base={"task_source": "synthetic", "rounds": 3}, replications=2)
>>> len(design), design.n_runs
(4, 8)

``sweep(design, store="results/name")`` runs every (cell, replication) of a
:class:`Design` on an executor and writes each run's result as Parquet shards
into ``store``; ``load_results(store)`` returns one tidy table with one row per
run. Rerunning the same sweep into the same store runs only what is missing.

Designs
-------
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
mechanism gets the comparison defaults (``simulator.compare.default_params``:
a fixed price at the cost distribution's 60th percentile, Myerson's value =
the reserve).

The store
---------
One directory::

    store/
      sweep.json             designs run into the store, schema version
      manifest.jsonl         one JSON line per finished run (append-only)
      runs/<key>.parquet     one row: the run's config, seed, status, metrics
      rounds/<key>.parquet   run_key + its per-round metrics (``simulator.model.METRICS``)
      labels/<key>.parquet   (only with ``tables=("rounds", "labels", ...)``)
      dataset/<key>.parquet  (idem)

``key`` is the first 20 hex digits of the SHA-256 of the run's canonical
config (seed included) and the run function's name: the same run always has
the same key, which is how a rerun knows what is done. Workers write their own
shards (to a temporary name, then ``os.replace``; ``runs/`` last), and send the
parent only the files' SHA-256 sums and sizes, which the parent appends to the
manifest. A run is *stored* when its manifest line exists and every file it
names has that checksum: a truncated or otherwise corrupted shard is found on
the next sweep (and rerun) and by :func:`load_results` (which raises, rather
than read it). A shard complete on disk whose manifest line was lost (the
parent killed between the two) is checked by reading it and indexed.

Columns of ``runs/*.parquet`` (and of :func:`load_results`):

* ``run_key``, ``cell`` (index of the cell in its design), ``replication``,
  ``seed``, ``status`` (``"ok"`` or ``"error"``), ``error`` and ``traceback``
  (None when ok), ``elapsed_s`` (wall time of the run; the only column that
  differs between two executions of the same run), ``run_fn``, ``design``
  (the design's name);
* every ``MarketConfig`` field, dicts flattened to dotted columns
  (``cost.median``, ``mix.spammer``, ``strategies.learning``,
  ``mechanism_params.price``); ``difficulty`` as a JSON list; and
  ``config_json``, the whole config (``MarketConfig.from_dict(json.loads(..))``
  rebuilds it);
* the run's headline metrics (``simulator.results.summarize``: spend,
  labels_bought, aggregated_accuracy, dollars_per_correct, annotator_profit,
  efficiency, incentive_gap, ...); the summary's ``rounds`` is renamed
  ``rounds_run``; NaN for failed runs.

DuckDB reads a store directly: ``SELECT mechanism, avg(dollars_per_correct)
FROM read_parquet('store/runs/*.parquet', union_by_name=true) GROUP BY 1``;
the ``rounds``/``labels``/``dataset`` shards carry ``run_key`` to join on.
With ``pyarrow.dataset`` pass the union of the shards' schemas
(``schema=pyarrow.unify_schemas([...])``): some columns, such as
``mechanism_params.price``, exist only in the shards of the runs that have
them, and by default pyarrow takes the first file's schema and drops them.

Executors
---------
Anything implementing ``concurrent.futures.Executor``. By default a sweep with
at most :data:`SEQUENTIAL_MAX` runs left to do runs in this process; larger ones use
a ``ProcessPoolExecutor`` (``spawn``, ``max_tasks_per_child`` to cap leaks)
with one worker per core. ``executor="local-dask"`` starts a local Dask
cluster; ``executor="tcp://host:8786"`` connects to an existing Dask scheduler
(``Client(address).get_executor()``; ``pip install 'vickreyfeedback[dask]'``).
Workers must see the store's directory (a shared file system on a cluster) and
import the run function by name, so run functions are module-level functions
of an installed module, never defined in a notebook.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import dataclasses
import hashlib
import importlib
import itertools
import json
import math
import os
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..files import atomic_write, atomic_write_text
from ..market.config import ConfigError, MarketConfig
from ..market.results import HEADLINES, jsonable

__all__ = [
    "DEFAULT_RUN_FN",
    "SEQUENTIAL_MAX",
    "Design",
    "SweepError",
    "SweepOutcome",
    "load_results",
    "market_with_efficiency",
    "run_market",
    "sweep",
    "verify_store",
]

SCHEMA_VERSION = 1
DEFAULT_RUN_FN = "simulator.sweeps:run_market"
SEQUENTIAL_MAX = 4
"""Sweeps with at most this many runs to do run in this process by default."""
TABLES = ("rounds", "labels", "dataset")
_RESULT_TABLE = {"rounds": "metrics", "labels": "labels", "dataset": "dataset"}
_FIELDS = [f.name for f in dataclasses.fields(MarketConfig)]
_INT_FIELDS = {f.name for f in dataclasses.fields(MarketConfig) if str(f.type).startswith("int")}


class SweepError(RuntimeError):
    """A sweep that cannot start or continue, or a store that cannot be read."""


# ---------------------------------------------------------------------- designs


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
            names one (:func:`sweep`'s ``run_fn`` wins over it).
        tables: the tables to store, if the design names them.
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

    def __post_init__(self) -> None:
        if self.replications is not None and (
            not isinstance(self.replications, int | np.integer) or self.replications < 1
        ):
            raise ConfigError(f"replications: must be an integer >= 1, got {self.replications!r}")
        if not isinstance(self.seed, int | np.integer) or self.seed < 0:
            raise ConfigError(f"seed: must be an integer >= 0, got {self.seed!r}")
        if not self.cells:
            raise ConfigError("design: has no cells")
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
        ``seed``, ``run_fn`` and ``tables``.
        """
        if not isinstance(d, Mapping):
            raise ConfigError(f"design: expected a mapping, got {type(d).__name__}")
        known = {"name", "description", "base", "grid", "sample", "configs", "replications",
                 "seed", "run_fn", "tables"}  # fmt: skip
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(
                f"design: unknown key(s) {', '.join(unknown)}; "
                f"valid keys: {', '.join(sorted(known))}"
            )
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
            for g in grids:  # a list of grids: the union of their factorials
                for key, values in g.items():
                    if isinstance(values, str) or not isinstance(values, Sequence) or not values:
                        raise ConfigError(f"grid: {key} must be a non-empty list of values")
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
        )

    @classmethod
    def load(cls, path: str | os.PathLike) -> Design:
        """Read a design file (``.yaml`` / ``.yml`` / ``.json``; safe loaders)."""
        path = Path(path)
        text = path.read_text(encoding="utf-8")
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            try:
                data = yaml.safe_load(text)
            except yaml.YAMLError as exc:
                raise ConfigError(f"{path}: not a valid YAML design: {exc}") from None
        elif path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            raise ConfigError(f"{path}: unknown design format {path.suffix!r}; use .yaml or .json")
        data = dict(data or {})
        data.setdefault("name", path.stem)
        return cls.from_dict(data)


def _varying(cells: Sequence[Mapping[str, Any]]) -> list[str]:
    """The dotted names whose values differ between cells (dict values flattened),
    in order of first appearance; ``seed`` is never a factor."""
    flat = [_flatten(c) for c in cells]
    names: list[str] = []
    for f in flat:
        names += [k for k in f if k not in names and k != "seed"]
    missing = object()
    return [n for n in names if len({repr(f.get(n, missing)) for f in flat}) > 1]


def _field_order(name: str) -> int:
    top = name.split(".")[0]
    return _FIELDS.index(top) if top in _FIELDS else len(_FIELDS)


def _check_keys(changes: Mapping[str, Any]) -> None:
    bad = sorted(k for k in changes if k.split(".")[0] not in _FIELDS)
    if bad:
        raise ConfigError(f"unknown field(s) {', '.join(bad)}; valid fields: {', '.join(_FIELDS)}")


def _show(changes: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in changes.items()) or "no changes"


def _apply(cfg: MarketConfig, changes: Mapping[str, Any]) -> MarketConfig:
    """``cfg`` with ``changes`` (dotted names set keys of dict fields)."""
    if not changes:
        return cfg
    _check_keys(changes)
    d = cfg.to_dict()
    for key, value in changes.items():
        top, _, rest = key.partition(".")
        if not rest:
            d[top] = value
            continue
        if not isinstance(d[top], dict):
            raise ConfigError(f"{key}: {top} is not a dict field")
        node = d[top]
        parts = rest.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    params_given = any(
        k == "mechanism_params" or k.startswith("mechanism_params.") for k in changes
    )
    market_changed = any(k.split(".")[0] in ("mechanism", "cost", "reserve") for k in changes)
    if market_changed and not params_given:
        from .compare import default_params

        def defaults(name: str, fields: dict) -> dict:
            # the comparison defaults depend on the cost distribution and the reserve only
            probe = MarketConfig.from_dict({**fields, "mechanism": "vickrey",
                                            "mechanism_params": {}})  # fmt: skip
            return default_params(name, probe)

        was_default = cfg.mechanism_params == defaults(cfg.mechanism, cfg.to_dict())
        if d["mechanism"] != cfg.mechanism or was_default:
            d["mechanism_params"] = defaults(d["mechanism"], d)
    return MarketConfig.from_dict(d)


def _sample_points(spec: Any, seed: int) -> list[dict[str, Any]]:
    from scipy.stats import qmc

    if not isinstance(spec, Mapping):
        raise ConfigError("sample: must be a mapping with method, n and ranges")
    method = spec.get("method", "sobol")
    n = spec.get("n")
    ranges = spec.get("ranges")
    if not isinstance(n, int) or n < 1:
        raise ConfigError(f"sample: n must be an integer >= 1, got {n!r}")
    if not isinstance(ranges, Mapping) or not ranges:
        raise ConfigError("sample: ranges must map field names to [low, high]")
    names, lows, highs, logs = [], [], [], []
    for key, r in ranges.items():
        if isinstance(r, Mapping):
            lo, hi, log = r.get("low"), r.get("high"), bool(r.get("log", False))
        elif isinstance(r, Sequence) and not isinstance(r, str) and len(r) == 2:
            (lo, hi), log = r, False
        else:
            raise ConfigError(f"sample: range of {key} must be [low, high] or {{low, high, log}}")
        if not all(isinstance(v, int | float) for v in (lo, hi)) or not lo < hi:
            raise ConfigError(f"sample: range of {key} needs numbers low < high, got {r!r}")
        if log and lo <= 0:
            raise ConfigError(f"sample: a log range of {key} needs low > 0, got {lo!r}")
        names.append(key)
        lows.append(float(lo))
        highs.append(float(hi))
        logs.append(log)
    d = len(names)
    if method == "sobol":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # n not a power of 2
            u = qmc.Sobol(d, scramble=True, seed=int(seed)).random(n)
    elif method == "lhs":
        u = qmc.LatinHypercube(d, seed=int(seed)).random(n)
    else:
        raise ConfigError(f"sample: method must be 'sobol' or 'lhs', got {method!r}")
    points = []
    for row in u:
        point = {}
        for j, key in enumerate(names):
            lo, hi = lows[j], highs[j]
            if key.split(".")[0] in _INT_FIELDS:
                point[key] = int(min(math.floor(lo + row[j] * (hi - lo + 1)), hi))
            elif logs[j]:
                point[key] = float(math.exp(math.log(lo) + row[j] * (math.log(hi) - math.log(lo))))
            else:
                point[key] = float(lo + row[j] * (hi - lo))
        points.append(point)
    return points


# ------------------------------------------------------------------ run functions


def run_market(config: MarketConfig):
    """The default run function: one market, ``simulator.run(config)``."""
    from ..market.results import run

    return run(config)


def market_with_efficiency(config: MarketConfig):
    """One market, then what its dataset teaches: adds the Bradley-Terry proxy's
    ``quality_before``, ``quality_after``, ``gain``, ``per_dollar`` and
    ``label_accuracy`` (``rlhf.dollar_efficiency(result, trainer="proxy")``)
    to the run's summary. Use it for sweeps that train
    (``run_fn: simulator.sweeps:market_with_efficiency`` in a design file)."""
    from rlhf.efficiency import dollar_efficiency

    from ..market.results import run

    result = run(config)
    eff = dollar_efficiency(result, trainer="proxy", seed=config.seed)
    result.summary.update({k: v for k, v in eff.items() if k not in ("spend",)})
    return result


def _resolve(run_fn: str) -> Callable[[MarketConfig], Any]:
    module, _, name = run_fn.partition(":")
    if not name:
        raise SweepError(f"run_fn must be 'module:function', got {run_fn!r}")
    return getattr(importlib.import_module(module), name)


def _fn_name(run_fn: str | Callable | None) -> str:
    if run_fn is None:
        return DEFAULT_RUN_FN
    if isinstance(run_fn, str):
        try:
            _resolve(run_fn)  # fail early, in the parent
        except (ImportError, AttributeError) as exc:
            raise SweepError(f"run_fn {run_fn!r} cannot be imported: {exc}") from None
        return run_fn
    module, qual = getattr(run_fn, "__module__", None), getattr(run_fn, "__qualname__", "")
    if module in (None, "__main__") or "<" in qual:
        raise SweepError(
            f"run_fn {run_fn!r} is not importable by workers: pass a module-level function of "
            "an installed module (or its 'module:function' name), not one defined in a "
            "notebook, script or closure"
        )
    return f"{module}:{qual}"


# -------------------------------------------------------------------- one run


@dataclass(frozen=True)
class RunTask:
    """What a worker needs for one run (plain data, cheap to send)."""

    key: str
    cell: int
    replication: int
    config: dict
    store: str
    run_fn: str
    tables: tuple[str, ...]
    design: str


def run_key(config: MarketConfig, run_fn: str = DEFAULT_RUN_FN) -> str:
    """The store key of a run: a hash of its config (seed included) and run function.

    Equal numbers hash alike (``1`` and ``1.0`` in ``mechanism_params``), and
    integers stay exact (two seeds never share a key)."""
    text = json.dumps(_key_form(config.to_dict()), sort_keys=True) + "|" + run_fn
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _key_form(x: Any) -> Any:
    if isinstance(x, Mapping):
        return {str(k): _key_form(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_key_form(v) for v in x]
    if isinstance(x, bool) or x is None or isinstance(x, str):
        return x
    if isinstance(x, int | np.integer):
        return int(x)
    if isinstance(x, float | np.floating):
        v = float(x) + 0.0
        if math.isfinite(v) and v.is_integer() and abs(v) < 2**53:
            return int(v)
        return "inf" if v == math.inf else "-inf" if v == -math.inf else v
    return x


def execute(task: RunTask) -> dict:
    """Run one task in a worker, write its shards, return a small receipt.

    An exception from the run is recorded (status ``"error"``, the error and
    its traceback) rather than raised, so one bad run never stops a sweep.
    """
    t0 = time.perf_counter()
    summary: dict[str, Any] = {}
    frames: dict[str, pd.DataFrame] = {}
    error = tb = None
    try:
        cfg = MarketConfig.from_dict(task.config)
        out = _resolve(task.run_fn)(cfg)
        summary = dict(getattr(out, "summary", out))
        for t in task.tables:
            frame = getattr(out, _RESULT_TABLE[t], None)
            if isinstance(frame, pd.DataFrame):
                frames[t] = frame
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        tb = traceback.format_exc()
        frames = {}
    row = _row(task, summary, error, tb, time.perf_counter() - t0)
    store = Path(task.store)
    files = {}
    for t, frame in frames.items():  # tables first, the run row last
        frame = frame.copy()
        frame.insert(0, "run_key", task.key)
        files[f"{t}/{task.key}.parquet"] = _write(store, f"{t}/{task.key}.parquet", frame)
    files[f"runs/{task.key}.parquet"] = _write(store, f"runs/{task.key}.parquet", row)
    return {
        "key": task.key,
        "cell": task.cell,
        "replication": task.replication,
        "seed": int(task.config["seed"]),
        "status": "ok" if error is None else "error",
        "error": error,
        "elapsed_s": float(row["elapsed_s"].iloc[0]),
        "files": files,
    }


def _row(task: RunTask, summary: dict, error, tb, elapsed: float) -> pd.DataFrame:
    cfg = task.config
    row: dict[str, Any] = {
        "run_key": task.key,
        "design": task.design,
        "cell": task.cell,
        "replication": task.replication,
        "seed": int(cfg["seed"]),
        "status": "ok" if error is None else "error",
    }
    for k, v in _flatten(cfg).items():
        if k != "seed":
            row[k] = v
    metrics = {("rounds_run" if k == "rounds" else k): v for k, v in summary.items()}
    for k in HEADLINES:
        metrics.setdefault(k, math.nan)
    for k, v in metrics.items():
        if k in ("mechanism", "seed") or k in row:
            continue
        row[k] = float(v) if isinstance(v, int | float | np.number) and not isinstance(
            v, bool) else v  # fmt: skip
    row.update(
        error=error,
        traceback=tb,
        elapsed_s=float(elapsed),
        run_fn=task.run_fn,
        config_json=json.dumps(jsonable(cfg), sort_keys=True),
    )
    frame = pd.DataFrame([row])
    for col in ("error", "traceback"):
        frame[col] = frame[col].astype("string")
    return frame


def _flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        name = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(_flatten(v, name + ".") if v else {})
        elif isinstance(v, list | tuple):
            out[name] = json.dumps(list(v))
        elif v is None:
            out[name] = math.nan if name in ("rounds", "n_tasks") else v
        else:
            out[name] = float(v) if isinstance(v, int) and not isinstance(v, bool) and name in (
                "rounds", "n_tasks") else v  # fmt: skip
    return out


def _write(store: Path, rel: str, frame: pd.DataFrame) -> dict[str, Any]:
    """Write a shard atomically (temporary name, then rename); return its checksum
    and size."""

    path = store / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=False))
    return {"sha256": _sha256(path), "bytes": path.stat().st_size}


def _sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


# ------------------------------------------------------------------- the store


class _Store:
    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.manifest = self.path / "manifest.jsonl"
        self.meta = self.path / "sweep.json"

    def exists(self) -> bool:
        return self.meta.exists() or self.manifest.exists() or (self.path / "runs").is_dir()

    def register(self, design: Design, run_fn: str, tables: tuple[str, ...]) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        meta = self.read_meta()
        entry = {"name": design.name, "spec": design.spec, "factors": list(design.factors),
                 "run_fn": run_fn, "tables": list(tables)}  # fmt: skip
        if entry not in meta["designs"]:
            meta["designs"].append(entry)
            atomic_write_text(self.meta, json.dumps(meta, indent=2, sort_keys=True) + "\n")

    @contextlib.contextmanager
    def lock(self):
        """Hold the store for one sweep at a time (an advisory lock on ``.lock``)."""
        import fcntl

        self.path.mkdir(parents=True, exist_ok=True)
        with open(self.path / ".lock", "a+") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.seek(0)
                raise SweepError(
                    f"{self.path} is in use by another sweep ({fh.read().strip() or 'unknown'}); "
                    "wait for it to finish or use another store"
                ) from None
            fh.seek(0)
            fh.truncate()
            fh.write(f"pid {os.getpid()}\n")
            fh.flush()
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def clean_temp(self) -> None:
        """Remove temporary shard files left by a killed sweep (never read as shards)."""
        for sub in ("runs", *TABLES):
            d = self.path / sub
            if d.is_dir():
                for tmp in d.glob(".*.tmp"):
                    with contextlib.suppress(FileNotFoundError):
                        tmp.unlink()

    def read_meta(self) -> dict:
        if self.meta.exists():
            meta = json.loads(self.meta.read_text())
            if meta.get("schema") != SCHEMA_VERSION:
                raise SweepError(
                    f"{self.path}: store schema {meta.get('schema')!r} is not the supported "
                    f"{SCHEMA_VERSION}"
                )
            return meta
        return {"schema": SCHEMA_VERSION, "designs": []}

    def entries(self) -> dict[str, dict]:
        """The manifest, last line per key wins; a torn last line is ignored."""
        out: dict[str, dict] = {}
        if not self.manifest.exists():
            return out
        with open(self.manifest, encoding="utf-8") as fh:
            for line in fh:
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut short by a kill
                if isinstance(entry, dict) and "key" in entry and "files" in entry:
                    out[entry["key"]] = entry
        return out

    def append(self, receipts: Sequence[dict]) -> None:
        if not receipts:
            return
        text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in receipts)
        with open(self.manifest, "a", encoding="utf-8") as fh:
            if fh.tell() > 0:  # a kill mid-line leaves no newline: start a fresh line
                with open(self.manifest, "rb") as rb:
                    rb.seek(-1, os.SEEK_END)
                    if rb.read(1) != b"\n":
                        fh.write("\n")
            fh.write(text)
            fh.flush()

    def check(self, entry: dict) -> str | None:
        """None if every file of the entry is present with its checksum, else why not."""
        for rel, info in entry["files"].items():
            path = self.path / rel
            if not path.exists():
                return f"{rel} is missing"
            if path.stat().st_size != info["bytes"]:
                return f"{rel} has {path.stat().st_size} bytes, the manifest says {info['bytes']}"
            if _sha256(path) != info["sha256"]:
                return f"{rel} does not match its checksum"
        return None

    def recover(self, known: Mapping[str, dict]) -> tuple[list[dict], list[str]]:
        """Index run shards that are on disk but not in the manifest.

        Returns the receipts of readable ones and the names of unreadable ones
        (which are deleted, so that they are rerun).
        """
        import pyarrow.parquet as pq

        runs = self.path / "runs"
        found, bad = [], []
        if not runs.is_dir():
            return found, bad
        for path in sorted(runs.glob("*.parquet")):
            key = path.stem
            if key in known:
                continue
            try:
                row = pq.read_table(path).to_pandas()
                files = {f"runs/{key}.parquet": None}
                for t in TABLES:
                    p = self.path / t / f"{key}.parquet"
                    if p.exists():
                        pq.read_table(p)
                        files[f"{t}/{key}.parquet"] = None
                if len(row) != 1 or row.run_key.iloc[0] != key:
                    raise ValueError("not one row for its key")
            except Exception:
                bad.append(f"runs/{key}.parquet")
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                continue
            r = row.iloc[0]
            found.append({
                "key": key, "cell": int(r.cell), "replication": int(r.replication),
                "seed": int(r.seed), "status": str(r.status),
                "error": None if pd.isna(r.error) else str(r.error),
                "elapsed_s": float(r.elapsed_s), "recovered": True,
                "files": {rel: {"sha256": _sha256(self.path / rel),
                                "bytes": (self.path / rel).stat().st_size} for rel in files},
            })  # fmt: skip
        return found, bad


def verify_store(store: str | os.PathLike) -> dict[str, str]:
    """Run keys of a store whose shards are missing or corrupted -> what is wrong."""
    s = _Store(store)
    return {key: why for key, e in s.entries().items() if (why := s.check(e)) is not None}


# ---------------------------------------------------------------------- sweeping


@dataclass
class SweepOutcome:
    """What :func:`sweep` did.

    Attributes:
        store: the store directory.
        planned: runs in the design.
        skipped: runs already stored (not run again).
        ran: runs executed now.
        failed: runs executed now that raised (recorded with their error).
        recovered: runs found complete on disk but not in the manifest.
        repaired: stored runs whose shards were corrupted or missing, rerun.
        elapsed_s: wall time of the sweep.
        executor: which executor ran it.
        lost: runs the executor could not run (e.g. a Dask worker died for good);
            they are not stored, so the next sweep runs them again.
    """

    store: Path
    planned: int
    skipped: int
    ran: int
    failed: int
    recovered: int
    repaired: int
    elapsed_s: float
    executor: str
    lost: int = 0

    def results(self, **kwargs) -> pd.DataFrame:
        """``load_results(self.store, **kwargs)``."""
        return load_results(self.store, **kwargs)


DesignLike = (
    Design | Mapping[str, Any] | Sequence[MarketConfig | Mapping[str, Any]] | str | os.PathLike
)
"""What :func:`sweep` accepts as a design."""


def sweep(
    design: DesignLike,
    *,
    store: str | os.PathLike,
    executor: cf.Executor | str | None = None,
    workers: int | None = None,
    replications: int | None = None,
    run_fn: str | Callable[[MarketConfig], Any] | None = None,
    tables: Sequence[str] | None = None,
    retry_failed: bool = False,
    progress: bool = False,
    max_tasks_per_child: int = 200,
) -> SweepOutcome:
    """Run every (cell, replication) of ``design`` not yet in ``store``.

    Args:
        design: a :class:`Design`, a design mapping, a design file's path, or
            a list of configs.
        store: the results directory (created if needed; shared by all workers).
        executor: None (in this process when at most :data:`SEQUENTIAL_MAX`
            runs of the design remain to be done, else a local process pool),
            ``"sequential"``, ``"process"``, ``"local-dask"``, a Dask scheduler
            address (``"tcp://host:8786"``),
            or any ``concurrent.futures.Executor`` (left running afterwards).
        workers: processes for ``"process"`` / ``"local-dask"`` (default: cores).
        replications: overrides the design's replications.
        run_fn: ``config -> result`` run by the workers, a ``"module:function"``
            name or a module-level function (default :func:`run_market`); its
            result's ``summary`` (or the mapping it returns) becomes the run's
            row, its ``metrics``/``labels``/``dataset`` tables the shards.
        tables: which of a run's tables to store: ``"rounds"`` (per-round
            metrics, always), ``"labels"``, ``"dataset"`` (default: the
            design's, else ``("rounds",)``).
        retry_failed: also rerun stored runs whose status is ``"error"``.
        progress: show a progress bar (runs done / failed / ETA).
        max_tasks_per_child: runs per pool worker before it is replaced.

    Returns:
        a :class:`SweepOutcome`; ``outcome.results()`` loads the table.

    Raises:
        SweepError: when a worker process dies (the pool cannot go on). Every
            run finished before is stored; rerun the same sweep to resume.
    """
    t0 = time.perf_counter()
    design = _as_design(design)
    if replications is not None:
        design = dataclasses.replace(design, replications=int(replications))
    tables = tuple(tables or design.tables or ("rounds",))
    bad = sorted(set(tables) - set(TABLES))
    if bad or "rounds" not in tables:
        raise ValueError(f"tables: must include 'rounds' and be among {TABLES}, got {tables}")
    fn = _fn_name(run_fn if run_fn is not None else design.run_fn)
    st = _Store(Path(store).resolve())  # workers elsewhere need the absolute path
    with st.lock():
        return _sweep(design, st, fn, tables, executor, workers, retry_failed, progress,
                      max_tasks_per_child, t0)  # fmt: skip


def _sweep(design, st, fn, tables, executor, workers, retry_failed, progress, max_tasks, t0):
    st.register(design, fn, tables)
    st.clean_temp()

    entries = st.entries()
    recovered, unreadable = st.recover(entries)
    st.append(recovered)
    entries.update({r["key"]: r for r in recovered})

    # first pass: every run's key (two cells giving the same run are refused) and
    # which runs are still to do; the tasks themselves are made lazily in the second
    keys: list[str] = []
    where: dict[str, tuple[int, int]] = {}
    for cell, rep, cfg in design.runs():
        key = run_key(cfg, fn)
        if key in where:
            c0, r0 = where[key]
            raise ConfigError(
                f"design {design.name!r}: cell {cell} ({_show(design.cells[cell])}) and cell "
                f"{c0} ({_show(design.cells[c0])}) are the same run (replications {rep} and "
                f"{r0}); the design's cells overlap, remove the repeat"
            )
        where[key] = (cell, rep)
        keys.append(key)
    del where
    to_run: set[str] = set()
    skipped, repaired = 0, len(unreadable)
    for key in keys:
        entry = entries.get(key)
        if entry is None:
            to_run.add(key)
            continue
        why = st.check(entry)
        if why is not None:
            repaired += 1
            warnings.warn(f"{st.path}: run {key} {why}; running it again", stacklevel=3)
            to_run.add(key)
        elif entry["status"] == "error":
            if retry_failed:
                to_run.add(key)
            else:
                skipped += 1
        elif any(f"{t}/{key}.parquet" not in entry["files"] for t in tables):
            to_run.add(key)  # stored without a table asked for now: run it again to add it
        else:
            skipped += 1

    def todo() -> Iterator[RunTask]:
        """The runs to do, made one at a time (memory flat in the number of runs)."""
        for (cell, rep, cfg), key in zip(design.runs(), keys, strict=True):
            if key in to_run:
                yield RunTask(key, cell, rep, cfg.to_dict(), str(st.path), fn, tables,
                              design.name)  # fmt: skip

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=design.n_runs, initial=skipped, unit="run", desc=design.name,
                   dynamic_ncols=True)  # fmt: skip
    ex, owned, label = _executor(executor, len(to_run), workers, max_tasks)
    ran = failed = lost = 0
    interrupted = False
    try:
        for receipt in _map(ex, todo(), _limit(ex, workers)):
            if receipt.get("lost"):
                lost += 1
                warnings.warn(
                    f"{st.path}: the executor lost run {receipt['key']} ({receipt['error']}); "
                    "it is not stored, so the next sweep runs it again",
                    stacklevel=3,
                )
                continue
            st.append([receipt])
            ran += 1
            failed += receipt["status"] == "error"
            if bar is not None:
                bar.update(1)
                bar.set_postfix(failed=failed, refresh=False)
    except KeyboardInterrupt:
        interrupted = True
        print(
            f"\ninterrupted: {skipped + ran} of {design.n_runs} runs are stored in {st.path}; "
            "run the same sweep again to resume",
            file=sys.stderr,
        )
        raise
    finally:
        if bar is not None:
            bar.close()
        if owned is not None:
            owned(interrupted)
    return SweepOutcome(
        store=st.path,
        planned=design.n_runs,
        skipped=skipped,
        ran=ran,
        failed=failed,
        recovered=len(recovered),
        repaired=repaired,
        elapsed_s=time.perf_counter() - t0,
        executor=label,
        lost=lost,
    )


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


class _Sequential(cf.Executor):
    """Runs each task in this process when its result is asked for."""

    def submit(self, fn, /, *args, **kwargs):
        future: cf.Future = cf.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            future.set_exception(exc)
        return future


def _executor(spec, n_todo: int, workers: int | None, max_tasks: int):
    """(executor, ``close(interrupted)`` or None, label)."""
    if isinstance(spec, cf.Executor):
        return spec, None, type(spec).__name__
    n = int(workers or os.cpu_count() or 1)
    if spec is None:
        spec = "sequential" if n_todo <= SEQUENTIAL_MAX or n == 1 else "process"
    if spec == "sequential":
        return _Sequential(), None, "sequential"
    if spec == "process":
        import multiprocessing as mp

        pool = cf.ProcessPoolExecutor(
            max_workers=n, mp_context=mp.get_context("spawn"), max_tasks_per_child=max_tasks
        )

        def close_pool(interrupted: bool) -> None:
            # after Ctrl-C do not wait for the runs in flight (they were interrupted too)
            pool.shutdown(wait=not interrupted, cancel_futures=True)

        return pool, close_pool, f"process x{n}"
    if isinstance(spec, str) and (spec == "local-dask" or "://" in spec):
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise SweepError(
                "Dask executors need the dask extra: pip install 'vickreyfeedback[dask]'"
            ) from None
        import logging

        if spec == "local-dask":
            cluster = LocalCluster(
                n_workers=n, threads_per_worker=1, processes=True,
                dashboard_address=None, silence_logs=logging.ERROR,
            )  # fmt: skip
            client = Client(cluster)

            def close(interrupted: bool) -> None:
                client.close()
                cluster.close()

            return client.get_executor(), close, f"local-dask x{n}"
        client = Client(spec)
        return client.get_executor(), lambda interrupted: client.close(), f"dask {spec}"
    raise ValueError(
        f"executor: expected 'sequential', 'process', 'local-dask', a Dask scheduler address "
        f"or a concurrent.futures.Executor, got {spec!r}"
    )


def _limit(ex: cf.Executor, workers: int | None) -> Callable[[], int]:
    """How many runs to keep submitted at once: two per worker (at least 4). For a
    Dask cluster the worker threads are counted on the scheduler, every few seconds
    (a cluster may grow while the sweep runs)."""
    if isinstance(ex, _Sequential):
        return lambda: 1
    client = getattr(ex, "_client", None)
    if client is not None and hasattr(client, "nthreads"):
        state = {"checked": -math.inf, "limit": 4}

        def dask_limit() -> int:
            now = time.monotonic()
            if now - state["checked"] > 5.0:
                with contextlib.suppress(Exception):
                    state["limit"] = max(4, 2 * sum(client.nthreads().values()))
                state["checked"] = now
            return state["limit"]

        return dask_limit
    n = getattr(ex, "_max_workers", None) or workers or os.cpu_count() or 1
    return lambda: max(4, 2 * int(n))


def _worker_died(exc: BaseException) -> SweepError:
    return SweepError(
        f"a worker process died ({exc}); the runs finished so far are stored. "
        "Run the same sweep again to resume."
    )


def _map(ex: cf.Executor, tasks: Iterable[RunTask], limit: Callable[[], int]) -> Iterator[dict]:
    """Receipts as runs finish, with at most ``limit()`` submitted at once (so the
    parent's memory does not grow with the number of runs)."""
    pending: dict[cf.Future, RunTask] = {}
    it = iter(tasks)
    try:
        while True:
            cap = limit()
            while len(pending) < cap:
                task = next(it, None)
                if task is None:
                    break
                try:
                    pending[ex.submit(execute, task)] = task
                except cf.process.BrokenProcessPool as exc:  # died before we saw a result
                    raise _worker_died(exc) from exc
            if not pending:
                return
            done, _ = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
            for fut in done:
                task = pending.pop(fut)
                try:
                    yield fut.result()
                except cf.process.BrokenProcessPool as exc:
                    raise _worker_died(exc) from exc
                except cf.CancelledError:
                    continue
                except Exception as exc:  # the executor lost the task (e.g. a Dask worker died)
                    yield {"lost": True, "key": task.key, "error": f"{type(exc).__name__}: {exc}"}
    finally:
        for fut in pending:
            fut.cancel()


# ---------------------------------------------------------------------- reading


def load_results(
    store: str | os.PathLike, *, table: str = "runs", on_corrupt: str = "raise"
) -> pd.DataFrame:
    """One tidy table of a sweep store.

    Args:
        store: the directory a :func:`sweep` wrote.
        table: ``"runs"`` (one row per run: config columns, seed, status,
            headline metrics; see the module docstring), ``"rounds"`` (one
            row per run and round: ``run_key``, ``cell``, ``replication``,
            ``seed``, the design's factor columns and the per-round metrics),
            ``"labels"`` or ``"dataset"`` (when the sweep stored them).
        on_corrupt: ``"raise"`` (default) or ``"skip"`` (warn and leave out
            runs whose shards are missing or fail their checksum).

    Raises:
        SweepError: for a directory that is not a store, or corrupted shards
            (naming them; rerun the sweep to repair them).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    if table not in ("runs", *TABLES):
        raise ValueError(f"table: must be 'runs', 'rounds', 'labels' or 'dataset', got {table!r}")
    if on_corrupt not in ("raise", "skip"):
        raise ValueError(f"on_corrupt: must be 'raise' or 'skip', got {on_corrupt!r}")
    st = _Store(store)
    if not st.exists():
        raise SweepError(f"{st.path} is not a sweep store (no sweep.json, manifest or runs/)")
    entries = st.entries()
    bad = {key: why for key, e in entries.items() if (why := st.check(e)) is not None}
    orphans = []
    runs_dir = st.path / "runs"
    if runs_dir.is_dir():
        orphans = [p.stem for p in runs_dir.glob("*.parquet") if p.stem not in entries]
    if bad:
        lines = "\n".join(f"  {k}: {why}" for k, why in sorted(bad.items())[:10])
        msg = (
            f"{st.path}: {len(bad)} run(s) have missing or corrupted shards "
            f"(rerun the sweep to repair them):\n{lines}"
        )
        if on_corrupt == "raise":
            raise SweepError(msg)
        warnings.warn(msg, stacklevel=2)
    keys = sorted(k for k in entries if k not in bad)
    if orphans:
        warnings.warn(
            f"{st.path}: {len(orphans)} run shard(s) are not in the manifest (a sweep was "
            "killed); rerun the sweep to check and index them. They are left out.",
            stacklevel=2,
        )
    run_tables = [pq.read_table(st.path / "runs" / f"{k}.parquet") for k in keys]
    if not run_tables:
        return pd.DataFrame()
    runs = pa.concat_tables(run_tables, promote_options="permissive").to_pandas()
    runs = runs.sort_values(["design", "cell", "replication", "run_key"], ignore_index=True)
    runs = runs[_column_order(runs.columns)]
    if table == "runs":
        return runs
    parts = []
    factors = _factors(st, runs)
    ident = runs.set_index("run_key")[["cell", "replication", "seed", *factors]]
    for key in runs.run_key:
        path = st.path / table / f"{key}.parquet"
        if path.exists():
            parts.append(pq.read_table(path).to_pandas())
    if not parts:
        raise SweepError(
            f"{st.path}: no {table!r} tables stored (sweep with tables=(..., {table!r}))"
        )
    out = pd.concat(parts, ignore_index=True)
    return ident.reset_index().merge(out, on="run_key", how="right")


_ID_COLUMNS = ("run_key", "design", "cell", "replication", "seed", "status")
_TAIL_COLUMNS = ("error", "traceback", "elapsed_s", "run_fn", "config_json")


def _column_order(columns) -> list[str]:
    """Ids, config fields (in ``MarketConfig`` order), metrics, then the rest:
    the same order whichever shards a store holds."""
    cols = list(columns)
    config = sorted(
        (c for c in cols if c not in _ID_COLUMNS and c.split(".")[0] in _FIELDS),
        key=lambda c: (_field_order(c), c),
    )
    head = [c for c in _ID_COLUMNS if c in cols]
    tail = [c for c in _TAIL_COLUMNS if c in cols]
    rest = [c for c in cols if c not in {*head, *config, *tail}]
    return head + config + rest + tail


def _factors(st: _Store, runs: pd.DataFrame) -> list[str]:
    """The columns that define a store's cells: its designs' factors, plus any
    other config column that still varies within such a cell (a store holding
    runs of a design that was changed and rerun), so that a cell is always one
    config up to its seed."""
    names: list[str] = []
    for d in st.read_meta()["designs"]:
        names += [f for f in d["factors"] if f not in names]
    names = [n for n in names if n in runs.columns]
    others = [c for c in _flatten_cols(runs) if c not in names]
    if not len(runs):
        return names
    if names:
        varies = runs.groupby(names, dropna=False)[others].nunique(dropna=False).max() > 1
    else:
        varies = runs[others].nunique(dropna=False) > 1
    return names + [c for c in others if bool(varies.get(c, False))]


def _flatten_cols(runs: pd.DataFrame) -> list[str]:
    return [c for c in runs.columns if c.split(".")[0] in _FIELDS and c != "seed"]


def factors(store: str | os.PathLike, runs: pd.DataFrame | None = None) -> list[str]:
    """The config columns a store's designs vary (what a report groups by)."""
    st = _Store(store)
    return _factors(st, load_results(store) if runs is None else runs)
