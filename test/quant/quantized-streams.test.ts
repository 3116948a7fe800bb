// Quantized layers in streams off the main thread and in pools (issue 17): a StreamWorker built
// from a quantized layer or model runs it quantized (the same numbers as a quantized stream on
// this thread, bit for bit, and not those of the float model), and a stream pool of a quantized
// LSTM steps each session as the layer's own stream does.
import { describe, expect, it } from 'vitest';

import { Dense, Embedding, LSTM, Sequential, StreamWorker, quantize } from '../../lib/index';
import { Lcg, firstDifference } from '../stream/helpers';

describe('quantized streaming', () => {
  it('a StreamWorker runs a quantized LSTM quantized', async () => {
    const float = new LSTM({ inputSize: 6, hiddenSize: 20, numLayers: 2, seed: 1 });
    const layer = quantize(float, { dtype: 'int8' });
    const w = await StreamWorker.create(layer, { batch: 2 });
    try {
      const s = layer.stream({ batch: 2 });
      const f = float.stream({ batch: 2 });
      const rng = new Lcg(3);
      let differsFromFloat = false;
      for (let t = 0; t < 12; ++t) {
        const x = rng.floats(12, 2);
        const got = await w.step(x);
        // Tolerance: none (the same int8 kernel on the same int8 weights).
        expect(firstDifference(got, s.step(x))).toBe(-1);
        if (firstDifference(got, f.step(x)) !== -1) differsFromFloat = true;
      }
      expect(differsFromFloat).toBe(true);
    } finally {
      await w.close();
    }
  });

  it('a StreamWorker runs a quantized Sequential (Embedding, LSTM, Dense) quantized', async () => {
    const model = quantize(
      new Sequential(
        [
          new Embedding({ numEmbeddings: 30, embeddingDim: 8, seed: 1 }),
          new LSTM({ inputSize: 8, hiddenSize: 16, seed: 2 }),
          new Dense({ inputSize: 16, outputSize: 30, seed: 3 }),
        ],
        { batchFirst: false },
      ),
      { dtype: 'int8' },
    );
    const w = await StreamWorker.create(model, { batch: 3 });
    try {
      const s = model.stream({ batch: 3 });
      for (let t = 0; t < 10; ++t) {
        const ids = Float32Array.from([t % 30, (t * 7) % 30, (t * 11 + 2) % 30]);
        expect(firstDifference(await w.step(ids), s.step(ids))).toBe(-1);
      }
    } finally {
      await w.close();
    }
  });

  it('a stream pool of a quantized LSTM steps as its streams do', () => {
    const layer = new LSTM({ inputSize: 5, hiddenSize: 12, seed: 4 }).quantize();
    const pool = layer.streamPool({ capacity: 3 });
    const sessions = [pool.open(), pool.open(), pool.open()];
    const solos = sessions.map(() => layer.stream());
    const rng = new Lcg(5);
    for (let t = 0; t < 6; ++t)
      sessions.forEach((session, i) => {
        const x = rng.floats(5, 1);
        expect(firstDifference(session.step(x), solos[i].step(x))).toBe(-1);
      });
    for (const s of sessions) s.close();
  });
});
