#!/bin/sh
# Dollar-efficiency from the fine-tuned model (README "Dollar-efficiency"):
# every mechanism x budget x seed cell buys data on the task world, then
# SmolLM2-135M-Instruct is fine-tuned on it with DPO and with QA-DPO (the fast
# mode: the top 2 decoder layers on cached activations of the rest, 2 epochs,
# lr 5e-6, beta 0.1) and scored on all 478 held-out gold pairs; the proxy's
# score of the same pairs is kept beside it. One store per trainer under
# $OUT (default results/finetuned): a rerun resumes where it stopped.
#
#   sh experiments/finetuned_efficiency.sh            # hours on a CPU, see below
#   sh experiments/finetuned_efficiency.sh --device cuda --train-layers 0   # full, on a GPU
#
# On this project's 2-core CPU, with other jobs sharing the cores, a cell took
# up to 25 minutes (the first in a process computes the cached activations of
# the 478 held-out pairs); the grid (72 cells) was not run to its end here. On
# one H200 a full fine-tune and its scoring took 6-21 s per cell
# (benchmarks/bench_efficiency_modes.py). Later options override earlier ones.
#   .venv/bin/vickreyfeedback report results/finetuned/dpo/store
set -e
OUT=${OUT:-results/finetuned}
for trainer in dpo qa-dpo; do
  .venv/bin/vickreyfeedback efficiency --trainer "$trainer" --train-layers 2 \
    --mechanisms vickrey,first-price,fixed-price,vickrey-feedback \
    --budgets 25,50,100 --seeds 3 --out "$OUT/$trainer" "$@"
done
