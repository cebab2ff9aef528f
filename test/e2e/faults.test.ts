// Faults and bad input that must lose nothing: a save killed at each of its file operations (strace injects
// SIGKILL at the N-th call of each syscall the save makes), re-saving the tag `latest` names included; `export`
// over folders it must not delete; fine-tuning sequence lengths that leave no room for text.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";

import { CorpusShards } from "../../lib/data/loader.js";
import { projectRoot } from "../../lib/native/load.js";
import { prepareTiny } from "../helpers/tiny-data.js";
import { FIXTURE_CONFIGS, tinyPretrainArgs } from "../helpers/tiny-pretrain.js";

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

/** Node running `argv`, sent `signal` by strace at the `n`-th call of `syscall` (by any thread). */
function underStrace(syscall: string, signal: string, n: number, argv: string[]) {
  const inject = `inject=${syscall}:signal=${signal}:when=${n}`;
  return spawnSync("strace", [
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
          const r = underStrace(syscall, "SIGKILL", n, argv);
          if (r.status === 0) break; // the N-th call never came: every call of this kind has been tried
          trials++;
          const tag = readFileSync(join(job(out), "latest"), "utf8").trim();
          for (const f of ["model.safetensors", "optimizer.safetensors", "state.json"])
            assert.ok(existsSync(join(job(out), tag, f)), `${syscall} #${n}: latest names ${tag}, which lacks ${f}`);
          pretrain(out, ["--max_steps", "6", "--load_training_checkpoint", job(out)]);
          const debris = readdirSync(job(out)).filter((f) => f.startsWith("."));
          assert.deepEqual(debris, [], `${syscall} #${n}: the resumed run cleaned what the killed save left`);
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
  for (const n of ["4", "2", "0", "-3", "65"])
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
      assert.match(
        r.stderr,
        n === "65"
          ? /--max_seq_length must be an integer from 5 .* to the model's max_position_embeddings 64, got 65/
          : /--max_seq_length: expected a number >= 5, found -?\d+ \(number\); \[CLS\] A \[SEP\] B \[SEP\]/,
      );
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

/** A FIFO nobody writes: a command reading it blocks there. */
function fifo(): string {
  const path = join(tmp(), "blocking.fifo");
  assert.equal(spawnSync("mkfifo", [path]).status, 0);
  return path;
}

/** A command blocked after taking its folder's lock (it reads a FIFO); `lock` is the lock file it takes. */
function blockedCommand(argv: string[], lock: string) {
  const child = spawn(process.execPath, argv, { stdio: "ignore" });
  const ended = new Promise<NodeJS.Signals | null>((done) => child.on("exit", (_, signal) => done(signal)));
  return { child, ended, lock };
}

/** A pretrain run blocked in setup (its vocabulary is a FIFO), holding the job's lock. */
const blockedRun = (out: string) =>
  blockedCommand(pretrainArgs(out, ["--max_steps", "1", "--vocab_file", fifo()]), join(out, ".tiny.lock"));

type Blocked = ReturnType<typeof blockedCommand>;

/** Runs `body` beside a blocked command, which is killed afterwards whatever happens. */
async function besideBlocked(blocked: Blocked, body: (run: Blocked) => void | Promise<void>) {
  try {
    await until(() => existsSync(blocked.lock));
    await body(blocked);
  } finally {
    blocked.child.kill("SIGKILL");
    await blocked.ended;
  }
}

async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 600 && !condition(); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(condition(), "gave up after 30 s");
}

describe("nothing hangs: /proc, and signals before training starts", { timeout: 60_000 }, () => {
  it("an --output_dir under /proc is refused at once", () => {
    const r = spawnSync(process.execPath, pretrainArgs("/proc/bert-train-test/out", ["--max_steps", "1"]), {
      encoding: "utf8",
      timeout: 30_000,
    });
    assert.equal(r.signal, null, "it ran past 30 s");
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /--output_dir \/proc\/bert-train-test\/out: cannot write there \(ENOENT\)/);
  });
  it("an --output_dir through a plain file, or with a name too long, names the system's reason", () => {
    const file = join(tmp(), "file");
    writeFileSync(file, "x");
    for (const [out, code] of [
      [join(file, "out"), "ENOTDIR"],
      [join(tmp(), "x".repeat(300)), "ENAMETOOLONG"],
    ] as const) {
      const r = spawnSync(process.execPath, pretrainArgs(out, ["--max_steps", "1"]), { encoding: "utf8" });
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, new RegExp(`--output_dir .*: cannot write there \\(${code}\\)`));
      assert.doesNotMatch(r.stderr, /\n\s+at /);
    }
  });
  for (const signal of ["SIGINT", "SIGTERM"] as const)
    it(`${signal} during setup, blocked in a read, ends the run`, async () => {
      const out = tmp();
      await besideBlocked(blockedRun(out), async (run) => {
        run.child.kill(signal);
        assert.equal(await run.ended, signal);
      });
      assert.equal(existsSync(join(out, "saved_models", "tiny", "latest")), false, "nothing was saved");
    });
});

describe("one run per job folder", { timeout: 60_000 }, () => {
  it("a second run into a job that is running is refused; the holder's death frees it", async () => {
    const out = tmp();
    let holder: number | undefined;
    await besideBlocked(blockedRun(out), (first) => {
      holder = first.child.pid;
      const second = spawnSync(process.execPath, pretrainArgs(out, ["--max_steps", "1"]), { encoding: "utf8" });
      assert.equal(second.status, 2, second.stderr);
      assert.match(second.stderr, new RegExp(`job tiny\\) is in use by bert-train pid ${holder} on `));
      assert.doesNotMatch(second.stderr, /\n\s+at /);
      assert.equal(existsSync(join(out, "tiny.metrics.jsonl")), false, "the refused run wrote nothing");
    });
    assert.ok(existsSync(join(out, ".tiny.lock")), "kill -9 left the lock file, but not the lock");
    pretrain(out, ["--max_steps", "1"]);
    assert.equal(existsSync(join(out, ".tiny.lock")), false, "the lock file goes with the run that held it");
  });
  it("another job in the same --output_dir runs alongside", async () => {
    const out = tmp();
    await besideBlocked(blockedRun(out), () => {
      pretrain(out, ["--max_steps", "1", "--job_name", "other"]);
    });
  });
  it("a second prepare-data into a folder one is writing is refused", async () => {
    const out = tmp();
    const first = blockedCommand(
      [cli, "prepare-data", "--input", fifo(), "--output_dir", out],
      join(out, ".prepare-data.lock"),
    );
    await besideBlocked(first, () => {
      const text = join(root, "test", "fixtures", "sample_text.txt");
      const r = spawnSync(process.execPath, [cli, "prepare-data", "--input", text, "--output_dir", out], {
        encoding: "utf8",
      });
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, new RegExp(`--output_dir ${out} is in use by bert-train pid ${first.child.pid}`));
    });
  });
});

describe("debris of dead saves is cleaned, what latest names is kept", () => {
  it("removes .tmp/.old/.latest leftovers and unnamed .keep copies, keeps the .keep that latest names", () => {
    const out = tmp();
    pretrain(out, ["--max_steps", "2"]);
    const job = join(out, "saved_models", "tiny");
    const tag = readFileSync(join(job, "latest"), "utf8").trim();
    const kept = `.keep-${tag}-4242`;
    cpSync(join(job, tag), join(job, kept), { recursive: true });
    writeFileSync(join(job, "latest"), kept + "\n"); // a save killed while latest named its copy
    for (const f of [".tmp-epoch0_step9-4242", ".old-x-4242", ".keep-y-4242"]) mkdirSync(join(job, f));
    writeFileSync(join(job, ".latest-4242"), "x");
    const r = pretrain(out, ["--max_steps", "2", "--load_training_checkpoint", job]);
    assert.match(r.stderr, /removed .*\.tmp-epoch0_step9-4242, left by an interrupted save/);
    assert.deepEqual(
      readdirSync(job)
        .filter((f) => f.startsWith("."))
        .sort(),
      [],
      "the re-save moved latest back to the tag; every leftover is gone",
    );
    assert.equal(readFileSync(join(job, "latest"), "utf8").trim(), tag);
  });
});

/** A 20 MiB tmpfs at a new folder (one tiny checkpoint is 12.5 MB), or undefined where mounting is not allowed. */
function smallDisk(): string | undefined {
  const dir = tmp();
  return spawnSync("mount", ["-t", "tmpfs", "-o", "size=20m", "tmpfs", dir]).status === 0 ? dir : undefined;
}

describe("a full disk", () => {
  const disk = smallDisk();
  after(() => {
    if (disk) spawnSync("umount", [disk]);
  });
  it(
    "stops the run with one line, keeps latest and gives the partial checkpoint's space back",
    {
      skip: disk ? false : "cannot mount a small tmpfs here",
    },
    () => {
      const out = join(disk as string, "out");
      const r = spawnSync(process.execPath, pretrainArgs(out, ["--max_steps", "3", "--ckpt_steps", "1"]), {
        encoding: "utf8",
      });
      assert.equal(r.status, 1, r.stderr);
      const job = join(out, "saved_models", "tiny");
      assert.match(
        r.stderr,
        /^bert-train: cannot save checkpoint epoch\d+_step2 in .*: ENOSPC: no space left on device, write; nothing of it was kept, and latest still names the complete epoch\d+_step1\. Free space/m,
      );
      assert.doesNotMatch(r.stderr, /\n\s+at /);
      const latest = readFileSync(join(job, "latest"), "utf8").trim();
      assert.match(latest, /_step1$/);
      assert.deepEqual(readdirSync(job).sort(), [latest, "latest"], "no partial folder left");
      const free = spawnSync("df", ["--output=avail", "-B1", disk as string], { encoding: "utf8" }).stdout;
      assert.ok(Number(free.trim().split("\n")[1]) > 6e6, `the disk got its space back: ${free}`);
    },
  );
});

describe("a read-only disk", () => {
  const disk = smallDisk();
  const readOnly = disk !== undefined && spawnSync("mount", ["-o", "remount,ro", disk]).status === 0;
  after(() => {
    if (disk) spawnSync("umount", [disk]);
  });
  it("is named as such (EROFS), not as a missing folder", { skip: readOnly ? false : "cannot mount here" }, () => {
    const r = spawnSync(process.execPath, pretrainArgs(join(disk as string, "out"), ["--max_steps", "1"]), {
      encoding: "utf8",
    });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /--output_dir .*\/out: cannot write there \(EROFS\)/);
  });
});

/** A digest of what a corpus folder's manifest names (the manifest and its shards), or why the loader refuses it. */
async function datasetDigest(dir: string): Promise<string> {
  try {
    const shards = await CorpusShards.open(dir, { vocabSize: 30522 });
    const hash = createHash("sha256").update(readFileSync(join(dir, "dataset.json")));
    for (const f of shards.files) hash.update(readFileSync(f));
    return hash.digest("hex");
  } catch (err) {
    return `refused: ${(err as Error).message}`;
  }
}

describe("prepare-data interrupted over an earlier dataset", { skip: hasStrace ? false : "needs strace" }, () => {
  it("leaves the earlier dataset, or a folder the loader refuses, never stale shards; the rerun cleans up", async () => {
    const text = join(root, "test", "fixtures", "sample_text.txt");
    const prepare = (out: string, seed: string, shards: string) => [
      cli,
      "prepare-data",
      "--input",
      text,
      "--output_dir",
      out,
      "--max_seq_length",
      "64",
      "--dupe_factor",
      "1",
      "--seed",
      seed,
      "--num_shards",
      shards,
    ];
    const earlier = join(tmp(), "data");
    assert.equal(spawnSync(process.execPath, prepare(earlier, "1", "3")).status, 0);
    const newer = join(tmp(), "data");
    assert.equal(spawnSync(process.execPath, prepare(newer, "2", "2")).status, 0);
    const [oldDigest, newDigest] = [await datasetDigest(earlier), await datasetDigest(newer)];
    const outcomes = new Map<string, number>();
    for (const [syscall, signal, whens] of [
      ["rename", "SIGKILL", [1, 2, 3, 4, 5, 6, 7, 8]],
      ["write", "SIGINT", [1, 20, 60, 120]],
      ["unlink", "SIGKILL", [1, 2, 3]],
    ] as const)
      for (const n of whens) {
        const out = join(tmp(), "data");
        cpSync(earlier, out, { recursive: true });
        const r = underStrace(syscall, signal, n, prepare(out, "2", "2"));
        const digest = await datasetDigest(out);
        const outcome =
          digest === oldDigest
            ? "earlier"
            : digest === newDigest
              ? "new"
              : digest.startsWith("refused")
                ? "refused"
                : digest;
        assert.ok(["earlier", "new", "refused"].includes(outcome), `${syscall} #${n} (exit ${r.status}): ${outcome}`);
        if (outcome === "refused") assert.match(digest, /prepare-data's shards but no dataset\.json/);
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
        const again = spawnSync(process.execPath, prepare(out, "2", "2"), { encoding: "utf8" });
        assert.equal(again.status, 0, again.stderr);
        assert.equal(await datasetDigest(out), newDigest, `${syscall} #${n}: the rerun makes the new dataset`);
        assert.deepEqual(
          readdirSync(out).filter((f) => f.startsWith(".")),
          [],
          "no debris after the rerun",
        );
      }
    console.log(`interrupted prepare-data left: ${JSON.stringify(Object.fromEntries(outcomes))}`);
    assert.ok((outcomes.get("earlier") ?? 0) >= 5, "most interruptions come before the commit");
  });
  it("refuses an output folder of other files before reading any text", () => {
    const dir = tmp();
    writeFileSync(join(dir, "notes.txt"), "mine\n");
    const s = spawnSync(
      process.execPath,
      [cli, "prepare-data", "--input", join(root, "test", "fixtures", "sample_text.txt"), "--output_dir", dir],
      { encoding: "utf8" },
    );
    assert.equal(s.status, 2);
    assert.match(
      s.stderr,
      /--output_dir .* already holds other files \(notes\.txt\); prepare-data writes into a new or empty folder/,
    );
    assert.equal(readFileSync(join(dir, "notes.txt"), "utf8"), "mine\n");
  });
});

describe("a diverged fp16 run", () => {
  /** A --cf with a learning rate of 10^4 (the first update wrecks the weights) and an fp16 DeepSpeed config. */
  function divergingConfigs(): string[] {
    const dir = tmp();
    const cf = JSON.parse(readFileSync(join(FIXTURE_CONFIGS, "tiny_cf.json"), "utf8")) as {
      mixed_seq_training: Record<string, { learning_rate: number; warmup_proportion: number }>;
    };
    Object.assign(cf.mixed_seq_training["64"] ?? {}, { learning_rate: 1e4, warmup_proportion: 0 });
    writeFileSync(join(dir, "cf.json"), JSON.stringify(cf));
    const ds = JSON.parse(readFileSync(join(FIXTURE_CONFIGS, "tiny_ds_fp32.json"), "utf8")) as Record<string, unknown>;
    writeFileSync(join(dir, "ds.json"), JSON.stringify({ ...ds, fp16: { enabled: true } }));
    return ["--cf", join(dir, "cf.json"), "--deepspeed_config", join(dir, "ds.json")];
  }
  const run = (out: string, extra: string[]) =>
    spawnSync(
      process.execPath,
      [
        cli,
        ...tinyPretrainArgs({
          out,
          dataRoot,
          ds: "tiny_ds_fp32.json",
          pld: false,
          extra: [...divergingConfigs(), ...extra],
        }),
      ],
      { encoding: "utf8" },
    );
  it("never moves latest past a non-finite loss, and stops after 5 such steps with exit 1", () => {
    const out = tmp();
    const r = run(out, ["--max_steps", "40", "--ckpt_steps", "1", "--print_steps", "1"]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(
      r.stderr,
      /bert-train: training diverged: the loss was NaN on the last 5 steps .*; latest still names .*epoch0_step1, saved after a step with a finite loss/,
    );
    assert.match(r.stderr, /step 2: the loss is not finite; no checkpoint/);
    const job = join(out, "saved_models", "tiny");
    assert.equal(readFileSync(join(job, "latest"), "utf8").trim(), "epoch0_step1");
    assert.deepEqual(readdirSync(job).sort(), ["epoch0_step1", "latest"]);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  });
  it("ending inside the window exits 1 too, without a checkpoint", () => {
    const out = tmp();
    const r = run(out, ["--max_steps", "3"]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /the run ended at step 3 with a non-finite loss .*; this run wrote no checkpoint/);
    assert.equal(existsSync(join(out, "saved_models", "tiny", "latest")), false);
  });
});
