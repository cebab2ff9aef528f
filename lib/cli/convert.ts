// `bert-train convert SRC --output_dir OUT`: a model from another tool as an exported folder (lib/train/convert-weights.ts).
import type { CommandModule } from "yargs";

import { convertWeights } from "../train/convert-weights.js";

interface ConvertArgs {
  source: string;
  output_dir: string;
  cf?: string;
  vocab_file?: string;
  allow_partial_load: boolean;
}

export const convertCommand: CommandModule<object, ConvertArgs> = {
  command: "convert <source>",
  describe:
    "Write a model folder (ours, HuggingFace's, a DeepSpeed checkpoint) as config.json + model.safetensors + vocab.txt",
  builder: (y) =>
    y
      .positional("source", {
        type: "string",
        demandOption: true,
        describe: "a checkpoint or job folder, an exported or HuggingFace folder, or a DeepSpeed checkpoint",
      })
      .option("output_dir", {
        type: "string",
        demandOption: true,
        alias: "output-dir",
        describe: "the folder to write (config.json, model.safetensors, vocab.txt)",
      })
      .option("cf", { type: "string", describe: "the bing_bert config of a DeepSpeed checkpoint (its architecture)" })
      .option("vocab_file", {
        type: "string",
        alias: "vocab-file",
        describe: "the vocabulary to ship (default: the source's vocab.txt, else bert-base-uncased)",
      })
      .option("allow_partial_load", {
        type: "boolean",
        default: false,
        alias: "allow-partial-load",
        describe: "write embedding or encoder weights the source lacks from random, instead of refusing",
      }),
  handler: (a) => {
    const out = {
      log: (line: string) => process.stdout.write(line + "\n"),
      warn: (line: string) => process.stderr.write(line + "\n"),
    };
    const r = convertWeights(
      {
        source: a.source,
        outputDir: a.output_dir,
        cf: a.cf,
        vocabFile: a.vocab_file,
        allowPartialLoad: a.allow_partial_load,
      },
      out,
    );
    out.log(`converted ${a.source} to ${a.output_dir} (${r.tensors} tensors, ${r.preLn ? "Pre-LN" : "Post-LN"})`);
  },
};
