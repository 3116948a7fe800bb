// setNumThreads: reported by info(), used from the next call on, and results do not depend on
// it (the kernel splits work over output rows; the sum order per element is fixed).
import os from 'node:os';
import { describe, expect, it } from 'vitest';

import {
  Dense,
  ErrorCode,
  GRU,
  LSTM,
  Tensor,
  info,
  maxThreads,
  setNumThreads,
} from '../../lib/index';
import { loadNative } from '../../lib/native';

function filled(shape: number[]): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; ++i) data[i] = Math.cos(i * 0.11);
  return new Tensor(data, shape);
}

const same = (a: Tensor, b: Tensor) =>
  Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength).equals(
    Buffer.from(b.data.buffer, b.data.byteOffset, b.data.byteLength),
  );

describe('threads', () => {
  it('reports the runtime', () => {
    const i = info();
    expect(i.isas).toContain('scalar');
    expect(i.isas).toContain(i.isa);
    expect(i.threads).toBeGreaterThanOrEqual(1);
    expect(typeof i.openmp).toBe('boolean');
    expect(i.version).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('caps setNumThreads at 8 per hardware thread, at most 256 (a RangeError with a code)', () => {
    const max = maxThreads();
    expect(max).toBe(Math.min(256, 8 * os.cpus().length));
    expect(info().maxThreads).toBe(max);
    const before = info().threads;
    try {
      for (const bad of [max + 1, 1024, 257]) {
        let error: (Error & { code?: string }) | undefined;
        try {
          setNumThreads(bad);
        } catch (e) {
          error = e as Error & { code?: string };
        }
        expect(error, `setNumThreads(${bad})`).toBeInstanceOf(RangeError);
        expect(error?.code).toBe(ErrorCode.INVALID_ARG);
        expect(error?.message).toContain(String(max));
        expect(info().threads).toBe(before);
      }
      // The binding refuses on its own too (the TypeScript check is not the only one).
      const addon = loadNative() as { setNumThreads(n: number): void };
      expect(() => addon.setNumThreads(max + 1)).toThrow(RangeError);
      setNumThreads(max);
      expect(info().threads).toBe(max);
    } finally {
      setNumThreads(before);
    }
  });

  it('gives the same bits on 1 and 2 threads', async () => {
    for (const make of [
      () => new LSTM({ inputSize: 48, hiddenSize: 96, numLayers: 2, bidirectional: true, seed: 4 }),
      () => new GRU({ inputSize: 48, hiddenSize: 96, seed: 4 }),
    ]) {
      const layer = make();
      const x = filled([30, 16, 48]);
      const grad = filled([30, 16, layer.outputSize]);
      const run = () => {
        layer.zeroGrad();
        const f = layer.forward(x, { train: true });
        const b = layer.backward({ output: grad });
        return { f, b, g: layer.gradients() };
      };
      setNumThreads(1);
      expect(info().threads).toBe(1);
      const one = run();
      setNumThreads(2);
      expect(info().threads).toBe(2);
      const two = run();
      const asyncTwo = await layer.forwardAsync(x);
      expect(same(one.f.output, two.f.output)).toBe(true);
      expect(same(one.f.output, asyncTwo.output)).toBe(true);
      expect(same(one.b.x, two.b.x)).toBe(true);
      for (const name of Object.keys(one.g))
        expect(same(one.g[name], two.g[name]), name).toBe(true);
    }
  });

  it('runs an int8 Dense on the threads with the same bits', () => {
    // 256 rows × 256 → 320 (42 MFLOP: above the threshold where a product takes the threads).
    const dense = new Dense({ inputSize: 256, outputSize: 320, seed: 3 }).quantize();
    const x = filled([256, 256]);
    const before = info().threads;
    try {
      setNumThreads(1);
      const one = dense.forward(x).output;
      for (const n of [2, 3]) {
        setNumThreads(n);
        expect(same(one, dense.forward(x).output), `${n} threads`).toBe(true);
      }
      // A row alone (one thread) equals the same row of the threaded product.
      const row = dense.forward(filled([1, 256])).output;
      expect(Array.from(row.data)).toEqual(Array.from(one.data.subarray(0, 320)));
    } finally {
      setNumThreads(before);
    }
  });

  it('runs small stacked inference as a wavefront with the same bits', async () => {
    // Steps of B = 1 are too small to split, so on 2 threads layer 1 runs one chunk behind
    // layer 0 on the other thread; with lengths, h0 and c0 as well.
    const layer = new LSTM({ inputSize: 24, hiddenSize: 64, numLayers: 3, seed: 9 });
    const x = filled([200, 2, 24]);
    const opts = { lengths: [200, 137], h0: filled([3, 2, 64]), c0: filled([3, 2, 64]) };
    setNumThreads(1);
    const one = layer.forward(x, opts);
    setNumThreads(2);
    const two = layer.forward(x, opts);
    const asyncTwo = await layer.forwardAsync(x, opts);
    for (const r of [two, asyncTwo]) {
      expect(same(one.output, r.output)).toBe(true);
      expect(same(one.h, r.h)).toBe(true);
      expect(same(one.c!, r.c!)).toBe(true);
    }
  });
});
