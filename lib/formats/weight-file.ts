// A file of model weights, whichever format it comes in: safetensors, or a PyTorch checkpoint (HuggingFace's
// pytorch_model.bin, DeepSpeed's mp_rank_00_model_states.pt). The weight loader sees names, shapes, dtypes and
// fp32 values only.
import { readSafetensors, tensorFloat32 } from "./safetensors.js";
import { readTorchStateDict } from "./torch-checkpoint.js";

export interface WeightFile {
  path: string;
  names: string[];
  shape(name: string): number[];
  dtype(name: string): string;
  float32(name: string): Float32Array;
}

/** The weight files a model folder may hold, in the order they are preferred. */
export const WEIGHT_FILE_NAMES = ["model.safetensors", "pytorch_model.bin"] as const;

export function readWeightFile(path: string): WeightFile {
  if (path.endsWith(".safetensors")) {
    const f = readSafetensors(path);
    const get = (n: string) => f.tensors.get(n) as { dtype: string; shape: number[] };
    return {
      path,
      names: [...f.tensors.keys()],
      shape: (n) => get(n).shape,
      dtype: (n) => get(n).dtype,
      float32: (n) => tensorFloat32(f, n),
    };
  }
  const sd = readTorchStateDict(path);
  const get = (n: string) => sd.get(n) as NonNullable<ReturnType<typeof sd.get>>;
  return {
    path,
    names: [...sd.keys()],
    shape: (n) => get(n).shape,
    dtype: (n) => get(n).dtype,
    float32: (n) => get(n).float32(n),
  };
}
