#!/bin/sh
# Dollar-efficiency from the fine-tuned model (README "Dollar-efficiency"):
# every mechanism x budget x seed cell buys data on the task world, then
# SmolLM2-135M-Instruct is fine-tuned on it with DPO and with QA-DPO (the fast
# mode: the top 2 decoder layers on cached activations of the rest, 2 epochs,
# lr 1e-4, the fast mode's validated rate, beta 0.1), scored on all 478
# held-out gold pairs and on its own replies to 40 held-out prompts (gold
# reward, KL); the proxy's score of the same pairs is kept beside it. One
# store per trainer under $OUT (default results/finetuned): a rerun resumes
# where it stopped.
#
#   sh experiments/finetuned_efficiency.sh            # both trainers, one after the other
#   TRAINERS=qa-dpo sh experiments/finetuned_efficiency.sh   # one trainer
#   sh experiments/finetuned_efficiency.sh --device cuda --train-layers 0   # full FT, on a GPU
#   .venv/bin/python experiments/finetuned_tables.py  # the README's tables from both grids
#
# Later options override earlier ones (e.g. --mechanisms vickrey,first-price,
# fixed-price,vickrey-feedback; then use another $OUT: a store keeps one grid).
# Each grid runs one worker process per core; the first cell of each worker
# computes the cached activations of the 478 held-out pairs (several
# minutes). The README's grid ran both trainers side by side (TRAINERS=dpo and
# TRAINERS=qa-dpo at once, OMP_NUM_THREADS=1): 4 workers on the 2 cores.
#   .venv/bin/vickreyfeedback report results/finetuned/dpo/store
set -e
OUT=${OUT:-results/finetuned}
for trainer in ${TRAINERS:-dpo qa-dpo}; do
  .venv/bin/vickreyfeedback efficiency --trainer "$trainer" --train-layers 2 \
    --mechanisms vickrey,vickrey-feedback \
    --budgets 25,50,100 --seeds 3 --samples 40 --out "$OUT/$trainer" "$@"
done
