// `bert-train bench-train`: the pre-training loop against the engine alone, and what PLD saves.
import type { CommandModule } from "yargs";

import { runTrainBench } from "../bench/train-bench.js";

interface Args {
  layers: number;
  hidden: number;
  precision: "fp32" | "bf16";
  batch: number;
  steps: number;
  post_ln: boolean;
}

export const benchTrainCommand: CommandModule<object, Args> = {
  command: "bench-train",
  describe: "Measure end-to-end training samples/s against the engine alone, and the step time PLD saves",
  builder: (y) =>
    y
      .option("layers", { type: "number", default: 12, describe: "encoder layers" })
      .option("hidden", { type: "number", default: 256, describe: "hidden size" })
      .option("precision", { choices: ["fp32", "bf16"] as const, default: "bf16" as const, describe: "arithmetic" })
      .option("batch", { type: "number", default: 32, describe: "sequences per step" })
      .option("steps", { type: "number", default: 30, describe: "steps timed" })
      .option("post_ln", {
        type: "boolean",
        alias: "post-ln",
        default: false,
        describe: "also time a Post-LN model of the same size (every layer kept) in the same interleaved rounds",
      }),
  handler: async (a) => {
    await runTrainBench(a, (line) => process.stdout.write(line + "\n"));
  },
};
