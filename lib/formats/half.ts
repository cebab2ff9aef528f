// 16-bit floats widened to fp32, exactly (every bf16 and fp16 value is an fp32 value): bf16 is the top half of
// an fp32; IEEE fp16 has 5 exponent bits (bias 15) and 10 mantissa bits, with subnormals, infinities and NaN.

export function bf16ToFloat32(bits: Uint16Array): Float32Array {
  const out = new Uint32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = (bits[i] as number) << 16;
  return new Float32Array(out.buffer);
}

function f16Value(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24; // zero and subnormals
  if (exponent === 0x1f) return mantissa ? NaN : sign * Infinity;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

export function f16ToFloat32(bits: Uint16Array): Float32Array {
  return Float32Array.from(bits, f16Value);
}
