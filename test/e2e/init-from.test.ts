// `pretrain --init_from` checks the folder's config.json against the --cf file's model before loading anything.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";

import { projectRoot } from "../../lib/native/load.js";
import { tinyPretrainArgs } from "../helpers/tiny-pretrain.js";

const root = projectRoot();
const cli = join(root, "dist", "bin", "bert-train.js");
const tmp = () => mkdtempSync(join(tmpdir(), "bert-train-init-from-"));

describe("pretrain --init_from", () => {
  it("a folder of another model size: one error naming each differing value, exit 2", () => {
    const folder = join(root, "test", "fixtures", "weights", "bert_for_pretraining");
    const args = tinyPretrainArgs({
      out: tmp(),
      dataRoot: tmp(),
      ds: "tiny_ds_fp32.json",
      pld: false,
      extra: ["--init_from", folder],
    });
    const r = spawnSync(process.execPath, [cli, ...args], { encoding: "utf8" });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /--init_from .*bert_for_pretraining is another model size than the --cf file's/);
    assert.match(r.stderr, /vocab_size: .*tiny_cf\.json says 30522, .*bert_for_pretraining holds 101/);
    assert.match(r.stderr, /hidden_size: .*tiny_cf\.json says 32, .*bert_for_pretraining holds 16/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  });
});
