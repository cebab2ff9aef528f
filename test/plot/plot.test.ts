// `bert-train plot` on fixture metrics files: the SVGs parse as XML and their legends name every series, the PNGs
// have the stated width, runs without PLD get no PLD chart, and bad input is one clear error.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";

import { XMLParser, XMLValidator } from "fast-xml-parser";

import { projectRoot } from "../../lib/native/load.js";
import { plot } from "../../lib/plot/plot.js";

const work = mkdtempSync(join(tmpdir(), "bert-train-plot-"));

/** A run's metrics as pretrain writes them: a record per step, a validation record every 10 steps. */
function metricsFile(name: string, steps: number, pld: boolean, slope: number): string {
  const lines: string[] = [];
  for (let step = 1; step <= steps; step++) {
    const loss = 10 * Math.exp(-slope * step) + 2 + 0.05 * Math.sin(step);
    const record: Record<string, number | boolean> = {
      step,
      loss,
      mlm_loss: loss - 0.6,
      nsp_loss: 0.6,
      lr: 1e-4,
      samples: 32 * step,
      step_ms: pld ? 400 : 600,
      skipped: false,
    };
    if (pld) Object.assign(record, { theta: 0.5 + 0.5 * Math.exp(-step / 20), kept_layers: 0.7 });
    lines.push(JSON.stringify(record));
    if (step % 10 === 0) lines.push(JSON.stringify({ step, validation: { mlm_loss: loss - 0.4, mlm_accuracy: 0.3 } }));
  }
  const path = join(work, `${name}.jsonl`);
  writeFileSync(path, lines.join("\n") + "\n");
  return path;
}

/** Every <text> of an SVG, in order. */
function svgTexts(svg: string): string[] {
  const texts: string[] = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(walk);
    if (node === null || typeof node !== "object") return;
    for (const [k, v] of Object.entries(node as Record<string, unknown>)) {
      if (k === "text") (Array.isArray(v) ? v : [v]).forEach((t) => texts.push(textOf(t)));
      walk(v);
    }
  };
  walk(new XMLParser({ ignoreAttributes: false }).parse(svg));
  return texts;
}

function textOf(t: unknown): string {
  if (typeof t === "string" || typeof t === "number") return String(t);
  const inner = (t as Record<string, unknown>)["#text"];
  return typeof inner === "string" || typeof inner === "number" ? String(inner) : "";
}

describe("bert-train plot", () => {
  const pld = metricsFile("pld", 60, true, 0.05);
  const baseline = metricsFile("baseline", 60, false, 0.04);
  const out = join(work, "charts");

  it("draws loss against step, samples and time, and PLD's θ, overlaid, with every series in the legend", async () => {
    const written = await plot({
      files: [pld, baseline],
      labels: [],
      outDir: out,
      metrics: ["loss", "mlm_loss", "validation/mlm_loss"],
      formats: ["svg", "png"],
      width: 500,
      height: 300,
      pngWidth: 1000,
    });
    const names = ["loss-vs-step", "loss-vs-samples", "loss-vs-time", "pld-vs-step"];
    assert.deepEqual(written.sort(), names.flatMap((n) => [`${n}.png`, `${n}.svg`].map((f) => join(out, f))).sort());
    for (const name of names.slice(0, 3)) {
      const svg = readFileSync(join(out, `${name}.svg`), "utf8");
      assert.equal(XMLValidator.validate(svg), true, `${name}.svg is well-formed XML`);
      const texts = svgTexts(svg);
      for (const run of ["pld", "baseline"])
        for (const metric of ["loss", "mlm_loss", "validation/mlm_loss"])
          assert.ok(texts.includes(`${run}: ${metric}`), `${name}.svg names the series ${run}: ${metric}`);
    }
    const pldTexts = svgTexts(readFileSync(join(out, "pld-vs-step.svg"), "utf8"));
    assert.ok(pldTexts.includes("pld: theta") && pldTexts.includes("pld: kept_layers"));
    assert.ok(!pldTexts.some((t) => t.startsWith("baseline:")), "a run without PLD has no θ series");
    for (const name of names) {
      const png = readFileSync(join(out, `${name}.png`));
      assert.equal(png.subarray(1, 4).toString("latin1"), "PNG");
      assert.equal(png.readUInt32BE(16), 1000, `${name}.png is the stated 1000 pixels wide`);
      assert.ok(png.readUInt32BE(20) > 200, "and has a height");
    }
  });

  it("takes legend names from --label, and skips charts without data", async () => {
    const dir = join(work, "labelled");
    const written = await plot({
      files: [baseline],
      labels: ["Post-LN"],
      outDir: dir,
      metrics: ["loss"],
      formats: ["svg"],
      width: 300,
      height: 200,
      pngWidth: 600,
    });
    assert.deepEqual(written.map((p) => p.slice(dir.length + 1)).sort(), [
      "loss-vs-samples.svg",
      "loss-vs-step.svg",
      "loss-vs-time.svg",
    ]);
    assert.ok(svgTexts(readFileSync(join(dir, "loss-vs-step.svg"), "utf8")).includes("Post-LN: loss"));
  });

  it("the command overlays every file it is given, each under its --label", () => {
    const cli = join(projectRoot(), "dist", "bin", "bert-train.js");
    const files = [
      metricsFile("a", 20, true, 0.05),
      metricsFile("b", 20, false, 0.08),
      metricsFile("c", 20, false, 0.1),
    ];
    const dir = join(work, "cli-overlay");
    const labels = ["PLD", "Pre-LN", "Post-LN"].flatMap((l) => ["--label", l]);
    const r = spawnSync(process.execPath, [cli, "plot", ...files, "--out", dir, "--formats", "svg", ...labels], {
      encoding: "utf8",
    });
    assert.equal(r.status, 0, r.stderr);
    const texts = svgTexts(readFileSync(join(dir, "loss-vs-step.svg"), "utf8"));
    for (const label of ["PLD", "Pre-LN", "Post-LN"])
      assert.ok(texts.includes(`${label}: loss`), `${label} in the legend`);
  });

  it("reports a missing or malformed file in one line, exit 2", () => {
    const cli = join(projectRoot(), "dist", "bin", "bert-train.js");
    const bad = join(work, "bad.jsonl");
    writeFileSync(bad, '{"step": 1, "loss": 2}\nnot json\n');
    for (const [file, message] of [
      [join(work, "absent.jsonl"), /absent\.jsonl: no such metrics file/],
      [bad, /bad\.jsonl:2: not a JSON record/],
    ] as const) {
      const r = spawnSync(process.execPath, [cli, "plot", file, "--out", join(work, "x")], { encoding: "utf8" });
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, message);
      assert.doesNotMatch(r.stderr, /\n\s+at /);
    }
  });
});
