// importOnnx(...).run(feeds): single LSTM / GRU / RNN nodes built here over the attribute space,
// run by cellstate's graph runner and by onnxruntime-web (the reference), compared within 2e-5.
// onnxruntime runs no `layout: 1` recurrent node, so a layout-1 node is compared through its
// layout-0 twin with transposed feeds and outputs.
import * as ort from 'onnxruntime-web';
import { beforeAll, describe, expect, it } from 'vitest';

import { LSTM, Tensor, fromOnnx, importOnnx, toOnnx } from '../../lib/index';
import type { AttributeMsg, TensorMsg, ValueInfoMsg } from '../../lib/io/onnx-schema';
import {
  aFloat,
  aFloats,
  aInt,
  aInts,
  aStr,
  aStrs,
  maxDiff,
  model,
  node,
  rng,
  runOrt,
  tensor,
  vi,
} from './onnx-builder';
import { thrown } from './helpers';

// the bound against onnxruntime (float32 both sides, different summation order)
const TOL = 2e-5;

beforeAll(() => {
  ort.env.wasm.numThreads = 1;
});

type Op = 'LSTM' | 'GRU' | 'RNN';
const SLOTS: Record<Op, number> = { LSTM: 4, GRU: 3, RNN: 1 };

interface Case {
  op: Op;
  direction?: 'forward' | 'reverse' | 'bidirectional';
  layout?: 0 | 1;
  T?: number;
  B?: number;
  I?: number;
  H?: number;
  bias?: boolean;
  peepholes?: boolean;
  lens?: boolean;
  /** the sequence_lens fed (default: T − (b mod T)); 0 is an empty sequence */
  lensValues?: number[];
  /** initial_h / initial_c: a graph input, an initializer, or absent */
  h0?: 'input' | 'init';
  c0?: 'input' | 'init';
  /** output names (Y, Y_h, Y_c); '' leaves one out */
  outputs?: string[];
  attrs?: AttributeMsg[];
  /** hidden_size written (default: written, the true H) */
  hiddenSizeAttr?: boolean;
  seed?: number;
  /** the model's opset (default 17) */
  opset?: number;
}

/** [d0, d1, d2(, d3)] data permuted by `perm` (an independent helper). */
function permute(data: ArrayLike<number>, dims: number[], perm: number[]): Float32Array {
  const out = new Float32Array(data.length);
  const od = perm.map((p) => dims[p]);
  const st = dims.map((_, i) => dims.slice(i + 1).reduce((a, b) => a * b, 1));
  const idx = new Array(dims.length).fill(0);
  for (let k = 0; k < out.length; ++k) {
    let at = 0;
    for (let j = 0; j < od.length; ++j) at += idx[j] * st[perm[j]];
    out[k] = data[at];
    for (let j = od.length - 1; j >= 0; --j) {
      if (++idx[j] < od[j]) break;
      idx[j] = 0;
    }
  }
  return out;
}

interface Built {
  bytes: Uint8Array;
  /** feeds in layout 0 (ORT's) */
  feeds: Record<string, { data: Float32Array | Int32Array; dims: number[] }>;
  outputs: string[];
  dims: { T: number; B: number; I: number; H: number; D: number };
}

function build(c: Case, layout: 0 | 1): Built {
  const { op } = c;
  const T = c.T ?? 4;
  const B = c.B ?? 3;
  const I = c.I ?? 3;
  const H = c.H ?? 5;
  const direction = c.direction ?? 'forward';
  const D = direction === 'bidirectional' ? 2 : 1;
  const G = SLOTS[op];
  const r = rng(c.seed ?? 7);
  const inits: TensorMsg[] = [
    tensor('W', [D, G * H, I], r(D * G * H * I, -0.6, 0.6)),
    tensor('R', [D, G * H, H], r(D * G * H * H, -0.6, 0.6)),
  ];
  const inputs: ValueInfoMsg[] = [vi('X', 'float', layout === 0 ? ['T', 'B', I] : ['B', 'T', I])];
  const feeds: Built['feeds'] = { X: { data: r(T * B * I, -2, 2), dims: [T, B, I] } };
  const nodeIn = ['X', 'W', 'R', '', '', '', '', ''];
  if (c.bias !== false) {
    inits.push(tensor('B', [D, 2 * G * H], r(D * 2 * G * H, -0.5, 0.5)));
    nodeIn[3] = 'B';
  }
  if (c.lens) {
    inputs.push(vi('lens', 'int32', ['B']));
    const lens = c.lensValues ?? Array.from({ length: B }, (_, b) => T - (b % T));
    feeds.lens = { data: Int32Array.from(lens), dims: [B] };
    nodeIn[4] = 'lens';
  }
  const stateDims = (lay: number) => (lay === 0 ? [D, 'B', H] : ['B', D, H]);
  for (const [k, key, name] of [
    [5, 'h0', 'initial_h'],
    [6, 'c0', 'initial_c'],
  ] as const) {
    const how = c[key];
    if (!how) continue;
    const data = r(D * B * H, -1, 1);
    if (how === 'input') {
      inputs.push(vi(name, 'float', stateDims(layout)));
      feeds[name] = { data, dims: [D, B, H] };
    } else {
      const stored = layout === 0 ? data : permute(data, [D, B, H], [1, 0, 2]);
      inits.push(tensor(name, layout === 0 ? [D, B, H] : [B, D, H], stored));
    }
    nodeIn[k] = name;
  }
  if (c.peepholes) {
    inits.push(tensor('P', [D, 3 * H], r(D * 3 * H, -0.5, 0.5)));
    nodeIn[7] = 'P';
  }
  while (nodeIn[nodeIn.length - 1] === '') nodeIn.pop();
  const outNames = c.outputs ?? (op === 'LSTM' ? ['Y', 'Y_h', 'Y_c'] : ['Y', 'Y_h']);
  const attrs = [aStr('direction', direction), ...(c.attrs ?? [])];
  if (c.hiddenSizeAttr !== false) attrs.push(aInt('hidden_size', H));
  if (layout === 1) attrs.push(aInt('layout', 1));
  const outputs = outNames.flatMap((n, k) =>
    n === ''
      ? []
      : [
          vi(
            n,
            'float',
            k === 0
              ? layout === 0
                ? ['T', D, 'B', H]
                : ['B', 'T', D, H]
              : (stateDims(layout) as (string | number)[]),
          ),
        ],
  );
  const bytes = model({
    nodes: [node(op, nodeIn, outNames, attrs, `${op.toLowerCase()}_node`)],
    inputs,
    outputs,
    initializers: inits,
    opset: c.opset ?? 17,
  });
  return { bytes, feeds, outputs: outNames, dims: { T, B, I, H, D } };
}

/** Runs the case in cellstate (its layout) and onnxruntime (layout 0); returns the largest difference. */
async function compare(c: Case): Promise<number> {
  const layout = c.layout ?? 0;
  // onnxruntime needs hidden_size: its twin always has it
  const ref = build({ ...c, hiddenSizeAttr: true }, 0);
  const mine = layout === 0 && c.hiddenSizeAttr !== false ? ref : build(c, layout);
  const { T, B, I, H, D } = ref.dims;
  const ortFeeds: Record<string, ort.Tensor> = {};
  for (const [k, v] of Object.entries(ref.feeds))
    ortFeeds[k] = new ort.Tensor(
      v.data instanceof Int32Array ? 'int32' : 'float32',
      v.data,
      v.dims,
    );
  const expected = await runOrt(ref.bytes, ortFeeds);
  const m = await importOnnx(mine.bytes);
  const feeds: Record<string, Tensor | Int32Array> = {};
  for (const [k, v] of Object.entries(ref.feeds)) {
    if (v.data instanceof Int32Array) feeds[k] = v.data;
    else if (layout === 0) feeds[k] = new Tensor(v.data, v.dims);
    else if (k === 'X') feeds[k] = new Tensor(permute(v.data, [T, B, I], [1, 0, 2]), [B, T, I]);
    else feeds[k] = new Tensor(permute(v.data, [D, B, H], [1, 0, 2]), [B, D, H]);
  }
  const got = m.run(feeds);
  const sync = Object.keys(got).sort();
  const asyncGot = await m.runAsync(feeds);
  expect(Object.keys(asyncGot).sort()).toEqual(sync);
  let worst = 0;
  ref.outputs.forEach((name, k) => {
    if (name === '') return;
    const g = got[name] as Tensor;
    expect(g).toBeInstanceOf(Tensor);
    const want = expected[name];
    let data = g.data;
    if (layout === 1) {
      expect(g.shape).toEqual(k === 0 ? [B, T, D, H] : [B, D, H]);
      data =
        k === 0 ? permute(data, [B, T, D, H], [1, 2, 0, 3]) : permute(data, [B, D, H], [1, 0, 2]);
    } else expect(g.shape).toEqual(want.dims);
    worst = Math.max(worst, maxDiff(data, want.data as Float32Array));
    expect([...(asyncGot[name] as Tensor).data]).toEqual([...g.data]);
  });
  m.dispose();
  return worst;
}

describe('run: single recurrent nodes, layout 0, against onnxruntime', () => {
  for (const op of ['LSTM', 'GRU', 'RNN'] as const)
    for (const direction of ['forward', 'reverse', 'bidirectional'] as const)
      it(`${op} ${direction}`, async () => {
        expect(await compare({ op, direction })).toBeLessThan(TOL);
      });
});

describe('run: the attribute space, each attribute alone and combined, against onnxruntime', () => {
  const cases: [string, Case][] = [];
  for (const op of ['LSTM', 'GRU', 'RNN'] as const) {
    const state =
      op === 'LSTM' ? ({ h0: 'input', c0: 'input' } as const) : ({ h0: 'input' } as const);
    cases.push(
      [`${op} layout 1`, { op, layout: 1 }],
      [
        `${op} layout 1 bidirectional with states and lengths`,
        { op, layout: 1, direction: 'bidirectional', lens: true, ...state },
      ],
      [
        `${op} layout 1 reverse, initializer states`,
        { op, layout: 1, direction: 'reverse', h0: 'init', c0: op === 'LSTM' ? 'init' : undefined },
      ],
      [`${op} no B`, { op, bias: false }],
      [`${op} sequence_lens`, { op, lens: true, T: 5, B: 4 }],
      [`${op} sequence_lens reverse`, { op, lens: true, direction: 'reverse', T: 5, B: 4 }],
      [
        `${op} sequence_lens bidirectional`,
        { op, lens: true, direction: 'bidirectional', T: 5, B: 4 },
      ],
      [`${op} initial states as inputs`, { op, ...state }],
      [
        `${op} initial states as initializers, bidirectional`,
        { op, direction: 'bidirectional', h0: 'init', c0: op === 'LSTM' ? 'init' : undefined },
      ],
      [`${op} clip`, { op, attrs: [aFloat('clip', 0.4)] }],
      [`${op} no hidden_size attribute`, { op, hiddenSizeAttr: false }],
      [`${op} Y alone`, { op, outputs: ['Y'] }],
      [`${op} Y_h alone`, { op, outputs: ['', 'Y_h'] }],
      [`${op} batch 1, one step`, { op, T: 1, B: 1, direction: 'bidirectional' }],
    );
  }
  cases.push(
    ['LSTM Y_c alone', { op: 'LSTM', outputs: ['', '', 'Y_c'] }],
    [
      'LSTM Y_h and Y_c, bidirectional',
      { op: 'LSTM', outputs: ['', 'Y_h', 'Y_c'], direction: 'bidirectional' },
    ],
    ['LSTM peepholes', { op: 'LSTM', peepholes: true }],
    [
      'LSTM peepholes bidirectional, lengths',
      { op: 'LSTM', peepholes: true, direction: 'bidirectional', lens: true },
    ],
    ['LSTM input_forget', { op: 'LSTM', attrs: [aInt('input_forget', 1)] }],
    [
      'LSTM input_forget peepholes reverse',
      { op: 'LSTM', peepholes: true, direction: 'reverse', attrs: [aInt('input_forget', 1)] },
    ],
    [
      'LSTM activations',
      { op: 'LSTM', attrs: [aStrs('activations', ['HardSigmoid', 'Tanh', 'Softsign'])] },
    ],
    [
      'LSTM activations with alpha / beta, bidirectional, clip',
      {
        op: 'LSTM',
        direction: 'bidirectional',
        attrs: [
          aStrs('activations', [
            'HardSigmoid',
            'LeakyRelu',
            'ScaledTanh',
            'HardSigmoid',
            'LeakyRelu',
            'ScaledTanh',
          ]),
          aFloats('activation_alpha', [0.3, 0.05, 0.9, 0.3, 0.05, 0.9]),
          aFloats('activation_beta', [0.4, 1.1, 0.4, 1.1]),
          aFloat('clip', 2),
        ],
      },
    ],
    [
      'LSTM different activations per direction (two layers)',
      {
        op: 'LSTM',
        direction: 'bidirectional',
        lens: true,
        h0: 'input',
        c0: 'input',
        attrs: [
          aStrs('activations', ['Sigmoid', 'Tanh', 'Tanh', 'HardSigmoid', 'Softsign', 'Elu']),
        ],
      },
    ],
    [
      'LSTM alpha / beta defaults (onnxruntime’s)',
      { op: 'LSTM', attrs: [aStrs('activations', ['HardSigmoid', 'Elu', 'LeakyRelu'])] },
    ],
    ['GRU linear_before_reset', { op: 'GRU', attrs: [aInt('linear_before_reset', 1)] }],
    [
      'GRU linear_before_reset bidirectional lengths layout 1',
      {
        op: 'GRU',
        layout: 1,
        direction: 'bidirectional',
        lens: true,
        attrs: [aInt('linear_before_reset', 1)],
      },
    ],
    ['GRU activations', { op: 'GRU', attrs: [aStrs('activations', ['Sigmoid', 'Relu'])] }],
    [
      'GRU activations alpha, clip, reverse',
      {
        op: 'GRU',
        direction: 'reverse',
        attrs: [
          aStrs('activations', ['HardSigmoid', 'ThresholdedRelu']),
          aFloats('activation_alpha', [0.25, 0.1]),
          aFloats('activation_beta', [0.45]),
          aFloat('clip', 1.5),
        ],
      },
    ],
    [
      'GRU different activations per direction',
      {
        op: 'GRU',
        direction: 'bidirectional',
        attrs: [aStrs('activations', ['Sigmoid', 'Tanh', 'Sigmoid', 'Softplus'])],
      },
    ],
    ['RNN Relu', { op: 'RNN', attrs: [aStrs('activations', ['Relu'])] }],
    [
      'RNN Affine alpha beta bidirectional',
      {
        op: 'RNN',
        direction: 'bidirectional',
        attrs: [
          aStrs('activations', ['Affine', 'Affine']),
          aFloats('activation_alpha', [0.5, 0.5]),
          aFloats('activation_beta', [0.1, 0.1]),
        ],
      },
    ],
    [
      'RNN different activations per direction, layout 1',
      {
        op: 'RNN',
        layout: 1,
        direction: 'bidirectional',
        h0: 'input',
        attrs: [aStrs('activations', ['Tanh', 'Sigmoid'])],
      },
    ],
  );
  for (const opset of [7, 9, 13, 22])
    cases.push(
      [
        `LSTM opset ${opset}, bidirectional, lengths, states`,
        {
          op: 'LSTM',
          opset,
          direction: 'bidirectional',
          lens: true,
          h0: 'input',
          c0: 'init',
          peepholes: true,
        },
      ],
      [
        `GRU opset ${opset}, linear_before_reset, reverse`,
        { op: 'GRU', opset, direction: 'reverse', attrs: [aInt('linear_before_reset', 1)] },
      ],
      [`RNN opset ${opset}, Y_h alone`, { op: 'RNN', opset, outputs: ['', 'Y_h'] }],
    );
  cases.push(['LSTM opset 22, layout 1', { op: 'LSTM', opset: 22, layout: 1, lens: true }]);
  // empty sequences (sequence_lens 0): Y zeros, and onnxruntime's Y_h / Y_c zeros too (not the
  // initial state), every direction, with initial states fed
  for (const op of ['LSTM', 'GRU', 'RNN'] as const)
    for (const direction of ['forward', 'reverse', 'bidirectional'] as const) {
      const state =
        op === 'LSTM' ? ({ h0: 'input', c0: 'input' } as const) : ({ h0: 'input' } as const);
      cases.push([
        `${op} ${direction} sequence_lens with 0s, initial states fed`,
        { op, direction, lens: true, lensValues: [0, 3, 0, 1], T: 3, B: 4, ...state },
      ]);
    }
  cases.push(
    [
      'LSTM every sequence empty, layout 1, initializer states',
      { op: 'LSTM', layout: 1, lens: true, lensValues: [0, 0], B: 2, h0: 'init', c0: 'init' },
    ],
    [
      'GRU sequence_lens with 0s, Y_h alone',
      { op: 'GRU', lens: true, lensValues: [2, 0, 4], outputs: ['', 'Y_h'], h0: 'input' },
    ],
  );
  for (const [name, c] of cases)
    it(name, async () => {
      expect(await compare(c)).toBeLessThan(TOL);
    });
});

describe('run: feeds are checked, by input name', () => {
  const c: Case = { op: 'LSTM', lens: true, h0: 'input', c0: 'input', T: 4, B: 3 };
  const m = () => fromOnnx(build(c, 0).bytes);
  const x = new Tensor(rng(1)(4 * 3 * 3), [4, 3, 3]);
  const h = new Tensor(rng(2)(5 * 3), [1, 3, 5]);
  const lens = new Int32Array([4, 2, 1]);
  const ok = { X: x, lens, initial_h: h, initial_c: h };

  it('the inputs and outputs as the graph declares them', () => {
    const g = m();
    expect(g.onnxInputs.map((i) => [i.name, i.type, i.shape])).toEqual([
      ['X', 'float32', ['T', 'B', 3]],
      ['lens', 'int32', ['B']],
      ['initial_h', 'float32', [1, 'B', 5]],
      ['initial_c', 'float32', [1, 'B', 5]],
    ]);
    expect(g.onnxOutputs.map((o) => o.name)).toEqual(['Y', 'Y_h', 'Y_c']);
  });

  it('a missing feed, an unknown one, the wrong type: TypeError naming it', () => {
    const g = m();
    const e1 = thrown(() => g.run({ X: x, lens, initial_h: h }));
    expect(e1).toBeInstanceOf(TypeError);
    expect(e1.code).toBe('ERR_CELLSTATE_INVALID_ARG');
    expect(e1.message).toMatch(/^run: feeds\.initial_c is missing/);
    expect(thrown(() => g.run({ ...ok, extra: x })).message).toMatch(
      /feeds\.extra is not an input of the graph/,
    );
    const e3 = thrown(() => g.run({ ...ok, lens: new Tensor(new Float32Array(3), [3]) }));
    expect(e3).toBeInstanceOf(TypeError);
    expect(e3.message).toMatch(
      /feeds\.lens must be an Int32Array, a BigInt64Array or \{ data, shape \}/,
    );
    const e4 = thrown(() => g.run({ ...ok, X: new Int32Array(36) as never }));
    expect(e4).toBeInstanceOf(TypeError);
    expect(e4.message).toMatch(/feeds\.X must be a Tensor/);
    expect(thrown(() => g.run(null as never))).toBeInstanceOf(TypeError);
  });

  it('a wrong shape, disagreeing dynamic dims, lengths out of range: RangeError naming it', () => {
    const g = m();
    const e1 = thrown(() => g.run({ ...ok, X: new Tensor(new Float32Array(24), [4, 3, 2]) }));
    expect(e1).toBeInstanceOf(RangeError);
    expect(e1.message).toMatch(/feeds\.X has shape \[4, 3, 2\], the graph declares \[T, B, 3\]/);
    const e2 = thrown(() => g.run({ ...ok, lens: new Int32Array([4, 2]) }));
    expect(e2).toBeInstanceOf(RangeError);
    expect(e2.message).toMatch(/feeds\.lens has B = 2 \(dimension 0\), but feeds\.X has B = 3/);
    const e3 = thrown(() => g.run({ ...ok, lens: new Int32Array([4, -1, 1]) }));
    expect(e3).toBeInstanceOf(RangeError);
    expect(e3.message).toMatch(/sequence_lens\[1\] = -1; each must be in \[0, T = 4\]/);
    const e5 = thrown(() => g.run({ ...ok, lens: new Int32Array([4, 5, 1]) }));
    expect(e5.message).toMatch(/sequence_lens\[1\] = 5; each must be in \[0, T = 4\]/);
    const e4 = thrown(() => g.run({ ...ok, lens: { data: [1, 2, 3], shape: [2] } }));
    expect(e4).toBeInstanceOf(RangeError);
  });

  it('lengths as a BigInt64Array or { data, shape }; a failed run changes nothing', async () => {
    const g = m();
    const first = g.run(ok);
    thrown(() => g.run({ ...ok, lens: new Int32Array([9, 9, 9]) }));
    await expect(
      g.runAsync({ ...ok, X: new Tensor(new Float32Array(3), [1, 1, 3]) }),
    ).rejects.toThrow(RangeError);
    const again = g.run({ ...ok, lens: { data: [4, 2, 1], shape: [3] } });
    const wide = g.run({ ...ok, lens: new BigInt64Array([4n, 2n, 1n]) });
    for (const k of ['Y', 'Y_h', 'Y_c']) {
      expect([...(again[k] as Tensor).data]).toEqual([...(first[k] as Tensor).data]);
      expect([...(wide[k] as Tensor).data]).toEqual([...(first[k] as Tensor).data]);
    }
    g.dispose();
    expect(thrown(() => g.run(ok)).code).toBe('ERR_CELLSTATE_DISPOSED');
  });
});

describe('run: graphs as exporters write them', () => {
  it('a batch-first GRU as PyTorch writes it: Transposes around the node, a zero state from Shape, h_n out', async () => {
    const [B, T, I, H] = [3, 5, 4, 6];
    const r = rng(21);
    const i64 = (name: string, v: number[], dims = [v.length]) => tensor(name, dims, v, 'int64');
    const nodes = [
      node('Transpose', ['x'], ['xt'], [aInts('perm', [1, 0, 2])]),
      // h0 = zeros [1, B, H] with B read from x
      node('Shape', ['x'], ['shape']),
      node('Gather', ['shape', 'zero'], ['b'], [aInt('axis', 0)]),
      node('Unsqueeze', ['b', 'zero1'], ['b1']),
      node('Concat', ['one', 'b1', 'h'], ['h0shape'], [aInt('axis', 0)]),
      node('ConstantOfShape', ['h0shape'], ['h0']),
      node(
        'GRU',
        ['xt', 'W', 'R', 'Bias', '', 'h0'],
        ['Y', 'hn'],
        [aInt('hidden_size', H), aInt('linear_before_reset', 1)],
        'gru',
      ),
      node('Transpose', ['Y'], ['Yt'], [aInts('perm', [2, 0, 1, 3])]),
      node('Reshape', ['Yt', 'flat'], ['out']),
      node('Softmax', ['out'], ['probs'], [aInt('axis', -1)]),
    ];
    const bytes = model({
      nodes,
      inputs: [vi('x', 'float', ['batch', 'time', I])],
      outputs: [vi('probs', 'float', ['batch', 'time', H]), vi('hn', 'float', [1, 'batch', H])],
      initializers: [
        tensor('W', [1, 3 * H, I], r(3 * H * I)),
        tensor('R', [1, 3 * H, H], r(3 * H * H)),
        tensor('Bias', [1, 6 * H], r(6 * H)),
        i64('zero', [0], []),
        i64('zero1', [0]),
        i64('one', [1]),
        i64('h', [H]),
        i64('flat', [0, 0, -1]),
      ],
      opset: 14,
    });
    const x = r(B * T * I, -2, 2);
    const want = await runOrt(bytes, { x: new ort.Tensor('float32', x, [B, T, I]) });
    const m = await importOnnx(bytes);
    const got = m.run({ x: new Tensor(x, [B, T, I]) });
    expect(got.probs.shape).toEqual([B, T, H]);
    expect(got.hn.shape).toEqual([1, B, H]);
    expect(maxDiff(got.probs.data as Float32Array, want.probs.data as Float32Array)).toBeLessThan(
      TOL,
    );
    expect(maxDiff(got.hn.data as Float32Array, want.hn.data as Float32Array)).toBeLessThan(TOL);
    // another batch size: the dynamic dims follow the feeds
    const x2 = r(1 * 2 * I);
    const want2 = await runOrt(bytes, { x: new ort.Tensor('float32', x2, [1, 2, I]) });
    const got2 = await m.runAsync({ x: new Tensor(x2, [1, 2, I]) });
    expect(maxDiff(got2.probs.data as Float32Array, want2.probs.data as Float32Array)).toBeLessThan(
      TOL,
    );
  });

  it("a stateful export: run's state feeds are a stream's setState, and forward's h0 / c0", async () => {
    const lstm = new LSTM({ inputSize: 2, hiddenSize: 3, peephole: true, seed: 4 });
    const bytes = toOnnx(lstm, { state: true });
    const back = fromOnnx(bytes, { expect: LSTM });
    const r = rng(5);
    const x = new Tensor(r(4 * 1 * 2), [4, 1, 2]);
    const h0 = new Tensor(r(3), [1, 1, 3]);
    const c0 = new Tensor(r(3), [1, 1, 3]);
    const ran = back.run({ input: x, h0, c0 });
    expect(Object.keys(ran).sort()).toEqual(['c', 'h', 'output']);
    const fwd = back.forward(x, { h0, c0 });
    expect([...(ran.output as Tensor).data]).toEqual([...fwd.output.data]);
    expect([...(ran.h as Tensor).data]).toEqual([...fwd.h.data]);
    const s = back.stream();
    s.setState({ h: h0, c: c0 });
    const steps: number[] = [];
    for (let t = 0; t < 4; ++t) steps.push(...s.step(x.data.subarray(2 * t, 2 * t + 2)));
    expect(maxDiff(steps, (ran.output as Tensor).data)).toBeLessThan(1e-6);
    s.dispose();
    back.dispose();
    expect(thrown(() => back.run({ input: x, h0, c0 })).code).toBe('ERR_CELLSTATE_DISPOSED');
  });
});

describe('runAsync', () => {
  it('calls take turns and each gives what run gives; dispose refuses while one is in flight', async () => {
    const m = fromOnnx(build({ op: 'GRU', direction: 'bidirectional', lens: true }, 0).bytes);
    const r = rng(8);
    const feeds = [1, 2, 3].map(() => ({
      X: new Tensor(r(4 * 3 * 3), [4, 3, 3]),
      lens: new Int32Array([4, 3, 1]),
    }));
    const all = await Promise.all(feeds.map((f) => m.runAsync(f)));
    const pending = m.runAsync(feeds[0]);
    const busy = thrown(() => m.dispose());
    expect(busy.code).toBe('ERR_CELLSTATE_BUSY');
    await pending;
    feeds.forEach((f, i) => {
      const want = m.run(f);
      expect([...(all[i].Y as Tensor).data]).toEqual([...(want.Y as Tensor).data]);
      expect([...(all[i].Y_h as Tensor).data]).toEqual([...(want.Y_h as Tensor).data]);
    });
  });
});

describe('input_forget with other gate functions', () => {
  it('hardSigmoid with β 0.5 maps (g(−x) = 1 − g(x)), against onnxruntime', async () => {
    const attrs = [
      aInt('input_forget', 1),
      aStrs('activations', ['HardSigmoid', 'Tanh', 'Softsign']),
      aFloats('activation_alpha', [0.3]),
      aFloats('activation_beta', [0.5]),
    ];
    expect(await compare({ op: 'LSTM', peepholes: true, attrs })).toBeLessThan(TOL);
  });

  it('any other gate function is refused, naming the node and why; export refuses it too', () => {
    const bytes = build(
      {
        op: 'LSTM',
        attrs: [aInt('input_forget', 1), aStrs('activations', ['Softsign', 'Tanh', 'Tanh'])],
      },
      0,
    ).bytes;
    const e = thrown(() => fromOnnx(bytes));
    expect(e.code).toBe('ERR_CELLSTATE_ONNX_UNSUPPORTED');
    expect(e.message).toMatch(
      /node 'lstm_node' \(LSTM\) has input_forget 1 with the gate activation 'softsign', for which f\(−a\) ≠ 1 − f\(a\)/,
    );
    const lstm = new LSTM({
      inputSize: 2,
      hiddenSize: 3,
      coupled: true,
      gateActivation: 'softsign',
    });
    const x = thrown(() => toOnnx(lstm));
    expect(x.code).toBe('ERR_CELLSTATE_ONNX_UNSUPPORTED');
    expect(x.message).toMatch(/coupled: true with gateActivation 'softsign' cannot be exported/);
    const ok = new LSTM({
      inputSize: 2,
      hiddenSize: 3,
      coupled: true,
      gateActivation: { name: 'hardSigmoid', alpha: 0.25, beta: 0.5 },
    });
    expect(fromOnnx(toOnnx(ok), { expect: LSTM }).config).toEqual(ok.config);
  });
});
