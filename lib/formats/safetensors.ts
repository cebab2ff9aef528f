// safetensors: an 8-byte little-endian header length, a JSON header {name: {dtype, shape, data_offsets}} with an
// optional "__metadata__" map of strings, then the raw little-endian tensor bytes. Reader and writer; the writer
// goes through a temporary file and a rename so a crash never leaves a truncated file under the final name.
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";

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

export function parseSafetensors(buffer: Uint8Array, source = "<buffer>"): SafetensorsFile {
  const fail = (why: string): never => {
    throw new SafetensorsError(`${source}: not a valid safetensors file: ${why}`);
  };
  if (buffer.byteLength < 8) fail("shorter than its 8-byte header length");
  const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (8 + headerLength > buffer.byteLength) fail(`header length ${headerLength} runs past the end of the file`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(buffer.subarray(8, 8 + headerLength))) as Record<string, unknown>;
  } catch {
    return fail("the header is not JSON");
  }
  const dataStart = 8 + headerLength;
  const tensors = new Map<string, TensorEntry>();
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(header)) {
    if (name === "__metadata__") {
      metadata = raw as Record<string, string>;
      continue;
    }
    const entry = raw as { dtype: DType; shape: number[]; data_offsets: [number, number] };
    const width = BYTES[entry.dtype];
    if (width === undefined) fail(`tensor ${name} has an unknown dtype ${String(entry.dtype)}`);
    const [begin, end] = entry.data_offsets;
    const count = entry.shape.reduce((a, b) => a * b, 1);
    if (end - begin !== count * width)
      fail(`tensor ${name}: ${end - begin} bytes for shape [${entry.shape.join(", ")}]`);
    if (dataStart + end > buffer.byteLength) fail(`tensor ${name} runs past the end of the file`);
    tensors.set(name, {
      dtype: entry.dtype,
      shape: entry.shape,
      data: buffer.subarray(dataStart + begin, dataStart + end),
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
  throw new SafetensorsError(`tensor ${name} is ${t.dtype}, expected F32 or F64`);
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
