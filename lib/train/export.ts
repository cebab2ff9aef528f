// Export of a checkpoint's model to a HuggingFace-style folder: config.json, model.safetensors, vocab.txt. A
// Post-LN model's names are HuggingFace BertForPreTraining's already; the tied decoder weight is written as
// cls.predictions.decoder.weight too (and its bias), as HuggingFace expects to find them. Such a folder is also
// accepted as the initial weights of a new run (--init_from) and as the start of a fine-tuning run.
import { copyFileSync, existsSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import { makeDirs } from "../files.js";
import { readSafetensors, writeSafetensors, type TensorToWrite } from "../formats/safetensors.js";
import { readVocab, VocabError, vocabSizeProblem } from "../data/tokenizer.js";
import { defaultVocabFile } from "../paths.js";
import { CheckpointError, readTrainingState, resolveCheckpointFolder } from "./checkpoint.js";
import { modelConfigFromCheckpointState, type ModelShape } from "./model-folder.js";
import { PRE_LN_MODEL_TYPE, TIED_DECODER_NAMES } from "./weights.js";

export interface ExportedConfig {
  architectures: string[];
  /** "bert" for Post-LN; HuggingFace has no Pre-LN BERT, so a Pre-LN export names its own type (PRE_LN_MODEL_TYPE). */
  model_type: string;
  vocab_size: number;
  hidden_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  intermediate_size: number;
  hidden_act: string;
  hidden_dropout_prob: number;
  attention_probs_dropout_prob: number;
  max_position_embeddings: number;
  type_vocab_size: number;
  initializer_range: number;
  layer_norm_eps: number;
  /** Ours: true for the Pre-LN (PLD) model, which HuggingFace's BertForPreTraining does not implement. */
  pre_layer_norm: boolean;
  /** A fine-tuned model: its classification head's labels and the GLUE task (HuggingFace's keys). */
  num_labels?: number;
  finetuning_task?: string;
}

/** The files an export writes: a folder holding these and nothing else may be replaced by a new export. */
const EXPORT_FILES = ["config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json"];

export class ExportError extends Error {
  readonly code = "ERR_INVALID_ARGUMENT";
}

/**
 * Where an export may go: a new or empty folder, or an earlier export (only its own files). Anything else —
 * a plain file, a folder of other files, a run's output folder — is refused, never deleted.
 */
function checkExportTarget(out: string): "new" | "replace" {
  if (!existsSync(out)) return "new";
  if (!statSync(out).isDirectory())
    throw new ExportError(`--output_dir ${out} is a file, not a folder; choose a new or empty folder for the export`);
  const entries = readdirSync(out);
  if (entries.length === 0) return "new";
  const foreign = entries.filter((e) => !EXPORT_FILES.includes(e));
  if (foreign.length > 0)
    throw new ExportError(
      `--output_dir ${out} already holds other files (${foreign.slice(0, 3).join(", ")}${foreign.length > 3 ? ", ..." : ""}); export writes only into a new or empty folder, or over an earlier export`,
    );
  return "replace";
}

/** A checkpoint's model as an exported folder, with the vocabulary it was trained with (or `vocabFile`). */
export function exportModel(given: string, out: string, vocabFile?: string): void {
  const checkpoint = resolveCheckpointFolder(given) ?? given; // a job folder means the checkpoint its latest names
  const statePath = join(checkpoint, "state.json");
  if (!existsSync(statePath)) throw new CheckpointError(`${checkpoint} is not a checkpoint (no state.json)`);
  const state = readTrainingState(checkpoint);
  const { model, preLn } = modelConfigFromCheckpointState(state);
  const own = state.vocab && join(checkpoint, state.vocab.file);
  const vocabPath = vocabFile ?? own ?? defaultVocabFile();
  const problem = vocabSizeProblem(readVocab(vocabPath), model.vocab_size, `the checkpoint ${checkpoint}`);
  if (problem) throw new VocabError(problem);
  const weights = readSafetensors(join(checkpoint, "model.safetensors"));
  const tensors = new Map<string, TensorToWrite>();
  for (const [name, t] of weights.tensors) tensors.set(name, { dtype: t.dtype, shape: t.shape, data: t.data });
  const head = state.model?.num_labels ? { numLabels: state.model.num_labels, task: state.glue?.task } : undefined;
  writeExportFolder(out, { model, preLn, tensors, vocabPath, lowerCase: state.vocab?.do_lower_case, head });
}

/** A model's weights (the engine's names) as an exported folder, the tied decoder written out as well. */
export function writeExportFolder(
  out: string,
  m: {
    model: ModelShape;
    preLn: boolean;
    tensors: Map<string, TensorToWrite>;
    vocabPath: string;
    lowerCase?: boolean;
    /** A fine-tuned model's classification head. */
    head?: { numLabels: number; task?: string };
  },
): void {
  const { model, preLn, tensors, vocabPath } = m;
  const target = checkExportTarget(out);
  const [decoderWeight, decoderBias] = TIED_DECODER_NAMES as [string, string];
  const word = tensors.get("bert.embeddings.word_embeddings.weight");
  const bias = tensors.get("cls.predictions.bias");
  if (word) tensors.set(decoderWeight, word);
  if (bias) tensors.set(decoderBias, bias);
  const kind = m.head ? "BertForSequenceClassification" : "BertForPreTraining";
  const config: ExportedConfig = {
    architectures: [preLn ? `${kind}PreLN` : kind],
    model_type: preLn ? PRE_LN_MODEL_TYPE : "bert",
    ...model,
    hidden_act: model.hidden_act === "gelu_tanh" ? "gelu_new" : model.hidden_act,
    initializer_range: 0.02,
    pre_layer_norm: preLn,
    ...(m.head ? { num_labels: m.head.numLabels, finetuning_task: m.head.task } : {}),
  };
  const tmp = `${out}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  makeDirs(tmp);
  writeSafetensors(join(tmp, "model.safetensors"), tensors, { format: "pt", producer: "bert-train" });
  writeFileSync(join(tmp, "config.json"), JSON.stringify(config, null, 2) + "\n");
  copyFileSync(vocabPath, join(tmp, "vocab.txt"));
  if (m.lowerCase !== undefined)
    writeFileSync(join(tmp, "tokenizer_config.json"), JSON.stringify({ do_lower_case: m.lowerCase }, null, 2) + "\n");
  if (target === "new") {
    rmSync(out, { recursive: true, force: true }); // an empty folder at most
    renameSync(tmp, out);
    return;
  }
  // an earlier export: moved aside, the new one renamed in, then the old one removed
  const old = `${out}.old-${process.pid}`;
  renameSync(out, old);
  renameSync(tmp, out);
  rmSync(old, { recursive: true, force: true });
}
