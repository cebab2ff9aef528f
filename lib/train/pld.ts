// Progressive Layer Dropping: the temporal schedule θ(t), the per-layer keep probabilities and
// residual scales, and the gate sampler.

import type { LayerGates } from "../native/types.js";
import { counterUniform } from "../data/counter-rng.js";

export interface PldConfig {
  /** θ̄, the value θ decays to (`theta`, recommended 0.5). */
  theta: number;
  /** γ, the decay rate (`gamma`, recommended 0.001). */
  gamma: number;
  /** "paper" (default) or DeepSpeed's bug-compatible "deepspeed" sampling. */
  sampling: "paper" | "deepspeed";
  /**
   * "micro_batch" (default): every micro-batch of a step draws its own gates, as DeepSpeed's switchable layer
   * draws at every forward call; "step": one draw serves all the micro-batches of a step, on every rank.
   */
  gate_scope?: "micro_batch" | "step";
}

/** θ(t) = (1 − θ̄)·exp(−γ·t) + θ̄ */
export function thetaAt(c: Pick<PldConfig, "theta" | "gamma">, t: number): number {
  return (1 - c.theta) * Math.exp(-c.gamma * t) + c.theta;
}

/**
 * θ used by the forward passes of optimizer step k (counted from 0, skipped steps included), with DeepSpeed's
 * timing: step 0 runs with θ = 1, step k ≥ 1 with θ(k − 1). All micro-batches of one step share it.
 */
export function thetaForStep(c: Pick<PldConfig, "theta" | "gamma">, k: number): number {
  return k === 0 ? 1 : thetaAt(c, k - 1);
}

/** Keep probability and residual scale of layer l (1-based) of L at θ. */
export function layerKeep(
  mode: PldConfig["sampling"],
  l: number,
  L: number,
  theta: number,
): { keep: number; scale: number } {
  if (mode === "paper") {
    const p = 1 - (l / L) * (1 - theta);
    return { keep: p, scale: 1 / p };
  }
  // DeepSpeed's loop draws layer l with the probability before its decrement and scales with the one after.
  return { keep: 1 - ((l - 1) * (1 - theta)) / L, scale: 1 / (1 - (l * (1 - theta)) / L) };
}

/**
 * The gates of micro-batch `microBatch` (its index in the global batch of the step: m·ranks + rank) of optimizer
 * step `step`: one Bernoulli draw per layer from (seed, step, micro-batch, layer) only, so a resumed run draws the
 * same and N ranks accumulating a draw what one rank accumulating N·a draws. With gate_scope "step" every
 * micro-batch takes micro-batch 0's draw.
 */
export function sampleGates(
  c: PldConfig,
  numLayers: number,
  theta: number,
  seed: number,
  step: number,
  microBatch = 0,
): LayerGates {
  const draw = c.gate_scope === "step" ? 0 : microBatch;
  const gates: LayerGates = { keep: [], scale: [] };
  for (let l = 1; l <= numLayers; l++) {
    const { keep, scale } = layerKeep(c.sampling, l, numLayers, theta);
    const kept = counterUniform(seed, step, draw, l) < keep;
    gates.keep.push(kept);
    gates.scale.push(kept ? scale : 1);
  }
  return gates;
}

/** The expected fraction of layer work kept at θ (paper mode: 72.9% for 12 layers at θ = 0.5). */
export function expectedKeptFraction(mode: PldConfig["sampling"], numLayers: number, theta: number): number {
  let sum = 0;
  for (let l = 1; l <= numLayers; l++) sum += layerKeep(mode, l, numLayers, theta).keep;
  return sum / numLayers;
}
