#!/usr/bin/env bash
# Shards of the embedded default corpus (data/corpus) at sequence 128 under $OUT/data/default_corpus/128, once;
# the quick start and its data-parallel variant read them.
set -euo pipefail
# Paths given by the user (arguments, environment) are taken relative to the folder it is run from.
repo=$(cd "$(dirname "$0")/.." && pwd)
data="${OUT:-out}/data/default_corpus/128"
if [ ! -f "$data/dataset.json" ]; then
  node "$repo/dist/bin/bert-train.js" prepare-data --input "$repo/data/corpus" --output_dir "$data" --max_seq_length 128 \
    --max_predictions_per_seq 20 --dupe_factor 5 --num_shards 4
fi
