// A named flag that repeats a positional argument (`finetune SST-2 32 1e-4 3 job ckpt --learning_rate 2e-5`):
// yargs keeps the positional and drops the flag without a word. Here the flag must agree with the positional,
// or the run stops with both values named.
import type { MiddlewareFunction } from "yargs";

import { ConfigError } from "../config/errors.js";

/** The positionals of each command that a user may also spell as flags. */
const POSITIONAL_FLAGS: Record<string, readonly string[]> = {
  finetune: ["task", "train_batch_size", "learning_rate", "num_train_epochs", "job_name", "checkpoint"],
};

/** Every `--name value` / `--name=value` of `argv` for `name` in snake_case or kebab-case. */
function flagValues(argv: string[], name: string): string[] {
  const spellings = new Set([`--${name}`, `--${name.replace(/_/g, "-")}`]);
  const values: string[] = [];
  argv.forEach((token, i) => {
    const eq = token.indexOf("=");
    if (eq > 0 && spellings.has(token.slice(0, eq))) values.push(token.slice(eq + 1));
    else if (spellings.has(token) && argv[i + 1] !== undefined) values.push(argv[i + 1] as string);
  });
  return values;
}

function same(given: string, parsed: unknown): boolean {
  return typeof parsed === "number" ? Number(given) === parsed : given === String(parsed);
}

export function checkRepeatedPositionals(command: string, argv: string[], args: Record<string, unknown>): void {
  const problems: string[] = [];
  for (const name of POSITIONAL_FLAGS[command] ?? [])
    for (const value of flagValues(argv, name))
      if (!same(value, args[name]))
        problems.push(
          `${command}: --${name} ${value} disagrees with the ${name.toUpperCase()} argument ${String(args[name])}; give the value once`,
        );
  if (problems.length) throw new ConfigError(problems);
}

/** The parser's own lists: the bare words, and what follows `--` (a launcher's command line). */
const PARSER_LISTS = new Set(["_", "--"]);

/** What yargs hands a middleware as its second argument (its typings leave the argument out). */
interface ParserWithOptions {
  getOptions(): { array: string[] };
}

/**
 * A flag given more than once keeps its last value, as with argparse; options and positionals declared as lists
 * (`plot A.jsonl B.jsonl --label a --label b`) keep every value.
 */
export const lastValueOfRepeatedFlags = ((args: Record<string, unknown>, parser: ParserWithOptions) => {
  const lists = new Set(parser.getOptions().array);
  for (const [key, value] of Object.entries(args))
    if (!PARSER_LISTS.has(key) && Array.isArray(value) && !lists.has(key)) args[key] = value.at(-1);
}) as unknown as MiddlewareFunction;
