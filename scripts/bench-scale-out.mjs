#!/usr/bin/env node
// Scale-out cost on one machine: the same pre-training run (the quick start's data and configs, PLD, bf16) as
// 1 rank × T threads and as R ranks × T/R threads over loopback MPI, with the gradient reduction overlapped with
// the backward pass and delayed (--delay_allreduce). Prints samples/s of each after a warm-up, the ratio to the
// 1-rank run, and the time spent in allreduce and waiting for it per step.
//
//   node scripts/bench-scale-out.mjs [--cf configs/bert_mini_cpu.json] [--steps 60] [--warmup 10] [--ranks 2]
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const cli = join(root, "dist", "bin", "bert-train.js");
const opt = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const cf = opt("cf", "configs/bert_mini_cpu.json");
const ds = opt("deepspeed_config", "configs/deepspeed_bert_mini_pld_cpu.json");
const steps = Number(opt("steps", "60"));
const warmup = Number(opt("warmup", "10"));
const ranks = Number(opt("ranks", "2"));
const threads = Number(opt("threads", String(availableParallelism())));
const dataRoot = join(root, "out", "data");

function node(args) {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: root, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`bert-train ${args.join(" ")} failed:\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

if (!existsSync(join(dataRoot, "default_corpus", "128", "dataset.json")))
  node([
    "prepare-data",
    "--input",
    "data/corpus",
    "--output_dir",
    join(dataRoot, "default_corpus", "128"),
    "--max_seq_length",
    "128",
    "--max_predictions_per_seq",
    "20",
    "--dupe_factor",
    "5",
    "--num_shards",
    "4",
  ]);

function run(label, worldSize, extra = []) {
  const out = mkdtempSync(join(tmpdir(), "bert-train-scale-"));
  const pretrain = [
    "pretrain",
    "--cf",
    cf,
    "--deepspeed",
    "--deepspeed_config",
    ds,
    "--max_seq_length",
    "128",
    "--max_predictions_per_seq",
    "20",
    "--output_dir",
    out,
    "--job_name",
    "bench",
    "--data_path_prefix",
    dataRoot,
    "--lr_schedule",
    "LE",
    "--progressive_layer_drop",
    "--max_steps",
    String(steps),
    "--print_steps",
    "1000000",
    ...extra,
  ];
  const perRank = Math.max(1, Math.floor(threads / worldSize));
  if (worldSize === 1) node([...pretrain, "--threads", String(perRank)]);
  else
    node([
      "launch",
      "--num_procs_per_node",
      String(worldSize),
      "--threads_per_proc",
      String(perRank),
      "--",
      ...pretrain,
      "--threads",
      String(perRank),
    ]);
  const records = readFileSync(join(out, "bench.metrics.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l))
    .filter((r) => r.loss !== undefined);
  const timed = records.slice(warmup);
  const first = records[warmup - 1];
  const last = records[records.length - 1];
  const samples = last.samples - first.samples;
  const seconds = last.wall_time - first.wall_time;
  const mean = (key) => timed.reduce((s, r) => s + (r[key] ?? 0), 0) / timed.length;
  return {
    label,
    samplesPerSecond: samples / seconds,
    stepMs: mean("step_ms"),
    allreduceMs: mean("allreduce_ms"),
    waitMs: mean("allreduce_wait_ms"),
  };
}

const results = [
  run(`1 rank × ${threads} threads`, 1),
  run(`${ranks} ranks × ${Math.floor(threads / ranks)} thread(s), overlapped`, ranks),
  run(`${ranks} ranks × ${Math.floor(threads / ranks)} thread(s), --delay_allreduce`, ranks, ["--delay_allreduce"]),
];
console.log(`scale-out on this machine: ${cf}, ${ds}, ${steps} steps (first ${warmup} not timed)`);
console.log("| run | samples/s | vs 1 rank | step ms | allreduce ms/step | waited ms/step |");
console.log("| --- | --- | --- | --- | --- | --- |");
for (const r of results)
  console.log(
    `| ${r.label} | ${r.samplesPerSecond.toFixed(1)} | ${(r.samplesPerSecond / results[0].samplesPerSecond).toFixed(3)} | ${r.stepMs.toFixed(1)} | ${r.allreduceMs.toFixed(1)} | ${r.waitMs.toFixed(1)} |`,
  );
