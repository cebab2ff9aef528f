// `bert-train pretrain`: DeepSpeed bing_bert's deepspeed_train.py flags (snake_case, kebab-case aliases).
// Precedence: flags > config files > schema defaults (yargs defaults are only given where no config key exists).
import type { CommandModule } from "yargs";

import { joinedWorld } from "../parallel/world.js";
import { pretrain, type PretrainArgs, type StopSignal } from "../train/pretrain.js";

type Args = PretrainArgs & { deepspeed_transformer_kernel: boolean; delay_allreduce: boolean; local_rank?: number };

export const pretrainCommand: CommandModule<object, Args> = {
  command: "pretrain",
  describe: "Pre-train BERT (MLM + NSP), with Progressive Layer Dropping when asked",
  builder: (y) =>
    y
      .option("cf", {
        type: "string",
        demandOption: true,
        describe: "the --cf file: model, corpora, training settings",
      })
      .option("deepspeed", {
        type: "boolean",
        default: false,
        describe: "accepted for compatibility; the DeepSpeed config is always used",
      })
      .option("deepspeed_config", { type: "string", demandOption: true, alias: "deepspeed-config" })
      .option("max_seq_length", { type: "number", default: 128, alias: "max-seq-length" })
      .option("max_predictions_per_seq", {
        type: "number",
        alias: "max-predictions-per-seq",
        describe: "default: what the shards' dataset.json recorded, else 20 per 128 tokens",
      })
      .option("output_dir", { type: "string", demandOption: true, alias: "output-dir" })
      .option("job_name", { type: "string", default: "bert_pretrain", alias: "job-name" })
      .option("seed", { type: "number", default: 42 })
      .option("print_steps", { type: "number", default: 100, alias: "print-steps" })
      .option("lr_schedule", { choices: ["LE", "EE", "EP"] as const, default: "LE" as const, alias: "lr-schedule" })
      .option("lr_offset", { type: "number", default: 0, alias: "lr-offset" })
      .option("max_steps", { type: "number", alias: "max-steps" })
      .option("gradient_accumulation_steps", { type: "number", alias: "gradient-accumulation-steps" })
      .option("train_batch_size", { type: "number", alias: "train-batch-size" })
      .option("fp16", { type: "boolean", default: false })
      .option("loss_scale", { type: "number", alias: "loss-scale" })
      .option("max_grad_norm", { type: "number", alias: "max-grad-norm" })
      .option("progressive_layer_drop", { type: "boolean", default: false, alias: "progressive-layer-drop" })
      .option("load_training_checkpoint", { type: "string", alias: "load-training-checkpoint" })
      .option("load_checkpoint_id", { type: "string", default: "latest", alias: "load-checkpoint-id" })
      .option("rewarmup", { type: "boolean", default: false })
      .option("data_path_prefix", { type: "string", default: ".", alias: "data-path-prefix" })
      .option("validation_data_path_prefix", { type: "string", alias: "validation-data-path-prefix" })
      .option("ckpt_steps", { type: "number", alias: "ckpt-steps" })
      .option("ckpt_to_save", { type: "number", array: true, alias: "ckpt-to-save" })
      .option("threads", { type: "number", default: 0, describe: "0: all cores" })
      .option("vocab_file", { type: "string", alias: "vocab-file" })
      .option("init_from", {
        type: "string",
        alias: "init-from",
        describe: "a folder from bert-train export: its weights start the run",
      })
      .option("allow_partial_load", {
        type: "boolean",
        default: false,
        alias: "allow-partial-load",
        describe: "start embedding or encoder weights the checkpoint lacks from random, instead of refusing it",
      })
      .option("skip_corrupt_shards", { type: "boolean", default: false, alias: "skip-corrupt-shards" })
      .option("use_nvidia_dataset", {
        type: "boolean",
        default: false,
        alias: "use-nvidia-dataset",
        describe: "read the --cf corpora as NVIDIA's HDF5 shards (*.hdf5, *.h5)",
      })
      .option("deepspeed_transformer_kernel", {
        type: "boolean",
        default: false,
        alias: "deepspeed-transformer-kernel",
      })
      .option("delay_allreduce", { type: "boolean", default: false, alias: "delay-allreduce" })
      .option("local_rank", { type: "number", alias: "local-rank" }),
  handler: async (args) => {
    const log = (line: string) => process.stdout.write(line + "\n");
    const warn = (line: string) => process.stderr.write(line + "\n");
    if (args.deepspeed_transformer_kernel)
      warn("[bert-train] --deepspeed_transformer_kernel: the fused kernels are always on; nothing to switch");
    // --local_rank is what torch.distributed.launch passes; here MPI tells each process its rank
    if (args.local_rank !== undefined) warn("[bert-train] --local_rank: the rank comes from MPI; ignored");
    const stop = (name: NodeJS.Signals) => () => {
      const root = joinedWorld()?.isRoot ?? true; // under mpirun every rank gets the signal; one line is enough
      if (!signal.stop && root) warn(`[bert-train] ${name}: finishing the current step, then saving a checkpoint`);
      signal.stop = true;
    };
    const onInt = stop("SIGINT");
    const onTerm = stop("SIGTERM");
    const signal: StopSignal = {
      stop: false,
      listen: () => {
        process.on("SIGINT", onInt);
        process.on("SIGTERM", onTerm);
      },
    };
    try {
      await pretrain(args, { log, warn }, signal);
    } finally {
      process.off("SIGINT", onInt);
      process.off("SIGTERM", onTerm);
    }
  },
};
