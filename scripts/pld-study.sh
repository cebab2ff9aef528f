#!/usr/bin/env bash
# Does PLD get there sooner? Three arms pre-trained with the same data order, seeds and schedule family, then
# held-out MLM loss at fixed sample counts, GLUE fine-tuning of every arm's final checkpoint, and the tables and
# plots (scripts/pld-study-report.mjs) in OUT. Every phase is resumable: run the same command again after an
# interruption (a killed run resumes from its latest checkpoint; finished phases are skipped).
#
#   scripts/pld-study.sh CORPUS... --out OUT [--heldout TEXT...] [--glue DIR] [--tasks SST-2,CoLA,MRPC,STS-B]
#                        [--seeds 1,2,3] [--lrs 1e-3] [--steps 5000] [--evals 10] [--layers 12] [--hidden 256]
#                        [--replicate_steps N]   (default: a fifth of --steps; 0: no seed replicas)
#                        [--glue_steps N --glue_seq L]  (every GLUE task cut to N steps of L tokens; default: the
#                                                        full grid below)  [--glue_lr 1e-4]
#   scripts/pld-study.sh --tiny --out OUT     the whole pipeline in minutes on the embedded corpus (a CI test of
#                                             the pipeline, not of the science)
#
# Arms (Pre-LN and PLD as DeepSpeed's bing_bert selects them with --progressive_layer_drop):
#   pld     Pre-LN, layers dropped: theta 0.5, gamma = 13.8 / steps (theta is within 1% of 0.5 after a third)
#   preln   Pre-LN, nothing dropped: the same code path with theta 1 (every keep probability is 1)
#   postln  Post-LN (original BERT), no PLD
# Every arm runs with seed 42; a replica of each with seed 43 runs the first --replicate_steps steps of the same
# schedule, so that the report can set the seed-to-seed spread of the held-out loss beside each difference.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cli="$repo/dist/bin/bert-train.js"
bt() { node "$cli" "$@"; }

corpora=() heldout=() out="" glue="" tasks="SST-2,CoLA,MRPC,STS-B" seeds="1,2,3" lrs="1e-3"
steps=5000 evals=10 layers=12 hidden=256 tiny=0 replicate_steps="" glue_steps="" glue_seq=64 glue_lr=1e-4
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift ;;
    --heldout) heldout+=("$2"); shift ;;
    --glue) glue=$2; shift ;;
    --tasks) tasks=$2; shift ;;
    --seeds) seeds=$2; shift ;;
    --lrs) lrs=$2; shift ;;
    --steps) steps=$2; shift ;;
    --evals) evals=$2; shift ;;
    --layers) layers=$2; shift ;;
    --hidden) hidden=$2; shift ;;
    --replicate_steps) replicate_steps=$2; shift ;;
    --glue_steps) glue_steps=$2; shift ;;
    --glue_seq) glue_seq=$2; shift ;;
    --glue_lr) glue_lr=$2; shift ;;
    --tiny) tiny=1 ;;
    -*) echo "pld-study.sh: unknown option $1" >&2; exit 2 ;;
    *) corpora+=("$1") ;;
  esac
  shift
done
[ -n "$out" ] || { echo "pld-study.sh: --out OUT is required" >&2; exit 2; }
evaluate_extra=()
if [ "$tiny" = 1 ]; then
  [ ${#corpora[@]} -gt 0 ] || corpora=("$repo/data/corpus/wikipedia")
  [ ${#heldout[@]} -gt 0 ] || heldout=("$repo/data/corpus/books")
  glue=${glue:-$repo/data/glue} tasks=SST-2 seeds=1 steps=24 evals=3 layers=4 hidden=64 replicate_steps=8
  glue_steps=3 glue_seq=32 evaluate_extra=(--max_batches 4)
fi
[ ${#corpora[@]} -gt 0 ] || { echo "pld-study.sh: name the training corpus (text files or folders)" >&2; exit 2; }
[ ${#heldout[@]} -gt 0 ] || { echo "pld-study.sh: --heldout TEXT: text no arm trains on (e.g. WikiText-2 valid)" >&2; exit 2; }
glue=${glue:-$repo/data/glue}
mkdir -p "$out"
out=$(cd "$out" && pwd)
every=$((steps / evals))
replicate_steps=${replicate_steps:-$((steps / 5 / every * every))}  # a whole number of checkpoints
gamma=$(awk -v s="$steps" 'BEGIN { printf "%.6g", 13.8 / s }')
heads=$((hidden >= 64 ? hidden / 64 : 1))
batch=32

# --- the plan, written first: the report reads it ---
cat >"$out/study.json" <<JSON
{"steps": $steps, "checkpoint_every": $every, "batch": $batch, "layers": $layers, "hidden": $hidden,
 "heads": $heads, "intermediate": $((4 * hidden)), "seq": 128, "precision": "bf16", "gamma": $gamma,
 "theta": 0.5, "lrs": "$lrs", "replicate_steps": $replicate_steps, "replicate_seed": 43, "tasks": "$tasks", "seeds": "$seeds",
 "glue_lr": $glue_lr, "glue_steps": ${glue_steps:-null}, "glue_seq": $([ -n "$glue_steps" ] && echo "$glue_seq" || echo null), "tiny": $([ "$tiny" = 1 ] && echo true || echo false),
 "corpora": "${corpora[*]}", "heldout": "${heldout[*]}"}
JSON

# --- per-step time, measured first, before anything else loads the machine: one engine, interleaved rounds
# (noise hits the arms alike) ---
if [ "$tiny" = 0 ] && [ ! -f "$out/timing.json" ]; then
  bt bench-train --layers "$layers" --hidden "$hidden" --batch "$batch" --steps 40 --post_ln | tee "$out/timing.txt"
  grep '^{' "$out/timing.txt" | tail -1 >"$out/timing.json"
fi

# --- data ---
if [ ! -f "$out/data/train/128/dataset.json" ]; then
  bt prepare-data --input "${corpora[@]}" --output_dir "$out/data/train/128" --max_seq_length 128 --seed 42
fi
if [ ! -f "$out/data/heldout/128/dataset.json" ]; then
  # held out: each text once (no duplication with other masks), so every held-out sequence counts the same
  bt prepare-data --input "${heldout[@]}" --output_dir "$out/data/heldout/128" --max_seq_length 128 --seed 7 \
    --dupe_factor 1
fi

# --- configs: one --cf per learning rate, one DeepSpeed file per arm ---
mkdir -p "$out/configs"
cf_for() {  # cf_for LR
  local path="$out/configs/cf_lr$1.json"
  cat >"$path" <<JSON
{"name": "pld_study", "bert_token_file": "bert-base-uncased", "bert_model_file": "bert-base-uncased",
 "bert_model_config": {"vocab_size_or_config_json_file": 30522, "hidden_size": $hidden, "num_hidden_layers": $layers,
   "num_attention_heads": $heads, "intermediate_size": $((4 * hidden)), "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
   "attention_probs_dropout_prob": 0.1, "max_position_embeddings": 512, "type_vocab_size": 2, "initializer_range": 0.02},
 "data": {"mixed_seq_datasets": {"128": {"study_pretrain_dataset": "train/128"}}},
 "mixed_seq_training": {"128": {"num_epochs": 100000, "warmup_proportion": 0.02, "learning_rate": $1,
   "decay_rate": 0.99, "decay_step": $(((steps + 99) / 100)), "total_training_steps": $steps}}}
JSON
  echo "$path"
}
ds_for() {  # ds_for ARM
  local pld=""
  case "$1" in
    pld) pld=", \"progressive_layer_drop\": {\"enabled\": true, \"theta\": 0.5, \"gamma\": $gamma}" ;;
    preln) pld=", \"progressive_layer_drop\": {\"enabled\": true, \"theta\": 1.0, \"gamma\": $gamma}" ;;
  esac
  local path="$out/configs/ds_$1.json"
  cat >"$path" <<JSON
{"train_batch_size": $batch, "train_micro_batch_size_per_gpu": $batch, "steps_per_print": 100,
 "optimizer": {"type": "Adam", "params": {"lr": 1e-3, "weight_decay": 0.01, "bias_correction": true}},
 "gradient_clipping": 1.0, "bf16": {"enabled": true}$pld}
JSON
  echo "$path"
}

# --- pre-training, each arm resumable ---
runs="$out/runs"
pretrain_arm() {  # pretrain_arm JOB ARM CF SEED MAX_STEPS: resumes JOB from its latest checkpoint, if any
  local job=$1 arm=$2 cf=$3 seed=$4 max=$5
  [ -f "$runs/$job.done" ] && return 0
  local flags=()
  [ "$arm" != postln ] && flags+=(--progressive_layer_drop)
  if [ -f "$runs/saved_models/$job/latest" ]; then
    flags+=(--load_training_checkpoint "$runs/saved_models/$job")
  else
    flags+=(--overwrite)  # outputs of a start that died before its first checkpoint
  fi
  bt pretrain --cf "$cf" --deepspeed --deepspeed_config "$(ds_for "$arm")" --max_seq_length 128 --output_dir "$runs" \
    --job_name "$job" --data_path_prefix "$out/data" --seed "$seed" --max_steps "$max" --ckpt_steps "$every" \
    --print_steps 100 --device cpu "${flags[@]}"
  # a run stopped by a signal exits 0 after saving: done only when its latest checkpoint is the last step
  if [[ "$(cat "$runs/saved_models/$job/latest" 2>/dev/null)" != *_step"$max" ]]; then
    echo "pld-study.sh: $job stopped before step $max; run the same command again to resume it" >&2
    exit 3
  fi
  touch "$runs/$job.done"
}
jobs=()
for lr in ${lrs//,/ }; do
  for arm in pld preln postln; do
    jobs+=("${arm}_lr${lr}")
    pretrain_arm "${arm}_lr${lr}" "$arm" "$(cf_for "$lr")" 42 "$steps"
  done
done
# the seed-to-seed spread: every arm again with another seed (initial weights, data order, dropout, gates), on the
# same schedule cut short after $replicate_steps steps, at the first learning rate
replicas=()
if [ "$replicate_steps" -gt 0 ]; then
  lr=${lrs%%,*}
  for arm in pld preln postln; do
    replicas+=("${arm}_lr${lr}_seed43")
    pretrain_arm "${arm}_lr${lr}_seed43" "$arm" "$(cf_for "$lr")" 43 "$replicate_steps"
  done
fi

# --- held-out MLM loss of every checkpoint ---
for job in "${jobs[@]}" "${replicas[@]}"; do
  mkdir -p "$out/heldout/$job"
  for ck in "$runs/saved_models/$job"/epoch*_step*; do
    [ -d "$ck" ] || continue
    # the fixed sample counts only: a run stopped by a signal also saved where it stopped
    [ $(("${ck##*_step}" % every)) -eq 0 ] || continue
    json="$out/heldout/$job/$(basename "$ck").json"
    [ -f "$json" ] && continue
    bt evaluate --checkpoint "$ck" --data "$out/data/heldout/128" --seed 1 --device cpu "${evaluate_extra[@]}" >"$json.tmp"
    mv "$json.tmp" "$json"
  done
done

# --- GLUE: every arm's final checkpoint, the same grid for all ---
# batch 32, lr --glue_lr, 3 epochs; sequences as long as the task needs (99% of single sentences fit in 64 tokens, of
# MRPC's and STS-B's pairs in 128), and SST-2's 67k sentences cut to 1,000 steps (32k sentences, half an epoch)
glue_grid() {  # glue_grid TASK: its fine-tuning flags beyond batch, rate and epochs
  if [ -n "$glue_steps" ]; then echo --max_seq_length "$glue_seq" --max_steps "$glue_steps"; return; fi
  case "$1" in
    SST-2) echo --max_seq_length 64 --max_steps 1000 ;;
    CoLA) echo --max_seq_length 64 ;;
    *) echo --max_seq_length 128 ;;
  esac
}
ft_config="$out/configs/ds_finetune.json"  # the pre-training's precision and clipping; AdamW, as by default
cat >"$ft_config" <<JSON
{"train_batch_size": $batch, "train_micro_batch_size_per_gpu": $batch, "gradient_clipping": 1.0, "bf16": {"enabled": true},
 "optimizer": {"type": "AdamW", "params": {"lr": $glue_lr, "weight_decay": 0.01}}}
JSON
for job in "${jobs[@]}"; do
  for task in ${tasks//,/ }; do
    for seed in ${seeds//,/ }; do
      ft="${job}_${task}_s${seed}"
      [ -f "$out/glue/$ft/eval_results.txt" ] && continue
      read -r -a grid <<<"$(glue_grid "$task")"
      bt finetune "$task" 32 "$glue_lr" 3 "$ft" "$runs/saved_models/$job" --data_dir "$glue" --seed "$seed" \
        --output_dir "$out/glue" --overwrite --device cpu --deepspeed_config "$ft_config" "${grid[@]}"
    done
  done
done

node "$repo/scripts/pld-study-report.mjs" "$out"
