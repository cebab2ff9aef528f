// `bert-train prepare-data`: raw text to pre-training shards (see lib/data/prepare.ts).
import type { CommandModule, Options } from "yargs";

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

const PREPARE_OPTIONS = {
  input: {
    type: "string",
    array: true,
    demandOption: true,
    alias: "input_file",
    describe: "files or folders of text",
  },
  output_dir: {
    type: "string",
    demandOption: true,
    alias: "output-dir",
    describe: "the shard folder to write (with its dataset.json)",
  },
  vocab_file: {
    type: "string",
    default: defaultVocabFile(),
    alias: "vocab-file",
    describe: "the WordPiece vocabulary (default: bert-base-uncased's)",
  },
  do_lower_case: {
    type: "boolean",
    default: true,
    alias: "do-lower-case",
    describe: "lower-case the text (uncased vocabularies); --no-do_lower_case for cased ones",
  },
  max_seq_length: {
    type: "number",
    default: 128,
    alias: "max-seq-length",
    describe: "tokens per instance, [CLS] and [SEP] included",
  },
  short_seq_prob: {
    type: "number",
    default: 0.1,
    alias: "short-seq-prob",
    describe: "fraction of instances made shorter than the maximum",
  },
  dupe_factor: {
    type: "number",
    default: 5,
    alias: "dupe-factor",
    describe: "passes over the text, each with other instances and masks",
  },
  masking: {
    choices: ["static", "dynamic"] as const,
    describe:
      "static writes masks into the shards; dynamic masks at load time (default: dynamic for TFRecord, static for HDF5)",
  },
  output_format: {
    choices: ["tfrecord", "hdf5"] as const,
    default: "tfrecord" as const,
    alias: "output-format",
    describe: "TFRecord (Google's layout) or HDF5 (NVIDIA's layout, read by DeepSpeed with --use_nvidia_dataset)",
  },
  max_predictions_per_seq: {
    type: "number",
    default: 20,
    alias: "max-predictions-per-seq",
    describe: "the most tokens masked per instance (80 is bing_bert's at 512); recorded in dataset.json",
  },
  masked_lm_prob: {
    type: "number",
    default: MASKED_LM_PROB,
    alias: "masked-lm-prob",
    describe: "fraction of tokens masked",
  },
  seed: {
    type: "number",
    default: 12345,
    alias: "random_seed",
    describe: "seeds the instances and the masks",
  },
  num_shards: {
    type: "number",
    default: 4,
    alias: "num-shards",
    describe: "shard files to spread the instances over",
  },
  text_field: {
    type: "string",
    default: "text",
    alias: "text-field",
    describe: "the field holding the text in .jsonl/.json inputs",
  },
} satisfies Record<string, Options>;

export const prepareDataCommand: CommandModule<object, PrepareArgs> = {
  command: "prepare-data",
  describe: "Turn raw text (plain, WikiExtractor, Gutenberg, JSON lines; gzip too) into TFRecord pre-training shards",
  builder: (y) => y.options(PREPARE_OPTIONS),
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
