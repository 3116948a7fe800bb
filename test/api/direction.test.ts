// direction: 'forward' | 'reverse' | 'bidirectional' (ONNX's attribute). A reverse layer is one
// direction that runs t = len_b − 1 … 0; its parameters have no _reverse suffix.
import { describe, expect, it } from 'vitest';

import { GRU, LSTM, RNN, Tensor, fromBuffer, toBuffer, toOnnx } from '../../lib/index';

type Coded = Error & { code?: string };

function thrown(fn: () => unknown): Coded {
  try {
    fn();
  } catch (e) {
    return e as Coded;
  }
  throw new Error('expected a throw');
}

describe('direction', () => {
  it('resolves with bidirectional, and refuses a contradiction', () => {
    expect(new GRU({ inputSize: 2, hiddenSize: 3 }).config.direction).toBe('forward');
    const bi = new GRU({ inputSize: 2, hiddenSize: 3, bidirectional: true });
    expect(bi.config.direction).toBe('bidirectional');
    const bi2 = new GRU({ inputSize: 2, hiddenSize: 3, direction: 'bidirectional' });
    expect(bi2.config.bidirectional).toBe(true);
    const rev = new LSTM({ inputSize: 2, hiddenSize: 3, direction: 'reverse' });
    expect(rev.config).toMatchObject({ direction: 'reverse', bidirectional: false });
    const e = thrown(
      () => new RNN({ inputSize: 2, hiddenSize: 3, direction: 'reverse', bidirectional: true }),
    );
    expect(e).toBeInstanceOf(TypeError);
    expect(e.message).toMatch(/direction 'reverse' contradicts bidirectional: true/);
    const bad = thrown(
      () => new RNN({ inputSize: 2, hiddenSize: 3, direction: 'backward' as unknown as 'reverse' }),
    );
    expect(bad).toBeInstanceOf(TypeError);
    expect(bad.message).toContain('direction');
  });

  it('a reverse layer: parameters without _reverse, one direction of output', () => {
    const rev = new LSTM({
      inputSize: 2,
      hiddenSize: 3,
      numLayers: 2,
      direction: 'reverse',
      seed: 1,
    });
    expect(Object.keys(rev.parameters())).toEqual([
      'weight_ih_l0',
      'weight_hh_l0',
      'bias_ih_l0',
      'bias_hh_l0',
      'weight_ih_l1',
      'weight_hh_l1',
      'bias_ih_l1',
      'bias_hh_l1',
    ]);
    const x = new Tensor(
      Float32Array.from({ length: 4 * 2 * 2 }, (_, i) => Math.sin(i)),
      [4, 2, 2],
    );
    expect(rev.forward(x).output.shape).toEqual([4, 2, 3]);
  });

  it('runs each sequence from its last step: equal to a forward layer on the reversed sequence', () => {
    const T = 5;
    const lengths = [5, 3];
    const fwd = new GRU({ inputSize: 2, hiddenSize: 3, seed: 4 });
    const rev = new GRU({ inputSize: 2, hiddenSize: 3, seed: 5, direction: 'reverse' });
    rev.setParameters(fwd.parameters());
    const x = Float32Array.from({ length: T * 2 * 2 }, (_, i) => Math.cos(i * 0.7));
    const at = (t: number, b: number) => (t * 2 + b) * 2;
    // each sequence reversed within its length (padding stays in place)
    const xr = new Float32Array(x.length);
    for (let b = 0; b < 2; b++)
      for (let t = 0; t < T; t++) {
        const src = t < lengths[b] ? lengths[b] - 1 - t : t;
        xr.set(x.subarray(at(src, b), at(src, b) + 2), at(t, b));
      }
    const a = rev.forward(new Tensor(x, [T, 2, 2]), { lengths }).output.data;
    const f = fwd.forward(new Tensor(xr, [T, 2, 2]), { lengths }).output.data;
    for (let b = 0; b < 2; b++)
      for (let t = 0; t < lengths[b]; t++) {
        const o = (t * 2 + b) * 3;
        const p = ((lengths[b] - 1 - t) * 2 + b) * 3;
        expect(Array.from(a.subarray(o, o + 3))).toEqual(Array.from(f.subarray(p, p + 3)));
      }
  });

  it('round-trips through config and a saved file', () => {
    const rev = new LSTM({ inputSize: 2, hiddenSize: 3, direction: 'reverse', seed: 2 });
    const again = new LSTM(rev.config);
    expect(again.config).toEqual(rev.config);
    const loaded = fromBuffer(toBuffer(rev)) as LSTM;
    expect(loaded.config.direction).toBe('reverse');
    const x = new Tensor(
      Float32Array.from({ length: 3 * 1 * 2 }, (_, i) => i / 7),
      [3, 1, 2],
    );
    expect(Array.from(loaded.forward(x).output.data)).toEqual(
      Array.from(rev.forward(x).output.data),
    );
  });

  it('a reverse layer cannot stream; it exports to ONNX as direction "reverse" (test/io/onnx.test.ts)', () => {
    const rev = new RNN({ inputSize: 2, hiddenSize: 3, direction: 'reverse' });
    const s = thrown(() => rev.stream());
    expect(s.code).toBe('ERR_CELLSTATE_UNSUPPORTED');
    expect(s.message).toContain('reverse');
    expect(toOnnx(rev)).toBeInstanceOf(Uint8Array);
  });
});
