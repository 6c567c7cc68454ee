"""The fast DPO mode against full fine-tuning: speed, and fine-tuned quality.

Speed (default): one process, the same clean gold pairs of the shipped task
world (``--pairs``, the first n training pairs ordered by gold), batch 8,
max length 128, ``--epochs`` epochs, fp32: full fine-tuning
(``rlhf.train_dpo``, every parameter) against the fast mode
(``train_layers=n``: the top n decoder layers on cached activations of the
rest, :mod:`rlhf.fast_dpo`), with the activation cache cold (the first
fine-tune on these replies in the process) and warm (a second fine-tune on
them, as every cell after the first of a grid over one pool). pairs/s =
pairs x epochs / seconds, counting tokenization, the reference pass and every
step (``TrainResult.pairs_per_second``); the ratio is to full fine-tuning's,
measured in the same run.

Quality (``--quality``): for each seed, ``--train-pairs`` clean gold pairs
drawn by the seed; full fine-tuning (``--full-lr``) and the fast mode
(``--fast-lr``) on the same pairs; each scored on ``--heldout`` held-out gold
pairs (implicit-reward accuracy) and on the gold reward of its own replies to
``--prompts`` held-out prompts (sampled from the policy itself, the seed's
draws; the reference's replies with the same seed beside them). Printed:
per-seed scores, the mean and 95% t-interval of each mode, and whether the
fast mode's mean lies in full fine-tuning's interval. ``--fast-lr`` takes
several learning rates (one fast arm each); ``--save`` keeps the per-seed rows
and ``--full-from`` reuses full fine-tuning's rows of an earlier run (same
seeds, pairs and options) rather than training it again.

Usage::

    .venv/bin/python benchmarks/bench_fast_dpo.py --markdown
    .venv/bin/python benchmarks/bench_fast_dpo.py --quality --seeds 3 --markdown
    .venv/bin/python benchmarks/bench_fast_dpo.py --quality --seeds 3 \
        --fast-lr 5e-6,1e-4 --full-from full.csv   # full fine-tuning's rows reused
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import time

import pandas as pd
import torch

from rlhf.dpo import implicit_reward_accuracy, train_dpo
from rlhf.efficiency import _sampled
from rlhf.evaluation import heldout_pairs_as_preferences
from rlhf.models import load_policy
from rlhf.settings import FAST_LR, FULL_LR
from rlhf.taskworld import shipped_pairs
from simulator.analysis.statistics import confidence_interval, format_interval

COMMAND = ".venv/bin/python benchmarks/bench_fast_dpo.py"


def gold_pairs(split: str) -> pd.DataFrame:
    """Clean (prompt, chosen, rejected) pairs of the shipped task world by gold."""
    return heldout_pairs_as_preferences(shipped_pairs(split))


def speed(args) -> list[dict]:
    pairs = gold_pairs("train").iloc[: args.pairs]
    base, tok = load_policy()
    base = base.to(args.device)
    kw = {"epochs": args.epochs, "batch_size": 8, "max_length": 128, "lr": FULL_LR,
          "progress": False, "evaluate": False}  # fmt: skip
    rows = []
    for mode, layers in [("full", None), ("fast, cold cache", args.layers),
                         ("fast, warm cache", args.layers)]:  # fmt: skip
        model = copy.deepcopy(base)
        t0 = time.perf_counter()
        res = train_dpo(model, tok, pairs, train_layers=layers, **kw)
        rows.append({"mode": mode, "train_layers": layers or "all",
                     "seconds": time.perf_counter() - t0,
                     "pairs_per_second": res.pairs_per_second})  # fmt: skip
        print(f"  {mode}: {res.pairs_per_second:.2f} pairs/s", flush=True)
    full = rows[0]["pairs_per_second"]
    for r in rows:
        r["ratio"] = r["pairs_per_second"] / full
    return rows


def _lrs(text: str) -> list[float]:
    try:
        lrs = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise SystemExit(f"--fast-lr: expected comma-separated numbers, got {text!r}") from None
    if not lrs or any(not lr > 0 for lr in lrs):
        raise SystemExit(f"--fast-lr: every learning rate must be > 0, got {text!r}")
    return lrs


def quality(args) -> pd.DataFrame:
    train, held = gold_pairs("train"), gold_pairs("heldout").iloc[: args.heldout]
    base, tok = load_policy()
    base = base.to(args.device)
    ref = copy.deepcopy(base)
    prompts_from = shipped_pairs("heldout")
    arms = [] if args.full_from else [("full", None, args.full_lr)]
    arms += [(f"fast lr={lr:g}", args.layers, lr) for lr in _lrs(args.fast_lr)]
    rows = []
    for seed in range(args.seeds):
        sub = train.sample(args.train_pairs, random_state=seed).reset_index(drop=True)
        for mode, layers, lr in arms:
            model = copy.deepcopy(base)
            t0 = time.perf_counter()
            train_dpo(model, tok, sub, train_layers=layers, lr=lr, epochs=args.epochs,
                      batch_size=8, max_length=128, seed=seed, progress=False,
                      evaluate=False)  # fmt: skip
            seconds = time.perf_counter() - t0
            acc = implicit_reward_accuracy(model, ref, tok, held, batch_size=16,
                                           max_length=128, train_layers=layers)  # fmt: skip
            s = _sampled(model, ref, tok, prompts_from, args.prompts, seed, "smollm2-135m")
            rows.append({"seed": seed, "mode": mode, "lr": lr, "train_seconds": seconds,
                         "heldout_accuracy": acc, **s})  # fmt: skip
            print(f"  seed {seed} {mode}: acc {acc:.3f}, gold reward {s['gold_reward']:.3f} "
                  f"(reference {s['gold_reward_before']:.3f}), KL {s['kl']:.3f}, "
                  f"{seconds:.0f} s", flush=True)  # fmt: skip
    df = pd.DataFrame(rows)
    if args.full_from:
        full = pd.read_csv(args.full_from)
        full = full[(full["mode"] == "full") & (full["seed"] < args.seeds)]
        if full["seed"].nunique() < args.seeds:
            raise SystemExit(
                f"--full-from: {args.full_from} has full fine-tuning for "
                f"{full['seed'].nunique()} seed(s), fewer than --seeds {args.seeds}"
            )
        df = pd.concat([full, df], ignore_index=True)
    return df


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("--pairs", type=int, default=64, help="speed: pairs (default 64)")
    ap.add_argument("--epochs", type=int, default=2, help="epochs (default 2)")
    ap.add_argument("--layers", type=int, default=2, help="fast mode: top layers trained")
    ap.add_argument("--threads", type=int, default=None, help="torch threads")
    ap.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (float32)")
    ap.add_argument("--quality", action="store_true", help="the quality comparison instead")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--train-pairs", type=int, default=200)
    ap.add_argument("--heldout", type=int, default=200)
    ap.add_argument("--prompts", type=int, default=40)
    ap.add_argument("--full-lr", type=float, default=FULL_LR)
    ap.add_argument(
        "--fast-lr",
        default=f"{FAST_LR:g}",
        help=f"fast mode's learning rate(s), comma-separated (default {FAST_LR:g})",
    )
    ap.add_argument(
        "--full-from",
        default=None,
        metavar="CSV",
        help="take full fine-tuning's rows from an earlier --save (same seeds and "
        "pairs) instead of training it again",
    )
    ap.add_argument("--save", default=None, metavar="CSV", help="write the per-seed rows")
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args(argv)
    _lrs(args.fast_lr)  # bad learning rates stop here, before any model loads
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"$ {COMMAND} {' '.join(argv or __import__('sys').argv[1:])}")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"Python {platform.python_version()}, {platform.machine()}")  # fmt: skip
    if not args.quality:
        rows = speed(args)
        df = pd.DataFrame(rows)
        if args.markdown:
            print("\n| mode | trained layers | pairs/s | x full |\n|---|---|---|---|")
            for r in rows:
                print(f"| {r['mode']} | {r['train_layers']} | {r['pairs_per_second']:.2f} "
                      f"| {r['ratio']:.1f} |")  # fmt: skip
        else:
            print(df.to_string(index=False))
        return 0
    if args.full_from and not os.path.exists(args.full_from):
        raise SystemExit(f"--full-from: no such file {args.full_from}")
    if args.save and os.path.exists(args.save):
        raise SystemExit(f"--save: {args.save} exists; choose a new path")
    df = quality(args)
    if args.save:
        df.to_csv(args.save, index=False)
    print()
    modes = list(dict.fromkeys(df["mode"]))
    fast_modes = [m for m in modes if m != "full"]
    summary = []
    for col in ("heldout_accuracy", "gold_reward", "kl", "train_seconds"):
        line = {"metric": col}
        full_lo = full_hi = float("nan")
        for mode in modes:
            m, lo, hi = confidence_interval(df[df["mode"] == mode][col].to_numpy())
            line[mode] = format_interval(m, lo, hi)
            if mode == "full":
                full_lo, full_hi = lo, hi
            else:
                inside = full_lo <= m <= full_hi
                line[mode] += " (in)" if inside else " (out)"
        summary.append(line)
    ref = df.gold_reward_before.mean()
    table = pd.DataFrame(summary)[["metric", "full", *fast_modes]]
    print("(in) / (out): the mode's mean lies inside / outside full fine-tuning's 95% interval")
    if args.markdown:
        print("| metric | " + " | ".join(["full fine-tuning", *fast_modes]) + " |")
        print("|---" * (len(fast_modes) + 2) + "|")
        for _, r in table.iterrows():
            print("| " + " | ".join(str(v) for v in r.tolist()) + " |")
    else:
        print(table.to_string(index=False))
    print(f"\nreference's gold reward of samples (same seeds): {ref:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
