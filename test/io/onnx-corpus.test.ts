// The ONNX corpus (test/fixtures/onnx-corpus, made by its generate.py): ONNX's own operator
// tests, PyTorch exports and a single-node sweep over the attribute space of LSTM / GRU / RNN.
// Every file is first checked as a reference: onnxruntime (onnxruntime-web, WebAssembly in Node)
// reproduces ONNX's expected outputs and PyTorch's, so the corpus itself is sound. Then every
// file is imported and run by cellstate and must agree with onnxruntime (through the layout 0
// twin for layout 1 nodes, which onnxruntime does not run).
import { readFileSync } from 'node:fs';
import path from 'node:path';

import * as ort from 'onnxruntime-web';
import { beforeAll, describe, expect, it } from 'vitest';

import { LSTM, Tensor, fromOnnx, toOnnx } from '../../lib/index';
import { OnnxGraphModel } from '../../lib/io/onnx-graph';
import { modelProto } from '../../lib/io/onnx-schema';
import { Recurrent } from '../../lib/layers/recurrent';
import { Sequential } from '../../lib/model/sequential';

const ROOT = path.join(__dirname, '../fixtures/onnx-corpus');

// float32 everywhere, different summation orders and exp / tanh approximations; the issue's
// bound is 2e-5, relative to the output's magnitude where it exceeds 1 (relu / affine / softplus
// recurrences reach values of ~10, where 2e-5 absolute is below float32's resolution).
const TOL = 2e-5;

interface Arr {
  dims: number[];
  dtype: 'float32' | 'int32' | 'int64';
  data: number[];
}

interface Entry {
  file: string;
  set: 'onnx-node' | 'pytorch' | 'sweep';
  op: 'LSTM' | 'GRU' | 'RNN';
  layout: 0 | 1;
  opset: number;
  /** set onnx-node: the folder of input_i.pb / output_i.pb */
  data?: string;
  inputs?: string[];
  feeds?: Record<string, Arr>;
  outputs: string[];
  torch?: Record<string, Arr>;
  twin?: string;
  /** pytorch: the input is [B, T, F] */
  batchFirst?: boolean;
  /** pytorch: a plain chain of layers whose output y is the model's output */
  chain?: boolean;
  /** sweep: importOnnx refuses it, the message naming this attribute */
  refused?: string;
}

const manifest = JSON.parse(readFileSync(path.join(ROOT, 'manifest.json'), 'utf8')) as {
  files: Entry[];
};

/** A value as a flat array with its shape and type. */
interface Value {
  dims: number[];
  dtype: 'float32' | 'int32' | 'int64';
  data: Float32Array | Int32Array | BigInt64Array;
}

function fromArr(a: Arr): Value {
  const data =
    a.dtype === 'float32'
      ? Float32Array.from(a.data)
      : a.dtype === 'int32'
        ? Int32Array.from(a.data)
        : BigInt64Array.from(a.data.map(BigInt));
  return { dims: a.dims, dtype: a.dtype, data };
}

/** A TensorProto .pb file (ONNX's backend test data). */
function readPb(file: string): Value {
  const T = modelProto().root.lookupType('onnx.TensorProto');
  const m = T.toObject(T.decode(readFileSync(file)), { longs: Number, arrays: true }) as {
    dims: number[];
    data_type: number;
    raw_data?: Uint8Array;
    float_data?: number[];
    int32_data?: number[];
  };
  const raw = m.raw_data && m.raw_data.length ? m.raw_data : null;
  const bytes = raw ? new Uint8Array(raw).slice().buffer : null;
  if (m.data_type === 1)
    return {
      dims: m.dims,
      dtype: 'float32',
      data: bytes ? new Float32Array(bytes) : Float32Array.from(m.float_data ?? []),
    };
  if (m.data_type === 6)
    return {
      dims: m.dims,
      dtype: 'int32',
      data: bytes ? new Int32Array(bytes) : Int32Array.from(m.int32_data ?? []),
    };
  throw new Error(`${file}: data type ${m.data_type}`);
}

/** An entry's feeds and (set onnx-node) ONNX's expected outputs. */
function feedsOf(e: Entry): { feeds: Record<string, Value>; expected: Record<string, Value> } {
  const feeds: Record<string, Value> = {};
  const expected: Record<string, Value> = {};
  if (e.data) {
    e.inputs!.forEach((n, i) => (feeds[n] = readPb(path.join(ROOT, e.data!, `input_${i}.pb`))));
    e.outputs.forEach((n, i) => (expected[n] = readPb(path.join(ROOT, e.data!, `output_${i}.pb`))));
  } else for (const [n, a] of Object.entries(e.feeds!)) feeds[n] = fromArr(a);
  if (e.torch) for (const [n, a] of Object.entries(e.torch)) expected[n] = fromArr(a);
  return { feeds, expected };
}

/** The largest difference, relative to the reference's magnitude where it exceeds 1. */
function maxDiff(got: ArrayLike<number>, want: ArrayLike<number>): number {
  expect(got.length).toBe(want.length);
  let m = 0;
  for (let i = 0; i < got.length; ++i) {
    const d = Math.abs(got[i] - want[i]) / Math.max(1, Math.abs(want[i]));
    m = Math.max(m, Number.isNaN(d) ? Infinity : d);
  }
  return m;
}

async function runOrt(file: string, feeds: Record<string, Value>, outputs: string[]) {
  const session = await ort.InferenceSession.create(readFileSync(path.join(ROOT, file)));
  try {
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [n, v] of Object.entries(feeds))
      ortFeeds[n] = new ort.Tensor(v.dtype, v.data, v.dims);
    const out = await session.run(ortFeeds);
    const res: Record<string, { dims: number[]; data: Float32Array }> = {};
    for (const n of outputs) res[n] = { dims: [...out[n].dims], data: out[n].data as Float32Array };
    return res;
  } finally {
    await session.release();
  }
}

beforeAll(() => {
  ort.env.wasm.numThreads = 1;
  ort.env.logLevel = 'error'; // not the warning about IR 3's initializers listed as inputs
});

interface NodeInfo {
  op: string;
  attrs: Map<string, unknown>;
  inputs: string[];
  outputs: string[];
  initializers: Set<string>;
  graphInputs: Set<string>;
  ir: number;
}

/** The recurrent node of a sweep file, with what surrounds it. */
function recurrentNode(file: string): NodeInfo {
  const T = modelProto();
  const m = T.toObject(T.decode(readFileSync(path.join(ROOT, file))), {
    longs: Number,
    arrays: true,
  }) as {
    ir_version: number;
    graph: {
      node: {
        op_type: string;
        input: string[];
        output: string[];
        attribute: {
          name: string;
          i?: number;
          f?: number;
          strings?: Uint8Array[];
          floats?: number[];
        }[];
      }[];
      initializer: { name: string }[];
      input: { name: string }[];
    };
  };
  const node = m.graph.node.find((n) => ['LSTM', 'GRU', 'RNN'].includes(n.op_type))!;
  const attrs = new Map<string, unknown>();
  for (const a of node.attribute)
    attrs.set(
      a.name,
      a.type === 3 // STRING
        ? Buffer.from(a.s ?? []).toString()
        : a.type === 8 // STRINGS
          ? (a.strings ?? []).map((b) => Buffer.from(b).toString())
          : a.type === 6 // FLOATS
            ? (a.floats ?? [])
            : a.type === 1 // FLOAT
              ? (a.f ?? 0)
              : (a.i ?? 0),
    );
  return {
    op: node.op_type,
    attrs,
    inputs: node.input,
    outputs: node.output,
    initializers: new Set(m.graph.initializer.map((t) => t.name)),
    graphInputs: new Set(m.graph.input.map((t) => t.name)),
    ir: m.ir_version,
  };
}

describe('the ONNX corpus', () => {
  it('has every set, every op, both layouts and stays small', () => {
    const files = manifest.files;
    for (const set of ['onnx-node', 'pytorch', 'sweep'])
      for (const op of ['LSTM', 'GRU', 'RNN'])
        expect(
          files.some((e) => e.set === set && e.op === op),
          `${set} ${op}`,
        ).toBe(true);
    expect(files.some((e) => e.set === 'sweep' && e.layout === 1 && e.twin)).toBe(true);
    expect(files.some((e) => e.set === 'onnx-node' && e.layout === 1)).toBe(true);
    expect(files.length).toBeGreaterThan(150);
  });

  it("the sweep covers every operator's attributes and input forms", () => {
    const seen = new Set<string>();
    for (const e of manifest.files.filter((f) => f.set === 'sweep')) {
      const n = recurrentNode(e.file);
      const op = n.op;
      const form = (name: string, slot: number) => {
        const v = n.inputs[slot];
        if (!v) return;
        seen.add(
          `${op} ${name} ${n.initializers.has(v) ? (n.graphInputs.has(v) ? 'init+input' : 'initializer') : 'input'}`,
        );
      };
      seen.add(`${op} layout ${n.attrs.get('layout') ?? 0}`);
      seen.add(
        `${op} ${n.attrs.get('direction') ?? 'forward'} layout ${n.attrs.get('layout') ?? 0}`,
      );
      if (n.attrs.has('clip')) seen.add(`${op} clip`);
      for (const a of (n.attrs.get('activations') as string[] | undefined) ?? [])
        seen.add(`${op} ${a}`);
      if (n.attrs.has('activation_alpha')) seen.add(`${op} alpha`);
      if (n.attrs.has('activation_beta')) seen.add(`${op} beta`);
      if (n.attrs.get('input_forget') === 1) seen.add(`${op} input_forget`);
      if (n.attrs.has('linear_before_reset'))
        seen.add(`${op} linear_before_reset ${n.attrs.get('linear_before_reset')}`);
      if (!n.inputs[3]) seen.add(`${op} no B`);
      form('sequence_lens', 4);
      form('initial_h', 5);
      form('initial_c', 6);
      if (n.inputs[7]) seen.add(`${op} P`);
      seen.add(`${op} outputs ${n.outputs.map((o) => o || '-').join(',')}`);
      seen.add(`${op} opset ${e.opset}`);
    }
    const want: string[] = [];
    for (const op of ['LSTM', 'GRU', 'RNN']) {
      for (const layout of [0, 1])
        for (const d of ['forward', 'reverse', 'bidirectional'])
          want.push(`${op} ${d} layout ${layout}`);
      want.push(`${op} clip`, `${op} alpha`, `${op} beta`, `${op} no B`);
      for (const f of ['input', 'initializer'])
        want.push(`${op} sequence_lens ${f}`, `${op} initial_h ${f}`);
      for (const o of [7, 14, 21, 22]) want.push(`${op} opset ${o}`);
      want.push(`${op} Y,Y_h`, `${op} -,Y_h`);
    }
    want.push('LSTM P', 'LSTM input_forget', 'LSTM initial_c input', 'LSTM initial_c initializer');
    want.push('GRU linear_before_reset 0', 'GRU linear_before_reset 1');
    want.push('LSTM Y,Y_h,Y_c', 'LSTM -,-,Y_c', 'LSTM initial_h init+input');
    for (const a of [
      'Sigmoid',
      'Tanh',
      'Relu',
      'HardSigmoid',
      'LeakyRelu',
      'ThresholdedRelu',
      'ScaledTanh',
      'Affine',
      'Elu',
      'Softsign',
      'Softplus',
    ])
      want.push(`* ${a}`);
    const all = [...seen].join('\n');
    for (const w of want) {
      const [op, ...rest] = w.split(' ');
      const tail = rest.join(' ');
      const key = tail.startsWith('Y') || tail.startsWith('-') ? `outputs ${tail}` : tail;
      const ok =
        op === '*' ? [...seen].some((s) => s.endsWith(` ${key}`)) : seen.has(`${op} ${key}`);
      expect(ok, `${w}\n${all}`).toBe(true);
    }
  });
});

// The references themselves: onnxruntime reproduces ONNX's numpy reference outputs and
// PyTorch's own outputs (float32 both; ONNX's reference is float32 numpy).
describe('the corpus references agree with onnxruntime', () => {
  for (const e of manifest.files.filter((f) => f.set !== 'sweep'))
    it(e.file, async () => {
      const { feeds, expected } = feedsOf(e);
      expect(Object.keys(expected).sort()).toEqual([...e.outputs].sort());
      const ref = await runOrt(e.twin ?? e.file, feeds, e.outputs);
      for (const n of e.outputs) {
        expect(ref[n].dims, n).toEqual(expected[n].dims);
        expect(maxDiff(ref[n].data, expected[n].data as Float32Array), n).toBeLessThan(TOL);
      }
    });
});

/** The feeds as run takes them: Tensors for float inputs, { data, shape } for integer ones. */
function runFeeds(feeds: Record<string, Value>) {
  const out: Record<string, Tensor | { data: Int32Array | BigInt64Array; shape: number[] }> = {};
  for (const [n, v] of Object.entries(feeds))
    out[n] =
      v.dtype === 'float32'
        ? new Tensor(v.data as Float32Array, v.dims)
        : { data: v.data as Int32Array | BigInt64Array, shape: v.dims };
  return out;
}

/** Steps t0 … t1 − 1 of x ([T, B, F], or [B, T, F] when batchFirst). */
function steps(x: Value, t0: number, t1: number, batchFirst: boolean): Tensor {
  const [a, b, F] = x.dims;
  const data = x.data as Float32Array;
  if (!batchFirst) return new Tensor(data.slice(t0 * b * F, t1 * b * F), [t1 - t0, b, F]);
  const out = new Float32Array(a * (t1 - t0) * F);
  for (let i = 0; i < a; ++i)
    out.set(data.subarray((i * b + t0) * F, (i * b + t1) * F), i * (t1 - t0) * F);
  return new Tensor(out, [a, t1 - t0, F]);
}

// cellstate against onnxruntime: every file imports and run(feeds) gives every graph output,
// shaped as the graph declares, within TOL of onnxruntime's (the twin's for layout 1).
describe('importOnnx(file).run(feeds) agrees with onnxruntime on the whole corpus', () => {
  for (const set of ['onnx-node', 'pytorch', 'sweep'] as const)
    describe(set, () => {
      for (const e of manifest.files.filter((f) => f.set === set))
        it(e.file, async () => {
          const { feeds, expected } = feedsOf(e);
          const ref = await runOrt(e.twin ?? e.file, feeds, e.outputs);
          if (e.refused) {
            // valid ONNX (onnxruntime ran it) that cellstate's cells cannot compute exactly
            let err: unknown;
            try {
              fromOnnx(readFileSync(path.join(ROOT, e.file))).dispose();
            } catch (x) {
              err = x;
            }
            expect(err).toMatchObject({
              code: 'ERR_CELLSTATE_ONNX_UNSUPPORTED',
              message: expect.stringContaining(e.refused),
            });
            return;
          }
          const model = fromOnnx(readFileSync(path.join(ROOT, e.file)));
          try {
            const got = model.run(runFeeds(feeds));
            expect(Object.keys(got).sort()).toEqual([...e.outputs].sort());
            for (const n of e.outputs) {
              const y = got[n] as Tensor;
              expect(y, n).toBeInstanceOf(Tensor);
              expect(y.shape, n).toEqual(ref[n].dims);
              expect(maxDiff(y.data, ref[n].data), n).toBeLessThan(TOL);
              // and ONNX's / PyTorch's own outputs
              if (expected[n])
                expect(maxDiff(y.data, expected[n].data as Float32Array), n).toBeLessThan(TOL);
            }
            // runAsync: the same values
            const again = await model.runAsync(runFeeds(feeds));
            for (const n of e.outputs)
              expect((again[n] as Tensor).data).toEqual((got[n] as Tensor).data);
          } finally {
            model.dispose();
          }
        });
    });
});

/** [a, b, F] → [b, a, F]. */
function swap01(data: Float32Array, a: number, b: number, F: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let i = 0; i < a; ++i)
    for (let j = 0; j < b; ++j)
      out.set(data.subarray((i * b + j) * F, (i * b + j + 1) * F), (j * a + i) * F);
  return out;
}

// Plain chains (PyTorch's y outputs): forward over the whole sequence (from the graph's h0 / c0
// feeds when it has them) equals run; for one direction, forward in two chunks with the state
// carried, and a stream stepped one time step at a time (its state set from h0 / c0), equal it
// too; predict (zero state, so only without state inputs) equals it.
// Chains the chain importer does not recognize yet: a batch-first GRU / RNN whose Transposes it
// does not follow when the zero state's batch size comes from Shape(x)[0] (dynamic axes) or a
// Linear head reads the transposed-back output. They import as OnnxGraphModel (run only, checked
// above); issue 13 asks for them as chains.
const RUN_ONLY = /^pytorch\/(gru_batch_first_dynamic|gru_linear_head|rnn_linear_head_dynamic)\./;

describe('plain chains: forward, chunked forward, predict and stream() equal run', () => {
  for (const e of manifest.files.filter((f) => f.chain))
    it(e.file, () => {
      const { feeds } = feedsOf(e);
      const model = fromOnnx(readFileSync(path.join(ROOT, e.file)));
      try {
        if (RUN_ONLY.test(e.file)) {
          expect(model).toBeInstanceOf(OnnxGraphModel);
          expect(() =>
            model.predict(new Tensor(feeds.x.data as Float32Array, feeds.x.dims)),
          ).toThrow(/not a plain chain of layers/);
          return;
        }
        expect(model).not.toBeInstanceOf(OnnxGraphModel);
        const whole = model.run(runFeeds(feeds)).y as Tensor;
        const x = feeds.x;
        const bf = e.batchFirst === true;
        const T = x.dims[bf ? 1 : 0];
        const B = x.dims[bf ? 0 : 1];
        const F = x.dims[2];
        const bidir = /bidir/.test(e.file);
        const h0 = feeds.h0 && new Tensor(feeds.h0.data as Float32Array, feeds.h0.dims);
        const c0 = feeds.c0 && new Tensor(feeds.c0.data as Float32Array, feeds.c0.dims);
        const lastStep = whole.shape.length === 2; // a head on the last step: [B, O]
        const O = whole.shape[whole.shape.length - 1];
        const chunks = bidir ? [T] : [Math.max(1, T >> 1), T];
        const outs: Tensor[] = [];
        if (model instanceof Recurrent) {
          let state: { h0?: Tensor; c0?: Tensor } = { h0, c0 };
          let t0 = 0;
          for (const t1 of chunks) {
            const r = model.forward(steps(x, t0, t1, bf), state);
            outs.push(r.output);
            state = { h0: r.h, c0: (r as { c?: Tensor }).c };
            t0 = t1;
          }
        } else {
          expect(model).toBeInstanceOf(Sequential);
          expect(h0).toBeUndefined(); // the corpus has no stateful model with a head
          const seq = model as Sequential;
          let state: Parameters<Sequential['forward']>[1] = {};
          let t0 = 0;
          for (const t1 of chunks) {
            const r = seq.forward(steps(x, t0, t1, bf), state);
            outs.push(r.output);
            state = { state: r.state };
            t0 = t1;
          }
        }
        if (lastStep) expect(maxDiff(outs.at(-1)!.data, whole.data)).toBeLessThan(TOL);
        else {
          // the chunks concatenated along time
          const y = new Float32Array(whole.data.length);
          let t0 = 0;
          chunks.forEach((t1, k) => {
            const n = t1 - t0;
            const d = outs[k].data;
            if (!bf) y.set(d, t0 * B * O);
            else
              for (let b = 0; b < B; ++b)
                y.set(d.subarray(b * n * O, (b + 1) * n * O), (b * T + t0) * O);
            t0 = t1;
          });
          expect(maxDiff(y, whole.data)).toBeLessThan(TOL);
        }
        // predict (from zeros): a Recurrent in its own layout; a Sequential built without
        // batchFirst predicts sample-first ([N, T, F] in, [N, T, O] out)
        if (h0) {
          // nothing: predict starts from zeros
        } else if (model instanceof Recurrent || bf)
          expect(maxDiff(model.predict(steps(x, 0, T, bf)).data, whole.data)).toBeLessThan(TOL);
        else {
          const xs = new Tensor(swap01(x.data as Float32Array, T, B, F), [B, T, F]);
          const want = lastStep ? whole.data : swap01(whole.data, T, B, O);
          expect(maxDiff(model.predict(xs).data, want)).toBeLessThan(TOL);
        }
        if (bidir) {
          expect(() => model.stream({ batch: B })).toThrow(/bidirectional|direction|stream/i);
          return;
        }
        const s = model.stream({ batch: B });
        // the graph's state inputs become the stream's state
        if (h0) (s as ReturnType<Recurrent['stream']>).setState({ h: h0, c: c0 });
        let last = new Float32Array(0);
        for (let t = 0; t < T; ++t) {
          const xt = steps(x, t, t + 1, bf).data; // [B, F] either way
          expect(xt.length).toBe(B * F);
          last = s.step(xt).slice();
          if (!lastStep)
            for (let b = 0; b < B; ++b) {
              const at = bf ? (b * T + t) * O : (t * B + b) * O;
              expect(
                maxDiff(last.subarray(b * O, (b + 1) * O), whole.data.subarray(at, at + O)),
              ).toBeLessThan(TOL);
            }
        }
        if (lastStep) expect(maxDiff(last, whole.data)).toBeLessThan(TOL);
      } finally {
        model.dispose();
      }
    });
});

// ONNX's input_forget takes i from the i slot and sets f = 1 − i; cellstate's CIFG takes f from
// its f block and sets i = 1 − f. Export writes −f into the i slot, which is the same only when
// the gate function has f(−a) = 1 − f(a); for other gate functions export is refused (as import
// is, above: sweep files 018, 202, 203).
describe('coupled LSTMs (input_forget) and the gate function', () => {
  it('exports with sigmoid, hardSigmoid β 0.5 and affine β 0.5 gates, which onnxruntime runs as cellstate does', async () => {
    const gates = [
      'sigmoid',
      { name: 'hardSigmoid', alpha: 0.3, beta: 0.5 },
      { name: 'affine', alpha: 0.4, beta: 0.5 },
    ] as const;
    for (const gateActivation of gates) {
      const lstm = new LSTM({
        inputSize: 3,
        hiddenSize: 4,
        coupled: true,
        peephole: true,
        gateActivation,
        seed: 5,
      });
      const x = new Tensor(
        Float32Array.from({ length: 5 * 2 * 3 }, (_, i) => Math.sin(i * 1.7) * 1.5),
        [5, 2, 3],
      );
      const want = lstm.forward(x).output;
      const bytes = toOnnx(lstm);
      const session = await ort.InferenceSession.create(bytes);
      try {
        const inName = session.inputNames[0];
        const out = await session.run({ [inName]: new ort.Tensor('float32', x.data, x.shape) });
        const y = out[session.outputNames[0]].data as Float32Array;
        expect(maxDiff(y, want.data), JSON.stringify(gateActivation)).toBeLessThan(TOL);
      } finally {
        await session.release();
      }
      lstm.dispose();
    }
  });

  it('refuses to export other gate functions, naming the option', () => {
    for (const gateActivation of [
      'softsign',
      { name: 'hardSigmoid', alpha: 0.2, beta: 0.4 },
    ] as const) {
      const lstm = new LSTM({
        inputSize: 3,
        hiddenSize: 4,
        coupled: true,
        gateActivation,
        seed: 5,
      });
      expect(() => toOnnx(lstm)).toThrow(/coupled: true with gateActivation .* cannot be exported/);
      lstm.dispose();
    }
  });
});
