// Checkpoints: <output_dir>/saved_models/<job_name>/<tag>/ with the model weights (model.safetensors, names as
// in the engine), the optimizer moments (optimizer.safetensors) and state.json (counters, data position, θ,
// loss-scaler state, resolved configs). A checkpoint is assembled in a temporary folder and renamed into place,
// then `latest` is replaced (temporary file + rename); re-saving a tag that exists swaps the folders while
// `latest` names a hard-linked copy of the old one. A crash at any moment leaves `latest` naming a complete
// checkpoint.
import {
  copyFileSync,
  existsSync,
  linkSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { basename, join } from "node:path";

import { readSafetensors, tensorFloat32, writeSafetensors, type TensorToWrite } from "../formats/safetensors.js";
import type { ModelConfig, NativeEngine } from "../native/types.js";
import { makeDirs } from "../files.js";
import { stateProblems } from "./state-schema.js";
import { loadWeights } from "./weights.js";

export const CHECKPOINT_FORMAT = 1;

/** The architecture without the choices a run makes (Pre-LN or Post-LN, which head). */
export type ModelShape = Omit<ModelConfig, "pre_layer_norm" | "num_labels">;

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
  /** The vocabulary the run used, copied into the checkpoint (absent in checkpoints written before it was). */
  vocab?: { file: string; sha256: string; do_lower_case: boolean };
  /** The architecture (absent in early checkpoints: their configs.cf gives it). */
  model?: { config: ModelShape; pre_layer_norm: boolean; num_labels: number };
  /** A fine-tuning checkpoint: its GLUE task, the dev results so far, the training loss summed over the epoch so far. */
  glue?: { task: string; results: Record<string, number>; epoch_loss_sum: number };
}

export class CheckpointError extends Error {
  readonly code = "ERR_CHECKPOINT";
}

/** A checkpoint that could not be written (the disk, permissions): the earlier ones are untouched. */
export class SaveError extends Error {
  readonly code = "ERR_SAVE";
  constructor(dir: string, tag: string, cause: unknown) {
    const latest = readLatest(dir);
    super(
      `cannot save checkpoint ${tag} in ${dir}: ${(cause as Error).message}; nothing of it was kept${latest ? `, and latest still names the complete ${latest}` : ""}. Free space (or fix the folder) and resume with --load_training_checkpoint ${dir}`,
    );
  }
}

export function jobDir(outputDir: string, jobName: string): string {
  return join(outputDir, "saved_models", jobName);
}

/** `latest` names `tag`, replaced atomically (temporary file + rename). */
function writeLatest(dir: string, tag: string): void {
  const latestTmp = join(dir, `.latest-${process.pid}`);
  writeFileSync(latestTmp, tag + "\n");
  renameSync(latestTmp, join(dir, "latest"));
}

function readLatest(dir: string): string | undefined {
  const latest = join(dir, "latest");
  return existsSync(latest) ? readFileSync(latest, "utf8").trim() : undefined;
}

/**
 * Puts the complete checkpoint in `tmp` in place of the existing folder `tag`. While the two folders swap, `latest`
 * (if it names this tag) names a hard-linked copy of the old one, so at every instant it names a complete
 * checkpoint; the copy costs no data, only directory entries. Returns the folders to remove once `latest` names
 * the new checkpoint again.
 */
function swapCheckpointIn(dir: string, tag: string, tmp: string): string[] {
  const final = join(dir, tag);
  const keep = join(dir, `.keep-${tag}-${process.pid}`);
  const old = join(dir, `.old-${tag}-${process.pid}`);
  if (readLatest(dir) === tag) {
    rmSync(keep, { recursive: true, force: true });
    mkdirSync(keep);
    for (const f of readdirSync(final)) linkSync(join(final, f), join(keep, f));
    writeLatest(dir, basename(keep));
  }
  renameSync(final, old);
  renameSync(tmp, final);
  return [old, keep];
}

/**
 * Removes what crashed saves left in a job folder: unfinished `.tmp-` folders, `.old-` folders and `.latest-`
 * files, and the `.keep-` copies `latest` no longer names. Only while holding the folder's lock, so no live
 * process is writing any of them.
 */
export function cleanCheckpointDebris(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const latest = readLatest(dir);
  const debris = readdirSync(dir).filter(
    (name) => /^\.(tmp|old|latest)-/.test(name) || (name.startsWith(".keep-") && name !== latest),
  );
  for (const name of debris) rmSync(join(dir, name), { recursive: true, force: true });
  return debris;
}

/** The checkpoint's files, written into the (new, empty) folder `tmp`. */
function writeCheckpointFiles(engine: NativeEngine, tmp: string, state: TrainingState, vocabFile?: string): void {
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
  if (vocabFile !== undefined) copyFileSync(vocabFile, join(tmp, state.vocab?.file ?? "vocab.txt"));
  writeFileSync(join(tmp, "state.json"), JSON.stringify(state, null, 2) + "\n");
}

export function saveCheckpoint(engine: NativeEngine, dir: string, state: TrainingState, vocabFile?: string): string {
  makeDirs(dir);
  const final = join(dir, state.tag);
  const tmp = join(dir, `.tmp-${state.tag}-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  try {
    writeCheckpointFiles(engine, tmp, state, vocabFile);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true }); // a full disk gets its space back
    throw new SaveError(dir, state.tag, err);
  }
  // a save killed mid-swap leaves latest naming its `.keep-` copy: once latest moves on, the copy goes
  const previous = readLatest(dir);
  const leftovers = previous?.startsWith(".keep-") ? [join(dir, previous)] : [];
  if (existsSync(final)) leftovers.push(...swapCheckpointIn(dir, state.tag, tmp));
  else renameSync(tmp, final);
  writeLatest(dir, state.tag);
  for (const folder of leftovers) rmSync(folder, { recursive: true, force: true });
  return final;
}

/** The checkpoint `id` of a job folder ("latest": the one its `latest` file names). */
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

/** A checkpoint folder itself, or a job folder meaning its latest checkpoint; undefined when it is neither. */
export function resolveCheckpointFolder(path: string): string | undefined {
  if (existsSync(join(path, "state.json"))) return path;
  if (existsSync(join(path, "latest"))) return resolveCheckpointDir(path, "latest");
  return undefined;
}

/** A checkpoint folder's state.json; a missing, truncated or malformed one is a CheckpointError naming the file. */
export function readTrainingState(folder: string): TrainingState {
  const path = join(folder, "state.json");
  let state: unknown;
  try {
    state = JSON.parse(readFileSync(path, "utf8"));
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new CheckpointError(`${path}: not a readable checkpoint state (${why})`);
  }
  const problems = stateProblems(path, state);
  if (problems.length) throw new CheckpointError(problems.join("\n"));
  return state as TrainingState;
}

/** Loads weights (and, when asked, optimizer moments) into the engine; returns the saved state. */
export function loadCheckpoint(engine: NativeEngine, path: string, withOptimizer: boolean): TrainingState {
  const state = readTrainingState(path);
  if (state.format !== CHECKPOINT_FORMAT)
    throw new CheckpointError(`${path}: checkpoint format ${state.format}, this bert-train reads ${CHECKPOINT_FORMAT}`);
  const { missing, unexpected } = loadWeights(engine, join(path, "model.safetensors"));
  if (missing.length || unexpected.length)
    throw new CheckpointError(
      `${path}: the checkpoint does not fit this model: missing ${missing.join(", ") || "nothing"}; unexpected ${unexpected.join(", ") || "nothing"}`,
    );
  if (withOptimizer) {
    const opt = readSafetensors(join(path, "optimizer.safetensors"));
    for (const { name } of engine.paramInfos())
      engine.setOptimizerState(name, tensorFloat32(opt, `exp_avg/${name}`), tensorFloat32(opt, `exp_avg_sq/${name}`));
  }
  return state;
}

/**
 * When a run saves: at the end of each epoch (only the epochs `--ckpt_to_save` lists, when it lists any), every
 * `--ckpt_steps` steps, and once more at the end or on a stop unless the last step was just saved.
 */
export class CheckpointPolicy {
  private readonly saveEpochs: Set<number>;
  private lastSavedStep = -1;

  constructor(
    private readonly stepsPerEpoch: number,
    private readonly ckptSteps: number | undefined,
    ckptToSave: number[] | undefined,
  ) {
    this.saveEpochs = new Set(ckptToSave ?? []);
  }

  tag(globalSteps: number): string {
    return `epoch${Math.floor(globalSteps / this.stepsPerEpoch)}_step${globalSteps}`;
  }

  epochEnds(globalSteps: number): boolean {
    return globalSteps % this.stepsPerEpoch === 0;
  }

  /** After step `globalSteps` has run. */
  dueAfterStep(globalSteps: number): boolean {
    const epochDue =
      this.epochEnds(globalSteps) &&
      (this.saveEpochs.size === 0 || this.saveEpochs.has(globalSteps / this.stepsPerEpoch));
    return epochDue || (this.ckptSteps !== undefined && this.ckptSteps > 0 && globalSteps % this.ckptSteps === 0);
  }

  /** When the loop ends (finished or stopped). */
  dueAtEnd(globalSteps: number, interrupted: boolean): boolean {
    return interrupted || this.lastSavedStep !== globalSteps;
  }

  saved(globalSteps: number): void {
    this.lastSavedStep = globalSteps;
  }
}
