#!/usr/bin/env bash
# Fixed-seed runs of every command that trains or reads a model, with every engine call traced
# (scripts/engine-trace.cjs). Run it before and after a change that should not alter what the program computes,
# then diff the two folders' trace.txt, metrics (*.clean), eval_results and predictions: they must be identical.
#   bash scripts/refactor-check.sh OUTDIR      (about 2 minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
o=$(realpath -m "$1"); rm -rf "$o"; mkdir -p "$o"
export ENGINE_TRACE_FILE=$o/trace.txt
B="node --require ./scripts/engine-trace.cjs dist/bin/bert-train.js"
data=${REFACTOR_CHECK_DATA:-/tmp/bert-train-refactor-check-data}
[ -d "$data/default_corpus" ] || OUT="$data" bash scripts/prepare-default-corpus.sh >/dev/null
common="--cf configs/bert_mini_cpu.json --deepspeed --max_seq_length 128 --max_predictions_per_seq 20 --data_path_prefix $data --lr_schedule LE --print_steps 1 --threads 2"
pld="--deepspeed_config configs/deepspeed_bert_mini_pld_cpu.json --progressive_layer_drop"
# bf16 PLD with accumulation 2, stopped at 8 and resumed to 12
$B pretrain $common $pld --output_dir "$o/pt" --job_name a --max_steps 8 > "$o/a1.txt" 2>&1
$B pretrain $common $pld --output_dir "$o/pt" --job_name a --max_steps 12 --load_training_checkpoint "$o/pt/saved_models/a" > "$o/a2.txt" 2>&1
# fp16 Post-LN
cat > "$o/fp16.json" <<J
{"train_batch_size": 16, "train_micro_batch_size_per_gpu": 8, "steps_per_print": 2,
 "optimizer": {"type": "Adam", "params": {"lr": 1e-3, "weight_decay": 0.01}}, "gradient_clipping": 1.0,
 "fp16": {"enabled": true, "loss_scale": 0, "initial_scale_power": 16}}
J
$B pretrain $common --deepspeed_config "$o/fp16.json" --output_dir "$o/pt" --job_name b --max_steps 6 > "$o/b.txt" 2>&1
# fine-tuning on 320 SST-2 rows from the PLD checkpoint (fp16), evaluate, export, fine-tuning from the export
g="$o/glue/SST-2"; mkdir -p "$g"
head -321 data/glue/SST-2/train.tsv > "$g/train.tsv"; head -101 data/glue/SST-2/dev.tsv > "$g/dev.tsv"
head -51 data/glue/SST-2/dev.tsv | cut -f1 | awk 'NR==1{print "index\tsentence";next}{print NR-2"\t"$0}' > "$g/test.tsv"
$B finetune SST-2 16 1e-4 2 ft_c "$o/pt/saved_models/a" --data_dir "$o/glue" --output_dir "$o/ft" --deepspeed_config "$o/fp16.json" --threads 2 --max_seq_length 64 > "$o/c.txt" 2>&1
$B evaluate --checkpoint "$o/pt/saved_models/a/epoch0_step12" --data "$data/default_corpus/128" --max_batches 3 > "$o/d.txt" 2>&1
$B export --checkpoint "$o/pt/saved_models/a/epoch0_step12" --output_dir "$o/exported" > "$o/e.txt" 2>&1
$B finetune SST-2 16 1e-4 1 ft_e "$o/exported" --data_dir "$o/glue" --output_dir "$o/ft" --do_predict --threads 2 --max_seq_length 64 --reinit_pooler > "$o/f.txt" 2>&1
cp "$o/ft/ft_c/eval_results.txt" "$o/c_eval.txt"; cp "$o/ft/ft_e/SST-2.tsv" "$o/f_pred.tsv"
# pretraining from the exported folder
$B pretrain $common $pld --output_dir "$o/pt" --job_name g --max_steps 3 --init_from "$o/exported" > "$o/g.txt" 2>&1
for f in "$o"/pt/*.metrics.jsonl; do
  node -e 'for (const l of require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n")) { const r = JSON.parse(l); for (const k of ["wall_time", "step_ms", "allreduce_ms", "allreduce_wait_ms"]) delete r[k]; console.log(JSON.stringify(r)); }' "$f" > "$f.clean"
done
echo "refactor-check: traces and outputs in $o"
