// NVIDIA DeepLearningExamples' BERT pre-training shards, the layout DeepSpeed's bing_bert reads with
// --use_nvidia_dataset: one HDF5 file per shard holding six integer datasets, statically masked.
//   input_ids, input_mask, segment_ids      N x seq
//   masked_lm_positions, masked_lm_ids       N x max_predictions, padded with 0 (position 0 is [CLS], never
//                                            masked, so the first 0 ends a row's list)
//   next_sentence_labels                     N (or N x 1)
// Shards are read in blocks of rows (never a whole multi-GB dataset at once) into compact typed columns, every
// row checked as it arrives; shards are written the same way, in the dtypes NVIDIA's tool writes (int32 ids and
// positions, int8 masks and labels, gzip), through a temporary name renamed into place when complete.
import { closeSync, fsyncSync, openSync, renameSync, rmSync } from "node:fs";

import type { PretrainingInstance } from "./example.js";
import { hdf5, hdf5Reason, isHdf5Failure, type Hdf5Dataset, type Hdf5File } from "./hdf5.js";
import { recordProblem, ShardError, type RecordLimits } from "./record-checks.js";

export const HDF5_SHARD = /\.(hdf5|h5)$/;
/** Rows read or written per HDF5 call: bounds the memory a block takes (under 4 MB at sequence 512). */
const BLOCK_ROWS = 2048;
/** The most values one column may hold: 2³¹ (4 GiB of 16-bit ids), far past any real shard. */
const MAX_COLUMN = 2 ** 31;
/** Rows per HDF5 chunk of the shards we write (the unit of compression). */
const CHUNK_ROWS = 256;

const LAYOUT = [
  { name: "input_ids", width: "seq", dtype: "<i" },
  { name: "input_mask", width: "seq", dtype: "<b" },
  { name: "segment_ids", width: "seq", dtype: "<b" },
  { name: "masked_lm_positions", width: "predictions", dtype: "<i" },
  { name: "masked_lm_ids", width: "predictions", dtype: "<i" },
  { name: "next_sentence_labels", width: "one", dtype: "<b" },
] as const;

type Column = (typeof LAYOUT)[number];
type ColumnName = Column["name"];
type IntArray = Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array | Float64Array;
type Columns = Record<ColumnName, IntArray>;

/** Rows of the layout held column by column. */
export class PackedRows {
  constructor(
    readonly columns: Columns,
    readonly length: number,
    readonly seqLen: number,
    readonly maxPredictions: number,
  ) {}

  width(c: Column): number {
    return c.width === "seq" ? this.seqLen : c.width === "predictions" ? this.maxPredictions : 1;
  }

  /** A row as an instance: its masks are the positions before the first 0. */
  instance(row: number): PretrainingInstance {
    const c = this.columns;
    const T = this.seqLen;
    const P = this.maxPredictions;
    const take = (a: IntArray, w: number) => Array.from(a.subarray(row * w, row * w + w));
    const positions = take(c.masked_lm_positions, P);
    const end = positions.indexOf(0);
    const used = end < 0 ? P : end;
    return {
      inputIds: take(c.input_ids, T),
      inputMask: take(c.input_mask, T),
      segmentIds: take(c.segment_ids, T),
      nextSentenceLabel: c.next_sentence_labels[row] as number,
      masked: {
        positions: positions.slice(0, used),
        ids: take(c.masked_lm_ids, P).slice(0, used),
        weights: new Array<number>(used).fill(1),
      },
    };
  }
}

function openForReading(h5: Awaited<ReturnType<typeof hdf5>>, file: string): Hdf5File {
  try {
    return new h5.File(file, "r");
  } catch (err) {
    throw new ShardError(`${file}: not a readable HDF5 file (${hdf5Reason(err)})`);
  }
}

/** The dataset `name` of a shard, checked to be integers of the layout's rank. */
function layoutDataset(h5: Awaited<ReturnType<typeof hdf5>>, f: Hdf5File, file: string, c: Column): Hdf5Dataset {
  const entity = f.get(c.name);
  if (!(entity instanceof h5.Dataset))
    throw new ShardError(`${file}: no dataset ${c.name} (NVIDIA's layout has ${LAYOUT.map((l) => l.name).join(", ")})`);
  const m = entity.metadata;
  if (m.type !== 0) {
    const dtype = typeof entity.dtype === "string" ? entity.dtype : "a compound type";
    throw new ShardError(`${file}: dataset ${c.name} holds ${dtype}, not integers`);
  }
  const shape = m.shape ?? [];
  const rankOk = c.width === "one" ? shape.length === 1 || (shape.length === 2 && shape[1] === 1) : shape.length === 2;
  if (!rankOk)
    throw new ShardError(
      `${file}: dataset ${c.name} has shape [${shape.join(", ")}], expected ${c.width === "one" ? "[rows]" : `[rows, ${c.width === "seq" ? "sequence" : "max_predictions"}]`}`,
    );
  return entity;
}

/** The shard's row count, sequence length and predictions per row, from its datasets' shapes. */
function layoutShape(file: string, datasets: Map<ColumnName, Hdf5Dataset>) {
  const shape = (n: ColumnName) => (datasets.get(n) as Hdf5Dataset).shape ?? [];
  const [rows, seqLen] = shape("input_ids") as [number, number];
  const maxPredictions = shape("masked_lm_positions")[1] as number;
  for (const c of LAYOUT) {
    const s = shape(c.name);
    const width = c.width === "seq" ? seqLen : c.width === "predictions" ? maxPredictions : (s[1] ?? 1);
    if (s[0] !== rows || (s.length === 2 && s[1] !== width))
      throw new ShardError(
        `${file}: dataset ${c.name} has shape [${s.join(", ")}], but input_ids [${rows}, ${seqLen}] and masked_lm_positions [${shape("masked_lm_positions").join(", ")}] say [${rows}${c.width === "one" ? "" : `, ${width}`}]`,
      );
  }
  return { rows, seqLen, maxPredictions };
}

/** Compact columns for `rows` rows: ids in 16 bits when the vocabulary allows, flags in 8. */
function compactColumns(rows: number, seqLen: number, maxPredictions: number, vocabSize: number | undefined): Columns {
  const Ids = vocabSize !== undefined && vocabSize <= 65536 ? Uint16Array : Int32Array;
  const Positions = seqLen <= 65536 ? Uint16Array : Int32Array;
  return {
    input_ids: new Ids(rows * seqLen),
    input_mask: new Uint8Array(rows * seqLen),
    segment_ids: new Uint8Array(rows * seqLen),
    masked_lm_positions: new Positions(rows * maxPredictions),
    masked_lm_ids: new Ids(rows * maxPredictions),
    next_sentence_labels: new Uint8Array(rows),
  };
}

/** Rows [start, end) of a dataset as numbers (64-bit integers converted). */
function readBlock(ds: Hdf5Dataset, file: string, start: number, end: number): IntArray {
  let data;
  try {
    data = ds.slice((ds.shape ?? []).length === 2 ? [[start, end], []] : [[start, end]]);
  } catch (err) {
    throw new ShardError(`${file}: dataset ${ds.path.slice(1)}, rows ${start}-${end - 1}: ${hdf5Reason(err)}`);
  }
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) return Float64Array.from(data, Number);
  return data as IntArray;
}

/**
 * An HDF5 shard in NVIDIA's layout, read block by block, every row checked (`limits.seqLen` 0 takes the shard's).
 * A problem is a ShardError naming the file, and the dataset or the row.
 */
export async function readHdf5Shard(file: string, limits: RecordLimits): Promise<PackedRows> {
  const h5 = await hdf5();
  const f = openForReading(h5, file);
  try {
    return readLayout(h5, f, file, limits);
  } catch (err) {
    if (isHdf5Failure(err)) throw new ShardError(`${file}: ${hdf5Reason(err)}`);
    throw err;
  } finally {
    closeQuietly(f);
  }
}

/** Closes a file we only read; after a library failure closing may fail too, and nothing is lost. */
function closeQuietly(f: Hdf5File): void {
  try {
    f.close();
  } catch {
    // read-only: nothing to flush
  }
}

/** The layout's datasets of an open file, checked, then read block by block into compact columns. */
function readLayout(h5: Awaited<ReturnType<typeof hdf5>>, f: Hdf5File, file: string, limits: RecordLimits): PackedRows {
  const datasets = new Map(LAYOUT.map((c) => [c.name, layoutDataset(h5, f, file, c)]));
  const { rows, seqLen, maxPredictions } = layoutShape(file, datasets);
  if (limits.seqLen === 0) limits.seqLen = seqLen;
  if (seqLen !== limits.seqLen)
    throw new ShardError(`${file}: sequence length ${seqLen} (input_ids), the corpus's is ${limits.seqLen}`);
  if (rows * Math.max(seqLen, maxPredictions) > MAX_COLUMN)
    throw new ShardError(`${file}: ${rows} rows of sequence ${seqLen} (input_ids) are more than one shard can hold`);
  const packed = new PackedRows(
    compactColumns(rows, seqLen, maxPredictions, limits.vocabSize),
    rows,
    seqLen,
    maxPredictions,
  );
  for (let start = 0; start < rows; start += BLOCK_ROWS) {
    const end = Math.min(rows, start + BLOCK_ROWS);
    const block = Object.fromEntries(
      LAYOUT.map((c) => [c.name, readBlock(datasets.get(c.name) as Hdf5Dataset, file, start, end)]),
    ) as Columns;
    const view = new PackedRows(block, end - start, seqLen, maxPredictions);
    for (let k = 0; k < view.length; k++) {
      const problem = recordProblem(view.instance(k), limits);
      if (problem !== undefined) throw new ShardError(`${file}: row ${start + k}: ${problem}`);
    }
    for (const c of LAYOUT) packed.columns[c.name].set(block[c.name], start * packed.width(c));
  }
  return packed;
}

export class Hdf5WriteError extends Error {
  readonly code = "ERR_HDF5_WRITE";
}

/** Runs an HDF5 write, reporting a failure (a full disk, say) as one line naming the file. */
function writing<T>(path: string, action: () => T): T {
  try {
    return action();
  } catch (err) {
    if (err instanceof Hdf5WriteError) throw err;
    throw new Hdf5WriteError(`${path}: cannot write the HDF5 shard (${hdf5Reason(err)})`);
  }
}

/** Writes statically masked instances to an HDF5 shard in NVIDIA's layout. */
export class Hdf5ShardWriter {
  private readonly tmp: string;
  private file: Hdf5File | undefined;
  private readonly block: PackedRows;
  private filled = 0;
  count = 0;

  private constructor(
    h5: Awaited<ReturnType<typeof hdf5>>,
    readonly path: string,
    seqLen: number,
    maxPredictions: number,
  ) {
    this.tmp = `${path}.tmp-${process.pid}`;
    this.block = new PackedRows(
      {
        input_ids: new Int32Array(BLOCK_ROWS * seqLen),
        input_mask: new Int8Array(BLOCK_ROWS * seqLen),
        segment_ids: new Int8Array(BLOCK_ROWS * seqLen),
        masked_lm_positions: new Int32Array(BLOCK_ROWS * maxPredictions),
        masked_lm_ids: new Int32Array(BLOCK_ROWS * maxPredictions),
        next_sentence_labels: new Int8Array(BLOCK_ROWS),
      },
      BLOCK_ROWS,
      seqLen,
      maxPredictions,
    );
    this.file = writing(path, () => new h5.File(this.tmp, "w"));
    writing(path, () => this.createDatasets(this.file as Hdf5File));
  }

  private createDatasets(file: Hdf5File): void {
    for (const c of LAYOUT) {
      const w = this.block.width(c);
      const twoD = c.width !== "one";
      file.create_dataset({
        name: c.name,
        data: this.block.columns[c.name].subarray(0, 0),
        shape: twoD ? [0, w] : [0],
        maxshape: twoD ? [null, w] : [null],
        chunks: twoD ? [CHUNK_ROWS, w] : [CHUNK_ROWS * 16],
        dtype: c.dtype,
        compression: "gzip",
        compression_opts: 4,
      });
    }
  }

  static async create(path: string, seqLen: number, maxPredictions: number): Promise<Hdf5ShardWriter> {
    return new Hdf5ShardWriter(await hdf5(), path, seqLen, maxPredictions);
  }

  /** Appends one instance; it must carry static masks (positions with weight 0 are written as 0). */
  write(inst: PretrainingInstance): void {
    const m = inst.masked;
    if (!m) throw new Error(`${this.path}: HDF5 shards hold statically masked instances only`);
    const b = this.block;
    const r = this.filled;
    const T = b.seqLen;
    const P = b.maxPredictions;
    b.columns.input_ids.set(inst.inputIds, r * T);
    b.columns.input_mask.set(inst.inputMask, r * T);
    b.columns.segment_ids.set(inst.segmentIds, r * T);
    for (let j = 0; j < P; j++) {
      const used = (m.weights[j] ?? 0) > 0;
      b.columns.masked_lm_positions[r * P + j] = used ? (m.positions[j] as number) : 0;
      b.columns.masked_lm_ids[r * P + j] = used ? (m.ids[j] as number) : 0;
    }
    b.columns.next_sentence_labels[r] = inst.nextSentenceLabel;
    this.filled++;
    if (this.filled === BLOCK_ROWS) this.flush();
  }

  private flush(): void {
    const file = this.file;
    if (!file) throw new Error(`${this.path}: write after close`);
    writing(this.path, () => this.append(file));
  }

  private append(file: Hdf5File): void {
    const start = this.count;
    const end = start + this.filled;
    for (const c of LAYOUT) {
      const w = this.block.width(c);
      const ds = file.get(c.name) as Hdf5Dataset;
      const twoD = c.width !== "one";
      ds.resize(twoD ? [end, w] : [end]);
      ds.write_slice(
        twoD ? [[start, end], []] : [[start, end]],
        this.block.columns[c.name].subarray(0, this.filled * w),
      );
    }
    this.count = end;
    this.filled = 0;
  }

  /** Writes the last rows, flushes to disk and renames into place. */
  close(): void {
    if (!this.file) return;
    if (this.filled > 0) this.flush();
    const file = this.file;
    this.file = undefined;
    writing(this.path, () => file.close());
    const fd = openSync(this.tmp, "r+");
    fsyncSync(fd);
    closeSync(fd);
    renameSync(this.tmp, this.path);
  }

  /** Drops a partial file (on error or interruption). */
  abort(): void {
    try {
      this.file?.close();
    } catch {
      // the file is being removed anyway
    }
    this.file = undefined;
    rmSync(this.tmp, { force: true });
  }
}
