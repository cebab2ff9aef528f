// DeepSpeed's scheduler block: the rates of WarmupLR, WarmupDecayLR and WarmupCosineLR step by step, computed
// here from DeepSpeed's definitions (its scheduler is stepped after each optimizer step, from iteration -1), and
// the problems of a bad block named by key.
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { ConfigError } from "../../lib/config/errors.js";
import { resolveScheduler, schedulerLearningRate } from "../../lib/config/scheduler.js";

const rates = (block: unknown, lr: number, steps: number) => {
  const s = resolveScheduler(block, "ds.json");
  return Array.from({ length: steps }, (_, step) => schedulerLearningRate(s, lr, step));
};

const close = (a: number[], b: number[]) =>
  a.forEach((x, i) =>
    assert.ok(Math.abs(x - (b[i] as number)) <= 1e-12 * Math.max(1, Math.abs(x)), `step ${i}: ${x} vs ${b[i]}`),
  );

describe("DeepSpeed scheduler block", () => {
  it("WarmupLR, linear: min for the first two steps, then (i / N) of the way to max, then max", () => {
    const r = rates(
      {
        type: "WarmupLR",
        params: { warmup_min_lr: 0.001, warmup_max_lr: 0.011, warmup_num_steps: 4, warmup_type: "linear" },
      },
      1,
      8,
    );
    close(r, [0.001, 0.001, 0.0035, 0.006, 0.0085, 0.011, 0.011, 0.011]);
  });
  it("WarmupLR, log (the default): ln(i + 1) / ln(N); warmup_max_lr defaults to the optimizer's lr", () => {
    const r = rates({ type: "WarmupLR", params: { warmup_num_steps: 10 } }, 0.5, 12);
    close(
      r,
      [-1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((i) =>
        i < 0 ? 0 : i < 10 ? (0.5 * Math.log(i + 1)) / Math.log(10) : 0.5,
      ),
    );
  });
  it("WarmupDecayLR: the warm-up, then linear decay to 0 at total_num_steps", () => {
    const r = rates(
      {
        type: "WarmupDecayLR",
        params: { total_num_steps: 10, warmup_max_lr: 1, warmup_num_steps: 2, warmup_type: "linear" },
      },
      0.1,
      13,
    );
    // iterations -1..11: min, 0, 1/2, then (10 - i) / 8 from i = 2, never below 0
    close(r, [0, 0, 0.5, 1, 7 / 8, 6 / 8, 5 / 8, 4 / 8, 3 / 8, 2 / 8, 1 / 8, 0, 0]);
  });
  it("WarmupCosineLR: a ratio of the optimizer's lr, cosine from 1 to cos_min_ratio", () => {
    const r = rates(
      {
        type: "WarmupCosineLR",
        params: { total_num_steps: 6, warmup_num_steps: 2, warmup_type: "linear", cos_min_ratio: 0.1 },
      },
      2,
      7,
    );
    const cos = (k: number) => 2 * (0.1 + 0.9 * ((1 + Math.cos((Math.PI * k) / 4)) / 2));
    close(r, [0, 0, 1, cos(1), cos(2), cos(3), cos(4)]);
  });
  it("problems name the key; an unsupported type names the supported ones", () => {
    const problems = (block: unknown) => {
      try {
        resolveScheduler(block, "ds.json");
      } catch (err) {
        assert.ok(err instanceof ConfigError);
        return err.problems.join("\n");
      }
      assert.fail("no error");
    };
    assert.match(
      problems({ type: "OneCycle", params: {} }),
      /scheduler\.type: "OneCycle" is not supported here; use WarmupLR, WarmupDecayLR, WarmupCosineLR/,
    );
    assert.match(problems({ type: "WarmupDecayLR", params: { warmup_num_steps: 10 } }), /scheduler\.params/);
    assert.match(problems({ type: "WarmupLR", params: { warmup_steps: 10 } }), /scheduler\.params.*warmup_steps/);
  });
});
