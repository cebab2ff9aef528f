// A small seeded generator (sfc32: 128-bit state, passes PractRand to 2^40+, fast in plain 32-bit arithmetic)
// for data preparation, where a sequence of draws is natural. Seeds are mixed so nearby seeds give unrelated
// streams; `forKey` derives an independent stream from coordinates (epoch, record) for load-time masking.
import { counterUniform } from "./counter-rng.js";

export class SeededRandom {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    this.a = Math.floor(counterUniform(seed, 1) * 4294967296) >>> 0;
    this.b = Math.floor(counterUniform(seed, 2) * 4294967296) >>> 0;
    this.c = Math.floor(counterUniform(seed, 3) * 4294967296) >>> 0;
    this.d = 1;
    for (let i = 0; i < 12; i++) this.nextUint32();
  }

  /** An independent generator for the given coordinates. */
  static forKey(seed: number, ...coordinates: number[]): SeededRandom {
    return new SeededRandom(Math.floor(counterUniform(seed, ...coordinates) * 4294967296));
  }

  nextUint32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = ((this.c << 21) | (this.c >>> 11)) >>> 0;
    this.c = (this.c + t) >>> 0;
    return t;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Uniform integer in [lo, hi], both ends included (Python's random.randint). */
  randint(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [items[i], items[j]] = [items[j] as T, items[i] as T];
    }
    return items;
  }
}
