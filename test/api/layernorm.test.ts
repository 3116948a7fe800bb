// The layer-normalized LSTM (layerNorm: true; docs/cells.md, "Layer-normalized LSTM") through the
// public API: options and refusals, the six parameter tensors and their initialisation, that
// the option changes the computation, streams, save/load, PyTorch-style state_dicts, and ONNX
// export's refusal. Values against the float64 reference: test/parity/fixtures.test.ts over
// test/fixtures/layernorm (every ISA: test/runtime/isa.test.ts; streams: test/stream/parity.test.ts).
import { describe, expect, it } from 'vitest';

import { GRU, LSTM, RNN, fromBuffer, toBuffer, toOnnx } from '../../lib/index';
import { parameterCountOf } from '../../lib/io/registry';
import type { Tensor } from '../../lib/tensor';
import { bits, joinFile, randomTensor, thrown } from '../io/helpers';

const LN_NAMES = [
  'ln_ih_weight',
  'ln_ih_bias',
  'ln_hh_weight',
  'ln_hh_bias',
  'ln_c_weight',
  'ln_c_bias',
];

/** A safetensors state_dict (no cellstate metadata, as PyTorch's save_file writes) of tensors. */
function stateDict(tensors: Record<string, Tensor>): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  const chunks: Uint8Array[] = [];
  let at = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const bytes = new Uint8Array(t.data.slice().buffer);
    header[name] = { dtype: 'F32', shape: [...t.shape], data_offsets: [at, at + bytes.length] };
    chunks.push(bytes);
    at += bytes.length;
  }
  const data = new Uint8Array(at);
  let o = 0;
  for (const c of chunks) data.set(c, (o += c.length) - c.length);
  return joinFile(header, data);
}

/** Every parameter drawn anew (LN gains around 1), so that nothing equals its initial value. */
function randomize(layer: LSTM, seed: number): void {
  const p = layer.parameters();
  let k = 0;
  for (const [name, t] of Object.entries(p)) {
    const r = randomTensor(t.shape, seed + k++);
    if (/^ln_\w+_weight_/.test(name)) for (let i = 0; i < r.data.length; ++i) r.data[i] += 1;
    p[name] = r;
  }
  layer.setParameters(p);
}

describe('layerNorm options', () => {
  it('defaults to false and is recorded in config', () => {
    expect(new LSTM({ inputSize: 2, hiddenSize: 3, seed: 1 }).config.layerNorm).toBe(false);
    const l = new LSTM({ inputSize: 2, hiddenSize: 3, layerNorm: true, seed: 1 });
    expect(l.config.layerNorm).toBe(true);
    // A config passes back.
    expect(new LSTM(l.config).config).toEqual(l.config);
  });

  it('must be a boolean', () => {
    const e = thrown(() => new LSTM({ inputSize: 2, hiddenSize: 3, layerNorm: 1 as never }));
    expect(e).toBeInstanceOf(TypeError);
    expect(e.message).toMatch(/layerNorm/);
  });

  it('GRU and RNN refuse it, naming the option', () => {
    for (const make of [
      () => new GRU({ inputSize: 2, hiddenSize: 3, layerNorm: true } as never),
      () => new RNN({ inputSize: 2, hiddenSize: 3, layerNorm: true } as never),
    ]) {
      const e = thrown(make);
      expect(e).toBeInstanceOf(TypeError);
      expect(e.message).toMatch(/layerNorm/);
    }
  });
});

describe('layerNorm parameters', () => {
  it('six tensors per layer and direction after weight_hr / weight_ph, initialised to 1 and 0', () => {
    const H = 5;
    const P = 3;
    const l = new LSTM({
      inputSize: 4,
      hiddenSize: H,
      projSize: P,
      peephole: true,
      coupled: true,
      numLayers: 2,
      bidirectional: true,
      layerNorm: true,
      seed: 3,
    });
    const G = 3; // CIFG: f, g, o
    const params = l.parameters();
    const names = Object.keys(params);
    for (const sfx of ['_l0', '_l0_reverse', '_l1', '_l1_reverse']) {
      const at = names.indexOf(`weight_ph${sfx}`);
      expect(names.slice(at - 1, at + 7)).toEqual([
        `weight_hr${sfx}`,
        `weight_ph${sfx}`,
        ...LN_NAMES.map((n) => n + sfx),
      ]);
      for (const n of ['ln_ih', 'ln_hh']) {
        expect(params[`${n}_weight${sfx}`].shape).toEqual([G * H]);
        expect(params[`${n}_bias${sfx}`].shape).toEqual([G * H]);
      }
      expect(params[`ln_c_weight${sfx}`].shape).toEqual([H]);
      expect(params[`ln_c_bias${sfx}`].shape).toEqual([H]);
      for (const n of LN_NAMES) {
        const want = n.endsWith('weight') ? 1 : 0;
        expect(
          [...params[n + sfx].data].every((v) => v === want),
          n + sfx,
        ).toBe(true);
      }
    }
    const total = Object.values(params).reduce((s, t) => s + t.size, 0);
    expect(parameterCountOf(l.config)).toBe(total);
    expect(total - parameterCountOf({ ...l.config, layerNorm: false })).toBe(
      4 * (4 * G * H + 2 * H),
    );
  });

  it('the option changes the computation, and each LN parameter reaches the output', () => {
    const options = { inputSize: 3, hiddenSize: 4, seed: 5 };
    const a = new LSTM(options);
    const b = new LSTM({ ...options, layerNorm: true });
    // Same weights and biases: only the normalizations differ.
    const shared = a.parameters();
    b.setParameters({ ...b.parameters(), ...shared });
    const x = randomTensor([5, 2, 3], 7);
    const ya = a.forward(x).output;
    const yb = b.forward(x).output;
    expect(bits(yb)).not.toEqual(bits(ya));
    // Gradients of every LN tensor are nonzero after a backward.
    b.zeroGrad();
    b.forward(x, { train: true });
    b.backward({ output: randomTensor(ya.shape, 8) });
    const g = b.gradients();
    for (const n of LN_NAMES)
      expect(
        g[`${n}_l0`].data.some((v) => v !== 0),
        n,
      ).toBe(true);
  });
});

describe('layerNorm streams', () => {
  it('step equals forward, two layers', () => {
    const l = new LSTM({ inputSize: 3, hiddenSize: 6, numLayers: 2, layerNorm: true, seed: 9 });
    randomize(l, 100);
    const T = 5;
    const x = randomTensor([T, 1, 3], 11);
    const want = l.forward(x).output;
    const s = l.stream();
    for (let t = 0; t < T; ++t) {
      const y = s.step(x.data.subarray(t * 3, t * 3 + 3));
      const w = want.data.subarray(t * 6, t * 6 + 6);
      for (let j = 0; j < 6; ++j) expect(Math.abs(y[j] - w[j])).toBeLessThanOrEqual(1e-6);
    }
  });
});

describe('layerNorm with activation functions and clip', () => {
  // Values against the float64 reference: the lstm_layernorm_acts_* / _clip_* fixtures of
  // test/fixtures/layernorm (test/parity/fixtures.test.ts).
  const make = () =>
    new LSTM({
      inputSize: 3,
      hiddenSize: 5,
      peephole: true,
      layerNorm: true,
      gateActivation: 'hardSigmoid',
      cellActivation: { name: 'elu', alpha: -0.5 },
      hiddenActivation: 'softsign',
      clip: 1.25,
      seed: 21,
    });

  it('are accepted together (they were refused), recorded in config', () => {
    const l = make();
    expect(l.config).toMatchObject({
      layerNorm: true,
      gateActivation: { name: 'hardSigmoid', alpha: 0.2, beta: 0.5 },
      cellActivation: { name: 'elu', alpha: -0.5 },
      hiddenActivation: 'softsign',
      clip: 1.25,
    });
    expect(new LSTM(l.config).config).toEqual(l.config);
  });

  it('each option changes the output of a layer-normalized LSTM', () => {
    const base = new LSTM({
      inputSize: 3,
      hiddenSize: 5,
      peephole: true,
      layerNorm: true,
      seed: 21,
    });
    randomize(base, 400);
    const x = randomTensor([4, 2, 3], 15);
    const ref = bits(base.forward(x).output);
    for (const extra of [
      { gateActivation: 'hardSigmoid' },
      { cellActivation: { name: 'elu', alpha: -0.5 } },
      { hiddenActivation: 'softsign' },
      { clip: 0.5 },
    ] as const) {
      const l = new LSTM({ ...base.config, ...extra });
      l.setParameters(base.parameters());
      expect(bits(l.forward(x).output), JSON.stringify(extra)).not.toEqual(ref);
    }
  });

  it('step equals forward; save and load keep config and outputs bit for bit', () => {
    const l = make();
    randomize(l, 500);
    const T = 5;
    const x = randomTensor([T, 1, 3], 16);
    const want = l.forward(x).output;
    const s = l.stream();
    for (let t = 0; t < T; ++t) {
      const y = s.step(x.data.subarray(t * 3, t * 3 + 3));
      const w = want.data.subarray(t * 5, t * 5 + 5);
      for (let j = 0; j < 5; ++j) expect(Math.abs(y[j] - w[j])).toBeLessThanOrEqual(1e-6);
    }
    const back = fromBuffer(toBuffer(l), { expect: LSTM });
    expect(back.config).toEqual(l.config);
    expect(bits(back.forward(x).output)).toEqual(bits(want));
  });
});

describe('layerNorm save and load', () => {
  const make = () =>
    new LSTM({
      inputSize: 3,
      hiddenSize: 5,
      projSize: 2,
      peephole: true,
      numLayers: 2,
      bidirectional: true,
      layerNorm: true,
      seed: 12,
    });

  it('cellstate file: config, parameters and outputs bit for bit', () => {
    const l = make();
    randomize(l, 200);
    const back = fromBuffer(toBuffer(l), { expect: LSTM });
    expect(back.config).toEqual(l.config);
    const p = l.parameters();
    const q = back.parameters();
    expect(Object.keys(q)).toEqual(Object.keys(p));
    for (const n of Object.keys(p)) expect(bits(q[n]), n).toEqual(bits(p[n]));
    const x = randomTensor([4, 2, 3], 13);
    expect(bits(back.forward(x).output)).toEqual(bits(l.forward(x).output));
  });

  it('a state_dict without cellstate metadata (PyTorch-style): ln_* names map, layerNorm inferred', () => {
    const l = make();
    randomize(l, 300);
    const back = fromBuffer(stateDict(l.parameters()), {
      config: { batchFirst: false },
      expect: LSTM,
    });
    expect(back.config).toMatchObject({ layerNorm: true, peephole: true, projSize: 2 });
    const x = randomTensor([4, 2, 3], 14);
    expect(bits(back.forward(x).output)).toEqual(bits(l.forward(x).output));
  });

  it('a state_dict whose ln_* tensors are incomplete is refused, naming the missing tensor', () => {
    const l = make();
    const p = l.parameters();
    delete p['ln_c_bias_l1_reverse'];
    const e = thrown(() => fromBuffer(stateDict(p), { config: { batchFirst: false } }));
    expect(e.code).toMatch(/^ERR_CELLSTATE_FILE_/);
    expect(e.message).toContain('ln_c_bias_l1_reverse');
  });

  it('a GRU state_dict with ln_* tensors is refused (layerNorm is an LSTM option)', () => {
    const p = new GRU({ inputSize: 3, hiddenSize: 4, seed: 1 }).parameters();
    const sd = stateDict({ ...p, ln_ih_weight_l0: p['bias_ih_l0'] });
    // Told it is a GRU, or (3 gate blocks) inferring it.
    for (const config of [{ cell: 'gru', batchFirst: false }, { batchFirst: false }]) {
      const e = thrown(() => fromBuffer(sd, { config }));
      expect(e.code).toMatch(/^ERR_CELLSTATE_/);
      expect(e.message).toMatch(/ln_ih_weight_l0|layerNorm/);
    }
  });
});

describe('layerNorm ONNX export', () => {
  it('is refused with ERR_CELLSTATE_ONNX_UNSUPPORTED: ONNX has no layer-normalized LSTM', () => {
    const l = new LSTM({ inputSize: 2, hiddenSize: 3, layerNorm: true, seed: 1 });
    const e = thrown(() => toOnnx(l));
    expect(e.code).toBe('ERR_CELLSTATE_ONNX_UNSUPPORTED');
    expect(e.message).toMatch(
      /layerNorm: true cannot be exported: ONNX's LSTM operator has no layer normalization/,
    );
  });

  it('the same LSTM without layerNorm exports', () => {
    const l = new LSTM({ inputSize: 2, hiddenSize: 3, seed: 1 });
    expect(toOnnx(l).length).toBeGreaterThan(0);
  });
});
