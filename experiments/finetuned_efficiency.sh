#!/bin/sh
# Dollar-efficiency from the fine-tuned model (README "Dollar-efficiency"):
# every mechanism x budget x seed cell buys data on the task world, then
# SmolLM2-135M-Instruct is fine-tuned on it with DPO and with QA-DPO (the fast
# mode: the top 2 decoder layers on cached activations of the rest, 2 epochs,
# lr 5e-6, beta 0.1) and scored on all 478 held-out gold pairs; the proxy's
# score of the same pairs is kept beside it. One store per trainer under
# $OUT (default results/finetuned): a rerun resumes where it stopped.
#
#   sh experiments/finetuned_efficiency.sh            # about 1 h on 2 CPU cores
#   .venv/bin/vickreyfeedback report results/finetuned/dpo/store
set -e
OUT=${OUT:-results/finetuned}
for trainer in dpo qa-dpo; do
  .venv/bin/vickreyfeedback efficiency --trainer "$trainer" --train-layers 2 \
    --mechanisms vickrey,first-price,fixed-price,vickrey-feedback \
    --budgets 25,50,100 --seeds 3 --out "$OUT/$trainer" "$@"
done
