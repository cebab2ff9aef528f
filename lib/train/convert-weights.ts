// `bert-train convert SRC --output_dir OUT`: any model folder the weight loader reads (ours, exported,
// HuggingFace-style with model.safetensors or pytorch_model.bin, a DeepSpeed checkpoint or job folder) written as
// an exported folder: config.json, model.safetensors under our names in fp32, vocab.txt.
import { loadCfModel } from "../config/cf.js";
import { readVocab, VocabError, vocabSizeProblem } from "../data/tokenizer.js";
import { createEngine } from "../native/engine.js";
import { defaultVocabFile } from "../paths.js";
import { writeExportFolder } from "./export.js";
import type { Output } from "./trainer.js";
import { openModelFolder } from "./model-folder.js";
import { loadWeights, reportLoadedWeights, requireBody } from "./weights.js";

export interface ConvertWeightsOptions {
  source: string;
  outputDir: string;
  /** A bing_bert --cf file: the architecture of a DeepSpeed checkpoint, which does not record it. */
  cf?: string;
  vocabFile?: string;
  allowPartialLoad: boolean;
}

export function convertWeights(o: ConvertWeightsOptions, out: Output): { tensors: number; preLn: boolean } {
  const folder = openModelFolder(o.source, o.cf ? loadCfModel(o.cf) : undefined);
  const engine = createEngine({ config: { ...folder.model, pre_layer_norm: folder.preLn, num_labels: 0 }, threads: 1 });
  const loaded = loadWeights(engine, folder.weights);
  reportLoadedWeights(out, folder.weights, loaded, { mismatch: "warn", keptInitialReason: "" });
  requireBody(folder.weights, loaded, o.allowPartialLoad);
  const tensors = new Map(
    engine.paramInfos().map((p) => {
      const values = engine.getParam(p.name);
      const data = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
      return [p.name, { dtype: "F32" as const, shape: p.shape, data }];
    }),
  );
  const vocabPath = o.vocabFile ?? folder.vocab?.path ?? defaultVocabFile();
  const problem = vocabSizeProblem(readVocab(vocabPath), folder.model.vocab_size, folder.path);
  if (problem) throw new VocabError(problem);
  const lowerCase = o.vocabFile === undefined ? folder.vocab?.lowerCase : undefined;
  writeExportFolder(o.outputDir, { model: folder.model, preLn: folder.preLn, tensors, vocabPath, lowerCase });
  return { tensors: loaded.loaded.length, preLn: folder.preLn };
}
