// Tolerances live in test/tolerances.json, shared with the C++ tests.
import { readFileSync } from "node:fs";
import { join } from "node:path";

import { projectRoot } from "../../lib/native/load.js";

export type ToleranceKey =
  | "golden_fp32_loss_rel"
  | "golden_fp32_logits_rel"
  | "golden_fp32_grad_rel"
  | "golden_bf16_loss_rel"
  | "golden_bf16_nsp_loss_rel"
  | "golden_bf16_logits_rel"
  | "golden_bf16_grad_rel"
  | "fast_vs_reference_engine_grad_rel"
  | "golden_fp32_grad_floor_of_largest"
  | "golden_bf16_grad_floor_of_largest"
  | "optimizer_fp32_loss_rel"
  | "optimizer_fp32_weight_rel"
  | "accumulation_fp32_grad_rel"
  | "data_parallel_fp32_weight_rel"
  | "data_parallel_fp32_loss_rel"
  | "training_curve_fp32_weight_rel"
  | "training_curve_fp32_unsettled_abs";

const table = JSON.parse(readFileSync(join(projectRoot(), "test", "tolerances.json"), "utf8")) as Record<
  string,
  number
>;

export function tolerance(key: ToleranceKey): number {
  const value = table[key];
  if (typeof value !== "number") throw new Error(`test/tolerances.json has no number for ${key}`);
  return value;
}

/**
 * max|a - b| / max(max|b|, floor): the error relative to the reference tensor's scale. The floor keeps tensors
 * whose true value is zero (the key bias gradient: softmax ignores a per-row constant) from comparing rounding
 * noise against rounding noise.
 */
export function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>, floor = 1e-30): number {
  if (actual.length !== expected.length) return Infinity;
  let diff = 0;
  let scale = floor;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i] as number;
    const b = expected[i] as number;
    if (!Number.isFinite(a)) return Infinity;
    diff = Math.max(diff, Math.abs(a - b));
    scale = Math.max(scale, Math.abs(b));
  }
  return diff / scale;
}

/** The largest magnitude over a set of tensors. */
export function largestMagnitude(tensors: Iterable<ArrayLike<number>>): number {
  let m = 0;
  for (const t of tensors) for (let i = 0; i < t.length; i++) m = Math.max(m, Math.abs(t[i] as number));
  return m;
}

/**
 * relativeError over the elements not in `unsettled` (flat indices: the golden file's elements whose final value
 * fp32 cannot pin down), and the largest absolute difference over those (Infinity where one is not finite).
 */
export function settledError(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  unsettled: readonly number[],
): { settled: number; unsettled: number } {
  const copy = Float64Array.from(actual);
  let worst = 0;
  for (const i of unsettled) {
    const a = copy[i] as number;
    worst = Math.max(worst, Number.isFinite(a) ? Math.abs(a - (expected[i] as number)) : Infinity);
    copy[i] = expected[i] as number;
  }
  return { settled: relativeError(copy, expected), unsettled: worst };
}
