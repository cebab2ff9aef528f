// Runs a fuzz target in a worker thread under a watchdog. A case still running after `hangMs` is a hang: the
// worker is stopped and the case rebuilt from its index; a worker that dies is a crash; an error the reader is
// not meant to raise is a foreign exception. Failing inputs are written to test/fuzz/regressions/<target>/, which
// every later run replays first.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Worker } from "node:worker_threads";

import { projectRoot } from "../../lib/paths.js";
import { caseInput } from "./mutate.js";
import { TARGETS, type FuzzTarget } from "./targets.js";

export interface FuzzFailure {
  kind: "foreign exception" | "hang" | "crash";
  index: number;
  detail: string;
  saved?: string;
}

export interface FuzzReport {
  target: string;
  cases: number;
  /** Cases the reader rejected with its own error (the rest it accepted). */
  rejected: number;
  seconds: number;
  failures: FuzzFailure[];
}

const HANG_MS = 10_000;

function regressionDir(target: string): string {
  return join(projectRoot(), "test", "fuzz", "regressions", target.replace(/[^A-Za-z0-9]+/g, "_"));
}

/** The inputs that once failed, kept as regression cases: `<sha>.bin` and, for a target that needs it, `.meta`. */
export function regressionInputs(target: string): { data: Uint8Array; meta?: string }[] {
  const dir = regressionDir(target);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith(".bin"))
    .sort()
    .map((f) => {
      const meta = join(dir, f.replace(/\.bin$/, ".meta"));
      return {
        data: new Uint8Array(readFileSync(join(dir, f))),
        meta: existsSync(meta) ? readFileSync(meta, "utf8") : undefined,
      };
    });
}

function save(target: string, input: { data: Uint8Array; meta?: string }): string {
  const dir = regressionDir(target);
  mkdirSync(dir, { recursive: true });
  const name = createHash("sha256")
    .update(input.data)
    .update(input.meta ?? "")
    .digest("hex")
    .slice(0, 16);
  writeFileSync(join(dir, `${name}.bin`), input.data);
  if (input.meta !== undefined) writeFileSync(join(dir, `${name}.meta`), input.meta);
  return join(dir, `${name}.bin`);
}

/** Cases [from, to) in one worker; resolves when it ends, hangs or dies. */
function runSlice(
  target: FuzzTarget,
  o: { runSeed: number; from: number; to: number; inputs?: { data: Uint8Array; meta?: string }[] },
  failures: FuzzFailure[],
): Promise<{ cases: number; rejected: number }> {
  const progress = new Int32Array(new SharedArrayBuffer(8));
  const worker = new Worker(new URL("./worker.js", import.meta.url), {
    workerData: { target: target.name, ...o, progress },
  });
  worker.on("message", (m: { index: number; input: { data: Uint8Array; meta?: string }; error: string }) =>
    failures.push({ kind: "foreign exception", index: m.index, detail: m.error, saved: save(target.name, m.input) }),
  );
  return new Promise((done) => {
    let last = -1;
    let since = Date.now();
    const watch = setInterval(() => {
      const now = Atomics.load(progress, 0);
      if (now !== last) [last, since] = [now, Date.now()];
      else if (Date.now() - since > HANG_MS) {
        clearInterval(watch);
        const input = o.inputs ? o.inputs[now - o.from] : caseInput(target.seeds(), o.runSeed, now, target.structured);
        failures.push({
          kind: "hang",
          index: now,
          detail: `case ${now} ran past ${HANG_MS} ms`,
          saved: input && save(target.name, input),
        });
        void worker.terminate();
      }
    }, 200);
    worker.on("error", (err) =>
      failures.push({ kind: "crash", index: Atomics.load(progress, 0), detail: err.stack ?? err.message }),
    );
    worker.on("exit", () => {
      clearInterval(watch);
      done({ cases: Atomics.load(progress, 0) - o.from, rejected: Atomics.load(progress, 1) });
    });
  });
}

/** The regression cases, then generated cases until `seconds` have passed or `maxCases` have run. */
export async function fuzz(
  targetName: string,
  o: { seconds: number; maxCases?: number; runSeed: number; slice?: number },
): Promise<FuzzReport> {
  const target = TARGETS.find((t) => t.name === targetName);
  if (!target) throw new Error(`no fuzz target ${targetName}: ${TARGETS.map((t) => t.name).join(", ")}`);
  await target.prepare?.(); // seeds() answers in this thread too, to save a hanging case
  const started = Date.now();
  const failures: FuzzFailure[] = [];
  const regressions = regressionInputs(target.name);
  const total = { cases: 0, rejected: 0 };
  const add = (r: { cases: number; rejected: number }) => {
    total.cases += r.cases;
    total.rejected += r.rejected;
  };
  if (regressions.length)
    add(await runSlice(target, { runSeed: 0, from: 0, to: regressions.length, inputs: regressions }, failures));
  const slice = o.slice ?? target.slice ?? 20_000;
  const timeLeft = () => Date.now() - started < o.seconds * 1000;
  for (let from = 0; timeLeft() && (o.maxCases === undefined || from < o.maxCases); from += slice) {
    const to = o.maxCases === undefined ? from + slice : Math.min(o.maxCases, from + slice);
    add(await runSlice(target, { runSeed: o.runSeed, from, to }, failures));
  }
  return { target: target.name, ...total, seconds: (Date.now() - started) / 1000, failures };
}
