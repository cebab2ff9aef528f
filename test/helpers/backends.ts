// The backends the engine-level tests run on: the CPU always, CUDA where the build has it and a GPU is usable.
// Without a GPU the CUDA cases are registered as skipped (not passed), and one line says how many.
import type { Device } from "../../lib/native/engine.js";
import { loadNative } from "../../lib/native/load.js";

export interface TestBackend {
  device: Device;
  /** Why the cases do not run here; undefined where they do. */
  skip: string | undefined;
}

export function testBackends(): TestBackend[] {
  const probe = loadNative().probeCuda();
  const cuda = probe.deviceCount > 0 ? undefined : `no GPU: ${probe.reason}`;
  return [
    { device: "cpu", skip: undefined },
    { device: "cuda", skip: cuda },
  ];
}

/** After registering a suite's cases: the one line for the CUDA cases that will not run. */
export function reportSkipped(backend: TestBackend, cases: number): void {
  if (backend.skip !== undefined)
    process.stdout.write(`no GPU: ${cases} CUDA cases skipped (${backend.skip.replace(/^no GPU: /, "")})\n`);
}
