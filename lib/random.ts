// A seeded generator that gives the same float32 values on every machine: xoshiro128** (Blackman
// and Vigna) seeded through splitmix32, in 32-bit integer arithmetic only.

/** splitmix32: the next state and output from a 32-bit state. */
function splitmix32(state: number): [number, number] {
  const next = (state + 0x9e3779b9) | 0;
  let z = next;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return [next, (z ^ (z >>> 16)) >>> 0];
}

export class Random {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  /** @param seed an unsigned 32-bit integer */
  constructor(seed: number) {
    let st = seed | 0;
    const words: number[] = [];
    for (let i = 0; i < 4; ++i) {
      const [next, out] = splitmix32(st);
      st = next;
      words.push(out | 0);
    }
    [this.s0, this.s1, this.s2, this.s3] = words;
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** The next unsigned 32-bit integer. */
  nextUint32(): number {
    const s1 = this.s1;
    const m = Math.imul(s1, 5);
    const r = Math.imul((m << 7) | (m >>> 25), 9);
    const t = s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = (this.s3 << 11) | (this.s3 >>> 21);
    return r >>> 0;
  }

  /** Uniform in [0, 1) with 24 random bits (exact in float32). */
  nextUnit(): number {
    return (this.nextUint32() >>> 8) / 16777216;
  }

  /** Fills `out` with float32 values uniform in [-bound, bound). */
  fillUniform(out: Float32Array, bound: number, start = 0, end = out.length): void {
    for (let i = start; i < end; ++i) out[i] = (2 * this.nextUnit() - 1) * bound;
  }
}

/** A random unsigned 32-bit seed (for layers created without one). */
export function randomSeed(): number {
  return Math.floor(Math.random() * 0x100000000) >>> 0;
}
