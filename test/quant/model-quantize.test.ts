// quantize(model, { dtype: 'int8' }) and the int8 Dense and Embedding (issue 17). Dense: the int8
// GEMM gives what the scheme computes in float64 (weights per output row, inputs per row,
// exact int32 sums), streams equal forward bit for bit; Embedding: each row is the dequantized
// int8 row; the model-level call copies by default (the original predicts bit for bit as
// before), quantizes in place on request, refuses what it cannot quantize with nothing changed,
// and a quantized model refuses training.
import { describe, expect, it } from 'vitest';

import {
  Dense,
  Dropout,
  Embedding,
  ErrorCode,
  LSTM,
  Sequential,
  Tensor,
  quantize,
} from '../../lib/index';
import { maxDiff } from '../helpers/compare';

function wave(n: number, seed: number): Float32Array {
  return Float32Array.from(
    { length: n },
    (_, i) => Math.sin(seed * 1.7 + i * 0.61) * (1 + (i % 5)),
  );
}

/** The scheme of cpp/src/ukernel/qgemm/qgemm.h for one row set, in float64 (f32 scales). */
function quantizeRow(row: Float32Array): { q: Int32Array; s: number } {
  let amax = 0;
  for (const v of row) amax = Math.max(amax, Math.abs(v));
  const s = Math.fround(amax / 127);
  const inv = amax > 0 ? Math.fround(127 / amax) : 0;
  const q = Int32Array.from(row, (v) => {
    const r = Math.fround(v * inv);
    // round half to even, as nearbyint
    const f = Math.floor(r);
    const d = r - f;
    const n = d > 0.5 || (d === 0.5 && f % 2 !== 0) ? f + 1 : f;
    return Math.max(-127, Math.min(127, n));
  });
  return { q, s };
}

describe('Dense.quantize()', () => {
  const I = 37;
  const O = 19;
  const rows = 11;

  it('computes the int8 scheme: per-row weights, per-row inputs, exact int32 sums', () => {
    const dense = new Dense({ inputSize: I, outputSize: O, seed: 3 });
    const x = new Tensor(wave(rows * I, 1), [rows, I]);
    const float = dense.forward(x).output.data.slice();
    expect(dense.quantize()).toBe(dense);
    expect(dense.quantized).toBe(true);
    const y = dense.forward(x).output.data;
    const { weight } = dense.quantizedParameters();
    const bias = dense.parameters().bias.data;
    let worst = 0;
    for (let r = 0; r < rows; ++r) {
      const a = quantizeRow(x.data.subarray(r * I, (r + 1) * I));
      for (let n = 0; n < O; ++n) {
        let acc = 0;
        for (let k = 0; k < I; ++k) acc += a.q[k] * weight.values[n * I + k];
        const want = acc * Math.fround(a.s * weight.scale[n]) + bias[n];
        worst = Math.max(worst, Math.abs(y[r * O + n] - want) / Math.max(1, Math.abs(want)));
      }
    }
    // float epilogue (one fma in f32) against float64: a few ulps
    expect(worst).toBeLessThan(1e-6);
    const d = maxDiff(y, float);
    expect(d).toBeGreaterThan(0); // the int8 path ran
    expect(d).toBeLessThan(0.05); // |x| ≤ 5, |w| ≤ 0.17, 37 terms: int8 error of a few 1e-3
  });

  it('streams bit for bit like forward; setParameters quantizes again; dequantize restores float', () => {
    const dense = new Dense({ inputSize: I, outputSize: O, seed: 4, activation: 'tanh' });
    const x = wave(3 * I, 2);
    const float = dense.forward(new Tensor(x, [3, I])).output.data.slice();
    const before = dense.stream({ batch: 3 });
    dense.quantize();
    const y = dense.forward(new Tensor(x, [3, I])).output.data.slice();
    expect(Array.from(before.step(x))).toEqual(Array.from(y));
    expect(Array.from(dense.stream({ batch: 3 }).step(x))).toEqual(Array.from(y));
    const w2 = wave(O * I, 9).map((v) => v * 0.1);
    dense.setParameters({
      weight: new Tensor(w2, [O, I]),
      bias: new Tensor(new Float32Array(O), [O]),
    });
    expect(dense.quantized).toBe(true);
    const q2 = dense.quantizedParameters().weight;
    // the largest |w| of each row maps to ±127
    for (let n = 0; n < O; ++n) {
      let m = 0;
      for (let k = 0; k < I; ++k) m = Math.max(m, Math.abs(q2.values[n * I + k]));
      expect(m).toBe(127);
    }
    dense.dequantize();
    dense.setParameters({ weight: dense.parameters().weight, bias: dense.parameters().bias });
    expect(dense.quantized).toBe(false);
    expect(() => dense.quantizedParameters()).toThrow(
      expect.objectContaining({ code: ErrorCode.UNSUPPORTED }),
    );
    const fresh = new Dense({ inputSize: I, outputSize: O, seed: 4, activation: 'tanh' });
    expect(Array.from(fresh.forward(new Tensor(x, [3, I])).output.data)).toEqual(Array.from(float));
  });

  it('refuses training, NaN weights and bad int8 input, changing nothing', () => {
    const dense = new Dense({ inputSize: 4, outputSize: 2, seed: 5 }).quantize();
    const x = new Tensor(wave(8, 3), [2, 4]);
    expect(() => dense.forward(x, { train: true })).toThrow(
      expect.objectContaining({ code: ErrorCode.UNSUPPORTED }),
    );
    const q = dense.quantizedParameters();
    const bad = new Dense({ inputSize: 4, outputSize: 2, seed: 6 });
    const w = bad.parameters().weight.data.slice();
    w[3] = NaN;
    bad.setParameters({ weight: new Tensor(w, [2, 4]), bias: bad.parameters().bias });
    expect(() => bad.quantize()).toThrow(RangeError);
    expect(bad.quantized).toBe(false);
    const values = q.weight.values.slice();
    values[0] = -128;
    expect(() =>
      dense.setQuantizedParameters({ weight: { values, scale: q.weight.scale, shape: [2, 4] } }),
    ).toThrow(RangeError);
    expect(() =>
      dense.setQuantizedParameters({
        weight: { values: new Int8Array(3), scale: q.weight.scale, shape: [2, 4] },
      }),
    ).toThrow(RangeError);
    expect(dense.quantizedParameters()).toEqual(q);
  });
});

describe('LSTM.setQuantizedParameters', () => {
  it('a refused call changes nothing, not even a pending backward', () => {
    const src = new LSTM({ inputSize: 3, hiddenSize: 4, seed: 7 }).quantize();
    const q = src.quantizedParameters();
    const lstm = new LSTM({ inputSize: 3, hiddenSize: 4, seed: 8 });
    const x = new Tensor(wave(2 * 2 * 3, 4), [2, 2, 3]);
    const params = lstm.parameters();
    const out = lstm.forward(x, { train: true }).output;
    const g = new Tensor(new Float32Array(out.data.length).fill(1), [...out.shape]);
    // a row that is not as cellstate quantizes (its largest |value| is not 127)
    const values = q.weight_hh_l0.values.slice();
    for (let c = 0; c < 4; ++c) values[c] = values[c] === 0 ? 0 : Math.sign(values[c]);
    expect(() =>
      lstm.setQuantizedParameters({ ...q, weight_hh_l0: { ...q.weight_hh_l0, values } }),
    ).toThrow(RangeError);
    // a weight left out
    expect(() => lstm.setQuantizedParameters({ weight_ih_l0: q.weight_ih_l0 })).toThrow(
      /missing 'weight_hh_l0'/,
    );
    expect(lstm.quantized).toBe(false);
    expect(lstm.parameters()).toEqual(params);
    expect(() => lstm.backward({ output: g })).not.toThrow();
    // and a valid call quantizes on exactly the given int8 weights
    lstm.setQuantizedParameters(q);
    expect(lstm.quantizedParameters()).toEqual(q);
  });
});

describe('Embedding.quantize()', () => {
  it('looks up dequantized int8 rows, in forward and in streams', () => {
    const emb = new Embedding({ numEmbeddings: 13, embeddingDim: 9, seed: 2 });
    const w = emb.parameters().weight.data;
    const tokens = { data: Int32Array.from([0, 5, 12, 7, 7, 3]), shape: [3, 2] };
    emb.quantize();
    const y = emb.forward(tokens).output.data;
    const { weight } = emb.quantizedParameters();
    for (let i = 0; i < 6; ++i) {
      const id = tokens.data[i];
      const { q, s } = quantizeRow(w.subarray(id * 9, id * 9 + 9));
      expect(weight.scale[id]).toBe(s);
      for (let d = 0; d < 9; ++d) {
        expect(weight.values[id * 9 + d]).toBe(q[d]);
        expect(y[i * 9 + d]).toBe(Math.fround(q[d] * s));
      }
    }
    const stream = emb.stream({ batch: 2 });
    expect(Array.from(stream.step(Int32Array.from([0, 5])))).toEqual(Array.from(y.subarray(0, 18)));
    expect(() => emb.forward(tokens, { train: true })).toThrow(
      expect.objectContaining({ code: ErrorCode.UNSUPPORTED }),
    );
    emb.dequantize();
    expect(Array.from(emb.forward(tokens).output.data.subarray(0, 9))).toEqual(
      Array.from(w.subarray(0, 9)),
    );
  });
});

function charModel(seed: number): Sequential {
  return new Sequential(
    [
      new Embedding({ numEmbeddings: 20, embeddingDim: 8, seed }),
      new LSTM({ inputSize: 8, hiddenSize: 24, seed: seed + 1 }),
      new Dropout({ rate: 0.1 }),
      new Dense({ inputSize: 24, outputSize: 20, seed: seed + 2 }),
    ],
    { batchFirst: false },
  );
}

const tokens = { data: Int32Array.from({ length: 14 }, (_, i) => (i * 7 + 3) % 20), shape: [7, 2] };

describe('quantize(model, { dtype: "int8" })', () => {
  it('returns a quantized copy of the same classes and leaves the model as it was', () => {
    const model = charModel(1);
    const float = model.predict(tokens).data.slice();
    const q = quantize(model, { dtype: 'int8' });
    expect(q).not.toBe(model);
    expect(q).toBeInstanceOf(Sequential);
    expect(q.layers.map((l) => l.constructor)).toEqual(model.layers.map((l) => l.constructor));
    expect(q.layers.map((l) => (l as { quantized?: boolean }).quantized)).toEqual([
      true,
      true,
      undefined,
      true,
    ]);
    expect(model.layers.some((l) => (l as { quantized?: boolean }).quantized)).toBe(false);
    expect(Array.from(model.predict(tokens).data)).toEqual(Array.from(float));
    const y = q.predict(tokens).data;
    const d = maxDiff(y, float);
    expect(d).toBeGreaterThan(0);
    expect(d).toBeLessThan(0.05);
    // the same as quantizing each layer of the original in place
    const same = quantize(model, { dtype: 'int8', inPlace: true });
    expect(same).toBe(model);
    expect(Array.from(model.predict(tokens).data)).toEqual(Array.from(y));
  });

  it('quantizes a single layer too', () => {
    const lstm = new LSTM({ inputSize: 3, hiddenSize: 8, seed: 3 });
    const q = quantize(lstm, { dtype: 'int8' });
    expect(q).toBeInstanceOf(LSTM);
    expect(q.quantized).toBe(true);
    expect(lstm.quantized).toBe(false);
  });

  it('refuses bad options and a layer it cannot quantize, changing nothing', () => {
    const model = charModel(4);
    expect(() => quantize(model, {} as never)).toThrow(TypeError);
    expect(() => quantize(model, { dtype: 'int4' } as never)).toThrow(TypeError);
    expect(() => quantize({} as never, { dtype: 'int8' })).toThrow(TypeError);
    // the int8 GEMM's depth limit (int32 sums): inputSize ≤ 65536
    const wide = new Sequential([
      new LSTM({ inputSize: 2, hiddenSize: 4, seed: 1 }),
      new Dense({ inputSize: 4, outputSize: 65537, seed: 2 }),
      new Dense({ inputSize: 65537, outputSize: 1, seed: 3 }),
    ]);
    for (const inPlace of [false, true]) {
      const e = (() => {
        try {
          quantize(wide, { dtype: 'int8', inPlace });
        } catch (error) {
          return error as { code: string; message: string };
        }
        return null;
      })();
      expect(e).toMatchObject({
        code: ErrorCode.UNSUPPORTED,
        message: expect.stringContaining('layer 2 (Dense)'),
      });
      expect(wide.layers.map((l) => (l as { quantized: boolean }).quantized)).toEqual([
        false,
        false,
        false,
      ]);
    }
  });

  it('a NaN weight: a RangeError naming the layer, nothing changed', () => {
    const model = charModel(6);
    const dense = model.layers[3] as Dense;
    const w = dense.parameters().weight.data.slice();
    w[5] = NaN;
    dense.setParameters({ weight: new Tensor(w, [20, 24]), bias: dense.parameters().bias });
    for (const inPlace of [false, true]) {
      expect(() => quantize(model, { dtype: 'int8', inPlace })).toThrow(
        expect.objectContaining({
          name: 'RangeError',
          message: expect.stringContaining('layer 3 (Dense) cannot be quantized'),
        }),
      );
      expect(model.layers.map((l) => (l as { quantized?: boolean }).quantized)).toEqual([
        false,
        false,
        undefined,
        false,
      ]);
    }
  });

  it('a quantized model refuses fit with ERR_CELLSTATE_UNSUPPORTED', async () => {
    const q = quantize(charModel(5), { dtype: 'int8' });
    const before = q.parameters();
    await expect(
      q.fit(
        { x: tokens, y: new Tensor(new Float32Array(7 * 2 * 20), [7, 2, 20]) },
        { loss: 'mse', verbose: 0 },
      ),
    ).rejects.toMatchObject({
      code: ErrorCode.UNSUPPORTED,
      message: expect.stringContaining('training refused'),
    });
    expect(q.parameters()).toEqual(before);
  });
});
