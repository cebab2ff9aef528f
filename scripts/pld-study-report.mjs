#!/usr/bin/env node
// The PLD study's tables and plots, from the files scripts/pld-study.sh wrote into OUT (and only from them):
// OUT/report.md and OUT/plots/. Usage: node scripts/pld-study-report.mjs OUT
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = process.argv[2];
if (!out) throw new Error("usage: node scripts/pld-study-report.mjs OUT");
const plan = JSON.parse(readFileSync(join(out, "study.json"), "utf8"));
const sources = new Set(["study.json"]);
const read = (path) => {
  sources.add(relative(out, path));
  return readFileSync(path, "utf8");
};

const ARMS = { pld: "PLD (Pre-LN, θ̄ = 0.5)", preln: "Pre-LN, no dropping", postln: "Post-LN (BERT)" };
const jobs = plan.lrs.split(",").flatMap((lr) => Object.keys(ARMS).map((arm) => ({ arm, lr, job: `${arm}_lr${lr}` })));
/** The seed-43 replica of each arm at the first rate: the first `replicate_steps` steps of the same schedule. */
const replicaJob = (job) => `${job}_seed${plan.replicate_seed}`;

function steps(job) {
  const path = join(out, "runs", `${job}.metrics.jsonl`);
  return read(path)
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l))
    .filter((r) => r.validation === undefined);
}

function heldout(job) {
  const dir = join(out, "heldout", job);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith(".json"))
    .map((f) => JSON.parse(read(join(dir, f))))
    .map((r) => ({ step: r.global_steps, samples: r.global_steps * plan.batch, loss: r.mlm_loss, acc: r.mlm_accuracy }))
    .sort((a, b) => a.step - b.step);
}

/** Samples at which the held-out loss first reaches `target`, interpolating between checkpoints; null if never. */
function samplesToReach(points, target) {
  for (let i = 0; i < points.length; i++) {
    if (points[i].loss > target) continue;
    if (i === 0) return points[0].samples;
    const [a, b] = [points[i - 1], points[i]];
    return a.samples + ((a.loss - target) / (a.loss - b.loss)) * (b.samples - a.samples);
  }
  return null;
}

function glue(job) {
  const rows = {};
  for (const task of plan.tasks.split(","))
    for (const seed of plan.seeds.split(",")) {
      const path = join(out, "glue", `${job}_${task}_s${seed}`, "eval_results.txt");
      if (!existsSync(path)) continue;
      for (const line of read(path).split("\n")) {
        const [key, value] = line.split(" = ");
        if (!key || value === undefined || ["eval_loss", "global_step", "loss", "epoch"].includes(key)) continue;
        (rows[`${task} ${key}`] ??= []).push(Number(value));
      }
    }
  return rows;
}

const f = (x, d = 4) => (x === null || x === undefined || Number.isNaN(x) ? "n/a" : Number(x).toFixed(d));
const mean = (xs) => xs.reduce((s, x) => s + x, 0) / xs.length;
const lines = [];
const say = (s = "") => lines.push(s);

say(`# PLD study${plan.tiny ? " (--tiny: a check of the pipeline, not a result)" : ""}`);
say();
say(
  `Model: ${plan.layers} layers, hidden ${plan.hidden}, ${plan.heads} heads, FFN ${plan.intermediate}, sequence ` +
    `${plan.seq}, ${plan.precision}; batch ${plan.batch}; ${plan.steps} steps per arm, a checkpoint every ` +
    `${plan.checkpoint_every}. PLD: θ̄ = ${plan.theta}, γ = ${plan.gamma}. Learning rates: ${plan.lrs}.`,
);
say(`Training text: ${plan.corpora}. Held-out text (no arm trains on it): ${plan.heldout}.`);
const glueGrid = plan.glue_steps
  ? `${plan.glue_steps} steps of ${plan.glue_seq}-token sequences per task`
  : "3 epochs (SST-2: 1,000 steps), 64-token sequences for single sentences and 128 for pairs";
say(
  `GLUE fine-tuning, the same for every arm: batch ${plan.batch}, learning rate ${plan.glue_lr ?? 1e-4}, ` +
    `${glueGrid}, seeds ${plan.seeds}.`,
);
say();

const data = jobs.map((j) => ({ ...j, steps: steps(j.job), heldout: heldout(j.job), glue: glue(j.job) }));
const timingPath = join(out, "timing.json");
const timing = existsSync(timingPath) ? JSON.parse(read(timingPath)) : null;

/**
 * A step's time on a quiet machine, from the interleaved timing: the Post-LN model's step, or the Pre-LN step's
 * fixed part (no layer kept) plus its kept fraction of the layers' time. Null without the timing.
 */
function quietStepMs(arm, record) {
  if (!timing) return null;
  if (arm === "postln") return timing.post_ln_ms ?? null;
  return timing.none_kept_ms + (record.kept_layers ?? 1) * (timing.all_kept_ms - timing.none_kept_ms);
}
/** Seconds of training up to and including `step`: by the run's wall clock, or by the quiet-machine step times. */
function trainingSeconds(d, step, clock) {
  let ms = 0;
  for (const r of d.steps) if (r.step <= step) ms += clock === "wall" ? r.step_ms : (quietStepMs(d.arm, r) ?? NaN);
  return ms / 1000;
}

say("## Held-out MLM loss against samples");
say();
const sampleCounts = [...new Set(data.flatMap((d) => d.heldout.map((p) => p.samples)))].sort((a, b) => a - b);
say(`| samples | ${data.map((d) => `${ARMS[d.arm]}, lr ${d.lr}`).join(" | ")} |`);
say(`| --- | ${data.map(() => "---").join(" | ")} |`);
for (const s of sampleCounts)
  say(`| ${s} | ${data.map((d) => f(d.heldout.find((p) => p.samples === s)?.loss)).join(" | ")} |`);
say();

say(`## Seed-to-seed spread of the held-out loss (seed 42 against ${plan.replicate_seed})`);
say();
const firstLr = plan.lrs.split(",")[0];
const replicas = data
  .filter((d) => d.lr === firstLr)
  .map((d) => ({ d, replica: heldout(replicaJob(d.job)) }))
  .filter((x) => x.replica.length > 0);
if (replicas.length === 0) say("No replicas were run (--replicate_steps 0).");
else {
  say(
    `Each arm again with seed ${plan.replicate_seed} (initial weights, data order, dropout and gates), the first ` +
      `${plan.replicate_steps} steps of the same schedule: how far two runs of one arm land apart.`,
  );
  say();
  say("| arm | samples | seed 42 | seed " + plan.replicate_seed + " | difference |");
  say("| --- | --- | --- | --- | --- |");
  for (const { d, replica } of replicas)
    for (const p of replica) {
      const main = d.heldout.find((q) => q.step === p.step);
      say(
        `| ${ARMS[d.arm]} | ${p.samples} | ${f(main?.loss)} | ${f(p.loss)} | ${main ? f(main.loss - p.loss) : "n/a"} |`,
      );
    }
}
say();

say("## Time per step and per sample");
say();
const wallMs = (d) => mean(d.steps.slice(Math.min(5, d.steps.length - 1)).map((r) => r.step_ms));
for (const d of data)
  say(
    `- ${ARMS[d.arm]}, lr ${d.lr}: ${f(wallMs(d), 1)} ms per step by the wall clock of its run ` +
      `(mean after the first 5 steps; the kept fraction of layer evaluations ${f(mean(d.steps.map((r) => r.kept_layers ?? 1)), 3)}).`,
  );
if (timing) {
  const predicted = (1 - timing.pld_kept_fraction) * (timing.all_kept_ms - timing.none_kept_ms);
  const saved = timing.all_kept_ms - timing.pld_ms;
  const ratio = saved / predicted;
  say(
    `- Interleaved on one engine (\`bert-train bench-train --post_ln\`, timing.txt): Pre-LN with every layer kept ` +
      `${f(timing.all_kept_ms, 1)} ms, PLD at θ = 0.5 ${f(timing.pld_ms, 1)} ms (kept ` +
      `${f(100 * timing.pld_kept_fraction, 1)}% of layer evaluations), no layer ${f(timing.none_kept_ms, 1)} ms, ` +
      `Post-LN ${f(timing.post_ln_ms, 1)} ms.`,
  );
  say(
    `- At θ̄ = 0.5 PLD saves ${f((100 * saved) / timing.all_kept_ms, 1)}% of the Pre-LN step; the kept fraction ` +
      `predicts ${f((100 * predicted) / timing.all_kept_ms, 1)}% (measured/predicted saving ${f(ratio, 3)}: ` +
      `${Math.abs(ratio - 1) <= 0.05 ? "within" : "outside"} 5%). Per sample: PLD ${f(timing.pld_ms / plan.batch, 2)} ms, ` +
      `Pre-LN ${f(timing.all_kept_ms / plan.batch, 2)} ms, Post-LN ${f(timing.post_ln_ms / plan.batch, 2)} ms; PLD's ` +
      `time per sample is ${f((100 * timing.pld_ms) / timing.all_kept_ms, 1)}% of Pre-LN's and ` +
      `${f((100 * timing.pld_ms) / timing.post_ln_ms, 1)}% of Post-LN's (the paper: 76%).`,
  );
  for (const d of data.filter((x) => x.arm === "pld")) {
    const whole = trainingSeconds(d, Infinity, "quiet");
    const base = data.find((x) => x.arm === "preln" && x.lr === d.lr);
    const post = data.find((x) => x.arm === "postln" && x.lr === d.lr);
    say(
      `- Over its whole run (θ falling from 1 to θ̄), PLD lr ${d.lr} takes ${f(whole, 0)} s by the quiet-machine ` +
        `step times: ${base ? f((100 * whole) / trainingSeconds(base, Infinity, "quiet"), 1) : "n/a"}% of Pre-LN's ` +
        `and ${post ? f((100 * whole) / trainingSeconds(post, Infinity, "quiet"), 1) : "n/a"}% of Post-LN's.`,
    );
  }
} else say("- Interleaved timing: not measured (--tiny skips it).");
say();

/** One seed's runs at one rate: samples and time each arm needs to reach that seed's Post-LN final held-out loss. */
function reachTable(runs, label) {
  const base = runs.find((d) => d.arm === "postln");
  const target = base?.heldout.at(-1)?.loss;
  say(`Target (${label}): ${f(target)}, the Post-LN arm's held-out loss at its last checkpoint.`);
  say();
  say(
    "| arm | samples to reach it | of the baseline's samples | time to reach it (s, quiet-machine step times) | " +
      "of the baseline's time | time to reach it (s, wall clock of the run) |",
  );
  say("| --- | --- | --- | --- | --- | --- |");
  const baseStep = base?.heldout.at(-1)?.step;
  const baseQuiet = base && baseStep !== undefined ? trainingSeconds(base, baseStep, "quiet") : null;
  const baseSamples = base?.heldout.at(-1)?.samples;
  for (const d of runs) {
    const s = target === undefined ? null : samplesToReach(d.heldout, target);
    const step = s === null ? null : s / plan.batch;
    const quiet = step === null || !timing ? null : trainingSeconds(d, step, "quiet");
    const wall = step === null ? null : trainingSeconds(d, step, "wall");
    say(
      `| ${ARMS[d.arm]} | ${f(s, 0)} | ${s === null || !baseSamples ? "n/a" : f(s / baseSamples, 3)} | ` +
        `${f(quiet, 0)} | ${quiet === null || !baseQuiet ? "n/a" : f(quiet / baseQuiet, 3)} | ${f(wall, 0)} |`,
    );
  }
  say();
}

say("## Samples and time to reach the Post-LN baseline's final held-out loss");
say();
for (const lr of plan.lrs.split(","))
  reachTable(
    data.filter((d) => d.lr === lr),
    `lr ${lr}, seed 42`,
  );
// replicas that ran the whole schedule answer the same question again with another seed: the spread of the answer
if (replicas.length === Object.keys(ARMS).length && plan.replicate_steps === plan.steps) {
  const replicaRuns = replicas.map(({ d, replica }) => ({ ...d, steps: steps(replicaJob(d.job)), heldout: replica }));
  reachTable(replicaRuns, `lr ${firstLr}, seed ${plan.replicate_seed}`);
}

say("## GLUE dev metrics (mean, and min–max over seeds)");
say();
const keys = [...new Set(data.flatMap((d) => Object.keys(d.glue)))].sort();
say(`| task metric | ${data.map((d) => `${ARMS[d.arm]}, lr ${d.lr}`).join(" | ")} |`);
say(`| --- | ${data.map(() => "---").join(" | ")} |`);
for (const k of keys)
  say(
    `| ${k} | ${data
      .map((d) => {
        const v = d.glue[k];
        return v ? `${f(mean(v))} (${f(Math.min(...v))}–${f(Math.max(...v))}, n=${v.length})` : "n/a";
      })
      .join(" | ")} |`,
  );
say();

/**
 * `bert-train plot` of every arm: its step records (through `stepRecord`) with its held-out evaluations as
 * validation records, written into `inputDir` and charted into `outDir`. Returns the PNGs' paths.
 */
function plotArms(inputDir, outDir, stepRecord = (d, r) => r, metrics = "mlm_loss,validation/heldout_mlm_loss") {
  mkdirSync(inputDir, { recursive: true });
  const inputs = data.map((d) => {
    const path = join(inputDir, `${d.job}.jsonl`);
    const records = [
      ...d.steps.map((r) => JSON.stringify(stepRecord(d, r))),
      ...d.heldout.map((p) => JSON.stringify({ step: p.step, validation: { heldout_mlm_loss: p.loss } })),
    ];
    writeFileSync(path, records.join("\n") + "\n");
    return path;
  });
  const labels = data.flatMap((d) => ["--label", `${d.arm} lr ${d.lr}`]);
  const cli = join(repo, "dist", "bin", "bert-train.js");
  const plotted = spawnSync(
    process.execPath,
    [cli, "plot", ...inputs, "--out", outDir, "--metrics", metrics, ...labels],
    { encoding: "utf8" },
  );
  if (plotted.status !== 0) throw new Error(`bert-train plot failed: ${plotted.stderr}`);
  return plotted.stdout
    .trim()
    .split("\n")
    .filter((p) => p.endsWith(".png"));
}
const charts = plotArms(join(out, "plots", "input"), join(out, "plots"));
// the same runs with each step's time taken from the quiet-machine timing, held-out loss only (the per-step
// training loss is noisier than the differences between arms)
const quietStep = (d, r) => ({ ...r, step_ms: quietStepMs(d.arm, r) });
const quietCharts = timing
  ? plotArms(
      join(out, "plots", "input-heldout"),
      join(out, "plots", "heldout"),
      quietStep,
      "validation/heldout_mlm_loss",
    ).filter((p) => /loss-vs-(samples|time)\.png$/.test(p))
  : [];
say("## Plots");
say();
for (const p of charts) say(`![${relative(out, p)}](${relative(out, p)})`);
say();
for (const p of quietCharts) {
  say(
    p.endsWith("loss-vs-time.png")
      ? "Held-out loss against training time from the quiet-machine step times (interleaved timing):"
      : "Held-out loss against samples:",
  );
  say();
  say(`![${relative(out, p)}](${relative(out, p)})`);
  say();
}
say("## Files these numbers come from");
say();
for (const s of [...sources].sort()) say(`- ${s}`);
writeFileSync(join(out, "report.md"), lines.join("\n") + "\n");
process.stdout.write(`${join(out, "report.md")}\n`);
