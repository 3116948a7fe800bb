// Sequential, Embedding and Dropout: gradients of whole models against finite differences,
// parameter names, state carried across chunks, async = sync, refusals.
import { describe, expect, it } from 'vitest';

import { Dense, Dropout, Embedding, GRU, LSTM, RNN, Sequential, Tensor } from '../../lib/index';
import { checkGradient, dot, randomTensor } from '../helpers/fd';

// float32 forward (recurrent kernels included), loss Σ out ⊙ r in double; see test/helpers/fd.ts.
// eps 1e-2: rounding noise ≈ 1e-7·Σ|out·r|/eps ≈ 1e-4; tolerance 3e-3 + 2e-2·|g| for the deeper
// composition (truncation O(eps²) through tanh/σ chains).
const tol = { eps: 1e-2, atol: 3e-3, rtol: 2e-2, count: 24 };

function checkModel(
  model: Sequential,
  x: Tensor | { data: Int32Array; shape: number[] },
  opts: { lengths?: number[] },
  outShape: number[],
) {
  const r = randomTensor(outShape, 99);
  const loss = () => dot(model.forward(x, opts).output.data, r.data);
  model.zeroGrad();
  model.forward(x, { ...opts, train: true });
  const gx = model.backward({ output: r }).x;
  const grads = model.gradients();
  const params = model.parameters();
  const apply = () => model.setParameters(params);
  const bad = [];
  for (const name of Object.keys(params))
    bad.push(
      ...checkGradient({
        name,
        values: params[name].data,
        analytic: grads[name].data,
        loss,
        apply,
        ...tol,
      }),
    );
  if (x instanceof Tensor && gx)
    bad.push(...checkGradient({ name: 'x', values: x.data, analytic: gx.data, loss, ...tol }));
  return bad;
}

describe('Sequential gradients agree with finite differences', () => {
  it('LSTM → Dense (tanh) per step, with lengths', () => {
    const model = new Sequential([
      new LSTM({ inputSize: 3, hiddenSize: 5, seed: 1 }),
      new Dense({ inputSize: 5, outputSize: 4, activation: 'tanh', seed: 2 }),
    ]);
    expect(
      checkModel(model, randomTensor([5, 3, 3], 3), { lengths: [5, 3, 1] }, [5, 3, 4]),
    ).toEqual([]);
  });

  it('GRU ×2 layers → Dropout (inference-free rate 0) → Dense (softmax) on the last step, with lengths', () => {
    const model = new Sequential([
      new GRU({ inputSize: 2, hiddenSize: 4, numLayers: 2, seed: 4 }),
      new Dropout({ rate: 0, seed: 1 }),
      new Dense({ inputSize: 4, outputSize: 3, activation: 'softmax', lastStep: true, seed: 5 }),
    ]);
    expect(checkModel(model, randomTensor([6, 2, 2], 6), { lengths: [4, 6] }, [2, 3])).toEqual([]);
  });

  it('Embedding → RNN → LSTM → Dense (sigmoid)', () => {
    const model = new Sequential([
      new Embedding({ numEmbeddings: 5, embeddingDim: 3, seed: 7 }),
      new RNN({ inputSize: 3, hiddenSize: 4, seed: 8 }),
      new LSTM({ inputSize: 4, hiddenSize: 3, seed: 9 }),
      new Dense({ inputSize: 3, outputSize: 2, activation: 'sigmoid', seed: 10 }),
    ]);
    const ids = { data: Int32Array.from([0, 1, 2, 3, 4, 0, 1, 2]), shape: [4, 2] };
    expect(checkModel(model, ids, {}, [4, 2, 2])).toEqual([]);
  });

  it('Embedding alone (every row of weight, repeated ids accumulate)', () => {
    const e = new Embedding({ numEmbeddings: 4, embeddingDim: 3, seed: 2 });
    const ids = [
      [0, 1],
      [1, 3],
      [1, 2],
    ];
    const r = randomTensor([3, 2, 3], 5);
    e.forward(ids, { train: true });
    expect(e.backward({ output: r }).x).toBeNull();
    const g = e.gradients().weight.data;
    const p = e.parameters();
    const bad = checkGradient({
      name: 'weight',
      values: p.weight.data,
      analytic: g,
      loss: () => dot(e.forward(ids).output.data, r.data),
      apply: () => e.setParameters(p),
      eps: 1e-2,
      atol: 1e-4, // the loss is linear in weight: only rounding remains
      rtol: 1e-4,
    });
    expect(bad).toEqual([]);
    // id 1 appears three times: its row's gradient is the sum of three output rows
    for (let d = 0; d < 3; ++d)
      expect(g[3 + d]).toBeCloseTo(r.data[3 + d] + r.data[6 + d] + r.data[12 + d], 5);
  });
});

describe('Dropout', () => {
  it('zeroes about `rate` of the values while training, scales the rest, and backpropagates through the same mask', () => {
    const d = new Dropout({ rate: 0.3, seed: 4 });
    const x = new Tensor(new Float32Array(10000).fill(2), [100, 100]);
    const y = d.forward(x, { train: true }).output;
    const zeros = y.data.filter((v) => v === 0).length;
    expect(zeros / 10000).toBeGreaterThan(0.27); // binomial(10000, 0.3): sd 0.0046, ±6 sd
    expect(zeros / 10000).toBeLessThan(0.33);
    for (const v of y.data) expect(v === 0 || Math.abs(v - 2 / 0.7) < 1e-6).toBe(true);
    const g = d.backward({ output: new Tensor(new Float32Array(10000).fill(1), [100, 100]) }).x;
    for (let i = 0; i < 10000; ++i) expect(g.data[i]).toBeCloseTo(y.data[i] / 2, 6);
    expect(d.forward(x).output.data).toEqual(x.data); // inference: identity
  });

  it('draws the same masks from the same seed', () => {
    const x = randomTensor([50], 1);
    const a = new Dropout({ rate: 0.5, seed: 9 });
    const b = new Dropout({ rate: 0.5, seed: 9 });
    for (let k = 0; k < 3; ++k)
      expect(a.forward(x, { train: true }).output.data).toEqual(
        b.forward(x, { train: true }).output.data,
      );
  });
});

describe('Sequential', () => {
  const build = () =>
    new Sequential([
      new LSTM({ inputSize: 3, hiddenSize: 6, numLayers: 2, seed: 1 }),
      new Dropout({ rate: 0.2, seed: 3 }),
      new GRU({ inputSize: 6, hiddenSize: 5, seed: 2 }),
      new Dense({ inputSize: 5, outputSize: 2, seed: 4 }),
    ]);

  it('names parameters by layer index, and gets and sets them', () => {
    const m = build();
    const names = Object.keys(m.parameters());
    expect(names).toContain('0.weight_ih_l0');
    expect(names).toContain('0.bias_hh_l1');
    expect(names).toContain('2.weight_hh_l0');
    expect(names).toContain('3.weight');
    expect(names).toContain('3.bias');
    expect(names.some((n) => n.startsWith('1.'))).toBe(false);
    const other = build();
    const p = m.parameters();
    p['3.bias'].data.fill(0.5);
    other.setParameters(p);
    expect(other.parameters()['3.bias'].data).toEqual(new Float32Array(2).fill(0.5));
    expect(Object.keys(m.gradients())).toEqual(names);
  });

  it('changes nothing when setParameters fails on a later layer', () => {
    const m = build();
    const before = m.parameters();
    const p = m.parameters();
    p['0.weight_ih_l0'].data.fill(9);
    p['3.weight'] = new Tensor(new Float32Array(3), [3]);
    expect(() => m.setParameters(p)).toThrow(/3\.weight|weight/);
    expect(m.parameters()['0.weight_ih_l0'].data).toEqual(before['0.weight_ih_l0'].data);
    const q = m.parameters();
    (q as Record<string, Tensor>)['7.weight'] = q['3.weight'];
    expect(() => m.setParameters(q)).toThrow(/unknown parameter '7.weight'/);
  });

  it('carries the state across chunks: two halves equal one forward', () => {
    const m = build();
    const x = randomTensor([8, 2, 3], 5);
    const whole = m.forward(x);
    const a = m.forward(new Tensor(x.data.slice(0, 4 * 2 * 3), [4, 2, 3]));
    const b = m.forward(new Tensor(x.data.slice(4 * 2 * 3), [4, 2, 3]), { state: a.state });
    const joined = new Float32Array([...a.output.data, ...b.output.data]);
    for (let i = 0; i < joined.length; ++i) expect(joined[i]).toBeCloseTo(whole.output.data[i], 5);
    expect(b.state[0]?.c?.shape).toEqual([2, 2, 6]);
    expect(b.state[1]).toBeNull();
    expect(b.state[2]?.h.shape).toEqual([1, 2, 5]);
  });

  it('forwardAsync and backwardAsync give the same bits as forward and backward', async () => {
    const m = build();
    const x = randomTensor([5, 3, 3], 6);
    const g = randomTensor([5, 3, 2], 7);
    const sync = m.forward(x);
    const async_ = await m.forwardAsync(x);
    expect(async_.output.data).toEqual(sync.output.data);
    const m1 = new Sequential([
      new LSTM({ inputSize: 3, hiddenSize: 4, seed: 1 }),
      new Dense({ inputSize: 4, outputSize: 2, seed: 2 }),
    ]);
    m1.forward(x, { train: true });
    const dx1 = m1.backward({ output: g }).x!;
    const gr1 = m1.gradients();
    m1.zeroGrad();
    await m1.forwardAsync(x, { train: true });
    const dx2 = (await m1.backwardAsync({ output: g })).x!;
    expect(dx2.data).toEqual(dx1.data);
    expect(m1.gradients()['0.weight_hh_l0'].data).toEqual(gr1['0.weight_hh_l0'].data);
  });

  it('rebuilds from its config', () => {
    const m = build();
    const c = m.config;
    expect(c.layers.map((l) => ('cell' in l ? l.cell : l.type))).toEqual([
      'lstm',
      'dropout',
      'gru',
      'dense',
    ]);
    const layers = c.layers.map((l) => {
      if ('cell' in l) return l.cell === 'lstm' ? new LSTM(l as never) : new GRU(l as never);
      return l.type === 'dropout' ? new Dropout(l) : new Dense(l as never);
    });
    const m2 = new Sequential(layers);
    const x = randomTensor([3, 1, 3], 1);
    expect(m2.forward(x).output.data).toEqual(m.forward(x).output.data);
  });

  it('refuses layers that do not fit together, and bad input', () => {
    expect(() => new Sequential([])).toThrow(TypeError);
    expect(
      () =>
        new Sequential([
          new LSTM({ inputSize: 3, hiddenSize: 4 }),
          new Dense({ inputSize: 5, outputSize: 1 }),
        ]),
    ).toThrow(/layers\[1\] has inputSize 5 but the layer before it outputs 4 features/);
    expect(
      () =>
        new Sequential([
          new LSTM({ inputSize: 3, hiddenSize: 4 }),
          new Embedding({ numEmbeddings: 3, embeddingDim: 4 }),
        ]),
    ).toThrow(/Embedding .* must come first/);
    expect(
      () => new Sequential([new LSTM({ inputSize: 3, hiddenSize: 4, batchFirst: true })]),
    ).toThrow(/batchFirst/);
    expect(
      () =>
        new Sequential([
          new Dense({ inputSize: 3, outputSize: 3, lastStep: true }),
          new RNN({ inputSize: 3, hiddenSize: 2 }),
        ]),
    ).toThrow(/after a lastStep Dense/);
    const d = new Dense({ inputSize: 2, outputSize: 2 });
    expect(() => new Sequential([d, d])).toThrow(/same layer/);
    expect(() => new Sequential([{} as never])).toThrow(TypeError);
    const m = build();
    expect(() => m.forward(randomTensor([3, 2, 4], 1))).toThrow(
      /forward: x must have shape \[T, B, I=3\]/,
    );
    expect(() => m.backward({ output: randomTensor([3, 2, 2], 1) })).toThrow(
      /no pending training forward/,
    );
    m.forward(randomTensor([3, 2, 3], 1), { train: true });
    expect(() => m.backward({ output: randomTensor([3, 1, 2], 1) })).toThrow(
      /backward: output must have shape \[3, 2, 2\], got \[3, 1, 2\]/,
    );
    const e = new Sequential([
      new Embedding({ numEmbeddings: 3, embeddingDim: 2 }),
      new RNN({ inputSize: 2, hiddenSize: 2 }),
    ]);
    expect(() => e.forward([[0, 3]])).toThrow(
      /token ids must be integers in \[0, numEmbeddings=3\), got 3 at step 0, sequence 1/,
    );
    expect(() => e.forward([[0.5, 1]])).toThrow(/integer token ids/);
  });
});
