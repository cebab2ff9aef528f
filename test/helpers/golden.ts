// Loads a golden file written by scripts/make_golden.py into an engine-ready form.
import { join } from "node:path";

import {
  createEngine,
  type Batch,
  type Device,
  type LayerGates,
  type ModelConfig,
  type NativeEngine,
  type PassOptions,
  type Precision,
} from "../../lib/native/engine.js";
import { projectRoot } from "../../lib/native/load.js";
import {
  readSafetensors,
  tensorFloat32,
  tensorFloat64,
  tensorInt32,
  type SafetensorsFile,
} from "../../lib/formats/safetensors.js";

export const GOLDEN_FORMAT_VERSION = "1";

export const GOLDEN_CASES = [
  "preln_pretrain_all_kept",
  "preln_pretrain_layer1_dropped",
  "preln_pretrain_tanh_gelu",
  "postln_pretrain_all_kept",
  "postln_pretrain_layer0_dropped",
  "preln_classify_3",
  "postln_regression",
  "preln_pretrain_dropout",
] as const;

export interface GoldenCase {
  file: SafetensorsFile;
  config: ModelConfig;
  gates: LayerGates;
  batch: Batch;
  paramNames: string[];
  /** The pass that reproduces the file: with dropout, the engine seed and dropout stream whose masks it used. */
  pass: PassOptions;
  seed: number;
}

export function loadGolden(name: string): GoldenCase {
  const file = readSafetensors(join(projectRoot(), "test", "golden", `${name}.safetensors`));
  if (file.metadata.format_version !== GOLDEN_FORMAT_VERSION)
    throw new Error(
      `${name}: golden format ${file.metadata.format_version}, expected ${GOLDEN_FORMAT_VERSION}: rerun scripts/make_golden.py`,
    );
  const config = JSON.parse(file.metadata.config ?? "{}") as ModelConfig;
  const rawGates = JSON.parse(file.metadata.gates ?? "{}") as { keep: number[]; scale: number[] };
  const gates: LayerGates = { keep: rawGates.keep.map((k) => k !== 0), scale: rawGates.scale };
  const ids = file.tensors.get("input/input_ids");
  if (!ids) throw new Error(`${name}: no input/input_ids`);
  const [batchSize, seqLen] = ids.shape as [number, number];
  const batch: Batch = {
    batchSize,
    seqLen,
    inputIds: tensorInt32(file, "input/input_ids"),
    segmentIds: tensorInt32(file, "input/segment_ids"),
    inputMask: tensorInt32(file, "input/input_mask"),
  };
  if (config.num_labels === 0) {
    batch.maskedPositions = tensorInt32(file, "input/masked_positions");
    batch.maskedLabels = tensorInt32(file, "input/masked_labels");
    batch.numMasked = batch.maskedPositions.length;
    batch.nextSentenceLabels = tensorInt32(file, "input/next_sentence_labels");
  } else if (config.num_labels === 1) {
    batch.regressionTargets = tensorFloat32(file, "input/regression_targets");
  } else {
    batch.classLabels = tensorInt32(file, "input/class_labels");
  }
  const paramNames = [...file.tensors.keys()].filter((k) => k.startsWith("param/")).map((k) => k.slice(6));
  const dropout = file.metadata.dropout
    ? (JSON.parse(file.metadata.dropout) as { seed: number; stream: number })
    : undefined;
  const pass: PassOptions = dropout ? { train: true, dropoutStream: dropout.stream } : { train: false };
  return { file, config, gates, batch, paramNames, pass, seed: dropout?.seed ?? 42 };
}

/** An engine holding the golden weights. */
export function engineFor(
  golden: GoldenCase,
  precision: Precision,
  kernels: "fast" | "reference" = "fast",
  device: Device = "cpu",
): NativeEngine {
  const engine = createEngine({ config: golden.config, precision, kernels, seed: golden.seed, device });
  for (const name of golden.paramNames) engine.setParam(name, tensorFloat32(golden.file, `param/${name}`));
  return engine;
}

export function goldenScalar(golden: GoldenCase, name: string): number {
  return tensorFloat64(golden.file, `output/${name}`)[0] as number;
}
