// `bert-train evaluate --checkpoint DIR --data SHARDS...`: MLM and NSP loss and accuracy of a checkpoint, as one
// JSON object on stdout.
import type { CommandModule } from "yargs";

import { CorpusShards } from "../data/loader.js";
import { readVocab, specialIds, VocabError, vocabSizeProblem } from "../data/tokenizer.js";
import { createEngine } from "../native/engine.js";
import { CheckpointError, loadCheckpoint } from "../train/checkpoint.js";
import { evaluateMlm } from "../train/evaluate.js";
import { openModelFolder } from "../train/model-folder.js";
import { defaultVocabFile } from "../paths.js";
import { MASKED_LM_PROB } from "../data/instances.js";
import { deviceOption, placeOnDevice, type DeviceFlag } from "../native/device.js";

interface EvaluateArgs {
  checkpoint: string;
  data: string[];
  batch_size: number;
  max_predictions_per_seq: number;
  max_batches?: number;
  seed: number;
  vocab_file?: string;
  threads: number;
  device: DeviceFlag;
}

export const evaluateCommand: CommandModule<object, EvaluateArgs> = {
  command: "evaluate",
  describe: "Report a checkpoint's MLM/NSP loss and accuracy on shards, as one JSON object",
  builder: (y) =>
    y
      .option("checkpoint", {
        type: "string",
        demandOption: true,
        describe: "a checkpoint folder (saved_models/<job>/<tag>)",
      })
      .option("data", { type: "string", array: true, demandOption: true, describe: "shard folders or shard files" })
      .option("batch_size", { type: "number", default: 32, alias: "batch-size", describe: "sequences per batch" })
      .option("max_predictions_per_seq", {
        type: "number",
        default: 20,
        alias: "max-predictions-per-seq",
        describe: "masked tokens per sequence of shards without static masks",
      })
      .option("max_batches", {
        type: "number",
        alias: "max-batches",
        describe: "score only the first N batches, in order",
      })
      .option("seed", { type: "number", default: 1, describe: "dynamic masking of shards without static masks" })
      .option("vocab_file", {
        type: "string",
        alias: "vocab-file",
        describe: "default: the checkpoint's vocab.txt, else bert-base-uncased's",
      })
      .option("threads", { type: "number", default: 0, describe: "CPU threads; 0: all cores" })
      .option("device", deviceOption("auto", "cpu, cuda (an NVIDIA GPU), or auto: the GPU when one is usable")),
  handler: async (a) => {
    const { path, kind, model, preLn, vocab: own } = openModelFolder(a.checkpoint);
    if (kind !== "checkpoint") throw new CheckpointError(`${path}: not a training checkpoint (no state.json)`);
    const placement = placeOnDevice(a.device);
    process.stderr.write(placement.line + "\n");
    const engine = createEngine({
      config: { ...model, pre_layer_norm: preLn, num_labels: 0 },
      threads: a.threads,
      device: placement.device,
      cudaDevice: placement.cudaDevice,
    });
    const { global_steps } = loadCheckpoint(engine, path, false);
    const vocab = readVocab(a.vocab_file ?? own?.path ?? defaultVocabFile());
    const problem = vocabSizeProblem(vocab, model.vocab_size, `the checkpoint ${path}`);
    if (problem) throw new VocabError(problem);
    const sums = { mlm_loss: 0, mlm_accuracy: 0, nsp_loss: 0, nsp_accuracy: 0, sequences: 0 };
    for (const dir of a.data) {
      const r = await evaluateMlm(
        engine,
        await CorpusShards.open(dir, { vocabSize: vocab.tokens.length, vocabFile: vocab }),
        {
          batchSize: a.batch_size,
          seed: a.seed,
          maxPredictionsPerSeq: a.max_predictions_per_seq,
          maskedLmProb: MASKED_LM_PROB,
          vocabSize: vocab.tokens.length,
          special: specialIds(vocab),
        },
        model.num_hidden_layers,
        a.max_batches,
      );
      for (const k of ["mlm_loss", "mlm_accuracy", "nsp_loss", "nsp_accuracy"] as const) sums[k] += r[k] * r.sequences;
      sums.sequences += r.sequences;
    }
    const n = Math.max(sums.sequences, 1);
    process.stdout.write(
      JSON.stringify({
        checkpoint: path,
        global_steps,
        mlm_loss: sums.mlm_loss / n,
        mlm_accuracy: sums.mlm_accuracy / n,
        nsp_loss: sums.nsp_loss / n,
        nsp_accuracy: sums.nsp_accuracy / n,
        sequences: sums.sequences,
      }) + "\n",
    );
  },
};
