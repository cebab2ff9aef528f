// The charts `bert-train plot` draws, as Vega-Lite specifications: one line per (run, metric) series, several runs
// overlaid, the legend naming each series; validation points marked.
import type { Position, RunMetrics } from "./metrics-file.js";

export type XAxis = keyof Position;

export const X_TITLES: Record<XAxis, string> = {
  step: "step",
  samples: "samples",
  time: "training time (s, sum of step times)",
};

/** A metric: a training record's key, or "validation/<key>" for a validation record's. */
export interface ChartDefinition {
  name: string;
  title: string;
  yTitle: string;
  metrics: string[];
  x: XAxis;
}

/** The charts made by default: losses against each x axis, and PLD's θ and kept-layer fraction against step. */
export function defaultCharts(lossMetrics: string[]): ChartDefinition[] {
  const losses = (x: XAxis): ChartDefinition => ({
    name: `loss-vs-${x}`,
    title: `loss against ${X_TITLES[x]}`,
    yTitle: "loss",
    metrics: lossMetrics,
    x,
  });
  return [
    losses("step"),
    losses("samples"),
    losses("time"),
    {
      name: "pld-vs-step",
      title: "PLD: θ and kept-layer fraction",
      yTitle: "",
      metrics: ["theta", "kept_layers"],
      x: "step",
    },
  ];
}

export interface SeriesPoint {
  x: number;
  y: number;
  series: string;
  validation: boolean;
}

/** Every point of the chart's metrics over the runs; a series is `<run>: <metric>`. */
export function chartPoints(runs: RunMetrics[], chart: ChartDefinition): SeriesPoint[] {
  const points: SeriesPoint[] = [];
  for (const run of runs)
    for (const metric of chart.metrics) {
      const validation = metric.startsWith("validation/");
      const key = validation ? metric.slice("validation/".length) : metric;
      for (const p of validation ? run.validation : run.steps) {
        const y = p.values[key];
        if (y !== undefined) points.push({ x: p[chart.x], y, series: `${run.label}: ${metric}`, validation });
      }
    }
  return points;
}

export function vegaLiteSpec(chart: ChartDefinition, points: SeriesPoint[], width: number, height: number): object {
  const x = { field: "x", type: "quantitative", title: X_TITLES[chart.x] };
  const y = { field: "y", type: "quantitative", title: chart.yTitle, scale: { zero: false } };
  const color = {
    field: "series",
    type: "nominal",
    title: null,
    legend: { orient: "bottom", columns: 2, labelLimit: 400 },
  };
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: chart.title,
    width,
    height,
    background: "white",
    data: { values: points },
    layer: [
      { mark: { type: "line", strokeWidth: 1.5 }, encoding: { x, y, color } },
      {
        transform: [{ filter: "datum.validation" }],
        mark: { type: "point", filled: true, size: 40 },
        encoding: { x, y, color },
      },
    ],
  };
}
