"""The efficiency grid with both fine-tuning modes on the same pairs.

Every default mechanism (vickrey, first-price, fixed-price, vickrey-feedback)
x budgets $25, $50, $100, seed 0, on the task world: the market's bought pairs
fine-tune SmolLM2-135M-Instruct with DPO in full (``train_layers=0``) and in
the fast mode (``train_layers=2``), both at lr ``LR`` (the third argument;
default 5e-6, full fine-tuning's rate, as the README's GPU table was measured;
the fast mode's own default is 1e-4, ``rlhf.settings.FAST_LR``), the default
settings otherwise (2 epochs, beta 0.1, batch 8, max length 128), through
:func:`rlhf.efficiency.quality` (what ``vickreyfeedback efficiency --trainer
dpo`` runs per cell), scored on all 478 held-out gold pairs and on the gold
reward and KL of the policy's own replies to 40 held-out prompts. One JSON
line per fine-tune as it finishes, then the table. Cells stop being started
once ``SECONDS`` (the first argument) have passed.

Usage: python benchmarks/bench_efficiency_modes.py SECONDS [DEVICE [LR]]
(DEVICE: cuda by default; on a CPU a full fine-tune takes minutes).
"""

import json
import sys
import time

import pandas as pd

from rlhf.efficiency import quality, training_pairs
from rlhf.settings import FULL_LR, TrainSettings
from rlhf.taskworld import shipped_pairs
from simulator import MarketConfig, run

deadline = time.time() + float(sys.argv[1])
device = sys.argv[2] if len(sys.argv) > 2 else "cuda"
lr = float(sys.argv[3]) if len(sys.argv) > 3 else FULL_LR
held = shipped_pairs("heldout")
rows = []
for budget in (25.0, 50.0, 100.0):
    for mech in ("vickrey", "first-price", "fixed-price", "vickrey-feedback"):
        cfg = MarketConfig(mechanism=mech, budget=budget, seed=0, task_source="taskworld")
        t0 = time.time()
        res = run(cfg)
        market_s = time.time() - t0
        pairs = training_pairs(res.dataset)
        for layers in (0, 2):
            if time.time() > deadline:
                break
            t0 = time.time()
            settings = TrainSettings(device=device, train_layers=layers, lr=lr)
            q = quality("dpo", pairs, held, seed=0, samples=40, settings=settings)
            rows.append({"mechanism": mech, "budget": budget, "spend": res.summary["spend"],
                         "n_pairs": len(pairs), "train_layers": layers or "all",
                         "heldout_acc": q["after"], "gold_reward": q["gold_reward"],
                         "gold_reward_ref": q["gold_reward_before"], "kl": q["kl"],
                         "seconds": time.time() - t0, "market_s": market_s})  # fmt: skip
            print(json.dumps(rows[-1]), flush=True)
df = pd.DataFrame(rows)
print(df.to_string(index=False))
