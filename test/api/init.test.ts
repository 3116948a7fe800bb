// Initialisation: PyTorch's U(−1/√H, 1/√H) from a seeded xoshiro128** (splitmix32 seeding),
// the same float32 values on every machine; LSTM forgetBias.
import { describe, expect, it } from 'vitest';

import { GRU, LSTM, RNN } from '../../lib/index';

// An independent implementation of the generator, in BigInt arithmetic.
function referenceUniform(seed: number, count: number, bound: number): number[] {
  const M = (1n << 32n) - 1n;
  const mul = (a: bigint, b: bigint) => (a * b) & M;
  const rotl = (x: bigint, k: bigint) => ((x << k) | (x >> (32n - k))) & M;
  let st = BigInt(seed >>> 0);
  const s: bigint[] = [];
  for (let i = 0; i < 4; ++i) {
    st = (st + 0x9e3779b9n) & M;
    let z = st;
    z = mul(z ^ (z >> 16n), 0x85ebca6bn);
    z = mul(z ^ (z >> 13n), 0xc2b2ae35n);
    s.push(z ^ (z >> 16n));
  }
  const out: number[] = [];
  for (let i = 0; i < count; ++i) {
    const r = mul(rotl(mul(s[1], 5n), 7n), 9n);
    const t = (s[1] << 9n) & M;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11n);
    const unit = Number(r >> 8n) / 2 ** 24;
    out.push(Math.fround((2 * unit - 1) * bound));
  }
  return out;
}

describe('initialisation', () => {
  it('is a function of the seed', () => {
    const a = new GRU({ inputSize: 3, hiddenSize: 4, numLayers: 2, bidirectional: true, seed: 42 });
    const b = new GRU({ inputSize: 3, hiddenSize: 4, numLayers: 2, bidirectional: true, seed: 42 });
    const c = new GRU({ inputSize: 3, hiddenSize: 4, numLayers: 2, bidirectional: true, seed: 43 });
    const pa = a.parameters();
    const pb = b.parameters();
    const pc = c.parameters();
    for (const name of Object.keys(pa)) {
      expect(pb[name].data, name).toEqual(pa[name].data);
      expect(pc[name].data, name).not.toEqual(pa[name].data);
    }
  });

  it('matches an independent implementation of the generator, in ParamTable order', () => {
    const H = 5;
    const layer = new RNN({ inputSize: 4, hiddenSize: H, seed: 7 });
    const p = layer.parameters();
    const flat = [
      ...p.weight_ih_l0.data,
      ...p.weight_hh_l0.data,
      ...p.bias_ih_l0.data,
      ...p.bias_hh_l0.data,
    ];
    expect(flat).toEqual(referenceUniform(7, flat.length, 1 / Math.sqrt(H)));
  });

  it('gives the committed golden values', () => {
    // The first 8 values of weight_ih_l0 for seed 1234 and H = 5, computed once.
    const golden = [
      -0.04578521102666855, 0.13127534091472626, -0.16353502869606018, -0.2108863890171051,
      -0.20419344305992126, -0.1634790599346161, 0.20974892377853394, 0.2778794467449188,
    ];
    const layer = new RNN({ inputSize: 4, hiddenSize: 5, seed: 1234 });
    expect(Array.from(layer.parameters().weight_ih_l0.data.subarray(0, 8))).toEqual(golden);
  });

  it('draws every parameter within ±1/√H, filling the range', () => {
    const H = 64;
    const bound = Math.fround(1 / Math.sqrt(H));
    const layer = new LSTM({
      inputSize: 16,
      hiddenSize: H,
      projSize: 8,
      peephole: true,
      numLayers: 2,
      bidirectional: true,
      forgetBias: 0,
      seed: 5,
    });
    for (const [name, t] of Object.entries(layer.parameters())) {
      let min = Infinity;
      let max = -Infinity;
      let sum = 0;
      for (const v of t.data) {
        min = Math.min(min, v);
        max = Math.max(max, v);
        sum += v;
      }
      expect(min, name).toBeGreaterThanOrEqual(-bound);
      expect(max, name).toBeLessThanOrEqual(bound);
      if (t.size >= 256) {
        expect(min, name).toBeLessThan(-0.9 * bound);
        expect(max, name).toBeGreaterThan(0.9 * bound);
        expect(Math.abs(sum / t.size), name).toBeLessThan(0.1 * bound);
      }
    }
  });

  it('records a random seed in config, and the config rebuilds the same layer', () => {
    const a = new LSTM({ inputSize: 3, hiddenSize: 4 });
    expect(Number.isInteger(a.config.seed)).toBe(true);
    expect(a.config.seed).toBeGreaterThanOrEqual(0);
    expect(a.config.seed).toBeLessThan(2 ** 32);
    const b = new LSTM(a.config);
    expect(b.config).toEqual(a.config);
    const pa = a.parameters();
    const pb = b.parameters();
    for (const name of Object.keys(pa)) expect(pb[name].data, name).toEqual(pa[name].data);
    expect(JSON.parse(JSON.stringify(a.config))).toEqual(a.config);
  });
});

describe('forgetBias', () => {
  const H = 5;
  const block = (t: { data: Float32Array }, index: number) =>
    Array.from(t.data.subarray(index * H, (index + 1) * H));

  it('defaults to 1 in bias_ih and 0 in bias_hh, in every layer and direction', () => {
    const layer = new LSTM({ inputSize: 4, hiddenSize: H, numLayers: 2, bidirectional: true });
    expect(layer.config.forgetBias).toBe(1);
    const p = layer.parameters();
    for (const sfx of ['_l0', '_l0_reverse', '_l1', '_l1_reverse']) {
      expect(block(p[`bias_ih${sfx}`], 1)).toEqual(new Array(H).fill(1));
      expect(block(p[`bias_hh${sfx}`], 1)).toEqual(new Array(H).fill(0));
      // The other blocks are drawn.
      expect(block(p[`bias_ih${sfx}`], 0).some((v) => v !== 0)).toBe(true);
    }
  });

  it('finds the f block without an input-gate block (CIFG, NIG)', () => {
    for (const extra of [{ coupled: true }, { inputGate: false }]) {
      const layer = new LSTM({ inputSize: 4, hiddenSize: H, forgetBias: 2.5, ...extra });
      const p = layer.parameters();
      expect(p.bias_ih_l0.shape).toEqual([3 * H]);
      expect(block(p.bias_ih_l0, 0)).toEqual(new Array(H).fill(2.5));
      expect(block(p.bias_hh_l0, 0)).toEqual(new Array(H).fill(0));
    }
  });

  it('leaves a layer without a forget gate as drawn', () => {
    const bound = Math.fround(1 / Math.sqrt(H));
    const layer = new LSTM({ inputSize: 4, hiddenSize: H, forgetGate: false, forgetBias: 3 });
    for (const v of layer.parameters().bias_ih_l0.data)
      expect(Math.abs(v)).toBeLessThanOrEqual(bound);
  });
});
