#!/usr/bin/env node
// Runs the README's Commands block top to bottom, as a user would from the project folder, with small step counts
// added to the commands that train (CI's time is short). Each command runs in a scratch folder that holds the
// project's data/ and configs/, so the paths are the README's own; any command that fails fails the script.
//
//   node scripts/readme-commands.mjs [--keep]    # --keep leaves the scratch folder and says where
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const repo = join(dirname(fileURLToPath(import.meta.url)), "..");
const cli = join(repo, "dist", "bin", "bert-train.js");

/** What each command gets added so the block runs in a few minutes. */
const SMALL = {
  "prepare-data": ["--dupe_factor", "1", "--num_shards", "2"],
  pretrain: ["--max_steps", "3", "--print_steps", "1"],
  finetune: ["--max_steps", "3", "--max_seq_length", "32"],
  evaluate: ["--max_batches", "2"],
};

/** The commands of the first sh block under "## Commands": continuation lines joined, end-of-line comments cut. */
function readmeCommands(readme) {
  const section = readme.slice(readme.indexOf("\n## Commands\n"));
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1];
  if (!block) throw new Error("README.md: no sh block under ## Commands");
  return block
    .replace(/\\\n\s*/g, " ")
    .split("\n")
    .map((line) => line.replace(/\s+#\s.*$/, "").trim())
    .filter(Boolean);
}

/** Words of a command line: plain words and single- or double-quoted ones, as the shell splits them. */
function words(line) {
  return [...line.matchAll(/'([^']*)'|"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3]);
}

function main() {
  const commands = readmeCommands(readFileSync(join(repo, "README.md"), "utf8"));
  const scratch = mkdtempSync(join(tmpdir(), "bert-train-readme-"));
  for (const shared of ["data", "configs"]) symlinkSync(join(repo, shared), join(scratch, shared));
  let failed = false;
  for (const line of commands) {
    const [program, command, ...rest] = words(line);
    if (program !== "bert-train") throw new Error(`README.md: a Commands line that is not bert-train: ${line}`);
    const argv = [cli, command, ...rest, ...(SMALL[command] ?? [])];
    const started = Date.now();
    process.stdout.write(`$ ${line}\n`);
    const r = spawnSync(process.execPath, argv, { cwd: scratch, stdio: "inherit" });
    process.stdout.write(`  -> exit ${r.status} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    if (r.status !== 0) {
      failed = true;
      break;
    }
  }
  if (process.argv.includes("--keep")) process.stdout.write(`scratch folder: ${scratch}\n`);
  else rmSync(scratch, { recursive: true, force: true });
  if (failed) process.exit(1);
  process.stdout.write(`README commands: all ${commands.length} passed\n`);
}

main();
