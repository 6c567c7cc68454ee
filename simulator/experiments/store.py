"""The results store a sweep writes, and reading it back.

One directory::

    store/
      sweep.json             designs run into the store, schema version
      manifest.jsonl         one JSON line per finished run (append-only)
      runs/<key>.parquet     one row: the run's config, seed, status, metrics
      rounds/<key>.parquet   run_key + its per-round metrics (``simulator.market.model.METRICS``)
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
  (None when ok), ``elapsed_s`` (wall time of the run; with ``store_id``, the
  store's identity, the only columns that differ between two executions of
  the same run), ``run_fn``, ``run_params_json`` (the run function's
  parameters as JSON; only for runs that have some), ``design`` (the
  design's name);
* every ``MarketConfig`` field, dicts flattened to dotted columns
  (``cost.median``, ``mix.spammer``, ``strategies.learning``,
  ``mechanism_params.price``); ``difficulty`` as a JSON list; and
  ``config_json``, the whole config (``MarketConfig.from_dict(json.loads(..))``
  rebuilds it);
* the run's headline metrics (``simulator.market.results.summarize``: spend,
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
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pandas as pd

from .changes import _FIELDS, _field_order
from .manifest import _Store
from .runfns import SweepError
from .runner import TABLES

__all__ = ["factors", "is_store", "load_results", "verify_store"]


def is_store(path: str | os.PathLike) -> bool:
    """Whether ``path`` holds a results store (its sweep.json, manifest or runs/)."""
    return _Store(path).exists()


def verify_store(store: str | os.PathLike) -> dict[str, str]:
    """Run keys of a store whose shards are missing or corrupted -> what is wrong."""
    s = _Store(store)
    return {key: why for key, e in s.entries().items() if (why := s.check(e)) is not None}


def load_results(
    store: str | os.PathLike, *, table: str = "runs", on_corrupt: str = "raise"
) -> pd.DataFrame:
    """One tidy table of a sweep store.

    Args:
        store: the directory a :func:`~simulator.experiments.sweep.sweep` wrote.
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
    runs = _concat(run_tables, st.path)
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


def _concat(tables: list, where: Path) -> pd.DataFrame:
    """One frame of the run rows; a column whose type differs between runs (a
    run function that returns a number in one run and a string in another) is
    kept as Python objects, with a warning naming it, rather than failing."""
    import pyarrow as pa

    try:
        return pa.concat_tables(tables, promote_options="permissive").to_pandas()
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        frames = [t.to_pandas() for t in tables]
        types: dict[str, set] = {}
        for t in tables:
            for f in t.schema:
                types.setdefault(f.name, set()).add(str(f.type))
        mixed = sorted(c for c, ts in types.items() if len(ts - {"null"}) > 1)
        warnings.warn(
            f"{where}: column(s) {', '.join(mixed)} hold values of different types in "
            "different runs; they are read as Python objects",
            stacklevel=3,
        )
        return pd.concat(frames, ignore_index=True)


_ID_COLUMNS = ("run_key", "design", "cell", "replication", "seed", "status")
_TAIL_COLUMNS = (
    "error", "traceback", "elapsed_s", "run_fn", "run_params_json", "store_id", "config_json",
)  # fmt: skip


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
