#!/usr/bin/env bash
# The quick start's BERT-mini PLD pre-training as a data-parallel job: `bert-train launch` starts the ranks with
# mpirun. Defaults to 2 processes on this machine (1 OpenMP thread each); for several hosts, list them in a
# DeepSpeed-style hostfile ("hostname slots=N" per line) with the project at the same path on each:
#
#   HOSTFILE=hosts NUM_NODES=2 PROCS_PER_NODE=1 THREADS_PER_PROC=16 scripts/launch_pretrain.sh --max_steps 1000
#
# The configs are the single-process ones: train_batch_size stays 32, so each rank's accumulation shrinks.
set -euo pipefail
# Paths given by the user (arguments, environment) are taken relative to the folder it is run from.
repo=$(cd "$(dirname "$0")/.." && pwd)
out=${OUT:-out}
OUT="$out" bash "$repo/scripts/prepare-default-corpus.sh"
launch=(node "$repo/dist/bin/bert-train.js" launch --num_procs_per_node "${PROCS_PER_NODE:-2}")
[ -n "${HOSTFILE:-}" ] && launch+=(--hostfile "$HOSTFILE" --num_nodes "${NUM_NODES:-1}")
[ -n "${THREADS_PER_PROC:-}" ] && launch+=(--threads_per_proc "$THREADS_PER_PROC")
"${launch[@]}" -- pretrain --cf "$repo"/configs/bert_mini_cpu.json --deepspeed \
  --deepspeed_config "$repo"/configs/deepspeed_bert_mini_pld_cpu.json --max_seq_length 128 --max_predictions_per_seq 20 \
  --output_dir "$out" --job_name bert_mini_pld_dp --data_path_prefix "$out/data" --print_steps 10 --lr_schedule LE \
  --progressive_layer_drop --max_steps 300 "$@"
