#!/usr/bin/env bash
# Does pre-training help? Fine-tunes a pre-trained checkpoint (as it is, and with --reinit_pooler) and the same
# architecture from random weights (--random) on SST-2 and CoLA with identical settings and seeds, for each
# learning rate in LRS, and prints the dev metric after the last epoch of each run (no picking the best epoch).
#
#   scripts/glue-pretrained-vs-random.sh CHECKPOINT [GLUE_DIR] [SST2_DIR]
#
# CHECKPOINT: a job folder (its latest checkpoint) or a checkpoint folder, e.g. out/saved_models/bert_mini_pld.
# GLUE_DIR holds CoLA (default: ../shared/data/glue); SST2_DIR holds SST-2 (default: data/glue, the shipped sample).
set -euo pipefail
cd "$(dirname "$0")/.."
ckpt=$1
glue=${2:-../shared/data/glue}
sst2=${3:-data/glue}
out=${OUT:-out/glue-pretrained-vs-random}
mkdir -p "$(dirname "$out")"
epochs=${EPOCHS:-3}
seed=${SEED:-42}
printf '| task | start | lr | metric after epoch %s |\n| --- | --- | --- | --- |\n' "$epochs"
for task in SST-2 CoLA; do
  dir=$glue
  [ "$task" = SST-2 ] && dir=$sst2
  for lr in ${LRS:-3e-4}; do
    for start in pretrained pretrained-reinit-pooler random; do
      flag=()
      [ "$start" = random ] && flag=(--random)
      [ "$start" = pretrained-reinit-pooler ] && flag=(--reinit_pooler)
      job="${task}_${start}_${lr}"
      node dist/bin/bert-train.js finetune "$task" 32 "$lr" "$epochs" "$job" "$ckpt" --data_dir "$dir" \
        --output_dir "$out" --seed "$seed" --max_seq_length 64 --progressive_layer_drop "${flag[@]}" \
        > "$out.$job.log" 2>&1 || { echo "finetune $job failed: see $out.$job.log" >&2; exit 1; }
      metric=$(grep -E '^(acc|mcc) = ' "$out/$job/eval_results.txt" | head -1)
      printf '| %s | %s | %s | %s |\n' "$task" "$start" "$lr" "$metric"
    done
  done
done
