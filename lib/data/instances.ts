// Pre-training instances as Google BERT's create_pretraining_data.py makes them: a target length (max_seq − 3, or
// with probability short_seq_prob a random shorter one), segment A from a prefix of a chunk of sentences,
// segment B either the rest of the chunk or (50%, and always for a one-sentence chunk) text from a random other
// document, longest-first truncation from a random end; then [CLS] A [SEP] B [SEP]. Masking: 15% of the tokens
// other than [CLS]/[SEP], at least 1 and at most max_predictions_per_seq; 80% [MASK], 10% a random vocabulary
// token, 10% unchanged.
import type { PretrainingInstance } from "./example.js";
import type { SeededRandom } from "./random.js";

export interface InstanceOptions {
  maxSeqLength: number;
  shortSeqProb: number;
  dupeFactor: number;
}

export interface SpecialIds {
  cls: number;
  sep: number;
  mask: number;
  pad: number;
}

/** An instance before padding: tokens with [CLS]/[SEP], segment ids, whether B is a random next segment. */
export interface RawInstance {
  tokens: number[];
  segmentIds: number[];
  isRandomNext: boolean;
  /** B had to be random: the chunk held a single sentence (for statistics; not written to shards). */
  forcedRandom: boolean;
}

export class InstanceError extends Error {
  readonly code = "ERR_INSTANCES";
}

function truncatePair(a: number[], b: number[], maxTokens: number, rng: SeededRandom): void {
  while (a.length + b.length > maxTokens) {
    const longer = a.length > b.length ? a : b;
    if (rng.next() < 0.5) longer.shift();
    else longer.pop();
  }
}

export function instancesFromDocument(
  docs: number[][][],
  docIndex: number,
  o: InstanceOptions,
  special: SpecialIds,
  rng: SeededRandom,
): RawInstance[] {
  const document = docs[docIndex] as number[][];
  const maxTokens = o.maxSeqLength - 3;
  const target = rng.next() < o.shortSeqProb ? rng.randint(2, maxTokens) : maxTokens;
  const out: RawInstance[] = [];
  let chunk: number[][] = [];
  let chunkLength = 0;
  let i = 0;
  while (i < document.length) {
    const segment = document[i] as number[];
    chunk.push(segment);
    chunkLength += segment.length;
    if (i === document.length - 1 || chunkLength >= target) {
      if (chunk.length > 0) {
        const aEnd = chunk.length >= 2 ? rng.randint(1, chunk.length - 1) : 1;
        const a = chunk.slice(0, aEnd).flat();
        let b: number[] = [];
        let isRandomNext = false;
        if (chunk.length === 1 || rng.next() < 0.5) {
          isRandomNext = true;
          const targetB = target - a.length;
          let other = docIndex;
          for (let tries = 0; tries < 10 && docs.length > 1; tries++) {
            other = rng.randint(0, docs.length - 1);
            if (other !== docIndex) break;
          }
          const random = docs[other] as number[][];
          const start = rng.randint(0, random.length - 1);
          for (let j = start; j < random.length; j++) {
            b.push(...(random[j] as number[]));
            if (b.length >= targetB) break;
          }
          // the unused sentences of this chunk go back for the next instance
          i -= chunk.length - aEnd;
        } else {
          b = chunk.slice(aEnd).flat();
        }
        truncatePair(a, b, maxTokens, rng);
        if (a.length >= 1 && b.length >= 1) {
          out.push({
            tokens: [special.cls, ...a, special.sep, ...b, special.sep],
            segmentIds: [...new Array<number>(a.length + 2).fill(0), ...new Array<number>(b.length + 1).fill(1)],
            isRandomNext,
            forcedRandom: chunk.length === 1,
          });
        }
      }
      chunk = [];
      chunkLength = 0;
    }
    i++;
  }
  return out;
}

/** All instances: dupe_factor passes over every document, then one shuffle. */
export function createInstances(
  docs: number[][][],
  o: InstanceOptions,
  special: SpecialIds,
  rng: SeededRandom,
): RawInstance[] {
  if (o.maxSeqLength < 5)
    throw new InstanceError(
      `max_seq_length ${o.maxSeqLength} is too small for a pair: [CLS] A [SEP] B [SEP] needs at least 5 positions`,
    );
  const out: RawInstance[] = [];
  for (let d = 0; d < o.dupeFactor; d++)
    for (let i = 0; i < docs.length; i++) out.push(...instancesFromDocument(docs, i, o, special, rng));
  return rng.shuffle(out);
}

export interface Masked {
  /** The input with the chosen positions replaced. */
  tokens: number[];
  positions: number[];
  labels: number[];
}

export function maskTokens(
  tokens: number[],
  special: SpecialIds,
  vocabSize: number,
  maxPredictions: number,
  maskedLmProb: number,
  rng: SeededRandom,
): Masked {
  const candidates: number[] = [];
  let length = 0;
  tokens.forEach((t, i) => {
    if (t === special.pad) return;
    length++;
    if (t !== special.cls && t !== special.sep) candidates.push(i);
  });
  rng.shuffle(candidates);
  const count = Math.min(maxPredictions, Math.max(1, Math.round(length * maskedLmProb)), candidates.length);
  const chosen = candidates.slice(0, count).sort((x, y) => x - y);
  const out = tokens.slice();
  for (const p of chosen) {
    const r = rng.next();
    if (r < 0.8) out[p] = special.mask;
    else if (r < 0.9) out[p] = tokens[p] as number;
    else out[p] = rng.randint(0, vocabSize - 1);
  }
  return { tokens: out, positions: chosen, labels: chosen.map((p) => tokens[p] as number) };
}

/** Pads to max_seq_length (and max_predictions_per_seq when statically masked), in Google's feature layout. */
export function padInstance(
  raw: RawInstance,
  maxSeqLength: number,
  masked: Masked | undefined,
  maxPredictions: number,
  pad: number,
): PretrainingInstance {
  const n = raw.tokens.length;
  const padTo = (xs: number[], len: number, value: number) => [
    ...xs,
    ...new Array<number>(len - xs.length).fill(value),
  ];
  const instance: PretrainingInstance = {
    inputIds: padTo(masked ? masked.tokens : raw.tokens, maxSeqLength, pad),
    inputMask: padTo(new Array<number>(n).fill(1), maxSeqLength, 0),
    segmentIds: padTo(raw.segmentIds, maxSeqLength, 0),
    nextSentenceLabel: raw.isRandomNext ? 1 : 0,
  };
  if (masked)
    instance.masked = {
      positions: padTo(masked.positions, maxPredictions, 0),
      ids: padTo(masked.labels, maxPredictions, 0),
      weights: padTo(new Array<number>(masked.positions.length).fill(1), maxPredictions, 0),
    };
  return instance;
}

/** The fraction of tokens masked for MLM: Google's create_pretraining_data default, and every command's. */
export const MASKED_LM_PROB = 0.15;
