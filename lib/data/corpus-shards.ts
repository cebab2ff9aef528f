// The records of a corpus folder, every one read, decoded and checked when it opens: prepare-data's shards (listed
// by their dataset.json), Google's TFRecord shards, or NVIDIA's HDF5 shards (lib/data/nvidia-hdf5.ts). A bad
// record is named by shard and record here, not by a batch index mid-run.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { basename, join } from "node:path";

import { decodeExample, ExampleError, instanceFromExample, type PretrainingInstance } from "./example.js";
import { MANIFEST, OUR_SHARD } from "./dataset-folder.js";
import { HDF5_SHARD, readHdf5Shard } from "./nvidia-hdf5.js";
import type { DatasetManifest } from "./prepare.js";
import { countProblem, recordProblem, ShardError, vocabularyProblem, type RecordLimits } from "./record-checks.js";
import { TfRecordError, tfRecords } from "./tfrecord.js";

export interface OpenOptions {
  skipCorrupt?: boolean;
  warn?: (line: string) => void;
  /** The run's vocabulary size: token ids must lie below it, and the manifest must agree. */
  vocabSize?: number;
  /** The run's vocabulary file and its SHA-256: the manifest's, when it records one, must be the same. */
  vocabFile?: { path: string; sha256: string };
  /** Read only the folder's HDF5 shards (NVIDIA's layout; bing_bert's --use_nvidia_dataset). */
  onlyHdf5?: boolean;
}

const TFRECORD_SHARD = /\.tfrecord$|\.tfrecords$|^[^.]+-\d+-of-\d+$/;
const NVIDIA_FLAG = "--use_nvidia_dataset";

function readManifest(dir: string): DatasetManifest {
  const path = join(dir, MANIFEST);
  let m: DatasetManifest;
  try {
    m = JSON.parse(readFileSync(path, "utf8")) as DatasetManifest;
  } catch (err) {
    throw new ShardError(`${path}: not a readable manifest (${(err as Error).message}); run prepare-data again`);
  }
  const shardsOk =
    Array.isArray(m?.shards) &&
    m.shards.every(
      (s) =>
        typeof s?.file === "string" && basename(s.file) === s.file && Number.isInteger(s.records) && s.records >= 0,
    );
  if (!shardsOk) throw new ShardError(`${path}: "shards" is not a list of {file, records}; run prepare-data again`);
  return m;
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false; // reading it as a folder says what is wrong
  }
}

/** A folder's shards without a manifest (Google's or NVIDIA's layout): TFRecord files or HDF5 files, not both. */
function foreignShards(dir: string, names: string[], onlyHdf5: boolean): string[] {
  const tfrecord = names.filter((n) => TFRECORD_SHARD.test(n)).sort();
  const hdf5 = names.filter((n) => HDF5_SHARD.test(n)).sort();
  if (onlyHdf5 && hdf5.length === 0)
    throw new ShardError(`${dir} holds no HDF5 shards (*.hdf5, *.h5), which ${NVIDIA_FLAG} reads`);
  if (!onlyHdf5 && tfrecord.length > 0 && hdf5.length > 0)
    throw new ShardError(
      `${dir} holds both TFRecord shards (${tfrecord.length}) and HDF5 shards (${hdf5.length}); pass ${NVIDIA_FLAG} to read the HDF5 ones, or keep each kind in its own folder`,
    );
  return onlyHdf5 || hdf5.length > 0 ? hdf5 : tfrecord;
}

/** The shard files of a corpus folder: the manifest's, or (no manifest) the folder's TFRecord or HDF5 files. */
function shardFiles(dir: string, onlyHdf5: boolean): { files: string[]; manifest?: DatasetManifest } {
  if (isFile(dir)) return { files: [dir] }; // one shard file, named by itself
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    throw new ShardError(`cannot read the shard folder ${dir}: ${(err as Error).message}`);
  }
  if (names.includes(MANIFEST)) {
    const manifest = readManifest(dir);
    const files = manifest.shards.map((s) => join(dir, s.file));
    if (onlyHdf5 && !files.every((f) => HDF5_SHARD.test(f)))
      throw new ShardError(`${dir} holds prepare-data's TFRecord shards, not HDF5 ones; drop ${NVIDIA_FLAG}`);
    return { files, manifest };
  }
  if (names.some((n) => OUR_SHARD.test(n) || n.includes(".tmp-")))
    throw new ShardError(
      `${dir} has prepare-data's shards but no ${MANIFEST}: that prepare-data did not finish; run it again`,
    );
  return { files: foreignShards(dir, names, onlyHdf5).map((n) => join(dir, n)) };
}

/** The rows of one shard. */
interface ShardRows {
  readonly length: number;
  instance(row: number): PretrainingInstance;
}

/** A TFRecord shard's records, kept encoded and decoded when a batch takes them. */
class ExampleRows implements ShardRows {
  constructor(private readonly records: Uint8Array[]) {}

  get length(): number {
    return this.records.length;
  }

  instance(row: number): PretrainingInstance {
    return instanceFromExample(decodeExample(this.records[row] as Uint8Array));
  }
}

/** The records of a corpus folder: every record (TFRecord or HDF5) read, decoded and checked at open. */
export class CorpusShards {
  /** Index of each shard's first record, and the total at the end. */
  private readonly starts: number[];

  private constructor(
    readonly dir: string,
    readonly files: string[],
    private readonly shards: { file: string; rows: ShardRows }[],
    readonly skipped: string[],
    readonly manifest: DatasetManifest | undefined,
    /** The one sequence length of every record. */
    readonly seqLen: number,
  ) {
    this.starts = [0];
    for (const s of shards) this.starts.push((this.starts[this.starts.length - 1] as number) + s.rows.length);
  }

  /** Records in the corpus. */
  get count(): number {
    return this.starts[this.starts.length - 1] as number;
  }

  static async open(dir: string, options: OpenOptions = {}): Promise<CorpusShards> {
    const { files, manifest } = shardFiles(dir, options.onlyHdf5 ?? false);
    if (files.length === 0)
      throw new ShardError(
        `${dir} holds no shards (*.tfrecord, or NVIDIA's *.hdf5); make some with bert-train prepare-data`,
      );
    const vocabProblem =
      manifest && options.vocabSize !== undefined
        ? vocabularyProblem(dir, manifest, {
            size: options.vocabSize,
            sha256: options.vocabFile?.sha256,
            path: options.vocabFile?.path,
          })
        : undefined;
    if (vocabProblem) throw new ShardError(vocabProblem);
    const shards: { file: string; rows: ShardRows }[] = [];
    const skipped: string[] = [];
    const limits = { seqLen: manifest?.maxSeqLength ?? 0, vocabSize: options.vocabSize };
    for (const file of files) {
      try {
        const rows = HDF5_SHARD.test(file) ? await readHdf5Shard(file, limits) : readTfRecordShard(file, limits);
        const problem = countProblem(file, rows.length, manifest);
        if (problem) throw new ShardError(problem);
        shards.push({ file, rows });
      } catch (err) {
        if (!(err instanceof TfRecordError || err instanceof ShardError) || !options.skipCorrupt) throw err;
        skipped.push(file);
        options.warn?.(`skipping the damaged shard ${err.message} (--skip_corrupt_shards)`);
      }
    }
    const corpus = new CorpusShards(dir, files, shards, skipped, manifest, limits.seqLen);
    if (corpus.count === 0) throw new ShardError(`${dir}: no readable records`);
    return corpus;
  }

  instance(index: number): PretrainingInstance {
    let low = 0;
    let high = this.shards.length - 1;
    while (low < high) {
      const mid = (low + high + 1) >> 1;
      if ((this.starts[mid] as number) <= index) low = mid;
      else high = mid - 1;
    }
    return (this.shards[low]?.rows as ShardRows).instance(index - (this.starts[low] as number));
  }

  /** The shards read (skipped ones left out), each with the index of its first record and its record count. */
  ranges(): { file: string; start: number; count: number }[] {
    return this.shards.map((s, i) => ({ file: s.file, start: this.starts[i] as number, count: s.rows.length }));
  }
}

/**
 * A TFRecord shard's records, each decoded and checked; `limits.seqLen` 0 takes the first record's length. A
 * problem is a ShardError naming the file and the record.
 */
function readTfRecordShard(file: string, limits: RecordLimits): ExampleRows {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw new ShardError(`cannot read shard ${file}: ${(err as Error).message}`);
  }
  const records = [...tfRecords(bytes, file)];
  records.forEach((record, k) => {
    let problem: string | undefined;
    try {
      const inst = instanceFromExample(decodeExample(record));
      if (limits.seqLen === 0) limits.seqLen = inst.inputIds.length;
      problem = recordProblem(inst, limits);
    } catch (err) {
      if (!(err instanceof ExampleError)) throw err;
      problem = err.message;
    }
    if (problem !== undefined) throw new ShardError(`${file}: record ${k}: ${problem}`);
  });
  return new ExampleRows(records);
}
