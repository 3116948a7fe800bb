// lrFinder: an exponential sweep of the learning rate on the adding problem, stopped on
// divergence, the model put back as it was; its SVG in the demo's style; plotSvg itself.
import { describe, expect, it } from 'vitest';

import {
  Adam,
  Dense,
  LSTM,
  SGD,
  Sequential,
  Tensor,
  addingProblem,
  lrFinder,
  lrFinderSvg,
  plotSvg,
} from '../../lib/index';

const T = 20;
const makeModel = () =>
  new Sequential(
    [
      new LSTM({ inputSize: 2, hiddenSize: 16, seed: 1 }),
      new Dense({ inputSize: 16, outputSize: 1, lastStep: true, seed: 2 }),
    ],
    { batchFirst: true },
  );
const data = addingProblem({ n: 2000, T, seed: 1 });

describe('lrFinder', () => {
  it('sweeps exponentially, suggests a rate where the loss falls, and puts the model back', async () => {
    const model = makeModel();
    const before = model.parameters();
    const adam = new Adam({ lr: 0.5, beta2: 0.99 });
    const r = await lrFinder(model, data, {
      loss: 'mse',
      optimizer: adam,
      minLr: 1e-5,
      maxLr: 10,
      steps: 80,
      seed: 1,
    });
    expect(r.lr).toHaveLength(r.loss.length);
    expect(r.smoothed).toHaveLength(r.loss.length);
    expect(r.lr[0]).toBeCloseTo(1e-5, 12);
    const growth = (10 / 1e-5) ** (1 / 79);
    for (let i = 1; i < r.lr.length; ++i) expect(r.lr[i] / r.lr[i - 1]).toBeCloseTo(growth, 9);
    if (r.stopReason === 'completed') expect(r.lr[79]).toBeCloseTo(10, 9);
    // Adam's useful range for this task: the docs train it at 0.01 (measured suggestion 0.0092)
    expect(r.suggested).toBeGreaterThan(1e-3);
    expect(r.suggested).toBeLessThan(0.1);
    const after = model.parameters();
    for (const k of Object.keys(before)) expect(after[k].data).toEqual(before[k].data);
    expect(adam.steps).toBe(0); // the given optimizer is copied, not stepped
    expect(adam.lr).toBe(0.5);
  });

  it('stops when the loss diverges (SGD)', async () => {
    const r = await lrFinder(makeModel(), data, {
      loss: 'mse',
      optimizer: new SGD({ lr: 1 }),
      minLr: 1e-5,
      maxLr: 100,
      steps: 80,
      seed: 1,
    });
    expect(r.stopReason).toBe('diverged');
    expect(r.lr.length).toBeLessThan(80);
    const min = Math.min(...r.smoothed);
    const last = r.smoothed[r.smoothed.length - 1];
    expect(last).toBeGreaterThan(4 * min);
    expect(r.suggested).toBeLessThan(r.lr[r.lr.length - 1]);
  });

  it('takes data batch by batch (a generator), and restores the model when fit fails', async () => {
    async function* gen() {
      for (let i = 0; ; ++i) yield addingProblem({ n: 16, T, seed: i });
    }
    const model = makeModel();
    const r = await lrFinder(model, gen(), { loss: 'mse', steps: 12, smoothing: 0.5 });
    // the generator is read for up to 12 updates (Adam diverges at the last rates, 10: measured 11)
    expect(r.lr.length).toBeGreaterThanOrEqual(8);
    expect(r.lr.length).toBeLessThanOrEqual(12);
    expect(r.stopReason === 'completed' ? r.lr.length : 12).toBe(12);
    const before = model.parameters();
    async function* bad() {
      for (let i = 0; i < 5; ++i) yield addingProblem({ n: 16, T, seed: i });
      yield { x: new Tensor(new Float32Array(16 * T * 3), [16, T, 3]), y: data.y };
    }
    await expect(lrFinder(model, bad(), { loss: 'mse', steps: 20 })).rejects.toMatchObject({
      code: 'ERR_CELLSTATE_SHAPE',
      message: expect.stringMatching(/data batch 5/),
    });
    const after = model.parameters();
    for (const k of Object.keys(before)) expect(after[k].data).toEqual(before[k].data);
  });

  it('refuses bad options', async () => {
    const model = makeModel();
    for (const [opts, code] of [
      [{}, 'ERR_CELLSTATE_INVALID_ARG'],
      [{ loss: 'mse', minLr: 1, maxLr: 0.5 }, 'ERR_CELLSTATE_INVALID_ARG'],
      [{ loss: 'mse', steps: 1 }, 'ERR_CELLSTATE_INVALID_ARG'],
      [{ loss: 'mse', smoothing: 1 }, 'ERR_CELLSTATE_INVALID_ARG'],
      [{ loss: 'mse', divergeFactor: 1 }, 'ERR_CELLSTATE_INVALID_ARG'],
      [{ loss: 'mse', optimizer: 'adagrad' }, 'ERR_CELLSTATE_INVALID_ARG'],
      [{ loss: 'mse', stepz: 3 }, 'ERR_CELLSTATE_INVALID_ARG'],
    ] as const)
      await expect(lrFinder(model, data, opts as never)).rejects.toMatchObject({ code });
  });
});

describe('lrFinderSvg and plotSvg', () => {
  it('draws the sweep on a log axis with the suggestion marked', () => {
    const lr = Array.from({ length: 30 }, (_, i) => 1e-4 * 1.3 ** i);
    const loss = lr.map((x) => 1 / (1 + 50 * x) + (x > 0.05 ? 20 * x : 0));
    const svg = lrFinderSvg({ lr, loss, smoothed: loss, suggested: 0.01, stopReason: 'completed' });
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg" width="480" height="420"')).toBe(
      true,
    );
    expect(svg.match(/<path /g)).toHaveLength(2);
    expect(svg).toContain('suggested 0.01000');
    for (const tick of ['0.0001', '0.001', '0.01', '0.1', '1']) expect(svg).toContain(`>${tick}<`);
    expect(() => lrFinderSvg({} as never)).toThrow(
      expect.objectContaining({ code: 'ERR_CELLSTATE_INVALID_ARG' }),
    );
  });

  it('clamps to the axes, leaves out non-finite points, draws vertical references', () => {
    const svg = plotSvg([
      {
        title: 'a & <b>',
        x: { label: 'x', min: 0, max: 10 },
        y: { label: 'y', min: 0, max: 1 },
        series: [
          {
            label: 's',
            color: 'red',
            points: [
              [0, 0],
              [5, Number.NaN],
              [20, 2],
            ],
          },
        ],
        refs: [{ x: 5, label: 'mid' }],
      },
      {
        title: 'b',
        x: { label: 'x', min: 0, max: 1 },
        y: { label: 'y', min: 0, max: 1 },
        series: [],
      },
    ]);
    expect(svg).toContain('width="960"');
    expect(svg).toContain('a &amp; &lt;b>');
    // plot area x 60..440, y 50..350: (0, 0) and (20, 2) clamped to (10, 1)
    expect(svg).toContain('<path d="M60.0,350.0 L440.0,50.0"');
    expect(svg).toContain('<line x1="250" x2="250" y1="50" y2="350"');
  });
});
