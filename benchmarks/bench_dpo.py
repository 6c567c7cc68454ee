"""Throughput and peak memory of one DPO epoch on SmolLM2-135M-Instruct:
``rlhf.dpo.train_dpo`` against TRL's ``DPOTrainer``, in one process.

Both trainers see the same pairs (prompts from ``rlhf/data/prompts.txt``
rendered with the SmolLM2 chat template, synthetic positive / negative replies
of varied length), the same batch size, maximum length, precision, learning
rate, beta, gradient clipping (1.0) and optimizer (fused AdamW, no weight
decay). TRL's gradient checkpointing (on by its default) is turned off, so
both do the same arithmetic per step (``--trl-gradient-checkpointing`` to keep
TRL's default); TRL's reference log-probs are computed per batch as by its
default (``--trl-precompute`` adds a row with ``precompute_ref_log_probs``;
``--ablation`` adds ours with ``shared_prompt=False``, chosen and rejected as
two separate sequences like TRL, to show what the packed rows buy).

Timed: ours = ``train_dpo`` end to end (tokenization, the one-off reference
pass, every training step; the final accuracy pass is switched off). TRL =
``DPOTrainer(...)`` construction (tokenizing the dataset, copying the
reference model) plus ``trainer.train()``; its ``train()`` alone is reported
too, and the ratio is given against both. pairs/s = pairs x epochs / seconds;
tokens/s = the non-pad tokens of every chosen and rejected sequence x epochs /
seconds (each trainer's own tokenization, after truncation).

Peak memory: on CPU the peak RSS (``VmHWM``) of each run, reset before it
through ``/proc/self/clear_refs`` after a ``gc.collect()`` and glibc
``malloc_trim(0)`` that hand the previous run's freed heap back to the OS;
"before" is the RSS at the start of the run (the model and libraries), and
"peak - before" what the run itself added. Caveat: in one process the second
run can still reuse pages the first left mapped (then its peak is lower than
alone), and where ``clear_refs`` is refused its peak includes the first's (the
output says so). On CUDA ``torch.cuda.max_memory_allocated``, reset before each
run. On CUDA the model FLOP utilization is printed: 6 x parameters x tokens/s
over ``--peak-tflops`` (the GPU's dense peak for the precision; a guess from
the GPU's name otherwise). tokens/s counts each pair's prompt twice (once per
completion) for both trainers, so for ours, which runs the prompt once, it is
an effective MFU; the reference pass is not counted as useful FLOPs.

On the shared 2-core machine, when other jobs are running, two OpenMP threads
can make every small op wait for a descheduled thread (a SmolLM2 forward took
7.7 s on 2 threads vs 0.47 s on 1): ``--threads 1`` gives steadier numbers.

Usage (TRL and datasets are the ``bench`` extra:
``.venv/bin/pip install -c constraints.txt trl datasets``)::

    .venv/bin/python benchmarks/bench_dpo.py                      # 64 pairs, batch 8, len 128, fp32
    .venv/bin/python benchmarks/bench_dpo.py --pairs 16 --threads 1 --markdown
    python benchmarks/bench_dpo.py --device cuda --bf16 --pairs 512 --batch-size 16 \\
        --peak-tflops 989
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from rlhf.dpo import train_dpo

POSITIVE = (
    "wonderful lovely great friendly delicious bright warm excellent cheerful "
    "amazing beautiful fantastic pleasant cozy helpful"
).split()
NEGATIVE = (
    "awful rude cold dirty terrible slow noisy boring disgusting bland "
    "horrible broken sad unpleasant dreadful"
).split()
NOUNS = "place staff coffee service room food music view price visit morning team".split()

# dense peak TFLOP/s by GPU name fragment (bf16 / fp32), used when --peak-tflops is absent
PEAKS = {"H200": (989.0, 67.0), "H100": (989.0, 67.0), "A100": (312.0, 19.5), "L4": (121.0, 30.3)}


def _reply(g: np.random.Generator, words: list[str]) -> str:
    parts = []
    for _ in range(int(g.integers(1, 5))):
        a, b = g.choice(words, 2, replace=False)
        parts.append(f"The {g.choice(NOUNS)} was {a} and {b}")
    return ". ".join(parts) + "."


def make_pairs(n: int, seed: int = 0) -> pd.DataFrame:
    """n (prompt, chosen, rejected) triples: positive vs negative replies, 1-4 sentences."""
    try:
        from rlhf.prompts import load_prompts

        prompts = load_prompts("train")
    except Exception:  # the prompt list is not there: templated stand-ins
        prompts = [f"Write a short review of shop number {i}." for i in range(100)]
    g = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        rows.append(
            (prompts[int(g.integers(len(prompts)))], _reply(g, POSITIVE), _reply(g, NEGATIVE))
        )
        if i % 2:  # vary which side is longer
            rows[-1] = (rows[-1][0], rows[-1][1], rows[-1][2].split(". ")[0] + ".")
    return pd.DataFrame(rows, columns=["prompt", "chosen", "rejected"])


def render_prompts(tokenizer, prompts) -> list[str]:
    """The chat-template text of each prompt, so both trainers see the same string."""
    return [
        tokenizer.apply_chat_template(
            [{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True
        )
        for p in prompts
    ]


# ------------------------------------------------------------------ memory


def _release_memory() -> None:
    """Collect garbage and hand freed heap pages back to the OS (glibc), so that
    a run's RSS does not start with what the previous run left cached."""
    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def _reset_peak(device: str) -> bool:
    """Reset the peak-memory counter; True if it was reset."""
    _release_memory()
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        return True
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
        return True
    except OSError:
        return False


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def _rss_mb() -> float:
    try:
        import psutil

        return psutil.Process().memory_info().rss / 2**20
    except ImportError:
        return _status_kb("VmRSS") / 1024


def _current_mb(device: str) -> float:
    if device.startswith("cuda"):
        return torch.cuda.memory_allocated() / 2**20
    return _rss_mb()


def _peak_mb(device: str) -> float:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() / 2**20
    return _status_kb("VmHWM") / 1024


# ------------------------------------------------------------------ runs


def load_model(device: str, bf16: bool):
    from rlhf.models import load_policy

    model, tok = load_policy("smollm2-135m")
    model = model.to(device=device, dtype=torch.bfloat16 if bf16 else torch.float32)
    return model, tok


def warm_up(model, device: str) -> None:
    """One forward + backward on random ids (kernel selection, allocator), grads dropped."""
    ids = torch.randint(0, 1000, (4, 32), device=device)
    model.train()
    model(input_ids=ids).logits.float().mean().backward()
    model.zero_grad(set_to_none=True)
    model.eval()
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def run_ours(model, tok, pairs, args, *, shared_prompt: bool = True) -> dict:
    reset = _reset_peak(args.device)
    base = _current_mb(args.device)
    res = train_dpo(
        model,
        tok,
        pairs,
        beta=args.beta,
        epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
        max_length=args.max_length,
        seed=args.seed,
        progress=False,
        chat_template=False,  # prompts arrive rendered
        evaluate=False,
        shared_prompt=shared_prompt,
    )
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    return {
        "trainer": "ours (train_dpo)" + ("" if shared_prompt else ", separate sequences"),
        "seconds": res.seconds,
        "train_seconds": res.seconds - res.ref_seconds,
        "tokens": res.tokens,
        "peak_mb": _peak_mb(args.device),
        "base_mb": base,
        "peak_reset": reset,
        "mean_loss": float(np.mean(res.losses)),
    }


def run_trl(model, tok, pairs, args, *, precompute: bool) -> dict:
    try:
        from datasets import Dataset
        from trl import DPOConfig, DPOTrainer
    except ImportError as exc:
        raise SystemExit(
            f"TRL is not installed ({exc}): .venv/bin/pip install -c constraints.txt trl datasets"
        ) from exc

    reset = _reset_peak(args.device)
    base = _current_mb(args.device)
    out = tempfile.mkdtemp(prefix="bench_dpo_trl_")
    config = DPOConfig(
        output_dir=out,
        per_device_train_batch_size=args.batch_size,
        num_train_epochs=args.epochs,
        learning_rate=args.lr,
        lr_scheduler_type="constant",
        warmup_steps=0,
        weight_decay=0.0,
        max_grad_norm=1.0,
        optim="adamw_torch_fused",
        beta=args.beta,
        loss_type=["sigmoid"],
        max_length=args.max_length,
        precompute_ref_log_probs=precompute,
        precompute_ref_batch_size=2 * args.batch_size if precompute else None,
        gradient_checkpointing=args.trl_gradient_checkpointing,
        bf16=args.bf16,
        fp16=False,
        use_cpu=args.device == "cpu",
        seed=args.seed,
        data_seed=args.seed,
        save_strategy="no",
        report_to="none",
        logging_steps=10**9,
        disable_tqdm=True,
        dataloader_num_workers=0,
        dataset_num_proc=None,
    )
    # plain lists through Dataset.from_dict (no pandas/pyarrow types for dill to hash)
    data = Dataset.from_dict({k: pairs[k].tolist() for k in ("prompt", "chosen", "rejected")})
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer = DPOTrainer(model=model, args=config, train_dataset=data, processing_class=tok)
        t1 = time.perf_counter()
        checkpointing = bool(getattr(trainer.model, "is_gradient_checkpointing", False))
        if checkpointing != args.trl_gradient_checkpointing:
            raise RuntimeError(f"TRL gradient checkpointing is {checkpointing}, expected otherwise")
        result = trainer.train()
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    t2 = time.perf_counter()
    ds = trainer.train_dataset
    tokens = 0
    for p, c, r in zip(ds["prompt_ids"], ds["chosen_ids"], ds["rejected_ids"], strict=True):
        tokens += min(len(p) + len(c), args.max_length) + min(len(p) + len(r), args.max_length)
    name = "TRL DPOTrainer" + (" (precompute_ref_log_probs)" if precompute else "")
    row = {
        "trainer": name,
        "seconds": t2 - t0,
        "train_seconds": t2 - t1,
        "setup_seconds": t1 - t0,
        "tokens": tokens * args.epochs,
        "peak_mb": _peak_mb(args.device),
        "base_mb": base,
        "peak_reset": reset,
        "mean_loss": float(result.training_loss),
    }
    del trainer
    gc.collect()
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=8, help="pairs per step")
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--lr", type=float, default=5e-6)
    ap.add_argument("--beta", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    ap.add_argument("--bf16", action="store_true", help="bf16 weights for both (default fp32)")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    ap.add_argument("--peak-tflops", type=float, default=None, help="GPU peak for the MFU")
    ap.add_argument("--skip-trl", action="store_true")
    ap.add_argument("--trl-precompute", action="store_true", help="add TRL with precompute")
    ap.add_argument("--trl-gradient-checkpointing", action="store_true")
    ap.add_argument(
        "--ablation",
        action="store_true",
        help="add ours with shared_prompt=False (chosen and rejected as separate sequences)",
    )
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("--device cuda but torch sees no GPU")

    model, tok = load_model(args.device, args.bf16)
    n_params = sum(p.numel() for p in model.parameters())
    raw = make_pairs(args.pairs, args.seed)
    pairs = raw.assign(prompt=render_prompts(tok, raw["prompt"]))
    warm_up(model, args.device)

    rows = [run_ours(model, tok, pairs, args)]
    del model
    gc.collect()
    if args.ablation:
        model, tok = load_model(args.device, args.bf16)
        warm_up(model, args.device)
        rows.append(run_ours(model, tok, pairs, args, shared_prompt=False))
        del model
        gc.collect()
    if not args.skip_trl:
        runs = [False, True] if args.trl_precompute else [False]
        for precompute in runs:
            model, tok = load_model(args.device, args.bf16)
            warm_up(model, args.device)
            rows.append(run_trl(model, tok, pairs, args, precompute=precompute))
            del model
            gc.collect()

    table = pd.DataFrame(rows)
    table["pairs/s"] = args.pairs * args.epochs / table["seconds"]
    table["tokens/s"] = table["tokens"] / table["seconds"]
    ours = table.iloc[0]
    # ours' pairs/s over the row's: its full time, and its train() alone (TRL's setup left out)
    table["ours speed-up"] = table["seconds"].where(table.index > 0) / ours["seconds"]
    table["ours speed-up vs train() only"] = (
        table["train_seconds"].where(table.index > 0) / ours["seconds"]
    )
    if args.device.startswith("cuda"):
        peak = args.peak_tflops
        if peak is None:
            gpu = torch.cuda.get_device_name()
            peak = next((v[0 if args.bf16 else 1] for k, v in PEAKS.items() if k in gpu), None)
        if peak:
            table["MFU"] = 6 * n_params * table["tokens/s"] / (peak * 1e12)
            print(f"MFU = 6 x {n_params:,} params x tokens/s / {peak:g} TFLOP/s peak")
        else:
            print("no MFU: unknown GPU, pass --peak-tflops")

    dev = torch.cuda.get_device_name() if args.device.startswith("cuda") else platform.processor()
    mem = "max allocated (MiB)" if args.device.startswith("cuda") else "peak RSS (MiB)"
    print(
        f"{args.pairs} pairs x {args.epochs} epoch(s), batch {args.batch_size} pairs, "
        f"max_length {args.max_length}, {'bf16' if args.bf16 else 'fp32'}, device {args.device} "
        f"({dev or platform.machine()}), {torch.get_num_threads()} thread(s); "
        f"SmolLM2-135M ({n_params / 1e6:.1f} M params); torch {torch.__version__}, "
        f"Python {platform.python_version()}"
    )
    if not table["peak_reset"].all():
        print("caveat: the peak counter could not be reset: later rows include earlier peaks")
    table["extra"] = table["peak_mb"] - table["base_mb"]
    show = table.rename(
        columns={"peak_mb": mem, "base_mb": "before (MiB)", "extra": "peak - before"}
    )
    cols = ["trainer", "seconds", "train_seconds", "pairs/s", "tokens/s", "tokens", mem]
    cols += ["before (MiB)", "peak - before"]
    cols += ["ours speed-up", "ours speed-up vs train() only", "mean_loss"]
    cols += ["MFU"] if "MFU" in table else []
    show = show[cols]
    if args.markdown:
        print(_markdown(show))
    else:
        with pd.option_context("display.width", 200, "display.max_columns", 20):
            print(show.to_string(index=False, float_format=_fmt, na_rep=""))


def _fmt(x) -> str:
    if isinstance(x, float):
        return "" if np.isnan(x) else (f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.3g}")
    return str(x)


def _markdown(df: pd.DataFrame) -> str:
    lines = ["| " + " | ".join(df.columns) + " |", "|" + "---|" * len(df.columns)]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(_fmt(x) for x in row) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
