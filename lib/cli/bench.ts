// `bert-train bench`: forward+backward samples/s of our engine beside PyTorch on the same cores, in the same run.
import type { CommandModule } from "yargs";

import { runBench, type BenchOptions } from "../bench/run-bench.js";
import { BENCH_MODELS } from "../bench/models.js";

interface BenchArgs {
  models: string;
  precisions: string;
  batch: number;
  seq: number;
  steps: number;
  warmup: number;
  threads: number;
  torch: boolean;
  "layer-skip": boolean;
  head: "pretrain" | "classify";
}

export const benchCommand: CommandModule<object, BenchArgs> = {
  command: "bench",
  describe: "Measure forward+backward samples/s (ours and PyTorch's) for BERT-mini/small/base",
  builder: (y) =>
    y
      .option("models", {
        type: "string",
        default: "mini,small,base",
        describe: `comma-separated: ${Object.keys(BENCH_MODELS).join(", ")}`,
      })
      .option("precisions", { type: "string", default: "fp32,bf16", describe: "comma-separated: fp32, bf16" })
      .option("batch", { type: "number", default: 32, describe: "sequences per step" })
      .option("seq", { type: "number", default: 128, describe: "sequence length" })
      .option("steps", { type: "number", default: 3, describe: "timed steps per case" })
      .option("warmup", { type: "number", default: 2, describe: "untimed steps first (both sides)" })
      .option("threads", { type: "number", default: 0, describe: "0: all cores" })
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
      batch: args.batch,
      seq: args.seq,
      steps: args.steps,
      warmup: args.warmup,
      threads: args.threads,
      torch: args.torch,
      layerSkip: args["layer-skip"],
      head: args.head,
    };
    await runBench(options, (line) => process.stdout.write(line + "\n"));
  },
};
