// The mpirun command line behind `bert-train launch`, in the spirit of DeepSpeed's `deepspeed` launcher: a
// hostfile of "hostname slots=N" lines, how many of its hosts to use, and processes per host. Pure, so tests can
// check the command without starting anything.
import { readFileSync } from "node:fs";

export interface LaunchOptions {
  numNodes?: number;
  numProcsPerNode: number;
  hostfile?: string;
  /** OpenMP threads per process; default: this machine's cores divided among its processes. */
  threadsPerProc?: number;
  /** Extra words for mpirun (for example "--mca btl_tcp_if_include eth0"). */
  mpirunArgs: string[];
  /** The node executable and the bert-train entry script each rank runs. */
  node: string;
  entry: string;
  command: string[];
  cores: number;
  isRoot: boolean;
}

export interface Host {
  name: string;
  slots: number;
}

export class LaunchError extends Error {
  readonly code = "ERR_INVALID_ARGUMENT";
}

/** DeepSpeed's hostfile: "hostname slots=N" per line, # comments and blank lines ignored. */
export function parseHostfile(path: string): Host[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new LaunchError(`--hostfile ${path}: cannot read it (${(err as NodeJS.ErrnoException).code})`);
  }
  const hosts: Host[] = [];
  text.split("\n").forEach((raw, i) => {
    const line = raw.replace(/#.*/, "").trim();
    if (line === "") return;
    const m = /^(\S+)(?:\s+slots\s*=\s*(\d+))?$/.exec(line);
    if (!m) throw new LaunchError(`${path}:${i + 1}: expected "hostname slots=N", got "${raw.trim()}"`);
    const name = m[1] as string;
    if (hosts.some((h) => h.name === name)) throw new LaunchError(`${path}:${i + 1}: host ${name} is listed twice`);
    hosts.push({ name, slots: m[2] === undefined ? 1 : Number(m[2]) });
  });
  if (hosts.length === 0) throw new LaunchError(`${path}: no hosts listed`);
  return hosts;
}

export function mpirunArgv(o: LaunchOptions): string[] {
  if (!Number.isInteger(o.numProcsPerNode) || o.numProcsPerNode < 1)
    throw new LaunchError(`--num_procs_per_node must be a positive integer, got ${o.numProcsPerNode}`);
  if (o.command.length === 0)
    throw new LaunchError("name the bert-train command to run after --, e.g. launch ... -- pretrain --cf ...");
  const hosts = o.hostfile ? parseHostfile(o.hostfile) : [{ name: "localhost", slots: o.numProcsPerNode }];
  const numNodes = o.numNodes ?? hosts.length;
  if (!Number.isInteger(numNodes) || numNodes < 1 || numNodes > hosts.length)
    throw new LaunchError(
      o.hostfile
        ? `--num_nodes ${numNodes}: ${o.hostfile} lists ${hosts.length} host(s)`
        : `--num_nodes ${numNodes} needs a --hostfile naming the hosts (without one, everything runs on this machine)`,
    );
  const used = hosts.slice(0, numNodes);
  const local = !o.hostfile;
  const threads = o.threadsPerProc ?? Math.max(1, Math.floor(o.cores / o.numProcsPerNode));
  const argv = [
    "-np",
    String(numNodes * o.numProcsPerNode),
    "-H",
    used.map((h) => `${h.name}:${o.numProcsPerNode}`).join(","),
    "--map-by",
    `ppr:${o.numProcsPerNode}:node`,
    // each rank runs its own OpenMP team; binding one rank to one core would starve it
    "--bind-to",
    "none",
    "-x",
    `OMP_NUM_THREADS=${threads}`,
    "-x",
    "PATH",
  ];
  if (local) argv.push("--oversubscribe");
  if (o.isRoot) argv.push("--allow-run-as-root");
  for (const name of ["BERT_TRAIN_ADDON", "GLUE_DIR", "OPENBLAS_CORETYPE"])
    if (process.env[name] !== undefined) argv.push("-x", name);
  argv.push(...o.mpirunArgs, o.node, o.entry, ...o.command);
  return argv;
}
