// forwardAsync / backwardAsync run off the event loop: while a large call is in flight the main
// thread keeps turning. No timing limits: only that the loop turned at all before the result.
import { describe, expect, it } from 'vitest';

import { LSTM, Tensor } from '../../lib/index';

function filled(shape: number[]): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; ++i) data[i] = Math.sin(i * 0.37);
  return new Tensor(data, shape);
}

/** Counts event-loop turns (setImmediate) until `work` settles. */
async function turnsDuring<T>(work: Promise<T>): Promise<{ turns: number; value: T }> {
  let turns = 0;
  let done = false;
  const tick = () => {
    if (done) return;
    turns++;
    setImmediate(tick);
  };
  setImmediate(tick);
  const value = await work;
  done = true;
  return { turns, value };
}

describe('async work leaves the event loop free', () => {
  const layer = new LSTM({ inputSize: 64, hiddenSize: 256, seed: 11 });
  const x = filled([200, 32, 64]);

  it('forwardAsync', async () => {
    const { turns, value } = await turnsDuring(layer.forwardAsync(x, { train: true }));
    expect(turns).toBeGreaterThan(0);
    expect(value.output.shape).toEqual([200, 32, 256]);
  });

  it('backwardAsync', async () => {
    const grad = filled([200, 32, 256]);
    const { turns, value } = await turnsDuring(layer.backwardAsync({ output: grad }));
    expect(turns).toBeGreaterThan(0);
    expect(value.x.shape).toEqual([200, 32, 64]);
  });

  it('gives the same bits as forward', async () => {
    const sync = layer.forward(x);
    const { value } = await turnsDuring(layer.forwardAsync(x));
    expect(Buffer.from(value.output.data.buffer).equals(Buffer.from(sync.output.data.buffer))).toBe(
      true,
    );
    expect(Buffer.from(value.h.data.buffer).equals(Buffer.from(sync.h.data.buffer))).toBe(true);
  });
});

describe('async staging', () => {
  // The async calls stage their outputs in uninitialized memory (zeroed on the worker thread):
  // results, padded steps and untouched gradients included, equal the synchronous calls' bit
  // for bit, over calls that reuse memory freed by earlier ones (dirty, were it not zeroed).
  it('gives the same bits as forward / backward with padded sequences, call after call', async () => {
    const lengths = [7, 1, 4, 7, 2];
    for (const bidirectional of [false, true]) {
      const layer = new LSTM({ inputSize: 3, hiddenSize: 5, numLayers: 2, bidirectional, seed: 3 });
      for (let k = 0; k < 6; ++k) {
        const x = filled([7, 5, 3]);
        for (let i = 0; i < x.data.length; ++i) x.data[i] += k;
        const dy = filled([7, 5, bidirectional ? 10 : 5]);
        const sync = layer.forward(x, { lengths, train: true });
        const sb = layer.backward({ output: dy });
        const a = await layer.forwardAsync(x, { lengths, train: true });
        const ab = await layer.backwardAsync({ output: dy });
        expect(a.output.data).toEqual(sync.output.data);
        expect(a.h.data).toEqual(sync.h.data);
        expect(a.c!.data).toEqual(sync.c!.data);
        expect(ab.x.data).toEqual(sb.x.data);
        expect(ab.h0.data).toEqual(sb.h0.data);
        // padded steps of the output are zeros
        for (let t = 0; t < 7; ++t)
          for (let b = 0; b < 5; ++b)
            if (t >= lengths[b])
              for (let j = 0; j < a.output.shape[2]; ++j)
                expect(a.output.data[(t * 5 + b) * a.output.shape[2] + j]).toBe(0);
        // garbage in freed memory, for the next round's allocations to find
        new Float32Array(7 * 5 * 10).fill(Number.NaN);
      }
    }
  });
});
