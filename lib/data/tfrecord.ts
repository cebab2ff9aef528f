// TFRecord files: each record is
//   uint64 length (little-endian) | uint32 masked CRC-32C of those 8 bytes | data | uint32 masked CRC-32C of data
// Readers check both checksums and report the file and the record index of any damage. Writers go to a temporary
// name and rename at the end, so an interrupted write never leaves a shard that looks complete.
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs";

import { crc32c, maskCrc } from "./crc32c.js";

export class TfRecordError extends Error {
  readonly code = "ERR_TFRECORD";
  constructor(
    readonly file: string,
    readonly recordIndex: number,
    reason: string,
  ) {
    super(`${file}: record ${recordIndex}: ${reason}`);
  }
}

/** Every record's data in a TFRecord file's bytes, checksums verified. */
export function* tfRecords(bytes: Uint8Array, file: string): Generator<Uint8Array> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let offset = 0;
  let index = 0;
  while (offset < bytes.length) {
    if (offset + 12 > bytes.length)
      throw new TfRecordError(file, index, "the file ends inside the record header (truncated)");
    const length = Number(view.getBigUint64(offset, true));
    if (maskCrc(crc32c(bytes.subarray(offset, offset + 8))) !== view.getUint32(offset + 8, true))
      throw new TfRecordError(file, index, "the length checksum does not match (corrupt)");
    const start = offset + 12;
    if (start + length + 4 > bytes.length)
      throw new TfRecordError(file, index, `the record's ${length} bytes run past the end of the file (truncated)`);
    const data = bytes.subarray(start, start + length);
    if (maskCrc(crc32c(data)) !== view.getUint32(start + length, true))
      throw new TfRecordError(file, index, "the data checksum does not match (corrupt)");
    yield data;
    offset = start + length + 4;
    index++;
  }
}

export function readTfRecordFile(path: string): Uint8Array[] {
  return [...tfRecords(readFileSync(path), path)];
}

/** Counts records by walking the length headers, without reading or checking the data. */
export function countTfRecords(bytes: Uint8Array, file: string): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let offset = 0;
  let count = 0;
  while (offset < bytes.length) {
    if (offset + 12 > bytes.length)
      throw new TfRecordError(file, count, "the file ends inside the record header (truncated)");
    offset += 16 + Number(view.getBigUint64(offset, true));
    if (offset > bytes.length)
      throw new TfRecordError(file, count, "the record runs past the end of the file (truncated)");
    count++;
  }
  return count;
}

export function encodeTfRecord(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(16 + data.length);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(data.length), true);
  view.setUint32(8, maskCrc(crc32c(out.subarray(0, 8))), true);
  out.set(data, 12);
  view.setUint32(12 + data.length, maskCrc(crc32c(data)), true);
  return out;
}

/** Writes records to `path` through a temporary file renamed into place when complete. */
export class TfRecordWriter {
  private readonly tmp: string;
  private fd: number | undefined;
  count = 0;

  constructor(readonly path: string) {
    this.tmp = `${path}.tmp-${process.pid}`;
    this.fd = openSync(this.tmp, "w");
  }

  write(data: Uint8Array): void {
    if (this.fd === undefined) throw new Error(`${this.path}: write after close`);
    writeSync(this.fd, encodeTfRecord(data));
    this.count++;
  }

  /** Flushes to disk and renames into place. */
  close(): void {
    if (this.fd === undefined) return;
    fsyncSync(this.fd);
    closeSync(this.fd);
    this.fd = undefined;
    renameSync(this.tmp, this.path);
  }

  /** Drops a partial file (on error or interruption). */
  abort(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    rmSync(this.tmp, { force: true });
  }
}
