// The launcher's mpirun line, the hostfile parser, and the conversion of a data position between world sizes.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";

import { rescaleMixerPosition } from "../../lib/data/loader.js";
import { LaunchError, mpirunArgv, parseHostfile, type LaunchOptions } from "../../lib/parallel/launch-plan.js";
import { launchedWorldSize } from "../../lib/parallel/world.js";
import { projectRoot } from "../../lib/native/load.js";

const base: LaunchOptions = {
  numProcsPerNode: 2,
  mpirunArgs: [],
  node: "/usr/bin/node",
  entry: "/p/dist/bin/bert-train.js",
  command: ["pretrain", "--cf", "c.json"],
  cores: 8,
  isRoot: false,
};

function hostfile(text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), "bert-train-hosts-")), "hosts");
  writeFileSync(path, text);
  return path;
}

describe("bert-train launch", () => {
  it("one machine: np = processes, threads = cores / processes, oversubscription allowed", () => {
    const argv = mpirunArgv(base);
    assert.deepEqual(argv.slice(0, 4), ["-np", "2", "-H", "localhost:2"]);
    assert.ok(argv.includes("OMP_NUM_THREADS=4"));
    assert.ok(argv.includes("--oversubscribe"));
    assert.ok(!argv.includes("--allow-run-as-root"));
    assert.deepEqual(argv.slice(-5), ["/usr/bin/node", "/p/dist/bin/bert-train.js", "pretrain", "--cf", "c.json"]);
    assert.ok(mpirunArgv({ ...base, isRoot: true }).includes("--allow-run-as-root"));
  });
  it("a hostfile: the first --num_nodes hosts, P processes on each", () => {
    const path = hostfile("# workers\nworker-1 slots=8\n\nworker-2 slots=8  # second\nworker-3\n");
    assert.deepEqual(parseHostfile(path), [
      { name: "worker-1", slots: 8 },
      { name: "worker-2", slots: 8 },
      { name: "worker-3", slots: 1 },
    ]);
    const argv = mpirunArgv({ ...base, hostfile: path, numNodes: 2, numProcsPerNode: 1, threadsPerProc: 16 });
    assert.deepEqual(argv.slice(0, 6), ["-np", "2", "-H", "worker-1:1,worker-2:1", "--map-by", "ppr:1:node"]);
    assert.ok(argv.includes("OMP_NUM_THREADS=16"));
    assert.ok(!argv.includes("--oversubscribe"));
  });
  it("bad input names the file and line or the flag", () => {
    assert.throws(() => parseHostfile(hostfile("a slots=2\nb slots=two\n")), /hosts:2: expected "hostname slots=N"/);
    assert.throws(() => parseHostfile(hostfile("a\na\n")), /hosts:2: host a is listed twice/);
    assert.throws(() => parseHostfile("/nonexistent/hosts"), /--hostfile \/nonexistent\/hosts: cannot read it/);
    assert.throws(() => mpirunArgv({ ...base, numNodes: 2 }), /--num_nodes 2 needs a --hostfile/);
    assert.throws(() => mpirunArgv({ ...base, hostfile: hostfile("a\n"), numNodes: 3 }), /lists 1 host/);
    assert.throws(() => mpirunArgv({ ...base, command: [] }), LaunchError);
  });
  it("the world size comes from the launcher's environment", () => {
    assert.equal(launchedWorldSize({}), 1);
    assert.equal(launchedWorldSize({ OMPI_COMM_WORLD_SIZE: "4" }), 4);
    assert.equal(launchedWorldSize({ PMI_SIZE: "3" }), 3);
  });
  it("only pretrain and finetune run as several ranks; other commands say so", () => {
    const cli = join(projectRoot(), "dist", "bin", "bert-train.js");
    const env = { ...process.env, OMPI_COMM_WORLD_SIZE: "2" };
    const r = spawnSync(process.execPath, [cli, "export", "--checkpoint", "x", "--output_dir", "y"], {
      encoding: "utf8",
      env,
    });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /export runs as one process; start it without mpirun/);
  });
});

describe("resuming on another world size", () => {
  const saved = { step: 12, corpora: { wiki: { epoch: 1, batch: 6 }, books: { epoch: 0, batch: 3 } } };
  it("converts each corpus's position through the global micro-batch count", () => {
    assert.deepEqual(rescaleMixerPosition(saved, 2, 1), {
      step: 12,
      corpora: { wiki: { epoch: 1, batch: 12 }, books: { epoch: 0, batch: 6 } },
    });
    assert.deepEqual(rescaleMixerPosition(saved, 2, 3).corpora.wiki, { epoch: 1, batch: 4 });
  });
  it("refuses a world size that cannot share the position evenly", () => {
    assert.throws(() => rescaleMixerPosition(saved, 2, 4), /cannot resume on 4 ranks: corpus books is 6 micro-batches/);
  });
});
