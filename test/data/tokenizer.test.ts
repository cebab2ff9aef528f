// Tokenization: our BertWordPiece setup of HuggingFace's `tokenizers` against an independent implementation of
// Google BERT's algorithm, on at least 10,000 real lines from the Wikipedia extracts and Gutenberg books the project ships
// plus hand-made hard cases; and the vocabulary checks.
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";

import { createBertTokenizer, readVocab, VocabError } from "../../lib/data/tokenizer.js";
import { projectRoot } from "../../lib/native/load.js";
import { referenceTokenize } from "../helpers/reference-bert-tokenizer.js";

const vocabPath = join(projectRoot(), "data", "bert-base-uncased-vocab.txt");
const corpus = join(projectRoot(), "data", "corpus");

/** Lines of the corpus the project ships: its Wikipedia extracts (markup lines left out) and books. */
function realLines(): string[] {
  const lines: string[] = [];
  const wiki = join(corpus, "wikipedia");
  for (const f of readdirSync(wiki))
    for (const l of readFileSync(join(wiki, f), "utf8").split("\n")) if (l.trim() && !l.startsWith("<")) lines.push(l);
  const books = join(corpus, "books");
  for (const f of readdirSync(books)) {
    const text = readFileSync(join(books, f), "utf8")
      .split(/\r?\n/)
      .filter((l) => l.trim());
    lines.push(...text.slice(200, 1400));
  }
  return lines;
}

const HARD_CASES = [
  "Héllo wörld! Ça va? naïve café résumé Ångström",
  "北京大学 和 東京 の 日本語 テキスト 한국어",
  'He said: "don\'t" — (really?) [yes]; {no} <maybe> ~tilde~ `tick` @at #hash $5.00 100% a&b',
  "supercalifragilisticexpialidocious " + "x".repeat(150) + " pneumonoultramicroscopicsilicovolcanoconiosis",
  "tabs\tand\nnewlines\r\nand\u00a0non-breaking\u2003em spaces",
  "control\u0001chars\u200bzero width \ufffd replacement",
  "emoji 😀👍🏽 and math ∑∫√ and currency €£¥",
  "ＦＵＬＬＷＩＤＴＨ ｌｅｔｔｅｒｓ and ligatures ﬁ ﬂ",
  "",
];

describe("BERT WordPiece tokenization", () => {
  it("matches an independent implementation of Google's algorithm on hard cases", async () => {
    const tok = await createBertTokenizer(vocabPath, true);
    const vocab = tok.vocab.ids;
    const ours = await tok.encodeBatch(HARD_CASES);
    HARD_CASES.forEach((text, i) =>
      assert.deepEqual(ours[i], referenceTokenize(text, vocab, true), JSON.stringify(text)),
    );
  });
  it("matches it on >= 10,000 real lines of Wikipedia and books", async () => {
    const tok = await createBertTokenizer(vocabPath, true);
    const lines = realLines();
    assert.ok(lines.length >= 10000, `only ${lines.length} lines`);
    const ours = await tok.encodeBatch(lines);
    const mismatches: string[] = [];
    lines.forEach((line, i) => {
      const expected = referenceTokenize(line, tok.vocab.ids, true);
      if (JSON.stringify(ours[i]) !== JSON.stringify(expected)) mismatches.push(line.slice(0, 120));
    });
    assert.deepEqual(mismatches.slice(0, 5), [], `${mismatches.length} of ${lines.length} lines differ`);
  });
});

describe("vocabulary", () => {
  it("the embedded bert-base-uncased vocab has 30522 tokens and the special ones", () => {
    const v = readVocab(vocabPath);
    assert.equal(v.tokens.length, 30522);
    assert.deepEqual(v.special, { "[PAD]": 0, "[UNK]": 100, "[CLS]": 101, "[SEP]": 102, "[MASK]": 103 });
  });
  it("a vocabulary without [MASK] is refused with a clear error", () => {
    const path = join(mkdtempSync(join(tmpdir(), "bert-train-vocab-")), "vocab.txt");
    writeFileSync(path, "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n");
    assert.throws(
      () => readVocab(path),
      (e: unknown) => e instanceof VocabError && /has no \[MASK\]/.test(e.message),
    );
  });
  it("a missing vocabulary file is a clear error", () => {
    assert.throws(
      () => readVocab("/nonexistent/vocab.txt"),
      (e: unknown) => e instanceof VocabError && /cannot read the vocabulary/.test(e.message),
    );
  });
});
