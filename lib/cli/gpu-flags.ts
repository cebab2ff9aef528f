// bing_bert's flags for DeepSpeed's GPU kernels and memory savers: accepted so its scripts run unchanged, each
// given one notice line saying what it means here.
import type { Argv } from "yargs";

import type { Output } from "../train/trainer.js";

const GPU_ONLY: Record<string, string> = {
  deepspeed_transformer_kernel: "the fused CPU kernels are always on; nothing to switch",
  stochastic_mode: "DeepSpeed's non-deterministic GPU kernels; this engine is deterministic",
  deepspeed_sparse_attention: "sparse attention is a GPU kernel; attention here is dense",
  attention_dropout_checkpoint: "a GPU memory saver; not needed here",
  normalize_invertible: "a GPU memory saver; not needed here",
  gelu_checkpoint: "a GPU memory saver; not needed here",
};

/** `y` with the GPU-only flags as booleans, each with its kebab-case alias. */
export function withGpuOnlyFlags<T>(y: Argv<T>): Argv<T> {
  for (const [name, meaning] of Object.entries(GPU_ONLY))
    y.option(name, {
      type: "boolean",
      default: false,
      alias: name.replace(/_/g, "-"),
      describe: `accepted from bing_bert; ${meaning}`,
    });
  return y;
}

/** One line per GPU-only flag that was given. */
export function reportGpuOnlyFlags(args: Record<string, unknown>, out: Output): void {
  for (const [name, meaning] of Object.entries(GPU_ONLY))
    if (args[name] === true) out.warn(`[bert-train] --${name}: ${meaning}`);
}
