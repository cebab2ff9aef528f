// scripts/pld-study.sh --tiny: the whole study pipeline on the embedded corpus (data, three arms, held-out
// evaluations, GLUE, tables and plots), then run again as after an interruption: it resumes and redoes nothing.
// A test of the pipeline, not of PLD.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";

import { projectRoot } from "../../lib/native/load.js";

const script = join(projectRoot(), "scripts", "pld-study.sh");
const ARMS = ["pld_lr1e-3", "preln_lr1e-3", "postln_lr1e-3"];

function study(out: string) {
  const r = spawnSync("bash", [script, "--tiny", "--out", out], { encoding: "utf8", maxBuffer: 1 << 26 });
  assert.equal(r.status, 0, r.stderr.slice(-2000));
  return r;
}

describe("scripts/pld-study.sh --tiny", () => {
  it("runs every phase and writes the report from its own files, then resumes without redoing work", () => {
    const out = mkdtempSync(join(tmpdir(), "bert-train-study-"));
    study(out);
    const report = readFileSync(join(out, "report.md"), "utf8");
    for (const heading of [
      "## Held-out MLM loss against samples",
      "## Seed-to-seed spread of the held-out loss (seed 42 against 43)",
      "## Time per step and per sample",
      "## Samples and time to reach the Post-LN baseline's final held-out loss",
      "## GLUE dev metrics",
      "## Plots",
      "## Files these numbers come from",
    ])
      assert.ok(report.includes(heading), `report.md has ${heading}`);
    for (const arm of ARMS) {
      assert.equal(readdirSync(join(out, "heldout", arm)).length, 3, `${arm}: three held-out evaluations`);
      assert.equal(readdirSync(join(out, "heldout", `${arm}_seed43`)).length, 1, `${arm}: its seed replica scored`);
      assert.ok(existsSync(join(out, "glue", `${arm}_SST-2_s1`, "eval_results.txt")), `${arm} fine-tuned`);
      assert.ok(report.includes(`runs/${arm}.metrics.jsonl`), "the report lists its sources");
    }
    assert.match(report, /\| SST-2 acc \| 0\.\d{4} \(/, "GLUE means with their range");
    assert.match(report, /\| Pre-LN, no dropping \| 256 \| \d+\.\d{4} \| \d+\.\d{4} \| -?\d\.\d{4} \|/, "seed spread");
    assert.doesNotMatch(report.split("## Held-out")[1]?.split("##")[0] ?? "", /n\/a/, "every checkpoint scored");
    for (const chart of ["loss-vs-step", "loss-vs-samples", "loss-vs-time", "pld-vs-step"])
      assert.ok(existsSync(join(out, "plots", `${chart}.png`)), `${chart}.png`);

    // as after an interruption: an arm not marked done resumes from its checkpoint; the rest is skipped
    const metrics = readFileSync(join(out, "runs", "pld_lr1e-3.metrics.jsonl"), "utf8");
    rmSync(join(out, "runs", "pld_lr1e-3.done"));
    const again = study(out);
    assert.match(again.stdout, /resum|checkpoint/i);
    assert.doesNotMatch(again.stdout, /prepare-data: wrote/, "the data is not prepared again");
    assert.equal(readFileSync(join(out, "runs", "pld_lr1e-3.metrics.jsonl"), "utf8"), metrics, "no step twice");
    rmSync(out, { recursive: true, force: true });
  });
});
