// `bert-train plot`: charts of one or more runs' metrics files, written as SVG and PNG into a folder.
import { writeFileSync } from "node:fs";
import { join } from "node:path";

import { makeDirs } from "../files.js";
import { chartPoints, defaultCharts, vegaLiteSpec } from "./charts.js";
import { readRunMetrics, PlotInputError } from "./metrics-file.js";
import { renderPng, renderSvg } from "./render.js";

export interface PlotOptions {
  files: string[];
  labels: string[];
  outDir: string;
  /** The loss charts' metrics (training keys, or validation/<key>). */
  metrics: string[];
  formats: ("svg" | "png")[];
  /** The plot area in the SVG (axes, title and legend come on top). */
  width: number;
  height: number;
  /** The PNG's width in pixels (its height follows the chart's proportions). */
  pngWidth: number;
}

export const DEFAULT_LOSS_METRICS = ["loss", "mlm_loss", "validation/mlm_loss"];

/** Writes every chart that has data; returns the files written. */
export async function plot(o: PlotOptions): Promise<string[]> {
  if (o.labels.length > o.files.length)
    throw new PlotInputError(`${o.labels.length} --label values for ${o.files.length} metrics files`);
  const runs = o.files.map((f, i) => readRunMetrics(f, o.labels[i]));
  makeDirs(o.outDir);
  const written: string[] = [];
  for (const chart of defaultCharts(o.metrics)) {
    const points = chartPoints(runs, chart);
    if (points.length === 0) continue; // e.g. no PLD in these runs
    const svg = await renderSvg(vegaLiteSpec(chart, points, o.width, o.height));
    for (const format of o.formats) {
      const path = join(o.outDir, `${chart.name}.${format}`);
      writeFileSync(path, format === "svg" ? svg : renderPng(svg, o.pngWidth));
      written.push(path);
    }
  }
  return written;
}
