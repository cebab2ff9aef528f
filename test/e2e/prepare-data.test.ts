// The prepare-data command as a user runs it: real text in, shards an independent checker accepts out; bad input
// is one clear line and exit code 2, no stack trace.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";

import { projectRoot } from "../../lib/native/load.js";
import { needsShared, TFRECORD_CHECKER } from "../helpers/shared-data.js";

const cli = join(projectRoot(), "dist", "bin", "bert-train.js");
const run = (args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: "utf8" });

/** A Gutenberg book prepared into two shards with static masks, once (the tests below share it). */
let book: { out: string; r: ReturnType<typeof run> } | undefined;
function preparedBook(): { out: string; r: ReturnType<typeof run> } {
  if (book) return book;
  const out = mkdtempSync(join(tmpdir(), "bert-train-e2e-"));
  const r = run([
    "prepare-data",
    "--input",
    join(projectRoot(), "data", "corpus", "books", "11-0.txt"),
    "--output_dir",
    out,
    "--num_shards",
    "2",
    "--masking",
    "static",
  ]);
  return (book = { out, r });
}

describe("bert-train prepare-data", () => {
  it("prepares a Gutenberg book into shards and a manifest", () => {
    const { out, r } = preparedBook();
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /1 files, .* -> \d+ instances/);
    assert.match(r.stderr, /prepare-data: read .*11-0\.txt: gutenberg, 1 documents/);
    assert.ok(existsSync(join(out, "dataset.json")));
    const shards = readdirSync(out).filter((f) => f.endsWith(".tfrecord"));
    assert.equal(shards.length, 2);
  });
  it(
    "writes shards an independent checker accepts",
    { skip: needsShared(TFRECORD_CHECKER, "its TFRecord checker") },
    () => {
      const { out, r } = preparedBook();
      assert.equal(r.status, 0, r.stderr);
      const shards = readdirSync(out).filter((f) => f.endsWith(".tfrecord"));
      const c = spawnSync("python3", [TFRECORD_CHECKER, ...shards.map((s) => join(out, s))], { encoding: "utf8" });
      assert.equal(c.status, 0, c.stdout);
      assert.match(c.stdout, /masked_lm_positions:int64\[20\]/);
    },
  );
  for (const [what, args, message] of [
    ["a missing input", ["--input", "/nonexistent/text"], /input \/nonexistent\/text does not exist/],
    [
      "a sequence length too small for a pair",
      ["--input", join(projectRoot(), "test", "fixtures", "sample_text.txt"), "--max_seq_length", "4"],
      /--max_seq_length: expected a number >= 5, found 4 \(number\); \[CLS\] A \[SEP\] B \[SEP\] needs 5 positions/,
    ],
    [
      "a vocabulary file that does not exist",
      ["--input", join(projectRoot(), "test", "fixtures", "sample_text.txt"), "--vocab_file", "/nonexistent/vocab.txt"],
      /cannot read the vocabulary/,
    ],
  ] as const) {
    it(`${what}: exit code 2 and one clear message`, () => {
      const out = mkdtempSync(join(tmpdir(), "bert-train-e2e-"));
      const r = run(["prepare-data", ...args, "--output_dir", out]);
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, message);
      assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
    });
  }
});
