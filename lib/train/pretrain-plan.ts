// The plan of a pre-training run: its flags, and the configs and flags checked together before any data is read
// (model, batch arithmetic, PLD switch and block, the learning-rate source, --init_from's architecture).
import { FP16_NOTICE, loadDeepSpeedConfig, type DeepSpeedConfig } from "../config/deepspeed.js";
import { loadCf, type CfConfig } from "../config/cf.js";
import { checkJobName, ConfigError } from "../config/errors.js";
import type { Scheduler } from "../config/scheduler.js";
import { EngineConfigError, resolveModelConfig } from "../native/engine.js";
import type { ModelConfig } from "../native/types.js";
import type { LrScheduleName } from "./lr-schedule.js";
import { openModelFolder } from "./model-folder.js";
import type { DeviceFlag } from "../native/device.js";

export interface PretrainArgs {
  cf: string;
  deepspeed_config: string;
  deepspeed: boolean;
  max_seq_length: number;
  /** Default: what the shards' dataset.json recorded, else Google's 20 per 128 positions. */
  max_predictions_per_seq?: number;
  output_dir: string;
  job_name: string;
  seed: number;
  print_steps: number;
  /** bing_bert's schedule; absent: the DeepSpeed config's `scheduler` block if it has one, else LE. */
  lr_schedule?: LrScheduleName;
  lr_offset: number;
  max_steps?: number;
  gradient_accumulation_steps?: number;
  train_batch_size?: number;
  fp16: boolean;
  loss_scale?: number;
  max_grad_norm?: number;
  progressive_layer_drop: boolean;
  load_training_checkpoint?: string;
  load_checkpoint_id: string;
  rewarmup: boolean;
  data_path_prefix: string;
  validation_data_path_prefix?: string;
  ckpt_steps?: number;
  ckpt_to_save?: number[];
  threads: number;
  device: DeviceFlag;
  vocab_file?: string;
  skip_corrupt_shards: boolean;
  /** Read the corpora of the --cf file as NVIDIA's HDF5 shards (bing_bert's flag). */
  use_nvidia_dataset?: boolean;
  /** --init_from: accept a folder that lacks embedding or encoder weights (they start from random). */
  allow_partial_load?: boolean;
  /** An exported folder (bert-train export) whose weights start a new run. */
  init_from?: string;
  /** Multi-process runs: reduce all gradients after the backward pass instead of overlapping with it. */
  delay_allreduce?: boolean;
  /** Start over a job name that has outputs, removing them. */
  overwrite?: boolean;
  /** Keep only the newest N checkpoints. */
  keep_last?: number;
  /** bing_bert's cap on the steps of one epoch. */
  max_steps_per_epoch?: number;
}

/** bing_bert's other spellings of our flags (yargs adds the kebab-case ones); state.json records neither. */
export const PRETRAIN_ALIASES = {
  cf: ["config-file", "config_file"],
  max_predictions_per_seq: ["max_pred"],
  load_training_checkpoint: ["load_cp"],
  load_checkpoint_id: ["load_cp_id"],
} as const;
export const ALIAS_NAMES = Object.values(PRETRAIN_ALIASES).flat();

export interface Plan {
  cf: CfConfig;
  ds: DeepSpeedConfig;
  pldActive: boolean;
  model: ModelConfig;
  /** Where the learning rate comes from: bing_bert's schedule, or the DeepSpeed config's scheduler block. */
  lrSource: { kind: "bing_bert"; name: LrScheduleName } | { kind: "deepspeed"; scheduler: Scheduler };
  /** Lines printed once at the start: settings accepted in a reduced form. */
  notices: string[];
}

/** Configs and flags, checked together; every problem is a ConfigError that says what to change. */
export function planRun(a: PretrainArgs, worldSize = 1): Plan {
  checkJobName(a.job_name);
  const cf = loadCf(a.cf, a.max_seq_length);
  let model: ModelConfig;
  try {
    model = resolveModelConfig({ ...cf.model, pre_layer_norm: a.progressive_layer_drop, num_labels: 0 });
  } catch (err) {
    if (err instanceof EngineConfigError) throw new ConfigError([`${cf.file}: bert_model_config: ${err.message}`]);
    throw err;
  }
  const ds = loadDeepSpeedConfig(
    a.deepspeed_config,
    { train: a.train_batch_size, accumulation: a.gradient_accumulation_steps },
    worldSize,
  );
  if (a.fp16) ds.precision = "fp16";
  if (a.loss_scale !== undefined) ds.fp16.lossScale = a.loss_scale;
  if (a.max_grad_norm !== undefined) ds.gradientClipping = a.max_grad_norm;
  if (a.progressive_layer_drop && !ds.pld.enabled)
    throw new ConfigError([
      `${ds.file}: progressive_layer_drop: --progressive_layer_drop selects the switchable (Pre-LN) model, but the DeepSpeed config does not enable layer dropping; add "progressive_layer_drop": {"enabled": true, "theta": 0.5, "gamma": 0.001}`,
    ]);
  if (!a.progressive_layer_drop && ds.pld.enabled)
    throw new ConfigError([
      `${ds.file}: progressive_layer_drop.enabled is true, but layer dropping needs the switchable (Pre-LN) model that --progressive_layer_drop selects; add the flag (or disable the block)`,
    ]);
  if (a.init_from !== undefined && a.load_training_checkpoint === undefined) checkInitFrom(a.init_from, cf.file, model);
  const notices = [...ds.notices];
  if (ds.precision === "fp16") notices.push(FP16_NOTICE);
  if (ds.scheduler && a.lr_schedule !== undefined)
    notices.push(
      `[bert-train] ${ds.file}: scheduler ${ds.scheduler.type} is superseded by bing_bert's --lr_schedule ${a.lr_schedule} (omit the flag to use the block)`,
    );
  const lrSource: Plan["lrSource"] =
    ds.scheduler && a.lr_schedule === undefined
      ? { kind: "deepspeed", scheduler: ds.scheduler }
      : { kind: "bing_bert", name: a.lr_schedule ?? "LE" };
  return { cf, ds, pldActive: a.progressive_layer_drop && ds.pld.enabled, model, lrSource, notices };
}

const ARCHITECTURE_KEYS = [
  "vocab_size",
  "hidden_size",
  "num_hidden_layers",
  "num_attention_heads",
  "intermediate_size",
  "max_position_embeddings",
  "type_vocab_size",
] as const;

/** --init_from's folder must describe the model the --cf file asks for (its config.json decides what it holds). */
function checkInitFrom(dir: string, cfFile: string, model: ModelConfig): void {
  const folder = openModelFolder(dir);
  const differ = ARCHITECTURE_KEYS.filter((k) => folder.model[k] !== model[k]).map(
    (k) => `${k}: ${cfFile} says ${model[k]}, ${folder.path} holds ${folder.model[k]}`,
  );
  if (differ.length)
    throw new ConfigError([`--init_from ${dir} is another model size than the --cf file's:`, ...differ]);
}
