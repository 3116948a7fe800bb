// Losses: values against their formulas in double, gradients against finite differences, masks,
// numerical stability, refusals.
import { describe, expect, it } from 'vitest';

import { BinaryCrossEntropy, CrossEntropy, MeanSquaredError, Tensor } from '../../lib/index';
import { checkGradient, randomTensor } from '../helpers/fd';

// The losses compute in double from float32 predictions: eps 1e-3 on pred, rounding of pred ± eps
// is divided out (test/helpers/fd.ts); tolerance 1e-5 + 1e-3·|g|.
const tol = { eps: 1e-3, atol: 1e-5, rtol: 1e-3, count: 100 };

function fd(
  loss: { compute: (p: Tensor, t: never, o?: never) => { loss: number; grad: Tensor } },
  pred: Tensor,
  target: unknown,
  opts?: unknown,
) {
  const { grad } = loss.compute(pred, target as never, opts as never);
  return checkGradient({
    name: 'pred',
    values: pred.data,
    analytic: grad.data,
    loss: () => loss.compute(pred, target as never, opts as never).loss,
    ...tol,
  });
}

function logSoftmax(z: ArrayLike<number>): number[] {
  const m = Math.max(...Array.from(z));
  const lse = m + Math.log(Array.from(z).reduce((s, v) => s + Math.exp(v - m), 0));
  return Array.from(z, (v) => v - lse);
}

describe('mse', () => {
  it('is the mean of (p − y)² over every element, with the gradient 2(p − y)/n', () => {
    const p = Tensor.from([
      [1, 2],
      [3, 4],
    ]);
    const y = Tensor.from([
      [0, 2],
      [5, 4],
    ]);
    const r = new MeanSquaredError().compute(p, y);
    expect(r.loss).toBeCloseTo((1 + 0 + 4 + 0) / 4, 12);
    expect(Array.from(r.grad.data)).toEqual([0.5, 0, -1, 0]);
    expect(
      fd(new MeanSquaredError(), randomTensor([4, 3, 2], 1), randomTensor([4, 3, 2], 2)),
    ).toEqual([]);
  });

  it('leaves padded steps out of the mean and the gradient', () => {
    const p = randomTensor([3, 2, 2], 3);
    const y = randomTensor([3, 2, 2], 4);
    const r = new MeanSquaredError().compute(p, y, { lengths: [3, 1] });
    let sum = 0;
    for (const [t, b] of [
      [0, 0],
      [1, 0],
      [2, 0],
      [0, 1],
    ])
      for (let k = 0; k < 2; ++k)
        sum += (p.data[(t * 2 + b) * 2 + k] - y.data[(t * 2 + b) * 2 + k]) ** 2;
    expect(r.loss).toBeCloseTo(sum / 8, 6);
    for (const [t, b] of [
      [1, 1],
      [2, 1],
    ])
      for (let k = 0; k < 2; ++k) expect(r.grad.data[(t * 2 + b) * 2 + k]).toBe(0);
    expect(fd(new MeanSquaredError(), p, y, { lengths: [3, 1] })).toEqual([]);
  });
});

describe('crossEntropy', () => {
  it('is −log softmax(z)[y] averaged over rows, for class indices and one-hot targets alike', () => {
    const z = randomTensor([5, 4], 5, 3);
    const idx = [0, 3, 2, 1, 3];
    const ce = new CrossEntropy();
    const a = ce.compute(z, Tensor.from(idx));
    const b = ce.compute(z, Int32Array.from(idx));
    const oneHot = Tensor.from(idx.map((k) => [0, 1, 2, 3].map((c) => (c === k ? 1 : 0))));
    const c = ce.compute(z, oneHot);
    let expected = 0;
    for (let r = 0; r < 5; ++r) expected -= logSoftmax(z.data.subarray(r * 4, r * 4 + 4))[idx[r]];
    expected /= 5;
    for (const v of [a.loss, b.loss, c.loss]) expect(v).toBeCloseTo(expected, 6);
    for (let i = 0; i < 20; ++i) expect(c.grad.data[i]).toBeCloseTo(a.grad.data[i], 7);
    expect(fd(ce, z, Int32Array.from(idx))).toEqual([]);
  });

  it('takes soft targets and masks padded steps of [T, B, C]', () => {
    const z = randomTensor([3, 2, 5], 6, 2);
    const soft = randomTensor([3, 2, 5], 7).data.map((v) => Math.abs(v));
    for (let r = 0; r < 6; ++r) {
      const s = soft.subarray(r * 5, r * 5 + 5).reduce((a, v) => a + v, 0);
      for (let k = 0; k < 5; ++k) soft[r * 5 + k] /= s;
    }
    const y = new Tensor(soft, [3, 2, 5]);
    expect(fd(new CrossEntropy(), z, y, { lengths: [2, 3] })).toEqual([]);
    const r = new CrossEntropy().compute(
      z,
      Tensor.from([
        [0, 1],
        [2, 3],
        [4, 0],
      ]),
      { lengths: [2, 3] },
    );
    for (let k = 0; k < 5; ++k) expect(r.grad.data[(2 * 2 + 0) * 5 + k]).toBe(0); // t = 2, b = 0 is padding
  });

  it('is stable for large logits', () => {
    const r = new CrossEntropy().compute(Tensor.from([[1000, 0, -1000]]), Int32Array.from([1]));
    expect(r.loss).toBeCloseTo(1000, 6);
    expect(Array.from(r.grad.data).map((v) => Math.round(v * 1e6) / 1e6)).toEqual([1, -1, 0]);
  });
});

describe('binaryCrossEntropy', () => {
  it('on logits (default) equals the probability form on σ(z), and is stable', () => {
    const z = randomTensor([4, 3], 8, 4);
    const y = new Tensor(
      randomTensor([4, 3], 9).data.map((v) => (v > 0 ? 1 : 0)),
      [4, 3],
    );
    const onLogits = new BinaryCrossEntropy().compute(z, y);
    const p = new Tensor(
      z.data.map((v) => 1 / (1 + Math.exp(-v))),
      [4, 3],
    );
    const onProbs = new BinaryCrossEntropy({ fromLogits: false }).compute(p, y);
    expect(onLogits.loss).toBeCloseTo(onProbs.loss, 5);
    let expected = 0;
    for (let i = 0; i < 12; ++i)
      expected -= y.data[i] * Math.log(p.data[i]) + (1 - y.data[i]) * Math.log(1 - p.data[i]);
    expect(onLogits.loss).toBeCloseTo(expected / 12, 5);
    expect(fd(new BinaryCrossEntropy(), z, y)).toEqual([]);
    expect(fd(new BinaryCrossEntropy({ fromLogits: false }), p, y)).toEqual([]);
    const big = new BinaryCrossEntropy().compute(Tensor.from([[500, -500]]), Tensor.from([[0, 1]]));
    expect(big.loss).toBeCloseTo(500, 6);
  });
});

describe('losses refuse bad input', () => {
  it('shapes, indices and options', () => {
    const ce = new CrossEntropy();
    expect(() => ce.compute(randomTensor([2, 3], 1), Tensor.from([0, 3]))).toThrow(
      /class indices must be integers in \[0, C=3\), got 3 at row 1/,
    );
    expect(() => ce.compute(randomTensor([2, 3], 1), Tensor.from([0.5, 1]))).toThrow(RangeError);
    expect(() => ce.compute(randomTensor([2, 3], 1), randomTensor([3, 3], 1))).toThrow(
      /target must have shape \[2, 3\] \(or class indices \[2\]\), got \[3, 3\]/,
    );
    expect(() =>
      new MeanSquaredError().compute(randomTensor([2, 3], 1), Int32Array.from([0, 1])),
    ).toThrow(/integer class indices are for crossEntropy/);
    expect(() =>
      new MeanSquaredError().compute(randomTensor([2, 3], 1), randomTensor([2, 3], 2), {
        lengths: [1, 1],
      }),
    ).toThrow(TypeError);
    expect(() => new BinaryCrossEntropy({ fromLogit: true } as never)).toThrow(
      /unknown option 'fromLogit'/,
    );
  });
});
