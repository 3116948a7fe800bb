// Metrics: each built-in against a direct computation on the predictions predict() gives, with
// padded steps masked out; custom metrics (a function, an object); fit's History, callbacks and
// progress line; refusals.
import { describe, expect, it } from 'vitest';

import {
  Dense,
  LSTM,
  Sequential,
  Tensor,
  addingProblem,
  type MetricBatch,
  type MetricObject,
} from '../../lib/index';
import { lcg } from '../helpers/fd';

const N = 13;
const T = 6;
const I = 3;
const C = 4;

function inputs(seed: number) {
  const s = lcg(seed); // in [-1, 1)
  const r = () => (s() + 1) / 2; // in [0, 1)
  const x = new Tensor(
    Float32Array.from({ length: N * T * I }, () => s()),
    [N, T, I],
  );
  const lengths = Int32Array.from({ length: N }, (_, n) => 1 + (n % T));
  return { x, lengths, r };
}

const model = (activation: 'softmax' | 'sigmoid', seed = 1) =>
  new Sequential(
    [
      new LSTM({ inputSize: I, hiddenSize: 5, seed }),
      new Dense({ inputSize: 5, outputSize: C, activation, seed: seed + 1 }),
    ],
    { batchFirst: true },
  );

/** Mean of f over the (n, t) rows with t < lengths[n]. */
function rowMean(lengths: Int32Array, f: (n: number, t: number) => number): number {
  let s = 0;
  let k = 0;
  for (let n = 0; n < N; ++n)
    for (let t = 0; t < lengths[n]; ++t) {
      s += f(n, t);
      k++;
    }
  return s / k;
}

describe('built-in metrics', () => {
  it('accuracy, topK and crossEntropy on class indices, masked by lengths', () => {
    const m = model('softmax');
    const { x, lengths, r } = inputs(1);
    const y = Int32Array.from({ length: N * T }, () => Math.floor(r() * C));
    const data = { x, y: { data: y, shape: [N, T] }, lengths };
    const p = m.predict(x, { lengths }).data; // probabilities [N, T, C]
    const at = (n: number, t: number, c: number) => p[(n * T + t) * C + c];
    const rank = (n: number, t: number) => {
      const k = y[n * T + t];
      let above = 0;
      for (let c = 0; c < C; ++c) if (at(n, t, c) > at(n, t, k)) above++;
      return above;
    };
    const res = m.evaluate(data, {
      loss: 'crossEntropy',
      metrics: ['accuracy', { name: 'topK', k: 2 }, 'crossEntropy'],
      batchSize: 5,
    });
    expect(res.loss).toBe(m.evaluate(data, { loss: 'crossEntropy', batchSize: 5 }));
    expect(res.metrics.accuracy).toBeCloseTo(
      rowMean(lengths, (n, t) => +(rank(n, t) === 0)),
      12,
    );
    expect(res.metrics.topK).toBeCloseTo(
      rowMean(lengths, (n, t) => +(rank(n, t) < 2)),
      12,
    );
    const ce = rowMean(lengths, (n, t) => -Math.log(at(n, t, y[n * T + t])));
    expect(res.metrics.crossEntropy).toBeCloseTo(ce, 5);
    expect(res.metrics.crossEntropy).toBeCloseTo(res.loss, 4); // the loss, from logits
    // the padded steps do not count: their targets may be anything
    const y2 = y.slice();
    for (let n = 0; n < N; ++n)
      for (let t = lengths[n]; t < T; ++t) y2[n * T + t] = (y[n * T + t] + 1) % C;
    const res2 = m.evaluate(
      { x, y: { data: y2, shape: [N, T] }, lengths },
      { loss: 'crossEntropy', metrics: ['accuracy', { name: 'topK', k: 2 }, 'crossEntropy'] },
    );
    expect(res2.metrics).toEqual(res.metrics);
    // a 0.5 accuracy would show that the mask is ignored: this is a genuine comparison
    expect(res.metrics.topK).toBeGreaterThan(res.metrics.accuracy);
  });

  it('accuracy on one-hot targets is the argmax agreement; mae, mse over elements', () => {
    const m = model('softmax', 3);
    const { x, lengths, r } = inputs(2);
    const cls = Int32Array.from({ length: N * T }, () => Math.floor(r() * C));
    const y = new Float32Array(N * T * C);
    cls.forEach((c, i) => (y[i * C + c] = 1));
    const p = m.predict(x, { lengths }).data;
    const res = m.evaluate(
      { x, y: new Tensor(y, [N, T, C]), lengths },
      { loss: 'crossEntropy', metrics: ['accuracy', 'mae', 'mse'] },
    );
    const argmax = (n: number, t: number) => {
      let k = 0;
      for (let c = 1; c < C; ++c) if (p[(n * T + t) * C + c] > p[(n * T + t) * C + k]) k = c;
      return k;
    };
    const el = (f: (d: number) => number) => (n: number, t: number) => {
      let s = 0;
      for (let c = 0; c < C; ++c) s += f(p[(n * T + t) * C + c] - y[(n * T + t) * C + c]);
      return s / C;
    };
    expect(res.metrics.accuracy).toBeCloseTo(
      rowMean(lengths, (n, t) => +(argmax(n, t) === cls[n * T + t])),
      12,
    );
    expect(res.metrics.mae).toBeCloseTo(rowMean(lengths, el(Math.abs)), 9);
    expect(res.metrics.mse).toBeCloseTo(
      rowMean(
        lengths,
        el((d) => d * d),
      ),
      9,
    );
  });

  it('binary: accuracy thresholds at 0.5, bce on the sigmoid outputs (fused in the loss)', () => {
    const m = model('sigmoid', 5);
    const { x, lengths, r } = inputs(3);
    const y = Float32Array.from({ length: N * T * C }, () => (r() < 0.5 ? 0 : 1));
    const p = m.predict(x, { lengths }).data;
    const res = m.evaluate(
      { x, y: new Tensor(y, [N, T, C]), lengths },
      { loss: 'binaryCrossEntropy', metrics: ['accuracy', 'binaryAccuracy', 'bce'] },
    );
    const el = (f: (p: number, y: number) => number) => (n: number, t: number) => {
      let s = 0;
      for (let c = 0; c < C; ++c) s += f(p[(n * T + t) * C + c], y[(n * T + t) * C + c]);
      return s / C;
    };
    const acc = rowMean(
      lengths,
      el((q, v) => +(q > 0.5 === v > 0.5)),
    );
    expect(res.metrics.accuracy).toBeCloseTo(acc, 12);
    expect(res.metrics.binaryAccuracy).toBe(res.metrics.accuracy);
    const bce = rowMean(
      lengths,
      el((q, v) => -(v * Math.log(q) + (1 - v) * Math.log(1 - q))),
    );
    expect(res.metrics.bce).toBeCloseTo(bce, 5);
    expect(res.metrics.bce).toBeCloseTo(res.loss, 4);
  });

  it('regression on a lastStep model: mae and mse per sequence', async () => {
    const m = new Sequential(
      [
        new LSTM({ inputSize: 2, hiddenSize: 4, seed: 1 }),
        new Dense({ inputSize: 4, outputSize: 1, lastStep: true, seed: 2 }),
      ],
      { batchFirst: true },
    );
    const d = addingProblem({ n: 30, T: 8, seed: 1 });
    const p = m.predict(d.x).data;
    let ae = 0;
    let se = 0;
    for (let n = 0; n < 30; ++n) {
      ae += Math.abs(p[n] - d.y.data[n]);
      se += (p[n] - d.y.data[n]) ** 2;
    }
    const res = await m.evaluateAsync(d, { loss: 'mse', metrics: ['mae', 'mse'] });
    expect(res.metrics.mae).toBeCloseTo(ae / 30, 9);
    expect(res.metrics.mse).toBeCloseTo(se / 30, 9);
    expect(res.metrics.mse).toBeCloseTo(res.loss, 9);
  });
});

describe('custom metrics', () => {
  it('a function (a batch mean, weighted by the rows that count) and an object', () => {
    const m = model('softmax');
    const { x, lengths, r } = inputs(4);
    const y = Int32Array.from({ length: N * T }, () => Math.floor(r() * C));
    const p = m.predict(x, { lengths }).data;
    function firstProb(b: MetricBatch): number {
      let s = 0;
      for (let row = 0; row < b.rows; ++row) if (!b.mask || b.mask[row]) s += b.pred[row * b.cols];
      return s / b.count;
    }
    let updates = 0;
    const counted: MetricObject = {
      name: 'counted',
      n: 0,
      update(b: MetricBatch) {
        updates++;
        (this as unknown as { n: number }).n += b.count;
      },
      result() {
        return (this as unknown as { n: number }).n;
      },
      reset() {
        (this as unknown as { n: number }).n = 0;
      },
    } as MetricObject;
    const res = m.evaluate(
      { x, y: { data: y, shape: [N, T] }, lengths },
      { loss: 'crossEntropy', metrics: [firstProb, counted], batchSize: 4 },
    );
    expect(res.metrics.firstProb).toBeCloseTo(
      rowMean(lengths, (n, t) => p[(n * T + t) * C]),
      7,
    );
    expect(res.metrics.counted).toBe(lengths.reduce((a, b) => a + b, 0));
    expect(updates).toBe(4); // ceil(13 / 4) batches
  });
});

describe('metrics in fit', () => {
  it('per epoch on training and validation data, in History, onEpochEnd and the progress line', async () => {
    const m = model('softmax');
    const { x, lengths, r } = inputs(5);
    const y = {
      data: Int32Array.from({ length: N * T }, () => Math.floor(r() * C)),
      shape: [N, T],
    };
    const v = inputs(6);
    const vy = {
      data: Int32Array.from({ length: N * T }, () => Math.floor(v.r() * C)),
      shape: [N, T],
    };
    const val = { x: v.x, y: vy, lengths: v.lengths };
    const seen: unknown[] = [];
    let out = '';
    const h = await m.fit(
      { x, y, lengths },
      {
        loss: 'crossEntropy',
        epochs: 3,
        batchSize: 4,
        metrics: ['accuracy', { name: 'topK', k: 2 }],
        validationData: val,
        callbacks: { onEpochEnd: (i) => void seen.push(i.valMetrics) },
        verbose: 2,
        output: { write: (s: string) => (out += s) },
      },
    );
    expect(Object.keys(h.metrics)).toEqual(['accuracy', 'topK']);
    expect(h.metrics.accuracy).toHaveLength(3);
    expect(h.valMetrics.topK).toHaveLength(3);
    for (const a of h.metrics.accuracy) expect(a).toBeGreaterThanOrEqual(0);
    const after = m.evaluate(val, {
      loss: 'crossEntropy',
      metrics: ['accuracy', { name: 'topK', k: 2 }],
    });
    expect(h.valMetrics.accuracy[2]).toBeCloseTo(after.metrics.accuracy, 12);
    expect(h.valMetrics.topK[2]).toBeCloseTo(after.metrics.topK, 12);
    expect(h.valLoss[2]).toBeCloseTo(after.loss, 6);
    expect(seen[2]).toEqual({ accuracy: h.valMetrics.accuracy[2], topK: h.valMetrics.topK[2] });
    expect(out).toMatch(/Epoch 3\/3 · loss \S+ · accuracy \S+ · topK \S+ · val \S+ · val accuracy/);
  });

  it('refuses bad metrics before training', async () => {
    const m = model('softmax');
    const { x, lengths } = inputs(7);
    const y = { data: new Int32Array(N * T), shape: [N, T] };
    const before = m.parameters()['1.weight'].data;
    const fit = (metrics: unknown) =>
      m.fit({ x, y, lengths }, { loss: 'crossEntropy', metrics: metrics as never, verbose: 0 });
    for (const [bad, msg] of [
      ['accuracy', /must be an array/],
      [['acc'], /metrics\[0\] must be one of/],
      [[{ name: 'topK', k: 0 }], /k must be an integer/],
      [[{ name: 'topK', k: 5 }], /exceeds the model's 4 outputs/],
      [['mae', 'mae'], /as an earlier metric/],
      [[{ name: 'loss', update() {}, result: () => 0, reset() {} }], /which is the loss/],
      [[() => 1], /needs a name/],
    ] as const)
      await expect(fit(bad)).rejects.toMatchObject({
        code: 'ERR_CELLSTATE_INVALID_ARG',
        message: expect.stringMatching(msg),
      });
    // a value metric on class-index targets: refused at the first batch, before its update
    await expect(fit(['mse'])).rejects.toMatchObject({
      message: expect.stringMatching(/class indices/),
    });
    expect(m.parameters()['1.weight'].data).toEqual(before);
  });
});
