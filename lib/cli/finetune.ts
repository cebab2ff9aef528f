// `bert-train finetune TASK BATCH_SIZE LR EPOCHS JOB_NAME CHECKPOINT`: the argument order of DeepSpeed's
// run_glue_bert_base_finetune.sh, everything else as flags.
import type { CommandModule } from "yargs";

import { finetune, type FinetuneArgs } from "../glue/finetune.js";

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
      .positional("train_batch_size", { type: "number", demandOption: true })
      .positional("learning_rate", { type: "number", demandOption: true })
      .positional("num_train_epochs", { type: "number", demandOption: true })
      .positional("job_name", { type: "string", demandOption: true })
      .positional("checkpoint", { type: "string", describe: "a checkpoint folder or an exported folder" })
      .option("data_dir", {
        type: "string",
        default: process.env.GLUE_DIR ?? "/data/GlueData",
        alias: "data-dir",
        describe: "GLUE in the standard layout (env GLUE_DIR)",
      })
      .option("output_dir", { type: "string", default: "out/glue", alias: "output-dir" })
      .option("max_seq_length", { type: "number", default: 128, alias: "max-seq-length" })
      .option("seed", { type: "number", default: 42 })
      .option("warmup_proportion", { type: "number", default: 0.1, alias: "warmup-proportion" })
      .option("gradient_accumulation_steps", { type: "number", default: 1, alias: "gradient-accumulation-steps" })
      .option("eval_batch_size", { type: "number", default: 64, alias: "eval-batch-size" })
      .option("deepspeed_config", { type: "string", alias: "deepspeed-config" })
      .option("progressive_layer_drop", {
        type: "boolean",
        alias: "progressive-layer-drop",
        describe: "expect a Pre-LN (PLD) checkpoint; omit to accept what the checkpoint is",
      })
      .option("do_train", { type: "boolean", default: true, alias: "do-train" })
      .option("do_eval", { type: "boolean", default: true, alias: "do-eval" })
      .option("do_predict", { type: "boolean", default: false, alias: "do-predict" })
      .option("random", {
        type: "boolean",
        default: false,
        describe: "start from random weights (the checkpoint only gives the architecture)",
      })
      .option("reinit_pooler", {
        type: "boolean",
        default: false,
        alias: "reinit-pooler",
        describe: "start the pooler from random weights instead of the pre-training (NSP) pooler",
      })
      .option("allow_partial_load", {
        type: "boolean",
        default: false,
        alias: "allow-partial-load",
        describe: "start embedding or encoder weights the checkpoint lacks from random, instead of refusing it",
      })
      .option("force", {
        type: "boolean",
        default: false,
        describe: "load a checkpoint whose Pre-LN/Post-LN kind differs from the flag",
      })
      .option("vocab_file", {
        type: "string",
        alias: "vocab-file",
        describe: "default: the checkpoint's vocab.txt, else bert-base-uncased's",
      })
      .option("do_lower_case", {
        type: "boolean",
        alias: "do-lower-case",
        describe: "default: the checkpoint's casing, else lower-cased",
      })
      .option("threads", { type: "number", default: 0 })
      .option("delay_allreduce", {
        type: "boolean",
        default: false,
        alias: "delay-allreduce",
        describe: "multi-process runs: reduce the gradients after the backward pass, not during it",
      }),
  handler: async (a) => {
    await finetune(a, { log: (l) => process.stdout.write(l + "\n"), warn: (l) => process.stderr.write(l + "\n") });
  },
};
