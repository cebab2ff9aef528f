// `bert-train bench` and `bench-train` as smoke tests (no timing is asserted): each bench case's JSON line names
// its batch and sequence length and carries the peak measured in the same run, and the default cases are both
// pre-training phases; bench-train reports every step time it measured.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, it } from "node:test";

import { DEFAULT_CASES } from "../../lib/bench/run-bench.js";
import { projectRoot } from "../../lib/native/load.js";

const cli = join(projectRoot(), "dist", "bin", "bert-train.js");

/** `bench` with the flags of a quick run and `args`; its log and its JSON lines. */
function bench(args: string[]): { stdout: string; results: Record<string, unknown>[] } {
  const quick = ["--steps", "1", "--warmup", "0", "--no-torch", "--no-layer-skip", "--threads", "1"];
  const r = spawnSync(process.execPath, [cli, "bench", "--models", "mini", ...args, ...quick], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split("\n");
  return {
    stdout: r.stdout,
    results: lines.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

describe("bert-train bench", () => {
  it("prints one JSON line per case with its batch, sequence length and the measured peak", () => {
    const { stdout, results } = bench(["--precisions", "fp32,bf16", "--batch", "2", "--seq", "16"]);
    assert.deepEqual(
      results.map((x) => [x.model, x.precision, x.batch, x.seq]),
      [
        ["mini", "fp32", 2, 16],
        ["mini", "bf16", 2, 16],
      ],
    );
    for (const x of results) {
      assert.match(stdout, new RegExp(`peak ${String(x.precision)}: (\\d+ GFLOP/s measured now|not measured)`));
      const peak = x.peak_gflops as number | null;
      assert.ok(peak === null || peak > 0);
      assert.equal(x.utilisation_of_peak === null, peak === null);
    }
  });
  it("runs both pre-training phases by default: batch 32 at 128, batch 8 at 512", () => {
    const { results } = bench(["--precisions", "fp32"]);
    assert.deepEqual(
      results.map((c) => ({ batch: c.batch, seq: c.seq })),
      DEFAULT_CASES,
    );
    assert.deepEqual(DEFAULT_CASES, [
      { batch: 32, seq: 128 },
      { batch: 8, seq: 512 },
    ]);
  });
});

describe("bert-train bench-train", () => {
  it("times Pre-LN with and without dropping and, with --post_ln, a Post-LN model in the same rounds", () => {
    const args = ["bench-train", "--layers", "2", "--hidden", "64", "--batch", "2", "--steps", "4", "--post_ln"];
    const r = spawnSync(process.execPath, [cli, ...args], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    const json = r.stdout
      .trim()
      .split("\n")
      .filter((l) => l.startsWith("{"));
    assert.equal(json.length, 1, "one JSON line");
    const x = JSON.parse(json[0] as string) as Record<string, number>;
    for (const key of ["all_kept_ms", "pld_ms", "none_kept_ms", "post_ln_ms"])
      assert.ok(Number.isFinite(x[key]) && (x[key] as number) > 0, `${key} measured`);
    assert.ok((x.pld_kept_fraction as number) > 0 && (x.pld_kept_fraction as number) < 1, "PLD dropped some layers");
    assert.match(r.stdout, /Post-LN, every layer kept: [\d.]+ ms\/step/);
  });
});
