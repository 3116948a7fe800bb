// int8 dynamic quantization of recurrent layers (issue 17): layer.quantize() runs forward and
// the layer's streams on int8 weights and per-row int8 activations. Its results stay within the
// quantization error of float (the bound next to the check), streaming equals forward bit for
// bit, training is refused with a code and changes nothing, new parameters are quantized again,
// and dequantize() runs float on the int8 weights (the layer keeps no float copy); every cell and
// option works quantized.
import { describe, expect, it } from 'vitest';

import type { NativeLayer } from '../../lib/binding';
import { ErrorCode, GRU, LSTM, RNN, Tensor } from '../../lib/index';
import { maxDiff } from '../helpers/compare';

function input(T: number, B: number, I: number, seed: number): Tensor {
  return new Tensor(
    Float32Array.from({ length: T * B * I }, (_, i) => Math.sin(seed + i * 0.37)),
    [T, B, I],
  );
}

const T = 9;
const B = 3;
const I = 12;
const opts = { inputSize: I, hiddenSize: 40, numLayers: 2, seed: 5 };

describe('LSTM.quantize()', () => {
  it('runs forward in int8 within the quantization error of float', () => {
    const layer = new LSTM(opts);
    const x = input(T, B, I, 1);
    const f = layer.forward(x);
    expect(layer.quantized).toBe(false);
    expect(layer.quantize()).toBe(layer);
    expect(layer.quantized).toBe(true);
    const q = layer.forward(x);
    const d = maxDiff(q.output.data, f.output.data);
    // Bound: 2e-2, above PyTorch's dynamic quantization (onednn) on the fixture shapes
    // (scripts/quant/torch-dynamic-accuracy.py, up to 1.7e-2); > 0: the int8 path ran.
    expect(d).toBeGreaterThan(0);
    expect(d).toBeLessThan(2e-2);
    expect(maxDiff(q.h.data, f.h.data)).toBeLessThan(2e-2);
    expect(maxDiff(q.c!.data, f.c!.data)).toBeLessThan(2e-2);
  });

  it('streams bit for bit like its forward, also for a stream opened before quantize()', () => {
    const layer = new LSTM(opts);
    const before = layer.stream({ batch: B });
    layer.quantize();
    const after = layer.stream({ batch: B });
    const x = input(T, B, I, 2);
    const y = layer.forward(x).output.data;
    for (let t = 0; t < T; ++t) {
      const frame = x.data.subarray(t * B * I, (t + 1) * B * I);
      const want = y.subarray(t * B * 40, (t + 1) * B * 40);
      expect(Array.from(before.step(frame))).toEqual(Array.from(want));
      expect(Array.from(after.step(frame))).toEqual(Array.from(want));
    }
  });

  it('refuses training with a code and changes nothing', () => {
    const layer = new LSTM(opts).quantize();
    const x = input(T, B, I, 3);
    const y = layer.forward(x).output.data.slice();
    const refused = expect.objectContaining({ code: ErrorCode.UNSUPPORTED });
    expect(() => layer.forward(x, { train: true })).toThrow(refused);
    expect(layer.quantized).toBe(true);
    expect(() => layer.backward()).toThrow(expect.objectContaining({ code: ErrorCode.NO_FORWARD }));
    expect(Array.from(layer.forward(x).output.data)).toEqual(Array.from(y));
  });

  it('quantizes new parameters again; dequantize() returns to float on the int8 weights', () => {
    const layer = new LSTM(opts);
    const x = input(T, B, I, 4);
    const float = layer.parameters();
    const f = layer.forward(x).output.data.slice();
    layer.quantize();
    const q = layer.forward(x).output.data.slice();
    // The layer keeps no float weights: parameters() are the int8 ones dequantized, each within
    // half a step (scale / 2) of the float weight; biases as they were.
    const p = layer.parameters();
    const { values, scale } = layer.quantizedParameters().weight_hh_l0;
    const cols = p.weight_hh_l0.shape[1];
    for (let i = 0; i < values.length; ++i) {
      const s = scale[Math.floor(i / cols)];
      expect(p.weight_hh_l0.data[i]).toBe(Math.fround(values[i] * s));
      expect(Math.abs(p.weight_hh_l0.data[i] - float.weight_hh_l0.data[i])).toBeLessThanOrEqual(
        s / 2 + 1e-7,
      );
    }
    expect(Array.from(p.bias_hh_l1.data)).toEqual(Array.from(float.bias_hh_l1.data));
    const w = p.weight_hh_l0.data;
    for (let i = 0; i < w.length; ++i) w[i] *= 0.5;
    layer.setParameters(p);
    expect(layer.quantized).toBe(true);
    const q2 = layer.forward(x).output.data;
    expect(maxDiff(q2, q)).toBeGreaterThan(1e-3);
    for (let i = 0; i < w.length; ++i) w[i] *= 2;
    layer.setParameters(p);
    expect(Array.from(layer.forward(x).output.data)).toEqual(Array.from(q));
    expect(layer.dequantize()).toBe(layer);
    expect(layer.quantized).toBe(false);
    // Float on the dequantized weights: bit for bit a float layer given them.
    const ref = new LSTM(opts);
    ref.setParameters(p);
    const back = layer.forward(x).output.data;
    expect(Array.from(back)).toEqual(Array.from(ref.forward(x).output.data));
    expect(maxDiff(back, f)).toBeGreaterThan(0);
    expect(maxDiff(back, f)).toBeLessThan(2e-2);
  });

  it('holds only its int8 weights: the native memory reported to V8 shrinks', () => {
    // LSTM 512→512: 2.1 M parameters. Float: parameters, gradients and packed weights (~25 MB);
    // int8: a byte per weight and the float biases (~2 MB).
    const layer = new LSTM({ inputSize: 512, hiddenSize: 512, seed: 1 });
    const reported = () => (layer as unknown as { native: NativeLayer }).native.externalBytes;
    const weights = 2 * 4 * 512 * 512;
    const floatBytes = reported();
    expect(floatBytes).toBeGreaterThan(3 * 4 * weights);
    layer.quantize();
    const int8Bytes = reported();
    expect(int8Bytes).toBeGreaterThan(weights);
    expect(int8Bytes).toBeLessThan(1.2 * weights);
    layer.dequantize();
    expect(reported()).toBeGreaterThanOrEqual(floatBytes);
    expect(reported()).toBeLessThan(1.01 * floatBytes);
    layer.dispose();
    expect(reported()).toBe(0);
  });

  // Every cell and option: within the bound of float, lengths (each row as the sequence
  // alone), batch-first (as time-major) and dequantize() bit for bit like float on the int8
  // weights.
  type Ctor = new (o: Record<string, unknown>) => LSTM | GRU | RNN;
  const cases: [string, Ctor, Record<string, unknown>, number][] = [
    ['GRU', GRU, { hiddenSize: 24, numLayers: 2, seed: 1 }, 2e-2],
    [
      'GRU resetAfter false, bidirectional',
      GRU,
      { hiddenSize: 24, resetAfter: false, bidirectional: true, seed: 2 },
      2e-2,
    ],
    // The RNN: no gate damps the error of h_{t-1} (cpp/tests/qlayer_test.cc: 4e-2).
    ['RNN tanh', RNN, { hiddenSize: 24, seed: 3 }, 4e-2],
    [
      'RNN relu, reverse',
      RNN,
      { hiddenSize: 24, nonlinearity: 'relu', direction: 'reverse', seed: 4 },
      4e-2,
    ],
    [
      'LSTM bidirectional, projSize, peephole',
      LSTM,
      { hiddenSize: 24, numLayers: 2, bidirectional: true, projSize: 9, peephole: true, seed: 5 },
      2e-2,
    ],
    // layerNorm divides the product's error by the spread of W_hh h (qlayer_test: 6e-2).
    ['LSTM layerNorm', LSTM, { hiddenSize: 24, layerNorm: true, seed: 6 }, 6e-2],
  ];
  for (const [name, Layer, o, bound] of cases) {
    it(`quantizes ${name}: lengths, batch-first, dequantize`, () => {
      const layer = new Layer({ inputSize: I, ...o });
      const x = input(T, B, I, 7);
      const lengths = [T, 5, 2];
      const f = layer.forward(x, { lengths }).output.data.slice();
      layer.quantize();
      expect(layer.quantized).toBe(true);
      const q = layer.forward(x, { lengths }).output;
      const d = maxDiff(q.data, f);
      expect(d).toBeGreaterThan(0);
      expect(d).toBeLessThan(bound);
      const F = q.shape[2];
      for (let b = 0; b < B; ++b) {
        // The row alone: T = its length, B = 1.
        const len = lengths[b];
        const xb = new Tensor(new Float32Array(len * I), [len, 1, I]);
        for (let t = 0; t < len; ++t)
          xb.data.set(x.data.subarray((t * B + b) * I, (t * B + b + 1) * I), t * I);
        const alone = layer.forward(xb).output.data;
        for (let t = 0; t < T; ++t) {
          const got = Array.from(q.data.subarray((t * B + b) * F, (t * B + b + 1) * F));
          const want =
            t < len ? Array.from(alone.subarray(t * F, (t + 1) * F)) : new Array(F).fill(0);
          expect(got).toEqual(want);
        }
      }
      // Batch-first: the same numbers transposed.
      const xbf = new Tensor(new Float32Array(x.data.length), [B, T, I]);
      for (let t = 0; t < T; ++t)
        for (let b = 0; b < B; ++b)
          xbf.data.set(x.data.subarray((t * B + b) * I, (t * B + b + 1) * I), (b * T + t) * I);
      const bf = new Layer({ inputSize: I, ...o, batchFirst: true }).quantize();
      const ybf = bf.forward(xbf, { lengths }).output.data;
      for (let t = 0; t < T; ++t)
        for (let b = 0; b < B; ++b)
          expect(Array.from(ybf.subarray((b * T + t) * F, (b * T + t + 1) * F))).toEqual(
            Array.from(q.data.subarray((t * B + b) * F, (t * B + b + 1) * F)),
          );
      // Back to float on the int8 weights: a float layer given them.
      const dq = layer.parameters();
      layer.dequantize();
      const ref = new Layer({ inputSize: I, ...o });
      ref.setParameters(dq);
      expect(Array.from(layer.forward(x, { lengths }).output.data)).toEqual(
        Array.from(ref.forward(x, { lengths }).output.data),
      );
    });
  }
});
