// `bert-train plot RUN.jsonl... --out DIR`: loss against step, samples and training time, and PLD's θ and kept
// fraction against step, for one run or several overlaid; SVG and PNG.
import type { CommandModule } from "yargs";

import { DEFAULT_LOSS_METRICS, plot } from "../plot/plot.js";

interface PlotArgs {
  files: string[];
  out: string;
  label?: string[];
  metrics: string;
  formats: string;
  width: number;
  height: number;
  png_width: number;
}

export const plotCommand: CommandModule<object, PlotArgs> = {
  command: "plot <files..>",
  describe: "Charts (SVG and PNG) of one or more runs' metrics .jsonl files, overlaid",
  builder: (y) =>
    y
      .positional("files", { type: "string", array: true, demandOption: true, describe: "metrics .jsonl files" })
      .option("out", { type: "string", demandOption: true, describe: "the folder the charts are written to" })
      .option("label", {
        type: "string",
        array: true,
        describe: "a legend name per file, in order (default: the file's name without .jsonl)",
      })
      .option("metrics", {
        type: "string",
        default: DEFAULT_LOSS_METRICS.join(","),
        describe: "the loss charts' series: training keys, or validation/<key>, comma-separated",
      })
      .option("formats", { type: "string", default: "svg,png", describe: "svg, png or both, comma-separated" })
      .option("width", { type: "number", default: 640, describe: "plot area width (SVG units)" })
      .option("height", { type: "number", default: 360, describe: "plot area height (SVG units)" })
      .option("png_width", { type: "number", alias: "png-width", default: 1400, describe: "PNG width in pixels" }),
  handler: async (a) => {
    const formats = a.formats.split(",").map((s) => s.trim());
    const bad = formats.filter((f) => f !== "svg" && f !== "png");
    if (bad.length > 0) throw new PlotFlagError(`--formats: ${bad.join(", ")} is not svg or png`);
    const written = await plot({
      files: a.files,
      labels: a.label ?? [],
      outDir: a.out,
      metrics: a.metrics.split(",").map((s) => s.trim()),
      formats: formats as ("svg" | "png")[],
      width: a.width,
      height: a.height,
      pngWidth: a.png_width,
    });
    for (const path of written) process.stdout.write(`${path}\n`);
  },
};

class PlotFlagError extends Error {
  readonly code = "ERR_INVALID_ARGUMENT";
}
