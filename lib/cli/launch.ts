// `bert-train launch [--num_nodes N] [--num_procs_per_node P] [--hostfile F] -- <command>`: runs a bert-train
// command as a data-parallel job under mpirun, so nobody has to write mpirun lines. Ctrl-C and SIGTERM go to
// mpirun, which passes them to every rank (they finish the step and checkpoint).
import { spawn } from "node:child_process";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import type { CommandModule } from "yargs";

import { mpirunArgv } from "../parallel/launch-plan.js";
import { projectRoot } from "../native/load.js";

interface LaunchArgs {
  num_nodes?: number;
  num_procs_per_node: number;
  hostfile?: string;
  threads_per_proc?: number;
  mpirun: string;
  mpirun_args?: string;
  dry_run: boolean;
  _: (string | number)[];
  "--"?: (string | number)[];
}

export const launchCommand: CommandModule<object, LaunchArgs> = {
  command: "launch",
  describe: "Run a bert-train command (pretrain, finetune) on several processes and hosts with MPI",
  builder: (y) =>
    y
      .parserConfiguration({ "populate--": true })
      .option("num_nodes", { type: "number", alias: "num-nodes", describe: "hosts to use (default: all listed)" })
      .option("num_procs_per_node", {
        type: "number",
        alias: ["num-procs-per-node", "num_gpus"],
        default: 1,
        describe: "processes (ranks) per host",
      })
      .option("hostfile", { type: "string", describe: 'lines of "hostname slots=N" (DeepSpeed\'s format)' })
      .option("threads_per_proc", {
        type: "number",
        alias: "threads-per-proc",
        describe: "OpenMP threads per rank (default: this machine's cores / processes per host)",
      })
      .option("mpirun", { type: "string", default: "mpirun", describe: "the mpirun to use" })
      .option("mpirun_args", { type: "string", alias: "mpirun-args", describe: "extra mpirun options, quoted" })
      .option("dry_run", { type: "boolean", default: false, alias: "dry-run", describe: "print the command only" }),
  handler: async (a) => {
    const command = (a["--"] ?? []).map(String);
    const argv = mpirunArgv({
      numNodes: a.num_nodes,
      numProcsPerNode: a.num_procs_per_node,
      hostfile: a.hostfile,
      threadsPerProc: a.threads_per_proc,
      mpirunArgs: a.mpirun_args ? a.mpirun_args.split(/\s+/).filter(Boolean) : [],
      node: process.execPath,
      entry: join(projectRoot(), "dist", "bin", "bert-train.js"),
      command,
      cores: availableParallelism(),
      isRoot: process.getuid?.() === 0,
    });
    process.stderr.write(`[bert-train launch] ${a.mpirun} ${argv.join(" ")}\n`);
    if (a.dry_run) return;
    const child = spawn(a.mpirun, argv, { stdio: "inherit" });
    let forwarded: NodeJS.Signals | undefined;
    const forward = (signal: NodeJS.Signals) => () => {
      forwarded = signal;
      child.kill(signal);
    };
    const onInt = forward("SIGINT");
    const onTerm = forward("SIGTERM");
    process.on("SIGINT", onInt);
    process.on("SIGTERM", onTerm);
    const code = await new Promise<number>((resolve, reject) => {
      child.on("error", (err) =>
        reject(
          new Error(
            `cannot start ${a.mpirun} (${(err as NodeJS.ErrnoException).code}): install OpenMPI (apt-get install openmpi-bin) or pass --mpirun`,
          ),
        ),
      );
      child.on("exit", (status, signal) => resolve(status ?? (signal ? 128 : 1)));
    }).finally(() => {
      process.off("SIGINT", onInt);
      process.off("SIGTERM", onTerm);
    });
    if (forwarded)
      process.stderr.write(
        `[bert-train launch] ${forwarded} passed to the ranks through mpirun (exit code ${code}); a pretrain run finishes its step and rank 0 checkpoints\n`,
      );
    else if (code !== 0)
      process.stderr.write(
        `[bert-train launch] the job failed (mpirun exit code ${code}); the messages above name the rank that stopped it\n`,
      );
    process.exitCode = code;
  },
};
