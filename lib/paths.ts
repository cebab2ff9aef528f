// Where the project's own files are at run time: the root (the folder holding package.json, from both lib/ and
// dist/lib/) and the embedded bert-base-uncased vocabulary every command defaults to.
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "package.json"))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error("bert-train: cannot find the project's package.json");
    dir = parent;
  }
  return dir;
}

export function defaultVocabFile(): string {
  return join(projectRoot(), "data", "bert-base-uncased-vocab.txt");
}
