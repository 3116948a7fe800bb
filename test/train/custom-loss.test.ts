// A custom loss (a subclass of Loss with name, units and accumulate): its gradient by finite
// differences, padded rows masked, and fit / evaluate using it as they use a built-in.
import { describe, expect, it } from 'vitest';

import {
  Dense,
  GRU,
  Loss,
  type LossTarget,
  Sequential,
  Tensor,
  addingProblem,
} from '../../lib/index';
import { lcg } from '../helpers/fd';

/** Huber loss (δ = 0.5) over every element, as a user would write it. */
class Huber extends Loss {
  readonly name = 'huber';
  readonly delta = 0.5;
  units(rows: number, cols: number, mask: Uint8Array | null): number {
    let n = 0;
    for (let r = 0; r < rows; ++r) n += mask ? mask[r] : 1;
    return n * cols;
  }
  accumulate(
    pred: Float32Array,
    rows: number,
    cols: number,
    target: LossTarget,
    mask: Uint8Array | null,
    grad: Float32Array | null,
    scale: number,
  ): number {
    const y = target.data;
    let sum = 0;
    for (let j = 0; j < rows * cols; ++j) {
      const on = !mask || mask[Math.floor(j / cols)] === 1;
      const d = on ? pred[j] - y[j] : 0;
      const a = Math.abs(d);
      sum += a <= this.delta ? 0.5 * d * d : this.delta * (a - 0.5 * this.delta);
      if (grad) grad[j] = (a <= this.delta ? d : this.delta * Math.sign(d)) * scale;
    }
    return sum;
  }
}

/** The built-in mse, written as a custom loss. */
class MyMse extends Loss {
  readonly name = 'myMse';
  units(rows: number, cols: number, mask: Uint8Array | null): number {
    let n = 0;
    for (let r = 0; r < rows; ++r) n += mask ? mask[r] : 1;
    return n * cols;
  }
  accumulate(
    pred: Float32Array,
    rows: number,
    cols: number,
    target: LossTarget,
    mask: Uint8Array | null,
    grad: Float32Array | null,
    scale: number,
  ): number {
    let sum = 0;
    for (let r = 0; r < rows; ++r)
      for (let j = r * cols; j < (r + 1) * cols; ++j) {
        const d = !mask || mask[r] ? pred[j] - target.data[j] : 0;
        sum += d * d;
        if (grad) grad[j] = 2 * d * scale;
      }
    return sum;
  }
}

describe('a custom loss', () => {
  it("has compute()'s gradient equal to central finite differences, zero at padded steps", () => {
    const [T, B, C] = [4, 3, 2];
    const r = lcg(5);
    const pred = Float64Array.from({ length: T * B * C }, () => r());
    const y = new Tensor(
      Float32Array.from({ length: T * B * C }, () => r()),
      [T, B, C],
    );
    const lengths = [4, 2, 1];
    const loss = new Huber();
    const at = (p: Float64Array) =>
      loss.compute(new Tensor(Float32Array.from(p), [T, B, C]), y, { lengths }).loss;
    const { grad } = loss.compute(new Tensor(Float32Array.from(pred), [T, B, C]), y, { lengths });
    const h = 1e-3;
    for (let i = 0; i < pred.length; ++i) {
      const p = pred.slice();
      p[i] += h;
      const up = at(p);
      p[i] -= 2 * h;
      const fd = (up - at(p)) / (2 * h);
      expect(grad.data[i]).toBeCloseTo(fd, 4); // float32 predictions: 1e-4 absolute
      const [t, b] = [Math.floor(i / (B * C)), Math.floor(i / C) % B];
      if (t >= lengths[b]) expect(grad.data[i]).toBe(0);
    }
  });

  it('trains in fit exactly as the built-in it re-implements, and evaluates with it', async () => {
    const make = () =>
      new Sequential(
        [
          new GRU({ inputSize: 2, hiddenSize: 6, seed: 1 }),
          new Dense({ inputSize: 6, outputSize: 1, seed: 2 }),
        ],
        { batchFirst: true },
      );
    const d = addingProblem({ n: 40, T: 8, seed: 1 });
    // per-step targets: the running sum of marked values
    const y = new Float32Array(40 * 8);
    for (let n = 0; n < 40; ++n) {
      let s = 0;
      for (let t = 0; t < 8; ++t) {
        if (d.x.data[(n * 8 + t) * 2 + 1] === 1) s += d.x.data[(n * 8 + t) * 2];
        y[n * 8 + t] = s;
      }
    }
    const lengths = Int32Array.from({ length: 40 }, (_, n) => 3 + (n % 6));
    const data = { x: d.x, y: new Tensor(y, [40, 8, 1]), lengths };
    const opts = { epochs: 2, batchSize: 8, seed: 3, verbose: 0 as const };
    const a = make();
    const ha = await a.fit(data, { ...opts, loss: 'mse' });
    const b = make();
    const hb = await b.fit(data, { ...opts, loss: new MyMse() });
    expect(hb.batchLoss).toEqual(ha.batchLoss);
    expect(b.parameters()['0.weight_ih_l0'].data).toEqual(a.parameters()['0.weight_ih_l0'].data);
    expect(b.evaluate(data, { loss: new MyMse() })).toBe(a.evaluate(data, { loss: 'mse' }));
    const hh = await make().fit(data, { ...opts, loss: new Huber(), epochs: 3 });
    expect(hh.loss[2]).toBeLessThan(hh.loss[0]);
  });

  it('is refused without a name', () => {
    class Nameless extends MyMse {
      override readonly name = '';
    }
    const m = new Sequential([new Dense({ inputSize: 2, outputSize: 1 })], { batchFirst: true });
    const data = addingProblem({ n: 4, T: 2 });
    expect(() =>
      m.evaluate(
        { x: data.x, y: new Tensor(new Float32Array(8), [4, 2, 1]) },
        { loss: new Nameless() },
      ),
    ).toThrow(expect.objectContaining({ code: 'ERR_CELLSTATE_INVALID_ARG' }));
  });
});
