// The engine against PyTorch: golden files from scripts/make_golden.py (tiny awkward sizes, Pre-LN and Post-LN,
// kept and dropped layers, all heads). Losses and every parameter gradient, fp32 and bf16.
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { tensorFloat32 } from "../../lib/formats/safetensors.js";
import type { Precision } from "../../lib/native/engine.js";
import { reportSkipped, testBackends } from "../helpers/backends.js";
import { engineFor, GOLDEN_CASES, goldenScalar, loadGolden } from "../helpers/golden.js";
import { largestMagnitude, relativeError, tolerance } from "../helpers/tolerances.js";

function relative(a: number, b: number): number {
  return Math.abs(a - b) / Math.max(Math.abs(b), 1e-30);
}

/**
 * The tolerance of each output a golden file checks: in bf16 the NSP loss (two logits from the pooled [CLS]) errs
 * ten times more than the total and MLM losses, and the class logits more than the losses, so each has its own.
 */
function lossTolerance(precision: Precision, key: string): number {
  if (key === "class_logits")
    return tolerance(precision === "fp32" ? "golden_fp32_logits_rel" : "golden_bf16_logits_rel");
  if (precision === "fp32") return tolerance("golden_fp32_loss_rel");
  return tolerance(key === "nsp_loss" ? "golden_bf16_nsp_loss_rel" : "golden_bf16_loss_rel");
}

for (const backend of testBackends())
  for (const precision of ["fp32", "bf16"] as Precision[]) {
    const gradTol = tolerance(precision === "fp32" ? "golden_fp32_grad_rel" : "golden_bf16_grad_rel");
    const floorOfLargest = tolerance(
      precision === "fp32" ? "golden_fp32_grad_floor_of_largest" : "golden_bf16_grad_floor_of_largest",
    );
    describe(`parity with PyTorch (${precision}, ${backend.device})`, () => {
      for (const name of GOLDEN_CASES) {
        it(name, { skip: backend.skip }, async (t) => {
          const golden = loadGolden(name);
          const engine = engineFor(golden, precision, "fast", backend.device);
          assert.deepEqual(
            engine
              .paramInfos()
              .map((p) => p.name)
              .sort(),
            [...golden.paramNames].sort(),
            "the engine's parameter names are the reference model's",
          );
          const result = await engine.run(golden.batch, golden.gates, golden.pass);
          const losses: [string, number][] =
            golden.config.num_labels === 0
              ? [
                  ["loss", result.loss],
                  ["mlm_loss", result.mlmLoss],
                  ["nsp_loss", result.nspLoss],
                ]
              : [
                  ["loss", result.loss],
                  ["classification_loss", result.classificationLoss],
                ];
          for (const [key, value] of losses) {
            const err = relative(value, goldenScalar(golden, key));
            const tol = lossTolerance(precision, key);
            t.diagnostic(`${key}: relative error ${err.toExponential(2)} (tolerance ${tol})`);
            assert.ok(
              err <= tol,
              `${key}: ${value} vs ${goldenScalar(golden, key)} (relative error ${err.toExponential(2)} > ${tol})`,
            );
          }
          if (golden.config.num_labels > 0) {
            const err = relativeError(result.classLogits, tensorFloat32(golden.file, "output/class_logits"));
            const tol = lossTolerance(precision, "class_logits");
            t.diagnostic(`class logits: relative error ${err.toExponential(2)} (tolerance ${tol})`);
            assert.ok(err <= tol, `class logits: relative error ${err.toExponential(2)} > ${tol}`);
          }
          const expected = new Map(golden.paramNames.map((p) => [p, tensorFloat32(golden.file, `grad/${p}`)]));
          const floor = floorOfLargest * largestMagnitude(expected.values());
          const worst: string[] = [];
          let largest = 0;
          for (const param of golden.paramNames) {
            const err = relativeError(engine.getGrad(param), expected.get(param) ?? new Float32Array(), floor);
            largest = Math.max(largest, err);
            if (!(err <= gradTol)) worst.push(`${param}: ${err.toExponential(2)}`);
          }
          t.diagnostic(`worst gradient: relative error ${largest.toExponential(2)} (tolerance ${gradTol})`);
          assert.deepEqual(worst, [], `gradients beyond ${gradTol} relative`);
        });
      }
    });
    reportSkipped(backend, GOLDEN_CASES.length);
  }

describe("dropped layers", () => {
  it("have exactly zero gradients and leave the others as PyTorch computes them", async () => {
    const golden = loadGolden("preln_pretrain_layer1_dropped");
    const engine = engineFor(golden, "fp32");
    await engine.run(golden.batch, golden.gates, golden.pass);
    const dropped = golden.paramNames.filter((n) => n.startsWith("bert.encoder.layer.1."));
    assert.ok(dropped.length > 0);
    for (const name of dropped)
      assert.ok(
        engine.getGrad(name).every((g) => g === 0),
        `${name} has a non-zero gradient`,
      );
  });
});

describe("reference kernels", () => {
  for (const name of GOLDEN_CASES)
    it(`give the fast kernels' gradients: ${name}`, async (t) => {
      const golden = loadGolden(name);
      const fast = engineFor(golden, "fp32", "fast");
      const reference = engineFor(golden, "fp32", "reference");
      await fast.run(golden.batch, golden.gates, golden.pass);
      await reference.run(golden.batch, golden.gates, golden.pass);
      const tol = tolerance("fast_vs_reference_engine_grad_rel");
      const floor =
        tolerance("golden_fp32_grad_floor_of_largest") *
        largestMagnitude(golden.paramNames.map((n) => reference.getGrad(n)));
      let largest = 0;
      for (const n of golden.paramNames) {
        const err = relativeError(fast.getGrad(n), reference.getGrad(n), floor);
        largest = Math.max(largest, err);
        assert.ok(err <= tol, `${n}: ${err.toExponential(2)} > ${tol}`);
      }
      t.diagnostic(`worst gradient: relative error ${largest.toExponential(2)} (tolerance ${tol})`);
    });
});
