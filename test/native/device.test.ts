// --device: where the engines of a command run. On a machine without a usable GPU, auto falls back to the CPU and
// says why, and cuda is a one-line error (exit 1, no stack trace); with one, both take it.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, it } from "node:test";

import { DeviceUnavailableError, placeOnDevice } from "../../lib/native/device.js";
import { createEngine } from "../../lib/native/engine.js";
import { loadNative, projectRoot } from "../../lib/native/load.js";

const probe = loadNative().probeCuda();
const hasGpu = probe.deviceCount > 0;

describe("--device", () => {
  it("cpu is the CPU, without asking the GPU", () => {
    assert.deepEqual(placeOnDevice("cpu"), { device: "cpu", cudaDevice: 0, line: "device: cpu" });
  });

  it("auto takes a usable GPU, else the CPU with the reason", () => {
    const p = placeOnDevice("auto", 3);
    if (hasGpu) {
      assert.equal(p.device, "cuda");
      assert.equal(p.cudaDevice, 3 % probe.deviceCount, "each MPI rank takes its local rank's GPU");
      assert.match(p.line, /--device auto: a usable GPU is present; GEMMs: /);
    } else {
      assert.equal(p.device, "cpu");
      assert.equal(p.line, `device: cpu (--device auto: ${probe.reason})`);
      assert.ok(probe.reason.length > 10, "the reason says something");
    }
  });

  it("cuda without a usable GPU is a device error naming why", { skip: hasGpu && "this machine has a GPU" }, () => {
    assert.throws(
      () => placeOnDevice("cuda"),
      (e: unknown) =>
        e instanceof DeviceUnavailableError &&
        e.code === "ERR_DEVICE_UNAVAILABLE" &&
        e.message === `--device cuda: ${probe.reason}`,
    );
  });

  it("the CLI reports it in one line and exits 1", { skip: hasGpu && "this machine has a GPU" }, () => {
    const cli = join(projectRoot(), "dist", "bin", "bert-train.js");
    const r = spawnSync(process.execPath, [cli, "bench", "--device", "cuda", "--models", "mini", "--no-torch"], {
      encoding: "utf8",
    });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /--device cuda: /);
    assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
  });

  it("the engine itself refuses cuda where no GPU is", { skip: hasGpu && "this machine has a GPU" }, () => {
    const config = { vocab_size: 50, hidden_size: 16, num_hidden_layers: 1, num_attention_heads: 2 };
    assert.throws(
      () => createEngine({ config: { ...config, intermediate_size: 32, max_position_embeddings: 16 }, device: "cuda" }),
      (e: unknown) => (e as { code?: string }).code === "ERR_DEVICE_UNAVAILABLE",
    );
  });
});
