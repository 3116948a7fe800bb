// Import of onnxruntime's DynamicQuantizeLSTM (com.microsoft), by the chain importer and the
// graph runner: its int8 / uint8 W and R are dequantized as onnxruntime reads them
// (fround((q − zero_point) · scale), per direction or per gate row) and the layer is quantized by
// cellstate. cellstate's own exports come back bit for bit (the same int8 values and scales, the
// same outputs); files as onnxruntime's quantize_dynamic writes them
// (test/fixtures/onnx-quantized, generator beside them) run within the int8 tolerance of
// onnxruntime and exactly as an LSTM built from their dequantized weights and quantized by
// cellstate (an oracle written here from ONNX's gate order, independent of the importer).
import { readFileSync } from 'node:fs';
import path from 'node:path';

import * as ort from 'onnxruntime-web';
import { beforeAll, describe, expect, it } from 'vitest';

import { Dense, LSTM, Sequential, Tensor, fromOnnx, quantize, toOnnx } from '../../lib/index';
import { modelProto } from '../../lib/io/onnx-schema';
import { aInt, aStr, model, node, rng, runOrt, tensor, vi } from './onnx-builder';

// onnxruntime quantizes each step's input and h_{t-1} per tensor, asymmetric uint8 (cellstate:
// per row, symmetric int8): the two int8 computations differ by about their own error against
// float (test/quant/quantized-onnx.test.ts: observed up to 3e-3); bound 2e-2.
const INT8_TOL = 2e-2;
const DIR = path.join(__dirname, '..', 'fixtures', 'onnx-quantized');

beforeAll(() => {
  ort.env.wasm.numThreads = 1;
});

function bits(a: ArrayLike<number>): number[] {
  return Array.from(new Uint32Array(Float32Array.from(a).buffer));
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; ++i) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

const T = 5;
const B = 3;

function input(I: number, seed = 1): Tensor {
  return new Tensor(rng(seed)(T * B * I, -2, 2), [T, B, I]);
}

describe('DynamicQuantizeLSTM: cellstate’s own exports come back bit for bit', () => {
  it.each([
    ['plain', { inputSize: 4, hiddenSize: 6 }],
    ['two layers, peepholes', { inputSize: 4, hiddenSize: 5, numLayers: 2, peephole: true }],
    ['coupled (CIFG)', { inputSize: 4, hiddenSize: 5, coupled: true }],
    [
      'bidirectional, two layers',
      { inputSize: 4, hiddenSize: 5, bidirectional: true, numLayers: 2 },
    ],
    ['reverse', { inputSize: 4, hiddenSize: 7, direction: 'reverse' }],
    ['batch-first', { inputSize: 4, hiddenSize: 5, batchFirst: true }],
  ] as const)('%s', async (_name, options) => {
    const q = quantize(new LSTM({ ...options, seed: 3 }), { dtype: 'int8' });
    const x = input(4);
    const xin = q.config.batchFirst ? new Tensor(x.data, [B, T, 4]) : x;
    const bytes = toOnnx(q);
    const m = fromOnnx(bytes, { expect: LSTM });
    expect(m.quantized).toBe(true);
    const mine = q.quantizedParameters();
    const back = m.quantizedParameters();
    expect(Object.keys(back).sort()).toEqual(Object.keys(mine).sort());
    for (const [k, v] of Object.entries(mine)) {
      expect(Array.from(back[k].values), k).toEqual(Array.from(v.values));
      expect(bits(back[k].scale), k).toEqual(bits(v.scale));
    }
    const want = q.forward(xin);
    const got = m.forward(xin);
    expect(bits(got.output.data)).toEqual(bits(want.output.data));
    expect(bits(got.h.data)).toEqual(bits(want.h.data));
    expect(bits(got.c!.data)).toEqual(bits(want.c!.data));
    // the graph runner: the same int8 layers, the same output
    const run = m.run({ input: xin });
    expect(bits((run.output as Tensor).data)).toEqual(bits(want.output.data));
    // onnxruntime runs the same file within the int8 tolerance
    const ref = await runOrt(bytes, {
      input: new ort.Tensor('float32', xin.data, [...xin.shape]),
    });
    expect(maxDiff(ref.output.data as Float32Array, want.output.data)).toBeLessThan(INT8_TOL);
    m.dispose();
    q.dispose();
  });

  it('a Sequential of a quantized LSTM and a float Dense', () => {
    const lstm = new LSTM({ inputSize: 4, hiddenSize: 6, seed: 1 }).quantize();
    const head = new Dense({ inputSize: 6, outputSize: 3, seed: 2, activation: 'tanh' });
    const s = new Sequential([lstm, head], { batchFirst: false });
    const x = input(4, 2);
    const m = fromOnnx(toOnnx(s), { expect: Sequential });
    expect((m.layers[0] as LSTM).quantized).toBe(true);
    expect(bits(m.predict(x).data)).toEqual(bits(s.predict(x).data));
    m.dispose();
    s.dispose();
  });
});

// ---- files as onnxruntime's quantize_dynamic writes them -----------------------------------

interface Raw {
  dims: number[];
  data: number[];
}

/** The initializers of a file by name, as numbers (int8, float32, int64). */
function initializers(bytes: Uint8Array): Record<string, Raw> {
  const P = modelProto();
  const m = P.toObject(P.decode(bytes), { longs: Number, bytes: Array }) as {
    graph: {
      initializer: { name: string; dims: number[]; data_type: number; raw_data: number[] }[];
    };
  };
  const out: Record<string, Raw> = {};
  for (const t of m.graph.initializer) {
    const raw = Uint8Array.from(t.raw_data);
    const data =
      t.data_type === 3
        ? Array.from(new Int8Array(raw.buffer))
        : t.data_type === 2
          ? Array.from(raw)
          : t.data_type === 1
            ? Array.from(new Float32Array(raw.buffer))
            : Array.from(new BigInt64Array(raw.buffer), Number);
    out[t.name] = { dims: t.dims.map(Number), data };
  }
  return out;
}

/**
 * The oracle: an LSTM with the file's dequantized weights, mapped from ONNX's gate order
 * (i, o, f, c; peepholes i, o, f) to cellstate's (i, f, g, o; peepholes i, f, o) here, quantized
 * by cellstate.
 */
function oracle(
  init: Record<string, Raw>,
  I: number,
  H: number,
  D: number,
  peephole: boolean,
): LSTM {
  const N = 4 * H;
  const deq = (q: Raw, s: Raw, K: number, d: number) => {
    const perRow = s.data.length === D * N;
    // [K, N] of direction d → [N, K] in cellstate's block order
    const onnx = (n: number, k: number) =>
      Math.fround(q.data[(d * K + k) * N + n] * s.data[perRow ? d * N + n : d]);
    const out = new Float32Array(N * K);
    [0, 2, 3, 1].forEach((slot, block) => {
      for (let r = 0; r < H; ++r)
        for (let k = 0; k < K; ++k) out[(block * H + r) * K + k] = onnx(slot * H + r, k);
    });
    return new Tensor(out, [N, K]);
  };
  const vec = (v: number[], from: number, slots: number[]) =>
    new Tensor(Float32Array.from(slots.flatMap((s) => v.slice(from + s * H, from + (s + 1) * H))), [
      slots.length * H,
    ]);
  const params: Record<string, Tensor> = {};
  for (let d = 0; d < D; ++d) {
    const sfx = d === 0 ? '' : '_reverse';
    params[`weight_ih_l0${sfx}`] = deq(init.W_quantized, init.W_scale, I, d);
    params[`weight_hh_l0${sfx}`] = deq(init.R_quantized, init.R_scale, H, d);
    params[`bias_ih_l0${sfx}`] = vec(init.B.data, d * 2 * N, [0, 2, 3, 1]);
    params[`bias_hh_l0${sfx}`] = vec(init.B.data, d * 2 * N + N, [0, 2, 3, 1]);
    if (peephole) params[`weight_ph_l0${sfx}`] = vec(init.P.data, d * 3 * H, [0, 2, 1]);
  }
  const lstm = new LSTM({ inputSize: I, hiddenSize: H, bidirectional: D === 2, peephole, seed: 0 });
  lstm.setParameters(params);
  return lstm.quantize();
}

describe('DynamicQuantizeLSTM as onnxruntime quantize_dynamic writes it', () => {
  it.each([
    ['lstm_per_tensor.onnx', 4, 5, 2, false, false],
    ['lstm_per_channel.onnx', 3, 6, 1, true, true],
  ] as const)('%s', async (file, I, H, D, peephole, perRow) => {
    const bytes = readFileSync(path.join(DIR, file));
    const init = initializers(bytes);
    const m = fromOnnx(bytes, { expect: LSTM });
    expect(m.quantized).toBe(true);
    const want = oracle(init, I, H, D, peephole);
    const x = input(I, 5);
    const mine = m.forward(x);
    const theirs = want.forward(x);
    expect(bits(mine.output.data)).toEqual(bits(theirs.output.data));
    expect(bits(mine.c!.data)).toEqual(bits(theirs.c!.data));
    const run = m.run({ X: x });
    expect(bits((run.output as Tensor).data)).toEqual(bits(theirs.output.data));
    expect(bits((run.Y_c as Tensor).data)).toEqual(bits(theirs.c!.data));
    // the int8 weights cellstate runs: the file's when it quantized per gate row (every row's
    // largest |q| is 127), else cellstate's per-row quantization of the dequantized weights
    const q = m.quantizedParameters().weight_ih_l0;
    const fileRow0 = Array.from({ length: I }, (_, k) => init.W_quantized.data[k * 4 * H]);
    const row0 = Array.from(q.values.subarray(0, I));
    if (perRow) expect(row0).toEqual(fileRow0);
    else expect(Math.max(...row0.map(Math.abs))).toBe(127);
    // onnxruntime on the file, within the int8 tolerance
    const ref = await runOrt(bytes, { X: new ort.Tensor('float32', x.data, [T, B, I]) });
    expect(maxDiff(ref.output.data as Float32Array, mine.output.data)).toBeLessThan(INT8_TOL);
    expect(maxDiff(ref.Y_h.data as Float32Array, mine.h.data)).toBeLessThan(INT8_TOL);
    m.dispose();
    want.dispose();
  });

  it('uint8 weights with zero points (asymmetric) are dequantized with them', async () => {
    // one forward LSTM node, W / R uint8 with a zero point per direction, run only (raw Y)
    const [I, H] = [3, 4];
    const r = rng(9);
    const u8 = (n: number) => Uint8Array.from(r(n, 0, 256), Math.floor);
    const Wq = u8(I * 4 * H);
    const Rq = u8(H * 4 * H);
    const u8t = (name: string, dims: number[], data: Uint8Array) => ({
      name,
      dims,
      data_type: 2,
      raw_data: data,
    });
    const bytes = model({
      nodes: [
        {
          ...node(
            'DynamicQuantizeLSTM',
            ['X', 'W', 'R', 'B', '', '', '', '', 'Ws', 'Wz', 'Rs', 'Rz'],
            ['Y', 'Y_h'],
            [aInt('hidden_size', H), aStr('direction', 'forward')],
            'dq',
          ),
          domain: 'com.microsoft',
        },
      ],
      inputs: [vi('X', 'float', ['T', 'B', I])],
      outputs: [vi('Y', 'float', ['T', 1, 'B', H]), vi('Y_h', 'float', [1, 'B', H])],
      initializers: [
        u8t('W', [1, I, 4 * H], Wq),
        u8t('R', [1, H, 4 * H], Rq),
        tensor('B', [1, 8 * H], r(8 * H, -0.3, 0.3)),
        tensor('Ws', [1], [0.004]),
        u8t('Wz', [1], Uint8Array.of(131)),
        tensor('Rs', [1], [0.003]),
        u8t('Rz', [1], Uint8Array.of(120)),
      ],
    });
    const withMs = modelProto();
    const msg = withMs.decode(bytes) as unknown as { opset_import: unknown[] };
    msg.opset_import.push({ domain: 'com.microsoft', version: 1 });
    const file = withMs.encode(msg as never).finish();
    const g = fromOnnx(file);
    const x = input(I, 7);
    const got = g.run({ X: x });
    const ref = await runOrt(file, { X: new ort.Tensor('float32', x.data, [T, B, I]) });
    expect(maxDiff((got.Y as Tensor).data, ref.Y.data as Float32Array)).toBeLessThan(INT8_TOL);
    // the oracle: the signed values q − zero point, per-direction scales
    const init = {
      W_quantized: { dims: [1, I, 4 * H], data: Array.from(Wq, (v) => v - 131) },
      W_scale: { dims: [1], data: [Math.fround(0.004)] },
      R_quantized: { dims: [1, H, 4 * H], data: Array.from(Rq, (v) => v - 120) },
      R_scale: { dims: [1], data: [Math.fround(0.003)] },
      B: initializers(file).B,
    };
    const want = oracle(init, I, H, 1, false);
    expect(bits((got.Y_h as Tensor).data)).toEqual(bits(want.forward(x).h.data));
    want.dispose();
    g.dispose();
  });

  it('a malformed DynamicQuantizeLSTM is refused with a code naming the node', () => {
    const bytes = readFileSync(path.join(DIR, 'lstm_per_tensor.onnx'));
    const P = modelProto();
    const m = P.decode(bytes) as unknown as {
      graph: { initializer: { name: string; raw_data: Uint8Array }[] };
    };
    const scale = m.graph.initializer.find((t) => t.name === 'W_scale')!;
    scale.raw_data = new Uint8Array(new Float32Array([0.01, 0]).buffer);
    const e = (() => {
      try {
        fromOnnx(P.encode(m as never).finish());
      } catch (err) {
        return err as Error & { code?: string };
      }
      return null;
    })();
    expect(e?.code).toBe('ERR_CELLSTATE_ONNX_INVALID');
    expect(e?.message).toMatch(/'lstm_quant'.*W_scale\[1\] is 0/);
  });
});
