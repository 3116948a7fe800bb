// Bad input of every kind API.md lists: a TypeError or RangeError whose message names the
// argument and the expected and actual shape; refusals with a code; and property tests throwing
// random wrong input at the API, where every call either succeeds or throws such an error (a
// crash would take the test process down, failing this file).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { ErrorCode, GRU, LSTM, RNN, Tensor, setNumThreads, type Recurrent } from '../../lib/index';
import { loadNative } from '../../lib/native';

type Coded = Error & { code?: string };

function thrown(fn: () => unknown): Coded {
  try {
    fn();
  } catch (e) {
    return e as Coded;
  }
  throw new Error('expected a throw');
}

function expectThrow(fn: () => unknown, type: ErrorConstructor, ...parts: string[]): Coded {
  const err = thrown(fn);
  expect(err, String(err)).toBeInstanceOf(type);
  for (const p of parts) expect(err.message).toContain(p);
  return err;
}

async function expectReject(
  promise: Promise<unknown>,
  type: ErrorConstructor,
  ...parts: string[]
): Promise<Coded> {
  let err: Coded | undefined;
  try {
    await promise;
  } catch (e) {
    err = e as Coded;
  }
  expect(err, 'expected a rejection').toBeDefined();
  expect(err).toBeInstanceOf(type);
  for (const p of parts) expect(err!.message).toContain(p);
  return err!;
}

/** Deterministic values in [−1, 1). */
function values(n: number, seed = 1): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; ++i) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

function randn(shape: number[], seed = 1): Tensor {
  return new Tensor(
    values(
      shape.reduce((a, b) => a * b, 1),
      seed,
    ),
    shape,
  );
}

const I = 4;
const H = 5;
const T = 6;
const B = 2;

function lstm(extra: object = {}) {
  return new LSTM({ inputSize: I, hiddenSize: H, seed: 3, ...extra });
}

describe('Tensor', () => {
  it('checks its data and shape', () => {
    expectThrow(() => new Tensor([1, 2] as never, [2]), TypeError, 'Float32Array', 'an array');
    expectThrow(() => new Tensor(new Float32Array(6), [2, 2]), RangeError, '[2, 2]', '4', '6');
    expectThrow(() => new Tensor(new Float32Array(2), [-2, -1]), RangeError, 'shape[0]');
    expectThrow(() => new Tensor(new Float32Array(2), [2.5]), RangeError, 'shape[0]');
    expectThrow(() => new Tensor(new Float32Array(2), 2 as never), TypeError, 'shape');
  });

  it('has a frozen shape and round-trips nested arrays', () => {
    const t = Tensor.from([
      [
        [1, 2],
        [3, 4],
        [5, 6],
      ],
    ]);
    expect(t.shape).toEqual([1, 3, 2]);
    expect(Object.isFrozen(t.shape)).toBe(true);
    expect(() => (t.shape as number[]).push(1)).toThrow(TypeError);
    expect(t.toArray()).toEqual([
      [
        [1, 2],
        [3, 4],
        [5, 6],
      ],
    ]);
    expect(Tensor.from([1, 2, 3]).toArray()).toEqual([1, 2, 3]);
    expect(Tensor.from([[1], [2]]).shape).toEqual([2, 1]);
    expect(Tensor.from([]).shape).toEqual([0]);
  });

  it('refuses ragged and non-numeric nested arrays, naming the index', () => {
    expectThrow(() => Tensor.from([[1, 2], [3]]), RangeError, 'nested[1]', '1', '2', 'ragged');
    expectThrow(() => Tensor.from([[[1], [2]], [[3]]]), RangeError, 'nested[1]', 'ragged');
    expectThrow(
      () =>
        Tensor.from([
          [1, 2],
          [3, 4, 5],
        ]),
      RangeError,
      'nested[1]',
    );
    expectThrow(() => Tensor.from([1, 'a'] as never), TypeError, 'nested[1]', 'string');
    expectThrow(() => Tensor.from([[1, 2], 3] as never), TypeError, 'nested[1]');
    expectThrow(() => Tensor.from('abc' as never), TypeError, 'nested');
    const self: unknown[] = [];
    self.push(self);
    expectThrow(() => Tensor.from(self as never), RangeError, 'levels');
  });
});

describe('options', () => {
  it('requires inputSize and hiddenSize', () => {
    expectThrow(() => new LSTM({ hiddenSize: 3 } as never), TypeError, 'inputSize', 'required');
    expectThrow(() => new GRU({ inputSize: 3 } as never), TypeError, 'hiddenSize', 'required');
    expectThrow(() => new RNN(undefined as never), TypeError, 'inputSize');
    expectThrow(() => new RNN(null as never), TypeError, 'options');
    expectThrow(() => new RNN(5 as never), TypeError, 'options');
  });

  it('refuses sizes that are not integers ≥ 1, naming the option and the value', () => {
    for (const bad of [0, -1, 1.5, NaN, Infinity, -Infinity, 2 ** 31, 2 ** 20 + 1])
      expectThrow(
        () => new LSTM({ inputSize: 3, hiddenSize: bad }),
        RangeError,
        'hiddenSize',
        String(bad),
      );
    for (const bad of [0, -3, 0.5, NaN, 2 ** 31, 1025])
      expectThrow(
        () => new GRU({ inputSize: 3, hiddenSize: 3, numLayers: bad }),
        RangeError,
        'numLayers',
      );
    expectThrow(
      () => new RNN({ inputSize: '3' as never, hiddenSize: 3 }),
      TypeError,
      'inputSize',
      'string "3"',
    );
    expectThrow(() => new RNN({ inputSize: 3n as never, hiddenSize: 3 }), TypeError, 'inputSize');
  });

  it('refuses non-boolean flags and unknown values', () => {
    expectThrow(
      () => new LSTM({ inputSize: 3, hiddenSize: 3, bidirectional: 1 as never }),
      TypeError,
      'bidirectional',
      'boolean',
    );
    expectThrow(
      () => new LSTM({ inputSize: 3, hiddenSize: 3, peephole: 'yes' as never }),
      TypeError,
      'peephole',
    );
    expectThrow(
      () => new GRU({ inputSize: 3, hiddenSize: 3, resetAfter: null as never }),
      TypeError,
      'resetAfter',
    );
    expectThrow(
      () => new RNN({ inputSize: 3, hiddenSize: 3, nonlinearity: 'swish' as never }),
      TypeError,
      'nonlinearity',
      "'tanh'",
      'swish',
    );
  });

  it('refuses unknown option names (typos, options of another cell)', () => {
    expectThrow(
      () => new LSTM({ inputSize: 3, hiddenSize: 3, hiddenSzie: 4 } as never),
      TypeError,
      "'hiddenSzie'",
    );
    expectThrow(
      () => new GRU({ inputSize: 3, hiddenSize: 3, projSize: 2 } as never),
      TypeError,
      "'projSize'",
    );
    expectThrow(
      () => new RNN({ inputSize: 3, hiddenSize: 3, resetAfter: true } as never),
      TypeError,
      "'resetAfter'",
    );
    expectThrow(
      () => new GRU({ inputSize: 3, hiddenSize: 3, cell: 'lstm' } as never),
      TypeError,
      'cell',
    );
  });

  it('keeps dropout in [0, 1) and the seed a uint32', () => {
    for (const bad of [1, -0.1, NaN, Infinity, 1 - 1e-9])
      expectThrow(
        () => new GRU({ inputSize: 3, hiddenSize: 3, dropout: bad }),
        RangeError,
        'dropout',
      );
    expectThrow(
      () => new GRU({ inputSize: 3, hiddenSize: 3, dropout: '0.1' as never }),
      TypeError,
      'dropout',
    );
    for (const bad of [-1, 2 ** 32, 1.5, NaN])
      expectThrow(() => new GRU({ inputSize: 3, hiddenSize: 3, seed: bad }), RangeError, 'seed');
    expect(new GRU({ inputSize: 3, hiddenSize: 3, seed: 2 ** 32 - 1 }).config.seed).toBe(
      2 ** 32 - 1,
    );
    expectThrow(
      () => new LSTM({ inputSize: 3, hiddenSize: 3, forgetBias: NaN }),
      RangeError,
      'forgetBias',
    );
  });

  it('requires 0 < projSize < hiddenSize', () => {
    for (const bad of [5, 6])
      expectThrow(
        () => new LSTM({ inputSize: 3, hiddenSize: 5, projSize: bad }),
        RangeError,
        'projSize',
        'hiddenSize',
        String(bad),
      );
    expectThrow(
      () => new LSTM({ inputSize: 3, hiddenSize: 5, projSize: -1 }),
      RangeError,
      'projSize',
    );
    expect(new LSTM({ inputSize: 3, hiddenSize: 5, projSize: 4 }).outputSize).toBe(4);
  });

  it('refuses contradictory LSTM combinations, naming both options', () => {
    expectThrow(
      () => lstm({ coupled: true, inputGate: false }),
      RangeError,
      'coupled',
      'inputGate',
    );
    expectThrow(
      () => lstm({ coupled: true, forgetGate: false }),
      RangeError,
      'coupled',
      'forgetGate',
    );
    expectThrow(
      () => lstm({ peephole: true, inputGate: false, forgetGate: false, outputGate: false }),
      RangeError,
      'peephole',
      'inputGate',
      'forgetGate',
      'outputGate',
    );
    // Not contradictory: no gates without peepholes.
    expect(lstm({ inputGate: false, forgetGate: false, outputGate: false }).outputSize).toBe(H);
  });

  it('refuses a layer too large to hold', () => {
    expectThrow(
      () => new LSTM({ inputSize: 2 ** 20, hiddenSize: 2 ** 20 }),
      RangeError,
      'parameters',
    );
  });

  it('resolves the config as plain JSON with the cell and every default', () => {
    expect(new GRU({ inputSize: 3, hiddenSize: 4, seed: 9 }).config).toEqual({
      cell: 'gru',
      inputSize: 3,
      hiddenSize: 4,
      numLayers: 1,
      bidirectional: false,
      direction: 'forward',
      batchFirst: false,
      dropout: 0,
      recurrentDropout: 0,
      inputDropout: 0,
      seed: 9,
      resetAfter: true,
    });
    expect(new RNN({ inputSize: 3, hiddenSize: 4, seed: 9 }).config.nonlinearity).toBe('tanh');
    const c = lstm().config;
    expect(c).toMatchObject({
      cell: 'lstm',
      projSize: 0,
      peephole: false,
      coupled: false,
      forgetBias: 1,
    });
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('setNumThreads takes an integer ≥ 1', () => {
    for (const bad of [0, -1, 1.5, NaN, Infinity, 2 ** 31])
      expectThrow(() => setNumThreads(bad), RangeError, 'setNumThreads', 'n');
    expectThrow(() => setNumThreads('2' as never), TypeError, 'setNumThreads');
  });
});

describe('forward', () => {
  it('checks the rank and size of x, naming expected and actual shapes', () => {
    const layer = lstm();
    expectThrow(
      () => layer.forward(randn([T, B])),
      RangeError,
      'forward',
      'x',
      '[T, B, I=4]',
      '[6, 2]',
    );
    expectThrow(() => layer.forward(randn([T, B, 3])), RangeError, 'x', '[T, B, I=4]', '[6, 2, 3]');
    expectThrow(() => layer.forward(randn([1, T, B, I])), RangeError, 'x', '[1, 6, 2, 4]');
    expectThrow(() => layer.forward(randn([0, B, I])), RangeError, 'x', '[T, B, I=4]', '[0, 2, 4]');
    expectThrow(() => layer.forward(randn([T, 0, I])), RangeError, 'x', '[6, 0, 4]');
    const bf = lstm({ batchFirst: true });
    expectThrow(() => bf.forward(randn([B, T, 2])), RangeError, 'x', '[B, T, I=4]', '[2, 6, 2]');
  });

  it('refuses an x that is not a tensor', () => {
    const layer = lstm();
    expectThrow(() => layer.forward('x' as never), TypeError, 'x', 'string');
    expectThrow(() => layer.forward(values(48) as never), TypeError, 'x', 'Float32Array');
    expectThrow(() => layer.forward(undefined as never), TypeError, 'x');
    expectThrow(
      () => layer.forward([[[1, 2, 3, 4]], [[1, 2, 3]]]),
      RangeError,
      'x[1][0]',
      'ragged',
    );
    expectThrow(() => layer.forward([[[1, 2, 3, 'a']]] as never), TypeError, 'x[0][0][3]');
  });

  it('checks h0 and c0 against [L·D, B, R] and [L·D, B, H]', () => {
    const layer = lstm({ numLayers: 2, bidirectional: true, projSize: 3 });
    const x = randn([T, B, I]);
    expectThrow(
      () => layer.forward(x, { h0: randn([4, B, 5]) }),
      RangeError,
      'h0',
      '[L·D=4, B=2, R=3]',
      '[4, 2, 5]',
    );
    expectThrow(() => layer.forward(x, { h0: randn([2, B, 3]) }), RangeError, 'h0', '[2, 2, 3]');
    expectThrow(
      () => layer.forward(x, { c0: randn([4, B, 3]) }),
      RangeError,
      'c0',
      '[L·D=4, B=2, H=5]',
      '[4, 2, 3]',
    );
    expectThrow(() => layer.forward(x, { h0: randn([24]) }), RangeError, 'h0', '[24]');
    expectThrow(() => layer.forward(x, { h0: 3 as never }), TypeError, 'h0');
    const ok = layer.forward(x, { h0: randn([4, B, 3]), c0: randn([4, B, 5]) });
    expect(ok.output.shape).toEqual([T, B, 6]);
    expect(ok.h.shape).toEqual([4, B, 3]);
    expect(ok.c?.shape).toEqual([4, B, 5]);
  });

  it('refuses c0 for a GRU or an RNN', () => {
    for (const layer of [
      new GRU({ inputSize: I, hiddenSize: H }),
      new RNN({ inputSize: I, hiddenSize: H }),
    ]) {
      expectThrow(
        () => layer.forward(randn([T, B, I]), { c0: randn([1, B, H]) }),
        TypeError,
        'c0',
        'LSTM',
        '[1, 2, 5]',
      );
      const r = layer.forward(randn([T, B, I]));
      expect(r.c).toBeUndefined();
    }
  });

  it('checks lengths: B integers in [0, T]', () => {
    const layer = lstm();
    const x = randn([T, B, I]);
    expectThrow(() => layer.forward(x, { lengths: [3] }), RangeError, 'lengths', '[B=2]', '[1]');
    expectThrow(
      () => layer.forward(x, { lengths: [3, 3, 3] }),
      RangeError,
      'lengths',
      '[B=2]',
      '[3]',
    );
    for (const bad of [T + 1, 1.5, NaN, -1, Infinity])
      expectThrow(
        () => layer.forward(x, { lengths: [3, bad] }),
        RangeError,
        'lengths[1]',
        '[0, T=6]',
        String(bad),
      );
    expectThrow(() => layer.forward(x, { lengths: [3, '3'] as never }), TypeError, 'lengths[1]');
    expectThrow(
      () => layer.forward(x, { lengths: new Float32Array([3, 3]) as never }),
      TypeError,
      'lengths',
      'Float32Array',
    );
    expectThrow(() => layer.forward(x, { lengths: 3 as never }), TypeError, 'lengths');
    expect(layer.forward(x, { lengths: new Int32Array([6, 1]) }).output.shape).toEqual([T, B, H]);
    expect(layer.forward(x, { lengths: [2, 6] }).output.shape).toEqual([T, B, H]);
  });

  it('refuses unknown options and a non-boolean train', () => {
    const layer = lstm();
    const x = randn([T, B, I]);
    expectThrow(() => layer.forward(x, { training: true } as never), TypeError, "'training'");
    expectThrow(() => layer.forward(x, { train: 1 } as never), TypeError, 'train', 'boolean');
    expectThrow(() => layer.forward(x, 5 as never), TypeError, 'options');
  });

  it('writes into an earlier result with into, and checks it', async () => {
    const layer = lstm({ numLayers: 2 });
    const x = randn([T, B, I]);
    const fresh = layer.forward(x);
    const into = layer.forward(randn([T, B, I], 7));
    const again = layer.forward(x, { into });
    expect(again.output).toBe(into.output);
    expect(again.h).toBe(into.h);
    expect(again.c).toBe(into.c);
    expect(Array.from(again.output.data)).toEqual(Array.from(fresh.output.data));
    expect(Array.from(again.c!.data)).toEqual(Array.from(fresh.c!.data));
    const viaAsync = await layer.forwardAsync(x, { into: layer.forward(randn([T, B, I], 8)) });
    expect(Array.from(viaAsync.h.data)).toEqual(Array.from(fresh.h.data));
    // Chunks of 2 steps with the state carried through into equal one forward of all T steps.
    let r = layer.forward(new Tensor(x.data.slice(0, 2 * B * I), [2, B, I]));
    const outs = [...r.output.data];
    for (let t = 2; t < T; t += 2) {
      const chunk = new Tensor(x.data.slice(t * B * I, (t + 2) * B * I), [2, B, I]);
      r = layer.forward(chunk, { h0: r.h, c0: r.c, into: r });
      outs.push(...r.output.data);
    }
    expect(outs).toEqual(Array.from(fresh.output.data));
    expect(Array.from(r.h.data)).toEqual(Array.from(fresh.h.data));

    const short = layer.forward(randn([T - 1, B, I]));
    expectThrow(
      () => layer.forward(x, { into: short }),
      RangeError,
      'into.output',
      '[T=6, B=2, D·R=5]',
      '[5, 2, 5]',
    );
    expectThrow(
      () => layer.forward(x, { into: { output: fresh.output } } as never),
      TypeError,
      'into',
    );
    expectThrow(() => layer.forward(x, { into: 3 } as never), TypeError, 'into', 'number 3');
    const shared = new Float32Array(200);
    const xs = new Tensor(shared.subarray(0, T * B * I), [T, B, I]);
    const alias = {
      output: new Tensor(shared.subarray(40, 40 + T * B * H), [T, B, H]),
      h: fresh.h,
      c: fresh.c,
    };
    expectThrow(
      () => layer.forward(xs, { into: alias }),
      RangeError,
      'into.output',
      'share memory with x',
    );
    // States: h0 may be exactly into.h (as in the chunk loop above), nothing else may overlap.
    const hs = new Tensor(shared.subarray(40, 40 + 2 * B * H), [2, B, H]);
    const intoH = { output: fresh.output, h: hs, c: fresh.c };
    expectThrow(
      () => layer.forward(xs, { into: intoH }),
      RangeError,
      'into.h',
      'share memory with x',
    );
    const h0 = new Tensor(fresh.output.data.subarray(0, 2 * B * H), [2, B, H]);
    expectThrow(
      () => layer.forward(x, { h0, into: fresh }),
      RangeError,
      'into.output',
      'share memory with h0',
    );
    const h0Shifted = new Tensor(shared.subarray(41, 41 + 2 * B * H), [2, B, H]);
    expectThrow(
      () => layer.forward(x, { h0: h0Shifted, into: intoH }),
      RangeError,
      'into.h',
      'share memory with h0',
    );
    const twice = { output: fresh.output, h: hs, c: new Tensor(hs.data, [2, B, H]) };
    expectThrow(
      () => layer.forward(x, { into: twice }),
      RangeError,
      'into.c',
      'share memory with into.h',
    );
    const gru = new GRU({ inputSize: I, hiddenSize: H });
    const g = gru.forward(x);
    expect(gru.forward(x, { into: g }).output).toBe(g.output);
  });

  it('backward writes into an earlier result with into, and checks it', async () => {
    const layer = lstm({ numLayers: 2 });
    const x = randn([T, B, I]);
    const g = randn([T, B, H], 5);
    layer.forward(x, { train: true });
    const fresh = layer.backward({ output: g });
    layer.forward(x, { train: true });
    const into = layer.backward({ output: randn([T, B, H], 6) });
    layer.forward(x, { train: true });
    const again = layer.backward({ output: g }, { into });
    expect(again.x).toBe(into.x);
    expect(again.c0).toBe(into.c0);
    expect(Array.from(again.x.data)).toEqual(Array.from(fresh.x.data));
    expect(Array.from(again.h0.data)).toEqual(Array.from(fresh.h0.data));
    layer.forward(x, { train: true });
    const viaAsync = await layer.backwardAsync({ output: g }, { into });
    expect(Array.from(viaAsync.c0!.data)).toEqual(Array.from(fresh.c0!.data));

    layer.forward(x, { train: true });
    expectThrow(
      () => layer.backward({ output: g }, { into: { x: into.h0, h0: into.h0, c0: into.c0 } }),
      RangeError,
      'into.x',
      '[T=6, B=2, I=4]',
    );
    expectThrow(
      () => layer.backward({ output: g }, { into: fresh as never, x: 1 } as never),
      TypeError,
      "'x'",
    );
    const gAlias = {
      x: new Tensor(g.data.subarray(0, T * B * I), [T, B, I]),
      h0: into.h0,
      c0: into.c0,
    };
    expectThrow(
      () => layer.backward({ output: g }, { into: gAlias }),
      RangeError,
      'into.x',
      'share memory with output',
    );
    // The refused calls changed nothing: the pending forward is still there.
    expect(Array.from(layer.backward({ output: g }, { into }).x.data)).toEqual(
      Array.from(fresh.x.data),
    );
  });

  it('forwardAsync rejects the same bad input', async () => {
    const layer = lstm();
    await expectReject(
      layer.forwardAsync(randn([T, B, 3])),
      RangeError,
      'forwardAsync',
      'x',
      '[T, B, I=4]',
      '[6, 2, 3]',
    );
    await expectReject(
      layer.forwardAsync(randn([T, B, I]), { lengths: [-1, 1] }),
      RangeError,
      'lengths[0]',
    );
    const gru = new GRU({ inputSize: I, hiddenSize: H });
    await expectReject(
      gru.forwardAsync(randn([T, B, I]), { c0: randn([1, B, H]) }),
      TypeError,
      'c0',
    );
  });
});

describe('backward', () => {
  it('refuses without a training forward, with code ERR_CELLSTATE_NO_FORWARD', async () => {
    const layer = lstm();
    const e1 = expectThrow(() => layer.backward({}), RangeError, 'backward', 'train: true');
    expect(e1.code).toBe(ErrorCode.NO_FORWARD);
    layer.forward(randn([T, B, I]));
    expect(thrown(() => layer.backward({})).code).toBe(ErrorCode.NO_FORWARD);
    const e2 = await expectReject(layer.backwardAsync({}), RangeError, 'backwardAsync');
    expect(e2.code).toBe(ErrorCode.NO_FORWARD);
  });

  it('runs once per training forward', () => {
    const layer = lstm();
    layer.forward(randn([T, B, I]), { train: true });
    layer.backward({ output: randn([T, B, H]) });
    expect(thrown(() => layer.backward({ output: randn([T, B, H]) })).code).toBe(
      ErrorCode.NO_FORWARD,
    );
    layer.forward(randn([T, B, I]), { train: true });
    layer.forward(randn([T, B, I])); // an inference forward in between
    expect(thrown(() => layer.backward({})).code).toBe(ErrorCode.NO_FORWARD);
  });

  it('is invalidated by setParameters', () => {
    const layer = lstm();
    layer.forward(randn([T, B, I]), { train: true });
    layer.setParameters(layer.parameters());
    expect(thrown(() => layer.backward({})).code).toBe(ErrorCode.NO_FORWARD);
  });

  it('checks gradient shapes against the training forward', () => {
    const layer = lstm({ numLayers: 2 });
    layer.forward(randn([T, 3, I]), { train: true });
    expectThrow(
      () => layer.backward({ output: randn([T, B, H]) }),
      RangeError,
      'backward',
      'output',
      '[T=6, B=3, D·R=5]',
      '[6, 2, 5]',
    );
    expectThrow(
      () => layer.backward({ h: randn([1, 3, H]) }),
      RangeError,
      'h',
      '[L·D=2, B=3, R=5]',
      '[1, 3, 5]',
    );
    expectThrow(
      () => layer.backward({ c: randn([2, 3, 4]) }),
      RangeError,
      'c',
      '[L·D=2, B=3, H=5]',
      '[2, 3, 4]',
    );
    expectThrow(() => layer.backward({ hidden: randn([2, 3, 5]) } as never), TypeError, "'hidden'");
    expectThrow(() => layer.backward({ output: 'g' } as never), TypeError, 'output');
    // The failed calls left the training forward pending.
    const r = layer.backward({ output: randn([T, 3, H]) });
    expect(r.x.shape).toEqual([T, 3, I]);
    expect(r.h0.shape).toEqual([2, 3, H]);
    expect(r.c0?.shape).toEqual([2, 3, H]);
  });

  it('uses the batch-first layout for output and x gradients', () => {
    const layer = lstm({ batchFirst: true });
    layer.forward(randn([B, T, I]), { train: true });
    expectThrow(
      () => layer.backward({ output: randn([T, B, H]) }),
      RangeError,
      '[B=2, T=6, D·R=5]',
    );
    expect(layer.backward({ output: randn([B, T, H]) }).x.shape).toEqual([B, T, I]);
  });

  it('refuses a c gradient for a GRU or an RNN', () => {
    for (const layer of [
      new GRU({ inputSize: I, hiddenSize: H }),
      new RNN({ inputSize: I, hiddenSize: H }),
    ]) {
      layer.forward(randn([T, B, I]), { train: true });
      expectThrow(() => layer.backward({ c: randn([1, B, H]) }), TypeError, 'c', 'LSTM');
      const r = layer.backward({ h: randn([1, B, H]) });
      expect(r.c0).toBeUndefined();
    }
  });
});

describe('setParameters', () => {
  it('refuses unknown and missing names, and wrong sizes, changing nothing', () => {
    const layer = lstm({ peephole: true });
    const before = layer.parameters();
    const modified = (name: string, value: unknown) =>
      ({ ...layer.parameters(), [name]: value }) as Record<string, Tensor>;
    expectThrow(
      () => layer.setParameters(modified('weight_xx_l0', randn([3]))),
      TypeError,
      "'weight_xx_l0'",
    );
    const missing: Record<string, Tensor> = layer.parameters();
    delete missing.bias_hh_l0;
    expectThrow(() => layer.setParameters(missing), RangeError, "'bias_hh_l0'", 'missing');
    expectThrow(
      () => layer.setParameters(modified('weight_ih_l0', values(19))),
      RangeError,
      'weight_ih_l0',
      '[20, 4]',
      '[19]',
    );
    // Same element count, wrong shape.
    expectThrow(
      () => layer.setParameters(modified('weight_ih_l0', randn([4, 20]))),
      RangeError,
      'weight_ih_l0',
      '[20, 4]',
      '[4, 20]',
    );
    expectThrow(
      () => layer.setParameters(modified('weight_ph_l0', randn([14]))),
      RangeError,
      'weight_ph_l0',
      '[15]',
      '[14]',
    );
    expectThrow(() => layer.setParameters(modified('bias_ih_l0', 'b')), TypeError, 'bias_ih_l0');
    expectThrow(
      () => layer.setParameters(modified('bias_ih_l0', new Float64Array(20))),
      TypeError,
      'bias_ih_l0',
    );
    expectThrow(() => layer.setParameters(null as never), TypeError, 'setParameters');
    const after = layer.parameters();
    for (const name of Object.keys(before))
      expect(after[name].data, name).toEqual(before[name].data);
  });

  it('takes Tensors, nested arrays and Float32Arrays; parameters() are copies', () => {
    const layer = new RNN({ inputSize: 2, hiddenSize: 2 });
    layer.setParameters({
      weight_ih_l0: [
        [1, 2],
        [3, 4],
      ],
      weight_hh_l0: new Float32Array([5, 6, 7, 8]),
      bias_ih_l0: new Tensor(new Float32Array([9, 10]), [2]),
      bias_hh_l0: [11, 12],
    });
    const p = layer.parameters();
    expect(p.weight_ih_l0.toArray()).toEqual([
      [1, 2],
      [3, 4],
    ]);
    expect(Array.from(p.weight_hh_l0.data)).toEqual([5, 6, 7, 8]);
    p.bias_hh_l0.data[0] = 100;
    expect(layer.parameters().bias_hh_l0.data[0]).toBe(11);
    expect(Object.keys(layer.gradients())).toEqual(Object.keys(p));
  });
});

describe('busy', () => {
  it('refuses changes while forwardAsync is in flight, then works', async () => {
    const layer = new LSTM({ inputSize: 64, hiddenSize: 128, seed: 1 });
    const params = layer.parameters();
    const x = randn([100, 16, 64]);
    const pending = layer.forwardAsync(x, { train: true });
    for (const call of [
      () => layer.setParameters(params),
      () => layer.forward(x),
      () => layer.zeroGrad(),
      () => layer.backward({}),
    ]) {
      const e = thrown(call);
      expect(e.code).toBe(ErrorCode.BUSY);
      expect(e.message).toContain('busy');
    }
    expect((await expectReject(layer.forwardAsync(x), Error, 'busy')).code).toBe(ErrorCode.BUSY);
    // Reading is fine.
    expect(Object.keys(layer.parameters()).length).toBe(4);
    const r = await pending;
    expect(r.output.shape).toEqual([100, 16, 128]);
    layer.setParameters(params);
    layer.forward(x, { train: true });
    const g = layer.backwardAsync({ output: r.output });
    expect(thrown(() => layer.gradients()).code).toBe(ErrorCode.BUSY);
    await g;
    expect(Object.keys(layer.gradients()).length).toBe(4);
  });

  it('is enforced by the binding too', async () => {
    const { NativeLayer } = loadNative();
    const nl = new NativeLayer({ cell: 'gru', inputSize: 32, hiddenSize: 64 });
    const count: number = nl.paramCount;
    const args = {
      T: 100,
      B: 8,
      batchFirst: false,
      train: false,
      x: new Float32Array(100 * 8 * 32),
      output: new Float32Array(100 * 8 * 64),
      hN: new Float32Array(8 * 64),
    };
    const pending = nl.forwardAsync(args);
    expect(nl.busy).toBe('forward');
    for (const call of [
      () => nl.writeParams(new Float32Array(count)),
      () => nl.zeroGrad(),
      () => nl.forward(args),
      () => nl.backward({}),
    ])
      expect(thrown(call).code).toBe(ErrorCode.BUSY);
    await pending;
    expect(nl.busy).toBe(null);
    nl.writeParams(new Float32Array(count));
  });
});

describe('the binding re-checks sizes', () => {
  const { NativeLayer } = loadNative();
  const make = () => new NativeLayer({ cell: 'lstm', inputSize: 3, hiddenSize: 4, numLayers: 2 });
  const ok = () => ({
    T: 5,
    B: 2,
    batchFirst: false,
    train: true,
    dropoutSeed: 0n,
    x: new Float32Array(5 * 2 * 3),
    output: new Float32Array(5 * 2 * 4),
    hN: new Float32Array(2 * 2 * 4),
    cN: new Float32Array(2 * 2 * 4),
  });

  it('refuses arrays of the wrong type or size', () => {
    const nl = make();
    const cases: [object, ErrorConstructor, string][] = [
      [{ x: new Float32Array(29) }, RangeError, 'x'],
      [{ x: new Float64Array(30) }, TypeError, 'x'],
      [{ output: new Float32Array(41) }, RangeError, 'output'],
      [{ hN: new Float32Array(15) }, RangeError, 'hN'],
      [{ h0: new Float32Array(17) }, RangeError, 'h0'],
      [{ c0: [0] }, TypeError, 'c0'],
      [{ lengths: new Int32Array(3) }, RangeError, 'lengths'],
      [{ lengths: new Int32Array([5, 6]) }, RangeError, 'lengths[1]'],
      [{ lengths: new Int32Array([-1, 1]) }, RangeError, 'lengths[0]'],
      [{ lengths: new Uint32Array([1, 1]) }, TypeError, 'lengths'],
      [{ T: 6 }, RangeError, 'x'],
      [{ T: 0 }, RangeError, 'T'],
      [{ T: 2 ** 31 }, RangeError, 'T'],
      [{ B: 1.5 }, RangeError, 'B'],
      [{ dropoutSeed: -1 }, RangeError, 'dropoutSeed'],
      [{ dropoutSeed: 2n ** 64n }, RangeError, 'dropoutSeed'],
      [{ x: undefined }, TypeError, 'x'],
    ];
    for (const [patch, type, part] of cases)
      expectThrow(() => nl.forward({ ...ok(), ...patch }), type, part);
    expectThrow(() => nl.readParams(new Float32Array(nl.paramCount - 1)), RangeError, 'out');
    expectThrow(() => nl.writeParams(new Float32Array(nl.paramCount + 1)), RangeError, 'src');
    expectThrow(() => nl.readGrads(new Float64Array(nl.paramCount)), TypeError, 'out');
    nl.forward(ok());
    expectThrow(() => nl.backward({ dx: new Float32Array(31) }), RangeError, 'dx');
    expectThrow(() => nl.backward({ dOutput: new Float32Array(39) }), RangeError, 'dOutput');
    nl.backward({ dx: new Float32Array(30), dh0: new Float32Array(16), dc0: new Float32Array(16) });
    const e = expectThrow(() => nl.backward({}), RangeError, 'forward');
    expect(e.code).toBe(ErrorCode.NO_FORWARD);
  });

  it('maps kernel refusals to coded errors', () => {
    const e1 = expectThrow(
      () => new NativeLayer({ cell: 'lstm', inputSize: 3, hiddenSize: 4, projSize: 4 }),
      RangeError,
      'projSize',
    );
    expect(e1.code).toBe('ERR_CELLSTATE_OUT_OF_RANGE');
    const e2 = expectThrow(
      () => new NativeLayer({ cell: 'gru', inputSize: 3, hiddenSize: 4, projSize: 2 }),
      TypeError,
      'projSize',
    );
    expect(e2.code).toBe('ERR_CELLSTATE_INVALID_ARG');
    expectThrow(
      () =>
        new NativeLayer({
          cell: 'lstm',
          inputSize: 3,
          hiddenSize: 4,
          coupled: true,
          inputGate: false,
        }),
      RangeError,
      'coupled',
      'inputGate',
    );
    expectThrow(
      () => new NativeLayer({ cell: 'conv', inputSize: 3, hiddenSize: 4 }),
      TypeError,
      'cell',
    );
  });

  it('survives a caller that detaches its buffers while async work runs', async () => {
    const nl = make();
    const args = ok();
    const pending = nl.forwardAsync(args);
    structuredClone(args.x.buffer, { transfer: [args.x.buffer] });
    structuredClone(args.output.buffer, { transfer: [args.output.buffer] });
    const err = await pending.then(
      () => undefined,
      (e: Coded) => e,
    );
    expect(err?.message).toContain('detached');
    expect(nl.busy).toBe(null);
  });
});

// ---- property tests ------------------------------------------------------------------------

const ACCEPTED = [TypeError, RangeError];

function expectCleanRefusal(e: unknown): void {
  const ok =
    ACCEPTED.some((t) => e instanceof t) ||
    (e instanceof Error &&
      typeof (e as Coded).code === 'string' &&
      (e as Coded).code!.startsWith('ERR_CELLSTATE_'));
  if (!ok) throw e;
}

/** Mostly valid small sizes, plus every kind of wrong value. */
const anyValue = fc.oneof(
  { weight: 10, arbitrary: fc.integer({ min: 1, max: 6 }) },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      0,
      -1,
      1.5,
      NaN,
      Infinity,
      -Infinity,
      2 ** 31,
      2 ** 32,
      2 ** 53,
      -(2 ** 31),
      1e300,
    ),
  },
  { weight: 1, arbitrary: fc.constantFrom('3', '', null, true, false, [], {}, 3n, undefined) },
);

const flag = fc.oneof({ weight: 4, arbitrary: fc.boolean() }, { weight: 1, arbitrary: anyValue });
const commonOptions = {
  inputSize: anyValue,
  hiddenSize: anyValue,
  numLayers: anyValue,
  bidirectional: flag,
  batchFirst: flag,
  dropout: fc.oneof(
    { weight: 4, arbitrary: fc.double({ min: 0, max: 0.9, noNaN: true }) },
    { weight: 1, arbitrary: fc.oneof(fc.double({ min: -0.5, max: 1.5 }), anyValue) },
  ),
  seed: fc.oneof(fc.nat(), anyValue),
};
const required = { requiredKeys: ['inputSize', 'hiddenSize'] as ('inputSize' | 'hiddenSize')[] };
const lstmOptions = fc.record(
  {
    ...commonOptions,
    projSize: fc.oneof(fc.constant(0), anyValue),
    peephole: flag,
    coupled: flag,
    inputGate: flag,
    forgetGate: flag,
    outputGate: flag,
    inputActivation: flag,
    outputActivation: flag,
    forgetBias: fc.oneof(
      { weight: 4, arbitrary: fc.double({ min: -5, max: 5, noNaN: true }) },
      { weight: 1, arbitrary: fc.oneof(fc.double(), anyValue) },
    ),
  },
  required,
);
const gruOptions = fc.record({ ...commonOptions, resetAfter: flag }, required);
const rnnOptions = fc.record(
  { ...commonOptions, nonlinearity: fc.constantFrom('tanh', 'relu', 'sigmoid', 3, undefined) },
  required,
);
// Now and then an unknown key (a typo, another cell's option).
const withTypo = (arb: fc.Arbitrary<object>) =>
  fc
    .tuple(arb, fc.integer({ min: 0, max: 19 }), fc.constantFrom('bogus', 'projSize', 'resetAfter'))
    .map(([o, r, key]) => (r === 0 ? { ...o, [key]: 1 } : o));

const anyConstruction = fc.oneof(
  withTypo(lstmOptions).map((o) => () => new LSTM(o as never)),
  withTypo(gruOptions).map((o) => () => new GRU(o as never)),
  withTypo(rnnOptions).map((o) => () => new RNN(o as never)),
);

describe('property: random input never crashes', () => {
  it('constructors', () => {
    let built = 0;
    fc.assert(
      fc.property(anyConstruction, (make) => {
        try {
          const layer = make();
          expect(layer.outputSize).toBeGreaterThan(0);
          built++;
        } catch (e) {
          expectCleanRefusal(e);
        }
      }),
      { numRuns: 500 },
    );
    // The generators reach valid configurations too, not only refusals.
    expect(built).toBeGreaterThan(20);
  });

  const layers = [
    lstm({ numLayers: 2, bidirectional: true, projSize: 3 }),
    lstm({ batchFirst: true, peephole: true }),
    new GRU({ inputSize: I, hiddenSize: 3, bidirectional: true }),
    new RNN({ inputSize: I, hiddenSize: 2, numLayers: 2, batchFirst: true }),
  ] as Recurrent[];

  /** The shapes each argument should have for this layer, T and B. */
  function rightShapes(layer: Recurrent, t: number, b: number) {
    const c = layer.config;
    const LD = c.numLayers * (c.bidirectional ? 2 : 1);
    const R = layer.outputSize / (c.bidirectional ? 2 : 1);
    return {
      x: c.batchFirst ? [b, t, c.inputSize] : [t, b, c.inputSize],
      h0: [LD, b, R],
      c0: [LD, b, c.hiddenSize],
      output: c.batchFirst ? [b, t, layer.outputSize] : [t, b, layer.outputSize],
      h: [LD, b, R],
      c: [LD, b, c.hiddenSize],
    };
  }

  const dim = fc.oneof(fc.integer({ min: 0, max: 5 }), fc.constantFrom(1, 2, 3));
  const randomShape = fc.array(dim, { minLength: 0, maxLength: 4 });
  const pick = fc.constantFrom('absent', 'right', 'right', 'random');
  const badLengths = fc.oneof(
    fc.array(fc.oneof(fc.integer({ min: -1, max: 8 }), fc.constantFrom(NaN, 1.5, Infinity)), {
      maxLength: 5,
    }),
    fc.array(fc.integer({ min: -2, max: 8 }), { maxLength: 5 }).map((a) => Int32Array.from(a)),
    fc.constantFrom('3', 3, null, new Float32Array(2), [[1]]),
  );

  it('forward and backward with random shapes, states and lengths', () => {
    let forwards = 0;
    let backwards = 0;
    fc.assert(
      fc.property(
        fc.constantFrom(...layers),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 3 }),
        fc.record({ x: pick, h0: pick, c0: pick, lengths: pick, output: pick, h: pick, c: pick }),
        randomShape,
        badLengths,
        fc.boolean(),
        (layer, t, b, picks, shape, wrongLengths, train) => {
          const right = rightShapes(layer, t, b);
          const arg = (name: keyof typeof right) =>
            picks[name] === 'absent'
              ? undefined
              : randn(picks[name] === 'right' ? right[name] : shape, 5);
          const lengths =
            picks.lengths === 'absent'
              ? undefined
              : picks.lengths === 'right'
                ? Array.from({ length: b }, (_, i) => 1 + ((i * 5) % t))
                : wrongLengths;
          let trained = false;
          const x = arg('x') ?? randn(shape, 5);
          try {
            const r = layer.forward(x, {
              h0: arg('h0'),
              c0: arg('c0'),
              lengths: lengths as never,
              train,
            });
            expect(r.output.shape).toEqual([...x.shape.slice(0, 2), layer.outputSize]);
            forwards++;
            trained = train;
          } catch (e) {
            expectCleanRefusal(e);
          }
          try {
            const r = layer.backward({ output: arg('output'), h: arg('h'), c: arg('c') });
            // (An earlier training forward may be the pending one.)
            if (trained) expect(r.x.shape).toEqual(x.shape);
            backwards++;
          } catch (e) {
            expectCleanRefusal(e);
          }
        },
      ),
      { numRuns: 500 },
    );
    expect(forwards).toBeGreaterThan(25);
    expect(backwards).toBeGreaterThan(5);
  });

  it('setParameters with random names and shapes', () => {
    const layer = new GRU({ inputSize: 2, hiddenSize: 2 });
    const names = Object.keys(layer.parameters());
    const tensorArb = randomShape.map((s) => randn(s, 7));
    fc.assert(
      fc.property(
        fc.dictionary(
          fc.constantFrom(...names, 'weight_hr_l0', 'x'),
          fc.oneof(tensorArb, fc.constant(values(12)), fc.constant('w')),
        ),
        (p) => {
          try {
            layer.setParameters(p as never);
          } catch (e) {
            expectCleanRefusal(e);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
