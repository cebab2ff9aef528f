#!/usr/bin/env bash
# Does pre-training help? Fine-tunes a pre-trained checkpoint (as it is, and with --reinit_pooler) and the same
# architecture from random weights (--random) on SST-2 and CoLA with identical settings, for each learning rate in
# LRS and each seed in SEEDS, and prints the dev metric after the last epoch of each run (never the best epoch),
# then the mean, min and max over the seeds for each task, start and learning rate.
#
#   scripts/glue-pretrained-vs-random.sh CHECKPOINT [GLUE_DIR] [SST2_DIR]
#
# CHECKPOINT: a job folder (its latest checkpoint) or a checkpoint folder, e.g. out/saved_models/bert_mini_pld.
# GLUE_DIR holds CoLA (or set GLUE_DIR); SST2_DIR holds SST-2 (default: the SST-2 sample shipped in data/glue).
# Environment: OUT (output prefix), EPOCHS (3), LRS ("3e-4"), SEEDS ("42"; SEED is read too), STARTS (the three
# starts), TASKS ("SST-2 CoLA"), THREADS (0 = all cores; use 1 to run several copies side by side).
set -euo pipefail
# Paths given by the user (arguments, environment) are taken relative to the folder it is run from.
repo=$(cd "$(dirname "$0")/.." && pwd)
ckpt=$1
glue=${2:-${GLUE_DIR:?pass the GLUE folder holding CoLA as the second argument, or set GLUE_DIR}}
sst2=${3:-$repo/data/glue}
out=${OUT:-out/glue-pretrained-vs-random}
mkdir -p "$(dirname "$out")"
epochs=${EPOCHS:-3}
results="$out.results.tsv"
: > "$results"
printf '| task | start | lr | seed | metric after epoch %s |\n| --- | --- | --- | --- | --- |\n' "$epochs"
for task in ${TASKS:-SST-2 CoLA}; do
  dir=$glue
  [ "$task" = SST-2 ] && dir=$sst2
  for lr in ${LRS:-3e-4}; do
    for seed in ${SEEDS:-${SEED:-42}}; do
      for start in ${STARTS:-pretrained pretrained-reinit-pooler random}; do
        flag=()
        [ "$start" = random ] && flag=(--random)
        [ "$start" = pretrained-reinit-pooler ] && flag=(--reinit_pooler)
        job="${task}_${start}_${lr}_s${seed}"
        node "$repo/dist/bin/bert-train.js" finetune "$task" 32 "$lr" "$epochs" "$job" "$ckpt" --data_dir "$dir" \
          --output_dir "$out" --seed "$seed" --max_seq_length 64 --progressive_layer_drop \
          --threads "${THREADS:-0}" "${flag[@]}" > "$out.$job.log" 2>&1 ||
          { echo "finetune $job failed: see $out.$job.log" >&2; exit 1; }
        metric=$(grep -E '^(acc|mcc) = ' "$out/$job/eval_results.txt" | head -1)
        printf '| %s | %s | %s | %s | %s |\n' "$task" "$start" "$lr" "$seed" "$metric"
        printf '%s\t%s\t%s\t%s\n' "$task" "$start" "$lr" "${metric#* = }" >> "$results"
      done
    done
  done
done
printf '\n| task | start | lr | runs | mean | min | max |\n| --- | --- | --- | --- | --- | --- | --- |\n'
awk -F'\t' '{ k = $1 " | " $2 " | " $3; if (!(k in n)) { order[++m] = k; lo[k] = $4; hi[k] = $4 }
    n[k]++; s[k] += $4; if ($4 < lo[k]) lo[k] = $4; if ($4 > hi[k]) hi[k] = $4 }
  END { for (i = 1; i <= m; i++) { k = order[i]; printf "| %s | %d | %.4f | %.4f | %.4f |\n", k, n[k], s[k] / n[k], lo[k], hi[k] } }' "$results"
