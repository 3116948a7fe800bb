// Shared helpers of the streaming tests.
import { GRU, LSTM, RNN, Tensor } from '../../lib/index';
import type { Recurrent } from '../../lib/layers/recurrent';

/** A small deterministic generator (LCG) so that failures reproduce. */
export class Lcg {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 1;
  }
  next(): number {
    this.s = (Math.imul(this.s, 1664525) + 1013904223) >>> 0;
    return this.s / 2 ** 32;
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)];
  }
  floats(n: number, scale = 1): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; ++i) out[i] = (this.next() * 2 - 1) * scale;
    return out;
  }
}

export type AnyConfig = Record<string, unknown> & {
  cell: 'lstm' | 'gru' | 'rnn';
  inputSize: number;
  hiddenSize: number;
};

export function makeLayer(config: AnyConfig): Recurrent {
  const { cell, ...options } = config;
  if (cell === 'lstm') return new LSTM(options as never);
  if (cell === 'gru') return new GRU(options as never);
  return new RNN(options as never);
}

/** Frame t of sequence range [b0, b0 + n) of x `[T, B, F]` (or `[B, T, F]` with batchFirst). */
export function frame(
  x: Float32Array,
  T: number,
  B: number,
  F: number,
  t: number,
  b0: number,
  n: number,
  batchFirst = false,
): Float32Array {
  const out = new Float32Array(n * F);
  for (let j = 0; j < n; ++j) {
    const b = b0 + j;
    const at = batchFirst ? (b * T + t) * F : (t * B + b) * F;
    out.set(x.subarray(at, at + F), j * F);
  }
  return out;
}

/** Rows [b0, b0 + n) of a state `[L, B, S]` as `[L, n, S]`. */
export function stateRows(s: Tensor, b0: number, n: number): Tensor {
  const [L, B, S] = s.shape;
  const out = new Float32Array(L * n * S);
  for (let l = 0; l < L; ++l)
    out.set(s.data.subarray((l * B + b0) * S, (l * B + b0 + n) * S), l * n * S);
  void B;
  return new Tensor(out, [L, n, S]);
}

/** The index of the first element where a and b differ (bitwise, NaN-aware), or -1. */
export function firstDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; ++i) if (!Object.is(a[i], b[i])) return i;
  return -1;
}
