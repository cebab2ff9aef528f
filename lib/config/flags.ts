// Numeric command-line flags, checked by the machinery that checks the config files: one JSON schema per command
// (ajv), every problem at once, each naming the flag, what it allows and what it got. yargs parses the numbers
// (a word becomes NaN); these schemas say which numbers each flag takes. Flags that mirror a DeepSpeed key take
// that key's rule from the DeepSpeed schema.
import { Ajv, type ValidateFunction } from "ajv";

import { deepspeedSchema } from "./deepspeed.js";
import { ConfigError, formatAjvErrors } from "./errors.js";

type Rule = Record<string, unknown>;

const int = (minimum: number, maximum?: number): Rule => ({
  type: "integer",
  minimum,
  ...(maximum !== undefined ? { maximum } : {}),
});
const fraction: Rule = { type: "number", minimum: 0, maximum: 1 };
const positive: Rule = { type: "number", exclusiveMinimum: 0 };
const SEED = int(0, 2 ** 32 - 1);
const THREADS = int(0, 4096);
const SEQUENCE = { ...int(5, 65536), description: "[CLS] A [SEP] B [SEP] needs 5 positions for a token of each" };

/** A DeepSpeed key's rule, without its default (a flag left out means "what the file says"). */
function deepspeedRule(rule: Rule): Rule {
  return Object.fromEntries(Object.entries(rule).filter(([key]) => key !== "default"));
}
const ds = deepspeedSchema.properties;

export const FLAG_RULES: Record<string, Record<string, Rule>> = {
  pretrain: {
    max_seq_length: SEQUENCE,
    max_predictions_per_seq: int(1),
    seed: SEED,
    print_steps: int(1),
    lr_offset: { type: "number", minimum: 0 },
    max_steps: int(1),
    gradient_accumulation_steps: deepspeedRule(ds.gradient_accumulation_steps),
    train_batch_size: deepspeedRule(ds.train_batch_size),
    loss_scale: deepspeedRule(ds.fp16.properties.loss_scale),
    max_grad_norm: deepspeedRule(ds.gradient_clipping),
    ckpt_steps: int(1),
    ckpt_to_save: { type: "array", items: int(1) },
    keep_last: int(1),
    max_steps_per_epoch: int(1),
    threads: THREADS,
    local_rank: int(0),
  },
  finetune: {
    train_batch_size: int(1),
    learning_rate: positive,
    num_train_epochs: int(1),
    max_seq_length: SEQUENCE,
    seed: SEED,
    warmup_proportion: fraction,
    gradient_accumulation_steps: int(1),
    eval_batch_size: int(1),
    keep_last: int(1),
    max_steps: int(1),
    print_steps: int(1),
    threads: THREADS,
    local_rank: int(0),
  },
  evaluate: {
    batch_size: int(1),
    max_predictions_per_seq: int(1),
    max_batches: int(1),
    seed: SEED,
    threads: THREADS,
  },
  "prepare-data": {
    max_seq_length: SEQUENCE,
    short_seq_prob: fraction,
    dupe_factor: int(1),
    max_predictions_per_seq: int(1),
    masked_lm_prob: { type: "number", exclusiveMinimum: 0, maximum: 1 },
    seed: SEED,
    num_shards: int(1),
  },
  launch: { num_nodes: int(1), num_procs_per_node: int(1), threads_per_proc: int(1, 4096) },
  bench: { batch: int(1), seq: SEQUENCE, steps: int(1), warmup: int(0), threads: THREADS },
  "bench-data": { batch: int(1), batches: int(1) },
  "bench-train": { layers: int(1), hidden: int(1), batch: int(1), steps: int(1) },
  plot: { width: int(50, 10000), height: int(50, 10000), png_width: int(50, 20000) },
};

/** Positional arguments, named as the usage line names them (`<name>`) rather than as flags. */
const POSITIONAL: Record<string, string[]> = { finetune: ["train_batch_size", "learning_rate", "num_train_epochs"] };

const ajv = new Ajv({ allErrors: true, strictTuples: false, verbose: true });
const validators = new Map<string, ValidateFunction>();

function validatorFor(command: string): ValidateFunction | undefined {
  const rules = FLAG_RULES[command];
  if (!rules) return undefined;
  let v = validators.get(command);
  if (!v) {
    v = ajv.compile({ type: "object", properties: rules });
    validators.set(command, v);
  }
  return v;
}

/** Throws a ConfigError listing every numeric flag of `command` outside its range (absent flags are fine). */
export function checkFlags(command: string, args: Record<string, unknown>): void {
  const validate = validatorFor(command);
  if (!validate) return;
  const given = Object.fromEntries(
    Object.keys(FLAG_RULES[command] ?? {})
      .filter((k) => args[k] !== undefined)
      .map((k) => [k, args[k]]),
  );
  if (validate(given)) return;
  const seen = new Set<string>();
  const problems = formatAjvErrors(command, "", given, validate.errors ?? [], "--")
    .map((line) => (POSITIONAL[command] ?? []).reduce((l, name) => l.replace(`: --${name}:`, `: <${name}>:`), line))
    .filter((line) => {
      const key = line.split(": ")[1] ?? line; // one line per flag: its first problem
      return !seen.has(key) && seen.add(key) !== undefined;
    });
  throw new ConfigError(problems);
}
