// Reading a JSON config file: a missing file or a syntax error is a ConfigError naming the file (and the line).
import { readFileSync } from "node:fs";

import { ConfigError } from "./errors.js";

export function readJsonFile(path: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new ConfigError([
      `${path}: cannot read the ${what}: ${(err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (err as Error).message}`,
    ]);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    const message = (err as Error).message;
    const at = /position (\d+)/.exec(message);
    const line = at ? text.slice(0, Number(at[1])).split("\n").length : undefined;
    throw new ConfigError([`${path}${line ? `:${line}` : ""}: the ${what} is not valid JSON: ${message}`]);
  }
}
