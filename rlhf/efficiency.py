"""Dollar-efficiency: how much model quality each dollar of bought labels buys.

``dollar_efficiency = (quality after - quality before) / dollars spent``

A market dataset (one row per task: prompt, response_a, response_b, the
aggregated ``label``, ``n_labels`` and, for QA-DPO, the labelers' quality
credit behind each side ``bid_a``/``bid_b``) becomes training pairs; a
trainer turns them into a quality score on held-out gold data:

- ``"proxy"``: the Bradley-Terry reward model on frozen MiniLM embeddings
  (:mod:`rlhf.proxy`); quality = its preference accuracy on held-out gold
  pairs; before = 0.5 (nothing learned). Seconds per cell: for sweeps.
- ``"dpo"`` / ``"qa-dpo"``: SmolLM2 fine-tuned with DPO or QA-DPO
  (:mod:`rlhf.dpo`); quality = preference accuracy of the implicit reward on
  held-out gold pairs (:func:`rlhf.evaluation.evaluate` also reports the gold
  reward of sampled replies and the KL); before = the untuned model's.

QA-DPO's per-pair weight is the paper's ``w = 0.5 + sigmoid(b_chosen -
b_rejected)``; in this label market the "bid" behind a side of a pair is
what the buyer credits the labelers who voted for it with, summed: their
quality claims where the mechanism collects claims (``vickrey-feedback``),
else the buyer's own accuracy estimates (never the private truth). A pair the
market agrees on confidently weighs more than a split vote.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pandas as pd

from .settings import TrainSettings

TRAINERS = ("proxy", "dpo", "qa-dpo")


def training_pairs(dataset: pd.DataFrame) -> pd.DataFrame:
    """(prompt, chosen, rejected, b_chosen, b_rejected, correct) for every task
    the market bought at least one label for, by its aggregated label; on gold
    questions (``gold`` True) the buyer knows the answer and uses it. A response
    market's dataset says which pairs have an order in ``ordered`` (the bids
    order every pair: the higher bid, A, is chosen; ``b_chosen - b_rejected`` is
    then the providers' bid gap QA-DPO weighs by).

    When the dataset has the boolean columns ``truncated_a`` and
    ``truncated_b`` (a reply cut at its generation cap), they are carried as
    ``truncated_chosen`` / ``truncated_rejected`` (so DPO appends no eos to a
    cut reply, see :func:`rlhf.dpo.train_dpo`); a dataset with only one of the
    two counts the other side's replies as not truncated."""
    need = {"prompt", "response_a", "response_b", "label", "n_labels"}
    missing = need - set(dataset.columns)
    if missing:
        raise ValueError(
            f"dataset lacks columns {sorted(missing)} (does the task source "
            "carry texts? use the task world)"
        )
    # a pair has an order when labels were bought for it, or (a response
    # market's ``ordered`` column) when the providers' bids ordered it
    has_order = dataset.ordered if "ordered" in dataset else dataset.n_labels > 0
    d = dataset[has_order.to_numpy(bool) & dataset.label.isin([0, 1])]
    if "gold" in d and "true_label" in d:
        d = d.assign(label=np.where(d.gold.to_numpy(bool), d.true_label, d.label))
    b = d.label.to_numpy() == 1
    bid_a = d["bid_a"].to_numpy(float) if "bid_a" in d else np.zeros(len(d))
    bid_b = d["bid_b"].to_numpy(float) if "bid_b" in d else np.zeros(len(d))
    out = pd.DataFrame(
        {
            "task": d["task"].to_numpy() if "task" in d else np.arange(len(d)),
            "prompt": d.prompt.to_numpy(),
            "chosen": np.where(b, d.response_b, d.response_a),
            "rejected": np.where(b, d.response_a, d.response_b),
            "b_chosen": np.where(b, bid_b, bid_a),
            "b_rejected": np.where(b, bid_a, bid_b),
        }
    )
    if "truncated_a" in d or "truncated_b" in d:
        cut_a = _flag_column(d, "truncated_a")
        cut_b = _flag_column(d, "truncated_b")
        out["truncated_chosen"] = np.where(b, cut_b, cut_a)
        out["truncated_rejected"] = np.where(b, cut_a, cut_b)
    if "true_label" in d:
        out["correct"] = d.label.to_numpy() == d.true_label.to_numpy()
    return out


def _flag_column(d: pd.DataFrame, column: str) -> np.ndarray:
    """A boolean column of ``d`` as a bool array (all False when absent);
    missing values count as not truncated."""
    if column not in d:
        return np.zeros(len(d), dtype=bool)
    return d[column].fillna(False).to_numpy(dtype=bool)


def as_ab(pairs: pd.DataFrame) -> pd.DataFrame:
    """Preference pairs (prompt, chosen, rejected) as (prompt, response_a,
    response_b, label) with the chosen reply as B (label 1); truncation flags
    (``truncated_chosen`` / ``truncated_rejected``), when present, become
    ``truncated_b`` / ``truncated_a``."""
    out = pd.DataFrame(
        {
            "prompt": pairs.prompt.to_numpy(),
            "response_a": pairs.rejected.to_numpy(),
            "response_b": pairs.chosen.to_numpy(),
            "label": np.ones(len(pairs), dtype=np.int8),
        }
    )
    if "truncated_rejected" in pairs:
        out["truncated_a"] = pairs.truncated_rejected.to_numpy()
    if "truncated_chosen" in pairs:
        out["truncated_b"] = pairs.truncated_chosen.to_numpy()
    return out


def quality(
    trainer: str,
    pairs: pd.DataFrame,
    heldout: pd.DataFrame,
    *,
    seed: int = 0,
    settings: TrainSettings | None = None,
    samples: int = 0,
    **overrides,
) -> dict[str, float]:
    """Quality before and after learning from ``pairs`` (see the module docstring).

    Args:
        trainer: "proxy", "dpo" or "qa-dpo".
        pairs: from :func:`training_pairs`.
        heldout: held-out gold task-world pairs (prompt, response_a, response_b, label).
        seed: the training seed.
        settings: how dpo / qa-dpo fine-tune (:class:`rlhf.settings.TrainSettings`);
            ``overrides`` replace single fields (``epochs=3``, ``lr=1e-5``, ...).
        samples: dpo / qa-dpo: also sample one reply to each of the first
            ``samples`` held-out prompts from the fine-tuned policy and from
            the reference (same seed) and add ``gold_reward`` (mean gold reward
            of the policy's replies), ``gold_reward_before`` (the
            reference's), ``kl`` (KL(policy || reference) per reply) and
            ``distinct_2`` (:func:`rlhf.evaluation.sampled_reward_and_kl`).
    """
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 0:
        raise ValueError(f"samples: must be an integer >= 0, got {samples!r}")
    if trainer not in TRAINERS:
        raise ValueError(f"trainer must be one of {TRAINERS}, got {trainer!r}")
    settings = (settings or TrainSettings()).replace(**overrides)
    if trainer == "proxy":
        from .proxy import proxy_score

        score = proxy_score(as_ab(pairs), heldout)
        return {"before": 0.5, "after": score["accuracy"], "n_pairs": len(pairs)}

    from .dpo import implicit_reward_accuracy
    from .evaluation import heldout_pairs_as_preferences
    from .models import load_policy

    model, tok = fine_tune(trainer, pairs, seed=seed, settings=settings)
    ref, _ = load_policy(settings.model_name)
    if settings.device != "cpu":
        ref = ref.to(settings.device)
    held = heldout_pairs_as_preferences(heldout)
    kw = {
        "batch_size": 2 * settings.batch_size,
        "max_length": settings.max_length,
        "train_layers": settings.train_layers or None,
    }
    after = implicit_reward_accuracy(
        model, _reference_logps(ref, tok, held, settings, kw), tok, held, beta=settings.beta, **kw
    )
    # before: the untuned policy equals its reference, so every pair ties (0.5)
    out = {"before": 0.5, "after": after, "n_pairs": len(pairs)}
    if samples:
        out.update(_sampled(model, ref, tok, heldout, samples, seed, settings.model_name))
    return out


_REFERENCE: dict[tuple, np.ndarray] = {}  # the reference's held-out log-probs


def _reference_logps(ref, tok, held: pd.DataFrame, settings: TrainSettings, kw: dict):
    """The reference's (chosen, rejected) log-probs of the held-out pairs, (n, 2):
    the same for every fine-tune of one base model, so computed once per
    process (keyed by the model name, the scoring settings and the pairs'
    content)."""
    from .dpo import _pair_logps

    content = pd.util.hash_pandas_object(held, index=False).to_numpy().tobytes()
    digest = hashlib.blake2b(content, digest_size=16).hexdigest()
    key = (settings.model_name, settings.device, settings.max_length, kw["train_layers"], digest)
    if key not in _REFERENCE:
        pc, pr = _pair_logps(ref, tok, held, chat_template=True, shared_prompt=True, **kw)
        _REFERENCE[key] = np.column_stack([pc, pr])
        while len(_REFERENCE) > 8:
            _REFERENCE.pop(next(iter(_REFERENCE)))
    return _REFERENCE[key]


SAMPLE_TOKENS = 48
"""New tokens per sampled reply when scoring a fine-tuned policy's samples."""
_BEFORE: dict[tuple, float] = {}  # the reference's sampled gold reward, per prompts and seed


def _sampled(model, ref, tok, heldout, samples: int, seed: int, model_name: str) -> dict:
    from .evaluation import sampled_reward_and_kl

    prompts = list(dict.fromkeys(heldout.prompt))[:samples]
    kw = {"prompts": prompts, "max_new_tokens": SAMPLE_TOKENS, "seed": seed}
    got = sampled_reward_and_kl(model, tok, ref_model=ref, **kw)
    key = (model_name, str(next(ref.parameters()).device), tuple(prompts), seed, SAMPLE_TOKENS)
    if key not in _BEFORE:
        _BEFORE[key] = sampled_reward_and_kl(ref, tok, ref_model=ref, **kw)["gold_reward"]
    return {
        "gold_reward": got["gold_reward"],
        "gold_reward_before": _BEFORE[key],
        "kl": got["kl"],
        "distinct_2": got["distinct_2"],
    }


def check_trainable(pairs: pd.DataFrame, settings: TrainSettings) -> None:
    """A one-line error, before any training, for bought data a fine-tune
    cannot learn from: no ordered pair, or fewer pairs than one batch (an
    epoch would be a single under-filled step: raise the budget, or lower
    ``batch_size``)."""
    n = len(pairs)
    if n == 0:
        raise ValueError(
            "pairs: the dataset is empty (the market bought no ordered pair); "
            "raise the budget or use trainer 'proxy'"
        )
    if n < settings.batch_size:
        raise ValueError(
            f"batch_size: the market bought {n} pair(s), fewer than one batch of "
            f"{settings.batch_size}; raise the budget or lower batch_size"
        )


def fine_tune(
    trainer: str,
    pairs: pd.DataFrame,
    *,
    seed: int = 0,
    settings: TrainSettings | None = None,
    **overrides,
):
    """A fresh policy fine-tuned on ``pairs`` (from :func:`training_pairs`)
    with ``"dpo"`` or ``"qa-dpo"`` (weights from the pairs' bids), as
    ``settings`` says (``overrides`` replace single fields); returns
    ``(model, tokenizer)``."""
    from .dpo import qa_dpo_weights, train_dpo
    from .models import load_policy

    if trainer not in ("dpo", "qa-dpo"):
        raise ValueError(f"fine_tune trains 'dpo' or 'qa-dpo', got {trainer!r}")
    settings = (settings or TrainSettings()).replace(**overrides)
    check_trainable(pairs, settings)
    weights = None
    if trainer == "qa-dpo":
        weights = qa_dpo_weights(pairs.b_chosen.to_numpy(), pairs.b_rejected.to_numpy())
    model, tok = load_policy(settings.model_name)
    if settings.device != "cpu":  # models load on the CPU
        model = model.to(settings.device)
    columns = ["prompt", "chosen", "rejected"]
    columns += [c for c in ("truncated_chosen", "truncated_rejected") if c in pairs]
    train_dpo(
        model,
        tok,
        pairs[columns],
        beta=settings.beta,
        weights=weights,
        epochs=settings.epochs,
        lr=settings.learning_rate,
        batch_size=settings.batch_size,
        max_length=settings.max_length,
        seed=seed,
        progress=False,
        evaluate=False,
        train_layers=settings.train_layers or None,
    )
    return model, tok


def dollar_efficiency(
    result,
    spend: float | None = None,
    heldout: pd.DataFrame | None = None,
    *,
    trainer: str = "proxy",
    **kwargs,
) -> dict[str, float]:
    """Quality gained per dollar for one market's result.

    Args:
        result: a market result (anything with ``.dataset`` and
            ``.summary["spend"]``, e.g. ``simulator.SimulationResult``) or its
            dataset table (then ``spend`` is required).
        spend: dollars spent (default: the result's).
        heldout: held-out gold pairs (default: the shipped task world's).
        trainer: "proxy", "dpo" or "qa-dpo" (see :func:`quality`); kwargs go
            to :func:`quality` (epochs, lr, beta, seed, ...).

    Returns ``{"quality_before", "quality_after", "gain", "spend",
    "per_dollar", "n_pairs", "label_accuracy"}`` where ``per_dollar`` is
    ``gain / spend`` (NaN when nothing was spent) and ``label_accuracy`` the
    share of training pairs whose aggregated label is right.
    """
    if hasattr(result, "dataset"):
        dataset = result.dataset
        spend = float(result.summary["spend"]) if spend is None else spend
    else:
        dataset = result
    if spend is None:
        raise ValueError("pass spend= with a dataset table (or pass the market result)")
    if heldout is None:
        from .taskworld import shipped_pairs

        heldout = shipped_pairs("heldout")
    pairs = training_pairs(dataset)
    q = quality(trainer, pairs, heldout, **kwargs)
    gain = q["after"] - q["before"]
    sampled = {k: q[k] for k in ("gold_reward", "gold_reward_before", "kl", "distinct_2") if k in q}
    return {
        **sampled,
        "quality_before": q["before"],
        "quality_after": q["after"],
        "gain": gain,
        "spend": float(spend),
        "per_dollar": gain / spend if spend > 0 else math.nan,
        "n_pairs": int(q["n_pairs"]),
        "label_accuracy": float(pairs.correct.mean())
        if "correct" in pairs and len(pairs)
        else math.nan,
    }
