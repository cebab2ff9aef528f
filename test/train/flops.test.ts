// The compute accounting: a step's FLOPs counted by hand for a small model, PLD's kept fraction scaling the
// encoder only, the classifier head, and the measured peak (a number, or undefined where the CPU lacks the
// instruction; for bf16 the fp32 FMA peak where it has no bf16 instruction; never a timing threshold).
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { loadNative } from "../../lib/native/load.js";
import { bf16RunsInFp32, ComputeMeter, measurePeak, trainingFlops } from "../../lib/train/flops.js";

const model = { hidden_size: 4, intermediate_size: 8, num_hidden_layers: 2, vocab_size: 10 };

describe("compute accounting", () => {
  it("counts a step's matrix-multiply FLOPs as the formula gives them, by hand", () => {
    // per layer and sequence of 3: 2·(4·16 + 2·4·8)·3 + 4·9·4 = 2·128·3 + 144 = 912
    // pooler + NSP: 2·16 + 2·4·2 = 48; MLM per masked token: 2·16 + 2·4·10 = 112
    const forward = 2 * (2 * 912 + 48) + 5 * 112;
    assert.equal(trainingFlops(model, { sequences: 2, seq: 3, maskedTokens: 5, keptFraction: 1 }), 3 * forward);
    // half the layers kept: only the encoder's share halves
    const half = 2 * (912 + 48) + 5 * 112;
    assert.equal(trainingFlops(model, { sequences: 2, seq: 3, maskedTokens: 5, keptFraction: 0.5 }), 3 * half);
    // a 3-way classifier instead of the pre-training heads: 2·16 + 2·4·3 = 56 per sequence
    assert.equal(
      trainingFlops(model, { sequences: 1, seq: 3, maskedTokens: 0, keptFraction: 1, numLabels: 3 }),
      3 * (2 * 912 + 56),
    );
  });
  it("reports executed and dense FLOPs per step, and utilisation only against a measured peak", () => {
    const meter = ComputeMeter.start(model, "fp32", 1, { isRoot: true, size: 1 });
    const fields = meter.step({ sequences: 2, seq: 3, maskedTokens: 5, keptFraction: 0.5 }, 1);
    assert.equal(fields.model_flops, 3 * (2 * (912 + 48) + 5 * 112));
    assert.equal(fields.dense_flops, 3 * (2 * (2 * 912 + 48) + 5 * 112));
    if (meter.peak === undefined) assert.equal(fields.utilisation, undefined);
    else assert.equal(fields.utilisation, fields.model_flops / 1e-3 / (meter.peak.gflops * 1e9));
    const other = ComputeMeter.start(model, "fp32", 1, { isRoot: false, size: 2 });
    assert.equal(other.peak, undefined, "only rank 0 measures");
  });
  it("the measured peak is a positive number or, without the instruction, undefined", () => {
    for (const precision of ["fp32", "bf16"] as const) {
      const peak = measurePeak(precision, 1, 0.05);
      assert.ok(
        peak === undefined || (Number.isFinite(peak.gflops) && peak.gflops > 0),
        `${precision}: ${peak?.gflops}`,
      );
    }
    // each instruction on its own: a number, 0 where the CPU or the kernel does not provide it
    for (const kind of ["fp32", "bf16", "bf16_amx"] as const) {
      const gflops = loadNative().measurePeakGflops(kind, 1, 0.02);
      assert.ok(Number.isFinite(gflops) && gflops >= 0, `${kind}: ${gflops}`);
    }
    assert.throws(
      () => loadNative().measurePeakGflops("fp64" as "fp32", 1, 0.01),
      (e: unknown) => (e as { code?: string }).code === "ERR_INVALID_ARGUMENT",
    );
  });
  it("bf16 on a CPU without a bf16 instruction is measured against the fp32 FMA peak, and the run is warned", () => {
    const native = loadNative();
    const hasBf16 = native.measurePeakGflops("bf16", 1, 0.02) > 0 || native.measurePeakGflops("bf16_amx", 1, 0.02) > 0;
    // a build without FMA (no -march=native) has no fp32 peak loop either: then no peak at all
    const hasFma = native.measurePeakGflops("fp32", 1, 0.02) > 0;
    const peak = measurePeak("bf16", 1, 0.05);
    assert.equal(peak !== undefined, hasBf16 || hasFma, `bf16 instruction: ${hasBf16}, FMA: ${hasFma}`);
    if (peak !== undefined)
      assert.equal(peak.instruction === "fp32 FMA", !hasBf16, `${peak.instruction}, bf16 instruction: ${hasBf16}`);
    assert.equal(bf16RunsInFp32(peak), !hasBf16);
    const meter = ComputeMeter.start(model, "bf16", 1, { isRoot: true, size: 1 });
    assert.equal(meter.precisionWarning() !== undefined, !hasBf16);
    const fields = meter.step({ sequences: 2, seq: 3, maskedTokens: 5, keptFraction: 1 }, 1);
    if (peak !== undefined) assert.ok((fields.utilisation as number) > 0, `${fields.utilisation}`);
    assert.equal(ComputeMeter.start(model, "fp32", 1, { isRoot: true, size: 1 }).precisionWarning(), undefined);
  });
});
