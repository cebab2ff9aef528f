#!/usr/bin/env node
// The long fuzz run over every reader of outside input (after npm run build):
//   node scripts/fuzz.mjs [--cases N] [--seconds S] [--seed K] [--target NAME]
// Prints one line per target (cases, how many the reader rejected with its own error, failures) and exits 1 if
// any input raised a foreign exception, hung or crashed; such inputs are saved under test/fuzz/regressions/.
import { fuzz } from "../dist/test/fuzz/runner.js";
import { TARGETS } from "../dist/test/fuzz/targets.js";

function flag(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

const only = flag("target", undefined);
const cases = Number(flag("cases", 200000));
const seconds = Number(flag("seconds", Infinity));
const runSeed = Number(flag("seed", 1));
let total = 0;
let failed = 0;
for (const t of TARGETS.filter((t) => only === undefined || t.name === only)) {
  const r = await fuzz(t.name, { seconds, maxCases: cases, runSeed });
  total += r.cases;
  failed += r.failures.length;
  console.log(
    `${r.target}: ${r.cases} cases in ${r.seconds.toFixed(1)} s (${r.rejected} rejected with the reader's own error), ${r.failures.length} failures`,
  );
  for (const f of r.failures.slice(0, 5))
    console.log(
      `  ${f.kind} at case ${f.index} (${f.saved ?? "not saved"}): ${f.detail.split("\n").slice(0, 3).join(" | ")}`,
    );
}
console.log(`total: ${total} cases, ${failed} failures (seed ${runSeed})`);
process.exitCode = failed ? 1 : 0;
