// `bert-train prepare-data`: raw text to pre-training shards (see lib/data/prepare.ts).
import type { CommandModule } from "yargs";

import { prepareData } from "../data/prepare.js";
import { defaultVocabFile } from "../paths.js";
import { MASKED_LM_PROB } from "../data/instances.js";

interface PrepareArgs {
  input: string[];
  output_dir: string;
  vocab_file: string;
  do_lower_case: boolean;
  max_seq_length: number;
  short_seq_prob: number;
  dupe_factor: number;
  masking?: "static" | "dynamic";
  output_format: "tfrecord" | "hdf5";
  max_predictions_per_seq: number;
  masked_lm_prob: number;
  seed: number;
  num_shards: number;
  text_field: string;
}

export const prepareDataCommand: CommandModule<object, PrepareArgs> = {
  command: "prepare-data",
  describe: "Turn raw text (plain, WikiExtractor, Gutenberg, JSON lines; gzip too) into TFRecord pre-training shards",
  builder: (y) =>
    y
      .option("input", {
        type: "string",
        array: true,
        demandOption: true,
        alias: "input_file",
        describe: "files or folders of text",
      })
      .option("output_dir", { type: "string", demandOption: true, alias: "output-dir" })
      .option("vocab_file", {
        type: "string",
        default: defaultVocabFile(),
        alias: "vocab-file",
      })
      .option("do_lower_case", { type: "boolean", default: true, alias: "do-lower-case" })
      .option("max_seq_length", { type: "number", default: 128, alias: "max-seq-length" })
      .option("short_seq_prob", { type: "number", default: 0.1, alias: "short-seq-prob" })
      .option("dupe_factor", { type: "number", default: 5, alias: "dupe-factor" })
      .option("masking", {
        choices: ["static", "dynamic"] as const,
        describe:
          "static writes masks into the shards; dynamic masks at load time (default: dynamic for TFRecord, static for HDF5)",
      })
      .option("output_format", {
        choices: ["tfrecord", "hdf5"] as const,
        default: "tfrecord" as const,
        alias: "output-format",
        describe: "TFRecord (Google's layout) or HDF5 (NVIDIA's layout, read by DeepSpeed with --use_nvidia_dataset)",
      })
      .option("max_predictions_per_seq", { type: "number", default: 20, alias: "max-predictions-per-seq" })
      .option("masked_lm_prob", { type: "number", default: MASKED_LM_PROB, alias: "masked-lm-prob" })
      .option("seed", { type: "number", default: 12345, alias: "random_seed" })
      .option("num_shards", { type: "number", default: 4, alias: "num-shards" })
      .option("text_field", {
        type: "string",
        default: "text",
        alias: "text-field",
        describe: "the field holding the text in .jsonl/.json inputs",
      }),
  handler: async (a) => {
    const started = performance.now();
    const stats = await prepareData({
      inputs: a.input,
      outputDir: a.output_dir,
      vocab: a.vocab_file,
      lowerCase: a.do_lower_case,
      maxSeqLength: a.max_seq_length,
      shortSeqProb: a.short_seq_prob,
      dupeFactor: a.dupe_factor,
      masking: a.masking ?? (a.output_format === "hdf5" ? "static" : "dynamic"),
      outputFormat: a.output_format,
      maxPredictionsPerSeq: a.max_predictions_per_seq,
      maskedLmProb: a.masked_lm_prob,
      seed: a.seed,
      numShards: a.num_shards,
      textField: a.text_field,
      progress: (line) => process.stderr.write(`prepare-data: ${line}\n`),
    });
    const seconds = (performance.now() - started) / 1000;
    process.stdout.write(
      `prepare-data: ${stats.files} files, ${(stats.bytes / 1e6).toFixed(1)} MB, ${stats.documents} documents, ${stats.tokens} tokens -> ` +
        `${stats.instances} instances (${((100 * stats.randomNext) / stats.instances).toFixed(1)}% random next) in ${seconds.toFixed(1)} s\n`,
    );
  },
};
