// safetensors: an 8-byte little-endian header length, a JSON header {name: {dtype, shape, data_offsets}} with an
// optional "__metadata__" map of strings, then the raw little-endian tensor bytes. Reader and writer; the writer
// goes through a temporary file and a rename so a crash never leaves a truncated file under the final name.
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";

import { bf16ToFloat32, f16ToFloat32 } from "./half.js";

export type DType = "F32" | "F64" | "I32" | "I64" | "BF16" | "F16" | "U8";

export interface TensorEntry {
  dtype: DType;
  shape: number[];
  data: Uint8Array;
}

export interface SafetensorsFile {
  metadata: Record<string, string>;
  tensors: Map<string, TensorEntry>;
}

export class SafetensorsError extends Error {
  readonly code = "ERR_SAFETENSORS";
}

const BYTES: Record<DType, number> = { F32: 4, F64: 8, I32: 4, I64: 8, BF16: 2, F16: 2, U8: 1 };

const isCount = (x: unknown): x is number => typeof x === "number" && Number.isSafeInteger(x) && x >= 0;

/** One header entry, checked field by field: every way a header can lie is a reason naming the tensor. */
function checkEntry(
  name: string,
  raw: unknown,
  dataLength: number,
): string | { dtype: DType; shape: number[]; begin: number; end: number } {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw))
    return `tensor ${name}: its entry is not an object`;
  const entry = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
  const width =
    typeof entry.dtype === "string" && Object.hasOwn(BYTES, entry.dtype) ? BYTES[entry.dtype as DType] : undefined;
  if (width === undefined) return `tensor ${name} has an unknown dtype ${JSON.stringify(entry.dtype)}`;
  if (!Array.isArray(entry.shape) || !entry.shape.every(isCount))
    return `tensor ${name}: shape ${JSON.stringify(entry.shape)} is not a list of non-negative integers`;
  const offsets: unknown = entry.data_offsets;
  const valid = Array.isArray(offsets) && offsets.length === 2 && offsets.every(isCount);
  const [begin, end] = valid ? (offsets as [number, number]) : [0, -1];
  if (!(begin <= end))
    return `tensor ${name}: data_offsets ${JSON.stringify(offsets)} is not [begin, end] with 0 <= begin <= end`;
  const count = entry.shape.reduce((x, y) => x * y, 1);
  if (end - begin !== count * width)
    return `tensor ${name}: ${end - begin} bytes for shape [${entry.shape.join(", ")}]`;
  if (end > dataLength) return `tensor ${name} runs past the end of the file`;
  return { dtype: entry.dtype as DType, shape: entry.shape, begin, end };
}

export function parseSafetensors(buffer: Uint8Array, source = "<buffer>"): SafetensorsFile {
  const fail = (why: string): never => {
    throw new SafetensorsError(`${source}: not a valid safetensors file: ${why}`);
  };
  if (buffer.byteLength < 8) fail("shorter than its 8-byte header length");
  const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (8 + headerLength > buffer.byteLength) fail(`header length ${headerLength} runs past the end of the file`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder().decode(buffer.subarray(8, 8 + headerLength)));
  } catch {
    return fail("the header is not JSON");
  }
  if (header === null || typeof header !== "object" || Array.isArray(header))
    return fail("the header is not a JSON object");
  const dataStart = 8 + headerLength;
  const tensors = new Map<string, TensorEntry>();
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (raw === null || typeof raw !== "object" || !Object.values(raw).every((v) => typeof v === "string"))
        fail("__metadata__ is not a map of strings");
      metadata = raw as Record<string, string>;
      continue;
    }
    const entry = checkEntry(name, raw, buffer.byteLength - dataStart);
    if (typeof entry === "string") return fail(entry);
    tensors.set(name, {
      dtype: entry.dtype,
      shape: entry.shape,
      data: buffer.subarray(dataStart + entry.begin, dataStart + entry.end),
    });
  }
  return { metadata, tensors };
}

export function readSafetensors(path: string): SafetensorsFile {
  return parseSafetensors(readFileSync(path), path);
}

/** A copy of the bytes in their own (aligned) buffer. Buffer#slice would share memory, so copy explicitly. */
function copyBuffer(bytes: Uint8Array): ArrayBuffer {
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return copy.buffer;
}

/** The tensor's values as a fresh typed array (copied, so it is aligned). */
export function tensorFloat32(file: SafetensorsFile, name: string): Float32Array {
  const t = file.tensors.get(name);
  if (!t) throw new SafetensorsError(`no tensor named ${name}`);
  if (t.dtype === "F32") return new Float32Array(copyBuffer(t.data));
  if (t.dtype === "F64") return Float32Array.from(new Float64Array(copyBuffer(t.data)));
  if (t.dtype === "BF16") return bf16ToFloat32(new Uint16Array(copyBuffer(t.data)));
  if (t.dtype === "F16") return f16ToFloat32(new Uint16Array(copyBuffer(t.data)));
  throw new SafetensorsError(`tensor ${name} is ${t.dtype}, expected a float type (F32, F64, BF16, F16)`);
}

export function tensorFloat64(file: SafetensorsFile, name: string): Float64Array {
  const t = file.tensors.get(name);
  if (!t) throw new SafetensorsError(`no tensor named ${name}`);
  if (t.dtype === "F64") return new Float64Array(copyBuffer(t.data));
  if (t.dtype === "F32") return Float64Array.from(new Float32Array(copyBuffer(t.data)));
  throw new SafetensorsError(`tensor ${name} is ${t.dtype}, expected F32 or F64`);
}

export function tensorInt32(file: SafetensorsFile, name: string): Int32Array {
  const t = file.tensors.get(name);
  if (!t) throw new SafetensorsError(`no tensor named ${name}`);
  if (t.dtype !== "I32") throw new SafetensorsError(`tensor ${name} is ${t.dtype}, expected I32`);
  return new Int32Array(copyBuffer(t.data));
}

export interface TensorToWrite {
  dtype: DType;
  shape: number[];
  data: ArrayBufferView;
}

export function writeSafetensors(
  path: string,
  tensors: Map<string, TensorToWrite>,
  metadata: Record<string, string> = {},
): void {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const [name, t] of tensors) {
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  const json = Buffer.from(JSON.stringify(header), "utf8");
  // The data must start 8-byte aligned: pad the header with spaces.
  const head = Buffer.concat([json, Buffer.alloc((8 - (json.byteLength % 8)) % 8, " ")]);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(head.byteLength));
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, "w");
  try {
    writeSync(fd, length);
    writeSync(fd, head);
    for (const t of tensors.values())
      writeSync(fd, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}
