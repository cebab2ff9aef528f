// The vocabulary travels with the data and the model: prepare-data records it, pretrain refuses shards made with
// another one, checkpoints and exports carry the vocab.txt used, finetune tokenizes with it, and a vocabulary
// that does not fit the model is refused.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, describe, it } from "node:test";

import { createBertTokenizer, readVocab, VocabError } from "../../lib/data/tokenizer.js";
import { finetune } from "../../lib/glue/finetune.js";
import { projectRoot } from "../../lib/native/load.js";
import { collect, finetuneArgs } from "../helpers/finetune-fixture.js";
import { prepareTiny } from "../helpers/tiny-data.js";
import { tinyPretrainArgs } from "../helpers/tiny-pretrain.js";

const root = projectRoot();
const cli = join(root, "dist", "bin", "bert-train.js");
const defaultVocab = join(root, "data", "bert-base-uncased-vocab.txt");
const tmp = () => mkdtempSync(join(tmpdir(), "bert-train-vocab-"));
let custom = "";
let dataRoot = "";

/** bert-base-uncased with "the" and "of" swapped: the same size, other ids. */
function swappedVocab(dir: string): string {
  const tokens = readFileSync(defaultVocab, "utf8").split("\n");
  const [the, of] = [tokens.indexOf("the"), tokens.indexOf("of")];
  [tokens[the], tokens[of]] = [tokens[of] as string, tokens[the] as string];
  const path = join(dir, "custom-vocab.txt");
  writeFileSync(path, tokens.join("\n"));
  return path;
}

before(async () => {
  const dir = tmp();
  custom = swappedVocab(dir);
  dataRoot = join(dir, "data");
  mkdirSync(join(dataRoot, "tiny"), { recursive: true });
  await prepareTiny([join(root, "test", "fixtures", "sample_text.txt")], join(dataRoot, "tiny", "64"), 1, {
    vocab: custom,
  });
});

function pretrain(out: string, extra: string[]) {
  const args = tinyPretrainArgs({
    out,
    dataRoot,
    ds: "tiny_ds_fp32.json",
    pld: false,
    extra: ["--max_steps", "2", ...extra],
  });
  return spawnSync(process.execPath, [cli, ...args], { encoding: "utf8" });
}

describe("the vocabulary travels", () => {
  it("shards made with another vocabulary of the same size are refused, naming both", () => {
    const r = pretrain(tmp(), []);
    assert.equal(r.status, 2, r.stderr);
    assert.match(
      r.stderr,
      /tiny\/64 was made with .*custom-vocab\.txt \(sha256 [0-9a-f]{12}, dataset\.json\), this run's vocabulary .*bert-base-uncased-vocab\.txt is another file/,
    );
  });

  it("pretrain -> checkpoint -> export -> finetune: every step uses the custom vocabulary", async () => {
    const out = tmp();
    const r = pretrain(out, ["--vocab_file", custom]);
    assert.equal(r.status, 0, r.stderr);
    const job = join(out, "saved_models", "tiny");
    const checkpoint = join(job, readFileSync(join(job, "latest"), "utf8").trim());
    assert.equal(readFileSync(join(checkpoint, "vocab.txt"), "utf8"), readFileSync(custom, "utf8"));
    const state = JSON.parse(readFileSync(join(checkpoint, "state.json"), "utf8")) as { vocab: unknown };
    assert.deepEqual(state.vocab, { file: "vocab.txt", sha256: readVocab(custom).sha256, do_lower_case: true });

    const exported = join(out, "exported");
    const ex = spawnSync(process.execPath, [cli, "export", "--checkpoint", checkpoint, "--output_dir", exported], {
      encoding: "utf8",
    });
    assert.equal(ex.status, 0, ex.stderr);
    assert.equal(readVocab(join(exported, "vocab.txt")).sha256, readVocab(custom).sha256);
    assert.deepEqual(JSON.parse(readFileSync(join(exported, "tokenizer_config.json"), "utf8")), {
      do_lower_case: true,
    });

    const glue = join(out, "glue", "SST-2");
    mkdirSync(glue, { recursive: true });
    const rows = Array.from({ length: 8 }, (_, i) => `the end of the story number ${i}\t${i % 2}`);
    writeFileSync(join(glue, "train.tsv"), ["sentence\tlabel", ...rows].join("\n") + "\n");
    writeFileSync(join(glue, "dev.tsv"), ["sentence\tlabel", ...rows.slice(0, 4)].join("\n") + "\n");
    const { lines, output } = collect();
    await finetune(
      finetuneArgs({
        task: "SST-2",
        job_name: "ft",
        checkpoint: exported,
        data_dir: join(out, "glue"),
        output_dir: join(out, "ft"),
        num_train_epochs: 1,
        random: false,
        vocab_file: undefined,
      }),
      output,
    );
    assert.ok(lines.includes(`tokenizing with ${join(exported, "vocab.txt")} (lower-cased)`), lines.join("\n"));
    const [tokCustom, tokDefault] = [
      await createBertTokenizer(join(exported, "vocab.txt"), true),
      await createBertTokenizer(defaultVocab, true),
    ];
    // the swapped ids: what finetune fed the model for "the" is bert-base's id of "of"
    assert.deepEqual(await tokCustom.encode("the of"), await tokDefault.encode("of the"));
  });

  it("a vocabulary of another size than the model's embeddings: export and evaluate refuse it", () => {
    const out = tmp();
    assert.equal(pretrain(out, ["--vocab_file", custom]).status, 0);
    const small = join(out, "small-vocab.txt");
    writeFileSync(small, readFileSync(custom, "utf8").split("\n").slice(0, 1000).join("\n"));
    const job = join(out, "saved_models", "tiny");
    for (const args of [
      ["export", "--checkpoint", job, "--output_dir", join(out, "x"), "--vocab_file", small],
      ["evaluate", "--checkpoint", job, "--data", join(dataRoot, "tiny", "64"), "--vocab_file", small],
    ]) {
      const r = spawnSync(process.execPath, [cli, ...args], { encoding: "utf8" });
      assert.equal(r.status, 2, `${args[0]}: ${r.stderr}`);
      assert.match(r.stderr, /small-vocab\.txt has 1000 tokens, but the checkpoint .* has 30522 embedding rows/);
      assert.equal(existsSync(join(out, "x")), false);
    }
  });

  it("a vocabulary that lists a token twice is refused, naming both lines", () => {
    const dir = tmp();
    const path = join(dir, "dup.txt");
    writeFileSync(path, ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "hello"].join("\n"));
    assert.throws(
      () => readVocab(path),
      (e: unknown) =>
        e instanceof VocabError &&
        e.message === `${path}: "hello" is on line 6 and again on line 8; a vocabulary lists each token once`,
    );
  });
});
