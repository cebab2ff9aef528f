// The one screen a training run starts with: what model, how big, in what precision, the batch arithmetic, how
// many steps, and where its outputs go; the same layout for pre-training and fine-tuning.
import type { ModelConfig } from "../native/types.js";
import { formatBytes, formatCount } from "./numbers.js";
import type { BatchShape, Output } from "./trainer.js";

export interface RunSummary {
  model: Pick<ModelConfig, "num_hidden_layers" | "hidden_size" | "num_attention_heads" | "intermediate_size"> & {
    pre_layer_norm?: boolean;
  };
  parameters: number;
  precision: string;
  batch: BatchShape;
  worldSize: number;
  stepsPerEpoch: number;
  totalSteps: number;
  /** The step the run starts after (a resume). */
  firstStep: number;
  /** Lines of the run's own (PLD, schedule, task), already aligned. */
  extra: string[];
  outputs: string[];
}

export function runSummary(out: Output, s: RunSummary): void {
  const m = s.model;
  const b = s.batch;
  // fp32 weights, gradients and two Adam moments: what the parameters alone hold
  const stateBytes = s.parameters * 4 * 4;
  const lines = [
    `model          ${m.num_hidden_layers} layers, hidden ${m.hidden_size}, ${m.num_attention_heads} heads, FFN ${m.intermediate_size}${m.pre_layer_norm === undefined ? "" : m.pre_layer_norm ? ", Pre-LN" : ", Post-LN"}`,
    `parameters     ${formatCount(s.parameters)} (${formatBytes(stateBytes)} of weights, gradients and Adam moments)`,
    `precision      ${s.precision}`,
    `batch          ${b.micro} per micro-batch × ${b.accumulation} accumulation × ${s.worldSize} rank${s.worldSize > 1 ? "s" : ""} = ${b.global} samples per step`,
    `steps          ${formatCount(s.stepsPerEpoch)} per epoch, ${formatCount(s.totalSteps)} in all${s.firstStep > 0 ? `, resuming after step ${formatCount(s.firstStep)}` : ""}`,
    ...s.extra,
    ...s.outputs,
  ];
  const rule = "-".repeat(Math.min(100, Math.max(...lines.map((l) => l.length))));
  for (const line of [rule, ...lines, rule]) out.log(line);
}

/** The run's last line: the most memory the process held (resident), as a user sizes a machine by it. */
export function reportPeakMemory(out: Output): void {
  out.log(`peak resident memory ${formatBytes(process.resourceUsage().maxRSS * 1024)}`);
}
