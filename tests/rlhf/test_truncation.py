"""Truncated replies (cut at a generation cap) get no eos in DPO: the optional
truncated_chosen / truncated_rejected columns of a pairs frame, and how the
flags travel from candidates (make_pairs) and market datasets
(training_pairs, as_ab, heldout_pairs_as_preferences) to the trainer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import rlhf.dpo
import rlhf.models
from rlhf.dpo import (
    _check_pairs,
    _completion_ids,
    _encode_pairs,
    implicit_reward_accuracy,
    sequence_logps,
)
from rlhf.efficiency import as_ab, fine_tune, training_pairs
from rlhf.evaluation import heldout_pairs_as_preferences
from rlhf.models import load_policy, load_tokenizer
from rlhf.taskworld import PAIR_COLUMNS, make_pairs

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tok():
    return load_tokenizer()


def _pairs(**flags) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "prompt": ["Review a cafe.", "Describe a park."],
            "chosen": ["Lovely coffee and kind staff", "A green and quiet"],
            "rejected": ["Cold and rude", "Noisy, dirty and"],
            **flags,
        }
    )


# ------------------------------------------------------------------ rlhf.dpo


def test_completion_ids_append_eos_only_to_replies_that_ended(tok):
    eos = tok.eos_token_id
    texts = ["Great coffee.", "A long reply that was cut", "Fine."]
    plain = tok(texts, add_special_tokens=False)["input_ids"]
    assert _completion_ids(tok, texts) == [[*x, eos] for x in plain]  # unchanged default
    got = _completion_ids(tok, texts, [False, True, np.bool_(False)])
    assert got == [[*plain[0], eos], plain[1], [*plain[2], eos]]
    assert _completion_ids(tok, texts, [False] * 3) == _completion_ids(tok, texts)
    # an empty completion keeps its eos: there would be nothing to score
    assert _completion_ids(tok, [""], [True]) == [[eos]]
    with pytest.raises(ValueError, match="2 truncation flags for 3 completions"):
        _completion_ids(tok, texts, [True, False])


def test_pairs_frames_carry_the_flags_per_side(tok):
    eos = tok.eos_token_id
    without = _encode_pairs(tok, _pairs(), 256, True)
    flagged = _encode_pairs(
        tok, _pairs(truncated_chosen=[False, True], truncated_rejected=[True, True]), 256, True
    )
    for (p0, c0, r0), (p1, c1, r1), (cut_c, cut_r) in zip(
        without, flagged, [(False, True), (True, True)], strict=True
    ):
        assert p0.tolist() == p1.tolist()
        assert c0[-1] == eos and r0[-1] == eos
        assert c1.tolist() == (c0[:-1].tolist() if cut_c else c0.tolist())
        assert r1.tolist() == (r0[:-1].tolist() if cut_r else r0.tolist())
    # one column alone: only that side changes
    only = _encode_pairs(tok, _pairs(truncated_rejected=[True, False]), 256, True)
    assert only[0][1].tolist() == without[0][1].tolist()
    assert only[0][2].tolist() == without[0][2][:-1].tolist()


@pytest.mark.parametrize("bad", [["yes", False], [np.nan, False], [2, 0]])
def test_flag_columns_must_be_booleans(bad):
    _check_pairs(_pairs(truncated_chosen=[True, False]))
    _check_pairs(_pairs(truncated_chosen=np.array([1, 0])))
    with pytest.raises(ValueError, match=r"truncated_chosen'\] at row 0 is .*, not a boolean"):
        _check_pairs(_pairs(truncated_chosen=bad))


def test_a_truncated_completion_is_scored_without_eos():
    model, tok = load_policy("tiny")
    prompts, texts = ["Review a cafe."] * 2, ["Lovely coffee", "Lovely coffee"]
    lp = sequence_logps(model, tok, prompts, texts, truncated=[False, True]).numpy()
    assert lp[1] > lp[0]  # the ended one also pays log p(eos) < 0
    assert lp[0] == pytest.approx(sequence_logps(model, tok, prompts[:1], texts[:1]).item())
    pairs = _pairs(truncated_chosen=[True, True], truncated_rejected=[False, False])
    ref_flagged = rlhf.dpo._pair_logps(
        model, tok, pairs, batch_size=2, max_length=256, chat_template=True, shared_prompt=True
    )
    ref_plain = rlhf.dpo._pair_logps(
        model, tok, _pairs(), batch_size=2, max_length=256, chat_template=True, shared_prompt=True
    )
    assert (ref_flagged[0] > ref_plain[0]).all()  # chosen: no eos term
    np.testing.assert_allclose(ref_flagged[1], ref_plain[1], rtol=1e-6)
    # the model is its own reference: every pair ties
    assert implicit_reward_accuracy(model, model, tok, pairs) == 0.5


# ------------------------------------------------------------------ carrying the flags


def _dataset(**extra) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "prompt": ["p1", "p2", "p3"],
            "response_a": ["a1", "a2", "a3"],
            "response_b": ["b1", "b2", "b3"],
            "label": np.array([1, 0, 1], dtype=np.int8),
            "n_labels": [3, 2, 1],
            **extra,
        }
    )


def test_training_pairs_map_the_flags_to_chosen_and_rejected():
    assert "truncated_chosen" not in training_pairs(_dataset())
    pairs = training_pairs(
        _dataset(truncated_a=[True, False, False], truncated_b=[False, True, True])
    )
    # label 1: chosen is B
    assert pairs.truncated_chosen.tolist() == [False, False, True]
    assert pairs.truncated_rejected.tolist() == [True, True, False]
    assert pairs.truncated_chosen.dtype == bool
    one_side = training_pairs(_dataset(truncated_b=[True, False, None]))
    assert one_side.truncated_chosen.tolist() == [True, False, False]
    assert one_side.truncated_rejected.tolist() == [False, False, False]
    ab = as_ab(pairs)
    assert ab.truncated_b.tolist() == pairs.truncated_chosen.tolist()
    assert ab.truncated_a.tolist() == pairs.truncated_rejected.tolist()
    assert "truncated_a" not in as_ab(training_pairs(_dataset()))


def test_fine_tune_passes_the_flags_to_train_dpo(monkeypatch):
    seen = {}
    monkeypatch.setattr(rlhf.models, "load_policy", lambda name: (None, None))
    monkeypatch.setattr(rlhf.dpo, "train_dpo", lambda m, t, pairs, **kw: seen.update(p=pairs))
    pairs = training_pairs(_dataset(truncated_a=[True, False, False], truncated_b=[False] * 3))
    fine_tune("dpo", pairs, batch_size=2)  # 3 pairs: fewer than a default batch is refused
    assert list(seen["p"].columns) == [
        "prompt",
        "chosen",
        "rejected",
        "truncated_chosen",
        "truncated_rejected",
    ]
    fine_tune("dpo", training_pairs(_dataset()), batch_size=2)
    assert list(seen["p"].columns) == ["prompt", "chosen", "rejected"]


def test_heldout_preferences_carry_the_flags():
    d = _dataset(truncated_a=[True, False, False], truncated_b=[False, True, True])
    prefs = heldout_pairs_as_preferences(d)
    assert prefs.truncated_chosen.tolist() == [False, False, True]
    assert prefs.truncated_rejected.tolist() == [True, True, False]
    assert "truncated_chosen" not in heldout_pairs_as_preferences(_dataset())


def test_make_pairs_carries_truncation_when_candidates_have_it():
    cands = pd.DataFrame(
        {
            "prompt": ["p"] * 3 + ["q"] * 3,
            "response": ["r1", "r2", "r3", "s1", "s2", "s3"],
            "reward": [0.1, 0.5, -0.2, 0.3, 0.9, 0.0],
            "truncated": [False, True, False, True, False, False],
        }
    )
    pairs = make_pairs(cands, seed=2)
    assert list(pairs.columns) == [*PAIR_COLUMNS, "truncated_a", "truncated_b"]
    cut = dict(zip(cands.response, cands.truncated, strict=True))
    assert pairs.truncated_a.tolist() == [cut[r] for r in pairs.response_a]
    assert pairs.truncated_b.tolist() == [cut[r] for r in pairs.response_b]
    assert pairs.truncated_a.dtype == bool
    plain = make_pairs(cands.drop(columns="truncated"), seed=2)
    assert list(plain.columns) == list(PAIR_COLUMNS)
    pd.testing.assert_frame_equal(plain, pairs[list(PAIR_COLUMNS)])
