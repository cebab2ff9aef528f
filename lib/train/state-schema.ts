// The schema of a checkpoint's state.json: every field a resume, evaluate or export reads, with its type and
// range, so a damaged or hand-edited file is one error naming the file and the key (not a TypeError mid-resume).
import { Ajv } from "ajv";

import { formatAjvErrors } from "../config/errors.js";

const count = { type: "integer", minimum: 0 };
const loaderPosition = {
  type: "object",
  required: ["epoch", "batch"],
  properties: { epoch: count, batch: count },
};

const stateSchema = {
  type: "object",
  required: [
    "format",
    "tag",
    "global_steps",
    "skipped_steps",
    "optimizer_steps",
    "global_samples",
    "data_position",
    "theta",
    "configs",
  ],
  properties: {
    format: { type: "integer" },
    tag: { type: "string" },
    global_steps: count,
    skipped_steps: count,
    optimizer_steps: count,
    global_samples: count,
    epoch: count,
    last_global_step: count,
    last_global_data_samples: count,
    world_size: { type: "integer", minimum: 1 },
    theta: { type: "number", minimum: 0, maximum: 1 },
    // pre-training: the mixer's step and each corpus loader's place; fine-tuning: the epoch and the step in it
    data_position: {
      anyOf: [
        {
          type: "object",
          required: ["step", "corpora"],
          properties: { step: count, corpora: { type: "object", additionalProperties: loaderPosition } },
        },
        { type: "object", required: ["epoch", "step_in_epoch"], properties: { epoch: count, step_in_epoch: count } },
      ],
    },
    model: {
      type: "object",
      required: ["config", "pre_layer_norm", "num_labels"],
      properties: {
        config: { type: "object", required: ["vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads"] },
        pre_layer_norm: { type: "boolean" },
        num_labels: count,
      },
    },
    glue: {
      type: "object",
      required: ["task", "results", "epoch_loss_sum"],
      properties: { task: { type: "string" }, results: { type: "object" }, epoch_loss_sum: { type: "number" } },
    },
    loss_scaler: {
      type: ["object", "null"],
      required: ["scale", "hysteresisLeft", "iteration", "lastOverflowIteration", "consecutiveOverflowsAtMin"],
      properties: {
        scale: { type: "number", exclusiveMinimum: 0 },
        hysteresisLeft: count,
        iteration: count,
        lastOverflowIteration: { type: "integer", minimum: -1 },
        consecutiveOverflowsAtMin: count,
      },
    },
    configs: {
      type: "object",
      required: ["args"],
      properties: {
        cf: { type: "object", required: ["bert_model_config"], properties: { bert_model_config: { type: "object" } } },
        args: { type: "object" },
      },
    },
    vocab: {
      type: "object",
      required: ["file", "sha256", "do_lower_case"],
      properties: {
        file: { type: "string", pattern: "^[^/]+$" },
        sha256: { type: "string", pattern: "^[0-9a-f]{64}$" },
        do_lower_case: { type: "boolean" },
      },
    },
  },
};

// the architecture: the `model` record, or (in checkpoints written before it) the --cf file's bert_model_config
(stateSchema as Record<string, unknown>).anyOf = [
  { required: ["model"] },
  { properties: { configs: { type: "object", required: ["cf"] } } },
];

const ajv = new Ajv({ allErrors: true, verbose: true, allowUnionTypes: true });
const validate = ajv.compile(stateSchema);

/** What is wrong with a parsed state.json (one line per problem, naming `path` and the key); empty when fine. */
export function stateProblems(path: string, state: unknown): string[] {
  return validate(state) ? [] : formatAjvErrors(path, "", state, validate.errors ?? []);
}
