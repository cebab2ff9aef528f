// BERT tokenization (BasicTokenizer + WordPiece) with HuggingFace's `tokenizers` (its official Node binding, a
// Rust engine with prebuilt binaries inside the npm package), configured as BertWordPiece: clean text, split
// CJK characters, lower-case and strip accents for uncased vocabularies, split on whitespace and punctuation,
// greedy longest-match WordPiece with "##" continuations and [UNK] for words with no match.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";

import { bertNormalizer, bertPreTokenizer, Tokenizer, WordPiece } from "tokenizers";

export const SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] as const;

export class VocabError extends Error {
  readonly code = "ERR_VOCAB";
}

export interface Vocab {
  path: string;
  /** The file's SHA-256: the identity shards, checkpoints and exports record. */
  sha256: string;
  tokens: string[];
  ids: Map<string, number>;
  special: Record<(typeof SPECIAL_TOKENS)[number], number>;
}

export function readVocab(path: string): Vocab {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new VocabError(`cannot read the vocabulary ${path}: ${(err as Error).message}`);
  }
  const tokens = bytes.toString("utf8").split(/\r?\n/);
  if (tokens[tokens.length - 1] === "") tokens.pop();
  const ids = new Map<string, number>();
  tokens.forEach((t, i) => {
    const first = ids.get(t);
    // a token twice would get two ids: our reader would keep the first, the tokenizer library the last
    if (first !== undefined)
      throw new VocabError(
        `${path}: ${JSON.stringify(t)} is on line ${first + 1} and again on line ${i + 1}; a vocabulary lists each token once`,
      );
    ids.set(t, i);
  });
  const missing = SPECIAL_TOKENS.filter((t) => !ids.has(t));
  if (missing.length > 0)
    throw new VocabError(
      `${path}: the vocabulary has no ${missing.join(", ")} (a BERT vocabulary needs ${SPECIAL_TOKENS.join(", ")})`,
    );
  const special = Object.fromEntries(SPECIAL_TOKENS.map((t) => [t, ids.get(t) as number])) as Vocab["special"];
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  return { path, sha256, tokens, ids, special };
}

/**
 * A vocabulary that does not fit a model of `rows` embedding rows, or undefined. Exactly as many tokens as rows,
 * or the rows rounded up to a multiple of 8 (NVIDIA's configs pad 30522 to 30528 for speed).
 */
export function vocabSizeProblem(vocab: Vocab, rows: number, where: string): string | undefined {
  const n = vocab.tokens.length;
  if (n === rows || (n < rows && rows === Math.ceil(n / 8) * 8)) return undefined;
  return `${vocab.path} has ${n} tokens, but ${where} has ${rows} embedding rows: use the vocabulary the model was trained with`;
}

/** The ids instance creation, masking and the loader need. */
export function specialIds(vocab: Vocab): { pad: number; cls: number; sep: number; mask: number } {
  return {
    pad: vocab.special["[PAD]"],
    cls: vocab.special["[CLS]"],
    sep: vocab.special["[SEP]"],
    mask: vocab.special["[MASK]"],
  };
}

export interface BertTokenizer {
  vocab: Vocab;
  lowerCase: boolean;
  /** Token ids of a text, without [CLS]/[SEP]. */
  encode(text: string): Promise<number[]>;
  encodeBatch(texts: string[]): Promise<number[][]>;
}

export async function createBertTokenizer(vocabPath: string, lowerCase: boolean): Promise<BertTokenizer> {
  const vocab = readVocab(vocabPath);
  const model = await WordPiece.fromFile(vocabPath, {
    unkToken: "[UNK]",
    continuingSubwordPrefix: "##",
    maxInputCharsPerWord: 100,
  });
  const tokenizer = new Tokenizer(model);
  tokenizer.setNormalizer(
    bertNormalizer({ cleanText: true, handleChineseChars: true, stripAccents: lowerCase, lowercase: lowerCase }),
  );
  tokenizer.setPreTokenizer(bertPreTokenizer());
  return {
    vocab,
    lowerCase,
    async encode(text: string) {
      const e = await tokenizer.encode(text, null, { addSpecialTokens: false });
      return e.getIds();
    },
    async encodeBatch(texts: string[]) {
      const es = await tokenizer.encodeBatch(texts, { addSpecialTokens: false });
      return es.map((e) => e.getIds());
    },
  };
}
