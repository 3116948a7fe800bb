// A StreamPool steps independent sessions as rows of one batch: each session's outputs and state
// equal its solo run (a batch-1 stream on the same frames), bit for bit, while others open,
// close, skip steps and step alone; and the pool agrees with forward.
import { describe, expect, it } from 'vitest';

import {
  PoolSession,
  Stream,
  Tensor,
  UnsupportedError,
  info,
  setNumThreads,
} from '../../lib/index';
import type { Recurrent } from '../../lib/layers/recurrent';
import { type AnyConfig, Lcg, firstDifference, frame, makeLayer } from './helpers';

const CONFIGS: AnyConfig[] = [
  { cell: 'lstm', inputSize: 5, hiddenSize: 7, numLayers: 2, seed: 1, peephole: true, projSize: 3 },
  { cell: 'lstm', inputSize: 3, hiddenSize: 9, seed: 2, coupled: true },
  { cell: 'gru', inputSize: 4, hiddenSize: 8, numLayers: 3, seed: 3, resetAfter: false },
  { cell: 'gru', inputSize: 6, hiddenSize: 5, seed: 4 },
  { cell: 'rnn', inputSize: 2, hiddenSize: 17, numLayers: 2, seed: 5, nonlinearity: 'relu' },
];

/** A session of the pool and its solo twin, fed the same frames. */
interface Pair {
  session: PoolSession;
  solo: Stream;
  id: number;
}

function simulate(
  layer: Recurrent,
  seed: number,
  steps: number,
): { joins: number; leaves: number; subsets: number } {
  const rng = new Lcg(seed);
  const I = layer.inputSize;
  const pool = layer.streamPool({ capacity: 2 });
  let pairs: Pair[] = [];
  let nextId = 0;
  const stats = { joins: 0, leaves: 0, subsets: 0 };
  for (let step = 0; step < steps; ++step) {
    // Between steps, sessions open and close.
    const opens = rng.int(0, 3);
    for (let k = 0; k < opens; ++k) {
      pairs.push({ session: pool.open(), solo: layer.stream(), id: nextId++ });
      ++stats.joins;
    }
    const closes = pairs.length > 0 ? rng.int(0, 2) : 0;
    for (let k = 0; k < closes && pairs.length > 0; ++k) {
      const i = rng.int(0, pairs.length - 1);
      pairs[i].session.close();
      expect(pairs[i].session.closed).toBe(true);
      pairs = pairs.filter((_, j) => j !== i);
      ++stats.leaves;
    }
    expect(pool.size).toBe(pairs.length);
    // Some sessions get a frame (all of them half of the time), then one batched step; now
    // and then one session steps alone.
    const all = rng.next() < 0.5;
    const fed: Pair[] = [];
    for (const p of pairs) {
      if (!all && rng.next() < 0.4) continue;
      const x = rng.floats(I, 2);
      p.session.write(x);
      p.solo.step(x);
      fed.push(p);
    }
    if (fed.length > 0 && fed.length < pairs.length) ++stats.subsets;
    expect(pool.step()).toBe(fed.length);
    if (pairs.length > 0 && rng.next() < 0.2) {
      const p = pairs[rng.int(0, pairs.length - 1)];
      const x = rng.floats(I, 2);
      const y = p.session.step(x);
      expect(firstDifference(y, p.solo.step(x))).toBe(-1);
      if (!fed.includes(p)) fed.push(p);
    }
    // Tolerance: none (bit-identical to the solo run).
    for (const p of fed)
      expect(
        firstDifference(p.session.output, p.solo.output),
        `session ${p.id} at step ${step}`,
      ).toBe(-1);
    for (const p of pairs) {
      const a = p.session.getState();
      const b = p.solo.getState();
      expect(firstDifference(a.h.data, b.h.data), `h of session ${p.id} at step ${step}`).toBe(-1);
      if (b.c) expect(firstDifference(a.c!.data, b.c.data)).toBe(-1);
    }
  }
  return stats;
}

describe('StreamPool', () => {
  it.each(CONFIGS.map((c, i) => [`${c.cell} ${JSON.stringify(c)}`, c, i] as const))(
    'sessions equal their solo runs while others join and leave: %s',
    (_name, config, i) => {
      const stats = simulate(makeLayer(config), 1000 + i, 60);
      // The random schedule did exercise joins, leaves and partial steps.
      expect(stats.joins).toBeGreaterThan(20);
      expect(stats.leaves).toBeGreaterThan(10);
      expect(stats.subsets).toBeGreaterThan(5);
    },
  );

  it('64 sessions on two threads equal their solo runs (sizes that run in parallel)', () => {
    const threads = info().threads;
    setNumThreads(2);
    try {
      const rng = new Lcg(64);
      // S1 of the benchmarks: 64 rows of 2·64·512·(64 + 128) flops, far above the parallel threshold.
      const layer = makeLayer({ cell: 'lstm', inputSize: 64, hiddenSize: 128, seed: 1 });
      const pool = layer.streamPool({ capacity: 64 });
      const pairs = Array.from({ length: 64 }, () => ({
        session: pool.open(),
        solo: layer.stream(),
      }));
      for (let t = 0; t < 3; ++t) {
        for (const p of pairs) {
          const x = rng.floats(64);
          p.session.write(x);
          p.solo.step(x);
        }
        expect(pool.step()).toBe(64);
        for (const p of pairs) expect(firstDifference(p.session.output, p.solo.output)).toBe(-1);
      }
    } finally {
      setNumThreads(threads);
    }
  });

  it('a full pool step equals forward on the batch', () => {
    const rng = new Lcg(5);
    const layer = makeLayer({ cell: 'lstm', inputSize: 4, hiddenSize: 6, numLayers: 2, seed: 9 });
    const T = 5;
    const B = 7;
    const x = rng.floats(T * B * 4);
    const want = layer.forward(new Tensor(x, [T, B, 4]));
    const pool = layer.streamPool({ capacity: 3 });
    const sessions = Array.from({ length: B }, () => pool.open());
    for (let t = 0; t < T; ++t) {
      const y = pool.stepAll(frame(x, T, B, 4, t, 0, B));
      expect(y.length).toBe(B * 6);
      expect(firstDifference(y, want.output.data.subarray(t * B * 6, (t + 1) * B * 6))).toBe(-1);
    }
    sessions.forEach((s, b) => {
      const h = s.getState().h.data;
      for (let l = 0; l < 2; ++l)
        expect(
          firstDifference(
            h.subarray(l * 6, (l + 1) * 6),
            want.h.data.subarray((l * B + b) * 6, (l * B + b + 1) * 6),
          ),
        ).toBe(-1);
    });
  });

  it('sessions snapshot, restore, reset and set state independently', () => {
    const layer = makeLayer({ cell: 'gru', inputSize: 3, hiddenSize: 4, seed: 2 });
    const pool = layer.streamPool();
    const a = pool.open();
    const b = pool.open();
    const x = new Float32Array([0.5, -1, 2]);
    a.write(x);
    expect(a.pending).toBe(true);
    expect(b.pending).toBe(false);
    b.write(x);
    pool.step();
    expect(a.pending).toBe(false);
    const snap = a.snapshot();
    const first = a.output.slice();
    a.step(x);
    const second = a.output.slice();
    a.restore(snap);
    expect(Array.from(a.step(x))).toEqual(Array.from(second));
    // The snapshot of a session restores into a batch-1 stream and back.
    const solo = layer.stream();
    solo.restore(snap);
    expect(Array.from(solo.step(x))).toEqual(Array.from(second));
    b.restore(solo.snapshot());
    expect(b.getState().h.data).toEqual(solo.getState().h.data);
    a.reset();
    expect(Array.from(a.getState().h.data)).toEqual([0, 0, 0, 0]);
    a.setState({ h: [[[1, 2, 3, 4]]] });
    expect(Array.from(a.getState().h.data)).toEqual([1, 2, 3, 4]);
    expect(first.length).toBe(4);
  });

  it('refuses a closed session and a wrong frame size', () => {
    const layer = makeLayer({ cell: 'rnn', inputSize: 3, hiddenSize: 2, seed: 1 });
    const pool = layer.streamPool();
    const s = pool.open();
    expect(() => s.write(new Float32Array(4))).toThrow(RangeError);
    expect(() => s.write(new Float32Array(4))).toThrow('write: x must have shape [B=1, I=3]');
    s.close();
    s.close(); // idempotent
    expect(() => s.write(new Float32Array(3))).toThrow('the session is closed');
    expect(pool.size).toBe(0);
    expect(pool.step()).toBe(0);
    expect(() => pool.stepAll(new Float32Array(3))).toThrow(RangeError);
  });

  it('grows past its capacity and clears', () => {
    const layer = makeLayer({ cell: 'lstm', inputSize: 2, hiddenSize: 3, seed: 1 });
    const pool = layer.streamPool({ capacity: 1 });
    const sessions = Array.from({ length: 37 }, () => pool.open());
    for (const s of sessions) s.write(new Float32Array([1, 2]));
    expect(pool.step()).toBe(37);
    const solo = layer.stream();
    const y = solo.step(new Float32Array([1, 2]));
    for (const s of sessions) expect(firstDifference(s.output, y)).toBe(-1);
    pool.clear();
    expect(pool.size).toBe(0);
    expect(sessions.every((s) => s.closed)).toBe(true);
  });

  it('a bidirectional layer refuses streamPool()', () => {
    const layer = makeLayer({
      cell: 'gru',
      inputSize: 2,
      hiddenSize: 3,
      bidirectional: true,
      seed: 1,
    });
    expect(() => layer.streamPool()).toThrow(UnsupportedError);
  });
});
