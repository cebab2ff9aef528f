#!/usr/bin/env bash
# GLUE fine-tuning with the argument order of DeepSpeed's run_glue_bert_base_finetune.sh:
#   scripts/run_glue_bert_base_finetune.sh TASK BATCH_SIZE LR EPOCHS JOB_NAME CHECKPOINT
# GLUE_DIR (default /data/GlueData) holds the tasks in the standard layout; OUTPUT_DIR (default out/glue) gets
# eval_results.txt, predictions and logs. Extra arguments go to `bert-train finetune`.
set -euo pipefail
if [ "$#" -lt 6 ]; then
  echo "usage: $0 TASK BATCH_SIZE LR EPOCHS JOB_NAME CHECKPOINT [finetune flags...]" >&2
  exit 2
fi
# Paths given by the user (arguments, environment) are taken relative to the folder it is run from.
repo=$(cd "$(dirname "$0")/.." && pwd)
task=$1 batch=$2 lr=$3 epochs=$4 job=$5 checkpoint=$6
shift 6
out=${OUTPUT_DIR:-out/glue}
mkdir -p "$out/$job"
node "$repo/dist/bin/bert-train.js" finetune "$task" "$batch" "$lr" "$epochs" "$job" "$checkpoint" \
  --data_dir "${GLUE_DIR:-/data/GlueData}" --output_dir "$out" --deepspeed_config "$repo"/configs/glue_bert_base.json \
  --max_seq_length 128 "$@" 2>&1 | tee "$out/$job/train.log"
