// Central finite differences for float32 layers, the loss summed in double.
//
// L(θ) = Σ out ⊙ R for a fixed random R; the analytic gradient is backward({ output: R }). Each
// parameter (or input) value is moved by ±eps in float32 and the difference is divided by the
// actual float32 step, so rounding of θ ± eps does not bias the estimate.
import { Tensor } from '../../lib/index';

/** A deterministic pseudo-random sequence in [-1, 1) (LCG; tests only). */
export function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 4294967296) * 2 - 1;
  };
}

export function randomTensor(shape: number[], seed: number, scale = 1): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const r = lcg(seed);
  const data = new Float32Array(n);
  for (let i = 0; i < n; ++i) data[i] = r() * scale;
  return new Tensor(data, shape);
}

/** Σ a ⊙ r in double. */
export function dot(a: Float32Array, r: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; ++i) s += a[i] * r[i];
  return s;
}

/** Indices of up to `count` elements of an array of length n, spread evenly (all when n ≤ count). */
export function sampleIndices(n: number, count: number): number[] {
  if (n <= count) return Array.from({ length: n }, (_, i) => i);
  const out: number[] = [];
  for (let k = 0; k < count; ++k) out.push(Math.floor(((k + 0.5) * n) / count));
  return out;
}

export interface FdMismatch {
  name: string;
  index: number;
  analytic: number;
  numeric: number;
}

/**
 * Compares analytic gradients with central differences of `loss()` for the elements of
 * `values` (mutated in place and restored; `apply()` is called after each change).
 * Returns the mismatches beyond atol + rtol·|numeric|.
 */
export function checkGradient(opts: {
  name: string;
  values: Float32Array;
  analytic: Float32Array;
  loss: () => number;
  apply?: () => void;
  eps: number;
  atol: number;
  rtol: number;
  count?: number;
}): FdMismatch[] {
  const { values, analytic, eps, atol, rtol } = opts;
  const bad: FdMismatch[] = [];
  for (const i of sampleIndices(values.length, opts.count ?? 40)) {
    const v0 = values[i];
    values[i] = v0 + eps;
    const up = values[i];
    opts.apply?.();
    const lp = opts.loss();
    values[i] = v0 - eps;
    const down = values[i];
    opts.apply?.();
    const lm = opts.loss();
    values[i] = v0;
    opts.apply?.();
    const numeric = (lp - lm) / (up - down);
    if (!(Math.abs(numeric - analytic[i]) <= atol + rtol * Math.abs(numeric)))
      bad.push({ name: opts.name, index: i, analytic: analytic[i], numeric });
  }
  return bad;
}
