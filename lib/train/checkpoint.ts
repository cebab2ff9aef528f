// Checkpoints: <output_dir>/saved_models/<job_name>/<tag>/ with the model weights (model.safetensors, names as
// in the engine), the optimizer moments (optimizer.safetensors) and state.json (counters, data position, θ,
// loss-scaler state, resolved configs). A checkpoint is assembled in a temporary folder and renamed into place,
// then `latest` is replaced (temporary file + rename): a crash at any moment leaves the previous `latest`
// pointing at a complete checkpoint.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import { readSafetensors, tensorFloat32, writeSafetensors, type TensorToWrite } from "../formats/safetensors.js";
import type { NativeEngine } from "../native/types.js";

export const CHECKPOINT_FORMAT = 1;

export interface TrainingState {
  format: number;
  tag: string;
  global_steps: number;
  skipped_steps: number;
  /** Updates actually applied (drives bias correction). */
  optimizer_steps: number;
  global_samples: number;
  epoch: number;
  last_global_step: number;
  last_global_data_samples: number;
  data_position: unknown;
  /** Ranks of the run that wrote it (absent: 1); the data position is per rank. */
  world_size?: number;
  theta: number;
  loss_scaler: unknown;
  configs: unknown;
}

export class CheckpointError extends Error {
  readonly code = "ERR_CHECKPOINT";
}

export function jobDir(outputDir: string, jobName: string): string {
  return join(outputDir, "saved_models", jobName);
}

export function saveCheckpoint(engine: NativeEngine, dir: string, state: TrainingState): string {
  mkdirSync(dir, { recursive: true });
  const final = join(dir, state.tag);
  const tmp = join(dir, `.tmp-${state.tag}-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  const infos = engine.paramInfos();
  const model = new Map<string, TensorToWrite>();
  const optimizer = new Map<string, TensorToWrite>();
  for (const p of infos) {
    model.set(p.name, { dtype: "F32", shape: p.shape, data: engine.getParam(p.name) });
    const s = engine.getOptimizerState(p.name);
    optimizer.set(`exp_avg/${p.name}`, { dtype: "F32", shape: p.shape, data: s.expAvg });
    optimizer.set(`exp_avg_sq/${p.name}`, { dtype: "F32", shape: p.shape, data: s.expAvgSq });
  }
  writeSafetensors(join(tmp, "model.safetensors"), model, { format: "pt", producer: "bert-train" });
  writeSafetensors(join(tmp, "optimizer.safetensors"), optimizer, { producer: "bert-train" });
  writeFileSync(join(tmp, "state.json"), JSON.stringify(state, null, 2) + "\n");
  if (existsSync(final)) {
    const old = join(dir, `.old-${state.tag}-${process.pid}`);
    renameSync(final, old);
    renameSync(tmp, final);
    rmSync(old, { recursive: true, force: true });
  } else {
    renameSync(tmp, final);
  }
  const latestTmp = join(dir, `.latest-${process.pid}`);
  writeFileSync(latestTmp, state.tag + "\n");
  renameSync(latestTmp, join(dir, "latest"));
  return final;
}

export function resolveCheckpointDir(dir: string, id: string): string {
  if (id === "latest") {
    const latest = join(dir, "latest");
    if (!existsSync(latest)) throw new CheckpointError(`${dir} has no "latest" checkpoint to resume from`);
    id = readFileSync(latest, "utf8").trim();
  }
  const path = join(dir, id);
  if (!existsSync(join(path, "state.json")))
    throw new CheckpointError(`${path} is not a complete checkpoint (no state.json)`);
  return path;
}

/** Loads weights (and, when asked, optimizer moments) into the engine; returns the saved state. */
export function loadCheckpoint(engine: NativeEngine, path: string, withOptimizer: boolean): TrainingState {
  const state = JSON.parse(readFileSync(join(path, "state.json"), "utf8")) as TrainingState;
  if (state.format !== CHECKPOINT_FORMAT)
    throw new CheckpointError(`${path}: checkpoint format ${state.format}, this bert-train reads ${CHECKPOINT_FORMAT}`);
  const model = readSafetensors(join(path, "model.safetensors"));
  const names = engine.paramInfos().map((p) => p.name);
  const missing = names.filter((n) => !model.tensors.has(n));
  const unexpected = [...model.tensors.keys()].filter((n) => !names.includes(n));
  if (missing.length || unexpected.length)
    throw new CheckpointError(
      `${path}: the checkpoint does not fit this model: missing ${missing.join(", ") || "nothing"}; unexpected ${unexpected.join(", ") || "nothing"}`,
    );
  for (const n of names) engine.setParam(n, tensorFloat32(model, n));
  if (withOptimizer) {
    const opt = readSafetensors(join(path, "optimizer.safetensors"));
    for (const n of names)
      engine.setOptimizerState(n, tensorFloat32(opt, `exp_avg/${n}`), tensorFloat32(opt, `exp_avg_sq/${n}`));
  }
  return state;
}
