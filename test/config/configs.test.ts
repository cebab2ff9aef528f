// Every file in configs/ loads: the DeepSpeed example's own files unmodified, and ours; the PLD block's gate_scope.
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";

import { loadCf } from "../../lib/config/cf.js";
import { loadDeepSpeedConfig } from "../../lib/config/deepspeed.js";
import { ConfigError } from "../../lib/config/errors.js";
import { projectRoot } from "../../lib/native/load.js";

const dir = join(projectRoot(), "configs");

describe("configs/", () => {
  for (const name of readdirSync(dir).filter((f) => f.endsWith(".json"))) {
    it(name, () => {
      const path = join(dir, name);
      const json = JSON.parse(readFileSync(path, "utf8")) as {
        bert_model_config?: unknown;
        mixed_seq_training?: Record<string, unknown>;
      };
      if (json.bert_model_config !== undefined) {
        const lengths = Object.keys(json.mixed_seq_training ?? {});
        assert.ok(lengths.length > 0);
        for (const seq of lengths) assert.ok(loadCf(path, Number(seq)).model.hidden_size > 0);
      } else {
        const ds = loadDeepSpeedConfig(path);
        assert.equal(ds.trainBatchSize, ds.microBatchSize * ds.gradientAccumulationSteps);
      }
    });
  }
});

describe("the progressive_layer_drop block", () => {
  const write = (pld: object) => {
    const path = join(mkdtempSync(join(tmpdir(), "bert-train-ds-")), "ds.json");
    writeFileSync(
      path,
      JSON.stringify({
        train_batch_size: 8,
        optimizer: { type: "Adam", params: { lr: 1e-3 } },
        progressive_layer_drop: { enabled: true, ...pld },
      }),
    );
    return path;
  };
  it("gate_scope is micro_batch unless the file says step", () => {
    assert.equal(loadDeepSpeedConfig(write({})).pld.gate_scope, "micro_batch");
    assert.equal(loadDeepSpeedConfig(write({ gate_scope: "step" })).pld.gate_scope, "step");
  });
  it("another gate_scope names the file, the key and the choices", () => {
    const path = write({ gate_scope: "rank" });
    assert.throws(
      () => loadDeepSpeedConfig(path),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.message.includes(
          `${path}: progressive_layer_drop.gate_scope: expected one of "micro_batch", "step", found "rank"`,
        ),
    );
  });
});
