// Numeric flags go through the same schema machinery as the config files: each case the fault campaign found
// (all of which used to run and exit 0) is now refused with exit 2, one line per flag, before anything is written.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";

import { checkFlags, FLAG_RULES } from "../../lib/config/flags.js";
import { ConfigError } from "../../lib/config/errors.js";
import { projectRoot } from "../../lib/native/load.js";
import { tinyModelFolder } from "../helpers/finetune-fixture.js";
import { FIXTURE_CONFIGS } from "../helpers/tiny-pretrain.js";

const cli = join(projectRoot(), "dist", "bin", "bert-train.js");
const tmp = () => mkdtempSync(join(tmpdir(), "bert-train-flags-"));

function pretrainFlags(out: string, extra: string[]): string[] {
  const cf = join(FIXTURE_CONFIGS, "tiny_cf.json");
  const ds = join(FIXTURE_CONFIGS, "tiny_ds_fp32.json");
  return ["pretrain", "--cf", cf, "--deepspeed_config", ds, "--output_dir", out, "--max_seq_length", "64", ...extra];
}

function finetuneFlags(dir: string, positional: [string, string, string], extra: string[] = []): string[] {
  mkdirSync(join(dir, "SST-2"), { recursive: true });
  writeFileSync(join(dir, "SST-2", "train.tsv"), "sentence\tlabel\nit is good\t1\nit is bad\t0\n");
  const model = tinyModelFolder(dir);
  return [
    "finetune",
    "SST-2",
    ...positional,
    "job",
    model,
    "--data_dir",
    dir,
    "--output_dir",
    join(dir, "out"),
    "--random",
    ...extra,
  ];
}

const CASES: [string, (out: string) => string[], RegExp][] = [
  [
    "pretrain --max_steps NaN",
    (o) => pretrainFlags(o, ["--max_steps", "NaN"]),
    /pretrain: --max_steps: expected integer, found NaN \(not a finite number\)/,
  ],
  [
    "pretrain --max_steps -5",
    (o) => pretrainFlags(o, ["--max_steps", "-5"]),
    /--max_steps: expected a number >= 1, found -5/,
  ],
  [
    "pretrain --lr_offset -1000",
    (o) => pretrainFlags(o, ["--lr_offset", "-1000"]),
    /--lr_offset: expected a number >= 0, found -1000/,
  ],
  [
    "pretrain --max_predictions_per_seq 0",
    (o) => pretrainFlags(o, ["--max_predictions_per_seq", "0"]),
    /--max_predictions_per_seq: expected a number >= 1, found 0/,
  ],
  [
    "pretrain --loss_scale -1",
    (o) => pretrainFlags(o, ["--loss_scale", "-1"]),
    /--loss_scale: expected a number >= 0, found -1/,
  ],
  [
    "pretrain --max_grad_norm -1",
    (o) => pretrainFlags(o, ["--max_grad_norm", "-1"]),
    /--max_grad_norm: expected a number >= 0, found -1/,
  ],
  [
    "pretrain --ckpt_to_save 1 0.5",
    (o) => pretrainFlags(o, ["--ckpt_to_save", "1", "0.5"]),
    /--ckpt_to_save\[1\]: expected integer, found 0.5/,
  ],
  [
    "evaluate --max_batches -1",
    (o) => ["evaluate", "--checkpoint", o, "--data", o, "--max_batches", "-1"],
    /evaluate: --max_batches: expected a number >= 1, found -1/,
  ],
  [
    "finetune batch -16",
    (o) => finetuneFlags(o, ["-16", "1e-4", "1"]),
    /finetune: <train_batch_size>: expected a number >= 1, found -16/,
  ],
  [
    "finetune lr -1",
    (o) => finetuneFlags(o, ["2", "-1", "1"]),
    /finetune: <learning_rate>: expected a number > 0, found -1/,
  ],
  [
    "finetune 0.5 epochs",
    (o) => finetuneFlags(o, ["2", "1e-4", "0.5"]),
    /finetune: <num_train_epochs>: expected integer, found 0.5/,
  ],
  [
    "finetune --warmup_proportion 2",
    (o) => finetuneFlags(o, ["2", "1e-4", "1"], ["--warmup_proportion", "2"]),
    /--warmup_proportion: expected a number <= 1, found 2/,
  ],
  [
    "prepare-data --masked_lm_prob 2",
    (o) => ["prepare-data", "--input", o, "--output_dir", join(o, "x"), "--masked_lm_prob", "2"],
    /prepare-data: --masked_lm_prob: expected a number <= 1, found 2/,
  ],
  [
    "launch --threads_per_proc -1",
    () => ["launch", "--threads_per_proc", "-1", "--dry_run", "--", "pretrain"],
    /launch: --threads_per_proc: expected a number >= 1, found -1/,
  ],
];

describe("numeric flags are checked by schema, before any work", () => {
  for (const [what, argv, message] of CASES)
    it(what, () => {
      const dir = tmp();
      const args = argv(dir);
      const fixture = readdirSync(dir).length; // what the case's own fixture put there
      const r = spawnSync(process.execPath, [cli, ...args], { encoding: "utf8" });
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, message);
      assert.doesNotMatch(r.stderr, /\n\s+at /);
      assert.equal(readdirSync(dir).length, fixture, "nothing written");
    });
  it("every problem at once, one line per flag", () => {
    assert.throws(
      () => checkFlags("pretrain", { max_steps: 0.5, seed: -1, threads: 1 }),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.problems.length === 2 &&
        /--max_steps: expected integer/.test(e.problems.join("\n")) &&
        /--seed: expected a number >= 0/.test(e.problems.join("\n")),
    );
    assert.doesNotThrow(() => checkFlags("pretrain", { max_steps: 10, seed: 0, lr_offset: 0.5 }));
    assert.doesNotThrow(() => checkFlags("export", { anything: -1 }), "commands without numeric flags");
  });
  it("covers every numeric option of every command", () => {
    for (const file of readdirSync(join(projectRoot(), "lib", "cli"))) {
      const source = readFileSync(join(projectRoot(), "lib", "cli", file), "utf8");
      const command = /command: "([a-z-]+)/.exec(source)?.[1];
      for (const [, name] of source.matchAll(/\.(?:option|positional)\("([a-z_]+)", \{\s*type: "number"/g))
        assert.ok(
          command !== undefined && FLAG_RULES[command]?.[name as string] !== undefined,
          `${file}: --${name} of ${command} has no rule in lib/config/flags.ts`,
        );
    }
  });
});
