// One fuzz target per reader of outside input: TFRecord framing, tf.Example records (with the record checks the
// loader applies), safetensors, GLUE TSV files, a checkpoint's state.json (with what a resume reads from it), a
// corpus folder's dataset.json, NVIDIA's HDF5 shards (the HDF5 library reading damaged files), and PyTorch
// checkpoint files (the zip archive and the restricted unpickler). Each names the
// errors the reader is meant to raise; anything else it throws is a foreign exception, a fuzz failure.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { unzipSync, zipSync } from "fflate";
import { tmpdir } from "node:os";
import { join } from "node:path";

import {
  decodeExample,
  encodeExample,
  exampleFromInstance,
  ExampleError,
  instanceFromExample,
} from "../../lib/data/example.js";
import { CorpusShards, rescaleMixerPosition, ShardError, type MixerPosition } from "../../lib/data/loader.js";
import { hdf5 } from "../../lib/data/hdf5.js";
import { Hdf5ShardWriter } from "../../lib/data/nvidia-hdf5.js";
import { recordProblem } from "../../lib/data/record-checks.js";
import { crc32c, maskCrc } from "../../lib/data/crc32c.js";
import { TfRecordError, tfRecords, TfRecordWriter } from "../../lib/data/tfrecord.js";
import { TorchCheckpointError } from "../../lib/formats/torch-checkpoint.js";
import { readWeightFile } from "../../lib/formats/weight-file.js";
import { parseSafetensors, SafetensorsError, tensorFloat32, writeSafetensors } from "../../lib/formats/safetensors.js";
import { GLUE_TASKS, GlueError, readGlueFile, type GlueTask } from "../../lib/glue/tasks.js";
import { projectRoot } from "../../lib/paths.js";
import { CheckpointError, readTrainingState } from "../../lib/train/checkpoint.js";
import { LossScaler, type LossScalerState } from "../../lib/train/loss-scaler.js";
import { modelConfigFromCheckpointState } from "../../lib/train/model-folder.js";
import { byteMutation, jsonMutation, type CaseRandom, type Seed, type StructuredMutation } from "./mutate.js";

export interface FuzzTarget {
  name: string;
  /** Mutations that know the format, besides the byte ones. */
  structured?: StructuredMutation;
  /** Work before seeds() can answer (creating seed files through an async library), done once per process. */
  prepare?(): Promise<void>;
  seeds(): Seed[];
  run(input: Seed): void | Promise<void>;
  /** The errors this reader raises for bad input. */
  expected: (new (...args: never[]) => Error)[];
  /** Cases per worker run (default 20,000): fewer for slow readers, so a timed run ends near its time. */
  slice?: number;
}

const scratch = () => mkdtempSync(join(tmpdir(), "bert-train-fuzz-"));
let scratchDir = "";
/** One scratch folder per process, for targets that write their input to a file. */
const scratchOnce = () => (scratchDir ||= scratch());
const GOOGLE_SHARD = join(projectRoot(), "test", "fixtures", "google_format_sample_seq128.tfrecord");

function googleRecords(): Uint8Array[] {
  return [...tfRecords(readFileSync(GOOGLE_SHARD), GOOGLE_SHARD)];
}

function framed(records: Uint8Array[]): Uint8Array {
  const dir = scratch();
  const w = new TfRecordWriter(join(dir, "s.tfrecord"));
  for (const r of records) w.write(r);
  w.close();
  return readFileSync(join(dir, "s.tfrecord"));
}

/**
 * A record's length field set to an extreme with its CRC made valid again, or a record's payload changed with
 * both CRCs made valid: what a writer with a bug (not a damaged disk) produces, past the checksums.
 */
function tfrecordMutation(r: CaseRandom, d: Uint8Array): Uint8Array | undefined {
  if (d.length < 16) return undefined;
  const out = d.slice();
  const view = new DataView(out.buffer);
  const length = Number(view.getBigUint64(0, true));
  if (r.below(2) === 0) {
    const lengths = [0, 1, length - 1, length + 1, d.length, 2 ** 31, 2 ** 32 + 1, 2 ** 53];
    view.setBigUint64(0, BigInt(r.pick(lengths)), true);
    view.setUint32(8, maskCrc(crc32c(out.subarray(0, 8))), true);
    return out;
  }
  if (length > d.length - 16 || length === 0) return undefined;
  const at = 12 + r.below(length);
  out[at] = (out[at] as number) ^ 0xff;
  view.setUint32(12 + length, maskCrc(crc32c(out.subarray(12, 12 + length))), true);
  return out;
}

const tfrecord: FuzzTarget = {
  name: "tfrecord",
  structured: tfrecordMutation,
  seeds: () => {
    const records = googleRecords();
    return [framed(records.slice(0, 1)), framed(records.slice(0, 3)), framed([new Uint8Array(0)])].map((data) => ({
      data,
    }));
  },
  run: ({ data }) => {
    for (const record of tfRecords(data, "fuzz.tfrecord")) void record;
  },
  expected: [TfRecordError],
};

const EXTREME_IDS = [-1, 0, 1, 30521, 30522, 2 ** 31, 2 ** 32 + 7, 2 ** 53, -(2 ** 40)];

/** A tf.Example's features changed as a faulty writer would: values, lengths, kinds, features dropped. */
function exampleMutation(r: CaseRandom, d: Uint8Array): Uint8Array | undefined {
  let features: ReturnType<typeof decodeExample>;
  try {
    features = decodeExample(d);
  } catch {
    return undefined;
  }
  const names = [...features.keys()];
  if (names.length === 0) return undefined;
  const name = r.pick(names);
  const f = features.get(name) as NonNullable<ReturnType<typeof features.get>>;
  const action = r.below(5);
  if (action === 0) features.delete(name);
  else if (action === 1 && f.kind !== "bytes") f.values = f.values.slice(0, r.below(f.values.length + 1));
  else if (action === 2 && f.kind !== "bytes") f.values = [...f.values, ...f.values.slice(0, 1 + r.below(4))];
  else if (action === 3)
    features.set(name, r.below(2) ? { kind: "float", values: [1.5] } : { kind: "bytes", values: [d.subarray(0, 3)] });
  else if (f.kind === "int64" && f.values.length) f.values[r.below(f.values.length)] = r.pick(EXTREME_IDS);
  return encodeExample(features);
}

const example: FuzzTarget = {
  name: "tf.Example",
  seeds: () => [
    ...googleRecords()
      .slice(0, 4)
      .map((data) => ({ data })),
    {
      data: encodeExample(
        exampleFromInstance({
          inputIds: [101, 7, 102, 8, 102, ...new Array<number>(123).fill(0)],
          inputMask: [1, 1, 1, 1, 1, ...new Array<number>(123).fill(0)],
          segmentIds: [0, 0, 0, 1, 1, ...new Array<number>(123).fill(0)],
          nextSentenceLabel: 1,
          masked: { positions: [1, 3], ids: [2023, 2003], weights: [1, 1] },
        }),
      ),
    },
  ],
  structured: exampleMutation,
  run: ({ data }) => {
    // what the loader does with each record when a corpus opens
    const problem = recordProblem(instanceFromExample(decodeExample(data)), { seqLen: 128, vocabSize: 30522 });
    if (problem) throw new ExampleError(problem);
  },
  expected: [ExampleError],
};

function safetensorsSeed(
  tensors: Map<string, { dtype: "F32" | "I32"; shape: number[]; data: Float32Array | Int32Array }>,
) {
  const dir = scratch();
  writeSafetensors(join(dir, "t.safetensors"), tensors, { format: "pt" });
  return { data: new Uint8Array(readFileSync(join(dir, "t.safetensors"))) };
}

const safetensors: FuzzTarget = {
  name: "safetensors",
  seeds: () => [
    safetensorsSeed(new Map([["w", { dtype: "F32", shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) }]])),
    safetensorsSeed(
      new Map([
        ["a.weight", { dtype: "F32", shape: [4], data: new Float32Array(4) }],
        ["b", { dtype: "I32", shape: [1, 2], data: Int32Array.from([7, 8]) }],
      ]),
    ),
  ],
  run: ({ data }) => {
    const file = parseSafetensors(data, "fuzz.safetensors");
    for (const [name, t] of file.tensors) if (t.dtype === "F32") tensorFloat32(file, name); // reads its bytes
  },
  expected: [SafetensorsError],
};

/** A few rows of a task's file in its layout (header, columns, labels), as the GLUE files have them. */
function glueSeed(key: string, task: GlueTask, kind: "train" | "dev" | "test"): Seed {
  const layout = task.layouts[kind];
  const rows = [0, 1, 2].map((i) => {
    const cols = Array.from({ length: layout.columns }, (_, c) => `col${c} row ${i}`);
    cols[layout.a] = `the first text of row ${i}`;
    if (layout.b !== undefined) cols[layout.b] = `the second text ${i}`;
    if (layout.id !== undefined) cols[layout.id] = String(i);
    if (layout.label !== undefined) {
      const label = task.regression ? (i * 1.7).toFixed(1) : (task.labels[i % task.labels.length] as string);
      cols[layout.label === -1 ? cols.length - 1 : layout.label] = label;
    }
    return cols.join("\t");
  });
  const header = layout.header ? [Array.from({ length: layout.columns }, (_, c) => `h${c}`).join("\t")] : [];
  return { data: new TextEncoder().encode([...header, ...rows].join("\n") + "\n"), meta: `${key}:${kind}` };
}

let glueDir = "";
const glue: FuzzTarget = {
  name: "GLUE TSV",
  seeds: () => {
    const seeds = Object.entries(GLUE_TASKS).flatMap(([key, task]) =>
      (["train", "dev", "test"] as const).map((kind) => glueSeed(key, task, kind)),
    );
    const sst2 = readFileSync(join(projectRoot(), "data", "glue", "SST-2", "dev.tsv"), "utf8").split("\n");
    seeds.push({ data: new TextEncoder().encode(sst2.slice(0, 12).join("\n") + "\n"), meta: "sst-2:dev" });
    return seeds;
  },
  run: ({ data, meta }) => {
    const [key, kind] = (meta as string).split(":") as [string, "train" | "dev" | "test"];
    glueDir ||= scratch();
    const path = join(glueDir, "input.tsv");
    writeFileSync(path, data);
    readGlueFile(GLUE_TASKS[key] as GlueTask, path, kind);
  },
  expected: [GlueError],
};

const STATE = {
  format: 1,
  tag: "epoch1_step8",
  global_steps: 8,
  skipped_steps: 1,
  optimizer_steps: 7,
  global_samples: 64,
  epoch: 1,
  last_global_step: 8,
  last_global_data_samples: 64,
  data_position: { step: 8, corpora: { wiki_pretrain_dataset: { epoch: 1, batch: 2 } } },
  world_size: 2,
  theta: 0.93,
  loss_scaler: {
    scale: 32768,
    hysteresisLeft: 2,
    iteration: 8,
    lastOverflowIteration: 3,
    consecutiveOverflowsAtMin: 0,
  },
  configs: {
    cf: { bert_model_config: { vocab_size_or_config_json_file: 30522, hidden_size: 32, num_hidden_layers: 2 } },
    deepspeed: { train_batch_size: 8 },
    args: { progressive_layer_drop: true, job_name: "j" },
  },
};

let stateDir = "";
const state: FuzzTarget = {
  name: "state.json",
  structured: jsonMutation,
  seeds: () => [
    { data: new TextEncoder().encode(JSON.stringify(STATE, null, 2)) },
    { data: new TextEncoder().encode(JSON.stringify({ ...STATE, loss_scaler: undefined, world_size: undefined })) },
  ],
  run: ({ data }) => {
    stateDir ||= scratch();
    writeFileSync(join(stateDir, "state.json"), data);
    // what a resume, evaluate and export read from it
    const s = readTrainingState(stateDir);
    modelConfigFromCheckpointState(s);
    rescaleMixerPosition(s.data_position as MixerPosition, s.world_size ?? 1, 1);
    if (s.loss_scaler) new LossScaler({}, s.loss_scaler as LossScalerState).update(false);
  },
  expected: [CheckpointError, ShardError],
};

let corpusDir = "";
const manifest: FuzzTarget = {
  name: "dataset.json",
  structured: jsonMutation,
  seeds: () => {
    const records = googleRecords().slice(0, 3);
    corpusDir = scratch();
    mkdirSync(corpusDir, { recursive: true });
    writeFileSync(join(corpusDir, "shard_00000.tfrecord"), framed(records.slice(0, 2)));
    writeFileSync(join(corpusDir, "shard_00001.tfrecord"), framed(records.slice(2)));
    const m = {
      format: "bert-train-pretraining-shards",
      version: 1,
      shards: [
        { file: "shard_00000.tfrecord", records: 2 },
        { file: "shard_00001.tfrecord", records: 1 },
      ],
      records: 3,
      maxSeqLength: 128,
      maxPredictionsPerSeq: 20,
      staticMasks: true,
      vocabSize: 30522,
      lowerCase: true,
    };
    return [{ data: new TextEncoder().encode(JSON.stringify(m, null, 2)) }];
  },
  run: async ({ data }) => {
    writeFileSync(join(corpusDir, "dataset.json"), data);
    await CorpusShards.open(corpusDir, { vocabSize: 30522 });
  },
  expected: [ShardError, TfRecordError],
};

/** Seed shards in NVIDIA's layout: ours (chunked, gzip) and one of contiguous, uncompressed int32 datasets. */
async function nvidiaSeeds(): Promise<Seed[]> {
  const dir = scratch();
  const first = googleRecords()
    .slice(0, 3)
    .map((r) => instanceFromExample(decodeExample(r)));
  const w = await Hdf5ShardWriter.create(join(dir, "ours.hdf5"), 128, 20);
  for (const inst of first) w.write(inst);
  w.close();
  const h5 = await hdf5();
  const f = new h5.File(join(dir, "plain.hdf5"), "w");
  const rows = (width: number, value: number) => ({ data: new Int32Array(2 * width).fill(value), shape: [2, width] });
  const datasets = {
    input_ids: rows(8, 2000),
    input_mask: rows(8, 1),
    segment_ids: rows(8, 0),
    masked_lm_positions: rows(2, 3),
    masked_lm_ids: rows(2, 2001),
    next_sentence_labels: { data: new Int32Array(2), shape: [2] },
  };
  for (const [name, d] of Object.entries(datasets)) f.create_dataset({ name, ...d, dtype: "<i" });
  f.close();
  return ["ours.hdf5", "plain.hdf5"].map((name) => ({ data: readFileSync(join(dir, name)), meta: name }));
}

let nvidiaSeedList: Seed[] = [];
let nvidiaDir = "";

const nvidiaHdf5: FuzzTarget = {
  name: "nvidia_hdf5",
  prepare: async () => {
    if (nvidiaSeedList.length > 0) return;
    nvidiaSeedList = await nvidiaSeeds();
    nvidiaDir = scratch();
  },
  seeds: () => nvidiaSeedList,
  run: async ({ data }) => {
    writeFileSync(join(nvidiaDir, "shard.hdf5"), data);
    await CorpusShards.open(nvidiaDir, { vocabSize: 30522 });
  },
  expected: [ShardError],
  slice: 5_000,
};

const TORCH_SEEDS = [
  join(projectRoot(), "test", "fixtures", "weights", "pytorch_model_bin", "pytorch_model.bin"),
  join(projectRoot(), "test", "fixtures", "weights", "deepspeed_job", "global_step10", "mp_rank_00_model_states.pt"),
];

const REBUILT_ZIP_TIME = new Date(2020, 0, 1);

/** The pickle inside the archive mutated and the archive rebuilt, so the unpickler (not the unzip) meets it. */
function picklePayloadMutation(r: CaseRandom, d: Uint8Array): Uint8Array | undefined {
  let files: Record<string, Uint8Array>;
  let entries = 0;
  try {
    // a damaged end record may claim 2^32 entries: stop where the archive's size says it has no more room
    files = unzipSync(d, {
      filter: () => {
        if (++entries > d.length / 46) throw new Error("too many entries");
        return true;
      },
    });
  } catch {
    return undefined;
  }
  const pkl = Object.keys(files).find((n) => n.endsWith("data.pkl"));
  if (!pkl) return undefined;
  files[pkl] = byteMutation(r, files[pkl] as Uint8Array, files[pkl] as Uint8Array);
  return zipSync(files, { level: 0, mtime: REBUILT_ZIP_TIME }); // not today's date: a case must rebuild the same
}

const torchCheckpoint: FuzzTarget = {
  name: "torch_checkpoint",
  structured: picklePayloadMutation,
  seeds: () => TORCH_SEEDS.map((f) => ({ data: readFileSync(f) })),
  run: ({ data }) => {
    const dir = scratchOnce();
    writeFileSync(join(dir, "pytorch_model.bin"), data);
    const weights = readWeightFile(join(dir, "pytorch_model.bin"));
    for (const name of weights.names) if (weights.dtype(name).startsWith("F")) weights.float32(name);
  },
  expected: [TorchCheckpointError],
  slice: 2_000,
};

export const TARGETS: FuzzTarget[] = [
  tfrecord,
  example,
  safetensors,
  glue,
  state,
  manifest,
  nvidiaHdf5,
  torchCheckpoint,
];
