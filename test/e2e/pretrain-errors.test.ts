// Config and flag errors of `bert-train pretrain`: each is a clear message on stderr (naming the file and key where
// there is one) and exit code 2, never a stack trace.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";

import { projectRoot } from "../../lib/native/load.js";

const root = projectRoot();
const cli = join(root, "dist", "bin", "bert-train.js");
const configs = join(root, "test", "fixtures", "configs");
const work = mkdtempSync(join(tmpdir(), "bert-train-errors-"));

function variant(base: string, edit: (j: Record<string, unknown>) => void, name: string): string {
  const j = JSON.parse(readFileSync(join(configs, base), "utf8")) as Record<string, unknown>;
  edit(j);
  const path = join(work, name);
  writeFileSync(path, JSON.stringify(j));
  return path;
}

function pretrain(options: { cf?: string; ds?: string; extra?: string[]; pld?: boolean; out?: string }) {
  const argv = [
    cli,
    "pretrain",
    "--cf",
    options.cf ?? join(configs, "tiny_cf.json"),
    "--deepspeed_config",
    options.ds ?? join(configs, "tiny_ds_fp32_pld.json"),
    "--max_seq_length",
    "64",
    "--output_dir",
    options.out ?? join(work, "out"),
    "--data_path_prefix",
    join(work, "no-data"),
    "--max_steps",
    "1",
    ...(options.pld === false ? [] : ["--progressive_layer_drop"]),
    ...(options.extra ?? []),
  ];
  return spawnSync(process.execPath, argv, { encoding: "utf8" });
}

const cases: [string, () => ReturnType<typeof pretrain>, RegExp][] = [
  [
    "an unknown key in the DeepSpeed config, with a suggestion",
    () => pretrain({ ds: variant("tiny_ds_fp32_pld.json", (j) => (j.gradient_cliping = 1), "typo.json") }),
    /typo\.json: gradient_cliping: unknown key; did you mean "gradient_clipping"\?/,
  ],
  [
    "a wrong type",
    () => pretrain({ ds: variant("tiny_ds_fp32_pld.json", (j) => (j.steps_per_print = "often"), "type.json") }),
    /type\.json: steps_per_print: expected integer, found "often" \(string\)/,
  ],
  [
    "inconsistent batch arithmetic",
    () => pretrain({ ds: variant("tiny_ds_fp32_pld.json", (j) => (j.gradient_accumulation_steps = 3), "batch.json") }),
    /batch\.json: train_batch_size 8 must equal train_micro_batch_size_per_gpu 4 × gradient_accumulation_steps 3 × world size 1 = 12/,
  ],
  [
    "a batch flag that does not divide",
    () => pretrain({ extra: ["--train_batch_size", "10"] }),
    /train_batch_size 10 is not a multiple of train_micro_batch_size_per_gpu 4/,
  ],
  [
    "the PLD flag without the config block",
    () => pretrain({ ds: join(configs, "tiny_ds_fp32.json") }),
    /--progressive_layer_drop selects the switchable \(Pre-LN\) model, but the DeepSpeed config does not enable layer dropping/,
  ],
  [
    "the config block without the PLD flag",
    () => pretrain({ pld: false }),
    /progressive_layer_drop\.enabled is true, but layer dropping needs the switchable \(Pre-LN\) model that --progressive_layer_drop selects/,
  ],
  [
    "a missing data path",
    () => pretrain({}),
    /tiny_cf\.json: data\.mixed_seq_datasets\.64\.wiki_pretrain_dataset: .*no-data\/tiny\/64 does not exist/,
  ],
  [
    "an output folder that cannot be made",
    () => {
      const file = join(work, "a-file");
      writeFileSync(file, "not a folder");
      return pretrain({ out: join(file, "inside") });
    },
    /--output_dir .*a-file\/inside: cannot write there \(ENOTDIR\)/,
  ],
  [
    "a missing --cf file",
    () => pretrain({ cf: join(work, "nope.json") }),
    /nope\.json: cannot read the --cf config: no such file/,
  ],
  [
    "a --cf file that is not JSON",
    () => {
      const bad = join(work, "broken.json");
      writeFileSync(bad, '{ "bert_model_config": { "hidden_size": 32, }\n}');
      return pretrain({ cf: bad });
    },
    /broken\.json(:\d+)?: the --cf config is not valid JSON/,
  ],
  [
    "no training block for the sequence length",
    () => pretrain({ extra: ["--max_seq_length", "32"] }),
    /mixed_seq_training\.32: no training settings for --max_seq_length 32/,
  ],
  [
    "heads that do not divide the hidden size",
    () =>
      pretrain({
        cf: variant(
          "tiny_cf.json",
          (j) => ((j.bert_model_config as Record<string, number>).num_attention_heads = 5),
          "heads.json",
        ),
      }),
    /num_attention_heads to divide hidden_size/,
  ],
  [
    "a negative learning rate",
    () =>
      pretrain({
        ds: variant(
          "tiny_ds_fp32_pld.json",
          (j) => ((j.optimizer as { params: Record<string, number> }).params.lr = -1),
          "lr.json",
        ),
      }),
    /lr\.json: optimizer\.params\.lr: expected a number >= 0, found -1/,
  ],
  [
    "an unknown optimizer",
    () =>
      pretrain({
        ds: variant(
          "tiny_ds_fp32_pld.json",
          (j) => ((j.optimizer as Record<string, string>).type = "Adagrad"),
          "opt.json",
        ),
      }),
    /opt\.json: optimizer\.type: expected "Adam", "AdamW", "Lamb", "OneBitAdam" or "OneBitLamb", found "Adagrad"/,
  ],
  [
    "fp16 and bf16 both on",
    () =>
      pretrain({
        ds: variant(
          "tiny_ds_fp32_pld.json",
          (j) => ((j.fp16 = { enabled: true }), (j.bf16 = { enabled: true })),
          "both.json",
        ),
      }),
    /both\.json: fp16\.enabled and bf16\.enabled are both true/,
  ],
  [
    "a PLD theta outside (0, 1]",
    () =>
      pretrain({
        ds: variant(
          "tiny_ds_fp32_pld.json",
          (j) => ((j.progressive_layer_drop as Record<string, number>).theta = 1.5),
          "theta.json",
        ),
      }),
    /theta\.json: progressive_layer_drop\.theta: expected a number <= 1, found 1\.5/,
  ],
  [
    "a model vocabulary smaller than the tokenizer's",
    () =>
      pretrain({
        cf: variant(
          "tiny_cf.json",
          (j) => ((j.bert_model_config as Record<string, number>).vocab_size_or_config_json_file = 1000),
          "vocab.json",
        ),
      }),
    /vocab_size_or_config_json_file 1000 is smaller than the vocabulary/,
  ],
  ["an unknown flag", () => pretrain({ extra: ["--learning_rate", "1e-4"] }), /Unknown argument/],
  [
    "a max_seq_length beyond the position table",
    () =>
      pretrain({
        extra: ["--max_seq_length", "128"],
        cf: variant(
          "tiny_cf.json",
          (j) => ((j.mixed_seq_training as Record<string, unknown>)["128"] = { learning_rate: 1e-3 }),
          "long.json",
        ),
      }),
    /max_position_embeddings 64 is shorter than --max_seq_length 128/,
  ],
];

describe("pretrain: bad configuration and flags", () => {
  for (const [what, run, message] of cases) {
    it(what, () => {
      const r = run();
      assert.equal(r.status, 2, `exit ${r.status}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
    });
  }
});
