// The LR schedules and the PLD schedule against their formulas (docs/training-semantics.md), at chosen steps.
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import {
  bingBertLearningRate,
  scheduleStep,
  warmupLinear,
  type BingBertSchedule,
} from "../../lib/train/lr-schedule.js";
import { expectedKeptFraction, layerKeep, thetaAt, thetaForStep } from "../../lib/train/pld.js";

const close = (a: number, b: number, rel = 1e-12) =>
  assert.ok(Math.abs(a - b) <= rel * Math.max(1, Math.abs(b)), `${a} vs ${b}`);

// bert_base_large_lr.json's seq-128 block, as the PLD recipe uses it
const base: BingBertSchedule = {
  schedule: "LE",
  learningRate: 1e-3,
  warmupProportion: 0.02,
  decayRate: 0.99,
  decayStep: 1000,
  totalTrainingSteps: 200000,
  lrOffset: 0,
};

describe("bing_bert learning-rate schedules", () => {
  it("LE: linear warm-up, then exponential decay", () => {
    close(bingBertLearningRate(base, 0), 0);
    close(bingBertLearningRate(base, 2000), 1e-3 * (2000 / 200000 / 0.02));
    close(bingBertLearningRate(base, 4000), 1e-3); // warm-up ends at W = 4000: 0.99^0
    close(bingBertLearningRate(base, 14000), 1e-3 * Math.pow(0.99, 10));
  });
  it("EE: quadratic warm-up, then exponential decay", () => {
    const ee = { ...base, schedule: "EE" as const };
    close(bingBertLearningRate(ee, 2000), 1e-3 * 0.25);
    close(bingBertLearningRate(ee, 5000), 1e-3 * Math.pow(0.99, 1));
  });
  it("EP: warm-up to the power 1.5, then (1 - x)^2", () => {
    const ep = { ...base, schedule: "EP" as const };
    close(bingBertLearningRate(ep, 1000), 1e-3 * Math.pow(0.25, 1.5));
    close(bingBertLearningRate(ep, 100000), 1e-3 * 0.25);
    close(bingBertLearningRate(ep, 200000), 0);
  });
  it("lr_offset is added after the factor", () => {
    close(bingBertLearningRate({ ...base, lrOffset: 1e-5 }, 0), 1e-5);
  });
  it("re-warm-up restarts the schedule at the resumed step", () => {
    assert.equal(scheduleStep(150000, 150000, true), 0);
    assert.equal(scheduleStep(150010, 150000, true), 10);
    assert.equal(scheduleStep(150010, 150000, false), 150010);
  });
  it("GLUE warmup_linear", () => {
    close(warmupLinear(0.05, 0.1), 0.5);
    close(warmupLinear(0.1, 0.1), 1);
    close(warmupLinear(0.55, 0.1), 0.5);
    close(warmupLinear(1, 0.1), 0);
    close(warmupLinear(1.2, 0.1), 0);
  });
});

describe("PLD theta schedule", () => {
  const c = { theta: 0.5, gamma: 0.001 };
  it("θ(t) = (1 - θ̄) exp(-γ t) + θ̄ at steps 0, 1, 1000, 3000, 5000", () => {
    close(thetaAt(c, 0), 1);
    close(thetaAt(c, 1), 0.5 * Math.exp(-0.001) + 0.5);
    close(thetaAt(c, 1000), 0.5 * Math.exp(-1) + 0.5);
    close(thetaAt(c, 3000), 0.5 * Math.exp(-3) + 0.5);
    close(thetaAt(c, 5000), 0.5 * Math.exp(-5) + 0.5);
  });
  it("DeepSpeed's timing: step 0 runs at θ = 1, step k at θ(k - 1)", () => {
    assert.equal(thetaForStep(c, 0), 1);
    close(thetaForStep(c, 1), thetaAt(c, 0));
    close(thetaForStep(c, 1001), thetaAt(c, 1000));
  });
  it("keep probabilities and scales, paper and DeepSpeed modes", () => {
    close(layerKeep("paper", 12, 12, 0.5).keep, 0.5);
    close(layerKeep("paper", 6, 12, 0.5).keep, 0.75);
    close(layerKeep("paper", 6, 12, 0.5).scale, 1 / 0.75);
    close(layerKeep("deepspeed", 1, 12, 0.5).keep, 1);
    close(layerKeep("deepspeed", 1, 12, 0.5).scale, 1 / (1 - 0.5 / 12));
    close(layerKeep("deepspeed", 12, 12, 0.5).keep, 1 - (11 * 0.5) / 12);
    close(layerKeep("deepspeed", 12, 12, 0.5).scale, 2);
  });
  it("expected kept fraction for 12 layers at θ = 0.5 is 72.9%", () => {
    close(expectedKeptFraction("paper", 12, 0.5), 1 - (0.5 * 13) / 24);
    assert.equal(expectedKeptFraction("paper", 12, 0.5).toFixed(3), "0.729");
  });
});
