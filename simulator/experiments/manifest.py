"""The store's index on disk: ``sweep.json`` (the designs run into it, the
schema, the store's identity), the append-only ``manifest.jsonl`` (one
receipt per finished run, each line validated on reading), the lock that
lets one sweep at a time write, and what is done with files found in the way
(:meth:`_Store.recover` indexes this store's orphaned shards and moves
anything else to ``quarantine/``, never deleting it). The layout and reading
a store back are in :mod:`simulator.experiments.store`.
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
from .design import Design
from .runfns import SweepError
from .runner import TABLES, run_key

__all__ = ["KEY_RE", "SCHEMA_VERSION"]

SCHEMA_VERSION = 1


class _Store:
    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.manifest = self.path / "manifest.jsonl"
        self.meta = self.path / "sweep.json"

    def exists(self) -> bool:
        """A store has its ``sweep.json`` or its manifest (a folder that merely
        has a ``runs/`` subfolder, common in other tools, is not one)."""
        return self.meta.is_file() or self.manifest.is_file()

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
