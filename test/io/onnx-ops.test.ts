// The graph runner's glue operators (lib/io/onnx-ops.ts), each in a one- or two-node graph built
// here, run by cellstate's run() and by onnxruntime-web on the same feeds: same shapes, same
// values (float within 2e-5, integers exactly). Operators whose inputs are all constant are
// computed at import, so every case feeds at least one graph input.
import * as ort from 'onnxruntime-web';
import { beforeAll, describe, expect, it } from 'vitest';

import { Tensor, fromOnnx } from '../../lib/index';
import type { AttributeMsg, NodeMsg, TensorMsg } from '../../lib/io/onnx-schema';
import {
  type Elem,
  aFloat,
  aInt,
  aInts,
  aTensor,
  maxDiff,
  model,
  node,
  rng,
  runOrt,
  tensor,
  vi,
} from './onnx-builder';
import { thrown } from './helpers';

const TOL = 2e-5;

beforeAll(() => {
  ort.env.wasm.numThreads = 1;
});

interface Feed {
  name: string;
  elem: Elem;
  dims: number[];
  data?: number[];
}

interface OpCase {
  nodes: NodeMsg[];
  feeds: Feed[];
  outputs: [string, Elem][];
  inits?: TensorMsg[];
  opset?: number;
}

const ORT_TYPES: Record<Elem, ort.Tensor.Type> = {
  float: 'float32',
  int64: 'int64',
  int32: 'int32',
  bool: 'bool',
};

async function check(c: OpCase): Promise<void> {
  const r = rng(11);
  const bytes = model({
    nodes: c.nodes,
    inputs: c.feeds.map((f) =>
      vi(
        f.name,
        f.elem,
        f.dims.map((_, i) => `${f.name}_${i}`),
      ),
    ),
    outputs: c.outputs.map(([n, e]) => vi(n, e, null)),
    initializers: c.inits ?? [],
    opset: c.opset ?? 17,
  });
  const ortFeeds: Record<string, ort.Tensor> = {};
  const feeds: Record<string, unknown> = {};
  for (const f of c.feeds) {
    const n = f.dims.reduce((a, b) => a * b, 1);
    const values = f.data ?? Array.from(r(n, -3, 3));
    if (f.elem === 'float') {
      const data = Float32Array.from(values);
      ortFeeds[f.name] = new ort.Tensor('float32', data, f.dims);
      feeds[f.name] = new Tensor(data, f.dims);
    } else if (f.elem === 'int64') {
      const data = BigInt64Array.from(values.map((v) => BigInt(Math.trunc(v))));
      ortFeeds[f.name] = new ort.Tensor('int64', data, f.dims);
      feeds[f.name] = { data, shape: f.dims };
    } else {
      const data = Int32Array.from(values.map((v) => Math.trunc(v)));
      ortFeeds[f.name] = new ort.Tensor(ORT_TYPES[f.elem], data, f.dims);
      feeds[f.name] = { data, shape: f.dims };
    }
  }
  const want = await runOrt(bytes, ortFeeds);
  const got = fromOnnx(bytes).run(feeds as never);
  for (const [name, elem] of c.outputs) {
    const g = got[name];
    const w = want[name];
    expect([...g.shape], name).toEqual([...w.dims]);
    if (elem === 'float') {
      expect(g).toBeInstanceOf(Tensor);
      expect(maxDiff(g.data as Float32Array, w.data as Float32Array)).toBeLessThan(TOL);
    } else {
      expect(g.data).toBeInstanceOf(
        elem === 'int64' ? BigInt64Array : elem === 'int32' ? Int32Array : Uint8Array,
      );
      expect(Array.from(g.data as ArrayLike<number | bigint>, Number)).toEqual(
        Array.from(w.data as ArrayLike<number | bigint>, (v) => Number(v)),
      );
    }
  }
}

const one = (op: string, inputs: string[], attrs: AttributeMsg[] = [], outputs = ['y']) =>
  node(op, inputs, outputs, attrs);
const i64 = (name: string, values: number[], dims = [values.length]) =>
  tensor(name, dims, values, 'int64');

const cases: [string, OpCase][] = [
  [
    'Transpose perm',
    {
      nodes: [one('Transpose', ['x'], [aInts('perm', [1, 0, 2])])],
      feeds: [{ name: 'x', elem: 'float', dims: [2, 3, 4] }],
      outputs: [['y', 'float']],
    },
  ],
  [
    'Transpose default (reversed)',
    {
      nodes: [one('Transpose', ['x'])],
      feeds: [{ name: 'x', elem: 'float', dims: [2, 3, 4] }],
      outputs: [['y', 'float']],
    },
  ],
  [
    'Transpose 4-D int64',
    {
      nodes: [one('Transpose', ['x'], [aInts('perm', [0, 2, 1, 3])])],
      feeds: [{ name: 'x', elem: 'int64', dims: [2, 3, 2, 2] }],
      outputs: [['y', 'int64']],
    },
  ],
  [
    'Squeeze axes input (opset 13)',
    {
      nodes: [one('Squeeze', ['x', 'ax'])],
      inits: [i64('ax', [1])],
      feeds: [{ name: 'x', elem: 'float', dims: [3, 1, 4] }],
      outputs: [['y', 'float']],
    },
  ],
  [
    'Squeeze axes attribute (opset 11)',
    {
      nodes: [one('Squeeze', ['x'], [aInts('axes', [-2])])],
      feeds: [{ name: 'x', elem: 'float', dims: [3, 1, 4] }],
      outputs: [['y', 'float']],
      opset: 11,
    },
  ],
  [
    'Squeeze all ones',
    {
      nodes: [one('Squeeze', ['x'])],
      feeds: [{ name: 'x', elem: 'int64', dims: [1, 3, 1] }],
      outputs: [['y', 'int64']],
    },
  ],
  [
    'Unsqueeze axes input, several',
    {
      nodes: [one('Unsqueeze', ['x', 'ax'])],
      inits: [i64('ax', [0, -1])],
      feeds: [{ name: 'x', elem: 'float', dims: [3, 4] }],
      outputs: [['y', 'float']],
    },
  ],
  [
    'Unsqueeze axes attribute (opset 9)',
    {
      nodes: [one('Unsqueeze', ['x'], [aInts('axes', [1])])],
      feeds: [{ name: 'x', elem: 'float', dims: [3, 4] }],
      outputs: [['y', 'float']],
      opset: 9,
    },
  ],
  [
    'Reshape with 0 and -1',
    {
      nodes: [one('Reshape', ['x', 's'])],
      inits: [i64('s', [0, -1])],
      feeds: [{ name: 'x', elem: 'float', dims: [2, 3, 4] }],
      outputs: [['y', 'float']],
    },
  ],
  [
    'Reshape from a computed shape',
    {
      nodes: [one('Shape', ['x'], [], ['s']), one('Reshape', ['z', 's'])],
      feeds: [
        { name: 'x', elem: 'float', dims: [2, 6] },
        { name: 'z', elem: 'float', dims: [3, 4] },
      ],
      outputs: [['y', 'float']],
    },
  ],
  [
    'Slice with axes and steps',
    {
      nodes: [one('Slice', ['x', 'st', 'en', 'ax', 'sp'])],
      inits: [i64('st', [0, 1]), i64('en', [3, 100]), i64('ax', [0, 2]), i64('sp', [2, 2])],
      feeds: [{ name: 'x', elem: 'float', dims: [4, 3, 5] }],
      outputs: [['y', 'float']],
    },
  ],
  [
    'Slice negative start, clamped end',
    {
      nodes: [one('Slice', ['x', 'st', 'en'])],
      inits: [i64('st', [-2]), i64('en', [9e18])],
      feeds: [{ name: 'x', elem: 'int64', dims: [5, 2] }],
      outputs: [['y', 'int64']],
    },
  ],
  [
    'Slice negative step (reversal)',
    {
      nodes: [one('Slice', ['x', 'st', 'en', 'ax', 'sp'])],
      inits: [i64('st', [-1]), i64('en', [-1e18]), i64('ax', [1]), i64('sp', [-1])],
      feeds: [{ name: 'x', elem: 'float', dims: [2, 5] }],
      outputs: [['y', 'float']],
    },
  ],
  [
    'Slice negative step, start and end beyond the axis',
    {
      nodes: [one('Slice', ['x', 'st', 'en', 'ax', 'sp'])],
      inits: [
        i64('st', [-100, 100]),
        i64('en', [-200, -100]),
        i64('ax', [0, 1]),
        i64('sp', [-1, -2]),
      ],
      feeds: [{ name: 'x', elem: 'float', dims: [3, 5] }],
      outputs: [['y', 'float']],
    },
  ],
  [
    'Slice attributes (opset 9)',
    {
      nodes: [one('Slice', ['x'], [aInts('starts', [1]), aInts('ends', [3]), aInts('axes', [1])])],
      feeds: [{ name: 'x', elem: 'float', dims: [2, 5] }],
      outputs: [['y', 'float']],
      opset: 9,
    },
  ],
  [
    'Slice of a shape',
    {
      nodes: [one('Shape', ['x'], [], ['s']), one('Slice', ['s', 'st', 'en'])],
      inits: [i64('st', [1]), i64('en', [3])],
      feeds: [{ name: 'x', elem: 'float', dims: [2, 3, 4] }],
      outputs: [['y', 'int64']],
    },
  ],
  [
    'Gather axis 0, scalar index',
    {
      nodes: [one('Gather', ['x', 'i'])],
      inits: [i64('i', [-1], [])],
      feeds: [{ name: 'x', elem: 'float', dims: [4, 3, 2] }],
      outputs: [['y', 'float']],
    },
  ],
  [
    'Gather axis 1, index matrix',
    {
      nodes: [one('Gather', ['x', 'i'], [aInt('axis', 1)])],
      inits: [i64('i', [0, 2, 1, 1], [2, 2])],
      feeds: [{ name: 'x', elem: 'float', dims: [2, 3, 2] }],
      outputs: [['y', 'float']],
    },
  ],
  [
    'Gather embedding by token ids',
    {
      nodes: [one('Gather', ['w', 'ids'])],
      inits: [tensor('w', [5, 3], rng(3)(15))],
      feeds: [{ name: 'ids', elem: 'int64', dims: [2, 3], data: [0, 4, 2, 1, 1, 3] }],
      outputs: [['y', 'float']],
    },
  ],
  [
    'GatherND batch_dims 1',
    {
      nodes: [one('GatherND', ['x', 'i'], [aInt('batch_dims', 1)])],
      feeds: [
        { name: 'x', elem: 'float', dims: [3, 4, 2] },
        { name: 'i', elem: 'int64', dims: [3, 1], data: [3, 0, 2] },
      ],
      outputs: [['y', 'float']],
    },
  ],
  [
    'Concat axis 1',
    {
      nodes: [one('Concat', ['a', 'b'], [aInt('axis', 1)])],
      feeds: [
        { name: 'a', elem: 'float', dims: [2, 1, 3] },
        { name: 'b', elem: 'float', dims: [2, 2, 3] },
      ],
      outputs: [['y', 'float']],
    },
  ],
  [
    'Concat axis -1 int64',
    {
      nodes: [one('Concat', ['a', 'b', 'c'], [aInt('axis', -1)])],
      inits: [i64('c', [7])],
      feeds: [
        { name: 'a', elem: 'int64', dims: [2] },
        { name: 'b', elem: 'int64', dims: [1] },
      ],
      outputs: [['y', 'int64']],
    },
  ],
  [
    'Shape start and end',
    {
      nodes: [one('Shape', ['x'], [aInt('start', 1), aInt('end', -1)])],
      feeds: [{ name: 'x', elem: 'float', dims: [2, 3, 4, 5] }],
      outputs: [['y', 'int64']],
      opset: 15,
    },
  ],
  [
    'Shape negative start',
    {
      nodes: [one('Shape', ['x'], [aInt('start', -2)])],
      feeds: [{ name: 'x', elem: 'float', dims: [2, 3, 4] }],
      outputs: [['y', 'int64']],
      opset: 15,
    },
  ],
  [
    'ConstantOfShape default float 0',
    {
      nodes: [one('Shape', ['x'], [], ['s']), one('ConstantOfShape', ['s'], [], ['y'])],
      feeds: [{ name: 'x', elem: 'float', dims: [2, 3] }],
      outputs: [['y', 'float']],
    },
  ],
  [
    'ConstantOfShape int64 value',
    {
      nodes: [
        one('Shape', ['x'], [], ['s']),
        one('ConstantOfShape', ['s'], [aTensor('value', i64('v', [7], [1]))], ['y']),
      ],
      feeds: [{ name: 'x', elem: 'float', dims: [2, 3] }],
      outputs: [['y', 'int64']],
    },
  ],
  [
    'Expand (broadcast)',
    {
      nodes: [one('Expand', ['x', 's'])],
      inits: [i64('s', [2, 1, 3])],
      feeds: [{ name: 'x', elem: 'float', dims: [4, 1] }],
      outputs: [['y', 'float']],
    },
  ],
  [
    'Identity, Cast float → int64 → int32',
    {
      nodes: [
        one('Identity', ['x'], [], ['a']),
        one('Cast', ['a'], [aInt('to', 7)], ['y']),
        one('Cast', ['y'], [aInt('to', 6)], ['z']),
      ],
      feeds: [{ name: 'x', elem: 'float', dims: [2, 3] }],
      outputs: [
        ['y', 'int64'],
        ['z', 'int32'],
      ],
    },
  ],
  [
    'Cast int32 → float',
    {
      nodes: [one('Cast', ['x'], [aInt('to', 1)])],
      feeds: [{ name: 'x', elem: 'int32', dims: [4] }],
      outputs: [['y', 'float']],
    },
  ],
  [
    'Constant value and value_ints',
    {
      nodes: [
        node('Constant', [], ['c'], [aInts('value_ints', [2, -1])]),
        one('Reshape', ['x', 'c'], [], ['y']),
        node('Constant', [], ['k'], [aTensor('value', tensor('k', [1], [0.5]))]),
        one('Mul', ['y', 'k'], [], ['z']),
      ],
      feeds: [{ name: 'x', elem: 'float', dims: [2, 2, 3] }],
      outputs: [['z', 'float']],
    },
  ],
  [
    'MatMul 3-D × 2-D',
    {
      nodes: [one('MatMul', ['x', 'w'])],
      inits: [tensor('w', [4, 3], rng(5)(12))],
      feeds: [{ name: 'x', elem: 'float', dims: [2, 5, 4] }],
      outputs: [['y', 'float']],
    },
  ],
  [
    'MatMul batched with broadcast',
    {
      nodes: [one('MatMul', ['a', 'b'])],
      feeds: [
        { name: 'a', elem: 'float', dims: [2, 1, 3, 4] },
        { name: 'b', elem: 'float', dims: [3, 4, 2] },
      ],
      outputs: [['y', 'float']],
    },
  ],
  [
    'Gemm transB, alpha, beta, row bias',
    {
      nodes: [
        one('Gemm', ['x', 'w', 'c'], [aInt('transB', 1), aFloat('alpha', 0.5), aFloat('beta', 2)]),
      ],
      inits: [tensor('w', [3, 4], rng(6)(12)), tensor('c', [3], [0.1, 0.2, 0.3])],
      feeds: [{ name: 'x', elem: 'float', dims: [2, 4] }],
      outputs: [['y', 'float']],
    },
  ],
  [
    'Gemm transA, no C',
    {
      nodes: [one('Gemm', ['a', 'b'], [aInt('transA', 1)])],
      feeds: [
        { name: 'a', elem: 'float', dims: [4, 2] },
        { name: 'b', elem: 'float', dims: [4, 3] },
      ],
      outputs: [['y', 'float']],
    },
  ],
  [
    'Add, Sub, Mul, Div broadcasting',
    {
      nodes: [
        one('Add', ['a', 'b'], [], ['s']),
        one('Sub', ['s', 'b'], [], ['t']),
        one('Mul', ['t', 'a'], [], ['u']),
        one('Div', ['u', 'c'], [], ['y']),
      ],
      inits: [tensor('c', [1], [1.5])],
      feeds: [
        { name: 'a', elem: 'float', dims: [2, 3] },
        { name: 'b', elem: 'float', dims: [3] },
      ],
      outputs: [['y', 'float']],
    },
  ],
  [
    'integer Sub and Div (lengths − 1, truncation)',
    {
      nodes: [one('Sub', ['a', 'one'], [], ['s']), one('Div', ['s', 'two'], [], ['y'])],
      inits: [tensor('one', [1], [1], 'int32'), tensor('two', [], [2], 'int32')],
      feeds: [{ name: 'a', elem: 'int32', dims: [4], data: [1, 4, 7, -3] }],
      outputs: [['y', 'int32']],
    },
  ],
  [
    'Sigmoid, Tanh, Relu, LeakyRelu',
    {
      nodes: [
        one('Sigmoid', ['x'], [], ['a']),
        one('Tanh', ['x'], [], ['b']),
        one('Relu', ['x'], [], ['c']),
        one('LeakyRelu', ['x'], [aFloat('alpha', 0.2)], ['d']),
      ],
      feeds: [{ name: 'x', elem: 'float', dims: [3, 4] }],
      outputs: [
        ['a', 'float'],
        ['b', 'float'],
        ['c', 'float'],
        ['d', 'float'],
      ],
    },
  ],
  [
    'Softmax axis -1 (opset 13), LogSoftmax',
    {
      nodes: [
        one('Softmax', ['x'], [aInt('axis', -1)], ['a']),
        one('LogSoftmax', ['x'], [], ['b']),
      ],
      feeds: [{ name: 'x', elem: 'float', dims: [2, 3, 4] }],
      outputs: [
        ['a', 'float'],
        ['b', 'float'],
      ],
    },
  ],
  [
    'Softmax axis 1 (opset 13)',
    {
      nodes: [one('Softmax', ['x'], [aInt('axis', 1)])],
      feeds: [{ name: 'x', elem: 'float', dims: [2, 3, 4] }],
      outputs: [['y', 'float']],
    },
  ],
  [
    'Softmax default axis, opset 11 (2-D coercion)',
    {
      nodes: [one('Softmax', ['x'])],
      feeds: [{ name: 'x', elem: 'float', dims: [2, 3, 4] }],
      outputs: [['y', 'float']],
      opset: 11,
    },
  ],
  [
    'Flatten, Where, Equal',
    {
      nodes: [
        one('Flatten', ['x'], [aInt('axis', 2)], ['f']),
        one('Equal', ['a', 'b'], [], ['e']),
        one('Where', ['e', 'p', 'q'], [], ['y']),
      ],
      feeds: [
        { name: 'x', elem: 'float', dims: [2, 3, 4] },
        { name: 'a', elem: 'int64', dims: [3], data: [1, 2, 3] },
        { name: 'b', elem: 'int64', dims: [3], data: [1, 0, 3] },
        { name: 'p', elem: 'float', dims: [3] },
        { name: 'q', elem: 'float', dims: [2, 3] },
      ],
      outputs: [
        ['f', 'float'],
        ['y', 'float'],
      ],
    },
  ],
];

describe('glue operators against onnxruntime', () => {
  for (const [name, c] of cases) it(name, async () => check(c));
});

describe('glue operators: malformed inputs and unsupported operators', () => {
  it('a shape that does not fit throws ERR_CELLSTATE_ONNX_INVALID naming the node', () => {
    const bytes = model({
      nodes: [node('Reshape', ['x', 's'], ['y'], [], 'bad_reshape')],
      inputs: [vi('x', 'float', ['N', 4])],
      outputs: [vi('y', 'float', null)],
      initializers: [i64('s', [3, -1])],
    });
    const g = fromOnnx(bytes);
    expect([...g.run({ x: new Tensor(new Float32Array(12), [3, 4]) }).y.shape]).toEqual([3, 4]);
    const e = thrown(() => g.run({ x: new Tensor(new Float32Array(8), [2, 4]) }));
    expect(e.code).toBe('ERR_CELLSTATE_ONNX_INVALID');
    expect(e.message).toMatch(/node 'bad_reshape' \(Reshape\): cannot reshape \[2, 4\]/);
  });

  it('an operator the runner does not compute is refused at import: name, op type, reason', () => {
    const bytes = model({
      nodes: [node('Cos', ['x'], ['y'], [], 'my_cos')],
      inputs: [vi('x', 'float', [2])],
      outputs: [vi('y', 'float', null)],
    });
    const e = thrown(() => fromOnnx(bytes));
    expect(e.code).toBe('ERR_CELLSTATE_ONNX_UNSUPPORTED');
    expect(e.message).toMatch(
      /^importOnnx: node 'my_cos' \(Cos\) is not supported: the graph runner computes/,
    );
    const cast = model({
      nodes: [node('Cast', ['x'], ['y'], [aInt('to', 11)], 'to_double')],
      inputs: [vi('x', 'float', [2])],
      outputs: [vi('y', 'float', null)],
    });
    expect(thrown(() => fromOnnx(cast)).message).toMatch(
      /node 'to_double' \(Cast\) casts to data type 11/,
    );
    const other = model({
      nodes: [{ ...node('Relu', ['x'], ['y'], [], 'ms_relu'), domain: 'com.microsoft' }],
      inputs: [vi('x', 'float', [2])],
      outputs: [vi('y', 'float', null)],
    });
    expect(thrown(() => fromOnnx(other)).message).toMatch(
      /node 'ms_relu' \(Relu\) is in domain 'com.microsoft'/,
    );
  });

  it('a recurrent node with weights that are not constant is refused at import', () => {
    const bytes = model({
      nodes: [node('RNN', ['x', 'W', 'R'], ['y'], [aInt('hidden_size', 2)], 'rnn_in')],
      inputs: [vi('x', 'float', ['T', 'B', 3]), vi('W', 'float', [1, 2, 3])],
      outputs: [vi('y', 'float', null)],
      initializers: [tensor('R', [1, 2, 2], [0, 0, 0, 0])],
    });
    const e = thrown(() => fromOnnx(bytes));
    expect(e.code).toBe('ERR_CELLSTATE_ONNX_UNSUPPORTED');
    expect(e.message).toMatch(
      /node 'rnn_in' \(RNN\) has weights W 'W' that is not a float constant/,
    );
  });
});

describe('glue operators: sizes', () => {
  it('a value larger than MAX_ELEMENTS is refused with a code, at import or at run time', () => {
    const huge = model({
      nodes: [node('ConstantOfShape', ['s'], ['z'], [], 'zeros'), node('Add', ['x', 'z'], ['y'])],
      inputs: [vi('x', 'float', [1])],
      outputs: [vi('y', 'float', null)],
      initializers: [i64('s', [1 << 20, 1 << 20])],
    });
    const e = thrown(() => fromOnnx(huge));
    expect(e.code).toBe('ERR_CELLSTATE_ONNX_UNSUPPORTED');
    expect(e.message).toMatch(/exceeds the limit of 268435456 values/);
    const fed = model({
      nodes: [node('Expand', ['x', 's'], ['y'], [], 'grow')],
      inputs: [vi('x', 'float', [1]), vi('s', 'int64', [2])],
      outputs: [vi('y', 'float', null)],
    });
    const g = fromOnnx(fed);
    const x = new Tensor(new Float32Array([1]), [1]);
    expect(g.run({ x, s: new BigInt64Array([2n, 3n]) }).y.shape).toEqual([2, 3]);
    expect(thrown(() => g.run({ x, s: new BigInt64Array([1n << 20n, 1n << 20n]) })).code).toBe(
      'ERR_CELLSTATE_ONNX_UNSUPPORTED',
    );
  });
});

describe('glue operators: hostile values (review fixes)', () => {
  it('Expand with a negative dimension in its shape is refused with a code naming the node', () => {
    const g = fromOnnx(
      model({
        nodes: [node('Expand', ['x', 's'], ['y'], [], 'neg_expand')],
        inputs: [vi('x', 'float', [1]), vi('s', 'int64', [2])],
        outputs: [vi('y', 'float', null)],
      }),
    );
    const x = new Tensor(new Float32Array([1]), [1]);
    for (const s of [
      [-2n, -3n],
      [-5n, 1n],
    ]) {
      const e = thrown(() => g.run({ x, s: BigInt64Array.from(s) }));
      expect(e.code).toBe('ERR_CELLSTATE_ONNX_INVALID');
      expect(e.message).toMatch(/node 'neg_expand' \(Expand\): has shape \[-/);
    }
  });

  it('Slice backwards over an empty axis gives an empty value (onnxruntime agrees)', async () => {
    const bytes = model({
      nodes: [node('Slice', ['x', 'st', 'en', 'ax', 'sp'], ['y'], [], 'empty_slice')],
      inputs: [vi('x', 'float', ['N', 2])],
      outputs: [vi('y', 'float', null)],
      initializers: [i64('st', [-1]), i64('en', [-10]), i64('ax', [0]), i64('sp', [-1])],
    });
    const y = fromOnnx(bytes).run({ x: new Tensor(new Float32Array(0), [0, 2]) }).y;
    expect([...y.shape]).toEqual([0, 2]);
    const ref = await runOrt(bytes, { x: new ort.Tensor('float32', new Float32Array(0), [0, 2]) });
    expect([...ref.y.dims]).toEqual([0, 2]);
  });

  it('int64 sequence_lens beyond int32 are refused, not wrapped', () => {
    const bytes = model({
      nodes: [
        node('RNN', ['x', 'W', 'R', '', 'lens'], ['y'], [aInt('hidden_size', 2)], 'rnn_lens'),
      ],
      inputs: [vi('x', 'float', [2, 1, 3]), vi('lens', 'int64', [1])],
      outputs: [vi('y', 'float', null)],
      initializers: [
        tensor('W', [1, 2, 3], [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]),
        tensor('R', [1, 2, 2], [0.1, 0.2, 0.3, 0.4]),
      ],
    });
    const g = fromOnnx(bytes);
    const x = new Tensor(new Float32Array(6).fill(0.5), [2, 1, 3]);
    expect(g.run({ x, lens: new BigInt64Array([2n]) }).y.shape).toEqual([2, 1, 1, 2]);
    const e = thrown(() => g.run({ x, lens: new BigInt64Array([4294967297n]) }));
    expect(e).toBeInstanceOf(RangeError);
    expect(e.message).toMatch(/sequence_lens\[0\] = 4294967297; each must be in \[0, T = 2\]/);
  });
});

describe('graph order', () => {
  it('nodes in any order run topologically; a deep chain does not overflow the stack; cycles are refused', () => {
    const n = 20000;
    const nodes = Array.from({ length: n }, (_, k) =>
      node('Neg', [k === 0 ? 'x' : `v${k - 1}`], [k === n - 1 ? 'y' : `v${k}`]),
    ).reverse();
    const bytes = model({
      nodes,
      inputs: [vi('x', 'float', [2])],
      outputs: [vi('y', 'float', [2])],
    });
    const y = fromOnnx(bytes).run({ x: new Tensor(Float32Array.from([1, -2]), [2]) }).y as Tensor;
    expect([...y.data]).toEqual([1, -2]); // an even number of negations
    const cyc = model({
      nodes: [node('Neg', ['b'], ['a'], [], 'first'), node('Neg', ['a'], ['b'], [], 'second')],
      inputs: [vi('x', 'float', [2])],
      outputs: [vi('a', 'float', [2])],
    });
    const e = thrown(() => fromOnnx(cyc));
    expect(e.code).toBe('ERR_CELLSTATE_ONNX_INVALID');
    expect(e.message).toMatch(/cycle through node/);
  });
});
