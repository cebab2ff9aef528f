// Faults and bad input that must lose nothing: a save killed at each of its file operations (strace injects
// SIGKILL at the N-th call of each syscall the save makes), re-saving the tag `latest` names included; `export`
// over folders it must not delete; fine-tuning sequence lengths that leave no room for text.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, describe, it } from "node:test";

import { projectRoot } from "../../lib/native/load.js";
import { prepareTiny } from "../helpers/tiny-data.js";
import { tinyPretrainArgs } from "../helpers/tiny-pretrain.js";

const root = projectRoot();
const cli = join(root, "dist", "bin", "bert-train.js");
const tmp = () => mkdtempSync(join(tmpdir(), "bert-train-faults-"));
const hasStrace = spawnSync("strace", ["-V"]).status === 0;
let dataRoot = "";

before(async () => {
  dataRoot = tmp();
  mkdirSync(join(dataRoot, "tiny"));
  await prepareTiny([join(root, "test", "fixtures", "sample_text.txt")], join(dataRoot, "tiny", "64"), 1);
});

function pretrainArgs(out: string, extra: string[]): string[] {
  const flags = ["--print_steps", "1000", ...extra];
  return [cli, ...tinyPretrainArgs({ out, dataRoot, ds: "tiny_ds_fp32_pld.json", pld: true, extra: flags })];
}

function pretrain(out: string, extra: string[]) {
  const r = spawnSync(process.execPath, pretrainArgs(out, extra), { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  return r;
}

function losses(out: string): Map<number, number> {
  const last = new Map<number, number>();
  for (const line of readFileSync(join(out, "tiny.metrics.jsonl"), "utf8").trim().split("\n")) {
    try {
      const m = JSON.parse(line) as { step?: number; loss?: number };
      if (m.step !== undefined && m.loss !== undefined) last.set(m.step, m.loss);
    } catch {
      // a line cut by the kill
    }
  }
  return last;
}

describe("a save killed at each of its file operations", { skip: hasStrace ? false : "needs strace" }, () => {
  it("leaves `latest` naming a complete checkpoint that resumes exactly, re-saves of its own tag included", () => {
    const whole = tmp();
    pretrain(whole, ["--max_steps", "6"]);
    const expected = losses(whole);
    const start = tmp();
    pretrain(start, ["--max_steps", "4"]); // latest names step 4
    const job = (out: string) => join(out, "saved_models", "tiny");
    let trials = 0;
    // re-running the finished run in place re-saves step 4's tag; going on to 5 saves a new one
    for (const [maxSteps, syscalls] of [
      ["4", ["mkdir", "link", "rename", "unlink", "rmdir"]],
      ["5", ["mkdir", "rename"]],
    ] as const)
      for (const syscall of syscalls)
        for (let n = 1; n < 100; n++) {
          const out = tmp();
          cpSync(start, out, { recursive: true });
          const argv = pretrainArgs(out, ["--max_steps", maxSteps, "--load_training_checkpoint", job(out)]);
          const inject = `inject=${syscall}:signal=SIGKILL:when=${n}`;
          const r = spawnSync("strace", [
            "-f",
            "-qq",
            "-o",
            "/dev/null",
            "-e",
            `trace=${syscall}`,
            "-e",
            inject,
            process.execPath,
            ...argv,
          ]);
          if (r.status === 0) break; // the N-th call never came: every call of this kind has been tried
          trials++;
          const tag = readFileSync(join(job(out), "latest"), "utf8").trim();
          for (const f of ["model.safetensors", "optimizer.safetensors", "state.json"])
            assert.ok(existsSync(join(job(out), tag, f)), `${syscall} #${n}: latest names ${tag}, which lacks ${f}`);
          pretrain(out, ["--max_steps", "6", "--load_training_checkpoint", job(out)]);
          const got = losses(out);
          for (const step of [5, 6]) assert.equal(got.get(step), expected.get(step), `${syscall} #${n}: step ${step}`);
        }
    console.log(`${trials} saves killed at a file operation; latest complete and the resume exact after each`);
    assert.ok(trials >= 20, `only ${trials} kills landed`);
  });
});

describe("export never deletes what it did not write", () => {
  let checkpoint = "";
  before(() => {
    const out = tmp();
    pretrain(out, ["--max_steps", "2"]);
    const job = join(out, "saved_models", "tiny");
    checkpoint = join(job, readFileSync(join(job, "latest"), "utf8").trim());
  });
  const exportTo = (dir: string) =>
    spawnSync(process.execPath, [cli, "export", "--checkpoint", checkpoint, "--output_dir", dir], { encoding: "utf8" });
  it("refuses a folder of other files and keeps them", () => {
    const dir = tmp();
    writeFileSync(join(dir, "notes.txt"), "notes\n");
    const r = exportTo(dir);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /already holds other files \(notes\.txt\)/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
    assert.equal(readFileSync(join(dir, "notes.txt"), "utf8"), "notes\n");
  });
  it("refuses a plain file and a run's output folder", () => {
    const file = join(tmp(), "model.bin");
    writeFileSync(file, "x");
    assert.equal(exportTo(file).status, 2);
    assert.equal(readFileSync(file, "utf8"), "x");
    const run = join(checkpoint, "..", "..", "..");
    const r = exportTo(run);
    assert.equal(r.status, 2);
    assert.ok(existsSync(join(checkpoint, "model.safetensors")), "the checkpoints are still there");
  });
  it("writes into a new or empty folder, and over an earlier export", () => {
    const dir = join(tmp(), "exported");
    assert.equal(exportTo(dir).status, 0);
    const again = exportTo(dir);
    assert.equal(again.status, 0, again.stderr);
    for (const f of ["config.json", "model.safetensors", "vocab.txt"]) assert.ok(existsSync(join(dir, f)), f);
    const empty = tmp();
    assert.equal(exportTo(empty).status, 0);
  });
});

describe("fine-tuning with a sequence too short for its text", () => {
  for (const n of ["4", "2", "0", "-3"])
    it(`--max_seq_length ${n} is refused at once, not a hang`, () => {
      const dir = tmp();
      const glue = join(dir, "SST-2");
      mkdirSync(glue);
      writeFileSync(join(glue, "train.tsv"), "sentence\tlabel\nit is good\t1\nit is bad\t0\n");
      writeFileSync(join(dir, "config.json"), "{}");
      const model = join(dir, "model");
      mkdirSync(model);
      writeFileSync(
        join(model, "config.json"),
        JSON.stringify({
          hidden_size: 32,
          num_hidden_layers: 1,
          num_attention_heads: 2,
          intermediate_size: 32,
          max_position_embeddings: 64,
          vocab_size: 30522,
          type_vocab_size: 2,
          hidden_act: "gelu",
          hidden_dropout_prob: 0.1,
          attention_probs_dropout_prob: 0.1,
          layer_norm_eps: 1e-12,
        }),
      );
      const r = spawnSync(
        process.execPath,
        [
          cli,
          "finetune",
          "SST-2",
          "2",
          "1e-4",
          "1",
          "job",
          model,
          "--data_dir",
          dir,
          "--output_dir",
          join(dir, "out"),
          "--random",
          "--max_seq_length",
          n,
        ],
        { encoding: "utf8", timeout: 60_000 },
      );
      assert.equal(r.signal, null, "it ran past 60 s");
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, /--max_seq_length must be an integer from 5/);
    });
});

describe("bad input is one line, never a stack trace", () => {
  for (const name of ["", "../../x", "a/b", ".hidden", "x".repeat(101)])
    it(`--job_name ${JSON.stringify(name.length > 20 ? name.slice(0, 8) + "..." : name)} is refused before anything is written`, () => {
      const out = join(tmp(), "out");
      const r = spawnSync(process.execPath, pretrainArgs(out, ["--job_name", name, "--max_steps", "1"]), {
        encoding: "utf8",
      });
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, /--job_name .*a job name is a folder name under --output_dir/);
      assert.doesNotMatch(r.stderr, /\n\s+at /);
      assert.equal(existsSync(out), false, "nothing written");
    });
  it("a truncated state.json names the file, for resume, evaluate and export", () => {
    const out = tmp();
    pretrain(out, ["--max_steps", "1"]);
    const job = join(out, "saved_models", "tiny");
    const tag = readFileSync(join(job, "latest"), "utf8").trim();
    const state = join(job, tag, "state.json");
    writeFileSync(state, readFileSync(state, "utf8").slice(0, 40));
    for (const argv of [
      pretrainArgs(out, ["--max_steps", "2", "--load_training_checkpoint", job]),
      [cli, "evaluate", "--checkpoint", join(job, tag), "--data", join(dataRoot, "tiny", "64")],
      [cli, "export", "--checkpoint", join(job, tag), "--output_dir", join(tmp(), "e")],
    ]) {
      const r = spawnSync(process.execPath, argv, { encoding: "utf8" });
      assert.equal(r.status, 2, `${argv[1]}: ${r.stderr}`);
      assert.match(
        r.stderr,
        new RegExp(`${state.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}: not a readable checkpoint state`),
      );
      assert.doesNotMatch(r.stderr, /\n\s+at /, `${argv[1]}: no stack trace`);
    }
  });
  it("BERT_TRAIN_DEBUG=1 shows the stack of a user error on demand", () => {
    const r = spawnSync(
      process.execPath,
      [cli, "export", "--checkpoint", "/nonexistent", "--output_dir", join(tmp(), "e")],
      {
        encoding: "utf8",
        env: { ...process.env, BERT_TRAIN_DEBUG: "1" },
      },
    );
    assert.equal(r.status, 2);
    assert.match(r.stderr, /\n\s+at /);
  });
});
