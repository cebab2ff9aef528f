// Every file in configs/ loads: the DeepSpeed example's own files unmodified, and ours.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";

import { loadCf } from "../../lib/config/cf.js";
import { loadDeepSpeedConfig } from "../../lib/config/deepspeed.js";
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
