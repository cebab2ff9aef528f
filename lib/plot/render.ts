// Vega-Lite to SVG (vega's headless view) and SVG to PNG (resvg, with the system's fonts).
import { Resvg } from "@resvg/resvg-js";
import * as vega from "vega";
import { compile, type TopLevelSpec } from "vega-lite";

export async function renderSvg(spec: object): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec as TopLevelSpec).spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** The SVG as a PNG `width` pixels wide (the height follows the drawing's proportions). */
export function renderPng(svg: string, width: number): Buffer {
  const png = new Resvg(svg, {
    fitTo: { mode: "width", value: width },
    // Vega asks for sans-serif; DejaVu Sans where the system has it (Debian's fonts-dejavu-core)
    font: { loadSystemFonts: true, sansSerifFamily: "DejaVu Sans", defaultFontFamily: "DejaVu Sans" },
  });
  return png.render().asPng();
}
