// StreamWorker: a model streaming in a worker_thread through a SharedArrayBuffer. It returns the
// same numbers as a stream on the main thread, queues concurrent calls, shuts down cleanly,
// survives 1 000 start/stop cycles without leaking, and a killed worker leaves the main thread
// working. It runs the built package (dist/): `npm run build` first.
import { existsSync } from 'node:fs';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';

import {
  Embedding,
  ErrorCode,
  GRU,
  LSTM,
  RNN,
  StreamWorker,
  Tensor,
  UnsupportedError,
} from '../../lib/index';
import { repoRoot } from '../helpers/fixtures';
import { Lcg, firstDifference } from './helpers';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

const script = path.join(repoRoot, 'dist', 'stream', 'worker-main.js');

describe('StreamWorker', () => {
  it('has a build of the package to run (dist/stream/worker-main.js)', () => {
    expect(existsSync(script), 'run `npm run build` first').toBe(true);
  });

  it.each([
    [
      'lstm',
      new LSTM({ inputSize: 5, hiddenSize: 7, numLayers: 2, projSize: 3, peephole: true, seed: 1 }),
    ],
    ['gru', new GRU({ inputSize: 4, hiddenSize: 6, resetAfter: false, seed: 2 })],
    ['rnn', new RNN({ inputSize: 3, hiddenSize: 9, nonlinearity: 'relu', seed: 3 })],
  ] as const)('%s: returns the same numbers as a stream on this thread', async (_cell, layer) => {
    const rng = new Lcg(1);
    const batch = 2;
    const w = await StreamWorker.create(layer, { batch });
    try {
      expect(w.inputSize).toBe(layer.inputSize);
      expect(w.outputSize).toBe(layer.outputSize);
      const s = layer.stream({ batch });
      const out = new Float32Array(batch * layer.outputSize);
      for (let t = 0; t < 20; ++t) {
        const x = rng.floats(batch * layer.inputSize, 2);
        const want = s.step(x);
        const got = t % 2 ? await w.step(x) : await w.step(x, out);
        if (t % 2 === 0) expect(got).toBe(out);
        // Tolerance: none (the same kernel on the same weights).
        expect(firstDifference(got, want)).toBe(-1);
      }
      await w.reset();
      s.reset();
      const x = rng.floats(batch * layer.inputSize);
      expect(firstDifference(await w.step(x), s.step(x))).toBe(-1);
    } finally {
      await w.close();
    }
    expect(w.closed).toBe(true);
  });

  it('answers 5 000 steps in a row (late wake-ups of the previous step are ignored)', async () => {
    const layer = new GRU({ inputSize: 4, hiddenSize: 8, seed: 9 });
    const w = await StreamWorker.create(layer);
    const s = layer.stream();
    const x = new Float32Array([0.1, -0.2, 0.3, -0.4]);
    const out = new Float32Array(8);
    try {
      for (let t = 0; t < 5000; ++t) await w.step(x, out);
      for (let t = 0; t < 5000; ++t) s.step(x);
      expect(firstDifference(out, s.output)).toBe(-1);
    } finally {
      await w.close();
    }
  });

  it('queues calls made without awaiting, each with the frame it was given', async () => {
    const layer = new LSTM({ inputSize: 2, hiddenSize: 3, seed: 4 });
    const w = await StreamWorker.create(layer);
    const s = layer.stream();
    const frame = new Float32Array(2);
    const pending: Promise<Float32Array>[] = [];
    const want: Float32Array[] = [];
    for (let t = 0; t < 10; ++t) {
      frame[0] = t;
      frame[1] = -t;
      pending.push(w.step(frame)); // frame is reused at once
      want.push(s.step(frame).slice());
    }
    const got = await Promise.all(pending);
    expect(got.map((y) => Array.from(y))).toEqual(want.map((y) => Array.from(y)));
    await w.close();
    await w.close(); // idempotent
  });

  // Request numbers are int32s that wrap (2^31 - 1 → -2^31, -1 → 0); the internal option
  // firstRequest starts the counter next to a wrap, so the wrap comes after a few calls.
  it.each([
    ['2^31 - 1 to -2^31', 2 ** 31 - 4],
    ['-1 to 0', -4],
  ])('keeps answering across the wrap of its request numbers (%s)', async (_name, first) => {
    const layer = new LSTM({ inputSize: 3, hiddenSize: 4, seed: 11 });
    const w = await StreamWorker.create(layer, { firstRequest: first });
    const s = layer.stream();
    const rng = new Lcg(7);
    try {
      // One at a time across the wrap, then 12 in flight at once across it a second time.
      for (let t = 0; t < 8; ++t) {
        const x = rng.floats(3);
        expect(firstDifference(await w.step(x), s.step(x))).toBe(-1);
      }
      await w.reset();
      s.reset();
      const pending: Promise<Float32Array>[] = [];
      const want: Float32Array[] = [];
      for (let t = 0; t < 12; ++t) {
        const x = rng.floats(3);
        pending.push(w.step(x));
        want.push(s.step(x).slice());
      }
      const got = await Promise.all(pending);
      got.forEach((y, t) => expect(firstDifference(y, want[t]), `step ${t}`).toBe(-1));
    } finally {
      await w.close();
    }
    expect(w.closed).toBe(true);
  });

  it('gives each failed request its own error across the wrap, with calls in flight', async () => {
    // A token id out of range fails in the worker (the error travels as a message keyed by the
    // request number); the good ids between them must still get their rows.
    const emb = new Embedding({ numEmbeddings: 5, embeddingDim: 2, seed: 3 });
    const w = await StreamWorker.create(emb, { firstRequest: 2 ** 31 - 5 });
    const weight = emb.parameters().weight.data;
    try {
      const ids = [0, 9, 1, 7, 2, 3, 8, 4, 6, 0];
      const calls = ids.map((id) => w.step(new Float32Array([id])));
      const settled = await Promise.allSettled(calls);
      settled.forEach((r, i) => {
        const id = ids[i];
        if (id < 5) {
          expect(r.status, `call ${i}`).toBe('fulfilled');
          const y = (r as PromiseFulfilledResult<Float32Array>).value;
          expect(Array.from(y)).toEqual(Array.from(weight.subarray(id * 2, id * 2 + 2)));
        } else {
          expect(r.status, `call ${i}`).toBe('rejected');
          const e = (r as PromiseRejectedResult).reason as Error & { code?: string };
          expect(e).toBeInstanceOf(RangeError);
          expect(e.code).toBe(ErrorCode.OUT_OF_RANGE);
          expect(e.message).toContain(`got ${id}`);
        }
      });
    } finally {
      await w.close();
    }
  });

  it('refuses a firstRequest that is not an int32', async () => {
    const layer = new GRU({ inputSize: 3, hiddenSize: 2, seed: 1 });
    await expect(StreamWorker.create(layer, { firstRequest: 2 ** 31 })).rejects.toThrow(RangeError);
    await expect(StreamWorker.create(layer, { firstRequest: 0.5 })).rejects.toThrow(RangeError);
  });

  it('validates frames, options and models', async () => {
    const layer = new GRU({ inputSize: 3, hiddenSize: 2, seed: 1 });
    await expect(
      StreamWorker.create(new LSTM({ inputSize: 2, hiddenSize: 2, bidirectional: true })),
    ).rejects.toThrow(UnsupportedError);
    await expect(StreamWorker.create({} as never)).rejects.toThrow(TypeError);
    await expect(StreamWorker.create(layer, { batch: 0 })).rejects.toThrow(RangeError);
    await expect(StreamWorker.create(layer, { script: 5 } as never)).rejects.toThrow(TypeError);
    const w = await StreamWorker.create(layer);
    await expect(w.step(new Float32Array(4))).rejects.toThrow(
      'step: x must have shape [B=1, I=3] (a Float32Array of 3 elements), got [4]',
    );
    await expect(w.step(new Float32Array(3), new Float32Array(3))).rejects.toThrow(RangeError);
    // The worker still works after refused calls.
    expect((await w.step(new Tensor(new Float32Array(3), [1, 3]))).length).toBe(2);
    await w.close();
    await expect(w.step(new Float32Array(3))).rejects.toMatchObject({
      code: ErrorCode.WORKER_EXITED,
    });
  });

  it('a worker script that fails to start rejects create()', async () => {
    const bad = path.join(os.tmpdir(), `cellstate-bad-worker-${process.pid}.cjs`);
    writeFileSync(bad, "throw new Error('boom at start');\n");
    const layer = new RNN({ inputSize: 2, hiddenSize: 2, seed: 1 });
    await expect(StreamWorker.create(layer, { script: bad })).rejects.toThrow('boom at start');
  });

  it('a killed worker rejects its pending and later calls, and the main thread keeps working', async () => {
    const layer = new LSTM({ inputSize: 64, hiddenSize: 128, seed: 5 });
    const w = await StreamWorker.create(layer);
    const x = new Float32Array(64).fill(0.5);
    await w.step(x);
    // Kill it with calls in flight.
    const inFlight = [w.step(x), w.step(x), w.step(x)];
    await w.terminate();
    for (const p of inFlight) {
      const r = await p.then(
        () => 'resolved',
        (e: { code?: string }) => e.code,
      );
      // A call may have completed before the kill; the others reject with WORKER_EXITED.
      expect(['resolved', ErrorCode.WORKER_EXITED]).toContain(r);
    }
    expect(w.closed).toBe(true);
    await expect(w.step(x)).rejects.toMatchObject({ code: ErrorCode.WORKER_EXITED });
    await w.close(); // resolves: already exited
    // The main thread computes on, and new workers start.
    const s = layer.stream();
    const y = s.step(x).slice();
    const w2 = await StreamWorker.create(layer);
    expect(firstDifference(await w2.step(x), y)).toBe(-1);
    await w2.close();
    const f = layer.forward(new Tensor(x, [1, 1, 64]));
    expect(firstDifference(f.output.data, y)).toBe(-1);
  });

  it(
    'survives 1 000 start/stop cycles without leaking',
    async () => {
      const layer = new LSTM({ inputSize: 8, hiddenSize: 16, seed: 6 });
      const x = new Float32Array(8).fill(0.25);
      const want = layer.stream().step(x).slice();
      const cycles = 1000;
      // One at a time: a worker's start costs some 70–100 ms of CPU on a slow core, and the
      // other test files run beside this one.
      const concurrency = 1;
      let started = 0;
      let done = 0;
      let rssAfterWarmup = 0;
      const cycle = async () => {
        const w = await StreamWorker.create(layer);
        const y = await w.step(x);
        await w.close();
        expect(firstDifference(y, want)).toBe(-1);
        expect(w.closed).toBe(true);
      };
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (started < cycles) {
            ++started;
            await cycle();
            if (++done === 100) {
              gc();
              rssAfterWarmup = process.memoryUsage().rss;
            }
          }
        }),
      );
      expect(done).toBe(cycles);
      gc();
      const growth = process.memoryUsage().rss - rssAfterWarmup;
      // Bound: 900 cycles after the warm-up grow RSS by less than 48 MiB (a worker's isolate
      // and heap are several MiB: leaking one per cycle would exceed it many times over).
      expect(growth).toBeLessThan(48 * 1024 * 1024);
    },
    // A guard against a hang, not a timing limit: a worker takes 20–500 ms to start, depending
    // on the machine and its load.
    1_800_000,
  );
});
