// makeDirs, the mkdir every command uses: parents made in turn, an existing folder fine, a folder another process
// makes at the same moment fine (two ranks of one job), a path under /proc an error at once (recursive mkdirSync
// spins there), a plain file in the way ENOTDIR.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { pathToFileURL } from "node:url";

import { makeDirs } from "../lib/files.js";
import { projectRoot } from "../lib/paths.js";

const tmp = () => mkdtempSync(join(tmpdir(), "bert-train-files-"));

describe("makeDirs", () => {
  it("makes the missing parents and accepts an existing folder", () => {
    const deep = join(tmp(), "a", "b", "c");
    makeDirs(deep);
    makeDirs(deep);
    assert.ok(statSync(deep).isDirectory());
  });
  it("fails at once under /proc and through a plain file", () => {
    assert.throws(
      () => makeDirs("/proc/bert-train-test/x"),
      (e: NodeJS.ErrnoException) => e.code === "ENOENT",
    );
    const file = join(tmp(), "f");
    writeFileSync(file, "");
    assert.throws(
      () => makeDirs(join(file, "x", "y")),
      (e: NodeJS.ErrnoException) => e.code === "ENOTDIR",
    );
  });
  it("16 processes making the same folders at once all succeed", async () => {
    const root = tmp();
    const module = pathToFileURL(join(projectRoot(), "dist", "lib", "files.js")).href;
    const start = Date.now() + 2000; // every process starts making folders at this instant
    const code = `import(${JSON.stringify(module)}).then(({ makeDirs }) => { while (Date.now() < ${start}); for (let i = 0; i < 300; i++) makeDirs(${JSON.stringify(root)} + "/d" + i + "/x/y/z"); })`;
    const codes = await Promise.all(
      Array.from(
        { length: 16 },
        () =>
          new Promise<number | null>((done) => {
            const child = spawn(process.execPath, ["-e", code], { stdio: "inherit" });
            child.on("exit", done);
          }),
      ),
    );
    assert.deepEqual(codes, new Array(16).fill(0));
  });
});
