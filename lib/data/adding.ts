// The adding problem (Hochreiter and Schmidhuber 1997, in the form of Le et al. 2015): sequences
// of T steps with two features, a value uniform in [0, 1) and a marker that is 1 at exactly two
// steps, one in each half; the target is the sum of the two marked values. Answering the mean,
// 1.0, scores a mean squared error of Var(u1 + u2) = 1/6 ≈ 0.167; a model must carry the first
// value across up to T steps to do better. Generated from a seed, the same on every machine.
import { OptionReader } from '../options';
import { Random } from '../random';
import { Tensor } from '../tensor';

/** Options of addingProblem. */
export interface AddingProblemOptions {
  /** Sequences, an integer ≥ 1. Required. */
  n: number;
  /** Steps per sequence, an even integer ≥ 2. Default 100. */
  T?: number | undefined;
  /** Seed, an unsigned 32-bit integer. Default 0. */
  seed?: number | undefined;
}

/** `{ x [n, T, 2], y [n, 1] }`, sample-first (the layout of Sequential.fit). */
export function addingProblem(options: AddingProblemOptions): { x: Tensor; y: Tensor } {
  const r = new OptionReader(options, 'addingProblem', ['n', 'T', 'seed']);
  const n = r.int('n', 1, 1 << 24);
  const T = r.int('T', 2, 1 << 20, 100);
  const seed = r.int('seed', 0, 0xffffffff, 0);
  const half = Math.floor(T / 2);
  const rng = new Random(seed);
  const x = new Float32Array(n * T * 2);
  const y = new Float32Array(n);
  for (let s = 0; s < n; ++s) {
    const i = Math.floor(rng.nextUnit() * half);
    const j = half + Math.floor(rng.nextUnit() * (T - half));
    let sum = 0;
    for (let t = 0; t < T; ++t) {
      const v = rng.nextUnit();
      const o = (s * T + t) * 2;
      x[o] = v;
      if (t === i || t === j) {
        x[o + 1] = 1;
        sum += v;
      }
    }
    y[s] = sum;
  }
  return { x: new Tensor(x, [n, T, 2]), y: new Tensor(y, [n, 1]) };
}
