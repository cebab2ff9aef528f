#!/usr/bin/env bash
# The quick start: prepare the embedded default corpus (data/corpus) into shards once, then pre-train BERT-mini
# with Progressive Layer Dropping for a few minutes in bf16 on the CPU, printing the loss as it falls.
# Extra arguments go to `bert-train pretrain` (for example --max_steps 50).
set -euo pipefail
# Paths given by the user (arguments, environment) are taken relative to the folder it is run from.
repo=$(cd "$(dirname "$0")/.." && pwd)
out=${OUT:-out}
OUT="$out" bash "$repo/scripts/prepare-default-corpus.sh"
node "$repo/dist/bin/bert-train.js" pretrain --cf "$repo"/configs/bert_mini_cpu.json --deepspeed \
  --deepspeed_config "$repo"/configs/deepspeed_bert_mini_pld_cpu.json --max_seq_length 128 --max_predictions_per_seq 20 \
  --output_dir "$out" --job_name bert_mini_pld --data_path_prefix "$out/data" --print_steps 10 --lr_schedule LE \
  --progressive_layer_drop --max_steps 300 "$@"
