// Gradients the golden script and the tests build bit-for-bit (mirror of synthetic_grad in
// scripts/make_golden.py): integer hashing, one correctly rounded division, a power-of-two scale per tensor.
export function syntheticGrad(tensorIndex: number, size: number, step: number): Float32Array {
  const out = new Float32Array(size);
  const scale = Math.pow(2, -(tensorIndex % 10));
  for (let i = 0; i < size; i++) {
    const h = (i * 2654435761 + step * 40503 + tensorIndex * 97) % 2001; // exact: below 2^53
    out[i] = ((h - 1000) / 1000) * scale;
  }
  return out;
}
