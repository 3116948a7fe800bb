// Token ids as an Int32Array in every stream path of a model that starts with an Embedding:
// Sequential.stream(), streamPool() (write, step, stepAll) and StreamWorker; the same numbers as
// the ids given as floats. Models without an Embedding refuse an Int32Array.
import { describe, expect, it } from 'vitest';

import { Dense, Embedding, LSTM, Sequential, StreamWorker, toBuffer } from '../../lib/index';

const ids = [3, 0, 6, 2, 5, 1];

function model(): Sequential {
  return new Sequential(
    [
      new Embedding({ numEmbeddings: 7, embeddingDim: 4, seed: 1 }),
      new LSTM({ inputSize: 4, hiddenSize: 5, seed: 2 }),
      new Dense({ inputSize: 5, outputSize: 3, seed: 3 }),
    ],
    { batchFirst: true },
  );
}

/** The outputs of stepping the ids as Float32Array frames (the reference). */
function reference(m: Sequential, batch: number): Float32Array[] {
  const s = m.stream({ batch });
  const out: Float32Array[] = [];
  for (let t = 0; t < ids.length; t += batch)
    out.push(s.step(Float32Array.from(ids.slice(t, t + batch))).slice());
  return out;
}

describe('Int32Array token ids in stream paths', () => {
  it('Sequential.stream()', () => {
    const m = model();
    const want = reference(m, 2);
    const s = m.stream({ batch: 2 });
    for (let t = 0, k = 0; t < ids.length; t += 2, ++k)
      expect(s.step(Int32Array.from(ids.slice(t, t + 2)))).toEqual(want[k]);
    expect(() => s.step(new Int32Array(3))).toThrow(RangeError);
    expect(() => s.step(Int32Array.from([0, 7]))).toThrow(/token ids must be integers/);
  });

  it('streamPool(): write, session step and stepAll', () => {
    const m = model();
    const want = reference(m, 1);
    const pool = m.streamPool();
    const a = pool.open();
    const b = pool.open();
    for (let t = 0; t < ids.length; ++t) {
      a.write(Int32Array.of(ids[t]));
      b.write(Float32Array.of(ids[t]));
      pool.step();
      expect(a.output).toEqual(want[t]);
      expect(b.output).toEqual(want[t]);
    }
    const c = m.streamPool();
    const s = c.open();
    for (let t = 0; t < ids.length; ++t) expect(s.step(Int32Array.of(ids[t]))).toEqual(want[t]);
    const all = m.streamPool();
    all.open();
    all.open();
    for (let t = 0; t < ids.length; ++t) {
      const y = all.stepAll(Int32Array.of(ids[t], ids[t]));
      expect(y.subarray(0, 3)).toEqual(want[t]);
      expect(y.subarray(3)).toEqual(want[t]);
    }
    expect(() => all.stepAll(Int32Array.of(1))).toThrow(RangeError);
    expect(() => all.stepAll(Int32Array.of(1, 9))).toThrow(/token ids must be integers/);
  });

  it('StreamWorker (a model, and a model given as file bytes)', async () => {
    const m = model();
    const want = reference(m, 1);
    for (const source of [m, { kind: 'buffer' as const, bytes: toBuffer(m) }]) {
      const w = await StreamWorker.create(source);
      try {
        for (let t = 0; t < ids.length; ++t)
          expect(await w.step(Int32Array.of(ids[t]))).toEqual(want[t]);
        await expect(w.step(Int32Array.of(1, 2))).rejects.toThrow(RangeError);
      } finally {
        await w.close();
      }
    }
  });

  it('a model without an Embedding refuses an Int32Array', async () => {
    const m = new Sequential([new LSTM({ inputSize: 1, hiddenSize: 2, seed: 1 })], {
      batchFirst: true,
    });
    expect(() => m.stream().step(Int32Array.of(1) as never)).toThrow(TypeError);
    expect(() => m.streamPool().open().step(Int32Array.of(1))).toThrow(TypeError);
    const w = await StreamWorker.create(m);
    try {
      await expect(w.step(Int32Array.of(1))).rejects.toThrow(TypeError);
    } finally {
      await w.close();
    }
  });
});
