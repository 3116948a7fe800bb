// Zero garbage per step: 100 000 steps grow neither process.memoryUsage().arrayBuffers nor the
// native heap (RSS) beyond a small bound, and a step allocates nothing on the JavaScript heap
// (V8's young generation does not grow while stepping; a control loop that allocates one small
// array per step shows that the measurement sees allocations).
import { PerformanceObserver, performance } from 'node:perf_hooks';
import v8 from 'node:v8';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';

import { Dense, Embedding, GRU, LSTM, RNN, Sequential } from '../../lib/index';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

function youngBytes(): number {
  const space = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
  if (!space) throw new Error('no new_space in v8.getHeapSpaceStatistics()');
  return space.space_used_size;
}

/**
 * Bytes the young generation grew by while `body` ran (after a full collection). A collection
 * during `body` would hide allocations, so the measurement is repeated (up to 3 times) until
 * none happened, which PerformanceObserver's 'gc' entries tell.
 */
async function youngGrowth(body: () => void): Promise<{ growth: number; collections: number }> {
  let result = { growth: 0, collections: 0 };
  for (let attempt = 0; attempt < 3; ++attempt) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 10)); // let gc()'s entry be delivered
    const entries: number[] = [];
    const observer = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) entries.push(e.startTime);
    });
    observer.observe({ entryTypes: ['gc'] });
    const t0 = performance.now();
    const before = youngBytes();
    body();
    const growth = youngBytes() - before;
    const t1 = performance.now();
    await new Promise((resolve) => setTimeout(resolve, 10));
    observer.disconnect();
    const collections = entries.filter((t) => t >= t0 && t <= t1).length;
    result = { growth, collections };
    if (collections === 0) break;
  }
  return result;
}

const STEPS = 10_000;

describe('no allocation per step', () => {
  const layers = [
    new LSTM({ inputSize: 8, hiddenSize: 16, numLayers: 2, projSize: 4, peephole: true, seed: 1 }),
    new GRU({ inputSize: 8, hiddenSize: 16, resetAfter: false, seed: 1 }),
    new RNN({ inputSize: 8, hiddenSize: 16, seed: 1 }),
  ];

  it('the measurement sees one small allocation per step (control)', async () => {
    const s = layers[0].stream();
    const x = new Float32Array(8);
    let sum = 0;
    const { growth, collections } = await youngGrowth(() => {
      for (let i = 0; i < STEPS; ++i) sum += s.step(x).subarray(0, 1)[0];
    });
    expect(collections).toBe(0);
    // A typed-array view alone is well over 16 bytes: expect more than that per step.
    expect(growth).toBeGreaterThan(STEPS * 16);
    expect(Number.isFinite(sum)).toBe(true);
  });

  it.each(layers.map((l) => [l.config.cell, l] as const))(
    '%s: stream.step allocates nothing on the JavaScript heap',
    async (_cell, layer) => {
      const s = layer.stream({ batch: 2 });
      const x = new Float32Array(16).fill(0.5);
      for (let i = 0; i < 1000; ++i) s.step(x); // warm up (compilation, feedback)
      const { growth, collections } = await youngGrowth(() => {
        for (let i = 0; i < STEPS; ++i) s.step(x);
      });
      expect(collections).toBe(0);
      // Bound: 16 KiB for 10 000 steps, under 2 bytes per step (the measurement itself costs a
      // few KiB once); any allocation per step costs at least 16 bytes per step, 160 KB.
      expect(growth).toBeLessThan(16 * 1024);
    },
  );

  it('pool.step (full and partial) allocates nothing on the JavaScript heap', async () => {
    const pool = layers[0].streamPool({ capacity: 8 });
    const sessions = Array.from({ length: 5 }, () => pool.open());
    const x = new Float32Array(8).fill(0.25);
    const round = () => {
      // (An index loop: for...of over an array allocates an iterator in unoptimized code.)
      for (let i = 0; i < sessions.length; ++i) sessions[i].write(x);
      pool.step();
      sessions[1].write(x);
      sessions[3].write(x);
      pool.step();
      sessions[2].step(x);
      void sessions[4].output;
    };
    for (let i = 0; i < 500; ++i) round();
    const { growth, collections } = await youngGrowth(() => {
      for (let i = 0; i < STEPS; ++i) round();
    });
    expect(collections).toBe(0);
    // Bound: as above, 16 KiB for 10 000 rounds of three steps.
    expect(growth).toBeLessThan(16 * 1024);
  });

  it('Sequential streams and pools (LSTM → Dense) allocate nothing per step', async () => {
    const model = new Sequential([
      new LSTM({ inputSize: 8, hiddenSize: 16, seed: 1 }),
      new Dense({ inputSize: 16, outputSize: 4, activation: 'softmax', seed: 2 }),
    ]);
    const s = model.stream({ batch: 2 });
    const pool = model.streamPool({ capacity: 4 });
    const sessions = Array.from({ length: 3 }, () => pool.open());
    const x = new Float32Array(16).fill(0.5);
    const frame = x.subarray(0, 8);
    const round = () => {
      s.step(x);
      for (let i = 0; i < sessions.length; ++i) sessions[i].write(frame);
      pool.step();
      sessions[1].write(frame);
      pool.step();
      void sessions[2].output;
    };
    for (let i = 0; i < 500; ++i) round();
    const { growth, collections } = await youngGrowth(() => {
      for (let i = 0; i < STEPS; ++i) round();
    });
    expect(collections).toBe(0);
    // Bound: as above, 16 KiB for 10 000 rounds.
    expect(growth).toBeLessThan(16 * 1024);
  });

  it('a character model (Embedding → LSTM → Dense) streams without allocating', async () => {
    const model = new Sequential([
      new Embedding({ numEmbeddings: 40, embeddingDim: 8, seed: 3 }),
      new LSTM({ inputSize: 8, hiddenSize: 16, seed: 4 }),
      new Dense({ inputSize: 16, outputSize: 40, activation: 'softmax', seed: 5 }),
    ]);
    const s = model.stream({ batch: 1 });
    const token = new Float32Array(1); // token ids as floats, as Sequential streams take them
    const round = (i: number) => {
      token[0] = i % 40;
      s.step(token);
    };
    for (let i = 0; i < 20000; ++i) round(i); // long enough for the optimizing tier
    const { growth, collections } = await youngGrowth(() => {
      for (let i = 0; i < STEPS; ++i) round(i);
    });
    expect(collections).toBe(0);
    // Bound: as above, 16 KiB for 10 000 steps.
    expect(growth).toBeLessThan(16 * 1024);
  });

  it('100 000 steps grow neither arrayBuffers nor RSS beyond a small bound', () => {
    const s = layers[0].stream({ batch: 4 });
    const pool = layers[1].streamPool();
    const sessions = Array.from({ length: 3 }, () => pool.open());
    const x = new Float32Array(32).fill(0.1);
    const frame = x.subarray(0, 8);
    const run = (n: number) => {
      for (let i = 0; i < n; ++i) {
        s.step(x);
        sessions[i % 3].write(frame);
        if (i % 2 === 0) pool.step();
      }
    };
    run(5_000);
    gc();
    const before = process.memoryUsage();
    run(100_000);
    gc();
    const after = process.memoryUsage();
    // Bounds: no ArrayBuffer memory at all is created per step (0 bytes growth expected; 64 KiB
    // of slack for anything the runtime does on its own), and RSS grows by less than 4 MiB (a
    // leak of even 40 bytes per step would exceed it).
    expect(after.arrayBuffers - before.arrayBuffers).toBeLessThan(64 * 1024);
    expect(after.rss - before.rss).toBeLessThan(4 * 1024 * 1024);
  });
});
