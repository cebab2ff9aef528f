// The loss scaler's state machine with DeepSpeed's semantics (hysteresis, window, floor), and the stuck-run
// verdict that DeepSpeed lacks.
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { LossScaler } from "../../lib/train/loss-scaler.js";

describe("dynamic loss scaler", () => {
  it("starts at 2^initial_scale_power and doubles after a clean window", () => {
    const s = new LossScaler({ initialScalePower: 8, lossScaleWindow: 3, hysteresis: 1 });
    assert.equal(s.scale, 256);
    // DeepSpeed counts (iteration - last_overflow) % window with last_overflow = -1: growth at iterations 2, 5, ...
    const scales = [1, 2, 3, 4, 5, 6].map(() => s.update(false).scale);
    assert.deepEqual(scales, [256, 256, 512, 512, 512, 1024]);
  });
  it("halves and skips on overflow, with hysteresis absorbing the first ones", () => {
    const s = new LossScaler({ initialScalePower: 10, lossScaleWindow: 1000, hysteresis: 2 });
    let u = s.update(true);
    assert.deepEqual([u.skipped, u.scale], [true, 1024]); // absorbed by hysteresis
    u = s.update(true);
    assert.deepEqual([u.skipped, u.previousScale, u.scale], [true, 1024, 512]);
    u = s.update(true);
    assert.equal(u.scale, 256); // hysteresis stays spent until the next growth
    u = s.update(false);
    assert.deepEqual([u.skipped, u.scale], [false, 256]);
  });
  it("restores hysteresis when the scale grows again", () => {
    const s = new LossScaler({ initialScalePower: 4, lossScaleWindow: 2, hysteresis: 2 });
    s.update(true); // absorbed
    s.update(true); // 16 -> 8
    s.update(false); // iteration 2, last overflow 1: (2-1) % 2 = 1, no growth
    assert.equal(s.update(false).scale, 16); // (3-1) % 2 = 0: grows, hysteresis back to 2
    assert.equal(s.update(true).scale, 16); // absorbed again
  });
  it("with consecutive_hysteresis, any clean step restores the hysteresis", () => {
    const s = new LossScaler({
      initialScalePower: 4,
      lossScaleWindow: 1000,
      hysteresis: 2,
      consecutiveHysteresis: true,
    });
    s.update(true); // absorbed
    s.update(false); // restores
    assert.equal(s.update(true).scale, 16); // absorbed again
    assert.equal(s.update(true).scale, 8);
  });
  it("never goes below min_loss_scale", () => {
    const s = new LossScaler({ initialScalePower: 2, hysteresis: 1, minLossScale: 1 });
    const scales = [1, 2, 3, 4].map(() => s.update(true).scale);
    assert.deepEqual(scales, [2, 1, 1, 1]);
  });
  it("declares a run stuck when every step overflows at the minimum scale", () => {
    const s = new LossScaler({ initialScalePower: 1, hysteresis: 1, minLossScale: 1, maxConsecutiveOverflowsAtMin: 3 });
    const verdicts = [1, 2, 3, 4].map(() => s.update(true).stuck);
    // step 1 halves 2 -> 1; steps 2, 3, 4 overflow at the minimum: the third of them is the verdict
    assert.deepEqual(verdicts, [false, false, false, true]);
  });
  it("a clean step resets the stuck count", () => {
    const s = new LossScaler({ initialScalePower: 0, hysteresis: 1, minLossScale: 1, maxConsecutiveOverflowsAtMin: 2 });
    assert.equal(s.update(true).stuck, false);
    s.update(false);
    assert.equal(s.update(true).stuck, false);
  });
  it("a static scale never changes but still skips overflowing steps", () => {
    const s = new LossScaler({ lossScale: 128 });
    assert.equal(s.dynamic, false);
    assert.deepEqual(s.update(true), { skipped: true, previousScale: 128, scale: 128, stuck: false });
    assert.equal(s.update(false).scale, 128);
  });
  it("its state round-trips for checkpoints", () => {
    const s = new LossScaler({ initialScalePower: 5, lossScaleWindow: 2 });
    s.update(true);
    s.update(false);
    const copy = new LossScaler(s.config, s.state());
    assert.deepEqual(copy.update(false), s.update(false));
  });
});
