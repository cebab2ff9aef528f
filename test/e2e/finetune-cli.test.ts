// `bert-train finetune` as DeepSpeed's GLUE script runs it: the task folder or the GLUE root as --data_dir, a
// named flag that repeats a positional must agree with it, and Ctrl-C stops with a checkpoint that resumes.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";

import { projectRoot } from "../../lib/native/load.js";
import { tinyModelFolder } from "../helpers/finetune-fixture.js";

const root = projectRoot();
const cli = join(root, "dist", "bin", "bert-train.js");
const tmp = () => mkdtempSync(join(tmpdir(), "bert-train-finetune-cli-"));

function finetuneArgv(dir: string, positionals: string[], extra: string[] = []): string[] {
  return [
    cli,
    "finetune",
    ...positionals,
    tinyModelFolder(dir),
    "--random",
    "--data_dir",
    join(root, "data", "glue", "SST-2"), // the task folder, as DeepSpeed's script passes it
    "--output_dir",
    join(dir, "out"),
    "--max_seq_length",
    "32",
    "--threads",
    "1",
    ...extra,
  ];
}

describe("bert-train finetune", () => {
  it("a flag that repeats a positional must agree with it", () => {
    const dir = tmp();
    const disagree = spawnSync(
      process.execPath,
      finetuneArgv(dir, ["sst2", "32", "1e-4", "1", "job"], ["--learning_rate", "2e-5", "--num-train-epochs=3"]),
      { encoding: "utf8" },
    );
    assert.equal(disagree.status, 2, disagree.stderr);
    assert.match(disagree.stderr, /--learning_rate 2e-5 disagrees with the LEARNING_RATE argument 0\.0001/);
    assert.match(disagree.stderr, /--num_train_epochs 3 disagrees with the NUM_TRAIN_EPOCHS argument 1/);
    const agree = spawnSync(
      process.execPath,
      finetuneArgv(dir, ["sst2", "32", "1e-4", "1", "job"], ["--learning_rate", "0.0001", "--max_steps", "2"]),
      { encoding: "utf8" },
    );
    assert.equal(agree.status, 0, agree.stderr);
    assert.ok(existsSync(join(dir, "out", "job", "eval_results.txt")));
  });
  it("Ctrl-C saves a checkpoint mid-epoch; the resumed run ends with the uninterrupted run's results", async () => {
    const whole = tmp();
    const positionals = ["SST-2", "16", "1e-4", "1", "job"];
    const flags = ["--print_steps", "1", "--max_steps", "30"];
    const full = spawnSync(process.execPath, finetuneArgv(whole, positionals, flags), { encoding: "utf8" });
    assert.equal(full.status, 0, full.stderr);
    const parts = tmp();
    const child = spawn(process.execPath, finetuneArgv(parts, positionals, flags), {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
      if (/step 3\/30/.test(stdout) && !child.killed) child.kill("SIGINT");
    });
    const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
    assert.equal(code, 0, stderr);
    assert.match(stderr, /SIGINT: finishing the current step, then saving a checkpoint/);
    const saved = /checkpointing: PATH=.*ckpt_id=epoch0_step(\d+)/.exec(stdout);
    assert.ok(saved && Number(saved[1]) < 30, stdout);
    const jobDir = join(parts, "out", "saved_models", "job");
    const resumed = spawnSync(
      process.execPath,
      finetuneArgv(parts, positionals, [...flags, "--load_training_checkpoint", jobDir]),
      { encoding: "utf8" },
    );
    assert.equal(resumed.status, 0, resumed.stderr);
    const results = (dir: string) => readFileSync(join(dir, "out", "job", "eval_results.txt"), "utf8");
    assert.equal(results(parts), results(whole));
  });
  it("scripts take the user's relative paths from the folder they are run in", () => {
    const dir = tmp();
    tinyModelFolder(dir);
    symlinkSync(join(root, "data", "glue"), join(dir, "glue"));
    const script = join(root, "scripts", "run_glue_bert_base_finetune.sh");
    const extra = ["--random", "--max_steps", "2", "--max_seq_length", "32", "--threads", "1"];
    const r = spawnSync("bash", [script, "SST-2", "16", "1e-4", "1", "job", "model", ...extra], {
      cwd: dir,
      encoding: "utf8",
      env: { ...process.env, GLUE_DIR: "glue", OUTPUT_DIR: "results" },
    });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.ok(existsSync(join(dir, "results", "job", "eval_results.txt")));
    assert.ok(existsSync(join(dir, "results", "job", "train.log")));
  });
});
