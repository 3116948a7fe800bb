// One data layout per model (issue 15 item 6): a Sequential's batchFirst sets the layout of
// forward, backward, fit, evaluate and predict; without it, cellstate 0.1's layout stays
// (forward time-major, datasets sample-first) with a one-time warning; ambiguous input is
// refused where the shapes tell; files and ONNX keep the layout.
import { describe, expect, it } from 'vitest';

import {
  Dense,
  Embedding,
  GRU,
  LSTM,
  Sequential,
  Tensor,
  fromBuffer,
  fromOnnx,
  modelFromConfig,
  toBuffer,
  toOnnx,
} from '../../lib/index';
import { swapAxes } from '../../lib/layers/batch';

function random(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; ++i) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32) * 2 - 1;
  }
  return out;
}

/** [A, B, F] → [B, A, F] */
function swap(t: Tensor): Tensor {
  const [a, b, f] = t.shape.length === 3 ? t.shape : [t.shape[0], t.shape[1], 1];
  const shape = t.shape.length === 3 ? [b, a, f] : [b, a];
  return new Tensor(swapAxes(t.data, a, b, f), shape);
}

function layers(lastStep = false) {
  return [
    new LSTM({ inputSize: 3, hiddenSize: 5, seed: 1 }),
    new GRU({ inputSize: 5, hiddenSize: 4, seed: 2 }),
    new Dense({ inputSize: 4, outputSize: 2, lastStep, seed: 3 }),
  ];
}

const T = 4;
const B = 3;

describe('Sequential batchFirst', () => {
  it('true: forward and backward take and return [B, T, ·], equal to time-major transposed', () => {
    const tm = new Sequential(layers(), { batchFirst: false });
    const bf = new Sequential(layers(), { batchFirst: true });
    const x = new Tensor(random(T * B * 3, 5), [T, B, 3]);
    const a = tm.forward(x, { train: true, lengths: [4, 2, 3] });
    const b = bf.forward(swap(x), { train: true, lengths: [4, 2, 3] });
    expect(b.output.shape).toEqual([B, T, 2]);
    expect(b.output.data).toEqual(swap(a.output).data);
    expect(b.state[0]!.h.data).toEqual(a.state[0]!.h.data);
    const dy = new Tensor(random(T * B * 2, 6), [T, B, 2]);
    const ga = tm.backward({ output: dy });
    const gb = bf.backward({ output: swap(dy) });
    expect(gb.x!.shape).toEqual([B, T, 3]);
    expect(gb.x!.data).toEqual(swap(ga.x!).data);
    expect(bf.gradients()['0.weight_ih_l0'].data).toEqual(tm.gradients()['0.weight_ih_l0'].data);
    // a time-major gradient is refused by the batch-first model
    bf.forward(swap(x), { train: true });
    expect(() => bf.backward({ output: dy })).toThrow(/must have shape \[3, 4, 2\]/);
  });

  it('true with token ids [B, T] and a lastStep head', () => {
    const mk = (batchFirst: boolean) =>
      new Sequential(
        [new Embedding({ numEmbeddings: 7, embeddingDim: 3, seed: 4 }), ...layers(true)],
        { batchFirst },
      );
    const ids = [
      [1, 2, 3, 4],
      [6, 5, 0, 1],
      [2, 2, 2, 2],
    ]; // [B=3, T=4]
    const idsTm = ids[0].map((_, t) => ids.map((row) => row[t]));
    const a = mk(false).forward(idsTm).output;
    const b = mk(true).forward(ids).output;
    expect(b.shape).toEqual([B, 2]);
    expect(b.data).toEqual(a.data);
    expect(
      mk(true).forward({ data: Int32Array.from(ids.flat()), shape: [3, 4] }).output.data,
    ).toEqual(a.data);
  });

  it('false: fit, evaluate and predict take time-major datasets, with the same training', async () => {
    const N = 12;
    const xs = new Tensor(random(N * T * 3, 9), [N, T, 3]); // sample-first
    const ys = new Tensor(random(N * T * 2, 10), [N, T, 2]);
    const legacy = new Sequential(layers(), { batchFirst: true });
    const timeMajor = new Sequential(layers(), { batchFirst: false });
    const opts = { loss: 'mse' as const, epochs: 2, batchSize: 4, seed: 3, verbose: 0 as const };
    await legacy.fit({ x: xs, y: ys, lengths: [4, 3, 2, 1, 4, 4, 4, 4, 2, 2, 3, 3] }, opts);
    await timeMajor.fit(
      { x: swap(xs), y: swap(ys), lengths: [4, 3, 2, 1, 4, 4, 4, 4, 2, 2, 3, 3] },
      opts,
    );
    expect(timeMajor.parameters()['1.weight_hh_l0'].data).toEqual(
      legacy.parameters()['1.weight_hh_l0'].data,
    );
    const p = timeMajor.predict(swap(xs));
    expect(p.shape).toEqual([T, N, 2]);
    expect(p.data).toEqual(swap(legacy.predict(xs)).data);
    expect(timeMajor.evaluate({ x: swap(xs), y: swap(ys) }, { loss: 'mse' })).toBe(
      legacy.evaluate({ x: xs, y: ys }, { loss: 'mse' }),
    );
    // class indices [T, N]
    const cls = new Sequential(layers(), { batchFirst: false });
    const idx = Int32Array.from({ length: T * N }, (_, i) => i % 2);
    const h = await cls.fit(
      { x: swap(xs), y: { data: idx, shape: [T, N] } },
      {
        ...opts,
        loss: 'crossEntropy',
      },
    );
    expect(h.steps).toBe(6);
    // sample-first data given to the time-major model: [12, 4, 3] reads as T=12, N=4, which
    // only lengths can tell
    expect(() => cls.predict(xs, { lengths: new Array(N).fill(1) })).toThrow(
      /lengths has 12 entries.*looks sample-first.*batchFirst: false/,
    );
    expect(() => cls.predict(new Tensor(random(8, 1), [1, 2, 4]))).toThrow(
      /\[T, N, I=3\].*time-major/,
    );
  });

  it('not given: 0.1 layout (forward time-major, datasets sample-first) and a one-time warning', async () => {
    const warnings: { code?: string; message: string }[] = [];
    const listener = (w: Error & { code?: string }) => warnings.push(w);
    process.on('warning', listener);
    try {
      const m = new Sequential(layers());
      expect(m.batchFirst).toBeUndefined();
      expect(m.config).not.toHaveProperty('batchFirst');
      const x = new Tensor(random(T * B * 3, 5), [T, B, 3]);
      expect(m.forward(x).output.shape).toEqual([T, B, 2]);
      m.forward(x);
      expect(m.predict(swap(x)).shape).toEqual([B, T, 2]);
      await new Promise((r) => setImmediate(r));
      const layout = warnings.filter((w) => w.code === 'CELLSTATE_LAYOUT');
      expect(layout).toHaveLength(1);
      expect(layout[0].message).toContain('batchFirst');
    } finally {
      process.off('warning', listener);
    }
  });

  it('refuses lengths that count the time steps instead of the sequences', () => {
    const x = new Tensor(random(T * B * 3, 5), [T, B, 3]);
    const tm = new Sequential(layers(), { batchFirst: false });
    expect(() => tm.forward(swap(x), { lengths: [1, 2, 3] })).toThrow(
      /lengths has 3 entries, the number of time steps.*looks sample-first/,
    );
    const bf = new Sequential(layers(), { batchFirst: true });
    expect(() => bf.forward(x, { lengths: [1, 2, 3] })).toThrow(/looks time-major/);
    expect(() => new Sequential(layers(), { batchFirst: 1 as never })).toThrow(TypeError);
    expect(
      () => new Sequential([new LSTM({ inputSize: 3, hiddenSize: 5, batchFirst: true })]),
    ).toThrow(/new Sequential\(layers, \{ batchFirst: true \}\)/);
  });

  it('files, configs and ONNX keep the layout', () => {
    for (const batchFirst of [true, false, undefined]) {
      const m =
        batchFirst === undefined
          ? new Sequential(layers())
          : new Sequential(layers(), { batchFirst });
      expect((fromBuffer(toBuffer(m)) as Sequential).batchFirst).toBe(batchFirst);
      expect((modelFromConfig(m.config) as Sequential).batchFirst).toBe(batchFirst);
    }
    const bf = new Sequential(layers(), { batchFirst: true });
    const back = fromOnnx(toOnnx(bf), { expect: Sequential });
    expect(back.batchFirst).toBe(true);
    const x = new Tensor(random(B * T * 3, 8), [B, T, 3]);
    expect(back.forward(x).output.data).toEqual(bf.forward(x).output.data);
    const tokens = new Sequential(
      [new Embedding({ numEmbeddings: 5, embeddingDim: 3, seed: 1 }), ...layers()],
      { batchFirst: true },
    );
    const ids = { data: Int32Array.from([0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1]), shape: [B, T] };
    expect(fromOnnx(toOnnx(tokens), { expect: Sequential }).forward(ids).output.data).toEqual(
      tokens.forward(ids).output.data,
    );
  });
});
