// Dense: forward against a float64 reference, gradients against central finite differences for
// every activation (per step with lengths, last step, rows), streams against forward, bad input.
import { describe, expect, it } from 'vitest';

import { Dense, type DenseActivation, Tensor } from '../../lib/index';
import { checkGradient, dot, randomTensor } from '../helpers/fd';

const ACTS: DenseActivation[] = ['linear', 'tanh', 'sigmoid', 'relu', 'softmax'];

/** y = act(x Wᵀ + b) in double, rows of x [rows, I]. */
function reference(
  act: DenseActivation,
  x: Float32Array,
  W: Float32Array,
  b: Float32Array,
  I: number,
  O: number,
) {
  const rows = x.length / I;
  const y = new Float64Array(rows * O);
  for (let r = 0; r < rows; ++r) {
    for (let o = 0; o < O; ++o) {
      let z = b[o];
      for (let i = 0; i < I; ++i) z += x[r * I + i] * W[o * I + i];
      y[r * O + o] = z;
    }
    const row = y.subarray(r * O, r * O + O);
    if (act === 'tanh') row.forEach((v, k) => (row[k] = Math.tanh(v)));
    if (act === 'sigmoid') row.forEach((v, k) => (row[k] = 1 / (1 + Math.exp(-v))));
    if (act === 'relu') row.forEach((v, k) => (row[k] = Math.max(0, v)));
    if (act === 'softmax') {
      const m = Math.max(...row);
      let s = 0;
      row.forEach((v, k) => (s += row[k] = Math.exp(v - m)));
      row.forEach((v, k) => (row[k] = v / s));
    }
  }
  return y;
}

describe('Dense forward', () => {
  for (const act of ACTS) {
    it(`matches a float64 reference (${act}) on [T, B, I] and [B, I]`, () => {
      // sizes around the GEMM tiles: 17 rows, 33 in, 9 out
      const d = new Dense({ inputSize: 33, outputSize: 9, activation: act, seed: 5 });
      const { weight, bias } = d.parameters();
      const x3 = randomTensor([17, 3, 33], 1);
      const y3 = d.forward(x3).output;
      expect(y3.shape).toEqual([17, 3, 9]);
      const ref = reference(act, x3.data, weight.data, bias.data, 33, 9);
      for (let i = 0; i < ref.length; ++i) expect(Math.abs(y3.data[i] - ref[i])).toBeLessThan(1e-5); // float32 GEMM of 33 terms of size ≤ 1
      const x2 = randomTensor([7, 33], 2);
      const y2 = d.forward(x2).output;
      expect(y2.shape).toEqual([7, 9]);
      const ref2 = reference(act, x2.data, weight.data, bias.data, 33, 9);
      for (let i = 0; i < ref2.length; ++i)
        expect(Math.abs(y2.data[i] - ref2[i])).toBeLessThan(1e-5);
    });
  }

  it('lastStep takes step len_b − 1 of each sequence, and padded steps give 0', () => {
    const d = new Dense({
      inputSize: 4,
      outputSize: 3,
      activation: 'tanh',
      lastStep: true,
      seed: 1,
    });
    const x = randomTensor([5, 3, 4], 3);
    const y = d.forward(x, { lengths: [5, 2, 1] }).output;
    expect(y.shape).toEqual([3, 3]);
    const full = new Dense({ ...d.config, lastStep: false }).forward(x).output;
    const ts = [4, 1, 0];
    for (let b = 0; b < 3; ++b)
      for (let o = 0; o < 3; ++o)
        expect(y.data[b * 3 + o]).toBe(full.data[(ts[b] * 3 + b) * 3 + o]);
    const perStep = new Dense({ ...d.config, lastStep: false }).forward(x, {
      lengths: [5, 2, 1],
    }).output;
    for (let t = 2; t < 5; ++t)
      for (let o = 0; o < 3; ++o) expect(perStep.data[(t * 3 + 1) * 3 + o]).toBe(0);
  });

  it('uses PyTorch names, layout and initialisation bounds, reproducibly from the seed', () => {
    const d = new Dense({ inputSize: 16, outputSize: 4, seed: 9 });
    const p = d.parameters();
    expect(Object.keys(p)).toEqual(['weight', 'bias']);
    expect(p.weight.shape).toEqual([4, 16]);
    expect(p.bias.shape).toEqual([4]);
    for (const v of [...p.weight.data, ...p.bias.data])
      expect(Math.abs(v)).toBeLessThanOrEqual(0.25);
    expect(new Dense(d.config).parameters().weight.data).toEqual(p.weight.data);
    expect(d.config).toEqual({
      type: 'dense',
      inputSize: 16,
      outputSize: 4,
      activation: 'linear',
      lastStep: false,
      seed: 9,
    });
  });
});

describe('Dense gradients agree with finite differences', () => {
  // float32 forward, loss summed in double: eps 1e-2 keeps rounding noise (≈1e-7·Σ|y·r|/eps) below
  // 1e-4; truncation is O(eps²). Tolerance 2e-3 + 1e-2·|g|.
  const tol = { eps: 1e-2, atol: 2e-3, rtol: 1e-2 };
  // relu: eps 1e-3 with every pre-activation at least 4·eps from the kink (|Δz| ≤ eps·max(|x|, |W|, 1)),
  // so no ±eps step crosses it; rounding noise stays ≈1e-4.
  const reluTol = { eps: 1e-3, atol: 2e-3, rtol: 1e-2 };

  for (const act of ACTS) {
    for (const mode of ['perStep', 'lastStep', 'rows'] as const) {
      it(`${act}, ${mode}`, () => {
        const I = 6;
        const O = 5;
        const d = new Dense({
          inputSize: I,
          outputSize: O,
          activation: act,
          lastStep: mode === 'lastStep',
          seed: 21,
        });
        const x = mode === 'rows' ? randomTensor([4, I], 7) : randomTensor([4, 3, I], 7);
        const lengths = mode === 'rows' ? undefined : [4, 2, 3];
        const outShape =
          mode === 'rows' || mode === 'lastStep' ? [mode === 'rows' ? 4 : 3, O] : [4, 3, O];
        const r = randomTensor(outShape, 8);
        if (act === 'relu') {
          // keep every pre-activation away from the kink so ±eps cannot cross it
          const z = new Dense({ ...d.config, activation: 'linear' }).forward(
            x,
            lengths ? { lengths } : {},
          ).output;
          const minAbs = Math.min(...z.data.filter((v) => v !== 0).map(Math.abs));
          expect(minAbs).toBeGreaterThan(4 * reluTol.eps);
        }
        const t = act === 'relu' ? reluTol : tol;
        const opts = lengths ? { lengths } : {};
        const loss = () => dot(d.forward(x, opts).output.data, r.data);
        d.zeroGrad();
        d.forward(x, { ...opts, train: true });
        const gx = d.backward({ output: r }).x;
        const grads = d.gradients();
        const params = d.parameters();
        const apply = () => d.setParameters(params);
        const bad = [
          ...checkGradient({
            name: 'weight',
            values: params.weight.data,
            analytic: grads.weight.data,
            loss,
            apply,
            ...t,
          }),
          ...checkGradient({
            name: 'bias',
            values: params.bias.data,
            analytic: grads.bias.data,
            loss,
            apply,
            ...t,
          }),
          ...checkGradient({ name: 'x', values: x.data, analytic: gx.data, loss, ...t }),
        ];
        expect(bad).toEqual([]);
      });
    }
  }

  it('accumulates over backward calls until zeroGrad', () => {
    const d = new Dense({ inputSize: 3, outputSize: 2, seed: 1 });
    const x = randomTensor([2, 3], 1);
    const g = randomTensor([2, 2], 2);
    d.forward(x, { train: true });
    d.backward({ output: g });
    const once = d.gradients().weight.data.slice();
    d.forward(x, { train: true });
    d.backward({ output: g });
    const twice = d.gradients().weight.data;
    for (let i = 0; i < once.length; ++i) expect(twice[i]).toBeCloseTo(2 * once[i], 6);
    d.zeroGrad();
    expect([...d.gradients().weight.data].every((v) => v === 0)).toBe(true);
  });
});

describe('Dense streams', () => {
  it('step equals forward at each step, in one reused buffer, and follows setParameters', () => {
    const d = new Dense({ inputSize: 5, outputSize: 7, activation: 'softmax', seed: 3 });
    const x = randomTensor([6, 2, 5], 4);
    const y = d.forward(x).output;
    const s = d.stream({ batch: 2 });
    expect([s.batch, s.inputSize, s.outputSize]).toEqual([2, 5, 7]);
    let first: Float32Array | null = null;
    for (let t = 0; t < 6; ++t) {
      const out = s.step(x.data.subarray(t * 10, t * 10 + 10));
      first ??= out;
      expect(out).toBe(first);
      for (let i = 0; i < 14; ++i) expect(out[i]).toBeCloseTo(y.data[t * 14 + i], 6);
    }
    const p = d.parameters();
    p.bias.data.fill(3);
    p.weight.data.fill(0);
    d.setParameters(p);
    const out = s.step(x.data.subarray(0, 10));
    for (let i = 0; i < 14; ++i) expect(out[i]).toBeCloseTo(1 / 7, 6);
  });

  it('refuses a frame of the wrong size', () => {
    const s = new Dense({ inputSize: 3, outputSize: 2, seed: 1 }).stream({ batch: 2 });
    expect(() => s.step(new Float32Array(5))).toThrow(
      /step: x must have shape \[B=2, I=3\].*got \[5\]/,
    );
  });
});

describe('Dense refuses bad input', () => {
  it('options', () => {
    expect(() => new Dense({ inputSize: 0, outputSize: 2 })).toThrow(RangeError);
    expect(() => new Dense({ inputSize: 2, outputSize: 2, activation: 'gelu' as never })).toThrow(
      TypeError,
    );
    expect(() => new Dense({ inputSize: 2, outputSize: 2, colour: 1 } as never)).toThrow(
      /unknown option 'colour'/,
    );
  });

  it('shapes, lengths and backward without forward', () => {
    const d = new Dense({ inputSize: 4, outputSize: 2, seed: 1 });
    expect(() => d.forward(randomTensor([3, 2, 5], 1))).toThrow(
      /forward: x must have shape \[T, B, I=4\].*got \[3, 2, 5\]/,
    );
    expect(() => d.forward(randomTensor([3, 2, 4], 1), { lengths: [1, 4] })).toThrow(
      /lengths\[1\] must be an integer in \[0, T=3\]/,
    );
    expect(() => d.forward(randomTensor([2, 4], 1), { lengths: [1, 1] })).toThrow(TypeError);
    expect(() => d.backward({ output: randomTensor([2, 2], 1) })).toThrow(
      /no pending training forward/,
    );
    d.forward(randomTensor([3, 4], 1), { train: true });
    expect(() => d.backward({ output: randomTensor([2, 2], 1) })).toThrow(
      /backward: output must have shape \[3, 2\], got \[2, 2\]/,
    );
    expect(() => d.setParameters({ weight: new Float32Array(8) })).toThrow(
      /missing parameter 'bias'/,
    );
    expect(() =>
      d.setParameters({
        weight: new Tensor(new Float32Array(8), [2, 4]),
        bias: new Float32Array(3),
      }),
    ).toThrow(RangeError);
  });
});
