// The gate sampler: over 100,000 draws per layer the keep frequencies are within 3σ of the keep probabilities, in
// both modes; draws depend only on (seed, step, micro-batch, layer). Per micro-batch (the default) the micro-batches
// of one step draw independently, each layer kept with its probability; with gate_scope "step" they share a draw.
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { layerKeep, sampleGates, type PldConfig } from "../../lib/train/pld.js";

for (const sampling of ["paper", "deepspeed"] as const) {
  describe(`gate sampler (${sampling} mode)`, () => {
    const c: PldConfig = { theta: 0.5, gamma: 0.001, sampling };
    const L = 12;
    const theta = 0.6;
    it("keep frequencies within 3 sigma over 100k draws", () => {
      const draws = 100_000;
      const kept = new Array<number>(L).fill(0);
      for (let i = 0; i < draws; i++) {
        const g = sampleGates(c, L, theta, 1234, i);
        for (let l = 0; l < L; l++) if (g.keep[l]) kept[l] = (kept[l] as number) + 1;
      }
      for (let l = 1; l <= L; l++) {
        const p = layerKeep(sampling, l, L, theta).keep;
        const sigma = Math.sqrt(draws * p * (1 - p));
        const got = kept[l - 1] as number;
        assert.ok(
          Math.abs(got - draws * p) <= 3 * Math.max(sigma, 1e-9),
          `layer ${l}: kept ${got}, expected ${draws * p} ± ${3 * sigma}`,
        );
      }
    });
    it("kept layers carry the mode's scale, dropped ones 1", () => {
      const g = sampleGates(c, L, theta, 99, 5);
      for (let l = 1; l <= L; l++) {
        const expected = g.keep[l - 1] ? layerKeep(sampling, l, L, theta).scale : 1;
        assert.equal(g.scale[l - 1], expected);
      }
    });
    it("the same coordinates give the same gates; others differ", () => {
      assert.deepEqual(sampleGates(c, L, 0.5, 7, 100), sampleGates(c, L, 0.5, 7, 100));
      const differ = [0, 1, 2, 3, 4, 5, 6, 7].some(
        (s) => JSON.stringify(sampleGates(c, L, 0.5, 7, 100 + s)) !== JSON.stringify(sampleGates(c, L, 0.5, 7, 100)),
      );
      assert.ok(differ);
    });
  });
}

for (const sampling of ["paper", "deepspeed"] as const)
  describe(`gates per micro-batch, accumulation 4 (${sampling} mode)`, () => {
    const L = 12;
    const theta = 0.6;
    const steps = 25_000;
    const A = 4;
    const gatesOfStep = (c: PldConfig, step: number) =>
      Array.from({ length: A }, (_, j) => sampleGates(c, L, theta, 42, step, j));
    it("each layer's keep frequency over all micro-batches within 3 sigma; a step's micro-batches differ", () => {
      const c: PldConfig = { theta: 0.5, gamma: 0.001, sampling };
      const kept = new Array<number>(L).fill(0);
      let stepsWithDifferentGates = 0;
      for (let step = 0; step < steps; step++) {
        const gates = gatesOfStep(c, step);
        for (const g of gates) for (let l = 0; l < L; l++) if (g.keep[l]) kept[l] = (kept[l] as number) + 1;
        if (gates.some((g) => JSON.stringify(g) !== JSON.stringify(gates[0]))) stepsWithDifferentGates++;
      }
      const draws = steps * A;
      for (let l = 1; l <= L; l++) {
        const p = layerKeep(sampling, l, L, theta).keep;
        const sigma = Math.sqrt(draws * p * (1 - p));
        const got = kept[l - 1] as number;
        assert.ok(
          Math.abs(got - draws * p) <= 3 * sigma,
          `layer ${l}: kept ${got}, expected ${draws * p} ± ${3 * sigma}`,
        );
      }
      // independent draws: 4 micro-batches share all 12 gates only rarely (P < 1% at these probabilities)
      assert.ok(
        stepsWithDifferentGates > 0.99 * steps,
        `${stepsWithDifferentGates} of ${steps} steps had differing gates`,
      );
    });
    it('gate_scope "step": one draw for all the micro-batches of a step, micro-batch 0\'s', () => {
      const c: PldConfig = { theta: 0.5, gamma: 0.001, sampling, gate_scope: "step" };
      for (let step = 0; step < 200; step++) {
        const gates = gatesOfStep(c, step);
        for (const g of gates) assert.deepEqual(g, gates[0]);
        assert.deepEqual(gates[0], sampleGates({ ...c, gate_scope: "micro_batch" }, L, theta, 42, step, 0));
      }
    });
  });
