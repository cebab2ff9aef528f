// The command line: one yargs command module per subcommand. Exit codes: 0 success, 1 failure while running,
// 2 bad usage or configuration (reported as one clear message, no stack trace).
import yargs from "yargs";

import { checkFlags } from "../config/flags.js";
import { checkRepeatedPositionals, lastValueOfRepeatedFlags } from "./repeated-positionals.js";
import { joinedWorld, launchedWorldSize } from "../parallel/world.js";
import { benchCommand } from "./bench.js";
import { benchDataCommand } from "./bench-data.js";
import { benchTrainCommand } from "./bench-train.js";
import { convertCommand } from "./convert.js";
import { convertShardsCommand } from "./convert-shards.js";
import { prepareDataCommand } from "./prepare-data.js";
import { pretrainCommand } from "./pretrain.js";
import { evaluateCommand } from "./evaluate.js";
import { exportCommand } from "./export.js";
import { finetuneCommand } from "./finetune.js";
import { launchCommand } from "./launch.js";
import { plotCommand } from "./plot.js";

export class UsageError extends Error {
  readonly exitCode = 2;
}

/** A user's input, config or flags: one line, exit 2. */
const INPUT_ERRORS = new Set([
  "ERR_INVALID_CONFIG",
  "ERR_INVALID_ARGUMENT",
  "ERR_CORPUS",
  "ERR_VOCAB",
  "ERR_SHARDS",
  "ERR_TFRECORD",
  "ERR_EXAMPLE",
  "ERR_INSTANCES",
  "ERR_GLUE",
  "ERR_SAFETENSORS",
  "ERR_CHECKPOINT",
  "ERR_FOLDER_BUSY",
  "ERR_OUTPUT_DIR",
  "ERR_PARTIAL_LOAD",
  "ERR_TORCH_CHECKPOINT",
  "ERR_PLOT_INPUT",
]);
/** The run or its environment (training diverged, the disk, the network, the build): one line, exit 1. */
const RUNTIME_ERRORS = new Set([
  "ERR_LOSS_SCALE_STUCK",
  "ERR_DIVERGED",
  "ERR_COMMUNICATION",
  "ERR_DEVICE_UNAVAILABLE",
  "ERR_NATIVE_LOAD",
  "ERR_OUT_OF_MEMORY",
  "ERR_BACKEND",
  "ERR_SAVE",
  "ERR_FILE_LOCK",
  "ERR_HDF5_WRITE",
  "ENOSPC",
  "EDQUOT",
  "EROFS",
  "EACCES",
  "EPERM",
  "ENOENT",
  "ENOTDIR",
  "EISDIR",
  "ENAMETOOLONG",
  "EEXIST",
  "EMFILE",
  "EIO",
]);

/**
 * The one error path: what a user or the environment caused is one line (the message names the file, key or
 * record); anything else is a bug in bert-train and says so, with its stack. BERT_TRAIN_DEBUG=1 shows every stack.
 */
function reportError(err: unknown, who: string): number {
  const code = (err as { code?: string }).code;
  const message = err instanceof Error ? err.message : String(err);
  const debug = process.env.BERT_TRAIN_DEBUG === "1" && err instanceof Error ? `\n${err.stack}` : "";
  if (err instanceof UsageError || (code !== undefined && INPUT_ERRORS.has(code))) {
    process.stderr.write(`${who}bert-train: ${message}${debug}\n`);
    return 2;
  }
  if (code !== undefined && RUNTIME_ERRORS.has(code)) {
    process.stderr.write(`${who}bert-train: ${message}${debug}\n`);
    return 1;
  }
  const stack = err instanceof Error ? (err.stack ?? message) : message;
  process.stderr.write(
    `${who}bert-train: internal error, please report it with the command that caused it: ${stack}\n`,
  );
  return 1;
}

export async function main(argv: string[]): Promise<number> {
  let exitCode = 0;
  // under mpirun, only the data-parallel commands make sense: N copies of anything else would race on its files
  const command = argv.find((a) => !a.startsWith("-"));
  if (launchedWorldSize() > 1 && command !== undefined && !["pretrain", "finetune"].includes(command)) {
    process.stderr.write(
      `bert-train: ${command} runs as one process; start it without mpirun (only pretrain and finetune are data parallel)\n`,
    );
    return 2;
  }
  try {
    await yargs(argv)
      .scriptName("bert-train")
      // a flag given twice takes its last value, as argparse does in DeepSpeed's scripts; only here, not through
      // yargs' "duplicate-arguments-array": false, which also keeps one value of a list (`plot A B C` plotted C)
      .middleware(lastValueOfRepeatedFlags, true)
      .command(benchCommand)
      .command(prepareDataCommand)
      .command(convertShardsCommand)
      .command(convertCommand)
      .command(benchDataCommand)
      .command(benchTrainCommand)
      .command(pretrainCommand)
      .command(evaluateCommand)
      .command(plotCommand)
      .command(exportCommand)
      .command(finetuneCommand)
      .command(launchCommand)
      .demandCommand(1, "Name a command: bert-train <command> --help lists the options of each.")
      // every command's numeric flags, against its schema, before its handler runs
      .middleware((args) => checkFlags(String(args._[0]), args))
      .middleware((args) => checkRepeatedPositionals(String(args._[0]), argv, args))
      .strict()
      .fail((message, error) => {
        if (error) throw error;
        throw new UsageError(message);
      })
      .help()
      .parseAsync();
  } catch (err) {
    const world = joinedWorld();
    const who = world && world.size > 1 ? `[rank ${world.rank}/${world.size}] ` : "";
    exitCode = reportError(err, who);
    // the other ranks may be waiting for this one in a collective: end the whole job rather than leave them hanging
    if (world && world.size > 1) world.abort(exitCode);
    return exitCode;
  }
  joinedWorld()?.finalize();
  // a command may set its own exit status (launch passes on mpirun's)
  return typeof process.exitCode === "number" ? process.exitCode : exitCode;
}
