// The fuzz worker: runs cases [from, to) of one target and reports each foreign exception. Before each case it
// stores the case index in shared memory (slot 0), so the main thread can tell a hang from slow progress and name
// the case; slot 1 counts the cases the reader rejected.
import { parentPort, workerData } from "node:worker_threads";

import { caseInput } from "./mutate.js";
import { TARGETS } from "./targets.js";

interface WorkerData {
  target: string;
  runSeed: number;
  from: number;
  to: number;
  progress: Int32Array;
  /** Given inputs (regression cases) instead of generated ones. */
  inputs?: { data: Uint8Array; meta?: string }[];
}

/** Runs the cases and stores progress; the worker's whole job. */
async function runCases({ target: name, runSeed, from, to, progress, inputs }: WorkerData): Promise<void> {
  const target = TARGETS.find((t) => t.name === name);
  if (!target) throw new Error(`no fuzz target ${name}`);
  await target.prepare?.();
  const seeds = target.seeds();
  const count = inputs ? inputs.length : to - from;
  for (let i = 0; i < count; i++) {
    const index = from + i;
    Atomics.store(progress, 0, index);
    const input = inputs
      ? (inputs[i] as { data: Uint8Array; meta?: string })
      : caseInput(seeds, runSeed, index, target.structured);
    try {
      await target.run(input);
    } catch (err) {
      Atomics.add(progress, 1, 1); // rejected: the reader said what is wrong with it
      if (!target.expected.some((cls) => err instanceof cls))
        parentPort?.postMessage({
          index,
          input,
          error: err instanceof Error ? (err.stack ?? err.message) : String(err),
        });
    }
  }
  Atomics.store(progress, 0, from + count);
}

// the test runner also runs this file on its own (every file under test/): then there is nothing to do
if (workerData) await runCases(workerData as WorkerData);
