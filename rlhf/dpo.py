"""DPO and QA-DPO fine-tuning of a causal language model.

DPO (Rafailov et al. 2023, "Direct Preference Optimization: Your Language
Model is Secretly a Reward Model") trains the policy pi directly on preference
pairs (prompt x, chosen y_c, rejected y_r) with the sigmoid loss

    l = -log sigmoid(beta * ((log pi(y_c|x) - log ref(y_c|x))
                             - (log pi(y_r|x) - log ref(y_r|x))))

where log pi(y|x) is the *summed* log-probability of the completion tokens
(the prompt tokens are masked out) and ``ref`` is the frozen model at the start
of training. ``beta * (log pi(y|x) - log ref(y|x))`` is the implicit reward of
a completion; its chosen-minus-rejected difference is the *margin*.

QA-DPO (Zhang & Duan 2024, "VickreyFeedback", arXiv:2409.18417) weights each
pair's loss by the gap between the two winning bids of the auction that bought
it, ``w = 0.5 + sigmoid(b_chosen - b_rejected)`` (:func:`qa_dpo_weights`);
plain DPO is ``w = 1``.

Truncated completions
---------------------
A completion ends with the eos token, so its log-probability includes that
of stopping there. A reply that generation cut at its token cap never ended,
so a pairs frame may mark it in the optional boolean columns
``truncated_chosen`` / ``truncated_rejected`` (for :func:`train_dpo` and
:func:`implicit_reward_accuracy`; ``truncated=`` for :func:`sequence_logps`):
a marked completion is scored without eos. Without the columns every
completion gets its eos.

Weight normalization (used by :func:`dpo_loss` and :func:`train_dpo`)
---------------------------------------------------------------------
A batch's loss is ``sum_i(w_i * l_i) / n`` (n = pairs in the batch), not the
weighted mean ``sum_i(w_i * l_i) / sum_i(w_i)``. With ``/ n`` the gradient a
pair contributes is exactly ``w_i / n * dl_i``: proportional to its own weight
and independent of which other pairs share its batch. With ``/ sum(w)`` the
same pair's gradient would shrink when heavier pairs happen to share its
(random) batch, so the effective weighting would be noisy. What ``/ sum(w)``
buys, a loss scale independent of the weights' overall level, :func:`train_dpo`
gets once for the whole dataset instead: by default (``normalize_weights=True``)
it divides the weights by their mean over the training pairs, so QA-DPO and
DPO take steps of the same average size at the same learning rate and differ
only in how they spread the signal over pairs. ``normalize_weights=False``
keeps the raw weights, i.e. the paper's literal objective ``E[w * l]``, in
which QA-DPO's weights (between 0.5 and 1.5) also act as a learning-rate
multiplier.

Speed
-----
The reference log-probabilities are computed once per pair before the first
step and cached (no copy of the model is kept: the reference *is* the model at
the start). A pair shares its prompt, so by default (``shared_prompt=True``,
for Llama/Qwen-style models with ``sdpa`` or ``eager`` attention) each pair is
one packed row ``[prompt | chosen | rejected]``: the rejected tokens take the
positions (RoPE ids) that follow the prompt and a 4-D attention mask lets them
see the prompt and themselves but not the chosen tokens, so the prompt is run
(forward and backward) once instead of twice and each row is exactly what two
separate sequences would give. Otherwise the chosen and rejected sequences of
a batch go through one forward together, right-padded; right padding needs no
attention mask with a causal model (real tokens never look at later pad
tokens). Either way the LM head is applied only to the hidden states that
predict completion tokens, so the ``(batch, length, vocab)`` logits are never
materialized, and the reference and evaluation passes sort rows by length to
minimize padding.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from scipy.special import expit
from tqdm.auto import tqdm

from .packing import collate_packed
from .settings import check_train_value, default_lr

__all__ = [
    "TrainResult",
    "dpo_loss",
    "implicit_reward_accuracy",
    "qa_dpo_weights",
    "sequence_logps",
    "train_dpo",
]

# config attributes with which a model transforms its logits after the LM head;
# such models take the (slower) full-logits path so that log-probs stay exact
_LOGIT_TRANSFORMS = (
    "final_logit_softcapping",
    "logit_scale",
    "output_multiplier",
    "lm_head_multiplier",
    "logits_scaling",
)


# --------------------------------------------------------------------------
# loss and weights


def dpo_loss(
    policy_chosen_logps: torch.Tensor,
    policy_rejected_logps: torch.Tensor,
    ref_chosen_logps: torch.Tensor,
    ref_rejected_logps: torch.Tensor,
    *,
    beta: float = 0.1,
    weights: torch.Tensor | np.ndarray | Sequence[float] | None = None,
) -> torch.Tensor:
    """Weighted DPO sigmoid loss of a batch of n pairs (a scalar tensor).

    Per pair ``l_i = -logsigmoid(beta * ((pc_i - rc_i) - (pr_i - rr_i)))``;
    the batch loss is ``sum_i(w_i * l_i) / n`` with ``w = 1`` when ``weights``
    is None, so that all-ones weights give exactly plain DPO's mean loss.

    Normalization: dividing by the number of pairs n (not by ``sum(w)``) makes
    ``d loss / d pc_i = -w_i * beta * sigmoid(-beta * margin_i) / n``: each
    pair's gradient scales linearly with its own weight and does not depend on
    the weights of the other pairs in the batch. (Dividing by ``sum(w)`` would
    keep the loss scale independent of the weights' mean, but couple a pair's
    gradient to its random batch mates; :func:`train_dpo` instead rescales the
    weights to mean 1 over the whole dataset, see the module docstring.)
    """
    pc, pr, rc, rr = (
        torch.as_tensor(t)
        for t in (policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps)
    )
    if not (pc.shape == pr.shape == rc.shape == rr.shape) or pc.dim() != 1:
        raise ValueError(
            "the four log-prob tensors must be 1-D and of the same length; got shapes "
            f"{[tuple(t.shape) for t in (pc, pr, rc, rr)]}"
        )
    rc = rc.to(device=pc.device, dtype=pc.dtype)
    rr = rr.to(device=pc.device, dtype=pc.dtype)
    pr = pr.to(dtype=pc.dtype)
    if weights is None:
        return _dpo_loss(pc, pr, rc, rr, beta, None)
    w = torch.as_tensor(
        np.asarray(weights, dtype=np.float64) if not torch.is_tensor(weights) else weights
    )
    w = w.to(device=pc.device, dtype=pc.dtype)
    if w.shape != pc.shape:
        raise ValueError(f"weights has shape {tuple(w.shape)}, expected {tuple(pc.shape)}")
    if bool((w < 0).any()):
        raise ValueError("weights must be non-negative")
    return _dpo_loss(pc, pr, rc, rr, beta, w)


def _dpo_loss(pc, pr, rc, rr, beta, w):
    """:func:`dpo_loss` without the checks (no host-device sync in the training loop)."""
    losses = -F.logsigmoid(beta * ((pc - rc) - (pr - rr)))
    if w is None:
        return losses.mean()
    return (w * losses).sum() / losses.numel()


def qa_dpo_weights(b_chosen, b_rejected) -> np.ndarray:
    """QA-DPO pair weights ``w = 0.5 + sigmoid(b_chosen - b_rejected)``.

    ``b_chosen`` and ``b_rejected`` are the bids (or quality claims) of the two
    winners whose responses became the chosen and rejected completion (the
    paper's formula, arXiv:2409.18417). Equal bids give 1.0 (plain DPO's
    weight); the weight tends to 1.5 as the chosen bid's lead grows and to 0.5
    as it falls behind. Returns float64 of the broadcast shape.
    """
    bc = np.asarray(b_chosen, dtype=np.float64)
    br = np.asarray(b_rejected, dtype=np.float64)
    d = bc - br
    if np.isnan(d).any():
        raise ValueError("bids must not be NaN")
    return 0.5 + expit(d)  # scipy's logistic: stable for any finite or infinite gap


def _check_weights(weights, n: int) -> np.ndarray:
    """``weights`` as float64 of shape (n,), or a one-line ValueError saying what is wrong:
    not numbers (booleans, strings and None included), not one per pair, not finite,
    negative (each naming the first offending pair) or all zero."""
    if weights is None:
        return np.ones(n)
    if torch.is_tensor(weights):
        if weights.dtype == torch.bool or weights.is_complex():
            raise ValueError(f"weights must be numbers, one per pair; got dtype {weights.dtype}")
        weights = weights.detach().cpu().double().numpy()  # (numpy has no bfloat16)
    raw = np.asarray(weights)
    if raw.dtype.kind not in "iuf":  # b(ool), O(bject, e.g. None), U/S (strings), c(omplex)
        raise ValueError(f"weights must be numbers, one per pair; got dtype {raw.dtype}")
    w = raw.astype(np.float64)
    if w.ndim != 1 or len(w) != n:
        raise ValueError(f"weights has shape {w.shape}, expected ({n},): one weight per pair")
    if not np.isfinite(w).all():
        i = int(np.flatnonzero(~np.isfinite(w))[0])
        raise ValueError(f"weights must be finite; weight {i} is {w[i]}")
    if (w < 0).any():
        i = int(np.flatnonzero(w < 0)[0])
        raise ValueError(f"weights must be non-negative; weight {i} is {w[i]}")
    if n and not (w > 0).any():
        raise ValueError("weights are all zero: nothing to train on")
    return w


def _check_pairs(pairs) -> None:
    """One-line errors for ``pairs`` that is not a DataFrame of (prompt, chosen, rejected)
    strings with at least one row."""
    if not isinstance(pairs, pd.DataFrame):
        raise TypeError(
            "pairs must be a pandas DataFrame with columns prompt, chosen, rejected; "
            f"got {type(pairs).__name__}"
        )
    columns = ("prompt", "chosen", "rejected")
    missing = [c for c in columns if c not in pairs.columns]
    if missing:
        raise ValueError(
            f"pairs lacks the column(s) {missing}; train_dpo needs prompt, chosen and rejected"
        )
    doubled = [c for c in columns if int((pairs.columns == c).sum()) > 1]
    if doubled:
        raise ValueError(f"pairs has more than one column named {doubled[0]!r}")
    if len(pairs) == 0:
        raise ValueError("pairs is empty: train_dpo needs at least one (prompt, chosen, rejected)")
    for c in columns:
        values = pairs[c].tolist()
        bad = next((i for i, v in enumerate(values) if not isinstance(v, str)), None)
        if bad is not None:
            raise ValueError(
                f"pairs[{c!r}] at row {bad} (index {pairs.index[bad]!r}) is {values[bad]!r}, "
                "not a string"
            )
    for side in ("chosen", "rejected"):
        _truncation(pairs, side)  # optional flag columns: booleans only


# --------------------------------------------------------------------------
# tokenization


def _prompt_ids(tokenizer, prompts: Sequence[str], chat_template: bool) -> list[list[int]]:
    prompts = [str(p) for p in prompts]
    if chat_template and getattr(tokenizer, "chat_template", None):
        texts = [
            tokenizer.apply_chat_template(
                [{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True
            )
            for p in prompts
        ]
        ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
    else:
        ids = tokenizer(prompts)["input_ids"] if prompts else []
    start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else _eos(tokenizer)
    # a completion's first token needs a position to be predicted from
    return [list(x) if len(x) else [start] for x in ids]


def _eos(tokenizer) -> int:
    if tokenizer.eos_token_id is None:
        raise ValueError("the tokenizer has no eos token: completions are terminated with eos")
    return int(tokenizer.eos_token_id)


def _completion_ids(
    tokenizer, completions: Sequence[str], truncated: Sequence[bool] | None = None
) -> list[list[int]]:
    """Token ids of each completion (no special tokens), followed by eos unless
    the completion is marked ``truncated`` (cut at a token cap: it never ended,
    so the model must not be taught that it ends there). ``truncated=None``
    marks none. An empty completion gets its eos even when marked (there would
    be nothing to score)."""
    eos = _eos(tokenizer)
    if truncated is not None and len(truncated) != len(completions):
        raise ValueError(f"{len(truncated)} truncation flags for {len(completions)} completions")
    if not len(completions):
        return []
    ids = tokenizer([str(c) for c in completions], add_special_tokens=False)["input_ids"]
    if truncated is None:
        return [[*x, eos] for x in ids]
    return [list(x) if cut and len(x) else [*x, eos] for x, cut in zip(ids, truncated, strict=True)]


#: optional boolean columns of a pairs frame: the completion was cut at a token
#: cap, so no eos follows it (see :func:`_completion_ids`)
TRUNCATION_COLUMNS = {"chosen": "truncated_chosen", "rejected": "truncated_rejected"}


def _flags(values, name: str) -> list[bool]:
    """A column of truncation flags as bools; one-line ValueError on anything
    but booleans (or 0/1)."""
    out = []
    for i, v in enumerate(values):
        if isinstance(v, bool | np.bool_) or (
            isinstance(v, int | np.integer) and not isinstance(v, bool) and v in (0, 1)
        ):
            out.append(bool(v))
        else:
            raise ValueError(f"{name} at row {i} is {v!r}, not a boolean")
    return out


def _truncation(pairs: pd.DataFrame, side: str) -> list[bool] | None:
    """The ``truncated_chosen`` / ``truncated_rejected`` flags of ``pairs``, or
    None when the column is absent (then every completion gets its eos)."""
    column = TRUNCATION_COLUMNS[side]
    if column not in pairs.columns:
        return None
    return _flags(pairs[column].tolist(), f"pairs[{column!r}]")


def _fit(prompt: list[int], chosen: list[int], rejected: list[int], max_length: int):
    """Truncate so that prompt + each completion fits in ``max_length`` tokens.

    The prompt loses tokens from its start (its end conditions the
    completions) but keeps at least ``min(len(prompt), max_length // 2)``;
    then a completion still too long loses tokens from its end (and so its
    eos). Both completions of a pair keep the same prompt.
    """
    longest = max(len(chosen), len(rejected))
    if len(prompt) + longest <= max_length:
        return prompt, chosen, rejected
    keep = max(max_length - longest, min(len(prompt), max_length // 2), 1)
    prompt = prompt[-keep:]
    room = max_length - len(prompt)
    return prompt, chosen[:room], rejected[:room]


def _check_max_length(max_length: int) -> None:
    if max_length < 2:
        raise ValueError("max_length must be at least 2")


def _encode(tokenizer, prompts, completions, max_length, chat_template, truncated=None):
    """Token ids of (prompt, completion) sequences: list of (ids, n_prompt)."""
    _check_max_length(max_length)
    seqs = []
    for p, c in zip(
        _prompt_ids(tokenizer, prompts, chat_template),
        _completion_ids(tokenizer, completions, truncated),
        strict=True,
    ):
        p, c, _ = _fit(p, c, c, max_length)
        seqs.append((np.asarray(p + c, dtype=np.int64), len(p)))
    return seqs


def _encode_pairs(tokenizer, pairs: pd.DataFrame, max_length: int, chat_template: bool):
    """One (prompt, chosen, rejected) triple of int64 id arrays per pair; a
    completion flagged in ``truncated_chosen`` / ``truncated_rejected`` (when
    the frame has these columns) gets no eos."""
    _check_max_length(max_length)
    missing = {"prompt", "chosen", "rejected"} - set(pairs.columns)
    if missing:
        raise ValueError(f"pairs lacks the column(s) {sorted(missing)}")
    triples = []
    for p, c, r in zip(
        _prompt_ids(tokenizer, pairs["prompt"].tolist(), chat_template),  # once per pair
        _completion_ids(tokenizer, pairs["chosen"].tolist(), _truncation(pairs, "chosen")),
        _completion_ids(tokenizer, pairs["rejected"].tolist(), _truncation(pairs, "rejected")),
        strict=True,
    ):
        triples.append(tuple(np.asarray(x, dtype=np.int64) for x in _fit(p, c, r, max_length)))
    return triples


def _pair_tokens(triples) -> int:
    """Non-pad tokens of the chosen and rejected sequences (the prompt counted twice)."""
    return sum(2 * len(p) + len(c) + len(r) for p, c, r in triples)


# --------------------------------------------------------------------------
# log-probabilities


def _device(model) -> torch.device:
    return next(model.parameters()).device


def _collate(seqs, pad_id: int, device):
    """Right-padded ids and the flat (position, target, sequence) of completion tokens."""
    lengths = np.fromiter((len(s) for s, _ in seqs), dtype=np.int64, count=len(seqs))
    T = int(lengths.max())
    ids = np.full((len(seqs), T), pad_id, dtype=np.int64)
    pos, seg = [], []
    for i, (s, n_prompt) in enumerate(seqs):
        ids[i, : len(s)] = s
        # hidden state at t predicts token t + 1
        p = np.arange(n_prompt - 1, len(s) - 1, dtype=np.int64)
        pos.append(i * T + p)
        seg.append(np.full(len(p), i, dtype=np.int64))
    pos = np.concatenate(pos)
    seg = np.concatenate(seg)
    targets = ids.reshape(-1)[pos + 1]
    as_t = lambda a: torch.from_numpy(a).to(device, non_blocking=True)  # noqa: E731
    return as_t(ids), as_t(pos), as_t(targets), as_t(seg), int(lengths.sum())


def _head_path(model):
    """(backbone, lm_head) when log-probs can skip the full logits, else None."""
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    backbone = getattr(model, "base_model", None)
    if head is None or backbone is None or backbone is model:
        return None
    cfg = (
        model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    )
    if any(getattr(cfg, a, None) not in (None, 1, 1.0) for a in _LOGIT_TRANSFORMS):
        return None
    return backbone, head


def _token_logps(model, forward_kwargs, flat_pos, targets) -> torch.Tensor:
    """Log-probs of ``targets`` predicted from the hidden states at the flat
    (row * length + column) positions ``flat_pos``: the LM head runs on those
    positions only."""
    path = _head_path(model)
    if path is not None:
        backbone, head = path
        hidden = backbone(**forward_kwargs, use_cache=False).last_hidden_state
        logits = head(hidden.reshape(-1, hidden.shape[-1]).index_select(0, flat_pos))
    else:
        out = model(**forward_kwargs, use_cache=False).logits
        logits = out.reshape(-1, out.shape[-1]).index_select(0, flat_pos)
    return -F.cross_entropy(logits.float(), targets, reduction="none")


def _batch_logps(model, seqs, pad_id: int) -> torch.Tensor:
    """Summed completion log-probs of each (ids, n_prompt) sequence (float32, model device).

    One forward over the right-padded batch, without an attention mask (right
    padding: no real token attends to a pad). Differentiable when grad is on.
    """
    device = _device(model)
    ids, pos, targets, seg, _ = _collate(seqs, pad_id, device)
    token_logps = _token_logps(model, {"input_ids": ids}, pos, targets)
    return torch.zeros(len(seqs), device=device).index_add(0, seg, token_logps)


# model types whose backbone takes a 4-D attention mask and per-row position ids
_PACKABLE = {"llama", "mistral", "qwen2", "qwen3", "olmo2", "smollm3", "granite"}


def _packable(model) -> bool:
    cfg = model.config
    return (
        getattr(cfg, "model_type", None) in _PACKABLE
        and getattr(cfg, "_attn_implementation", None) in ("sdpa", "eager")
        and _head_path(model) is not None
    )


def _pair_batch_logps(model, triples, pad_id: int, shared_prompt: bool):
    """(chosen, rejected) summed log-probs of a batch of pairs, one forward."""
    device = _device(model)
    B = len(triples)
    if shared_prompt and _packable(model):
        eager = model.config._attn_implementation == "eager"
        dtype = next(model.parameters()).dtype if eager else None
        inputs, flat, targets, slot = collate_packed(triples, pad_id, device, dtype)
        token_logps = _token_logps(model, inputs, flat, targets)
        out = torch.zeros(2 * B, device=device).index_add(0, slot, token_logps)
    else:
        seqs = [(np.concatenate([p, c]), len(p)) for p, c, _ in triples]
        seqs += [(np.concatenate([p, r]), len(p)) for p, _, r in triples]
        out = _batch_logps(model, seqs, pad_id)
    return out[:B], out[B:]


def _pad_id(tokenizer) -> int:
    if tokenizer.pad_token_id is not None:
        return int(tokenizer.pad_token_id)
    return _eos(tokenizer)  # never scored: padding is masked out


def _no_grad_batches(model, n: int, lengths, batch_size: int, progress: bool, desc: str):
    """Indices of length-sorted batches, run in eval mode under inference_mode."""
    order = np.argsort(np.asarray(lengths), kind="stable")
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            starts = range(0, n, batch_size)
            for start in tqdm(starts, desc=desc, disable=not progress, leave=False):
                yield order[start : start + batch_size]
    finally:
        model.train(was_training)


def _sorted_logps(model, seqs, pad_id: int, batch_size: int) -> np.ndarray:
    """Log-probs of many sequences, no grad, in length-sorted batches (float64)."""
    out = np.empty(len(seqs), dtype=np.float64)
    lengths = [len(s) for s, _ in seqs]
    for idx in _no_grad_batches(model, len(seqs), lengths, batch_size, False, ""):
        out[idx] = _batch_logps(model, [seqs[i] for i in idx], pad_id).double().cpu().numpy()
    return out


def _sorted_pair_logps(
    model,
    triples,
    pad_id: int,
    batch_size: int,
    shared_prompt: bool,
    progress=False,
    desc="",
    score=None,
) -> tuple[np.ndarray, np.ndarray]:
    """(chosen, rejected) log-probs of many pairs, no grad, length-sorted
    batches; ``score(batch, pad_id)`` replaces the full forward (the fast
    mode's top pass, :meth:`rlhf.fast_dpo.FrozenPrefix.pair_logps`)."""
    n = len(triples)
    pc, pr = np.empty(n), np.empty(n)
    lengths = [len(p) + len(c) + len(r) for p, c, r in triples]
    for idx in _no_grad_batches(model, n, lengths, batch_size, progress, desc):
        batch = [triples[i] for i in idx]
        if score is not None:
            c, r = score(batch, pad_id)
        else:
            c, r = _pair_batch_logps(model, batch, pad_id, shared_prompt)
        pc[idx], pr[idx] = c.double().cpu().numpy(), r.double().cpu().numpy()
    return pc, pr


def sequence_logps(
    model,
    tokenizer,
    prompts: Sequence[str],
    completions: Sequence[str],
    *,
    batch_size: int = 8,
    max_length: int = 256,
    chat_template: bool = True,
    truncated: Sequence[bool] | None = None,
) -> torch.Tensor:
    """Summed log-probabilities of each completion given its prompt.

    The prompt is wrapped as a single user turn by the tokenizer's chat
    template (with the generation prompt) when ``chat_template`` is True and
    the tokenizer has one; otherwise it is tokenized as plain text with the
    tokenizer's special tokens (e.g. BOS). The completion is tokenized without
    special tokens and followed by eos, so a completion of L tokens sums L + 1
    token log-probs; a completion flagged in ``truncated`` (one bool per
    completion: it was cut at a token cap) gets no eos and sums L. Prompt
    tokens are masked out (they only condition).
    Sequences longer than ``max_length`` lose prompt tokens from the start,
    then completion tokens from the end.

    Evaluation only: runs in eval mode (restored afterwards) under
    ``torch.inference_mode``, in length-sorted right-padded batches of
    ``batch_size`` sequences. Returns a float32 CPU tensor of shape (n,).
    """
    if len(prompts) != len(completions):
        raise ValueError(f"{len(prompts)} prompts but {len(completions)} completions")
    if truncated is not None:
        truncated = _flags(list(truncated), "truncated")
    seqs = _encode(tokenizer, prompts, completions, max_length, chat_template, truncated)
    return torch.from_numpy(_sorted_logps(model, seqs, _pad_id(tokenizer), batch_size)).float()


def _pair_logps(
    model, tokenizer, pairs, *, batch_size, max_length, chat_template, shared_prompt,
    train_layers=None,
):  # fmt: skip
    triples = _encode_pairs(tokenizer, pairs, max_length, chat_template)
    score = None
    if train_layers is not None:
        from .fast_dpo import FrozenPrefix

        score = FrozenPrefix(model, train_layers).pair_logps
    return _sorted_pair_logps(
        model, triples, _pad_id(tokenizer), batch_size, shared_prompt, score=score
    )


def _tie_half_accuracy(reward_chosen, reward_rejected) -> float:
    """Share of pairs ranked right; an exact tie counts one half (chance), so a
    policy equal to its reference scores 0.5, like the proxy's accuracy."""
    rc, rr = np.asarray(reward_chosen), np.asarray(reward_rejected)
    return float(np.mean(np.where(rc == rr, 0.5, (rc > rr).astype(float))))


def implicit_reward_accuracy(
    model,
    ref_model_or_ref_logps,
    tokenizer,
    pairs: pd.DataFrame,
    *,
    beta: float = 0.1,
    batch_size: int = 8,
    max_length: int = 256,
    chat_template: bool = True,
    shared_prompt: bool = True,
    train_layers: int | None = None,
) -> float:
    """Share of pairs whose implicit reward ranks chosen above rejected.

    A pair counts when ``beta * (log pi(c) - log ref(c)) > beta * (log pi(r) -
    log ref(r))``; an exact tie counts one half, so a policy equal to its
    reference scores 0.5 (chance).
    ``ref_model_or_ref_logps`` is the reference model, or its cached log-probs
    as an array of shape (n, 2) (columns chosen, rejected) such as
    ``TrainResult.ref_logps``, or a pair of length-n arrays. ``pairs`` is as
    in :func:`train_dpo` (optional truncated_chosen / truncated_rejected
    columns included); the other arguments tokenize and batch as there.
    ``train_layers`` (a policy fine-tuned in the fast mode): the log-probs
    come from the frozen lower layers' cached activations and the top
    ``train_layers`` layers (:mod:`rlhf.fast_dpo`), the same numbers as a full
    forward, with the lower layers run once per sequence per process.
    """
    if len(pairs) == 0:
        return float("nan")
    kw = {
        "batch_size": batch_size,
        "max_length": max_length,
        "chat_template": chat_template,
        "shared_prompt": shared_prompt,
        "train_layers": train_layers,
    }
    pc, pr = _pair_logps(model, tokenizer, pairs, **kw)
    if isinstance(ref_model_or_ref_logps, torch.nn.Module):
        rc, rr = _pair_logps(ref_model_or_ref_logps, tokenizer, pairs, **kw)
    else:
        ref = ref_model_or_ref_logps
        if isinstance(ref, tuple | list) and len(ref) == 2:
            rc, rr = (np.asarray(x, dtype=np.float64) for x in ref)
        else:
            ref = np.asarray(ref, dtype=np.float64)
            if ref.shape != (len(pairs), 2):
                raise ValueError(
                    f"ref log-probs have shape {ref.shape}, expected ({len(pairs)}, 2)"
                )
            rc, rr = ref[:, 0], ref[:, 1]
        if rc.shape != (len(pairs),) or rr.shape != (len(pairs),):
            raise ValueError("ref log-probs must have one value per pair")
    return _tie_half_accuracy(beta * (pc - rc), beta * (pr - rr))


# --------------------------------------------------------------------------
# training


@dataclass
class TrainResult:
    """What :func:`train_dpo` measured.

    ``losses`` and ``margins`` have one entry per optimizer step: the batch's
    weighted loss and its mean implicit-reward margin
    ``beta * ((pc - rc) - (pr - rr))``, both before that step's update.
    ``reward_accuracy`` is the share of training pairs whose implicit reward
    ranks chosen above rejected after training (see
    :func:`implicit_reward_accuracy`). ``seconds`` covers tokenization, the
    one-off reference pass and all training steps (not the final accuracy
    pass, timed in ``eval_seconds``); ``pairs_per_second`` is pairs x epochs /
    seconds and ``tokens_per_second`` is the non-pad tokens of all chosen and
    rejected sequences x epochs / seconds. ``ref_logps`` (n, 2) caches the
    reference log-probs (chosen, rejected) in the pairs' order.
    """

    losses: list[float]
    margins: list[float]
    reward_accuracy: float
    seconds: float
    pairs_per_second: float
    tokens_per_second: float
    ref_seconds: float = 0.0
    eval_seconds: float = 0.0
    steps: int = 0
    tokens: int = 0
    ref_logps: np.ndarray = field(default_factory=lambda: np.empty((0, 2)), repr=False)


def train_dpo(
    model,
    tokenizer,
    pairs: pd.DataFrame,
    *,
    beta: float = 0.1,
    weights=None,
    epochs: int = 1,
    lr: float | None = None,
    batch_size: int = 8,
    max_length: int = 256,
    seed: int = 0,
    progress: bool = True,
    ref_model=None,
    chat_template: bool = True,
    normalize_weights: bool = True,
    weight_decay: float = 0.0,
    max_grad_norm: float | None = 1.0,
    evaluate: bool = True,
    shared_prompt: bool = True,
    train_layers: int | None = None,
) -> TrainResult:
    """Fine-tune ``model`` in place with DPO (``weights=None``) or QA-DPO.

    ``train_layers=None`` trains every parameter; an integer n trains only the
    top n decoder layers and the final norm, on cached activations of the
    frozen layers below (the fast mode, :mod:`rlhf.fast_dpo`: same loss and
    same gradients for the layers it trains, a fraction of the arithmetic);
    the other parameters' ``requires_grad`` is restored afterwards.

    ``pairs`` is a DataFrame with string columns prompt, chosen, rejected
    and optionally boolean columns truncated_chosen, truncated_rejected (a
    completion cut at a token cap gets no eos; absent columns: every
    completion ends with eos); ``weights`` one non-negative weight per pair
    (e.g. :func:`qa_dpo_weights` of the winning bids), rescaled to mean 1
    unless ``normalize_weights`` is False (see the module docstring for why).
    The reference is ``ref_model`` or, by default, the model itself as it is
    before the first step: its log-probs are computed once per pair and
    cached, so no copy is kept.

    AdamW at a constant ``lr`` (None: the mode's validated rate,
    :func:`rlhf.settings.default_lr`: 5e-6 with every parameter, 1e-4 in the
    fast mode; betas 0.9/0.999, ``weight_decay``), gradients
    clipped to ``max_grad_norm`` (None: no clipping), ``epochs`` passes over
    the pairs in batches of ``batch_size`` pairs (one forward per batch: one
    packed row per pair with ``shared_prompt`` where the model allows it, see
    the module docstring, else the 2 x batch_size chosen and rejected
    sequences together), shuffled each epoch by a
    ``numpy`` Generator seeded with ``seed``; torch's RNG (dropout) is seeded
    inside ``torch.random.fork_rng`` so the caller's RNG state is untouched.
    Runs on the model's device; leaves the model in eval mode. With
    ``evaluate`` the implicit-reward accuracy on the pairs is measured after
    training (one extra no-grad pass), else it is NaN.

    Arguments are checked before anything runs, with one-line errors naming the
    argument: ``beta`` finite > 0; ``lr`` finite, > 0 and <= 1; ``epochs`` and
    ``batch_size`` integers >= 1, ``max_length`` >= 2, ``seed`` >= 0 (the same
    limits as :class:`rlhf.settings.TrainSettings`, from
    :func:`rlhf.settings.check_train_value`); ``weight_decay`` finite >= 0;
    ``max_grad_norm`` None or finite > 0; ``weights`` finite, non-negative, not
    all zero, one per pair; ``pairs`` a non-empty DataFrame whose prompt, chosen
    and rejected columns hold strings.
    """

    def checked(name: str, value):
        return check_train_value(name, value, f"train_dpo: {name}")

    _check_pairs(pairs)
    n = len(pairs)
    if lr is None:
        lr = default_lr(train_layers)
    beta, lr = checked("beta", beta), checked("lr", lr)
    epochs, batch_size = checked("epochs", epochs), checked("batch_size", batch_size)
    max_length, seed = checked("max_length", max_length), checked("seed", seed)
    weight_decay = checked("weight_decay", weight_decay)
    if max_grad_norm is not None:
        max_grad_norm = checked("max_grad_norm", max_grad_norm)
    w = _check_weights(weights, n)
    if normalize_weights:
        w = w / w.mean()
    prefix = None
    if train_layers is not None:
        from .fast_dpo import FrozenPrefix, trainable_top

        if isinstance(train_layers, bool) or not isinstance(train_layers, int | np.integer):
            raise ValueError(
                f"train_dpo: train_layers must be None or an integer, got {train_layers!r}"
            )
        top = trainable_top(model, int(train_layers))  # checks the count before any work
        prefix = FrozenPrefix(model, int(train_layers))

    device = _device(model)
    pad_id = _pad_id(tokenizer)
    t0 = time.perf_counter()
    triples = _encode_pairs(tokenizer, pairs, max_length, chat_template)
    tokens_per_epoch = _pair_tokens(triples)

    # the one-off reference pass (no grad: twice the batch fits)
    score = prefix.pair_logps if prefix is not None else None
    ref = model if ref_model is None else ref_model
    ref_c, ref_r = _sorted_pair_logps(
        ref, triples, pad_id, 2 * batch_size, shared_prompt, progress, "reference",
        score=score if ref_model is None else None,
    )  # fmt: skip
    ref_seconds = time.perf_counter() - t0

    frozen: list[tuple[torch.nn.Parameter, bool]] = []
    if prefix is not None:
        keep = {id(p) for p in top}
        frozen = [(p, p.requires_grad) for p in model.parameters() if id(p) not in keep]
        for p, _ in frozen:
            p.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    opt_kw = {"lr": lr, "weight_decay": weight_decay}
    if all(p.dtype.is_floating_point for p in params):
        opt_kw["fused"] = True  # one kernel per step (CPU and CUDA), far fewer passes over memory
    try:
        opt = torch.optim.AdamW(params, **opt_kw)
    except (RuntimeError, ValueError):
        opt_kw.pop("fused", None)
        opt = torch.optim.AdamW(params, **opt_kw)
    opt.zero_grad(set_to_none=True)  # no stale gradients from before the call

    rng = np.random.default_rng(seed)
    ref_c_t = torch.as_tensor(ref_c, dtype=torch.float32, device=device)
    ref_r_t = torch.as_tensor(ref_r, dtype=torch.float32, device=device)
    w_t = torch.as_tensor(w, dtype=torch.float32, device=device)
    steps_per_epoch = math.ceil(n / batch_size)
    step_losses: list[torch.Tensor] = []
    step_margins: list[torch.Tensor] = []
    fork_devices = [device.index or 0] if device.type == "cuda" else []
    model.train()
    try:
        with torch.random.fork_rng(devices=fork_devices):
            torch.manual_seed(seed)
            bar = tqdm(total=epochs * steps_per_epoch, desc="DPO", disable=not progress)
            for _ in range(epochs):
                perm = rng.permutation(n)
                for start in range(0, n, batch_size):
                    idx = perm[start : start + batch_size]
                    batch = [triples[i] for i in idx]
                    if prefix is not None:
                        pc, pr = prefix.pair_logps(batch, pad_id)
                    else:
                        pc, pr = _pair_batch_logps(model, batch, pad_id, shared_prompt)
                    it = torch.from_numpy(idx).to(device)
                    rc, rr = ref_c_t[it], ref_r_t[it]
                    loss = _dpo_loss(pc, pr, rc, rr, beta, w_t[it])
                    loss.backward()
                    if max_grad_norm is not None:
                        torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
                    opt.step()
                    # freed now, not before the next backward: the gradients do not
                    # sit in memory beside the next forward's activations
                    opt.zero_grad(set_to_none=True)
                    with torch.no_grad():
                        margin = (beta * ((pc - rc) - (pr - rr))).mean()
                    # kept on the device: reading them back each step would sync a GPU
                    step_losses.append(loss.detach())
                    step_margins.append(margin)
                    bar.update(1)
                    if progress and (len(step_losses) % 5 == 0 or start + batch_size >= n):
                        recent = torch.stack(step_losses[-steps_per_epoch:]).mean()
                        bar.set_postfix(loss=f"{float(recent):.4f}")
            bar.close()
        losses = torch.stack(step_losses).double().cpu().tolist()
        margins = torch.stack(step_margins).double().cpu().tolist()
    finally:
        model.eval()
        for p, flag in frozen:
            p.requires_grad_(flag)
    del opt
    seconds = time.perf_counter() - t0

    t1 = time.perf_counter()
    if evaluate:
        pc_all, pr_all = _sorted_pair_logps(
            model, triples, pad_id, 2 * batch_size, shared_prompt, score=score
        )
        accuracy = _tie_half_accuracy(beta * (pc_all - ref_c), beta * (pr_all - ref_r))
    else:
        accuracy = float("nan")
    tokens = tokens_per_epoch * epochs
    return TrainResult(
        losses=losses,
        margins=margins,
        reward_accuracy=accuracy,
        seconds=seconds,
        pairs_per_second=n * epochs / seconds,
        tokens_per_second=tokens / seconds,
        ref_seconds=ref_seconds,
        eval_seconds=time.perf_counter() - t1,
        steps=len(losses),
        tokens=tokens,
        ref_logps=np.column_stack([ref_c, ref_r]),
    )
