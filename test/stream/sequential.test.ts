// Sequential.stream(): stepping through a sequence equals Sequential.forward on it, for stacks of
// recurrent layers, Dense, Embedding and Dropout; state, snapshots and refusals.
import { describe, expect, it } from 'vitest';

import {
  ComposedStream,
  Dense,
  Dropout,
  Embedding,
  ErrorCode,
  GRU,
  LSTM,
  RNN,
  Sequential,
  StreamWorker,
  Tensor,
  composeStreams,
} from '../../lib/index';
import { relativeError } from '../helpers/fixtures';
import { Lcg, frame } from './helpers';

/** Steps a stream of batch B over x [T, B, I] and returns the outputs [T, B, O]. */
function stepAll(
  s: ComposedStream,
  x: Float32Array,
  T: number,
  B: number,
  I: number,
): Float32Array {
  const out = new Float32Array(T * B * s.outputSize);
  for (let t = 0; t < T; ++t) out.set(s.step(frame(x, T, B, I, t, 0, B)), t * B * s.outputSize);
  return out;
}

describe('Sequential.stream()', () => {
  it('equals forward for recurrent layers, Dense and Dropout', () => {
    const rng = new Lcg(1);
    const model = new Sequential([
      new LSTM({ inputSize: 5, hiddenSize: 8, projSize: 4, peephole: true, seed: 1 }),
      new Dropout({ rate: 0.3, seed: 2 }),
      new GRU({ inputSize: 4, hiddenSize: 6, numLayers: 2, seed: 3 }),
      new RNN({ inputSize: 6, hiddenSize: 7, nonlinearity: 'relu', seed: 4 }),
      new Dense({ inputSize: 7, outputSize: 3, activation: 'softmax', seed: 5 }),
    ]);
    const T = 6;
    const B = 3;
    const x = rng.floats(T * B * 5);
    const want = model.forward(new Tensor(x, [T, B, 5]));
    const s = model.stream({ batch: B });
    expect(s.inputSize).toBe(5);
    expect(s.outputSize).toBe(3);
    // Tolerance: 1e-6 relative (Dense's forward and its stream may run different GEMM paths;
    // the recurrent layers are bit-identical).
    expect(relativeError(stepAll(s, x, T, B, 5), want.output.data)).toBeLessThanOrEqual(1e-6);
    const state = s.getState();
    expect(state[1]).toBeNull();
    expect(state[4]).toBeNull();
    expect(relativeError(state[0]!.h.data, want.state[0]!.h.data)).toBeLessThanOrEqual(1e-6);
    expect(relativeError(state[2]!.h.data, want.state[2]!.h.data)).toBeLessThanOrEqual(1e-6);
  });

  it('equals forward with an Embedding first (token ids in)', () => {
    const model = new Sequential([
      new Embedding({ numEmbeddings: 10, embeddingDim: 4, seed: 1 }),
      new LSTM({ inputSize: 4, hiddenSize: 5, seed: 2 }),
      new Dense({ inputSize: 5, outputSize: 10, seed: 3 }),
    ]);
    const T = 5;
    const B = 2;
    const ids = [
      [1, 2],
      [3, 9],
      [0, 0],
      [7, 4],
      [5, 5],
    ];
    const want = model.forward(ids);
    const s = model.stream({ batch: B });
    expect(s.inputSize).toBe(1);
    const got = new Float32Array(T * B * 10);
    for (let t = 0; t < T; ++t) got.set(s.step(Float32Array.from(ids[t])), t * B * 10);
    // Tolerance: as above.
    expect(relativeError(got, want.output.data)).toBeLessThanOrEqual(1e-6);
  });

  it('resets, sets state, snapshots and restores every recurrent layer', () => {
    const rng = new Lcg(2);
    const model = new Sequential([
      new GRU({ inputSize: 3, hiddenSize: 4, seed: 1 }),
      new Dense({ inputSize: 4, outputSize: 4, activation: 'tanh', seed: 2 }),
      new LSTM({ inputSize: 4, hiddenSize: 2, seed: 3 }),
    ]);
    const s = model.stream();
    const xs = Array.from({ length: 4 }, () => rng.floats(3));
    const first = s.step(xs[0]).slice();
    s.step(xs[1]);
    const snap = s.snapshot();
    const a = s.step(xs[2]).slice();
    s.restore(snap);
    expect(Array.from(s.step(xs[2]))).toEqual(Array.from(a));
    s.restore(snap);
    const state = s.getState();
    s.reset();
    expect(Array.from(s.step(xs[0]))).toEqual(Array.from(first));
    s.setState(state);
    expect(Array.from(s.step(xs[2]))).toEqual(Array.from(a));
    // into: the snapshot's memory is reused.
    const again = s.snapshot(snap);
    expect(again.parts[0]).toBe(snap.parts[0]);
    expect(() => s.setState([null, null] as never)).toThrow(TypeError);
    expect(() =>
      s.setState([null, { h: new Tensor(new Float32Array(4), [1, 1, 4]) }, null]),
    ).toThrow('state[1] must be null');
    expect(() => s.restore(model.stream({ batch: 2 }).snapshot())).toThrow(RangeError);
  });

  it('a bidirectional layer inside refuses, naming it', () => {
    const model = new Sequential([
      new LSTM({ inputSize: 3, hiddenSize: 4, seed: 1 }),
      new GRU({ inputSize: 4, hiddenSize: 2, bidirectional: true, seed: 2 }),
    ]);
    expect(() => model.stream()).toThrow(/layers\[1\]: a bidirectional GRU cannot stream/);
    try {
      model.stream();
    } catch (e) {
      expect((e as { code: string }).code).toBe(ErrorCode.UNSUPPORTED);
    }
  });

  it('composeStreams works on a plain list of layers, and a wrong frame is a RangeError', () => {
    const s = composeStreams([
      new RNN({ inputSize: 2, hiddenSize: 3, seed: 1 }),
      new Dense({ inputSize: 3, outputSize: 1, seed: 2 }),
    ]);
    expect(s.step(new Float32Array(2)).length).toBe(1);
    expect(() => s.step(new Float32Array(3))).toThrow(
      'step: x must have shape [B=1, I=2] (a Float32Array of 2 elements), got [3]',
    );
  });

  it.each([
    [
      'LSTM → Dense',
      () =>
        new Sequential([
          new LSTM({ inputSize: 3, hiddenSize: 5, projSize: 2, seed: 1 }),
          new Dense({ inputSize: 2, outputSize: 4, activation: 'softmax', seed: 2 }),
        ]),
    ],
    [
      'Dense → Dropout → GRU → RNN → Dense',
      () =>
        new Sequential([
          new Dense({ inputSize: 3, outputSize: 6, activation: 'relu', seed: 1 }),
          new Dropout({ rate: 0.5, seed: 2 }),
          new GRU({ inputSize: 6, hiddenSize: 4, numLayers: 2, resetAfter: false, seed: 3 }),
          new RNN({ inputSize: 4, hiddenSize: 5, seed: 4 }),
          new Dense({ inputSize: 5, outputSize: 2, seed: 5 }),
        ]),
    ],
    [
      'Embedding → LSTM',
      () =>
        new Sequential([
          new Embedding({ numEmbeddings: 7, embeddingDim: 3, seed: 1 }),
          new LSTM({ inputSize: 3, hiddenSize: 4, seed: 2 }),
        ]),
    ],
  ] as const)(
    'streamPool of %s: sessions equal their solo runs while others join and leave',
    (_name, make) => {
      const model = make();
      const rng = new Lcg(77);
      const I = model.stream().inputSize;
      const tokens = I === 1;
      const input = () => (tokens ? new Float32Array([rng.int(0, 6)]) : rng.floats(I, 2));
      const pool = model.streamPool({ capacity: 1 });
      let pairs: {
        session: ReturnType<typeof pool.open>;
        solo: ComposedStream;
        stepped: boolean;
      }[] = [];
      let partial = 0;
      for (let step = 0; step < 40; ++step) {
        for (let k = rng.int(0, 2); k > 0; --k)
          pairs.push({ session: pool.open(), solo: model.stream(), stepped: false });
        if (pairs.length > 0 && rng.next() < 0.4) {
          const i = rng.int(0, pairs.length - 1);
          pairs[i].session.close();
          pairs = pairs.filter((_, j) => j !== i);
        }
        const fed = pairs.filter(() => rng.next() < 0.7);
        if (fed.length > 0 && fed.length < pairs.length) ++partial;
        for (const p of fed) {
          const x = input();
          p.session.write(x);
          p.solo.step(x);
          p.stepped = true;
        }
        expect(pool.step()).toBe(fed.length);
        // Tolerance: none for the rows (each row of every layer is computed as when alone).
        // A session's output is its latest step's (before a first step it is unspecified).
        for (const p of pairs)
          if (p.stepped)
            expect(Array.from(p.session.output), `step ${step}`).toEqual(Array.from(p.solo.output));
        if (pairs.length > 0 && rng.next() < 0.3) {
          const p = pairs[rng.int(0, pairs.length - 1)];
          const x = input();
          expect(Array.from(p.session.step(x))).toEqual(Array.from(p.solo.step(x)));
          p.stepped = true;
        }
      }
      expect(partial).toBeGreaterThan(3);
      // State, snapshots across a session and a batch-1 stream.
      const p = pairs[0] ?? { session: pool.open(), solo: model.stream(), stepped: false };
      const snap = p.session.snapshot();
      const solo = model.stream();
      solo.restore(snap);
      const x = input();
      expect(Array.from(solo.step(x))).toEqual(Array.from(p.session.step(x)));
      p.session.restore(snap);
      expect(Array.from(p.session.step(x))).toEqual(Array.from(solo.output));
      const state = p.session.getState();
      expect(state.length).toBe(model.layers.length);
      pool.clear();
      expect(pool.size).toBe(0);
    },
  );

  it('runs in a StreamWorker with the same numbers', async () => {
    const rng = new Lcg(3);
    const model = new Sequential([
      new LSTM({ inputSize: 3, hiddenSize: 5, seed: 1 }),
      new Dense({ inputSize: 5, outputSize: 2, activation: 'sigmoid', seed: 2 }),
    ]);
    const w = await StreamWorker.create(model);
    const s = model.stream();
    try {
      for (let t = 0; t < 5; ++t) {
        const x = rng.floats(3);
        expect(Array.from(await w.step(x))).toEqual(Array.from(s.step(x)));
      }
    } finally {
      await w.close();
    }
  });
});
