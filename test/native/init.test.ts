// The initial weights: N(0, 0.02) for every weight matrix and embedding, N(0, 0.02/sqrt(2L)) for the two output
// projections of each layer (attention.output.dense, output.dense), LayerNorm weights 1 and every bias 0; drawn
// from the seed alone. Statistical bounds at 4σ of the sample mean and standard deviation.
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { createEngine } from "../../lib/native/engine.js";

const L = 6;
const config = {
  vocab_size: 1000,
  hidden_size: 64,
  num_hidden_layers: L,
  num_attention_heads: 4,
  intermediate_size: 256,
  max_position_embeddings: 128,
};

function isOutputProjection(name: string): boolean {
  return /\.attention\.output\.dense\.weight$/.test(name) || /\.layer\.\d+\.output\.dense\.weight$/.test(name);
}

describe("initial weights", () => {
  for (const preLn of [true, false])
    it(`follow BERT's initialisation (${preLn ? "Pre-LN" : "Post-LN"})`, (t) => {
      const engine = createEngine({ config: { ...config, pre_layer_norm: preLn }, seed: 5 });
      let projections = 0;
      for (const p of engine.paramInfos()) {
        const w = engine.getParam(p.name);
        if (p.noDecay) {
          const expected = p.name.includes("LayerNorm.weight") ? 1 : 0;
          assert.ok(
            w.every((v) => v === expected),
            `${p.name}: every element ${expected}`,
          );
          continue;
        }
        const sd = isOutputProjection(p.name) ? 0.02 / Math.sqrt(2 * L) : 0.02;
        if (isOutputProjection(p.name)) projections++;
        const n = w.length;
        const mean = w.reduce((s, v) => s + v, 0) / n;
        const std = Math.sqrt(w.reduce((s, v) => s + (v - mean) * (v - mean), 0) / n);
        assert.ok(Math.abs(mean) <= (4 * sd) / Math.sqrt(n), `${p.name}: mean ${mean} (sd ${sd}, n ${n})`);
        assert.ok(
          Math.abs(std / sd - 1) <= 4 / Math.sqrt(2 * n),
          `${p.name}: standard deviation ${std}, expected ${sd}`,
        );
        // normal, not merely scaled: about 4.55% of a normal sample lies beyond 2 sd
        const beyond = w.filter((v) => Math.abs(v) > 2 * sd).length / n;
        const p2 = 0.0455;
        assert.ok(Math.abs(beyond - p2) <= 4 * Math.sqrt((p2 * (1 - p2)) / n), `${p.name}: ${beyond} beyond 2 sd`);
      }
      assert.equal(projections, 2 * L, "two output projections per layer, at the scaled deviation");
      t.diagnostic(`checked ${engine.paramInfos().length} tensors`);
    });
  it("depend on the seed alone", () => {
    const name = "bert.encoder.layer.2.intermediate.dense_act.weight";
    const a = createEngine({ config, seed: 9 }).getParam(name);
    assert.deepEqual(createEngine({ config, seed: 9, threads: 1 }).getParam(name), a);
    assert.notDeepEqual(createEngine({ config, seed: 10 }).getParam(name), a);
  });
});
