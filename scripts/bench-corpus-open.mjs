#!/usr/bin/env node
// What opening a corpus costs now that every record is decoded and checked (lib/data/record-checks.ts), beside the
// checksums alone, on one core (after npm run build):
//   node scripts/bench-corpus-open.mjs DIR [--runs 3]
// DIR is a prepare-data output folder, e.g. one made from the embedded corpus:
//   bert-train prepare-data --input data/corpus --output_dir /tmp/corpus-open --dupe_factor 1
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

import { CorpusShards } from "../dist/lib/data/loader.js";
import { tfRecords } from "../dist/lib/data/tfrecord.js";

const dir = process.argv[2];
if (!dir) throw new Error("usage: node scripts/bench-corpus-open.mjs DIR [--runs N]");
const runsAt = process.argv.indexOf("--runs");
const runs = runsAt > 0 ? Number(process.argv[runsAt + 1]) : 3;
const shards = readdirSync(dir).filter((f) => f.endsWith(".tfrecord"));
for (let run = 0; run < runs; run++) {
  let t = performance.now();
  for (const f of shards) for (const record of tfRecords(readFileSync(join(dir, f)), f)) void record;
  const checksums = performance.now() - t;
  t = performance.now();
  const opened = CorpusShards.open(dir, { vocabSize: 30522 });
  const open = performance.now() - t;
  console.log(
    `${opened.records.length} records: checksums only ${checksums.toFixed(0)} ms, open with every record checked ${open.toFixed(0)} ms (${Math.round((opened.records.length / open) * 1000)} records/s)`,
  );
}
