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
