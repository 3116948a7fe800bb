// The native GEMM entries behind Dense (cpp/binding/matmul.cc): every transpose combination,
// bias and accumulation on sizes below, at and above the micro-kernel tiles, against a double
// reference; PackedMatrix; refusals of wrong sizes and types without crashing.
import { describe, expect, it } from 'vitest';

import { matmul, packMatrix } from '../../lib/layers/matmul';
import { randomTensor } from '../helpers/fd';

function reference(
  M: number,
  N: number,
  K: number,
  A: Float32Array,
  aT: boolean,
  B: Float32Array,
  bT: boolean,
) {
  const C = new Float64Array(M * N);
  for (let m = 0; m < M; ++m)
    for (let n = 0; n < N; ++n) {
      let s = 0;
      for (let k = 0; k < K; ++k)
        s += (aT ? A[k * M + m] : A[m * K + k]) * (bT ? B[n * K + k] : B[k * N + n]);
      C[m * N + n] = s;
    }
  return C;
}

const SIZES = [1, 3, 7, 8, 9, 17, 33];

describe('matmul', () => {
  for (const aT of [false, true])
    for (const bT of [false, true])
      it(`aTrans ${aT}, bTrans ${bT}, with bias and accumulation, awkward sizes`, () => {
        let seed = 1;
        for (const M of SIZES)
          for (const N of [1, 9, 17])
            for (const K of [1, 8, 33]) {
              const A = randomTensor([M * K], seed++).data;
              const B = randomTensor([K * N], seed++).data;
              const bias = randomTensor([N], seed++).data;
              const C0 = randomTensor([M * N], seed++).data;
              const ref = reference(M, N, K, A, aT, B, bT);
              const C = C0.slice();
              matmul(M, N, K, A, aT, B, bT, bias, C, true);
              for (let i = 0; i < M * N; ++i)
                // float32 sums of K ≤ 33 products of values ≤ 1: 1e-5
                expect(Math.abs(C[i] - (C0[i] + bias[i % N] + ref[i]))).toBeLessThan(1e-5);
              const D = new Float32Array(M * N).fill(7);
              matmul(M, N, K, A, aT, B, bT, null, D, false);
              for (let i = 0; i < M * N; ++i) expect(Math.abs(D[i] - ref[i])).toBeLessThan(1e-5);
            }
      });

  // K a multiple of 1024: A's rows are 4 KB apart, so matmul copies A with a padded row stride
  // before the GEMM (cpp/src/cell/matmul.cc); the result is the same chain as PackedMatrix's,
  // which reads A in place.
  it('row strides that are a multiple of 4 KB: the padded copy of A gives the same bits', () => {
    let seed = 100;
    const K = 1024;
    const N = 17;
    for (const aT of [false, true])
      for (const bT of [false, true])
        for (const M of [2, 11, 12, 13, 25]) {
          const A = randomTensor([M * K], seed++).data;
          const B = randomTensor([K * N], seed++).data;
          const bias = randomTensor([N], seed++).data;
          const C = new Float32Array(M * N);
          matmul(M, N, K, A, aT, B, bT, bias, C, false);
          const X = new Float32Array(M * K); // A as [M, K]
          for (let m = 0; m < M; ++m)
            for (let k = 0; k < K; ++k) X[m * K + k] = aT ? A[k * M + m] : A[m * K + k];
          const P = new Float32Array(M * N);
          const p = packMatrix(K, N, B, bT, bias);
          p.apply(M, X, P);
          p.dispose();
          expect(C).toEqual(P);
          const ref = reference(M, N, K, A, aT, B, bT);
          // float32 sums of 1024 products of values ≤ 1: 1e-4
          for (let i = 0; i < M * N; ++i)
            expect(Math.abs(C[i] - (bias[i % N] + ref[i]))).toBeLessThan(1e-4);
        }
  });

  it('refuses wrong element counts, types and sizes', () => {
    const a = new Float32Array(6);
    const b = new Float32Array(6);
    expect(() => matmul(2, 2, 3, a, false, b, false, null, new Float32Array(3), false)).toThrow(
      /C must have 4 elements, got 3/,
    );
    expect(() =>
      matmul(2, 2, 3, a, false, new Float32Array(5), false, null, new Float32Array(4), false),
    ).toThrow(RangeError);
    expect(() =>
      matmul(2, 2, 3, a, false, b, false, new Float32Array(3), new Float32Array(4), false),
    ).toThrow(/bias/);
    expect(() => matmul(0, 2, 3, a, false, b, false, null, new Float32Array(4), false)).toThrow(
      RangeError,
    );
    expect(() =>
      matmul(
        2,
        2,
        3,
        new Float64Array(6) as never,
        false,
        b,
        false,
        null,
        new Float32Array(4),
        false,
      ),
    ).toThrow(TypeError);
    expect(() =>
      matmul(2, 2, 3, a, 1 as never, b, false, null, new Float32Array(4), false),
    ).toThrow(TypeError);
  });
});

describe('PackedMatrix', () => {
  it('applies x · Wᵀ + b for any row count, as matmul does', () => {
    for (const [K, N] of [
      [1, 1],
      [7, 9],
      [33, 17],
    ]) {
      const W = randomTensor([N * K], K).data; // [N, K], as a Dense weight
      const bias = randomTensor([N], N).data;
      const p = packMatrix(K, N, W, true, bias);
      expect([p.rows, p.cols]).toEqual([K, N]);
      for (const M of [1, 3, 8]) {
        const X = randomTensor([M * K], M).data;
        const C = new Float32Array(M * N);
        p.apply(M, X, C);
        const D = new Float32Array(M * N);
        matmul(M, N, K, X, false, W, true, bias, D, false);
        for (let i = 0; i < M * N; ++i) expect(C[i]).toBeCloseTo(D[i], 6);
      }
    }
  });

  it('refuses wrong sizes', () => {
    const p = packMatrix(3, 2, new Float32Array(6), false, null);
    expect(() => p.apply(2, new Float32Array(5), new Float32Array(4))).toThrow(
      /X must have 6 elements, got 5/,
    );
    expect(() => p.apply(2, new Float32Array(6), new Float32Array(3))).toThrow(
      /C must have 4 elements/,
    );
    expect(() => packMatrix(3, 2, new Float32Array(5), false, null)).toThrow(RangeError);
    expect(() => packMatrix(0, 2, new Float32Array(0), false, null)).toThrow(RangeError);
  });
});
