#!/usr/bin/env bash
# What pre-training BERT-mini, BERT-small and BERT-base costs on this machine: peak resident memory, checkpoint size
# (weights alone, and with the optimizer moments) and samples/s, printed as a markdown table. Each size runs STEPS
# steps (default 8) of the quick start's recipe (bf16, PLD, batch 32 at sequence 128) on the embedded corpus; the
# rate is the median over the steps after the first two. Nothing else should run meanwhile.
#
#   scripts/model-sizes.sh            # OUT (default out) gets model-sizes/ and the corpus shards
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
out=${OUT:-out}
OUT="$out" bash "$repo/scripts/prepare-default-corpus.sh"
work="$out/model-sizes"
mkdir -p "$work"
bert=(node "$repo/dist/bin/bert-train.js")
# BERT-base is bing_bert's bert_base.json with bert-base-uncased's vocabulary (bing_bert's file sizes the
# embeddings for a 119,547-token one) and its corpora pointed at the embedded corpus' shards
node -e '
  const fs = require("fs");
  const cf = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
  cf.bert_model_config.vocab_size_or_config_json_file = 30522;
  cf.data.mixed_seq_datasets = { "128": { wiki_pretrain_dataset: "default_corpus/128" } };
  fs.writeFileSync(process.argv[2], JSON.stringify(cf, null, 2));
' "$repo/configs/bert_base.json" "$work/bert_base_cpu.json"
printf '| model | layers × hidden | parameters | peak resident memory | weights | checkpoint (with Adam moments) | samples/s |\n'
printf '| --- | --- | --- | --- | --- | --- | --- |\n'
for size in mini small base; do
  cf="$repo/configs/bert_${size}_cpu.json"
  [ "$size" = base ] && cf="$work/bert_base_cpu.json"
  log="$work/$size.log"
  /usr/bin/time -f '%M' -o "$work/$size.rss" "${bert[@]}" pretrain --cf "$cf" --deepspeed \
    --deepspeed_config "$repo/configs/deepspeed_bert_mini_pld_cpu.json" --max_seq_length 128 \
    --output_dir "$work" --job_name "$size" --data_path_prefix "$out/data" --progressive_layer_drop \
    --max_steps "${STEPS:-8}" --print_steps 1000 --overwrite > "$log" 2>&1 ||
    { echo "$size failed: see $log" >&2; exit 1; }
  jobdir="$work/saved_models/$size"
  ckpt="$jobdir/$(cat "$jobdir/latest")"
  node -e '
    const fs = require("fs");
    const [jsonl, rss, ckpt, log, name] = process.argv.slice(1);
    const steps = fs.readFileSync(jsonl, "utf8").trim().split("\n").map(JSON.parse).filter((r) => r.step_ms);
    const rates = steps.slice(2).map((r) => (r.samples / r.step) * 1000 / r.step_ms).sort((a, b) => a - b);
    const median = rates[Math.floor(rates.length / 2)];
    const mib = (b) => (b / 2 ** 20).toFixed(0) + " MiB";
    const weights = fs.statSync(ckpt + "/model.safetensors").size;
    const all = fs.readdirSync(ckpt).reduce((n, f) => n + fs.statSync(ckpt + "/" + f).size, 0);
    const text = fs.readFileSync(log, "utf8");
    const shape = /model +(\d+) layers, hidden (\d+)/.exec(text);
    const params = /parameters +([\d,]+)/.exec(text)[1];
    const peak = Number(fs.readFileSync(rss, "utf8").trim()) * 1024;
    console.log(`| BERT-${name} | ${shape[1]} × ${shape[2]} | ${params} | ${mib(peak)} | ${mib(weights)} | ${mib(all)} | ${median.toFixed(1)} |`);
  ' "$work/$size.metrics.jsonl" "$work/$size.rss" "$ckpt" "$log" "$size"
done
