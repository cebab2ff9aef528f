// What the parts of one fine-tuning run share: its arguments, and the state the loop, the evaluation and the
// checkpoints work on.
import type { DeepSpeedConfig } from "../config/deepspeed.js";
import type { BertTokenizer } from "../data/tokenizer.js";
import type { World } from "../parallel/world.js";
import type { ComputeMeter } from "../train/flops.js";
import type { JobOutputs } from "../train/job-outputs.js";
import type { MetricsSink } from "../train/metrics.js";
import type { ModelFolder } from "../train/model-folder.js";
import type { Output, Trainer } from "../train/trainer.js";
import type { Features } from "./features.js";
import type { GlueExample, GlueTask } from "./tasks.js";
import type { DeviceFlag } from "../native/device.js";

export interface FinetuneArgs {
  task: string;
  train_batch_size: number;
  learning_rate: number;
  num_train_epochs: number;
  job_name: string;
  checkpoint?: string;
  data_dir: string;
  output_dir: string;
  max_seq_length: number;
  seed: number;
  warmup_proportion: number;
  gradient_accumulation_steps: number;
  eval_batch_size: number;
  deepspeed_config?: string;
  progressive_layer_drop?: boolean;
  do_train: boolean;
  do_eval: boolean;
  do_predict: boolean;
  random: boolean;
  /** Leave the pooler at its random initialisation (the NSP-trained pooler of a short pre-training saturates). */
  reinit_pooler?: boolean;
  /** Accept a checkpoint that lacks embedding or encoder weights (they start from random). */
  allow_partial_load?: boolean;
  force: boolean;
  /** Default: the checkpoint's vocab.txt, else bert-base-uncased's. */
  vocab_file?: string;
  /** Default: the checkpoint's casing, else lower-cased. */
  do_lower_case?: boolean;
  threads: number;
  device: DeviceFlag;
  /** Multi-process runs: reduce all gradients after the backward pass. */
  delay_allreduce?: boolean;
  /** A fine-tuning job folder (or one of its checkpoints) to resume. */
  load_training_checkpoint?: string;
  /** Start over a job name that has outputs, removing them. */
  overwrite?: boolean;
  /** Keep only the newest N checkpoints. */
  keep_last?: number;
  /** A progress line every N steps (default 50). */
  print_steps?: number;
  /** Stop after this many steps in all (the schedule spans them). */
  max_steps?: number;
}

/** The splits a run uses, read and featurized before any training: a bad dev.tsv stops it before the work. */
export interface GlueData {
  train?: Features;
  dev: { split: string; features: Features }[];
  test: { split: string; examples: GlueExample[]; features: Features }[];
}

/** Where the loop is: steps done, the epoch under way (from 1) and the steps done in it. */
export interface Position {
  step: number;
  epoch: number;
  stepInEpoch: number;
  /** The training loss summed over the epoch's steps so far. */
  epochLossSum: number;
}

export interface Run {
  a: FinetuneArgs;
  task: GlueTask;
  out: Output;
  world: World;
  trainer: Trainer;
  ds: DeepSpeedConfig | undefined;
  folder: ModelFolder;
  tok: BertTokenizer;
  /** The task's data folder, and the job's folder of results and predictions. */
  dataDir: string;
  jobDir: string;
  outputs: JobOutputs;
  numLabels: number;
  layers: number;
  /** The latest dev metrics, as eval_results.txt has them. */
  results: Record<string, number>;
  metrics?: MetricsSink;
  data: GlueData;
  position: Position;
  /** Steps per epoch and in all (--max_steps may end the run early). */
  stepsPerEpoch: number;
  totalSteps: number;
  skippedSteps: number;
  lastCheckpoint?: string;
  /** The vocabulary and casing the task's text is tokenized with. */
  vocab: { path: string; sha256: string; lowerCase: boolean };
  /** Each step's FLOPs and their share of the peak measured at the start. */
  compute: ComputeMeter;
}
