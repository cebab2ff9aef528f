// `bert-train pretrain`: DeepSpeed bing_bert's deepspeed_train.py flags (snake_case, kebab-case aliases).
// Precedence: flags > config files > schema defaults (yargs defaults are only given where no config key exists).
import type { CommandModule, Options } from "yargs";

import { PRETRAIN_ALIASES, pretrain, type PretrainArgs } from "../train/pretrain.js";
import { reportGpuOnlyFlags, withGpuOnlyFlags } from "./gpu-flags.js";
import { stopSignal } from "./stop-signal.js";
import { terminal } from "./terminal.js";
import { deviceOption } from "../native/device.js";

type Args = PretrainArgs & { delay_allreduce: boolean; local_rank?: number };

const PRETRAIN_OPTIONS = {
  cf: {
    type: "string",
    demandOption: true,
    alias: [...PRETRAIN_ALIASES.cf],
    describe: "the --cf file (bing_bert's): model, corpora, training settings",
  },
  deepspeed: {
    type: "boolean",
    default: false,
    describe: "accepted for compatibility; the DeepSpeed config is always used",
  },
  deepspeed_config: {
    type: "string",
    demandOption: true,
    alias: "deepspeed-config",
    describe: "DeepSpeed's JSON: batch, optimizer, scheduler, precision, PLD",
  },
  max_seq_length: {
    type: "number",
    default: 128,
    alias: "max-seq-length",
    describe: "the shards' sequence length; picks the --cf corpora for it",
  },
  max_predictions_per_seq: {
    type: "number",
    alias: ["max-predictions-per-seq", ...PRETRAIN_ALIASES.max_predictions_per_seq],
    describe: "masked tokens per sequence; default: what the shards' dataset.json recorded, else 20 per 128",
  },
  output_dir: {
    type: "string",
    demandOption: true,
    alias: "output-dir",
    describe: "gets saved_models/<job>/, runs/<job>/ (TensorBoard) and <job>.metrics.jsonl",
  },
  job_name: {
    type: "string",
    default: "bert_pretrain",
    alias: "job-name",
    describe: "names the job's outputs",
  },
  seed: {
    type: "number",
    default: 42,
    describe: "seeds weights, data order, masking, dropout, PLD gates",
  },
  print_steps: {
    type: "number",
    default: 100,
    alias: "print-steps",
    describe: "a bing_bert_progress line every N steps",
  },
  lr_schedule: {
    choices: ["LE", "EE", "EP"] as const,
    alias: "lr-schedule",
    describe: "bing_bert's schedule; default: the DeepSpeed config's scheduler block if any, else LE",
  },
  lr_offset: { type: "number", default: 0, alias: "lr-offset", describe: "added to every learning rate" },
  max_steps: { type: "number", alias: "max-steps", describe: "stop after this many steps in all" },
  max_steps_per_epoch: {
    type: "number",
    alias: "max-steps-per-epoch",
    describe: "cap the steps of each epoch (bing_bert's flag)",
  },
  gradient_accumulation_steps: {
    type: "number",
    alias: "gradient-accumulation-steps",
    describe: "overrides the DeepSpeed config's",
  },
  train_batch_size: {
    type: "number",
    alias: "train-batch-size",
    describe: "the global batch; overrides the DeepSpeed config's",
  },
  fp16: {
    type: "boolean",
    default: false,
    describe: "train in fp16 with loss scaling (emulated on a CPU)",
  },
  loss_scale: { type: "number", alias: "loss-scale", describe: "fp16: a fixed loss scale (0: dynamic)" },
  max_grad_norm: {
    type: "number",
    alias: "max-grad-norm",
    describe: "clip the gradient norm (overrides gradient_clipping)",
  },
  progressive_layer_drop: {
    type: "boolean",
    default: false,
    alias: "progressive-layer-drop",
    describe: "the switchable Pre-LN model with Progressive Layer Dropping",
  },
  load_training_checkpoint: {
    type: "string",
    alias: ["load-training-checkpoint", ...PRETRAIN_ALIASES.load_training_checkpoint],
    describe: "a job folder (saved_models/<job>) to resume from",
  },
  load_checkpoint_id: {
    type: "string",
    default: "latest",
    alias: ["load-checkpoint-id", ...PRETRAIN_ALIASES.load_checkpoint_id],
    describe: "which checkpoint of that folder (a tag, or latest)",
  },
  rewarmup: { type: "boolean", default: false, describe: "restart the warm-up at the resumed step" },
  overwrite: {
    type: "boolean",
    default: false,
    describe: "start over a job name that has outputs, removing them",
  },
  keep_last: { type: "number", alias: "keep-last", describe: "keep only the newest N checkpoints" },
  data_path_prefix: {
    type: "string",
    default: ".",
    alias: "data-path-prefix",
    describe: "the folder the --cf corpora are under",
  },
  validation_data_path_prefix: {
    type: "string",
    alias: "validation-data-path-prefix",
    describe: "the folder the --cf validation.path is under (default: --data_path_prefix)",
  },
  ckpt_steps: { type: "number", alias: "ckpt-steps", describe: "also save every N steps" },
  ckpt_to_save: {
    type: "number",
    array: true,
    alias: "ckpt-to-save",
    describe: "save only at the end of these epochs",
  },
  threads: { type: "number", default: 0, describe: "CPU threads; 0: all cores" },
  device: deviceOption(
    "auto",
    "cpu, cuda (an NVIDIA GPU; with MPI the local rank's), or auto: the GPU when one is usable",
  ),
  vocab_file: {
    type: "string",
    alias: "vocab-file",
    describe: "the vocabulary the shards were made with (default: bert-base-uncased)",
  },
  init_from: {
    type: "string",
    alias: "init-from",
    describe: "a folder from bert-train export or convert: its weights start the run",
  },
  allow_partial_load: {
    type: "boolean",
    default: false,
    alias: "allow-partial-load",
    describe: "start embedding or encoder weights the checkpoint lacks from random, instead of refusing it",
  },
  skip_corrupt_shards: {
    type: "boolean",
    default: false,
    alias: "skip-corrupt-shards",
    describe: "leave out damaged shards (named) instead of stopping",
  },
  use_nvidia_dataset: {
    type: "boolean",
    default: false,
    alias: "use-nvidia-dataset",
    describe: "read the --cf corpora as NVIDIA's HDF5 shards (*.hdf5, *.h5)",
  },
  delay_allreduce: {
    type: "boolean",
    default: false,
    alias: "delay-allreduce",
    describe: "multi-process runs: reduce the gradients after the backward pass, not during it",
  },
  local_rank: {
    type: "number",
    alias: "local-rank",
    describe: "accepted from torch.distributed.launch; MPI gives the rank",
  },
} satisfies Record<string, Options>;

export const pretrainCommand: CommandModule<object, Args> = {
  command: "pretrain",
  describe: "Pre-train BERT (MLM + NSP), with Progressive Layer Dropping when asked",
  builder: (y) => withGpuOnlyFlags(y).options(PRETRAIN_OPTIONS),
  handler: async (args) => {
    const out = terminal;
    reportGpuOnlyFlags(args, out);
    // --local_rank is what torch.distributed.launch passes; here MPI tells each process its rank
    if (args.local_rank !== undefined) out.warn("[bert-train] --local_rank: the rank comes from MPI; ignored");
    const signal = stopSignal(out);
    try {
      await pretrain(args, out, signal);
    } finally {
      signal.remove();
    }
  },
};
