// A counter-based generator for training decisions (PLD gates): a uniform in [0, 1) that is a pure function of
// (seed, step, micro-batch, layer). No state to save, so a resumed run and every data-parallel rank draw exactly
// the same values. 32-bit integer hashing (Math.imul) keeps it fast without BigInt.

function mix32(x: number): number {
  // lowbias32 (Chris Wellons' hash prospector): a strong 32-bit avalanche mixer
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

/** A uniform in [0, 1) with 32 bits, from any number of non-negative integer coordinates. */
export function counterUniform(seed: number, ...coordinates: number[]): number {
  let h = mix32(seed ^ 0x9e3779b9);
  for (const c of coordinates) {
    // fold in 53-bit safe integers as two 32-bit halves
    h = mix32(h ^ mix32((c >>> 0) + 0x632be5ab));
    h = mix32(h ^ mix32(Math.floor(c / 4294967296) + 0x85157af5));
  }
  return h / 4294967296;
}
