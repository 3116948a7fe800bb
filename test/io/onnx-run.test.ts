// importOnnx(...).run(feeds): single LSTM / GRU / RNN nodes built here over the attribute space,
// run by cellstate's graph runner and by onnxruntime-web (the reference), compared within 2e-5.
// onnxruntime runs no `layout: 1` recurrent node, so a layout-1 node is compared through its
// layout-0 twin with transposed feeds and outputs.
import * as ort from 'onnxruntime-web';
import { beforeAll, describe, expect, it } from 'vitest';

import { Tensor, fromOnnx, importOnnx } from '../../lib/index';
import type { AttributeMsg, TensorMsg, ValueInfoMsg } from '../../lib/io/onnx-schema';
import {
  aFloat,
  aFloats,
  aInt,
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
  /** initial_h / initial_c: a graph input, an initializer, or absent */
  h0?: 'input' | 'init';
  c0?: 'input' | 'init';
  /** output names (Y, Y_h, Y_c); '' leaves one out */
  outputs?: string[];
  attrs?: AttributeMsg[];
  /** hidden_size written (default: written, the true H) */
  hiddenSizeAttr?: boolean;
  seed?: number;
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
    feeds.lens = { data: Int32Array.from({ length: B }, (_, b) => T - (b % T)), dims: [B] };
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
  });
  return { bytes, feeds, outputs: outNames, dims: { T, B, I, H, D } };
}

/** Runs the case in cellstate (its layout) and onnxruntime (layout 0); returns the largest difference. */
async function compare(c: Case): Promise<number> {
  const layout = c.layout ?? 0;
  const ref = build(c, 0);
  const mine = layout === 0 ? ref : build(c, 1);
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
