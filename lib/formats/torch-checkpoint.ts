// PyTorch checkpoint files without Python: torch.save's zip format (PyTorch 1.6 and later), as HuggingFace's
// pytorch_model.bin and DeepSpeed's mp_rank_00_model_states.pt are. The archive holds <name>/data.pkl, a pickle of
// the saved object whose tensors point at storages <name>/data/<key>; it is read by the restricted unpickler
// (lib/formats/pickle.ts), which builds state dicts and nothing else. DeepSpeed keeps the weights under "module".
import { readFileSync } from "node:fs";
import { unzipSync } from "fflate";

import { bf16ToFloat32, f16ToFloat32 } from "./half.js";
import { PickleError, unpickle, type PickleGlobals, type PickleValue } from "./pickle.js";

export class TorchCheckpointError extends Error {
  readonly code = "ERR_TORCH_CHECKPOINT";
}

const STORAGE_DTYPES: Record<string, { dtype: string; bytes: number }> = {
  "torch.FloatStorage": { dtype: "F32", bytes: 4 },
  "torch.DoubleStorage": { dtype: "F64", bytes: 8 },
  "torch.HalfStorage": { dtype: "F16", bytes: 2 },
  "torch.BFloat16Storage": { dtype: "BF16", bytes: 2 },
  "torch.LongStorage": { dtype: "I64", bytes: 8 },
  "torch.IntStorage": { dtype: "I32", bytes: 4 },
  "torch.ShortStorage": { dtype: "I16", bytes: 2 },
  "torch.CharStorage": { dtype: "I8", bytes: 1 },
  "torch.ByteStorage": { dtype: "U8", bytes: 1 },
  "torch.BoolStorage": { dtype: "BOOL", bytes: 1 },
};

/**
 * Objects DeepSpeed pickles beside the weights (its fp16 loss scaler, in the optimizer's state) that hold only
 * numbers: read as inert records, never constructed.
 */
const INERT_CLASSES = [
  "deepspeed.runtime.fp16.loss_scaler.DynamicLossScaler",
  "deepspeed.runtime.fp16.loss_scaler.LossScaler",
];

interface Storage {
  dtype: string;
  bytes: number;
  data: Uint8Array;
}

/** A tensor of the checkpoint: its storage, and where in it the values lie. */
export class TorchTensor {
  constructor(
    private readonly storage: Storage,
    private readonly offset: number,
    readonly shape: number[],
    private readonly stride: number[],
  ) {}

  get dtype(): string {
    return this.storage.dtype;
  }

  /** The values in row-major order, widened to fp32 (floating-point tensors only). */
  float32(name: string): Float32Array {
    const raw = this.storage.data;
    const aligned = new Uint8Array(raw.byteLength);
    aligned.set(raw);
    const all = storageFloats(this.storage.dtype, aligned.buffer, name);
    return gather(all, this.offset, this.shape, this.stride);
  }
}

function storageFloats(dtype: string, buffer: ArrayBuffer, name: string): Float32Array {
  if (dtype === "F32") return new Float32Array(buffer);
  if (dtype === "F64") return Float32Array.from(new Float64Array(buffer));
  if (dtype === "F16") return f16ToFloat32(new Uint16Array(buffer));
  if (dtype === "BF16") return bf16ToFloat32(new Uint16Array(buffer));
  throw new TorchCheckpointError(`tensor ${name} is ${dtype}, expected a float type`);
}

/** The elements of a strided view, row-major. */
function gather(values: Float32Array, offset: number, shape: number[], stride: number[]): Float32Array {
  const count = shape.reduce((a, b) => a * b, 1);
  const contiguous = shape.every((_, d) => stride[d] === shape.slice(d + 1).reduce((a, b) => a * b, 1));
  if (contiguous) return values.slice(offset, offset + count);
  const out = new Float32Array(count);
  let k = 0;
  const walk = (d: number, at: number) => {
    if (d === shape.length) out[k++] = values[at] as number;
    else for (let i = 0; i < (shape[d] as number); i++) walk(d + 1, at + i * (stride[d] as number));
  };
  walk(0, offset);
  return out;
}

const isIntList = (v: PickleValue): v is number[] => Array.isArray(v) && v.every((x) => Number.isInteger(x));

/** The globals a state dict's pickle may use, reading storages from the archive's files. */
function stateDictGlobals(files: Record<string, Uint8Array>, prefix: string): PickleGlobals {
  const storages = new Map<string, Storage>();
  const refuseCall = (name: string) => () => {
    throw new PickleError(`${name} is called, which a state dict never does`);
  };
  const calls: PickleGlobals["calls"] = {
    "collections.OrderedDict": (args) => {
      const m = new Map<PickleValue, PickleValue>();
      for (const pair of (args[0] as PickleValue[] | undefined) ?? [])
        if (Array.isArray(pair) && pair.length === 2) m.set(pair[0] as PickleValue, pair[1] as PickleValue);
      return m;
    },
    "torch._utils._rebuild_tensor_v2": ([storage, offset, size, stride]) => {
      if (
        !(storage instanceof Object && "data" in storage) ||
        !Number.isInteger(offset) ||
        !isIntList(size as PickleValue) ||
        !isIntList(stride as PickleValue)
      )
        throw new PickleError("a tensor whose storage, offset, size or stride is malformed");
      const s = storage as Storage;
      const shape = size as number[];
      const strides = stride as number[];
      const elements = s.data.byteLength / s.bytes;
      const count = shape.reduce((a, n) => a * n, 1);
      const last = (offset as number) + shape.reduce((a, n, d) => a + (n - 1) * (strides[d] as number), 0);
      // a view may not hold more values than its storage (no stride-0 blow-up), nor reach outside it
      if (count > 0 && (count > elements || last >= elements || (offset as number) < 0 || strides.some((x) => x < 0)))
        throw new PickleError(`a tensor of shape [${shape.join(", ")}] runs past its storage of ${elements} values`);
      return new TorchTensor(s, offset as number, shape, strides);
    },
    "torch._utils._rebuild_parameter": ([tensor]) => tensor as PickleValue,
    "torch.Size": ([dims]) => dims as PickleValue,
  };
  for (const name of Object.keys(STORAGE_DTYPES)) calls[name] = refuseCall(name);
  for (const name of INERT_CLASSES) calls[name] = () => ({ inert: name });
  calls["copyreg._reconstructor"] = ([cls]) => {
    const name = (cls as { global?: string }).global;
    if (!name || !INERT_CLASSES.includes(name))
      throw new PickleError(`an object of ${String(name)} is rebuilt; refused`);
    return { inert: name };
  };
  calls["builtins.object"] = refuseCall("builtins.object");
  return {
    calls,
    persistentLoad: (pid) => {
      const [kind, type, key] = (Array.isArray(pid) ? pid : []) as PickleValue[];
      const typeName = (type as { global?: string } | undefined)?.global ?? "";
      const dtype = STORAGE_DTYPES[typeName];
      if (kind !== "storage" || !dtype || typeof key !== "string")
        throw new PickleError(`a persistent id that is not a PyTorch storage (${JSON.stringify(kind)})`);
      let s = storages.get(key);
      if (!s) {
        const data = files[`${prefix}data/${key}`];
        if (!data) throw new PickleError(`storage ${key} is not in the archive`);
        if (data.byteLength % dtype.bytes !== 0)
          throw new PickleError(
            `storage ${key} has ${data.byteLength} bytes, not a whole number of ${dtype.dtype} values`,
          );
        s = { ...dtype, data };
        storages.set(key, s);
      }
      return s;
    },
  };
}

function unzip(bytes: Uint8Array, path: string): Record<string, Uint8Array> {
  const zipMagic = bytes[0] === 0x50 && bytes[1] === 0x4b;
  if (!zipMagic) {
    const legacy = bytes[0] === 0x80 && bytes[1] === 0x02 && bytes[2] === 0x8a;
    throw new TorchCheckpointError(
      legacy
        ? `${path}: an older PyTorch file (not the zip format of PyTorch 1.6 and later); load it in PyTorch and torch.save it again`
        : `${path}: not a PyTorch checkpoint (no zip archive)`,
    );
  }
  // Each entry's central-directory record takes at least 46 bytes: an archive claiming more entries than its size
  // holds is damaged (the unzip would otherwise walk up to 2^32 of them, for hours).
  const room = Math.floor(bytes.length / 46);
  let entries = 0;
  try {
    // deflate expands at most about 1032 times; a larger claimed size is damage, not data to allocate for
    return unzipSync(bytes, {
      filter: (f) => {
        if (++entries > room) throw new Error(`more entries than ${bytes.length} bytes can hold`);
        if (f.originalSize > 1032 * f.size + 1024)
          throw new Error(`${f.name} claims ${f.originalSize} bytes from ${f.size}`);
        return true;
      },
    });
  } catch (err) {
    throw new TorchCheckpointError(`${path}: a damaged PyTorch archive (${(err as Error).message})`);
  }
}

/** The object a PyTorch checkpoint file holds, tensors as TorchTensor. */
export function readTorchFile(path: string): PickleValue {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new TorchCheckpointError(`cannot read ${path}: ${(err as Error).message}`);
  }
  const files = unzip(bytes, path);
  const pkl = Object.keys(files).find((n) => n.endsWith("/data.pkl") || n === "data.pkl");
  if (!pkl) throw new TorchCheckpointError(`${path}: the archive has no data.pkl`);
  const prefix = pkl.slice(0, pkl.length - "data.pkl".length);
  try {
    return unpickle(files[pkl] as Uint8Array, stateDictGlobals(files, prefix));
  } catch (err) {
    if (err instanceof PickleError) throw new TorchCheckpointError(`${path}: ${err.message}`);
    throw err;
  }
}

/** The state dict of a checkpoint file: the file's own dict of tensors, or DeepSpeed's under "module". */
export function readTorchStateDict(path: string): Map<string, TorchTensor> {
  const top = readTorchFile(path);
  const dict =
    top instanceof Map && top.get("module") instanceof Map ? (top.get("module") as Map<PickleValue, PickleValue>) : top;
  if (!(dict instanceof Map)) throw new TorchCheckpointError(`${path}: holds no dict of tensors (a state dict)`);
  const out = new Map<string, TorchTensor>();
  for (const [k, v] of dict) if (typeof k === "string" && v instanceof TorchTensor) out.set(k, v);
  if (out.size === 0) throw new TorchCheckpointError(`${path}: its dict holds no tensors`);
  return out;
}
