// Instance creation and masking statistics on the corpus the project ships (data/corpus: Wikipedia extracts and
// Gutenberg books), against what the algorithm implies. Each test stands alone: the corpus is tokenized once, on
// first use, by whichever test runs first.
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";

import { documentsFromText, readUtf8 } from "../../lib/data/corpus.js";
import { createInstances, maskTokens, type RawInstance, type SpecialIds } from "../../lib/data/instances.js";
import { SeededRandom } from "../../lib/data/random.js";
import { createBertTokenizer } from "../../lib/data/tokenizer.js";
import { projectRoot } from "../../lib/native/load.js";
import { defaultVocabFile } from "../../lib/paths.js";

const corpus = join(projectRoot(), "data", "corpus");
const special: SpecialIds = { pad: 0, cls: 101, sep: 102, mask: 103 };

async function corpusDocuments(): Promise<number[][][]> {
  const files = [
    join(corpus, "wikipedia", "wiki_00"),
    join(corpus, "wikipedia", "wiki_01"),
    join(corpus, "books", "11-0.txt"),
    join(corpus, "books", "Pride_and_Prejudice_JaneAusten.txt"),
  ];
  const tok = await createBertTokenizer(defaultVocabFile(), true);
  const docs: number[][][] = [];
  for (const f of files)
    for (const d of documentsFromText(readUtf8(f)).documents)
      docs.push((await tok.encodeBatch(d)).filter((u) => u.length > 0));
  return docs.filter((d) => d.length > 0);
}

let prepared: Promise<{ docs: number[][][]; instances: RawInstance[] }> | undefined;

/** The tokenized corpus and its instances (sequence 128, dupe factor 2), made once. */
function corpusInstances(): Promise<{ docs: number[][][]; instances: RawInstance[] }> {
  prepared ??= corpusDocuments().then((docs) => ({
    docs,
    instances: createInstances(
      docs,
      { maxSeqLength: 128, shortSeqProb: 0.1, dupeFactor: 2 },
      special,
      new SeededRandom(1),
    ),
  }));
  return prepared;
}

function withinSigma(count: number, n: number, p: number, sigmas: number, what: string): void {
  const sd = Math.sqrt(n * p * (1 - p));
  assert.ok(
    Math.abs(count - n * p) <= sigmas * sd,
    `${what}: ${count} of ${n}, expected ${(n * p).toFixed(0)} ± ${(sigmas * sd).toFixed(0)}`,
  );
}

describe("instances on the shipped corpus", () => {
  it("are well formed: [CLS] A [SEP] B [SEP], within max_seq_length, segments 0 then 1", async () => {
    const { instances } = await corpusInstances();
    assert.ok(instances.length > 5000, `${instances.length} instances`);
    for (const inst of instances) {
      assert.ok(inst.tokens.length <= 128);
      assert.equal(inst.tokens[0], special.cls);
      assert.equal(inst.tokens[inst.tokens.length - 1], special.sep);
      assert.equal(inst.tokens.filter((t) => t === special.sep).length, 2);
      const firstSep = inst.tokens.indexOf(special.sep);
      assert.ok(inst.segmentIds.every((s, i) => s === (i <= firstSep ? 0 : 1)));
    }
  });
  it("take a random next segment half of the time when the chunk allows a choice", async () => {
    const { instances } = await corpusInstances();
    const free = instances.filter((i) => !i.forcedRandom);
    withinSigma(
      free.filter((i) => i.isRandomNext).length,
      free.length,
      0.5,
      3,
      "random next among multi-sentence chunks",
    );
    const all = instances.filter((i) => i.isRandomNext).length / instances.length;
    assert.ok(all >= 0.5 && all < 0.6, `overall random-next fraction ${all}`);
  });
  it("shorten the target length with short_seq_prob", async () => {
    const { docs } = await corpusInstances();
    const mean = (p: number) => {
      const xs = createInstances(
        docs,
        { maxSeqLength: 128, shortSeqProb: p, dupeFactor: 1 },
        special,
        new SeededRandom(2),
      );
      return xs.reduce((s, i) => s + i.tokens.length, 0) / xs.length;
    };
    const [none, some, all] = [mean(0), mean(0.1), mean(1)];
    assert.ok(none > some && some > all, `mean lengths ${none}, ${some}, ${all}`);
    // always short: targets uniform in [2, 125], so instances average well under the maximum
    assert.ok(all < 100, `mean length with short_seq_prob 1: ${all}`);
  });
  it("mask 15% of the real tokens, 80/10/10, never [CLS] or [SEP]", async () => {
    const { instances } = await corpusInstances();
    const rng = new SeededRandom(3);
    let real = 0;
    let masked = 0;
    let asMask = 0;
    let kept = 0;
    for (const inst of instances.slice(0, 3000)) {
      const m = maskTokens(inst.tokens, special, 30522, 20, 0.15, rng);
      real += inst.tokens.length;
      masked += m.positions.length;
      m.positions.forEach((p, j) => {
        assert.notEqual(inst.tokens[p], special.cls);
        assert.notEqual(inst.tokens[p], special.sep);
        if (m.tokens[p] === special.mask) asMask++;
        else if (m.tokens[p] === m.labels[j]) kept++;
      });
    }
    assert.ok(Math.abs(masked / real - 0.15) < 0.01, `masked fraction ${masked / real}`);
    withinSigma(asMask, masked, 0.8, 3, "[MASK] replacements");
    // "unchanged" also catches the random replacements that drew the original token (1 in 30522)
    withinSigma(kept, masked, 0.1, 3, "unchanged");
  });
});
