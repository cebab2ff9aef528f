// `bert-train bench`: forward+backward samples/s of our engine beside PyTorch on the same cores, in the same run.
import type { CommandModule } from "yargs";

import { DEFAULT_CASES, runBench, type BenchCase, type BenchOptions } from "../bench/run-bench.js";
import { BENCH_MODELS } from "../bench/models.js";
import { deviceOption, placeOnDevice, type DeviceFlag } from "../native/device.js";

interface BenchArgs {
  models: string;
  precisions: string;
  batch?: number;
  seq?: number;
  steps: number;
  warmup: number;
  threads: number;
  device: DeviceFlag;
  torch: boolean;
  "layer-skip": boolean;
  head: "pretrain" | "classify";
}

/** Both phases of pre-training, unless --batch or --seq name one case (the other from the sequence-128 phase). */
function benchCases(batch: number | undefined, seq: number | undefined): BenchCase[] {
  if (batch === undefined && seq === undefined) return DEFAULT_CASES;
  return [{ batch: batch ?? 32, seq: seq ?? 128 }];
}

export const benchCommand: CommandModule<object, BenchArgs> = {
  command: "bench",
  describe:
    "Measure forward+backward samples/s (ours and PyTorch's) for BERT-mini/small/base, against the measured peak",
  builder: (y) =>
    y
      .option("models", {
        type: "string",
        default: "mini,small,base",
        describe: `comma-separated: ${Object.keys(BENCH_MODELS).join(", ")}`,
      })
      .option("precisions", { type: "string", default: "fp32,bf16", describe: "comma-separated: fp32, bf16" })
      .option("batch", {
        type: "number",
        describe: "sequences per step; with --seq, one case (default: batch 32 at 128 and batch 8 at 512)",
      })
      .option("seq", { type: "number", describe: "sequence length; with --batch, one case" })
      .option("steps", { type: "number", default: 3, describe: "timed steps per case" })
      .option("warmup", { type: "number", default: 2, describe: "untimed steps first (both sides)" })
      .option("threads", { type: "number", default: 0, describe: "0: all cores" })
      .option("device", deviceOption("cpu", "cpu, cuda (our engine and PyTorch on the GPU), or auto"))
      .option("torch", { type: "boolean", default: true, describe: "also time PyTorch (--no-torch to skip)" })
      .option("head", {
        choices: ["pretrain", "classify"] as const,
        default: "pretrain" as const,
        describe: "classify: GLUE fine-tuning's 2-way head instead of MLM + NSP",
      })
      .option("layer-skip", {
        type: "boolean",
        default: true,
        describe: "also measure what dropping half the layers saves",
      }),
  handler: async (args) => {
    const options: BenchOptions = {
      models: args.models.split(",").map((s) => s.trim()),
      precisions: args.precisions.split(",").map((s) => s.trim()),
      cases: benchCases(args.batch, args.seq),
      steps: args.steps,
      warmup: args.warmup,
      threads: args.threads,
      placement: placeOnDevice(args.device),
      torch: args.torch,
      layerSkip: args["layer-skip"],
      head: args.head,
    };
    await runBench(options, (line) => process.stdout.write(line + "\n"));
  },
};
