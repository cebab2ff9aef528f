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
import { projectRoot } from "../native/load.js";
import {
  BENCH_MODELS,
  BENCH_VOCAB,
  benchConfig,
  MASKED_PER_SEQUENCE,
  trainingFlopsPerSequence,
  type BenchModel,
} from "./models.js";

export interface BenchOptions {
  models: string[];
  precisions: string[];
  batch: number;
  seq: number;
  steps: number;
  warmup: number;
  threads: number;
  torch: boolean;
  layerSkip: boolean;
  /** "pretrain": MLM + NSP heads; "classify": a 2-way classification head, as GLUE fine-tuning runs. */
  head: "pretrain" | "classify";
}

/** Peak matrix FLOP/s of this machine's 2 cores (AVX-512 FMA; AVX512-BF16 dot products), for utilisation. */
export const PEAK_GFLOPS: Record<Precision, number> = { fp32: 440, bf16: 900, fp16: 440 };

export interface BenchResult {
  model: string;
  head: "pretrain" | "classify";
  precision: Precision;
  samples_per_s: number;
  torch_samples_per_s: number | null;
  ratio_vs_torch: number | null;
  model_gflops: number;
  utilisation_of_peak: number;
}

/** A deterministic pre-training batch: every sequence full length, 20 masked positions each. */
export function syntheticBatch(batchSize: number, seqLen: number): Batch {
  const n = batchSize * seqLen;
  const masked = Math.min(MASKED_PER_SEQUENCE, seqLen - 1) * batchSize;
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
  o: BenchOptions,
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
    String(MASKED_PER_SEQUENCE),
    "--steps",
    String(o.steps),
    "--warmup",
    String(o.warmup),
    "--threads",
    String(threads),
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

export async function runBench(o: BenchOptions, print: (line: string) => void): Promise<BenchResult[]> {
  const threads = o.threads > 0 ? o.threads : availableParallelism();
  const results: BenchResult[] = [];
  for (const name of o.models) {
    const model = BENCH_MODELS[name];
    if (!model)
      throw Object.assign(
        new Error(`unknown model "${name}": expected one of ${Object.keys(BENCH_MODELS).join(", ")}`),
        { code: "ERR_INVALID_ARGUMENT" },
      );
    for (const p of o.precisions) {
      if (p !== "fp32" && p !== "bf16")
        throw Object.assign(new Error(`unknown precision "${p}": expected fp32 or bf16`), {
          code: "ERR_INVALID_ARGUMENT",
        });
      const precision: Precision = p;
      const classify = o.head === "classify";
      const engine = createEngine({
        config: { ...benchConfig(model), num_labels: classify ? 2 : 0 },
        precision,
        threads,
      });
      const pretrainBatch = syntheticBatch(o.batch, o.seq);
      const batch: Batch = classify
        ? {
            ...pretrainBatch,
            numMasked: 0,
            maskedPositions: undefined,
            maskedLabels: undefined,
            nextSentenceLabels: undefined,
            classLabels: pretrainBatch.nextSentenceLabels,
          }
        : pretrainBatch;
      const gates = allLayersKept(model.layers);
      const seconds = await secondsPerStep(engine, batch, gates, o.warmup, o.steps);
      const samples = o.batch / seconds;
      const gflops = (trainingFlopsPerSequence(model, o.seq, classify ? 0 : MASKED_PER_SEQUENCE) * samples) / 1e9;
      const label = `${name} ${precision}${classify ? " classify" : ""}`;
      print(
        `${label}: ours ${samples.toFixed(2)} samples/s (${seconds.toFixed(3)} s/step, ${gflops.toFixed(0)} GFLOP/s, ${((100 * gflops) / PEAK_GFLOPS[precision]).toFixed(0)}% of the ${PEAK_GFLOPS[precision]} GFLOP/s peak)`,
      );

      if (o.layerSkip && model.layers >= 2) {
        const half = await secondsPerStep(engine, batch, gatesDroppingEvery(model.layers, 2), o.warmup, o.steps);
        const none = await secondsPerStep(engine, batch, gatesDroppingEvery(model.layers, null), o.warmup, o.steps);
        const dropped = model.layers - Math.ceil(model.layers / 2);
        const perLayer = (seconds - none) / model.layers;
        const saved = seconds - half;
        print(
          `${label}: dropping ${dropped} of ${model.layers} layers saves ${saved.toFixed(3)} s/step; those layers cost ${(dropped * perLayer).toFixed(3)} s/step when kept (${((100 * saved) / (dropped * perLayer)).toFixed(0)}% of their cost recovered)`,
        );
      }

      let torch: number | null = null;
      if (o.torch) {
        const t = torchSamplesPerSecond(model, precision, o, threads);
        if (typeof t === "number") {
          torch = t;
          print(`${label}: PyTorch ${t.toFixed(2)} samples/s -> ours/PyTorch = ${(samples / t).toFixed(2)}x`);
        } else {
          print(`${label}: PyTorch not measured: ${t}`);
        }
      }
      results.push({
        model: name,
        head: o.head,
        precision,
        samples_per_s: Number(samples.toFixed(3)),
        torch_samples_per_s: torch === null ? null : Number(torch.toFixed(3)),
        ratio_vs_torch: torch === null ? null : Number((samples / torch).toFixed(3)),
        model_gflops: Number(gflops.toFixed(1)),
        utilisation_of_peak: Number((gflops / PEAK_GFLOPS[precision]).toFixed(3)),
      });
    }
  }
  for (const r of results) print(JSON.stringify(r));
  return results;
}
