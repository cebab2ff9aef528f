// `pretrain` on a real pseudo-terminal (util-linux `script`): the status line, micro-batch progress and the log
// lines share the screen without a log line glued onto the progress display; the run starts with its summary.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, describe, it } from "node:test";

import { projectRoot } from "../../lib/native/load.js";
import { renderTerminal } from "../helpers/terminal-screen.js";
import { prepareTiny } from "../helpers/tiny-data.js";
import { tinyPretrainArgs } from "../helpers/tiny-pretrain.js";

const root = projectRoot();
let dataRoot = "";

before(async () => {
  dataRoot = mkdtempSync(join(tmpdir(), "bert-train-tty-data-"));
  mkdirSync(join(dataRoot, "tiny"));
  await prepareTiny([join(root, "test", "fixtures", "sample_text.txt")], join(dataRoot, "tiny", "64"), 1);
});

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

describe("progress on a terminal", () => {
  it("no log line is glued onto the status line", () => {
    const out = mkdtempSync(join(tmpdir(), "bert-train-tty-"));
    const argv = [
      process.execPath,
      join(root, "dist", "bin", "bert-train.js"),
      ...tinyPretrainArgs({
        out,
        dataRoot,
        ds: "tiny_ds_fp32_pld.json",
        pld: true,
        extra: ["--max_steps", "12", "--print_steps", "1"],
      }),
    ];
    // script runs the command on a pseudo-terminal and copies what it wrote (stdout and stderr) to its stdout
    const r = spawnSync("script", ["-qfec", argv.map(quote).join(" "), "/dev/null"], {
      encoding: "utf8",
      env: { ...process.env, COLUMNS: "200" },
    });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const raw = r.stdout;
    assert.match(raw, /\rstep \d+\/12 {2}loss [\d.]+ /, "a status line was drawn");
    assert.match(raw, /micro-batch 1\/2/, "a step of two micro-batches shows its progress");
    const screen = renderTerminal(raw.replace(/\r\n/g, "\n"));
    const logged = screen.filter((l) => l.includes("bing_bert_progress:"));
    assert.equal(logged.length, 12);
    for (const line of logged)
      assert.match(line, /^bing_bert_progress: step=\d+, loss=[\d.]+, lr=[\d.e-]+, sample_count=\d+$/);
    assert.ok(
      screen.some((l) => /^parameters {5}[\d,]+ /.test(l)),
      "the run starts with its summary",
    );
  });
});
