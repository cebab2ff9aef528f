// `bert-train export --checkpoint DIR --output_dir DIR`: the model alone as a HuggingFace-style folder.
import type { CommandModule } from "yargs";

import { exportModel } from "../train/export.js";

interface ExportArgs {
  checkpoint: string;
  output_dir: string;
  vocab_file?: string;
}

export const exportCommand: CommandModule<object, ExportArgs> = {
  command: "export",
  describe: "Write a checkpoint's model as config.json + model.safetensors + vocab.txt",
  builder: (y) =>
    y
      .option("checkpoint", {
        type: "string",
        demandOption: true,
        describe: "a checkpoint, or a job folder (its latest)",
      })
      .option("output_dir", {
        type: "string",
        demandOption: true,
        alias: "output-dir",
        describe: "a new or empty folder, or an earlier export",
      })
      .option("vocab_file", {
        type: "string",
        alias: "vocab-file",
        describe: "the vocabulary to ship (default: the one the checkpoint was trained with)",
      }),
  handler: (a) => {
    exportModel(a.checkpoint, a.output_dir, a.vocab_file);
    process.stdout.write(`exported ${a.checkpoint} to ${a.output_dir}\n`);
  },
};
