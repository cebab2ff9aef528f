// The engine's training step beyond parity: accumulation equivalence, and fp16 with the dynamic loss scaler
// recovering from an overflow.
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import {
  allLayersKept,
  createEngine,
  type Batch,
  type ModelConfig,
  type NativeEngine,
  type OptimizerSettings,
} from "../../lib/native/engine.js";
import { DEFAULT_ADAMW } from "../../lib/config/optimizer.js";
import { LossScaler } from "../../lib/train/loss-scaler.js";
import { LossScaleStuckError, trainStep } from "../../lib/train/train-step.js";
import { relativeError, tolerance } from "../helpers/tolerances.js";

const config: Partial<ModelConfig> = {
  vocab_size: 97,
  hidden_size: 32,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  intermediate_size: 48,
  max_position_embeddings: 16,
  hidden_dropout_prob: 0,
  attention_probs_dropout_prob: 0,
};
const MASKED_PER_SEQUENCE = 3;
const T = 12;

const adamw: OptimizerSettings = DEFAULT_ADAMW;

/** Sequences first..first+count of a fixed pseudo-random set; every sequence has the same number of masks. */
function sequences(first: number, count: number): Batch {
  const ids = new Int32Array(count * T);
  const positions: number[] = [];
  const labels: number[] = [];
  for (let s = 0; s < count; s++) {
    for (let t = 0; t < T; t++) ids[s * T + t] = (((first + s) * 31 + t * 17 + (((first + s) * t) % 7)) % 96) + 1;
    for (let m = 0; m < MASKED_PER_SEQUENCE; m++) {
      positions.push(s * T + 1 + m * 3);
      labels.push(((first + s) * 13 + m * 5) % 97);
    }
  }
  return {
    batchSize: count,
    seqLen: T,
    inputIds: ids,
    segmentIds: Int32Array.from({ length: count * T }, (_, i) => (i % T >= T / 2 ? 1 : 0)),
    inputMask: new Int32Array(count * T).fill(1),
    numMasked: positions.length,
    maskedPositions: Int32Array.from(positions),
    maskedLabels: Int32Array.from(labels),
    nextSentenceLabels: Int32Array.from({ length: count }, (_, s) => (first + s) % 2),
  };
}

function snapshot(engine: NativeEngine): Map<string, Float32Array> {
  return new Map(engine.paramInfos().map((p) => [p.name, engine.getParam(p.name)]));
}

describe("gradient accumulation", () => {
  it("4 micro-batches of 8 give the update of one batch of 32", async (t) => {
    const whole = createEngine({ config, seed: 3 });
    const accumulated = createEngine({ config, seed: 3 });
    const gates = allLayersKept(2);
    for (let step = 1; step <= 3; step++) {
      await whole.run(sequences(step * 32, 32), gates, { train: false });
      for (let micro = 0; micro < 4; micro++)
        await accumulated.run(sequences(step * 32 + micro * 8, 8), gates, { train: false, gradScale: 1 / 4 });
      const gradTol = tolerance("accumulation_fp32_grad_rel");
      let worst = 0;
      for (const p of whole.paramInfos()) {
        const err = relativeError(accumulated.getGrad(p.name), whole.getGrad(p.name));
        worst = Math.max(worst, err);
        assert.ok(err <= gradTol, `step ${step}, gradient of ${p.name}: ${err.toExponential(2)}`);
      }
      t.diagnostic(`step ${step}: worst gradient ${worst.toExponential(2)} (tolerance ${gradTol})`);
      const settings = { lr: 1e-3, stepNumber: step, lossScale: 1, maxGradNorm: 1 };
      const a = await whole.step(adamw, settings);
      const b = await accumulated.step(adamw, settings);
      const normErr = Math.abs(a.gradNorm - b.gradNorm) / a.gradNorm;
      assert.ok(normErr <= gradTol, `grad norms ${a.gradNorm} vs ${b.gradNorm}: ${normErr.toExponential(2)}`);
    }
    // Adam normalises each element by its own history, which magnifies the gradients' last-bit differences in
    // elements with tiny gradients: the weights compare at the training-curve tolerance
    const tol = tolerance("training_curve_fp32_weight_rel");
    const w = snapshot(whole);
    for (const [name, values] of snapshot(accumulated)) {
      const err = relativeError(values, w.get(name) ?? new Float32Array());
      assert.ok(err <= tol, `${name}: ${err.toExponential(2)}`);
    }
  });
});

describe("fp16 with dynamic loss scaling", () => {
  it("skips the overflowing steps, lowers the scale and then trains", async () => {
    const engine = createEngine({ config, seed: 5, precision: "fp16" });
    // an injected overflow: a scale so large that the scaled gradients exceed fp16's 65504
    const scaler = new LossScaler({ initialScalePower: 40, hysteresis: 1, lossScaleWindow: 1000 });
    const gates = allLayersKept(2);
    const probe = "bert.encoder.layer.0.attention.self.query.weight";
    let applied = 0;
    const history: { overflow: boolean; scale: number }[] = [];
    for (let step = 0; step < 40 && applied < 5; step++) {
      const before = engine.getParam(probe);
      await engine.run(sequences(step * 8, 8), gates, { train: false, gradScale: scaler.scale });
      const outcome = await engine.step(adamw, {
        lr: 1e-3,
        stepNumber: applied + 1,
        lossScale: scaler.scale,
        maxGradNorm: 1,
      });
      const update = scaler.update(outcome.overflow);
      assert.equal(update.stuck, false);
      history.push({ overflow: outcome.overflow, scale: update.previousScale });
      const changed = relativeError(engine.getParam(probe), before) > 0;
      assert.equal(
        changed,
        !outcome.overflow,
        `step ${step}: weights ${changed ? "changed" : "unchanged"} with overflow ${outcome.overflow}`,
      );
      if (!outcome.overflow) applied++;
    }
    assert.equal(history[0]?.overflow, true, "the first step overflows at scale 2^40");
    assert.equal(applied, 5, `no recovery: ${JSON.stringify(history)}`);
    assert.ok(scaler.scale < Math.pow(2, 40));
    assert.ok(scaler.scale >= 1);
  });
});

describe("trainStep", () => {
  it("averages the micro-batch losses and reports norm, skip and scale", async () => {
    const engine = createEngine({ config, seed: 11 });
    const gates = allLayersKept(2);
    const micro = [0, 1].map((i) => ({ batch: sequences(i * 4, 4), gates, dropoutStream: i }));
    // a twin with the same weights runs the same micro-batches by hand: their mean loss, and the norm of the
    // gradient their halves accumulate, are what trainStep must report
    const twin = createEngine({ config, seed: 11 });
    let expectedLoss = 0;
    for (const m of micro) {
      const pass = await twin.run(m.batch, gates, { train: true, gradScale: 0.5, dropoutStream: m.dropoutStream });
      expectedLoss += pass.loss / 2;
    }
    let squares = 0;
    for (const p of twin.paramInfos()) {
      const tensorNorm = Math.fround(Math.sqrt(twin.getGrad(p.name).reduce((s, g) => s + g * g, 0)));
      squares += tensorNorm * tensorNorm;
    }
    const expectedNorm = Math.sqrt(squares);
    const r = await trainStep(engine, micro, { optimizer: adamw, lr: 1e-3, stepNumber: 1, maxGradNorm: 1 });
    assert.ok(
      Math.abs(r.loss - expectedLoss) <= 1e-12 * expectedLoss,
      `loss ${r.loss}, mean of passes ${expectedLoss}`,
    );
    assert.ok(
      Math.abs(r.gradNorm - expectedNorm) <= tolerance("accumulation_fp32_grad_rel") * expectedNorm,
      `grad norm ${r.gradNorm}, of the accumulated gradients ${expectedNorm}`,
    );
    assert.equal(r.skipped, false);
    assert.equal(r.lossScale, 1);
  });
  it("stops a fp16 run whose every step overflows at the minimum scale, with a message", async () => {
    const engine = createEngine({ config, seed: 13, precision: "fp16" });
    // weights so large that the first GEMM overflows fp16 whatever the loss scale
    const name = "bert.encoder.layer.0.attention.self.query.weight";
    const huge = Float32Array.from(engine.getParam(name), (_, i) => (i % 2 === 0 ? 3e4 : -3e4) * (1 + (i % 7) / 7));
    engine.setParam(name, huge);
    const scaler = new LossScaler({
      initialScalePower: 2,
      hysteresis: 1,
      minLossScale: 1,
      maxConsecutiveOverflowsAtMin: 3,
    });
    const gates = allLayersKept(2);
    let steps = 0;
    await assert.rejects(
      async () => {
        for (; steps < 20; steps++) {
          const r = await trainStep(engine, [{ batch: sequences(steps * 4, 4), gates, dropoutStream: steps }], {
            optimizer: adamw,
            lr: 1e-3,
            stepNumber: 1,
            maxGradNorm: 1,
            scaler,
          });
          assert.equal(r.skipped, true);
        }
      },
      (err: unknown) =>
        err instanceof LossScaleStuckError &&
        /every step overflows even at the minimum loss scale \(1\)/.test(err.message),
    );
    // scale 4 -> 2 -> 1, then three overflows at the minimum
    assert.equal(steps, 4);
  });
});

describe("bf16 training step", () => {
  it("refreshes the bf16 weight copies after the update", async () => {
    const engine = createEngine({ config, seed: 17, precision: "bf16" });
    const gates = allLayersKept(2);
    await engine.run(sequences(0, 8), gates, { train: false });
    await engine.step(adamw, { lr: 5e-2, stepNumber: 1, lossScale: 1, maxGradNorm: 0 });
    // a fresh bf16 engine loaded with the updated fp32 weights converts them itself
    const fresh = createEngine({ config, seed: 99, precision: "bf16" });
    for (const p of engine.paramInfos()) fresh.setParam(p.name, engine.getParam(p.name));
    const probe = sequences(100, 8);
    const a = await engine.run(probe, gates, { train: false, backward: false });
    const b = await fresh.run(probe, gates, { train: false, backward: false });
    assert.equal(a.loss, b.loss);
  });
});
