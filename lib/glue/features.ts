// What a GLUE example becomes for the engine: token ids as the GLUE scripts build them, and batches of them
// padded to the run's sequence length.
import { ConfigError } from "../config/errors.js";
import type { BertTokenizer } from "../data/tokenizer.js";
import type { Batch } from "../native/types.js";
import type { GlueExample } from "./tasks.js";

export interface Features {
  ids: number[][];
  segments: number[][];
  labels: (number | undefined)[];
  guids: string[];
}

/** Inputs as the GLUE scripts build them: [CLS] A [SEP] (B [SEP]), longest-first truncation, no padding. */
export async function featurize(tok: BertTokenizer, examples: GlueExample[], maxSeq: number): Promise<Features> {
  const a = await tok.encodeBatch(examples.map((e) => e.textA));
  const bText = examples.map((e) => e.textB ?? "");
  const b = examples.some((e) => e.textB !== undefined)
    ? await tok.encodeBatch(bText)
    : examples.map(() => [] as number[]);
  const { "[CLS]": cls, "[SEP]": sep } = tok.vocab.special;
  const f: Features = { ids: [], segments: [], labels: [], guids: [] };
  examples.forEach((e, i) => {
    const x = [...(a[i] as number[])];
    const y = [...(b[i] as number[])];
    const pair = e.textB !== undefined;
    const budget = maxSeq - (pair ? 3 : 2);
    if (budget < 1)
      throw new ConfigError([
        `finetune: --max_seq_length ${maxSeq} leaves no room for text (${pair ? "[CLS] A [SEP] B [SEP]" : "[CLS] A [SEP]"})`,
      ]);
    while (x.length + y.length > budget) (x.length > y.length ? x : y).pop(); // longest first, from the end
    const ids = [cls, ...x, sep, ...(pair ? [...y, sep] : [])];
    f.ids.push(ids);
    f.segments.push(ids.map((_, j) => (j < x.length + 2 ? 0 : 1)));
    f.labels.push(e.label);
    f.guids.push(e.guid);
  });
  return f;
}

export function batchOf(f: Features, indices: number[], maxSeq: number, regression: boolean): Batch {
  const B = indices.length;
  const inputIds = new Int32Array(B * maxSeq);
  const segmentIds = new Int32Array(B * maxSeq);
  const inputMask = new Int32Array(B * maxSeq);
  const classLabels = new Int32Array(B);
  const regressionTargets = new Float32Array(B);
  indices.forEach((r, b) => {
    const ids = f.ids[r] as number[];
    inputIds.set(ids, b * maxSeq);
    segmentIds.set(f.segments[r] as number[], b * maxSeq);
    inputMask.fill(1, b * maxSeq, b * maxSeq + ids.length);
    const label = f.labels[r];
    if (regression) regressionTargets[b] = label ?? 0;
    else classLabels[b] = label ?? -1;
  });
  return {
    batchSize: B,
    seqLen: maxSeq,
    inputIds,
    segmentIds,
    inputMask,
    ...(regression ? { regressionTargets } : { classLabels }),
  };
}
