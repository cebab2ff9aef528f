// The optimizer block of a DeepSpeed config: DeepSpeed's own files resolve; bad values are errors naming the key.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";

import { ConfigError } from "../../lib/config/errors.js";
import { resolveOptimizer } from "../../lib/config/optimizer.js";
import { projectRoot } from "../../lib/native/load.js";

function problemsOf(block: unknown): string[] {
  try {
    resolveOptimizer(block, "ds.json");
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems;
  }
  assert.fail("expected a ConfigError");
}

describe("DeepSpeed optimizer block", () => {
  it("resolves the PLD recipe's block (Adam, no bias correction, decoupled decay by default)", () => {
    const path = join(projectRoot(), "configs", "deepspeed_bsz4k_progressive_layer_drop_config_seq128.json");
    const ds = JSON.parse(readFileSync(path, "utf8")) as { optimizer: unknown };
    const r = resolveOptimizer(ds.optimizer, path);
    assert.equal(r.lr, 1e-3);
    assert.deepEqual(r.settings, {
      type: "adam",
      beta1: 0.9,
      beta2: 0.999,
      eps: 1e-8,
      weightDecay: 0.01,
      adamWMode: true,
      biasCorrection: false,
      minCoeff: 0.01,
      maxCoeff: 10,
    });
  });
  it("resolves LAMB with its coefficients", () => {
    const r = resolveOptimizer(
      {
        type: "Lamb",
        params: { lr: 0.011, weight_decay: 0.01, bias_correction: false, max_coeff: 0.3, min_coeff: 0.01 },
      },
      "x.json",
    );
    assert.equal(r.settings.type, "lamb");
    assert.equal(r.settings.maxCoeff, 0.3);
  });
  it("AdamW always decouples weight decay; Adam can use L2", () => {
    assert.equal(resolveOptimizer({ type: "AdamW", params: { adam_w_mode: false } }, "x").settings.adamWMode, true);
    assert.equal(resolveOptimizer({ type: "adam", params: { adam_w_mode: false } }, "x").settings.adamWMode, false);
  });
  it("a negative learning rate", () => {
    assert.deepEqual(problemsOf({ type: "Adam", params: { lr: -1 } }), [
      "ds.json: optimizer.params.lr: expected a number >= 0, found -1 (number)",
    ]);
  });
  it("betas outside [0, 1)", () => {
    const p = problemsOf({ type: "Adam", params: { betas: [0.9, 1.0] } });
    assert.equal(p.length, 1);
    assert.match(p[0] ?? "", /^ds\.json: optimizer\.params\.betas\[1\]: expected a number < 1, found 1 \(number\)$/);
  });
  it("min_coeff larger than max_coeff", () => {
    assert.deepEqual(problemsOf({ type: "Lamb", params: { min_coeff: 2, max_coeff: 1 } }), [
      "ds.json: optimizer.params.min_coeff: 2 is larger than max_coeff 1",
    ]);
  });
  it("OneBitAdam and OneBitLamb run as Adam and LAMB, their compression settings accepted and named", () => {
    const adam = resolveOptimizer(
      { type: "OneBitAdam", params: { lr: 2e-4, freeze_step: 23000, cuda_aware: false, comm_backend_name: "nccl" } },
      "ds.json",
    );
    assert.equal(adam.settings.type, "adam");
    assert.equal(adam.lr, 2e-4);
    assert.equal(adam.oneBit, "OneBitAdam");
    const lamb = resolveOptimizer({ type: "OneBitLamb", params: { max_coeff: 0.3, coeff_beta: 0.9 } }, "ds.json");
    assert.equal(lamb.settings.type, "lamb");
    assert.equal(lamb.settings.maxCoeff, 0.3);
    assert.equal(resolveOptimizer({ type: "Adam" }, "ds.json").oneBit, undefined);
  });
  it("an unknown optimizer type", () => {
    assert.deepEqual(problemsOf({ type: "SGD" }), [
      'ds.json: optimizer.type: expected "Adam", "AdamW", "Lamb", "OneBitAdam" or "OneBitLamb", found "SGD"',
    ]);
  });
  it("a misspelt key gets a suggestion, and every problem is reported at once", () => {
    const p = problemsOf({ type: "Adam", params: { weight_decy: 0.01, eps: "small" } });
    assert.equal(p.length, 2);
    assert.ok(
      p.includes('ds.json: optimizer.params.weight_decy: unknown key; did you mean "weight_decay"?'),
      p.join("\n"),
    );
    assert.ok(p.includes('ds.json: optimizer.params.eps: expected number, found "small" (string)'), p.join("\n"));
  });
});

describe("every optimizer block in configs/", () => {
  it("resolves", () => {
    const dir = join(projectRoot(), "configs");
    let seen = 0;
    for (const name of readdirSync(dir).filter((f) => f.endsWith(".json"))) {
      const json = JSON.parse(readFileSync(join(dir, name), "utf8")) as { optimizer?: unknown };
      if (json.optimizer === undefined) continue;
      resolveOptimizer(json.optimizer, name);
      seen++;
    }
    assert.ok(seen >= 4, `only ${seen} files with an optimizer block`);
  });
});
