// Configuration errors in the style of ESLint's: every problem at once, each naming the file, the key path, what
// was expected and what was found. The CLI prints them and exits with code 2.
import type { ErrorObject } from "ajv";

export class ConfigError extends Error {
  readonly code = "ERR_INVALID_CONFIG";
  constructor(readonly problems: string[]) {
    super(problems.join("\n"));
  }
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = row[j] as number;
      row[j] = Math.min(up + 1, (row[j - 1] as number) + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = up;
    }
  }
  return row[b.length] as number;
}

/** The closest allowed key, when it is close enough to be a likely misspelling. */
export function didYouMean(key: string, allowed: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of allowed) {
    const d = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(key.length / 3)) ? best : undefined;
}

function keyPath(prefix: string, instancePath: string): string {
  const parts = instancePath
    .split("/")
    .slice(1)
    .map((p) => (/^\d+$/.test(p) ? `[${p}]` : `.${p}`))
    .join("");
  return (prefix + parts).replace(/^\./, "");
}

function describeValue(value: unknown): string {
  if (value === undefined) return "nothing";
  if (typeof value === "number" && !Number.isFinite(value)) return `${value} (not a finite number)`;
  return `${JSON.stringify(value)} (${Array.isArray(value) ? "array" : value === null ? "null" : typeof value})`;
}

/**
 * One sentence per ajv error. `data` is the validated object, `prefix` its key path inside the file; `flag` ("--")
 * names the keys as command-line flags.
 */
export function formatAjvErrors(
  file: string,
  prefix: string,
  data: unknown,
  errors: ErrorObject[],
  flag = "",
): string[] {
  const valueAt = (instancePath: string): unknown =>
    instancePath
      .split("/")
      .slice(1)
      .reduce<unknown>(
        (node, key) => (node !== null && typeof node === "object" ? (node as Record<string, unknown>)[key] : undefined),
        data,
      );
  return errors.map((e) => {
    const why = (e.parentSchema as { description?: string } | undefined)?.description;
    return formatOne(e) + (why ? `; ${why}` : "");
  });
  function formatOne(e: ErrorObject): string {
    const at = flag + keyPath(prefix, e.instancePath);
    const found = describeValue(valueAt(e.instancePath));
    switch (e.keyword) {
      case "additionalProperties": {
        const key = (e.params as { additionalProperty: string }).additionalProperty;
        const schemaProps = Object.keys((e.parentSchema as { properties?: object }).properties ?? {});
        const hint = didYouMean(key, schemaProps);
        return `${file}: ${at ? at + "." : ""}${key}: unknown key${hint ? `; did you mean "${hint}"?` : ""}`;
      }
      case "required":
        return `${file}: ${at ? at + "." : ""}${(e.params as { missingProperty: string }).missingProperty}: required but missing`;
      case "type":
        return `${file}: ${at}: expected ${(e.params as { type: string }).type}, found ${found}`;
      case "enum":
        return `${file}: ${at}: expected one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(", ")}, found ${found}`;
      case "minimum":
      case "maximum":
      case "exclusiveMinimum":
      case "exclusiveMaximum": {
        const { comparison, limit } = e.params as { comparison: string; limit: number };
        return `${file}: ${at}: expected a number ${comparison} ${limit}, found ${found}`;
      }
      default:
        return `${file}: ${at}: ${e.message ?? "invalid"}, found ${found}`;
    }
  }
}

/** A job name becomes a folder and file names under --output_dir: one plain path component, nothing else. */
export function checkJobName(name: string, flag = "--job_name"): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(name) || name.includes(".."))
    throw new ConfigError([
      `${flag} ${JSON.stringify(name)}: a job name is a folder name under --output_dir: 1 to 100 letters, digits, ".", "_" or "-", starting with a letter or digit (no "/", no "..")`,
    ]);
}
