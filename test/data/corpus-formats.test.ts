// The text users already have: JSON lines (a HuggingFace-datasets export, {"text": ...} per line) give the same
// instances as the same documents written as plain text, any input may be gzip-compressed, and a bad line or a
// missing field names the file, the line and the field.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { gzipSync } from "node:zlib";

import { CorpusError } from "../../lib/data/corpus.js";
import { prepareData, type PrepareOptions } from "../../lib/data/prepare.js";
import { projectRoot } from "../../lib/native/load.js";

const tmp = () => mkdtempSync(join(tmpdir(), "bert-train-formats-"));
const sample = readFileSync(join(projectRoot(), "test", "fixtures", "sample_text.txt"), "utf8");

function options(inputs: string[], overrides: Partial<PrepareOptions> = {}): PrepareOptions {
  return {
    inputs,
    outputDir: join(tmp(), "out"),
    vocab: join(projectRoot(), "data", "bert-base-uncased-vocab.txt"),
    lowerCase: true,
    maxSeqLength: 64,
    shortSeqProb: 0.1,
    dupeFactor: 2,
    masking: "static",
    maxPredictionsPerSeq: 10,
    maskedLmProb: 0.15,
    seed: 3,
    numShards: 2,
    ...overrides,
  };
}

/** The shards' bytes: equal bytes, equal instances. */
async function shardsOf(o: PrepareOptions): Promise<string> {
  await prepareData(o);
  return ["shard_00000.tfrecord", "shard_00001.tfrecord"]
    .map((f) => readFileSync(join(o.outputDir, f)).toString("base64"))
    .join("|");
}

/** The sample's documents (blank-line separated) as JSON lines, one object per document. */
function asJsonLines(field = "text"): string {
  return (
    sample
      .split(/\n\s*\n/)
      .filter((d) => d.trim())
      .map((d) => JSON.stringify({ id: "x", [field]: d.trim() }))
      .join("\n") + "\n"
  );
}

describe("input formats", () => {
  it("JSON lines give the same instances as the same text given as plain text", async () => {
    const dir = tmp();
    writeFileSync(join(dir, "corpus.txt"), sample);
    writeFileSync(join(dir, "corpus.jsonl"), asJsonLines());
    const plain = await shardsOf(options([join(dir, "corpus.txt")]));
    const json = await shardsOf(options([join(dir, "corpus.jsonl")]));
    assert.equal(json, plain);
  });
  it("gzip-compressed plain text and JSON lines read as the uncompressed ones; --text_field names the field", async () => {
    const dir = tmp();
    writeFileSync(join(dir, "corpus.txt"), sample);
    writeFileSync(join(dir, "corpus.txt.gz"), gzipSync(sample));
    writeFileSync(join(dir, "corpus.jsonl.gz"), gzipSync(asJsonLines("content")));
    const plain = await shardsOf(options([join(dir, "corpus.txt")]));
    assert.equal(await shardsOf(options([join(dir, "corpus.txt.gz")])), plain);
    assert.equal(await shardsOf(options([join(dir, "corpus.jsonl.gz")], { textField: "content" })), plain);
  });
  for (const [what, file, content, message] of [
    ["a line that is not JSON", "bad.jsonl", '{"text": "a b c"}\n{"text": \n', /bad\.jsonl:2: not a JSON object/],
    [
      "a line without the field",
      "bad.jsonl",
      '{"text": "a"}\n{"body": "b"}\n',
      /bad\.jsonl:2: no string field "text" \(fields: body\); name the text field with --text_field/,
    ],
    ["a damaged gzip file", "bad.txt.gz", "not gzip at all", /bad\.txt\.gz: not a readable gzip file/],
  ] as const)
    it(`${what}: one error naming the file and line`, async () => {
      const dir = tmp();
      writeFileSync(join(dir, file), content);
      await assert.rejects(
        prepareData(options([join(dir, file)])),
        (e: unknown) => e instanceof CorpusError && message.test(e.message),
      );
    });
});
