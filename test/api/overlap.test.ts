// `into` overlap is decided by memory address in the binding (issue 11, item 5): a second
// SharedArrayBuffer object over the same memory (structuredClone(sab)) hides the aliasing from
// a check that compares buffer objects, and a bidirectional layer then computed wrong numbers
// without a word. Now it is a RangeError with code ERR_CELLSTATE_INVALID_ARG, and nothing is
// written.
import { describe, expect, it } from 'vitest';

import { ErrorCode, GRU, LSTM, Tensor } from '../../lib/index';

const T = 4;
const B = 2;
const I = 6;
const H = 3; // bidirectional: D·R = 6 = I, so output can alias x exactly

function filled(a: Float32Array, seed: number): Float32Array {
  for (let i = 0; i < a.length; ++i) a[i] = Math.sin(seed + i * 0.7);
  return a;
}

function caught(fn: () => unknown): { code?: string; message: string } | null {
  try {
    fn();
  } catch (e) {
    return e as { code?: string; message: string };
  }
  return null;
}

describe('into overlap by address', () => {
  it('structuredClone of a SharedArrayBuffer is another object over the same memory', () => {
    const sab = new SharedArrayBuffer(16);
    const clone = structuredClone(sab);
    expect(clone).not.toBe(sab);
    new Float32Array(clone)[0] = 5;
    expect(new Float32Array(sab)[0]).toBe(5);
  });

  it('refuses into.output over x through a cloned SharedArrayBuffer (forward and forwardAsync)', async () => {
    const layer = new GRU({ inputSize: I, hiddenSize: H, bidirectional: true, seed: 3 });
    const sab = new SharedArrayBuffer(T * B * I * 4);
    const xData = filled(new Float32Array(sab), 1);
    const x = new Tensor(xData, [T, B, I]);
    const before = xData.slice();
    const want = layer.forward(new Tensor(before.slice(), [T, B, I]));
    const fresh = layer.forward(x);
    const into = {
      output: new Tensor(new Float32Array(structuredClone(sab)), [T, B, 2 * H]),
      h: fresh.h,
    };
    const hBefore = fresh.h.data.slice();
    const e = caught(() => layer.forward(x, { into }));
    expect(e, 'expected a RangeError').not.toBeNull();
    expect(e).toBeInstanceOf(RangeError);
    expect(e?.code).toBe(ErrorCode.INVALID_ARG);
    expect(e?.message).toContain('output');
    expect(e?.message).toContain('x');
    // Nothing written: x (= the aliased output) and into.h are as they were.
    expect(Array.from(xData)).toEqual(Array.from(before));
    expect(Array.from(fresh.h.data)).toEqual(Array.from(hBefore));
    await expect(layer.forwardAsync(x, { into })).rejects.toMatchObject({
      code: ErrorCode.INVALID_ARG,
    });
    expect(Array.from(xData)).toEqual(Array.from(before));
    // The layer still gives the right answer.
    expect(Array.from(layer.forward(x).output.data)).toEqual(Array.from(want.output.data));
  });

  it('refuses partial overlaps of states through a clone, allows exactly h0 = into.h', () => {
    const layer = new LSTM({ inputSize: 2, hiddenSize: H, numLayers: 2, seed: 4 });
    const x = new Tensor(filled(new Float32Array(T * B * 2), 2), [T, B, 2]);
    const n = 2 * B * H; // [L·D, B, H]
    const sab = new SharedArrayBuffer((n + 1) * 4);
    const h0 = new Tensor(filled(new Float32Array(sab, 0, n), 3), [2, B, H]);
    const c0 = new Tensor(filled(new Float32Array(n), 4), [2, B, H]);
    const base = layer.forward(x);
    // into.h one element further into the same memory: overlaps h0 without being it.
    const shifted = {
      output: base.output,
      h: new Tensor(new Float32Array(structuredClone(sab), 4, n), [2, B, H]),
      c: base.c as Tensor,
    };
    const e = caught(() => layer.forward(x, { h0, c0, into: shifted }));
    expect(e?.code).toBe(ErrorCode.INVALID_ARG);
    expect(e?.message).toContain('hN');
    // into.h exactly over h0 (the chunk loop's state carry) through a clone: allowed and right.
    const want = layer.forward(x, { h0: new Tensor(h0.data.slice(), [2, B, H]), c0 });
    const same = {
      output: base.output,
      h: new Tensor(new Float32Array(structuredClone(sab), 0, n), [2, B, H]),
      c: base.c as Tensor,
    };
    const got = layer.forward(x, { h0, c0, into: same });
    expect(Array.from(got.h.data)).toEqual(Array.from(want.h.data));
    expect(Array.from(h0.data)).toEqual(Array.from(want.h.data));
  });

  it('refuses backward into.x over the output gradient through a clone', () => {
    const layer = new GRU({ inputSize: I, hiddenSize: H, bidirectional: true, seed: 5 });
    const x = new Tensor(filled(new Float32Array(T * B * I), 6), [T, B, I]);
    layer.forward(x, { train: true });
    const sab = new SharedArrayBuffer(T * B * I * 4);
    const dOut = new Tensor(filled(new Float32Array(sab), 7), [T, B, 2 * H]);
    const first = layer.backward({ output: new Tensor(dOut.data.slice(), [T, B, 2 * H]) });
    layer.forward(x, { train: true });
    const into = {
      x: new Tensor(new Float32Array(structuredClone(sab)), [T, B, I]),
      h0: first.h0,
    };
    const e = caught(() => layer.backward({ output: dOut }, { into }));
    expect(e?.code).toBe(ErrorCode.INVALID_ARG);
    expect(e?.message).toContain('dx');
    // Refused before running: the pending backward is still there.
    expect(layer.backward({ output: dOut }).x.data.every(Number.isFinite)).toBe(true);
  });
});
