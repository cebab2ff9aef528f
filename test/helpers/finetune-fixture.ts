// What the in-process fine-tuning tests share: a tiny exported model folder (its config gives the architecture;
// the runs start from random weights) and the FinetuneArgs of a short run, the fields a test cares about given.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import type { FinetuneArgs } from "../../lib/glue/finetune.js";
import { DEFAULT_MODEL_CONFIG } from "../../lib/native/engine.js";
import { defaultVocabFile } from "../../lib/paths.js";

/** config.json of a 2-layer, hidden-32 Post-LN BERT with the bert-base-uncased vocabulary, in `dir`/model. */
export function tinyModelFolder(dir: string): string {
  const model = join(dir, "model");
  mkdirSync(model, { recursive: true });
  const config = {
    ...DEFAULT_MODEL_CONFIG,
    hidden_size: 32,
    num_hidden_layers: 2,
    num_attention_heads: 2,
    intermediate_size: 64,
    max_position_embeddings: 64,
    pre_layer_norm: false,
  };
  writeFileSync(join(model, "config.json"), JSON.stringify(config));
  return model;
}

export function finetuneArgs(
  a: Pick<FinetuneArgs, "task" | "job_name" | "checkpoint" | "data_dir" | "output_dir"> & Partial<FinetuneArgs>,
): FinetuneArgs {
  return {
    train_batch_size: 8,
    learning_rate: 1e-4,
    num_train_epochs: 3,
    max_seq_length: 32,
    seed: 7,
    warmup_proportion: 0.1,
    gradient_accumulation_steps: 1,
    eval_batch_size: 16,
    do_train: true,
    do_eval: false,
    do_predict: false,
    random: true,
    force: false,
    vocab_file: defaultVocabFile(),
    threads: 1,
    device: "cpu",
    ...a,
  };
}

/** A collecting Output. */
export function collect(): { lines: string[]; output: { log(l: string): void; warn(l: string): void } } {
  const lines: string[] = [];
  return { lines, output: { log: (l) => lines.push(l), warn: (l) => lines.push(l) } };
}
