// Raw text in, documents out. A document is a list of sentences, the units Google's instance creation works on
// (it expects one sentence per line). Three input kinds, detected per file:
// - WikiExtractor output: <doc id=.. title=..> ... </doc>; the title line is dropped, each paragraph line is split
//   into sentences;
// - Project Gutenberg books: the licence header up to "*** START OF ..." and everything from "*** END OF ..." is
//   removed; wrapped lines are joined into paragraphs (blank-line separated) and split into sentences; the book
//   is one document;
// - plain text: one sentence (or unit) per line, as Google's tool takes it; a blank line between documents;
// - JSON lines (.jsonl, .json; a HuggingFace-datasets export): one {"text": ...} object per line, each one
//   document, its text field's lines the units (as a plain-text document's lines are).
// Any of them may be gzip-compressed (.gz).
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";

export class CorpusError extends Error {
  readonly code = "ERR_CORPUS";
}

export type Document = string[];

/** Files under the given paths (folders recursively, sorted), skipping hidden files. */
export function listInputFiles(paths: string[]): string[] {
  const out: string[] = [];
  const visit = (p: string) => {
    let st;
    try {
      st = statSync(p);
    } catch {
      throw new CorpusError(`input ${p} does not exist`);
    }
    if (st.isDirectory()) {
      for (const name of readdirSync(p).sort()) if (!name.startsWith(".")) visit(join(p, name));
    } else out.push(p);
  };
  for (const p of paths) visit(p);
  return out;
}

/** The file's bytes, gunzipped when its name ends in .gz. */
function readBytes(path: string): Buffer {
  const bytes = readFileSync(path);
  if (!/\.gz$/i.test(path)) return bytes;
  try {
    return gunzipSync(bytes);
  } catch (err) {
    throw new CorpusError(`${path}: not a readable gzip file (${(err as Error).message})`);
  }
}

/** Decodes UTF-8 strictly (after gunzip for .gz): invalid bytes are an error naming the file and the byte offset. */
export function readUtf8(path: string): string {
  const bytes = readBytes(path);
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    // find the first bad byte for the message
    let offset = 0;
    for (let step = 1 << 20; step >= 1; step >>= 1) {
      while (offset + step <= bytes.length) {
        try {
          new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(0, offset + step));
          offset += step;
        } catch {
          break;
        }
      }
    }
    throw new CorpusError(`${path}: not valid UTF-8 (first bad byte near offset ${offset}); convert it to UTF-8 first`);
  }
}

// Words after which a full stop does not end a sentence.
const ABBREVIATIONS = new Set(
  "mr mrs ms dr prof st jr sr vs etc e.g i.e no vol fig al gen col lt sgt capt rev hon inc ltd co corp mt ft approx est ca jan feb mar apr jun jul aug sep sept oct nov dec u.s u.k".split(
    " ",
  ),
);

/**
 * A rule-based sentence splitter: a sentence ends at ., ! or ? (and any closing quotes or brackets) followed by
 * white space and an upper-case letter, digit or opening quote, unless the word before the full stop is a known
 * abbreviation or a single initial.
 */
export function splitSentences(paragraph: string): string[] {
  const out: string[] = [];
  const re = /[.!?]+["'\u201d\u2019)\]]*\s+(?=["'\u201c\u2018([]?[\p{Lu}\d])/gu;
  let start = 0;
  for (const m of paragraph.matchAll(re)) {
    const end = (m.index ?? 0) + m[0].length;
    const before = paragraph.slice(start, m.index ?? 0);
    const lastWord = (before.split(/\s+/).pop() ?? "").replace(/^["'([]+/, "").toLowerCase();
    if (m[0].startsWith(".") && (ABBREVIATIONS.has(lastWord) || /^\p{L}$/u.test(lastWord))) continue;
    const sentence = paragraph.slice(start, end).trim();
    if (sentence) out.push(sentence);
    start = end;
  }
  const rest = paragraph.slice(start).trim();
  if (rest) out.push(rest);
  return out;
}

function wikiExtractorDocuments(text: string): Document[] {
  const docs: Document[] = [];
  let current: Document | undefined;
  let skipTitle = false;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line.startsWith("<doc ")) {
      current = [];
      skipTitle = true;
    } else if (line === "</doc>") {
      if (current && current.length > 0) docs.push(current);
      current = undefined;
    } else if (current && line) {
      if (skipTitle) skipTitle = false;
      else current.push(...splitSentences(line));
    }
  }
  return docs;
}

const GUTENBERG_START = /^\*\*\* ?START OF (THIS|THE) PROJECT GUTENBERG/i;
const GUTENBERG_END = /^\*\*\* ?END OF (THIS|THE) PROJECT GUTENBERG/i;

function gutenbergDocuments(text: string): Document[] {
  const lines = text.split(/\r?\n/);
  const start = lines.findIndex((l) => GUTENBERG_START.test(l));
  const endIndex = lines.findIndex((l) => GUTENBERG_END.test(l));
  const body = lines.slice(start + 1, endIndex >= 0 ? endIndex : lines.length);
  const paragraphs: string[] = [];
  let current: string[] = [];
  for (const l of body) {
    if (l.trim()) current.push(l.trim());
    else if (current.length) {
      paragraphs.push(current.join(" "));
      current = [];
    }
  }
  if (current.length) paragraphs.push(current.join(" "));
  // drop the producer credits that sit right after the START marker
  const doc = paragraphs
    .filter((p) => !/^(Produced by|This e-?book was produced|Transcribed from)/i.test(p))
    .flatMap(splitSentences);
  return doc.length ? [doc] : [];
}

function plainTextDocuments(text: string): Document[] {
  const docs: Document[] = [];
  let current: Document = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line) current.push(line);
    else if (current.length) {
      docs.push(current);
      current = [];
    }
  }
  if (current.length) docs.push(current);
  return docs;
}

export type InputKind = "wikiextractor" | "gutenberg" | "plain" | "jsonl";

export function detectKind(text: string): InputKind {
  const head = text.slice(0, 20000);
  if (/^\s*<doc id=/m.test(head)) return "wikiextractor";
  if (/Project Gutenberg/i.test(head) && text.split(/\r?\n/).some((l) => GUTENBERG_START.test(l))) return "gutenberg";
  return "plain";
}

export function documentsFromText(text: string): { kind: InputKind; documents: Document[] } {
  const t = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const kind = detectKind(t);
  const documents =
    kind === "wikiextractor"
      ? wikiExtractorDocuments(t)
      : kind === "gutenberg"
        ? gutenbergDocuments(t)
        : plainTextDocuments(t);
  return { kind, documents };
}

/** A .jsonl or .json file (optionally .gz), read as JSON lines. */
export function isJsonLines(path: string): boolean {
  return /\.(jsonl|json)(\.gz)?$/i.test(path);
}

export function jsonLinesDocuments(text: string, field: string, path: string): Document[] {
  const docs: Document[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    if (!line.trim()) return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      throw new CorpusError(`${path}:${i + 1}: not a JSON object (${(err as Error).message})`);
    }
    const body = value !== null && typeof value === "object" ? (value as Record<string, unknown>)[field] : undefined;
    if (typeof body !== "string")
      throw new CorpusError(
        `${path}:${i + 1}: no string field "${field}" (fields: ${value !== null && typeof value === "object" ? Object.keys(value).join(", ") || "none" : typeof value}); name the text field with --text_field`,
      );
    const units = body
      .split(/\r?\n/)
      .map((l) => l.trim())
      .filter(Boolean);
    if (units.length) docs.push(units);
  });
  return docs;
}

/** A file's documents: JSON lines by its name, otherwise the kind its text shows. */
export function documentsFromFile(
  path: string,
  text: string,
  textField: string,
): { kind: InputKind; documents: Document[] } {
  const t = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  if (isJsonLines(path)) return { kind: "jsonl", documents: jsonLinesDocuments(t, textField, path) };
  return documentsFromText(text);
}
