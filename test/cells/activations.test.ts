// Activation functions and clip as options (docs/cells.md, "Activation functions and clipping"):
// resolution into config (defaults left out, NIAF / NOAF as booleans), refusals naming the option,
// config round trip, save / load, ONNX export that onnxruntime runs to cellstate's outputs and
// import back, PyTorch state dicts refusing what nn.LSTM / nn.GRU / nn.RNN do not compute.
import { readFileSync } from 'node:fs';
import path from 'node:path';

import * as ort from 'onnxruntime-web';
import { beforeAll, describe, expect, it } from 'vitest';

import {
  GRU,
  LSTM,
  RNN,
  Tensor,
  fromBuffer,
  fromOnnx,
  load,
  toBuffer,
  toOnnx,
} from '../../lib/index';
import type { Recurrent } from '../../lib/layers/recurrent';
import { maxDiff } from '../helpers/compare';

beforeAll(() => {
  ort.env.wasm.numThreads = 1;
});

function input(T: number, B: number, I: number, seed: number): Tensor {
  const data = new Float32Array(T * B * I);
  let s = seed;
  for (let i = 0; i < data.length; ++i) {
    s = (s * 1103515245 + 12345) >>> 0;
    data[i] = ((s >>> 8) / (1 << 24)) * 4 - 2;
  }
  return new Tensor(data, [T, B, I]);
}

function thrown(fn: () => unknown): Error & { code?: string } {
  try {
    fn();
  } catch (e) {
    return e as Error & { code?: string };
  }
  throw new Error('did not throw');
}

const base = { inputSize: 3, hiddenSize: 4, seed: 7 };

describe('resolution', () => {
  it('keeps defaults out of config and fills in parameters', () => {
    const l = new LSTM({ ...base, gateActivation: 'hardSigmoid', cellActivation: 'tanh' });
    expect(l.config.gateActivation).toEqual({ name: 'hardSigmoid', alpha: 0.2, beta: 0.5 });
    expect('cellActivation' in l.config).toBe(false);
    expect('clip' in l.config).toBe(false);
    const plain = new LSTM({ ...base, gateActivation: 'sigmoid', hiddenActivation: 'tanh' });
    expect(plain.config).toEqual(new LSTM(base).config);
    const g = new GRU({ ...base, cellActivation: { name: 'elu', alpha: 0.5 }, clip: 2 });
    expect(g.config.cellActivation).toEqual({ name: 'elu', alpha: 0.5 });
    expect(g.config.clip).toBe(2);
    const r = new RNN({ ...base, nonlinearity: { name: 'scaledTanh', beta: 2 } });
    expect(r.config.nonlinearity).toEqual({ name: 'scaledTanh', alpha: 1, beta: 2 });
    expect(new RNN({ ...base, nonlinearity: 'relu' }).config.nonlinearity).toBe('relu');
  });

  it("stores cellActivation / hiddenActivation 'affine' (α 1, β 0) as NIAF / NOAF", () => {
    const a = new LSTM({ ...base, cellActivation: 'affine', hiddenActivation: 'affine' });
    expect(a.config.inputActivation).toBe(false);
    expect(a.config.outputActivation).toBe(false);
    expect('cellActivation' in a.config).toBe(false);
    const b = new LSTM({ ...base, inputActivation: false, outputActivation: false });
    const x = input(5, 2, 3, 1);
    expect(maxDiff(a.forward(x).output.data, b.forward(x).output.data)).toBe(0);
    // another affine is a function of its own
    const c = new LSTM({ ...base, cellActivation: { name: 'affine', alpha: 0.5 } });
    expect(c.config.cellActivation).toEqual({ name: 'affine', alpha: 0.5, beta: 0 });
    expect(c.config.inputActivation).toBe(true);
  });

  it('changes what the layer computes (hardSigmoid gates differ from sigmoid ones)', () => {
    const x = input(6, 2, 3, 2);
    const a = new LSTM({ ...base, gateActivation: 'hardSigmoid' }).forward(x).output;
    const b = new LSTM(base).forward(x).output;
    expect(maxDiff(a.data, b.data)).toBeGreaterThan(1e-3);
  });

  it('refuses bad values, naming the option', () => {
    const cases: [() => unknown, string, RegExp][] = [
      [
        () => new LSTM({ ...base, gateActivation: 'swish' as never }),
        'TypeError',
        /gateActivation/,
      ],
      [() => new GRU({ ...base, cellActivation: 3 as never }), 'TypeError', /cellActivation/],
      [
        () => new LSTM({ ...base, hiddenActivation: { name: 'relu', alpha: 1 } as never }),
        'TypeError',
        /hiddenActivation.*relu takes no alpha/,
      ],
      [
        () => new RNN({ ...base, nonlinearity: { name: 'elu', gamma: 1 } as never }),
        'TypeError',
        /nonlinearity.*gamma/,
      ],
      [
        () => new RNN({ ...base, nonlinearity: { name: 'elu', alpha: NaN } }),
        'RangeError',
        /nonlinearity.*alpha/,
      ],
      [
        () => new LSTM({ ...base, gateActivation: { name: 'hardSigmoid', beta: 1e39 } }),
        'RangeError',
        /gateActivation.*beta/,
      ],
      [() => new LSTM({ ...base, clip: 0 }), 'RangeError', /clip/],
      [() => new GRU({ ...base, clip: -1 }), 'RangeError', /clip/],
      [() => new RNN({ ...base, clip: Infinity }), 'RangeError', /clip/],
      [() => new RNN({ ...base, clip: '1' as never }), 'TypeError', /clip/],
      [
        () => new LSTM({ ...base, inputActivation: false, cellActivation: 'relu' }),
        'RangeError',
        /inputActivation: false and cellActivation/,
      ],
      [
        () => new LSTM({ ...base, outputActivation: false, hiddenActivation: 'affine' }),
        'RangeError',
        /outputActivation: false and hiddenActivation/,
      ],
      [
        () => new GRU({ ...base, hiddenActivation: 'tanh' } as never),
        'TypeError',
        /hiddenActivation/,
      ],
    ];
    for (const [fn, type, msg] of cases) {
      const e = thrown(fn);
      expect(e.name, String(msg)).toBe(type);
      expect(e.message).toMatch(msg);
      expect(e.code).toBe('ERR_CELLSTATE_INVALID_OPTION');
    }
  });
});

const layers: [string, () => Recurrent][] = [
  [
    'lstm hardSigmoid gates, elu cell, softsign hidden, clip, peephole, bidirectional',
    () =>
      new LSTM({
        ...base,
        gateActivation: 'hardSigmoid',
        cellActivation: { name: 'elu', alpha: 0.75 },
        hiddenActivation: 'softsign',
        clip: 1.5,
        peephole: true,
        bidirectional: true,
      }),
  ],
  [
    'lstm leakyRelu(-0.25) gates (pre-activations kept), NIAF, 2 layers',
    () =>
      new LSTM({
        ...base,
        gateActivation: { name: 'leakyRelu', alpha: -0.25 },
        inputActivation: false,
        numLayers: 2,
      }),
  ],
  [
    'gru affine gates, softplus candidate, clip, resetAfter false',
    () =>
      new GRU({
        ...base,
        gateActivation: { name: 'affine', alpha: 0.25, beta: 0.5 },
        cellActivation: 'softplus',
        clip: 1,
        resetAfter: false,
      }),
  ],
  [
    'rnn thresholdedRelu(-0.5), clip, bidirectional',
    () =>
      new RNN({
        ...base,
        nonlinearity: { name: 'thresholdedRelu', alpha: -0.5 },
        clip: 1.25,
        bidirectional: true,
      }),
  ],
];

describe('round trips', () => {
  for (const [name, make] of layers) {
    it(`${name}: config, save / load`, async () => {
      const layer = make();
      const x = input(5, 2, 3, 3);
      const want = layer.forward(x).output;
      const again = new (layer.constructor as new (c: unknown) => Recurrent)(layer.config);
      again.setParameters(layer.parameters());
      expect(again.config).toEqual(layer.config);
      expect(maxDiff(again.forward(x).output.data, want.data)).toBe(0);
      const loaded = (await fromBuffer(toBuffer(layer))) as Recurrent;
      expect(loaded.config).toEqual(layer.config);
      expect(maxDiff(loaded.forward(x).output.data, want.data)).toBe(0);
    });

    it(`${name}: ONNX export runs in onnxruntime to the same outputs, and imports back`, async () => {
      const layer = make();
      const x = input(5, 2, 3, 4);
      const want = layer.forward(x).output;
      const bytes = toOnnx(layer);
      const session = await ort.InferenceSession.create(bytes);
      try {
        const inputName = session.inputNames[0];
        const res = await session.run({
          [inputName]: new ort.Tensor('float32', x.data as Float32Array, [...x.shape]),
        });
        const got = res[session.outputNames[0]].data as Float32Array;
        expect(maxDiff(got, want.data)).toBeLessThan(1e-5);
      } finally {
        await session.release();
      }
      const back = fromOnnx(bytes) as Recurrent;
      const { seed: _a, ...c1 } = back.config as unknown as Record<string, unknown>;
      const { seed: _b, ...c2 } = layer.config as unknown as Record<string, unknown>;
      expect(c1).toEqual(c2);
      expect(maxDiff(back.forward(x).output.data, want.data)).toBe(0);
    });
  }
});

describe('PyTorch', () => {
  it('refuses the options nn.LSTM / nn.RNN do not have', async () => {
    const file = path.join(__dirname, '../data/torch_lstm.safetensors');
    const bytes = new Uint8Array(readFileSync(file));
    for (const config of [{ gateActivation: 'hardSigmoid' }, { clip: 1 }]) {
      const e = await load(bytes, { config }).then(
        () => null,
        (err: Error & { code?: string }) => err,
      );
      expect(e?.code).toBe('ERR_CELLSTATE_FILE_CONFIG');
      expect(e?.message).toMatch(Object.keys(config)[0]);
    }
    const rnn = new Uint8Array(
      readFileSync(path.join(__dirname, '../data/torch_rnn_relu.safetensors')),
    );
    const e = await load(rnn, { config: { nonlinearity: 'elu' } }).then(
      () => null,
      (err: Error & { code?: string }) => err,
    );
    expect(e?.code).toBe('ERR_CELLSTATE_FILE_CONFIG');
  });
});
