#!/usr/bin/env bash
# Shards of the embedded default corpus (data/corpus) at sequence 128 under $OUT/data/default_corpus/128, once;
# the quick start and its data-parallel variant read them.
set -euo pipefail
cd "$(dirname "$0")/.."
data="${OUT:-out}/data/default_corpus/128"
if [ ! -f "$data/dataset.json" ]; then
  node dist/bin/bert-train.js prepare-data --input data/corpus --output_dir "$data" --max_seq_length 128 \
    --max_predictions_per_seq 20 --dupe_factor 5 --num_shards 4
fi
