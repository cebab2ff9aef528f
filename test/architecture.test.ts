// Who may import whom (docs/architecture.md): every relative import between folders of lib/ and bin/ goes down the
// layers, or is one of the few sideways edges the page names. A new upward import fails here.
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, it } from "node:test";

import { projectRoot } from "../lib/native/load.js";

/** Each folder's layer: a folder may import folders of lower layers. */
const LAYER: Record<string, number> = {
  "paths.ts": 0,
  "files.ts": 0,
  native: 1,
  data: 2,
  config: 2,
  formats: 2,
  parallel: 2,
  train: 3,
  glue: 3,
  plot: 3,
  bench: 4,
  cli: 4,
  bin: 5,
};
/** Imports within a layer that the design allows. */
const SIDEWAYS = new Set(["formats -> data", "glue -> train", "cli -> bench"]);

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return name.endsWith(".ts") ? [path] : [];
  });
}

/** lib/train/x.ts -> "train"; lib/paths.ts -> "paths.ts"; bin/x.ts -> "bin". */
function folderOf(root: string, file: string): string {
  const [top, second] = relative(root, file).split("/") as [string, string | undefined];
  if (top === "bin") return "bin";
  return second !== undefined && second.endsWith(".ts") ? second : (second ?? top);
}

describe("architecture", () => {
  it("lib/ and bin/ import only down the layers", () => {
    const root = projectRoot();
    const edges = new Set<string>();
    for (const file of [...sources(join(root, "lib")), ...sources(join(root, "bin"))]) {
      const from = folderOf(root, file);
      for (const [, spec] of readFileSync(file, "utf8").matchAll(/from "(\.[^"]+)"/g)) {
        const target = resolve(dirname(file), (spec as string).replace(/\.js$/, ".ts"));
        const to = folderOf(root, target);
        if (to !== from) edges.add(`${from} -> ${to}`);
      }
    }
    const unknown = [...edges].flatMap((e) => e.split(" -> ")).filter((f) => LAYER[f] === undefined);
    assert.deepEqual(unknown, [], "a folder with no layer: add it to docs/architecture.md and this table");
    const upward = [...edges].filter((e) => {
      const [from, to] = e.split(" -> ") as [string, string];
      return (LAYER[to] as number) >= (LAYER[from] as number) && !SIDEWAYS.has(e);
    });
    assert.deepEqual(upward, [], "imports that go up or sideways");
    assert.ok(edges.size > 10, `found only ${edges.size} edges: the scan is broken`);
  });

  // The backend seam: the model code reaches backend memory only through the Backend (memset_zero, copy, upload,
  // download) and its kernels. Host memory operations and OpenMP stay out of it; a line that works on host memory
  // only (device_batch.cpp's staging buffer) says so with a trailing "// host memory".
  it("native/src/model touches backend memory only through the backend", () => {
    const dir = join(projectRoot(), "native", "src", "model");
    const hostAccess = /\bstd::(memset|memcpy|fill|copy)\b|\bmem(set|cpy)\(|#pragma omp|\bomp_|cuda[A-Z]\w*\(/;
    const files = readdirSync(dir).filter((f) => /\.(cpp|h)$/.test(f));
    assert.ok(files.length > 8, "the scan found no model sources");
    const offending = files.flatMap((f) =>
      readFileSync(join(dir, f), "utf8")
        .split("\n")
        .map((line, i) => ({ f, line, i }))
        .filter(({ line }) => hostAccess.test(line) && !line.trimEnd().endsWith("// host memory")),
    );
    assert.deepEqual(
      offending.map(({ f, line, i }) => `${f}:${i + 1}: ${line.trim()}`),
      [],
      "use the Backend's memory operations",
    );
  });
});
