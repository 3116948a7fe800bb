// Empty sequences: a 0 in `lengths` (ONNX's sequence_lens accepts it). Its outputs are 0 at every
// step, its state passes through (h = h0, c = c0), backward passes the state's gradient through
// (dh0 = dh, dc0 = dc) and gives it no dx and no parameter gradient; every other row is what it
// is in a batch without the empty one. A lastStep Dense, which reads each sequence's last step,
// refuses it before anything runs. The C++ side: cpp/tests/lengths_test.cc.
import { describe, expect, it } from 'vitest';

import { Dense, GRU, LSTM, RNN, Sequential, Tensor } from '../../lib/index';

type Coded = Error & { code?: string };

function rand(shape: number[], seed: number): Tensor {
  let s = seed;
  const n = shape.reduce((a, b) => a * b, 1);
  const data = Float32Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return (s / 2147483648) * 2 - 1;
  });
  return new Tensor(data, shape);
}

/** Row b of a [K, B, F] tensor (time-major sequences or states). */
function row(t: Tensor, b: number): number[] {
  const [K, B, F] = t.shape;
  const out: number[] = [];
  for (let k = 0; k < K; ++k) out.push(...t.data.subarray((k * B + b) * F, (k * B + b + 1) * F));
  return out;
}

/** The [K, B, F] tensor without batch row `drop`. */
function without(t: Tensor, drop: number): Tensor {
  const [K, B, F] = t.shape;
  const out: number[] = [];
  for (let k = 0; k < K; ++k)
    for (let b = 0; b < B; ++b)
      if (b !== drop) out.push(...t.data.subarray((k * B + b) * F, (k * B + b + 1) * F));
  return new Tensor(Float32Array.from(out), [K, B - 1, F]);
}

function close(a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-6): void {
  expect(a.length).toBe(b.length);
  for (let i = 0; i < a.length; ++i) expect(Math.abs(a[i] - b[i])).toBeLessThanOrEqual(tol);
}

const T = 4;
const B = 3;
const I = 3;
const H = 5;

describe('empty sequences (a 0 in lengths)', () => {
  const makers = {
    LSTM: () =>
      new LSTM({ inputSize: I, hiddenSize: H, numLayers: 2, bidirectional: true, seed: 3 }),
    'LSTM reverse, peepholes, projection': () =>
      new LSTM({
        inputSize: I,
        hiddenSize: H,
        direction: 'reverse',
        peephole: true,
        projSize: 2,
        seed: 4,
      }),
    GRU: () => new GRU({ inputSize: I, hiddenSize: H, numLayers: 2, seed: 5 }),
    'RNN bidirectional': () =>
      new RNN({ inputSize: I, hiddenSize: H, bidirectional: true, seed: 6 }),
  };
  for (const [name, make] of Object.entries(makers))
    it(`${name}: outputs 0, state and its gradient pass through, the other rows as without it`, () => {
      const layer = make();
      const probe = layer.forward(rand([T, B, I], 1));
      const hShape = [...probe.h.shape];
      const cShape = probe.c ? [...probe.c.shape] : null;
      const x = rand([T, B, I], 2);
      const h0 = rand(hShape, 3);
      const c0 = cShape ? rand(cShape, 4) : undefined;
      const lengths = [3, 0, 4];
      const r = layer.forward(x, { h0, c0, lengths, train: true });
      expect(row(r.output, 1).every((v) => v === 0)).toBe(true);
      expect(row(r.h, 1)).toEqual(row(h0, 1));
      if (c0) expect(row(r.c!, 1)).toEqual(row(c0, 1));
      const dOut = rand([...r.output.shape], 5);
      const dh = rand(hShape, 6);
      const dc = cShape ? rand(cShape, 7) : undefined;
      layer.zeroGrad();
      const g = layer.backward({ output: dOut, h: dh, c: dc });
      expect(row(g.x, 1).every((v) => v === 0)).toBe(true);
      expect(row(g.h0, 1)).toEqual(row(dh, 1));
      if (dc) expect(row(g.c0!, 1)).toEqual(row(dc, 1));
      const grads = layer.gradients();

      // the batch without the empty row
      const r2 = layer.forward(without(x, 1), {
        h0: without(h0, 1),
        c0: c0 && without(c0, 1),
        lengths: [3, 4],
        train: true,
      });
      close(without(r.output, 1).data, r2.output.data);
      close(without(r.h, 1).data, r2.h.data);
      layer.zeroGrad();
      const g2 = layer.backward({
        output: without(dOut, 1),
        h: without(dh, 1),
        c: dc && without(dc, 1),
      });
      close(without(g.x, 1).data, g2.x.data);
      close(without(g.h0, 1).data, g2.h0.data);
      const grads2 = layer.gradients();
      for (const [k, v] of Object.entries(grads)) close(v.data, grads2[k].data, 1e-5);
      layer.dispose();
    });

  it('every sequence empty: zeros out, h0 / c0 back, no parameter gradient', () => {
    const layer = new LSTM({ inputSize: I, hiddenSize: H, seed: 8 });
    const h0 = rand([1, 2, H], 1);
    const c0 = rand([1, 2, H], 2);
    const r = layer.forward(rand([T, 2, I], 3), { h0, c0, lengths: [0, 0], train: true });
    expect(r.output.data.every((v) => v === 0)).toBe(true);
    expect([...r.h.data]).toEqual([...h0.data]);
    expect([...r.c!.data]).toEqual([...c0.data]);
    layer.zeroGrad();
    layer.backward({ output: rand([T, 2, H], 4), h: rand([1, 2, H], 5) });
    for (const v of Object.values(layer.gradients()))
      expect(v.data.every((g) => g === 0)).toBe(true);
    layer.dispose();
  });

  it('Sequential per-step heads and a loss accept them; fit trains on them', async () => {
    const model = new Sequential(
      [
        new LSTM({ inputSize: I, hiddenSize: H, seed: 1 }),
        new Dense({ inputSize: H, outputSize: 2, seed: 2 }),
      ],
      { batchFirst: false },
    );
    const x = rand([T, B, I], 9);
    const y = model.forward(x, { lengths: [0, 2, 4] }).output;
    expect(row(y, 0).every((v) => v === 0)).toBe(true);
    expect(
      row(y, 1)
        .slice(4)
        .every((v) => v === 0),
    ).toBe(true);
    const h = await model.fit(
      { x: rand([T, B, I], 10), y: rand([T, B, 2], 11), lengths: [0, 3, 4] },
      { loss: 'mse', epochs: 2, batchSize: 3 },
    );
    expect(h.loss.every((l) => Number.isFinite(l))).toBe(true);
    model.dispose();
  });

  it('a lastStep Dense refuses them before anything runs', () => {
    const lstm = new LSTM({ inputSize: I, hiddenSize: H, seed: 1 });
    const head = new Dense({ inputSize: H, outputSize: 1, lastStep: true, seed: 2 });
    const model = new Sequential([lstm, head], { batchFirst: false });
    const x = rand([T, B, I], 12);
    model.forward(x, { lengths: [1, 2, 4], train: true });
    let e: Coded | null = null;
    try {
      model.forward(x, { lengths: [1, 0, 4], train: true });
    } catch (err) {
      e = err as Coded;
    }
    expect(e).toBeInstanceOf(RangeError);
    expect(e?.code).toBe('ERR_CELLSTATE_OUT_OF_RANGE');
    expect(e?.message).toMatch(
      /forward: lengths\[1\] is 0, an empty sequence, but a lastStep Dense/,
    );
    // the failed forward changed nothing: the first one's backward is still pending
    expect(() => model.backward({ output: rand([B, 1], 13) })).not.toThrow();
    expect(() => head.forward(rand([T, B, H], 15), { lengths: [0, 1, 1] })).toThrow(
      /lengths\[0\] is 0/,
    );
    expect(() => model.predict(rand([T, B, I], 14), { lengths: [2, 0, 1] } as never)).toThrow(
      /lengths\[1\] is 0/,
    );
    model.dispose();
  });
});
