// Loads the native addon once. If it cannot load, the error lists what to do, chosen by the cause.
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { join, resolve } from "node:path";

import { projectRoot } from "../paths.js";
import type { NativeAddon } from "./types.js";

const require = createRequire(import.meta.url);

export { projectRoot };

export class NativeLoadError extends Error {
  readonly code = "ERR_NATIVE_LOAD";
}

let cached: NativeAddon | undefined;
let cachedPath = "";

/** The file the addon was loaded from (its folder also holds libbert_mpi.so when MPI was found at build time). */
export function loadedAddonPath(): string {
  loadNative();
  return cachedPath;
}

export function loadNative(): NativeAddon {
  if (cached) return cached;
  const root = projectRoot();
  const candidates = [
    process.env.BERT_TRAIN_ADDON,
    join(root, "build", "Release", "bert_train.node"),
    join(root, "build", "bert_train.node"),
  ].filter((p): p is string => typeof p === "string" && p.length > 0);
  const found = candidates.find((p) => existsSync(p));
  if (!found) {
    throw new NativeLoadError(
      [
        "bert-train: the native addon is not built (looked for " + candidates.map((p) => resolve(p)).join(", ") + ").",
        "Possible solutions:",
        "- Build it: npm run build:native (needs cmake, g++ and libdnnl-dev: run scripts/setup.sh once).",
        "- Or set BERT_TRAIN_ADDON to the path of a built bert_train.node.",
      ].join("\n"),
    );
  }
  try {
    cached = require(found) as NativeAddon;
    cachedPath = resolve(found);
    return cached;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const hints: string[] = [];
    if (/libdnnl/.test(message))
      hints.push("- Install oneDNN: sudo apt-get install libdnnl-dev (or run scripts/setup.sh).");
    if (/libgomp/.test(message)) hints.push("- Install the OpenMP runtime: sudo apt-get install libgomp1.");
    if (/NODE_MODULE_VERSION|was compiled against a different Node/.test(message))
      hints.push("- The addon was built for another Node.js: rebuild it with npm run build:native.");
    if (/illegal instruction|invalid ELF/i.test(message))
      hints.push("- The addon was built for another CPU or system: rebuild it here with npm run build:native.");
    if (hints.length === 0) hints.push("- Rebuild it: npm run build:native, and check the build output for errors.");
    throw new NativeLoadError(
      `bert-train: could not load the native addon ${found}: ${message}\nPossible solutions:\n${hints.join("\n")}`,
    );
  }
}
