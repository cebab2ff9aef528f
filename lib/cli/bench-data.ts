// `bert-train bench-data`: throughput of data preparation and of the loader (lib/bench/data-bench.ts).
import { join } from "node:path";
import type { CommandModule } from "yargs";

import { runDataBench } from "../bench/data-bench.js";
import { projectRoot } from "../native/load.js";
import { defaultVocabFile } from "../paths.js";

interface BenchDataArgs {
  input: string[];
  vocab_file: string;
  batch: number;
  batches: number;
}

export const benchDataCommand: CommandModule<object, BenchDataArgs> = {
  command: "bench-data",
  describe: "Measure tokenization/instance creation MB/s (beside tokenizers' encode-only rate) and loader sequences/s",
  builder: (y) =>
    y
      .option("input", {
        type: "string",
        array: true,
        default: [join(projectRoot(), "data", "corpus")],
        describe: "files or folders of text",
      })
      .option("vocab_file", { type: "string", default: defaultVocabFile(), describe: "the WordPiece vocabulary" })
      .option("batch", { type: "number", default: 32, describe: "sequences per batch" })
      .option("batches", { type: "number", default: 200, describe: "batches timed" }),
  handler: async (a) => {
    await runDataBench({ inputs: a.input, vocab: a.vocab_file, batchSize: a.batch, loaderBatches: a.batches }, (line) =>
      process.stdout.write(line + "\n"),
    );
  },
};
