"""The response providers' task world: one reply per (persona, prompt).

In the response market (the paper's), LLM agents with different generation
personas (:mod:`rlhf.personas`) sell replies to prompts. This module generates
their replies with the policy model and scores them with the gold reward:

- :func:`generate_provider_pool` samples one reply per (persona, prompt) with
  each persona's system prompt and sampling settings, and records how many
  tokens each reply took and whether it was cut at the token cap.
- :func:`shipped_provider_pool` reads the pool that ships in
  ``rlhf/data/providers.parquet`` (SmolLM2-135M-Instruct, all 400 prompts, the
  8 personas, seed 0), so the market and tests need no generation.
- ``python -m rlhf.providers [--out PATH] [--batch-size N] [--limit-prompts N]``
  regenerates it and prints per-persona means. The shipped file was made with
  ``OMP_WAIT_POLICY=PASSIVE python -m rlhf.providers --batch-size 64 --threads 2``
  (57 minutes on two shared CPU cores); sampling depends on the batch size, so
  use the same one to reproduce it.

Sampling is a plain KV-cache decoding loop (:func:`_generate_batch`) with the
distribution of ``model.generate(do_sample=True, temperature, top_p, top_k=0)``
(greedy decoding gives identical tokens), except that a finished reply leaves
the batch: a batch costs the tokens its replies take, not its longest reply
times its size (on CPU, where finished rows cost as much as running ones).

Columns of a pool: ``persona``, ``prompt``, ``split`` ("train"/"heldout"),
``response`` (stripped text), ``reward`` (gold reward), ``n_tokens``
(generated tokens before eos, eos and padding excluded) and ``truncated``
(True when generation hit the persona's ``max_new_tokens`` without eos). A
truncated reply has no natural end, so DPO must not append eos to it (see the
``truncated_*`` columns accepted by :func:`rlhf.dpo.train_dpo`).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from .files import write_atomically
from .personas import Persona, get_persona, persona_names
from .prompts import load_prompts, prompt_split
from .reward import gold_reward

__all__ = ["POOL_COLUMNS", "PROVIDERS_FILE", "generate_provider_pool", "shipped_provider_pool"]

PROVIDERS_FILE = "data/providers.parquet"
POOL_COLUMNS = ("persona", "prompt", "split", "response", "reward", "n_tokens", "truncated")


def _chat(tokenizer, prompt: str, system: str) -> str:
    """The prompt as a chat turn (with a system message when ``system`` is set)."""
    if getattr(tokenizer, "chat_template", None):
        messages = [{"role": "user", "content": prompt}]
        if system:
            messages.insert(0, {"role": "system", "content": system})
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return (system + "\n\n" if system else "") + prompt + "\n"


def _stop_ids(model, tokenizer) -> set[int]:
    """Every token id that ends generation (the tokenizer's and the model's eos)."""
    ids: set[int] = set()
    gen_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    for x in (tokenizer.eos_token_id, gen_eos):
        if x is None:
            continue
        ids.update(int(i) for i in (x if isinstance(x, list | tuple) else [x]))
    if not ids:
        raise ValueError("neither the tokenizer nor the model has an eos token")
    return ids


def _lengths(new_ids, stop_ids: set[int], max_new_tokens: int) -> tuple[np.ndarray, np.ndarray]:
    """(n_tokens, truncated) of each row of generated ids (padded after eos):
    the tokens before the first eos; truncated when a row has no eos, i.e.
    generation stopped at the cap."""
    import torch

    is_stop = torch.zeros_like(new_ids, dtype=torch.bool)
    for s in stop_ids:
        is_stop |= new_ids == s
    has_stop = is_stop.any(dim=1)
    width = torch.full_like(has_stop, new_ids.shape[1], dtype=torch.long)
    first = torch.where(has_stop, is_stop.int().argmax(dim=1), width)
    n_tokens = first.cpu().numpy().astype(np.int64)
    truncated = (~has_stop).cpu().numpy().astype(bool)
    if truncated.any() and new_ids.shape[1] != max_new_tokens:
        raise RuntimeError("a reply without eos is shorter than max_new_tokens")
    return n_tokens, truncated


#: the nucleus is searched among this many most likely tokens first (all of
#: them when these do not reach top_p): a partial sort instead of a full one
_TOP_P_CANDIDATES = 1024


def _nucleus(logits, temperature: float, top_p: float):
    """The sampling distribution of each row as (weights, token ids): softmax
    of ``logits / temperature`` restricted to the nucleus, the most likely
    tokens up to cumulative probability ``top_p`` (a token is kept when the
    mass ranked above it is below ``top_p``; at least one is kept). Weights are
    not renormalized. The same distribution as transformers' temperature and
    top-p warpers with ``top_k=0``; ``top_p >= 1`` keeps the whole vocabulary."""
    import torch

    probs = torch.softmax(logits.float() / temperature, dim=-1)
    if top_p >= 1.0:
        ids = torch.arange(probs.shape[-1], device=probs.device).expand_as(probs)
        return probs, ids
    k = min(probs.shape[-1], _TOP_P_CANDIDATES)
    top, idx = probs.topk(k, dim=-1)  # sorted, most likely first
    if k < probs.shape[-1] and bool((top.sum(dim=-1) < top_p).any()):
        top, idx = probs.sort(dim=-1, descending=True)
    keep = (top.cumsum(dim=-1) - top) < top_p
    keep[:, 0] = True
    return top * keep, idx


def _sample_next(logits, temperature: float, top_p: float):
    """One token id per row from :func:`_nucleus`, drawn with torch's global RNG."""
    import torch

    weights, idx = _nucleus(logits, temperature, top_p)
    return idx.gather(1, torch.multinomial(weights, 1)).squeeze(1)


def _generate_batch(model, enc, persona: Persona, stop_ids: set[int], pad_id: int):
    """Sample replies for one left-padded batch; returns the new token ids
    (rows, steps), each row padded with ``pad_id`` after its first eos.

    A plain KV-cache decoding loop equivalent to ``model.generate(do_sample=True,
    temperature=..., top_p=..., top_k=0)``, except that a row that has produced
    eos is dropped from the batch (and its cache), so a batch costs the tokens
    its replies actually take rather than its longest reply times its size.
    """
    import torch
    from transformers import DynamicCache

    ids, mask = enc["input_ids"], enc["attention_mask"]
    rows = ids.shape[0]
    device = ids.device
    stops = torch.tensor(sorted(stop_ids), device=device)
    out = torch.full((rows, persona.max_new_tokens), pad_id, dtype=torch.long, device=device)
    active = torch.arange(rows, device=device)  # batch row -> output row
    position = (mask.long().cumsum(-1) - 1).clamp(min=0)
    cache = DynamicCache()
    step_ids, step_pos = ids, position
    for step in range(persona.max_new_tokens):
        # positional: the cache argument is ``cache`` in transformers 5 and
        # ``past_key_values`` in 4.x, 4th either way
        logits = model(step_ids, mask, step_pos, cache, use_cache=True, logits_to_keep=1).logits
        token = _sample_next(logits[:, -1, :], persona.temperature, persona.top_p)
        out[active, step] = token
        done = torch.isin(token, stops)
        if bool(done.all()):
            break
        if bool(done.any()):
            keep = (~done).nonzero().squeeze(1)
            cache.batch_select_indices(keep)
            active, token, mask = active[keep], token[keep], mask[keep]
            step_pos = step_pos[keep]
        mask = torch.cat([mask, mask.new_ones((mask.shape[0], 1))], dim=1)
        step_pos = step_pos[:, -1:] + 1
        step_ids = token.unsqueeze(1)
    return out[:, : step + 1]


def generate_provider_pool(
    model,
    tokenizer,
    prompts: Sequence[str],
    personas: Sequence[Persona | str],
    *,
    seed: int = 0,
    batch_size: int = 32,
    progress: bool = True,
) -> pd.DataFrame:
    """One sampled reply per (persona, prompt), scored by the gold reward.

    Each persona's prompts are wrapped in the tokenizer's chat template (with
    the persona's system message when it has one; otherwise the template's
    default), left-padded in batches of ``batch_size`` and sampled with the
    persona's temperature, top-p and ``max_new_tokens`` (``top_k=0``: no
    top-k cut). torch's RNG is forked (the caller's state is untouched) and
    seeded with ``seed + i`` for the i-th persona, so a persona's replies do
    not depend on which personas precede it. Deterministic for a given model,
    prompts, personas, seed and batch size (on one device).

    Returns the columns of :data:`POOL_COLUMNS`, persona-major in the order
    given; ``split`` comes from :func:`rlhf.prompts.prompt_split`. The
    tokenizer's padding side is restored afterwards; a tokenizer without a pad
    token gets its eos token as one (as in :func:`rlhf.taskworld.generate_candidates`).
    """
    import torch

    prompts = [str(p) for p in prompts]
    personas = [p if isinstance(p, Persona) else get_persona(p) for p in personas]
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    names = [p.name for p in personas]
    if len(set(names)) != len(names):
        raise ValueError(f"personas repeat: {names}")
    if not prompts or not personas:
        return _empty_pool()
    stop_ids = _stop_ids(model, tokenizer)
    old_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    pad_id = int(tokenizer.pad_token_id)
    device = next(model.parameters()).device
    frames = []
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(prompts) * len(personas), unit="reply", desc="providers")
    was_training = model.training
    try:
        model.eval()
        with torch.random.fork_rng(devices=[] if device.type == "cpu" else [device]):
            for i, persona in enumerate(personas):
                torch.manual_seed(seed + i)
                texts = [_chat(tokenizer, p, persona.system) for p in prompts]
                responses: list[str] = []
                n_tokens: list[np.ndarray] = []
                truncated: list[np.ndarray] = []
                for start in range(0, len(texts), batch_size):
                    chunk = texts[start : start + batch_size]
                    enc = tokenizer(
                        chunk, return_tensors="pt", padding=True, add_special_tokens=False
                    ).to(device)
                    with torch.inference_mode():
                        new = _generate_batch(model, enc, persona, stop_ids, pad_id)
                    n, cut = _lengths(new, stop_ids, persona.max_new_tokens)
                    n_tokens.append(n)
                    truncated.append(cut)
                    replies = [row[:k] for row, k in zip(new.tolist(), n.tolist(), strict=True)]
                    responses += [
                        r.strip() for r in tokenizer.batch_decode(replies, skip_special_tokens=True)
                    ]
                    if bar is not None:
                        bar.update(len(chunk))
                frames.append(
                    pd.DataFrame(
                        {
                            "persona": persona.name,
                            "prompt": prompts,
                            "split": [prompt_split(p) for p in prompts],
                            "response": responses,
                            "reward": gold_reward(responses).astype(np.float64),
                            "n_tokens": np.concatenate(n_tokens).astype(np.int64),
                            "truncated": np.concatenate(truncated).astype(bool),
                        }
                    )
                )
    finally:
        tokenizer.padding_side = old_side
        model.train(was_training)
        if bar is not None:
            bar.close()
    if not frames:
        return _empty_pool()
    return pd.concat(frames, ignore_index=True)[list(POOL_COLUMNS)]


def _empty_pool() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "persona": pd.Series(dtype=object),
            "prompt": pd.Series(dtype=object),
            "split": pd.Series(dtype=object),
            "response": pd.Series(dtype=object),
            "reward": pd.Series(dtype=np.float64),
            "n_tokens": pd.Series(dtype=np.int64),
            "truncated": pd.Series(dtype=bool),
        }
    )


_SHIPPED: pd.DataFrame | None = None


def shipped_provider_pool() -> pd.DataFrame:
    """The provider pool that ships with the package (SmolLM2-135M-Instruct,
    all 400 prompts x the 8 personas, seed 0); a fresh copy on every call."""
    global _SHIPPED
    if _SHIPPED is None:
        with resources.as_file(resources.files("rlhf").joinpath(PROVIDERS_FILE)) as path:
            _SHIPPED = pd.read_parquet(path)
    return _SHIPPED.copy()


def persona_summary(pool: pd.DataFrame) -> pd.DataFrame:
    """Per persona (in order of appearance): mean reward, mean n_tokens, truncated share."""
    g = pool.groupby("persona", sort=False)
    return pd.DataFrame(
        {
            "mean_reward": g.reward.mean(),
            "mean_tokens": g.n_tokens.mean(),
            "truncated_share": g.truncated.mean(),
            "n": g.size(),
        }
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Regenerate the provider pool (all shipped prompts x all personas)."""
    parser = argparse.ArgumentParser(
        prog="python -m rlhf.providers",
        description="Generate the response providers' pool (one reply per persona and prompt).",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent / PROVIDERS_FILE,
        help="Parquet file to write (default: the shipped rlhf/data/providers.parquet)",
    )
    parser.add_argument("--batch-size", type=int, default=32, help="replies per generate call")
    parser.add_argument(
        "--limit-prompts", type=int, default=None, help="only the first N shipped prompts"
    )
    parser.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (default: torch's)"
    )
    parser.add_argument("--model", default="smollm2-135m", help="policy to load")
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        parser.error("--batch-size must be >= 1")
    if args.limit_prompts is not None and args.limit_prompts < 1:
        parser.error("--limit-prompts must be >= 1")

    import torch

    from .models import load_policy

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    prompts = load_prompts("all")
    if args.limit_prompts is not None:
        prompts = prompts[: args.limit_prompts]
    model, tok = load_policy(args.model)
    t0 = time.perf_counter()
    df = generate_provider_pool(
        model, tok, prompts, persona_names(), seed=args.seed, batch_size=args.batch_size
    )
    seconds = time.perf_counter() - t0
    write_atomically(args.out, lambda tmp: df.to_parquet(tmp, index=False))
    with pd.option_context("display.float_format", "{:.3f}".format):
        print(persona_summary(df).to_string())
    print(
        f"{len(df)} replies ({len(prompts)} prompts x {df.persona.nunique()} personas) in "
        f"{seconds:.0f} s ({len(df) / seconds:.2f} replies/s, {torch.get_num_threads()} threads, "
        f"batch size {args.batch_size}); truncated share {df.truncated.mean():.3f}; "
        f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
