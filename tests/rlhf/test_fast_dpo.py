"""rlhf.fast_dpo: training the top layers on cached activations of the frozen
ones gives full fine-tuning's loss and gradients for the layers it trains.

The model is a 4-layer version of ``load_policy("tiny")``'s random Llama (the
tiny policy has 2 layers, too few to leave a frozen block and a trained one of
more than one layer each).
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from transformers import LlamaForCausalLM

from rlhf.dpo import _dpo_loss, _encode_pairs, _pad_id, _pair_batch_logps, train_dpo
from rlhf.fast_dpo import FrozenPrefix, trainable_top
from rlhf.models import load_policy

from .test_dpo import PAIRS

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def four_layers():
    tiny, tok = load_policy("tiny")
    config = copy.deepcopy(tiny.config)
    config.num_hidden_layers = 4
    torch.manual_seed(3)
    model = LlamaForCausalLM(config).eval()
    return model, tok


@pytest.fixture
def model_tok(four_layers):
    model, tok = four_layers
    return copy.deepcopy(model), tok


def _triples(tok):
    return _encode_pairs(tok, PAIRS, 128, True)


def test_cached_activations_equal_the_live_ones(model_tok):
    """What the cache holds for a sequence is what enters the first trained layer
    in the model's own forward (a hook on that layer), for every token."""
    model, tok = model_tok
    prefix = FrozenPrefix(model, 2)
    seqs = [np.concatenate([p, c]) for p, c, _ in _triples(tok)]
    cached = prefix.hidden(seqs)
    seen = {}
    hook = model.model.layers[2].register_forward_pre_hook(
        lambda mod, args, kw: seen.__setitem__("h", (args[0] if args else kw["hidden_states"])),
        with_kwargs=True,
    )
    try:
        for s, h in zip(seqs, cached, strict=True):
            with torch.no_grad():
                model(input_ids=torch.from_numpy(s)[None])
            assert h.shape == (len(s), model.config.hidden_size)
            torch.testing.assert_close(h, seen["h"][0].float(), rtol=1e-5, atol=1e-6)
    finally:
        hook.remove()
    # a second call serves the same tensors from the cache
    again = prefix.hidden(seqs[:2])
    assert all(a is b for a, b in zip(again, cached[:2], strict=True))


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_fast_loss_and_gradients_equal_full_fine_tunings_on_the_trained_layers(model_tok, attn):
    """One batch: the same summed log-probs, the same DPO loss, and the same
    gradient on every parameter of the top two layers and the final norm as the
    full model's packed forward and backward."""
    model, tok = model_tok
    model.set_attn_implementation(attn)
    triples = _triples(tok)
    pad = _pad_id(tok)
    top = trainable_top(model, 2)
    with torch.no_grad():
        rc, rr = _pair_batch_logps(model, triples, pad, True)
        rc, rr = rc + 0.3, rr - 0.2  # a reference other than the policy: a non-trivial loss
    w = torch.linspace(0.5, 1.5, len(triples))

    model.zero_grad(set_to_none=True)
    pc, pr = _pair_batch_logps(model, triples, pad, True)
    full_loss = _dpo_loss(pc, pr, rc, rr, 0.1, w)
    full_loss.backward()
    full_grads = [p.grad.clone() for p in top]
    assert any(p.grad is not None for p in model.model.layers[0].parameters())

    model.zero_grad(set_to_none=True)
    fc, fr = FrozenPrefix(model, 2).pair_logps(triples, pad)
    torch.testing.assert_close(fc, pc.detach(), rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(fr, pr.detach(), rtol=1e-5, atol=1e-4)
    fast_loss = _dpo_loss(fc, fr, rc, rr, 0.1, w)
    fast_loss.backward()
    assert fast_loss.item() == pytest.approx(full_loss.item(), rel=1e-5)
    for p, g in zip(top, full_grads, strict=True):
        torch.testing.assert_close(p.grad, g, rtol=1e-4, atol=1e-6)
    # nothing below the cut is touched by the fast pass
    assert all(p.grad is None for p in model.model.layers[0].parameters())


def test_train_dpo_fast_mode_equals_full_training_with_the_lower_layers_frozen(four_layers):
    """The whole loop: the same losses step by step and the same trained weights
    as full fine-tuning of a model whose lower layers the caller froze; and the
    caller's requires_grad flags are restored."""
    model0, tok = four_layers
    kw = {"lr": 1e-3, "epochs": 2, "batch_size": 3, "progress": False, "seed": 5}
    fast = copy.deepcopy(model0)
    res_fast = train_dpo(fast, tok, PAIRS, train_layers=2, **kw)
    assert all(p.requires_grad for p in fast.parameters())  # restored

    full = copy.deepcopy(model0)
    keep = {id(p) for p in trainable_top(full, 2)}
    for p in full.parameters():
        p.requires_grad_(id(p) in keep)
    res_full = train_dpo(full, tok, PAIRS, **kw)

    np.testing.assert_allclose(res_fast.ref_logps, res_full.ref_logps, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(res_fast.losses, res_full.losses, rtol=1e-4, atol=1e-5)
    assert res_fast.reward_accuracy == res_full.reward_accuracy
    for (name, a), (_, b) in zip(fast.named_parameters(), full.named_parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=name)
    # the lower layers did not move
    for a, b in zip(
        fast.model.layers[0].parameters(), model0.model.layers[0].parameters(), strict=True
    ):
        assert torch.equal(a, b)
    # and training did something
    assert res_fast.losses[-1] < res_fast.losses[0]


@pytest.mark.parametrize("bad", [0, 5, -1, True, 2.0, "2"])
def test_bad_train_layers_are_refused_before_training(model_tok, bad):
    model, tok = model_tok
    before = [p.clone() for p in model.parameters()]
    with pytest.raises(ValueError, match="train_layers"):
        train_dpo(model, tok, PAIRS, train_layers=bad, progress=False)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_the_cache_is_shared_by_same_base_policies_and_not_by_changed_ones(model_tok):
    """Two copies of one base share cached activations; changing a weight below
    the cut (in place, as an optimizer does) gives the model its own."""
    model, _tok = model_tok
    twin = copy.deepcopy(model)
    assert FrozenPrefix(model, 2).cache is FrozenPrefix(twin, 2).cache
    with torch.no_grad():
        twin.model.layers[1].mlp.up_proj.weight[3, 5] += 0.5
    assert FrozenPrefix(model, 2).cache is not FrozenPrefix(twin, 2).cache
    # a change above the cut keeps the cache (those layers are recomputed anyway)
    with torch.no_grad():
        model.model.layers[3].mlp.up_proj.weight[0, 0] += 0.5
    assert FrozenPrefix(model, 2).cache is FrozenPrefix(copy.deepcopy(model), 2).cache


def test_without_lr_each_mode_trains_at_its_validated_rate(four_layers):
    """lr=None: the fast mode steps at FAST_LR and full fine-tuning at FULL_LR
    (rlhf.settings.default_lr), the same weights as passing them by hand."""
    from rlhf.settings import FAST_LR, FULL_LR

    model0, tok = four_layers
    kw = {"epochs": 1, "batch_size": 3, "progress": False, "seed": 1, "evaluate": False}
    for layers, rate in [(2, FAST_LR), (None, FULL_LR)]:
        auto, explicit = copy.deepcopy(model0), copy.deepcopy(model0)
        train_dpo(auto, tok, PAIRS, train_layers=layers, **kw)
        train_dpo(explicit, tok, PAIRS, train_layers=layers, lr=rate, **kw)
        for a, b in zip(auto.parameters(), explicit.parameters(), strict=True):
            assert torch.equal(a, b)
        top = model0.model.layers[3].mlp.up_proj.weight
        moved = (auto.model.layers[3].mlp.up_proj.weight - top).abs().max().item()
        # an AdamW step moves a weight by at most about 3.2 lr (1 lr on the first step),
        # and this weight moved by more than lr / 10: the rate really differs
        steps = -(-len(PAIRS) // 3)
        assert rate / 10 < moved <= 3.2 * steps * rate
