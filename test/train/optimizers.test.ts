// Optimizers against PyTorch's update rules, state export/import, clipping, schedules.
import { describe, expect, it } from 'vitest';

import {
  Adam,
  AdamW,
  CosineDecay,
  ExponentialDecay,
  type Optimizer,
  type ParameterGroup,
  RMSprop,
  SGD,
  StepDecay,
  clipGradNorm,
  clipGradValue,
} from '../../lib/index';

const p0 = [0.5, -1.25, 2.0, 0.0, -0.75];
const grads = [
  [0.1, -0.2, 0.3, -0.4, 0.5],
  [-0.3, 0.1, 0.0, 0.2, -0.6],
  [0.25, 0.25, -0.5, 0.125, 0.0625],
  [1.0, -1.0, 0.5, -0.5, 0.01],
];

// Parameters after the four steps above, from torch.optim (torch 1.13, float64):
//   p = nn.Parameter(tensor(p0)); opt = cls([p], **kw); for g in grads: p.grad = g; opt.step()
const TORCH: Record<string, number[]> = {
  sgd: [0.395, -1.1649999999999998, 1.97, 0.05750000000000001, -0.74725],
  sgd_momentum: [
    0.39489368466049996, -1.14464352514625, 1.9239803756320002, 0.10933750796000002,
    -0.76521909242575,
  ],
  sgd_nesterov: [
    0.3044689999999999, -1.080238, 1.9176469999999999, 0.15614900000000004, -0.7672524999999999,
  ],
  sgd_dampening: [0.42175, -1.181, 1.9612500000000002, 0.07237500000000001, -0.7775124999999999],
  adam: [
    0.48828849928449913, -1.236100724290109, 1.9840819576642428, 0.01733150286276025,
    -0.7575687966024197,
  ],
  adam_l2: [
    0.4830414481784437, -1.2241994719429838, 1.9731006433149547, 0.016319381690098077,
    -0.7517176070228243,
  ],
  adamw: [
    0.48809063735152514, -1.2356039924825684, 1.9832861357731133, 0.017327944355208236,
    -0.7572661869260876,
  ],
  adamw_decay: [
    0.395844315922002, -1.064004098057939, 1.7327447663372664, 0.08231026337406466,
    -0.712379703921778,
  ],
  rmsprop: [
    0.3398315474445984, -1.1748405995708238, 1.920594346033115, 0.10168035637389596,
    -0.7823447224745143,
  ],
  rmsprop_momentum: [
    0.4244412040268867, -1.1755006574793583, 1.9198612874053265, 0.04346115930813241,
    -0.7578609737739614,
  ],
};

const OPTIMIZERS: Record<string, () => Optimizer> = {
  sgd: () => new SGD({ lr: 0.1 }),
  sgd_momentum: () => new SGD({ lr: 0.1, momentum: 0.9, weightDecay: 0.01 }),
  sgd_nesterov: () => new SGD({ lr: 0.1, momentum: 0.9, nesterov: true }),
  sgd_dampening: () => new SGD({ lr: 0.1, momentum: 0.5, dampening: 0.3 }),
  adam: () => new Adam({ lr: 0.01 }),
  adam_l2: () => new Adam({ lr: 0.01, beta1: 0.8, beta2: 0.99, eps: 1e-6, weightDecay: 0.1 }),
  adamw: () => new AdamW({ lr: 0.01 }),
  adamw_decay: () => new AdamW({ lr: 0.05, weightDecay: 0.5 }),
  rmsprop: () => new RMSprop({ lr: 0.01 }),
  rmsprop_momentum: () => new RMSprop({ lr: 0.01, alpha: 0.9, momentum: 0.5, weightDecay: 0.1 }),
};

function group(values: number[], name = '0.w'): ParameterGroup {
  return {
    values: Float32Array.from(values),
    grads: new Float32Array(values.length),
    entries: [{ name, shape: [values.length], offset: 0, size: values.length }],
  };
}

describe('optimizers follow torch.optim', () => {
  for (const [name, make] of Object.entries(OPTIMIZERS)) {
    it(name, () => {
      const opt = make();
      const g = group(p0);
      for (const d of grads) {
        g.grads.set(d);
        opt.step([g]);
      }
      // float32 parameters and state against a float64 reference: 2e-6 absolute
      for (let i = 0; i < 5; ++i) expect(Math.abs(g.values[i] - TORCH[name][i])).toBeLessThan(2e-6);
      expect(opt.steps).toBe(4);
    });
  }

  it('update several groups in one step, each with its own state', () => {
    const a = group(p0, '0.a');
    const b = group([1, 2], '1.b');
    const opt = new Adam({ lr: 0.01 });
    for (const d of grads) {
      a.grads.set(d);
      b.grads.set([d[0], d[1]]);
      opt.step([a, b]);
    }
    for (let i = 0; i < 5; ++i) expect(Math.abs(a.values[i] - TORCH.adam[i])).toBeLessThan(2e-6);
    expect(Object.keys(opt.state().buffers)).toEqual(['0.a', '1.b']);
  });
});

describe('optimizer state', () => {
  for (const [name, make] of Object.entries(OPTIMIZERS)) {
    it(`${name}: state() and loadState() resume training exactly`, () => {
      const a = group(p0);
      const optA = make();
      for (const d of grads.slice(0, 2)) {
        a.grads.set(d);
        optA.step([a]);
      }
      const saved = optA.state();
      const b = group(Array.from(a.values));
      const optB = make();
      optB.loadState(saved);
      for (const d of grads.slice(2)) {
        a.grads.set(d);
        optA.step([a]);
        b.grads.set(d);
        optB.step([b]);
      }
      expect(b.values).toEqual(a.values);
      expect(optB.steps).toBe(4);
    });
  }

  it('exports PyTorch buffer names by parameter name, and refuses another optimizer type', () => {
    const opt = new Adam();
    const g = group(p0, '3.weight');
    g.grads.set(grads[0]);
    opt.step([g]);
    const s = opt.state();
    expect(s.type).toBe('adam');
    expect(s.step).toBe(1);
    expect(Object.keys(s.buffers['3.weight'])).toEqual(['exp_avg', 'exp_avg_sq']);
    expect(s.buffers['3.weight'].exp_avg[0]).toBeCloseTo(0.1 * 0.1, 7);
    expect(Object.keys(new SGD({ momentum: 0.9 }).state().buffers)).toEqual([]);
    expect(() => new SGD().loadState(s)).toThrow(/'adam' optimizer, this one is 'sgd'/);
  });
});

describe('clipping', () => {
  it('by global norm scales every gradient by maxNorm / norm', () => {
    const a = group([0, 0]);
    const b = group([0]);
    a.grads.set([3, 0]);
    b.grads.set([4]);
    expect(clipGradNorm([a, b], 1)).toBeCloseTo(5, 12);
    expect(a.grads[0]).toBeCloseTo(0.6, 5);
    expect(b.grads[0]).toBeCloseTo(0.8, 5);
    expect(clipGradNorm([a, b], 10)).toBeCloseTo(1, 5); // below the limit: unchanged
    expect(a.grads[0]).toBeCloseTo(0.6, 5);
  });

  it('by value clamps each gradient', () => {
    const a = group([0, 0, 0]);
    a.grads.set([-3, 0.5, 7]);
    clipGradValue([a], 1);
    expect(Array.from(a.grads)).toEqual([-1, 0.5, 1]);
  });
});

describe('schedules', () => {
  it('step, exponential and cosine factors', () => {
    const s = new StepDecay({ stepSize: 2, gamma: 0.5 });
    expect([0, 1, 2, 3, 4].map((i) => s.factor(i))).toEqual([1, 1, 0.5, 0.5, 0.25]);
    const e = new ExponentialDecay({ gamma: 0.9, every: 'step' });
    expect(e.every).toBe('step');
    expect(e.factor(2)).toBeCloseTo(0.81, 12);
    const c = new CosineDecay({ period: 4, minFactor: 0.1 });
    expect(c.factor(0)).toBeCloseTo(1, 12);
    expect(c.factor(2)).toBeCloseTo(0.55, 12);
    expect(c.factor(4)).toBeCloseTo(0.1, 12);
    expect(c.factor(9)).toBeCloseTo(0.1, 12);
    const w = new CosineDecay({ period: 2, warmup: 3 });
    expect([0, 1, 2, 3].map((i) => w.factor(i))).toEqual([0.25, 0.5, 0.75, 1]);
  });

  it('refuse bad options', () => {
    expect(() => new StepDecay({} as never)).toThrow(/stepSize is required/);
    expect(() => new ExponentialDecay({} as never)).toThrow(/gamma is required/);
    expect(() => new CosineDecay({ period: 0 })).toThrow(RangeError);
    expect(() => new SGD({ nesterov: true })).toThrow(/nesterov: true needs momentum > 0/);
    expect(() => new Adam({ lr: -1 })).toThrow(RangeError);
    expect(() => new Adam({ beta1: 1 })).toThrow(RangeError);
  });
});
