// Every flag of every command says what it does in --help (a flag listed with only its type tells a user nothing).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, it } from "node:test";

import { projectRoot } from "../../lib/native/load.js";

const cli = join(projectRoot(), "dist", "bin", "bert-train.js");

function help(args: string[]): string {
  const r = spawnSync(process.execPath, [cli, ...args, "--help"], {
    encoding: "utf8",
    env: { ...process.env, COLUMNS: "80" },
  });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

/** The flags and positionals of a help text whose description is missing (only `[type]` after the name). */
function undescribed(text: string): string[] {
  const lines = text.split("\n");
  const entry = /^ {2}(--?[\w-]+(?:, --?[\w-]+)*|[a-z_]+)(,?)(?: {2,}(.*))?$/;
  const missing: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = entry.exec(lines[i] as string);
    if (!m) continue;
    let name = m[1] as string;
    let description = m[3] ?? "";
    if (m[2] === ",") {
      // a long list of spellings wraps: the rest of the names on the next line, the description on either
      const rest = entry.exec(lines[++i] ?? "");
      name += `, ${rest?.[1] ?? ""}`;
      if (!description) description = rest?.[3] ?? "";
    }
    if (description.trim() === "" || description.trim().startsWith("[")) missing.push(name);
  }
  return missing;
}

describe("--help", () => {
  const commands = [...help([]).matchAll(/^ {2}bert-train ([a-z-]+)/gm)].map((m) => m[1] as string);
  it("lists the commands", () => assert.ok(commands.length >= 10, commands.join(" ")));
  for (const command of commands)
    it(`${command}: every flag has help text`, () => {
      assert.deepEqual(undescribed(help([command])), []);
    });
});
