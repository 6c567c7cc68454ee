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

import contextlib
import json
import os
import re
import uuid
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from ..files import atomic_write_text, sha256_of
from ..market.config import MarketConfig
from ..market.results import jsonable
from .changes import _FIELDS, _field_order
from .design import Design
from .runfns import SweepError
from .runner import TABLES, run_key

__all__ = ["factors", "is_store", "load_results", "verify_store"]

SCHEMA_VERSION = 1


class _Store:
    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.manifest = self.path / "manifest.jsonl"
        self.meta = self.path / "sweep.json"

    def exists(self) -> bool:
        return self.meta.exists() or self.manifest.exists() or (self.path / "runs").is_dir()

    def register(
        self, design: Design, run_fn: str, tables: tuple[str, ...], run_params: dict | None = None
    ) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        meta = self.read_meta()
        changed = "store_id" not in meta
        meta.setdefault("store_id", uuid.uuid4().hex)
        entry = {"name": design.name, "spec": design.spec, "factors": list(design.factors),
                 "run_fn": run_fn, "tables": list(tables)}  # fmt: skip
        if run_params:
            entry["run_params"] = jsonable(dict(run_params))
        if entry not in meta["designs"]:
            meta["designs"].append(entry)
            changed = True
        if changed:
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
                    if _TMP_RE.match(tmp.name):  # ours (files.atomic_write); others untouched
                        with contextlib.suppress(FileNotFoundError):
                            tmp.unlink()

    def read_meta(self) -> dict:
        if self.meta.exists():
            try:
                meta = json.loads(self.meta.read_text(encoding="utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise SweepError(
                    f"{self.meta}: not a valid store description ({exc}); restore it from a "
                    "backup, or move the store aside and sweep into a new one"
                ) from None
            if not isinstance(meta, dict) or not isinstance(meta.get("designs"), list):
                raise SweepError(f"{self.meta}: not a store description (no list of designs)")
            if meta.get("schema") != SCHEMA_VERSION:
                raise SweepError(
                    f"{self.meta}: store schema {meta.get('schema')!r} is not the supported "
                    f"{SCHEMA_VERSION}"
                )
            return meta
        return {"schema": SCHEMA_VERSION, "designs": []}

    def store_id(self) -> str:
        """This store's identity (made when it is first registered): every run row
        carries it, so a shard copied in from another store is told apart."""
        return str(self.read_meta().get("store_id", ""))

    def quarantine(self, path: Path, why: str) -> None:
        """Move a file that is in the way to ``quarantine/`` (never delete it)."""
        rel = path.relative_to(self.path)
        target = self.path / "quarantine" / rel
        n = 1
        while target.exists():
            target = self.path / "quarantine" / rel.parent / f"{rel.name}.{n}"
            n += 1
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)
        warnings.warn(
            f"{self.path}: moved {rel} to {target.relative_to(self.path)}: {why}", stacklevel=4
        )

    def entries(self) -> dict[str, dict]:
        """The manifest, last line per key wins; a torn last line is ignored, and
        a line that is not a receipt of this store's layout (a key that is not a
        run key, a file outside the store's run shards) is left out with a warning."""
        out: dict[str, dict] = {}
        if not self.manifest.exists():
            return out
        bad: list[int] = []
        with open(self.manifest, encoding="utf-8", errors="replace") as fh:
            for number, line in enumerate(fh, 1):
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    if line.endswith("\n"):
                        bad.append(number)  # a torn last line has no newline: not reported
                    continue
                if _valid_entry(entry):
                    out[entry["key"]] = entry
                else:
                    bad.append(number)
        if bad:
            warnings.warn(
                f"{self.manifest}: {len(bad)} line(s) are not run receipts and are left out "
                f"(first: line {bad[0]}); their runs count as not stored",
                stacklevel=3,
            )
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
            if sha256_of(path) != info["sha256"]:
                return f"{rel} does not match its checksum"
        return None

    def recover(self, known: Mapping[str, dict]) -> tuple[list[dict], list[str]]:
        """Index run shards that are on disk but not in the manifest.

        Returns the receipts of the shards that are this store's runs, and the
        names of the files found in the way (unreadable, not named by a run key,
        written by another store, or not matching their own config), which are
        moved to ``quarantine/`` with a warning (never deleted) and so rerun.
        """
        import pyarrow.parquet as pq

        runs = self.path / "runs"
        found, bad = [], []
        if not runs.is_dir():
            return found, bad
        me = self.store_id()
        for path in sorted(runs.glob("*.parquet")):
            key = path.stem
            if key in known:
                continue
            why = None
            if not KEY_RE.match(key):
                why = "its name is not a run key, so it is not a shard of this store"
            else:
                try:
                    row = pq.read_table(path).to_pandas()
                    if len(row) != 1 or row.run_key.iloc[0] != key:
                        raise ValueError("not one row for its key")
                    r = row.iloc[0]
                    other = r.get("store_id")
                    if isinstance(other, str) and other and other != me:
                        why = "it was written by another store"
                    elif _key_of(r) != key:
                        why = "its key does not match its config and run function"
                    files = {f"runs/{key}.parquet": None}
                    for t in TABLES:
                        p = self.path / t / f"{key}.parquet"
                        if p.exists():
                            pq.read_table(p)
                            files[f"{t}/{key}.parquet"] = None
                except Exception as exc:
                    why = f"it cannot be read as a run shard ({type(exc).__name__})"
            if why is not None:
                bad.append(f"runs/{path.name}")
                self.quarantine(path, why)
                continue
            found.append({
                "key": key, "cell": int(r.cell), "replication": int(r.replication),
                "seed": int(r.seed), "status": str(r.status),
                "error": None if pd.isna(r.error) else str(r.error),
                "elapsed_s": float(r.elapsed_s), "recovered": True,
                "files": {rel: {"sha256": sha256_of(self.path / rel),
                                "bytes": (self.path / rel).stat().st_size} for rel in files},
            })  # fmt: skip
        return found, bad


KEY_RE = re.compile(r"^[0-9a-f]{20}$")
"""A run key: 20 lowercase hex digits (:func:`~simulator.experiments.runner.run_key`)."""
_TMP_RE = re.compile(r"^\.[0-9a-f]{20}\.parquet\.[A-Za-z0-9_]+\.tmp$")
"""A shard's temporary name while it is written (:func:`simulator.files.atomic_write`)."""
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")


def _valid_entry(entry: object) -> bool:
    """A manifest line of this layout: a run key, and only that run's shard
    paths (never a path outside the store) with a SHA-256 and a size."""
    if not isinstance(entry, dict) or not isinstance(entry.get("key"), str):
        return False
    key, files = entry["key"], entry.get("files")
    if not KEY_RE.match(key) or not isinstance(files, dict) or f"runs/{key}.parquet" not in files:
        return False
    allowed = {f"{t}/{key}.parquet" for t in ("runs", *TABLES)}
    for rel, info in files.items():
        if rel not in allowed or not isinstance(info, dict):
            return False
        if not isinstance(info.get("sha256"), str) or not _SHA_RE.match(info["sha256"]):
            return False
        size = info.get("bytes")
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            return False
    return entry.get("status") in ("ok", "error") and all(
        isinstance(entry.get(k), int) and not isinstance(entry.get(k), bool)
        for k in ("cell", "replication", "seed")
    )


def _key_of(row: pd.Series) -> str | None:
    """The run key a stored row's own config, run function and parameters give."""
    try:
        cfg = MarketConfig.from_dict(json.loads(row["config_json"]))
        params_json = row.get("run_params_json")
        params = json.loads(params_json) if isinstance(params_json, str) else {}
        return run_key(cfg, str(row["run_fn"]), params)
    except Exception:
        return None


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
