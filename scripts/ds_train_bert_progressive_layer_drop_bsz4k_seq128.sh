#!/usr/bin/env bash
# BERT-base pre-training with Progressive Layer Dropping, batch 4K, sequence 128: the DeepSpeed example's PLD
# recipe (bert_base_large_lr.json + deepspeed_bsz4k_progressive_layer_drop_config_seq128.json, LE schedule) run
# by bert-train. Set DATA_PATH_PREFIX to the folder holding the corpora the --cf file names
# (bnorick_format/128/wiki_pretrain, ...); make them with `bert-train prepare-data`.
set -euo pipefail
# Paths given by the user (arguments, environment) are taken relative to the folder it is run from.
repo=$(cd "$(dirname "$0")/.." && pwd)
base_dir=${OUTPUT_DIR:-out}
job_name=${JOB_NAME:-adam_4k_seq128_progressive_layer_drop}
mkdir -p "$base_dir/logs"
node "$repo/dist/bin/bert-train.js" pretrain \
  --cf "$repo"/configs/bert_base_large_lr.json \
  --max_seq_length 128 \
  --output_dir "$base_dir" \
  --deepspeed \
  --deepspeed_transformer_kernel \
  --print_steps 100 \
  --lr_schedule "LE" \
  --lr_offset 0.0 \
  --job_name "$job_name" \
  --deepspeed_config "$repo"/configs/deepspeed_bsz4k_progressive_layer_drop_config_seq128.json \
  --data_path_prefix "${DATA_PATH_PREFIX:-/data/bert}" \
  --progressive_layer_drop \
  "$@" 2>&1 | tee "$base_dir/logs/$job_name.log"
