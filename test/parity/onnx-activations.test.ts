// onnxruntime against the float64 fixtures of test/fixtures/activations/ (activation functions
// and clip, docs/cells.md "Activation functions and clipping"): each fixture's layers are built
// as ONNX LSTM / GRU / RNN nodes with the `activations`, `activation_alpha`, `activation_beta`
// and `clip` attributes, run in onnxruntime-web (WebAssembly, in Node), and must reproduce the
// fixture's output and final states. This pins onnxruntime's behaviour to the definitions the
// kernel implements: clip after the peephole terms, c_t not clamped before the hidden
// activation, the GRU candidate clipped after r ⊙ (...), alpha/beta consumed in order by the
// functions that take them. (ONNX has no projection: the fixture with projSize is skipped.)
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

import * as ort from 'onnxruntime-web';
import { beforeAll, describe, expect, it } from 'vitest';

import { AttributeType, DataType, modelProto } from '../../lib/io/onnx-schema';
import { repoRoot, type Fixture, type FixtureTensor } from '../helpers/fixtures';
import { maxDiff } from '../helpers/compare';
import { runOrt } from '../io/onnx-builder';

// onnxruntime computes in float32 with its own approximations of sigmoid and tanh (observed
// here: ≤ 1e-6 against float64); test/io/onnx.test.ts uses the same bound.
const ORT_TOL = 1e-5;

const dir = path.join(repoRoot, 'test/fixtures/activations');
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .sort();

beforeAll(() => {
  ort.env.wasm.numThreads = 1;
});

type ActSpec = string | { name: string; alpha?: number; beta?: number };

const ONNX_NAMES: Record<string, string> = {
  sigmoid: 'Sigmoid',
  tanh: 'Tanh',
  relu: 'Relu',
  hardSigmoid: 'HardSigmoid',
  leakyRelu: 'LeakyRelu',
  thresholdedRelu: 'ThresholdedRelu',
  scaledTanh: 'ScaledTanh',
  affine: 'Affine',
  elu: 'Elu',
  softsign: 'Softsign',
  softplus: 'Softplus',
};

/** The activations of one direction, in ONNX's order of roles (f, g, h). */
function roles(f: Fixture): ActSpec[] {
  const c = f.config as Record<string, ActSpec>;
  if (f.cell === 'rnn') return [c.nonlinearity];
  if (f.cell === 'gru') return [c.gateActivation, c.cellActivation];
  return [c.gateActivation, c.cellActivation, c.hiddenActivation];
}

/** ONNX's attributes: names, and alpha/beta lists consumed in order by the functions that
 * take them (the fixture writes exactly the parameters a function takes). */
function activationAttributes(acts: ActSpec[]) {
  const names: string[] = [];
  const alphas: number[] = [];
  const betas: number[] = [];
  for (const a of acts) {
    const spec = typeof a === 'string' ? { name: a } : a;
    names.push(ONNX_NAMES[spec.name]);
    if (spec.alpha !== undefined) alphas.push(spec.alpha);
    if (spec.beta !== undefined) betas.push(spec.beta);
  }
  const enc = new TextEncoder();
  const attrs: object[] = [
    { name: 'activations', type: AttributeType.STRINGS, strings: names.map((n) => enc.encode(n)) },
  ];
  if (alphas.length)
    attrs.push({ name: 'activation_alpha', type: AttributeType.FLOATS, floats: alphas });
  if (betas.length)
    attrs.push({ name: 'activation_beta', type: AttributeType.FLOATS, floats: betas });
  return attrs;
}

function floats(t: FixtureTensor): Float32Array {
  return Float32Array.from(t.data);
}

/** Rows [blocks × H, cols] of a PyTorch-ordered matrix, blocks reordered by `order`. */
function reorderBlocks(data: Float32Array, H: number, cols: number, order: number[]): Float32Array {
  const out = new Float32Array(order.length * H * cols);
  order.forEach((src, k) =>
    out.set(data.subarray(src * H * cols, (src + 1) * H * cols), k * H * cols),
  );
  return out;
}

interface Tensor32 {
  dims: number[];
  data: Float32Array;
}

function initializer(name: string, t: Tensor32) {
  const raw = new Uint8Array(
    t.data.buffer.slice(t.data.byteOffset, t.data.byteOffset + t.data.byteLength),
  );
  return { name, dims: t.dims, data_type: DataType.FLOAT, raw_data: raw };
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** One layer of the fixture as an ONNX model; inputs X [T, B, F], optional sequence_lens,
 * initial_h, initial_c; outputs Y [T, D, B, H], Y_h, (Y_c). */
function layerModel(f: Fixture, l: number, F: number, withLengths: boolean, withState: boolean) {
  const cfg = f.config as Record<string, unknown>;
  const H = cfg.hiddenSize as number;
  const D = cfg.bidirectional ? 2 : 1;
  const G = f.cell === 'lstm' ? 4 : f.cell === 'gru' ? 3 : 1;
  // PyTorch's block order -> ONNX's: LSTM i f g o -> i o f c; GRU r z n -> z r h.
  const order = f.cell === 'lstm' ? [0, 3, 1, 2] : f.cell === 'gru' ? [1, 0, 2] : [0];
  const W: Float32Array[] = [];
  const R: Float32Array[] = [];
  const B: Float32Array[] = [];
  const P: Float32Array[] = [];
  for (const sfx of ['', '_reverse'].slice(0, D)) {
    const p = (n: string) => floats(f.params[`${n}_l${l}${sfx}`]);
    W.push(reorderBlocks(p('weight_ih'), H, F, order));
    R.push(reorderBlocks(p('weight_hh'), H, H, order));
    B.push(
      concat([reorderBlocks(p('bias_ih'), H, 1, order), reorderBlocks(p('bias_hh'), H, 1, order)]),
    );
    if (cfg.peephole) P.push(reorderBlocks(p('weight_ph'), H, 1, [0, 2, 1])); // i f o -> i o f
  }
  const inits = [
    initializer('W', { dims: [D, G * H, F], data: concat(W) }),
    initializer('R', { dims: [D, G * H, H], data: concat(R) }),
    initializer('B', { dims: [D, 2 * G * H], data: concat(B) }),
  ];
  const inputs = [
    'X',
    'W',
    'R',
    'B',
    withLengths ? 'sequence_lens' : '',
    withState ? 'initial_h' : '',
  ];
  if (f.cell === 'lstm') {
    inputs.push(withState ? 'initial_c' : '');
    if (P.length) {
      inputs.push('P');
      inits.push(initializer('P', { dims: [D, 3 * H], data: concat(P) }));
    }
  }
  while (inputs[inputs.length - 1] === '') inputs.pop();
  const acts = roles(f);
  const attribute: object[] = [
    { name: 'hidden_size', type: AttributeType.INT, i: H },
    {
      name: 'direction',
      type: AttributeType.STRING,
      s: new TextEncoder().encode(D === 2 ? 'bidirectional' : 'forward'),
    },
    ...activationAttributes(D === 2 ? [...acts, ...acts] : acts),
  ];
  if (cfg.clip !== undefined)
    attribute.push({ name: 'clip', type: AttributeType.FLOAT, f: cfg.clip });
  if (f.cell === 'gru')
    attribute.push({
      name: 'linear_before_reset',
      type: AttributeType.INT,
      i: cfg.resetAfter ? 1 : 0,
    });
  const outputs = f.cell === 'lstm' ? ['Y', 'Y_h', 'Y_c'] : ['Y', 'Y_h'];
  const info = (name: string, type: number, dims: (number | string)[]) => ({
    name,
    type: {
      tensor_type: {
        elem_type: type,
        shape: {
          dim: dims.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })),
        },
      },
    },
  });
  const graphInputs = [info('X', DataType.FLOAT, ['T', 'B', F])];
  if (withLengths) graphInputs.push(info('sequence_lens', DataType.INT32, ['B']));
  if (withState) graphInputs.push(info('initial_h', DataType.FLOAT, [D, 'B', H]));
  if (withState && f.cell === 'lstm')
    graphInputs.push(info('initial_c', DataType.FLOAT, [D, 'B', H]));
  const msg = {
    ir_version: 8,
    opset_import: [{ domain: '', version: 14 }],
    producer_name: 'cellstate-test',
    graph: {
      name: 'layer',
      node: [
        { name: 'rnn', op_type: f.cell.toUpperCase(), input: inputs, output: outputs, attribute },
      ],
      initializer: inits,
      input: graphInputs,
      output: outputs.map((o) => ({
        name: o,
        type: { tensor_type: { elem_type: DataType.FLOAT } },
      })),
    },
  };
  const T = modelProto();
  return T.encode(T.fromObject(msg)).finish();
}

/** The whole stack in onnxruntime: output [T, B, D·H], hN and cN [L·D, B, H]. */
async function runStack(f: Fixture) {
  const cfg = f.config as Record<string, unknown>;
  const T = f.seqLen;
  const Bn = f.batch;
  const H = cfg.hiddenSize as number;
  const D = cfg.bidirectional ? 2 : 1;
  const L = cfg.numLayers as number;
  let x = floats(f.inputs.x);
  let F = cfg.inputSize as number;
  const hN: Float32Array[] = [];
  const cN: Float32Array[] = [];
  const stateSize = D * Bn * H;
  for (let l = 0; l < L; ++l) {
    const withState = f.inputs.h0 !== null;
    const feeds: Record<string, ort.Tensor> = { X: new ort.Tensor('float32', x, [T, Bn, F]) };
    if (f.lengths) feeds.sequence_lens = new ort.Tensor('int32', Int32Array.from(f.lengths), [Bn]);
    if (withState) {
      const h0 = floats(f.inputs.h0!);
      feeds.initial_h = new ort.Tensor('float32', h0.slice(l * stateSize, (l + 1) * stateSize), [
        D,
        Bn,
        H,
      ]);
      if (f.cell === 'lstm') {
        const c0 = floats(f.inputs.c0!);
        feeds.initial_c = new ort.Tensor('float32', c0.slice(l * stateSize, (l + 1) * stateSize), [
          D,
          Bn,
          H,
        ]);
      }
    }
    const out = await runOrt(layerModel(f, l, F, f.lengths !== null, withState), feeds);
    // Y [T, D, B, H] -> [T, B, D·H]
    const y = out.Y.data as Float32Array;
    const next = new Float32Array(T * Bn * D * H);
    for (let t = 0; t < T; ++t)
      for (let d = 0; d < D; ++d)
        for (let b = 0; b < Bn; ++b)
          for (let j = 0; j < H; ++j)
            next[((t * Bn + b) * D + d) * H + j] = y[((t * D + d) * Bn + b) * H + j];
    x = next;
    F = D * H;
    hN.push(out.Y_h.data as Float32Array);
    if (f.cell === 'lstm') cN.push(out.Y_c.data as Float32Array);
  }
  return { output: x, hN: concat(hN), cN: f.cell === 'lstm' ? concat(cN) : null };
}

describe('onnxruntime reproduces the activation and clip fixtures', () => {
  const fixtures = files.map(
    (file) => JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as Fixture,
  );
  // ONNX has no projection; the fixtures here are all time-major.
  const expressible = fixtures.filter((f) => !((f.config.projSize as number) > 0));
  it('covers every fixture ONNX can express', () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(20);
    expect(fixtures.filter((f) => !expressible.includes(f)).map((f) => f.name)).toEqual([
      'lstm_acts_softsign_elu_relu_proj',
    ]);
    expect(fixtures.every((f) => !f.config.batchFirst)).toBe(true);
  });
  for (const f of expressible) {
    it(`${f.name}`, async () => {
      const r = await runStack(f);
      expect(maxDiff(r.output, f.outputs.output.data)).toBeLessThan(ORT_TOL);
      expect(maxDiff(r.hN, f.outputs.hN.data)).toBeLessThan(ORT_TOL);
      if (r.cN) expect(maxDiff(r.cN, f.outputs.cN!.data)).toBeLessThan(ORT_TOL);
    });
  }
});
