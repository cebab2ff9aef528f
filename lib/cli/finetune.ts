// `bert-train finetune TASK BATCH_SIZE LR EPOCHS JOB_NAME CHECKPOINT`: the argument order of DeepSpeed's
// run_glue_bert_base_finetune.sh, everything else as flags.
import type { CommandModule, Options } from "yargs";

import { finetune, type FinetuneArgs } from "../glue/finetune.js";
import { stopSignal } from "./stop-signal.js";
import { terminal } from "./terminal.js";
import { deviceOption } from "../native/device.js";

const FINETUNE_OPTIONS = {
  data_dir: {
    type: "string",
    default: process.env.GLUE_DIR ?? "/data/GlueData",
    alias: "data-dir",
    describe: "GLUE in the standard layout (env GLUE_DIR)",
  },
  output_dir: {
    type: "string",
    default: "out/glue",
    alias: "output-dir",
    describe: "gets <job>/ (results, predictions), saved_models/<job>/, runs/<job>/ and <job>.metrics.jsonl",
  },
  max_seq_length: {
    type: "number",
    default: 128,
    alias: "max-seq-length",
    describe: "longer inputs are truncated, longest text first",
  },
  seed: { type: "number", default: 42, describe: "seeds the head, the data order and dropout" },
  warmup_proportion: {
    type: "number",
    default: 0.1,
    alias: "warmup-proportion",
    describe: "fraction of the steps the learning rate warms up over",
  },
  gradient_accumulation_steps: {
    type: "number",
    default: 1,
    alias: "gradient-accumulation-steps",
    describe: "micro-batches per optimizer step",
  },
  eval_batch_size: {
    type: "number",
    default: 64,
    alias: "eval-batch-size",
    describe: "batch of dev and test scoring",
  },
  deepspeed_config: {
    type: "string",
    alias: "deepspeed-config",
    describe: "DeepSpeed's JSON: optimizer, precision, clipping (default: AdamW, fp32)",
  },
  progressive_layer_drop: {
    type: "boolean",
    alias: "progressive-layer-drop",
    describe: "expect a Pre-LN (PLD) checkpoint; omit to accept what the checkpoint is",
  },
  do_train: {
    type: "boolean",
    default: true,
    alias: "do-train",
    describe: "fine-tune (--no-do_train: only score)",
  },
  do_eval: {
    type: "boolean",
    default: true,
    alias: "do-eval",
    describe: "score the dev set after each epoch",
  },
  do_predict: {
    type: "boolean",
    default: false,
    alias: "do-predict",
    describe: "write test-set predictions in the GLUE submission format",
  },
  load_training_checkpoint: {
    type: "string",
    alias: "load-training-checkpoint",
    describe: "a fine-tuning job folder (saved_models/<job>) to resume",
  },
  overwrite: {
    type: "boolean",
    default: false,
    describe: "start over a job name that has outputs, removing them",
  },
  keep_last: { type: "number", alias: "keep-last", describe: "keep only the newest N checkpoints" },
  print_steps: {
    type: "number",
    default: 50,
    alias: "print-steps",
    describe: "a progress line every N steps",
  },
  max_steps: {
    type: "number",
    alias: "max-steps",
    describe: "stop after N steps in all (the schedule spans them)",
  },
  random: {
    type: "boolean",
    default: false,
    describe: "start from random weights (the checkpoint only gives the architecture)",
  },
  reinit_pooler: {
    type: "boolean",
    default: false,
    alias: "reinit-pooler",
    describe: "start the pooler from random weights instead of the pre-training (NSP) pooler",
  },
  allow_partial_load: {
    type: "boolean",
    default: false,
    alias: "allow-partial-load",
    describe: "start embedding or encoder weights the checkpoint lacks from random, instead of refusing it",
  },
  force: {
    type: "boolean",
    default: false,
    describe:
      "load a checkpoint whose Pre-LN/Post-LN kind differs from the flag, or score a task with another task's head",
  },
  vocab_file: {
    type: "string",
    alias: "vocab-file",
    describe: "default: the checkpoint's vocab.txt, else bert-base-uncased's",
  },
  do_lower_case: {
    type: "boolean",
    alias: "do-lower-case",
    describe: "default: the checkpoint's casing, else lower-cased",
  },
  threads: { type: "number", default: 0, describe: "CPU threads; 0: all cores" },
  device: deviceOption(
    "auto",
    "cpu, cuda (an NVIDIA GPU; with MPI the local rank's), or auto: the GPU when one is usable",
  ),
  delay_allreduce: {
    type: "boolean",
    default: false,
    alias: "delay-allreduce",
    describe: "multi-process runs: reduce the gradients after the backward pass, not during it",
  },
} satisfies Record<string, Options>;

export const finetuneCommand: CommandModule<object, FinetuneArgs> = {
  command: "finetune <task> <train_batch_size> <learning_rate> <num_train_epochs> <job_name> [checkpoint]",
  describe: "Fine-tune a pre-trained model on a GLUE task and report the task's metrics",
  builder: (y) =>
    y
      .positional("task", {
        type: "string",
        demandOption: true,
        describe: "CoLA, SST-2, MRPC, STS-B, QQP, MNLI, QNLI, RTE or WNLI (any case)",
      })
      .positional("train_batch_size", {
        type: "number",
        demandOption: true,
        alias: "train-batch-size",
        describe: "the global batch: micro-batch × accumulation × ranks",
      })
      .positional("learning_rate", {
        type: "number",
        demandOption: true,
        alias: "learning-rate",
        describe: "the peak learning rate",
      })
      .positional("num_train_epochs", {
        type: "number",
        demandOption: true,
        alias: "num-train-epochs",
        describe: "epochs over the training set",
      })
      .positional("job_name", {
        type: "string",
        demandOption: true,
        alias: "job-name",
        describe: "names the job's outputs",
      })
      .positional("checkpoint", { type: "string", describe: "a checkpoint folder or an exported folder" })
      .options(FINETUNE_OPTIONS),
  handler: async (a) => {
    const signal = stopSignal(terminal);
    try {
      await finetune(a, terminal, undefined, signal);
    } finally {
      signal.remove();
    }
  },
};
