// CustomLayer: a layer given by JavaScript forward / backward functions. Its gradients (of x and
// of its parameters) against central finite differences; shapes and refusals.
import { describe, expect, it } from 'vitest';

import {
  Adam,
  CustomLayer,
  Dense,
  GRU,
  Sequential,
  Tensor,
  addingProblem,
  toBuffer,
  type CustomLayerOptions,
} from '../../lib/index';
import { checkGradient, dot, lcg } from '../helpers/fd';

/** y = tanh(x ⊙ gain + bias), per step and feature: a gated scaling, as a user would write it. */
function scaleTanh(F: number, seed = 1): CustomLayerOptions {
  const r = lcg(seed);
  return {
    inputSize: F,
    outputSize: F,
    name: 'scaleTanh',
    params: {
      gain: new Tensor(
        Float32Array.from({ length: F }, () => 1 + 0.5 * r()),
        [F],
      ),
      bias: new Tensor(
        Float32Array.from({ length: F }, () => 0.1 * r()),
        [F],
      ),
    },
    forward(x, { params, saved }) {
      const g = params.gain.data;
      const b = params.bias.data;
      const y = new Float32Array(x.data.length);
      for (let i = 0; i < y.length; ++i) y[i] = Math.tanh(x.data[i] * g[i % F] + b[i % F]);
      saved.y = y;
      return new Tensor(y, [...x.shape.slice(0, -1), F]);
    },
    backward(dy, { params, grads, saved, x }) {
      const y = saved.y as Float32Array;
      const g = params.gain.data;
      const dx = new Float32Array(x.data.length);
      for (let i = 0; i < dx.length; ++i) {
        const dz = dy.data[i] * (1 - y[i] * y[i]);
        dx[i] = dz * g[i % F];
        grads.gain.data[i % F] += dz * x.data[i];
        grads.bias.data[i % F] += dz;
      }
      return new Tensor(dx, x.shape);
    },
  };
}

/** The mean over the valid steps of each sequence: [T, B, F] → [B, F] (a lastStep layer). */
function meanOverTime(F: number): CustomLayerOptions {
  return {
    inputSize: F,
    outputSize: F,
    lastStep: true,
    forward(x, { lengths }) {
      const [T, B] = x.shape;
      const y = new Float32Array(B * F);
      for (let b = 0; b < B; ++b) {
        const L = lengths ? lengths[b] : T;
        for (let t = 0; t < L; ++t)
          for (let f = 0; f < F; ++f) y[b * F + f] += x.data[(t * B + b) * F + f] / L;
      }
      return new Tensor(y, [B, F]);
    },
    backward(dy, { lengths, x }) {
      const [T, B] = x.shape;
      const dx = new Float32Array(x.data.length);
      for (let b = 0; b < B; ++b) {
        const L = lengths ? lengths[b] : T;
        for (let t = 0; t < L; ++t)
          for (let f = 0; f < F; ++f) dx[(t * B + b) * F + f] = dy.data[b * F + f] / L;
      }
      return new Tensor(dx, x.shape);
    },
  };
}

describe('CustomLayer alone', () => {
  it('has gradients of x and of its parameters equal to central finite differences', () => {
    const [T, B, F] = [5, 3, 4];
    const layer = new CustomLayer(scaleTanh(F));
    const r = lcg(7);
    const x = new Float32Array(T * B * F).map(() => r());
    const w = new Float32Array(T * B * F).map(() => r()); // loss = Σ w ⊙ y
    const lengths = [5, 2, 4];
    const loss = () => dot(layer.forward(new Tensor(x, [T, B, F]), { lengths }).output.data, w);
    layer.zeroGrad();
    layer.forward(new Tensor(x, [T, B, F]), { lengths, train: true });
    const dx = layer.backward({ output: new Tensor(w, [T, B, F]) }).x.data;
    // padded steps: zero output, so zero gradient of x there
    const dxMasked = dx.slice();
    for (let t = 0; t < T; ++t)
      for (let b = 0; b < B; ++b)
        if (t >= lengths[b]) dxMasked.fill(0, (t * B + b) * F, (t * B + b + 1) * F);
    const tol = { eps: 1e-3, atol: 1e-3, rtol: 1e-2 }; // float32 forward: differences of ~1e-4
    expect(checkGradient({ name: 'x', values: x, analytic: dxMasked, loss, ...tol })).toEqual([]);
    const grads = layer.gradients();
    for (const name of ['gain', 'bias']) {
      const p = layer.parameters();
      const values = p[name].data;
      const apply = () => layer.setParameters(p);
      expect(
        checkGradient({ name, values, analytic: grads[name].data, loss, apply, ...tol }),
      ).toEqual([]);
    }
  });

  it('reduces the time axis with lastStep, and checks what the functions return', () => {
    const layer = new CustomLayer(meanOverTime(2));
    const x = new Tensor(
      Float32Array.from({ length: 12 }, (_, i) => i),
      [3, 2, 2],
    );
    const y = layer.forward(x, { lengths: [3, 1], train: true }).output;
    expect(y.shape).toEqual([2, 2]);
    expect(Array.from(y.data)).toEqual([4, 5, 2, 3]); // means of steps 0–2 of b0, step 0 of b1
    const dx = layer.backward({ output: new Tensor(new Float32Array([3, 3, 1, 1]), [2, 2]) }).x;
    expect(Array.from(dx.data)).toEqual([1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0, 0]);

    const bad = (
      forward: CustomLayerOptions['forward'],
      backward?: CustomLayerOptions['backward'],
    ) =>
      new CustomLayer({
        ...meanOverTime(2),
        lastStep: false,
        forward,
        backward: backward ?? ((d) => d),
      });
    expect(() => bad(() => 3 as never).forward(x)).toThrow(
      expect.objectContaining({
        code: 'ERR_CELLSTATE_INVALID_ARG',
        message: expect.stringMatching(/Custom.forward must return a Tensor \[3, 2, 2\]/),
      }),
    );
    expect(() => bad(() => new Tensor(new Float32Array(4), [2, 2])).forward(x)).toThrow(
      expect.objectContaining({ code: 'ERR_CELLSTATE_SHAPE' }),
    );
    expect(() => bad((v) => v).forward(x)).toThrow(/x's own memory/);
    const l = bad(
      (v) => new Tensor(v.data.slice(), v.shape),
      () => new Tensor(new Float32Array(3), [3]),
    );
    l.forward(x, { train: true });
    expect(() => l.backward({ output: x })).toThrow(
      expect.objectContaining({
        code: 'ERR_CELLSTATE_SHAPE',
        message: expect.stringMatching(/gradient of x must be \[3, 2, 2\]/),
      }),
    );
    expect(() => l.backward({ output: x })).toThrow(
      expect.objectContaining({ code: 'ERR_CELLSTATE_NO_FORWARD' }),
    );
  });

  it('refuses bad options, and bad parameters without changing them', () => {
    const ok = scaleTanh(2);
    expect(() => new CustomLayer({ ...ok, forward: undefined as never })).toThrow(TypeError);
    expect(() => new CustomLayer({ ...ok, inputSize: 0 })).toThrow(RangeError);
    expect(() => new CustomLayer({ ...ok, name: '' })).toThrow(TypeError);
    expect(() => new CustomLayer({ ...ok, params: { 'a.b': [1] } as never })).toThrow(
      /identifiers/,
    );
    expect(() => new CustomLayer({ ...ok, extra: 1 } as never)).toThrow(/extra/);
    const layer = new CustomLayer(ok);
    const before = layer.parameters();
    expect(() => layer.setParameters({ gain: new Float32Array(2) })).toThrow(
      /missing parameter 'bias'/,
    );
    expect(() => layer.setParameters({ ...before, gain: new Float32Array(3) })).toThrow(
      expect.objectContaining({ code: 'ERR_CELLSTATE_SHAPE' }),
    );
    expect(layer.parameters()).toEqual(before);
    expect(layer.config).toEqual({
      type: 'custom',
      name: 'scaleTanh',
      inputSize: 2,
      outputSize: 2,
      lastStep: false,
    });
  });
});

describe('CustomLayer in a Sequential', () => {
  it("gets the model's gradients right: its parameters and x through it, by finite differences", () => {
    const [T, B, I] = [4, 3, 2];
    const model = new Sequential(
      [
        new GRU({ inputSize: I, hiddenSize: 5, seed: 1 }),
        new CustomLayer(scaleTanh(5, 2)),
        new Dense({ inputSize: 5, outputSize: 2, seed: 3 }),
      ],
      { batchFirst: false },
    );
    const r = lcg(9);
    const x = new Float32Array(T * B * I).map(() => r());
    const w = new Float32Array(T * B * 2).map(() => r());
    const lengths = [4, 1, 3];
    const loss = () => dot(model.forward(new Tensor(x, [T, B, I]), { lengths }).output.data, w);
    model.zeroGrad();
    model.forward(new Tensor(x, [T, B, I]), { lengths, train: true });
    const dx = model.backward({ output: new Tensor(w, [T, B, 2]) }).x!.data;
    const grads = model.gradients();
    const tol = { eps: 1e-3, atol: 2e-3, rtol: 2e-2 }; // float32 forward through 3 layers
    expect(checkGradient({ name: 'x', values: x, analytic: dx, loss, ...tol })).toEqual([]);
    for (const name of ['1.gain', '1.bias', '0.weight_ih_l0']) {
      const p = model.parameters();
      const apply = () => model.setParameters(p);
      expect(
        checkGradient({
          name,
          values: p[name].data,
          analytic: grads[name].data,
          loss,
          apply,
          ...tol,
        }),
      ).toEqual([]);
    }
  });

  it('is trained by fit, and a lastStep custom layer feeds a Dense (the adding problem)', async () => {
    const model = new Sequential(
      [
        new GRU({ inputSize: 2, hiddenSize: 16, seed: 1 }),
        new CustomLayer(scaleTanh(16, 4)),
        new CustomLayer({ ...meanOverTime(16), name: 'mean' }),
        new Dense({ inputSize: 16, outputSize: 1, seed: 2 }),
      ],
      { batchFirst: true },
    );
    const val = addingProblem({ n: 200, T: 10, seed: 99 });
    const before = model.evaluate(val, { loss: 'mse' });
    const gain0 = model.parameters()['1.gain'].data;
    const h = await model.fit(addingProblem({ n: 1024, T: 10, seed: 1 }), {
      loss: 'mse',
      optimizer: new Adam({ lr: 0.01 }),
      epochs: 6,
      seed: 1,
      validationData: val,
      verbose: 0,
    });
    expect(model.parameters()['1.gain'].data).not.toEqual(gain0);
    expect(h.valLoss[5]).toBeLessThan(before);
    expect(h.valLoss[5]).toBeLessThan(0.1); // baseline 1/6; measured 0.046 (AVX-512)
    expect(model.predict(val.x).shape).toEqual([200, 1]);
    expect(model.summary()).toMatch(/2 Custom \(mean, lastStep\)\s+\[B, 16\]\s+0/);
    expect(model.summary()).toMatch(/3 Dense\s+\[B, 1\]/);
  });

  it('refuses what it cannot do: save, stream, a recurrent layer after a lastStep one', () => {
    const custom = new CustomLayer(scaleTanh(3));
    const model = new Sequential([new GRU({ inputSize: 2, hiddenSize: 3 }), custom], {
      batchFirst: true,
    });
    expect(() => toBuffer(model)).toThrow(
      expect.objectContaining({
        code: 'ERR_CELLSTATE_UNSUPPORTED',
        message: expect.stringMatching(/layer 1 of the model is a CustomLayer/),
      }),
    );
    expect(() => model.stream()).toThrow(
      expect.objectContaining({ code: 'ERR_CELLSTATE_UNSUPPORTED' }),
    );
    expect(
      () =>
        new Sequential([
          new GRU({ inputSize: 2, hiddenSize: 3 }),
          new CustomLayer(meanOverTime(3)),
          new GRU({ inputSize: 3, hiddenSize: 3 }),
        ]),
    ).toThrow(/layers\[2\] is a recurrent layer after a lastStep/);
    expect(() => new Sequential([new GRU({ inputSize: 2, hiddenSize: 4 }), custom])).toThrow(
      /inputSize 3 but the layer before it outputs 4/,
    );
  });
});
