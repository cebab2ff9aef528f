// `bert-train convert-shards --input DIR --output_dir DIR --output_format hdf5|tfrecord`: pre-training shards from
// one format to the other, record for record (lib/data/convert.ts).
import type { CommandModule } from "yargs";

import { convertShards } from "../data/convert.js";
import { readVocab } from "../data/tokenizer.js";
import { defaultVocabFile } from "../paths.js";

interface ConvertArgs {
  input: string;
  output_dir: string;
  output_format: "tfrecord" | "hdf5";
  vocab_file: string;
  skip_corrupt_shards: boolean;
}

export const convertShardsCommand: CommandModule<object, ConvertArgs> = {
  command: "convert-shards",
  describe: "Convert pre-training shards between TFRecord (Google's layout) and HDF5 (NVIDIA's layout)",
  builder: (y) =>
    y
      .option("input", {
        type: "string",
        demandOption: true,
        describe: "a folder of shards (ours, Google's or NVIDIA's)",
      })
      .option("output_dir", {
        type: "string",
        demandOption: true,
        alias: "output-dir",
        describe: "the shard folder to write",
      })
      .option("output_format", {
        choices: ["tfrecord", "hdf5"] as const,
        demandOption: true,
        alias: "output-format",
        describe: "TFRecord (Google's layout) or HDF5 (NVIDIA's)",
      })
      .option("vocab_file", {
        type: "string",
        default: defaultVocabFile(),
        alias: "vocab-file",
        describe: "token ids are checked against it",
      })
      .option("skip_corrupt_shards", {
        type: "boolean",
        default: false,
        alias: "skip-corrupt-shards",
        describe: "leave out damaged shards (named) instead of stopping",
      }),
  handler: async (a) => {
    const { records, shards } = await convertShards({
      input: a.input,
      outputDir: a.output_dir,
      outputFormat: a.output_format,
      vocabSize: readVocab(a.vocab_file).tokens.length,
      skipCorrupt: a.skip_corrupt_shards,
      warn: (line) => process.stderr.write(`convert-shards: ${line}\n`),
      progress: (line) => process.stderr.write(`convert-shards: ${line}\n`),
    });
    process.stdout.write(
      `convert-shards: ${records} records in ${shards} ${a.output_format} shards in ${a.output_dir}\n`,
    );
  },
};
