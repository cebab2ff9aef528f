#!/usr/bin/env node
// End-to-end fine-tuning throughput beside PyTorch on the same cores: `bert-train finetune` for one epoch of SST-2
// (the rows shipped in data/glue, tokenization, batching, forward, backward, AdamW, schedule; evaluation excluded)
// against scripts/torch_finetune.py doing the same epoch on the same token ids, same model shape, batch, sequence
// length and thread count. Prints training samples/s of both and the ratio.
//
//   node scripts/bench-finetune.mjs [--models mini,small] [--precisions fp32,bf16] [--rows 2000] [--seq 128]
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { featurize } from "../dist/lib/glue/features.js";
import { glueTask, readGlueFile } from "../dist/lib/glue/tasks.js";
import { createBertTokenizer } from "../dist/lib/data/tokenizer.js";
import { DEFAULT_MODEL_CONFIG } from "../dist/lib/native/engine.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const opt = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const models = { mini: { layers: 4, hidden: 256 }, small: { layers: 4, hidden: 512 } };
const names = opt("models", "mini,small").split(",");
const precisions = opt("precisions", "fp32,bf16").split(",");
const rows = Number(opt("rows", "2000"));
const seq = Number(opt("seq", "128"));
const threads = Number(opt("threads", String(availableParallelism())));
const batch = 32;
const work = mkdtempSync(join(tmpdir(), "bert-train-ftbench-"));

// the same rows for both: the first `rows` of the shipped SST-2 sample
const task = glueTask("SST-2");
const glueDir = join(work, "glue", "SST-2");
mkdirSync(glueDir, { recursive: true });
const lines = readFileSync(join(root, "data", "glue", "SST-2", "train.tsv"), "utf8").split("\n");
writeFileSync(join(glueDir, "train.tsv"), lines.slice(0, rows + 1).join("\n") + "\n");
writeFileSync(join(glueDir, "dev.tsv"), lines.slice(0, 2).join("\n") + "\n");
const tok = await createBertTokenizer(defaultVocabFile(), true);
const f = await featurize(tok, readGlueFile(task, join(glueDir, "train.tsv"), "train"), seq);
const tokens = join(work, "tokens.json");
writeFileSync(tokens, JSON.stringify({ ids: f.ids, labels: f.labels }));

console.log(
  `fine-tuning throughput, SST-2 (${rows} rows, 1 epoch), batch ${batch}, sequence ${seq}, ${threads} threads`,
);
console.log("| model | precision | bert-train samples/s | PyTorch samples/s | ratio |");
console.log("| --- | --- | --- | --- | --- |");
for (const name of names) {
  const m = models[name];
  // an exported-style folder gives the architecture; --random starts from random weights, as PyTorch does
  const model = join(work, `model-${name}`);
  mkdirSync(model, { recursive: true });
  writeFileSync(
    join(model, "config.json"),
    JSON.stringify({
      ...DEFAULT_MODEL_CONFIG,
      hidden_size: m.hidden,
      num_hidden_layers: m.layers,
      num_attention_heads: m.hidden / 64,
      intermediate_size: 4 * m.hidden,
    }),
  );
  for (const precision of precisions) {
    const ds = join(work, `ds-${precision}.json`);
    writeFileSync(
      ds,
      JSON.stringify({
        train_batch_size: batch,
        optimizer: { type: "AdamW", params: { lr: 1e-4, weight_decay: 0.01 } },
        gradient_clipping: 1.0,
        bf16: { enabled: precision === "bf16" },
      }),
    );
    const ours = spawnSync(
      process.execPath,
      [
        join(root, "dist", "bin", "bert-train.js"),
        "finetune",
        "SST-2",
        String(batch),
        "1e-4",
        "1",
        `bench-${name}-${precision}`,
        model,
        "--random",
        "--data_dir",
        join(work, "glue"),
        "--output_dir",
        join(work, "out"),
        "--max_seq_length",
        String(seq),
        "--threads",
        String(threads),
        "--deepspeed_config",
        ds,
        "--do_eval",
        "false",
      ],
      { encoding: "utf8" },
    );
    if (ours.status !== 0) throw new Error(ours.stderr);
    const oursRate = Number(/\(([\d.]+) samples\/s\)/.exec(ours.stdout)?.[1]);
    const torch = spawnSync(
      "/usr/bin/python3",
      [
        join(root, "scripts", "torch_finetune.py"),
        "--data",
        tokens,
        "--layers",
        String(m.layers),
        "--hidden",
        String(m.hidden),
        "--precision",
        precision,
        "--batch",
        String(batch),
        "--seq",
        String(seq),
        "--threads",
        String(threads),
      ],
      { encoding: "utf8" },
    );
    if (torch.status !== 0) throw new Error(torch.stderr);
    const theirs = JSON.parse(torch.stdout);
    console.log(
      `| ${name} | ${precision} | ${oursRate.toFixed(1)} | ${theirs.samples_per_s.toFixed(1)} | ${(oursRate / theirs.samples_per_s).toFixed(2)}× |`,
    );
  }
}
