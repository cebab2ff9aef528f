// The pre-training loader: takes the records of a corpus (lib/data/corpus-shards.ts), shuffles per epoch from a seed,
// masks dynamically when the shards carry no static masks, and yields batches as the engine's typed arrays.
// Every random choice is keyed by (seed, epoch, record), so the exact position is just {epoch, batch}: saving
// and restoring it resumes the same stream. With world_size > 1 each rank takes its own batches of the epoch
// order, and every rank gets the same number of batches (the epoch's remainder is dropped).
import { join } from "node:path";

import type { Batch } from "../native/types.js";
import { CorpusShards } from "./corpus-shards.js";
import { maskTokens, type SpecialIds } from "./instances.js";
import { SeededRandom } from "./random.js";
import { ShardError } from "./record-checks.js";

export { CorpusShards, type OpenOptions } from "./corpus-shards.js";
export { ShardError } from "./record-checks.js";

export interface LoaderOptions {
  batchSize: number;
  seed: number;
  maxPredictionsPerSeq: number;
  maskedLmProb: number;
  vocabSize: number;
  special: SpecialIds;
  rank: number;
  worldSize: number;
}

export interface LoaderPosition {
  epoch: number;
  /** Batches of this epoch already taken by this rank. */
  batch: number;
}

export class PretrainingLoader {
  readonly batchesPerEpoch: number;
  readonly seqLen: number;
  private epochOrder: number[] = [];
  private orderEpoch = -1;
  private pos: LoaderPosition = { epoch: 0, batch: 0 };

  constructor(
    readonly shards: CorpusShards,
    readonly o: LoaderOptions,
  ) {
    if (o.rank < 0 || o.rank >= o.worldSize)
      throw new ShardError(`rank ${o.rank} is outside world size ${o.worldSize}`);
    this.batchesPerEpoch = Math.floor(shards.count / (o.batchSize * o.worldSize));
    if (this.batchesPerEpoch === 0)
      throw new ShardError(
        `${shards.dir}: ${shards.count} records cannot fill one batch of ${o.batchSize} on each of ${o.worldSize} ranks`,
      );
    this.seqLen = shards.seqLen;
  }

  position(): LoaderPosition {
    return { ...this.pos };
  }

  restore(p: LoaderPosition): void {
    if (!(p.batch >= 0 && p.batch <= this.batchesPerEpoch && p.epoch >= 0))
      throw new ShardError(`cannot restore loader position ${JSON.stringify(p)}`);
    this.pos = { ...p };
  }

  private order(epoch: number): number[] {
    if (this.orderEpoch !== epoch) {
      this.epochOrder = SeededRandom.forKey(this.o.seed, epoch, 0x5eed).shuffle(
        Array.from({ length: this.shards.count }, (_, i) => i),
      );
      this.orderEpoch = epoch;
    }
    return this.epochOrder;
  }

  /** The next batch of this rank; rolls over to the next epoch at the end of one. */
  next(): Batch {
    if (this.pos.batch >= this.batchesPerEpoch) this.pos = { epoch: this.pos.epoch + 1, batch: 0 };
    const batch = this.assemble(this.recordIndices(this.pos.epoch, this.pos.batch), this.pos.epoch);
    this.pos.batch++;
    return batch;
  }

  /** The records of this rank's batch `batch` of `epoch`. */
  recordIndices(epoch: number, batch: number): number[] {
    const { batchSize: B, worldSize, rank } = this.o;
    const first = (batch * worldSize + rank) * B;
    return this.order(epoch).slice(first, first + B);
  }

  private assemble(indices: number[], epoch: number): Batch {
    return assembleBatch(this.shards, this.o, indices, epoch);
  }
}

/**
 * The engine's batch of the given records: static masks where the shard has them, else masks drawn by a generator
 * keyed by (seed, epoch, record), the same whoever asks.
 */
export function assembleBatch(
  shards: CorpusShards,
  o: Pick<LoaderOptions, "seed" | "special" | "vocabSize" | "maxPredictionsPerSeq" | "maskedLmProb">,
  indices: number[],
  epoch: number,
): Batch {
  const B = indices.length;
  const T = shards.seqLen;
  const inputIds = new Int32Array(B * T);
  const segmentIds = new Int32Array(B * T);
  const inputMask = new Int32Array(B * T);
  const nextSentenceLabels = new Int32Array(B);
  const positions: number[] = [];
  const labels: number[] = [];
  indices.forEach((record, b) => {
    const inst = shards.instance(record); // checked when the corpus opened
    let ids = inst.inputIds;
    if (inst.masked) {
      inst.masked.weights.forEach((w, j) => {
        if (w > 0) {
          positions.push(b * T + (inst.masked?.positions[j] as number));
          labels.push(inst.masked?.ids[j] as number);
        }
      });
    } else {
      const m = maskTokens(
        ids,
        o.special,
        o.vocabSize,
        o.maxPredictionsPerSeq,
        o.maskedLmProb,
        SeededRandom.forKey(o.seed, epoch, record),
      );
      ids = m.tokens;
      m.positions.forEach((p, j) => {
        positions.push(b * T + p);
        labels.push(m.labels[j] as number);
      });
    }
    inputIds.set(ids, b * T);
    segmentIds.set(inst.segmentIds, b * T);
    inputMask.set(inst.inputMask, b * T);
    nextSentenceLabels[b] = inst.nextSentenceLabel;
  });
  return {
    batchSize: B,
    seqLen: T,
    inputIds,
    segmentIds,
    inputMask,
    numMasked: positions.length,
    maskedPositions: Int32Array.from(positions),
    maskedLabels: Int32Array.from(labels),
    nextSentenceLabels,
  };
}

/**
 * The corpora a `--cf` file lists for one sequence length: every `*_dataset` key of
 * `data.mixed_seq_datasets.<seq>` (DeepSpeed's bing_bert layout), or of `data.datasets`, resolved against
 * `--data_path_prefix`.
 */
export function corporaFromCf(cf: unknown, seqLen: number, dataPathPrefix: string, file: string): Map<string, string> {
  const data = (
    cf as {
      data?: { mixed_seq_datasets?: Record<string, Record<string, unknown>>; datasets?: Record<string, unknown> };
    }
  ).data;
  const block = data?.mixed_seq_datasets?.[String(seqLen)] ?? data?.datasets;
  if (!block)
    throw new ShardError(`${file}: data.mixed_seq_datasets.${seqLen}: no datasets for sequence length ${seqLen}`);
  const out = new Map<string, string>();
  for (const [name, path] of Object.entries(block))
    if (name.endsWith("_dataset") && typeof path === "string")
      out.set(name, path.startsWith("/") ? path : join(dataPathPrefix, path));
  if (out.size === 0) throw new ShardError(`${file}: data.mixed_seq_datasets.${seqLen} lists no *_dataset entries`);
  return out;
}

/**
 * A saved position for a different number of ranks. A loader position counts this rank's batches; the global
 * count (batches × ranks) is what carries over, and it must divide evenly among the new ranks.
 */
export function rescaleMixerPosition(p: MixerPosition, fromWorld: number, toWorld: number): MixerPosition {
  if (fromWorld === toWorld) return p;
  const corpora: Record<string, LoaderPosition> = {};
  for (const [name, pos] of Object.entries(p.corpora)) {
    const global = pos.batch * fromWorld;
    if (global % toWorld !== 0)
      throw new ShardError(
        `cannot resume on ${toWorld} ranks: corpus ${name} is ${global} micro-batches into epoch ${pos.epoch} (saved by ${fromWorld} ranks), which ${toWorld} ranks cannot share evenly; resume on a world size that divides ${global}`,
      );
    corpora[name] = { epoch: pos.epoch, batch: global / toWorld };
  }
  return { step: p.step, corpora };
}

export interface MixerPosition {
  step: number;
  corpora: Record<string, LoaderPosition>;
}

/**
 * Several corpora (wiki, books, ...) in one run: each optimizer step draws all its micro-batches from one corpus,
 * chosen with probability proportional to its size by a draw keyed by (seed, step), so every rank picks the same
 * corpus and a resumed run the same sequence of corpora.
 */
export class CorpusMixer {
  private step = 0;
  private readonly names: string[];
  private readonly weights: number[];

  constructor(
    private readonly loaders: Map<string, PretrainingLoader>,
    private readonly seed: number,
  ) {
    this.names = [...loaders.keys()].sort();
    const sizes = this.names.map((n) => (loaders.get(n) as PretrainingLoader).shards.count);
    const total = sizes.reduce((a, b) => a + b, 0);
    this.weights = sizes.map((s) => s / total);
  }

  /** The corpus of the next optimizer step and its micro-batches. */
  nextStep(microBatches: number): { corpus: string; batches: Batch[] } {
    const u = SeededRandom.forKey(this.seed, this.step, 0xc0de).next();
    let acc = 0;
    let chosen = this.names[this.names.length - 1] as string;
    for (let i = 0; i < this.names.length; i++) {
      acc += this.weights[i] as number;
      if (u < acc) {
        chosen = this.names[i] as string;
        break;
      }
    }
    const loader = this.loaders.get(chosen) as PretrainingLoader;
    this.step++;
    return { corpus: chosen, batches: Array.from({ length: microBatches }, () => loader.next()) };
  }

  position(): MixerPosition {
    return { step: this.step, corpora: Object.fromEntries([...this.loaders].map(([n, l]) => [n, l.position()])) };
  }

  restore(p: MixerPosition): void {
    this.step = p.step;
    for (const [n, pos] of Object.entries(p.corpora)) {
      const loader = this.loaders.get(n);
      if (!loader) throw new ShardError(`the saved position names corpus ${n}, which this run does not have`);
      loader.restore(pos);
    }
  }
}
