// The benchmark runner: times our engine and PyTorch (scripts/torch_bench.py) on identical shapes in one run, and
// measures what skipping layers saves. Prints a readable line per measurement and, at the end, one JSON line per
// case. Nothing here asserts on time: the numbers are for people and for docs/benchmarks.md.
import { spawnSync } from "node:child_process";
import { availableParallelism } from "node:os";
import { join } from "node:path";

import {
  allLayersKept,
  createEngine,
  type Batch,
  type LayerGates,
  type NativeEngine,
  type Precision,
} from "../native/engine.js";
import type { DevicePlacement } from "../native/device.js";
import { projectRoot } from "../native/load.js";
import { bf16RunsInFp32, measurePeak } from "../train/flops.js";
import {
  BENCH_MODELS,
  BENCH_VOCAB,
  benchConfig,
  maskedPerSequence,
  trainingFlopsPerSequence,
  type BenchModel,
} from "./models.js";

export interface BenchOptions {
  models: string[];
  precisions: string[];
  /** The (batch, sequence length) cases, each run for every model and precision. */
  cases: BenchCase[];
  steps: number;
  warmup: number;
  threads: number;
  /** Where our engine and PyTorch run (--device, resolved). */
  placement: DevicePlacement;
  torch: boolean;
  layerSkip: boolean;
  /** "pretrain": MLM + NSP heads; "classify": a 2-way classification head, as GLUE fine-tuning runs. */
  head: "pretrain" | "classify";
}

export interface BenchCase {
  batch: number;
  seq: number;
}

/** Pre-training's two phases: batch 32 at sequence 128, and batch 8 at sequence 512. */
export const DEFAULT_CASES: BenchCase[] = [
  { batch: 32, seq: 128 },
  { batch: 8, seq: 512 },
];

export interface BenchResult {
  model: string;
  head: "pretrain" | "classify";
  precision: Precision;
  batch: number;
  seq: number;
  samples_per_s: number;
  torch_samples_per_s: number | null;
  ratio_vs_torch: number | null;
  model_gflops: number;
  /** The peak measured in this run for the precision's instruction (null where the CPU has none). */
  peak_gflops: number | null;
  utilisation_of_peak: number | null;
}

/** A deterministic pre-training batch: every sequence full length, 20 masked positions per 128 each. */
export function syntheticBatch(batchSize: number, seqLen: number): Batch {
  const n = batchSize * seqLen;
  const masked = Math.min(maskedPerSequence(seqLen), seqLen - 1) * batchSize;
  const stride = Math.floor(n / masked);
  return {
    batchSize,
    seqLen,
    inputIds: Int32Array.from({ length: n }, (_, i) => ((i * 7919) % (BENCH_VOCAB - 1)) + 1),
    segmentIds: Int32Array.from({ length: n }, (_, i) => (i % seqLen >= seqLen / 2 ? 1 : 0)),
    inputMask: new Int32Array(n).fill(1),
    numMasked: masked,
    maskedPositions: Int32Array.from({ length: masked }, (_, i) => i * stride + 1),
    maskedLabels: Int32Array.from({ length: masked }, (_, i) => (i * 104729) % BENCH_VOCAB),
    nextSentenceLabels: Int32Array.from({ length: batchSize }, (_, i) => i % 2),
  };
}

export async function secondsPerStep(
  engine: NativeEngine,
  batch: Batch,
  gates: LayerGates,
  warmup: number,
  steps: number,
): Promise<number> {
  let stream = 0;
  for (let i = 0; i < warmup; i++) await engine.run(batch, gates, { dropoutStream: stream++ });
  const start = process.hrtime.bigint();
  for (let i = 0; i < steps; i++) await engine.run(batch, gates, { dropoutStream: stream++ });
  return Number(process.hrtime.bigint() - start) / 1e9 / steps;
}

function torchSamplesPerSecond(
  model: BenchModel,
  precision: Precision,
  o: BenchOptions & BenchCase,
  threads: number,
): number | string {
  const script = join(projectRoot(), "scripts", "torch_bench.py");
  const args = [
    script,
    "--layers",
    String(model.layers),
    "--hidden",
    String(model.hidden),
    "--precision",
    precision,
    "--batch",
    String(o.batch),
    "--seq",
    String(o.seq),
    "--masked",
    String(maskedPerSequence(o.seq)),
    "--steps",
    String(o.steps),
    "--warmup",
    String(o.warmup),
    "--threads",
    String(threads),
    "--device",
    o.placement.device,
  ];
  const python = process.env.BERT_TRAIN_PYTHON ?? "/usr/bin/python3";
  const run = spawnSync(python, args, { encoding: "utf8", maxBuffer: 1 << 20 });
  if (run.error) return `could not start ${python}: ${run.error.message}`;
  if (run.status !== 0) {
    const last = run.stderr.trim().split("\n").pop() ?? "";
    return /No module named 'torch'/.test(run.stderr)
      ? "PyTorch is not installed (scripts/setup.sh installs python3-torch)"
      : `torch_bench.py failed: ${last}`;
  }
  const line = run.stdout.trim().split("\n").pop() ?? "{}";
  return (JSON.parse(line) as { samples_per_s: number }).samples_per_s;
}

function gatesDroppingEvery(numLayers: number, keepEvery: number | null): LayerGates {
  const gates = allLayersKept(numLayers);
  for (let l = 0; l < numLayers; l++) gates.keep[l] = keepEvery !== null && l % keepEvery === 0;
  return gates;
}

/** The peaks of this machine now, measured in this process before the cases (one per precision). */
function measurePeaks(precisions: Precision[], threads: number, print: (line: string) => void): Map<Precision, number> {
  const peaks = new Map<Precision, number>();
  for (const p of precisions) {
    const peak = measurePeak(p, threads, 0.5);
    if (peak === undefined) print(`peak ${p}: not measured (this build has no vector instruction for it)`);
    else {
      peaks.set(p, peak.gflops);
      const widened = p === "bf16" && bf16RunsInFp32(peak) ? "; no bf16 instruction here: bf16 GEMMs run in fp32" : "";
      print(
        `peak ${p}: ${peak.gflops.toFixed(0)} GFLOP/s measured now (${peak.instruction} on ${threads} threads${widened})`,
      );
    }
  }
  return peaks;
}

function checkedPrecisions(names: string[]): Precision[] {
  return names.map((p) => {
    if (p !== "fp32" && p !== "bf16")
      throw Object.assign(new Error(`unknown precision "${p}": expected fp32 or bf16`), {
        code: "ERR_INVALID_ARGUMENT",
      });
    return p;
  });
}

function checkedModel(name: string): BenchModel {
  const model = BENCH_MODELS[name];
  if (!model)
    throw Object.assign(new Error(`unknown model "${name}": expected one of ${Object.keys(BENCH_MODELS).join(", ")}`), {
      code: "ERR_INVALID_ARGUMENT",
    });
  return model;
}

/** The batch of a case: MLM + NSP labels, or a 2-way classification label for the classify head. */
function caseBatch(c: BenchCase, classify: boolean): Batch {
  const batch = syntheticBatch(c.batch, c.seq);
  if (!classify) return batch;
  return {
    ...batch,
    numMasked: 0,
    maskedPositions: undefined,
    maskedLabels: undefined,
    nextSentenceLabels: undefined,
    classLabels: batch.nextSentenceLabels,
  };
}

/** What dropping every other layer saves, against what those layers cost when kept. */
async function layerSkip(engine: NativeEngine, batch: Batch, model: BenchModel, seconds: number, o: BenchOptions) {
  const half = await secondsPerStep(engine, batch, gatesDroppingEvery(model.layers, 2), o.warmup, o.steps);
  const none = await secondsPerStep(engine, batch, gatesDroppingEvery(model.layers, null), o.warmup, o.steps);
  const dropped = model.layers - Math.ceil(model.layers / 2);
  const perLayer = (seconds - none) / model.layers;
  const saved = seconds - half;
  return `dropping ${dropped} of ${model.layers} layers saves ${saved.toFixed(3)} s/step; those layers cost ${(dropped * perLayer).toFixed(3)} s/step when kept (${((100 * saved) / (dropped * perLayer)).toFixed(0)}% of their cost recovered)`;
}

async function runCase(
  name: string,
  precision: Precision,
  c: BenchCase,
  o: BenchOptions & { threads: number; peak: number | undefined },
  print: (line: string) => void,
): Promise<BenchResult> {
  const model = checkedModel(name);
  const classify = o.head === "classify";
  const engine = createEngine({
    config: { ...benchConfig(model), max_position_embeddings: Math.max(512, c.seq), num_labels: classify ? 2 : 0 },
    precision,
    threads: o.threads,
    device: o.placement.device,
    cudaDevice: o.placement.cudaDevice,
  });
  const batch = caseBatch(c, classify);
  const seconds = await secondsPerStep(engine, batch, allLayersKept(model.layers), o.warmup, o.steps);
  const samples = c.batch / seconds;
  const gflops = (trainingFlopsPerSequence(model, c.seq, classify ? 0 : maskedPerSequence(c.seq)) * samples) / 1e9;
  const label = `${name} ${precision}${classify ? " classify" : ""} batch ${c.batch} seq ${c.seq}`;
  const share = o.peak === undefined ? "" : `, ${((100 * gflops) / o.peak).toFixed(0)}% of the measured peak`;
  print(
    `${label}: ours ${samples.toFixed(2)} samples/s (${seconds.toFixed(3)} s/step, ${gflops.toFixed(0)} GFLOP/s${share})`,
  );
  if (o.layerSkip && model.layers >= 2) print(`${label}: ${await layerSkip(engine, batch, model, seconds, o)}`);
  let torch: number | null = null;
  if (o.torch) {
    const t = torchSamplesPerSecond(model, precision, { ...o, ...c }, o.threads);
    if (typeof t === "number") {
      torch = t;
      print(`${label}: PyTorch ${t.toFixed(2)} samples/s -> ours/PyTorch = ${(samples / t).toFixed(2)}x`);
    } else print(`${label}: PyTorch not measured: ${t}`);
  }
  return {
    model: name,
    head: o.head,
    precision,
    batch: c.batch,
    seq: c.seq,
    samples_per_s: Number(samples.toFixed(3)),
    torch_samples_per_s: torch === null ? null : Number(torch.toFixed(3)),
    ratio_vs_torch: torch === null ? null : Number((samples / torch).toFixed(3)),
    model_gflops: Number(gflops.toFixed(1)),
    peak_gflops: o.peak === undefined ? null : Number(o.peak.toFixed(1)),
    utilisation_of_peak: o.peak === undefined ? null : Number((gflops / o.peak).toFixed(3)),
  };
}

export async function runBench(o: BenchOptions, print: (line: string) => void): Promise<BenchResult[]> {
  const threads = o.threads > 0 ? o.threads : availableParallelism();
  const precisions = checkedPrecisions(o.precisions);
  o.models.forEach(checkedModel);
  print(o.placement.line);
  // the measured peak is the CPU's: a GPU run reports samples/s and GFLOP/s without a utilisation
  const peaks = o.placement.device === "cpu" ? measurePeaks(precisions, threads, print) : new Map<Precision, number>();
  const results: BenchResult[] = [];
  for (const c of o.cases)
    for (const name of o.models)
      for (const precision of precisions)
        results.push(await runCase(name, precision, c, { ...o, threads, peak: peaks.get(precision) }, print));
  for (const r of results) print(JSON.stringify(r));
  return results;
}
