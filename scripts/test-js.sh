#!/usr/bin/env bash
# The node test suites (dist/test), with the temporary folders they make (runs, shards, checkpoints: gigabytes
# over a full run) under one folder that is removed when they end. Arguments go to `node --test`.
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=$(mktemp -d "${TMPDIR:-/tmp}/bert-train-tests.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
TMPDIR="$scratch" node --test --test-reporter=spec "$@" dist/test/
