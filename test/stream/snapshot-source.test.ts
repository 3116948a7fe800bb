// A snapshot records what it was taken from (cell, sizes, layers, variant) and restores only
// into a stream or session of the same: every kind of snapshot (Stream, StreamPool session,
// Sequential stream, ComposedPool session) refuses another configuration with a coded error,
// and a refused restore leaves the state as it was. The cases below are the ones whose state
// rows have the same size, which a check of the row size alone let through.
import { describe, expect, it } from 'vitest';

import {
  Dense,
  Dropout,
  ErrorCode,
  GRU,
  LSTM,
  RNN,
  Sequential,
  type SequentialLayer,
} from '../../lib/index';
import type { Recurrent } from '../../lib/layers/recurrent';
import { Lcg } from './helpers';

/** What a state looks like, to compare before and after a refused restore. */
function flat(state: unknown): number[][] {
  const parts = Array.isArray(state) ? state : [state];
  return parts.flatMap((p) =>
    p ? [Array.from(p.h.data as Float32Array), ...(p.c ? [Array.from(p.c.data)] : [])] : [],
  );
}

/** Steps a stream a few times so that its state is not zero. */
function warm(s: { step(x: Float32Array): Float32Array; inputSize: number; batch?: number }) {
  const rng = new Lcg(5);
  for (let t = 0; t < 3; ++t) s.step(rng.floats((s.batch ?? 1) * s.inputSize));
}

interface Case {
  name: string;
  from: () => Recurrent;
  into: () => Recurrent;
  error: typeof RangeError | typeof TypeError;
  code: string;
  field: string;
}

// Pairs of layers whose state rows are the same size but whose states mean different things.
const cases: Case[] = [
  {
    name: "the issue's case: a 2-layer LSTM into an RNN of another input size",
    from: () => new LSTM({ inputSize: 4, hiddenSize: 3, numLayers: 2, seed: 1 }),
    into: () => new RNN({ inputSize: 7, hiddenSize: 12, seed: 2 }),
    error: TypeError,
    code: ErrorCode.INVALID_ARG,
    field: 'cell',
  },
  {
    name: 'another cell (GRU into RNN)',
    from: () => new GRU({ inputSize: 3, hiddenSize: 4, seed: 1 }),
    into: () => new RNN({ inputSize: 3, hiddenSize: 4, seed: 2 }),
    error: TypeError,
    code: ErrorCode.INVALID_ARG,
    field: 'cell',
  },
  {
    name: 'another inputSize',
    from: () => new RNN({ inputSize: 3, hiddenSize: 4, seed: 1 }),
    into: () => new RNN({ inputSize: 5, hiddenSize: 4, seed: 2 }),
    error: RangeError,
    code: ErrorCode.SHAPE,
    field: 'inputSize',
  },
  {
    name: 'another numLayers and hiddenSize',
    from: () => new GRU({ inputSize: 3, hiddenSize: 4, numLayers: 2, seed: 1 }),
    into: () => new GRU({ inputSize: 3, hiddenSize: 8, numLayers: 1, seed: 2 }),
    error: RangeError,
    code: ErrorCode.SHAPE,
    field: 'hiddenSize',
  },
  {
    name: 'another numLayers (rows of another size too)',
    from: () => new LSTM({ inputSize: 3, hiddenSize: 4, numLayers: 2, seed: 1 }),
    into: () => new LSTM({ inputSize: 3, hiddenSize: 4, numLayers: 3, seed: 1 }),
    error: RangeError,
    code: ErrorCode.SHAPE,
    field: 'numLayers',
  },
  {
    name: 'another projSize',
    from: () => new LSTM({ inputSize: 3, hiddenSize: 6, projSize: 2, seed: 1 }),
    into: () => new LSTM({ inputSize: 3, hiddenSize: 5, projSize: 3, seed: 1 }),
    error: RangeError,
    code: ErrorCode.SHAPE,
    field: 'hiddenSize',
  },
  {
    name: 'another RNN nonlinearity',
    from: () => new RNN({ inputSize: 3, hiddenSize: 4, nonlinearity: 'tanh', seed: 1 }),
    into: () => new RNN({ inputSize: 3, hiddenSize: 4, nonlinearity: 'relu', seed: 1 }),
    error: TypeError,
    code: ErrorCode.INVALID_ARG,
    field: 'nonlinearity',
  },
  {
    name: 'another LSTM variant (peephole)',
    from: () => new LSTM({ inputSize: 3, hiddenSize: 4, seed: 1 }),
    into: () => new LSTM({ inputSize: 3, hiddenSize: 4, peephole: true, seed: 1 }),
    error: TypeError,
    code: ErrorCode.INVALID_ARG,
    field: 'peephole',
  },
];

/**
 * `f` throws the refusal of case `c`; `composed`: through a model whose Dense before the layer
 * follows its inputSize, so the first difference may be that Dense's size (a RangeError).
 */
function expectRefused(f: () => void, c: Case, composed = false): void {
  let error: unknown;
  try {
    f();
  } catch (e) {
    error = e;
  }
  if (composed && c.from().inputSize !== c.into().inputSize) {
    expect(error, 'restore must refuse').toBeInstanceOf(RangeError);
    expect((error as { code?: string }).code).toBe(ErrorCode.SHAPE);
    expect((error as Error).message).toContain('layer 1 has outputSize');
    return;
  }
  expect(error, 'restore must refuse').toBeInstanceOf(c.error);
  expect((error as { code?: string }).code).toBe(c.code);
  expect((error as Error).message).toMatch(/^restore: the snapshot is of another configuration/);
  expect((error as Error).message).toContain(`with ${c.field} `);
}

describe('snapshots restore only into what they were taken from', () => {
  it('a snapshot names its source: the architecture, not the seed, dropout or layout', () => {
    const a = new LSTM({ inputSize: 3, hiddenSize: 4, numLayers: 2, projSize: 2, seed: 1 });
    const b = new LSTM({ ...a.config, seed: 9, dropout: 0.5, forgetBias: 3, batchFirst: true });
    const snap = a.stream().snapshot();
    expect(snap.source).toMatchObject({
      cell: 'lstm',
      inputSize: 3,
      hiddenSize: 4,
      numLayers: 2,
      bidirectional: false,
      projSize: 2,
    });
    expect(snap.source).not.toHaveProperty('seed');
    // Other weights, seed, dropout and layout: the same source, so the restore is accepted.
    const s = b.stream();
    s.restore(snap);
    expect(
      flat(s.getState())
        .flat()
        .every((v) => v === 0),
    ).toBe(true);
  });

  describe.each(cases)('$name', (c) => {
    it('Stream', () => {
      const from = c.from().stream({ batch: 2 });
      warm(from);
      const to = c.into().stream({ batch: 2 });
      warm(to);
      const before = flat(to.getState());
      expectRefused(() => to.restore(from.snapshot()), c);
      expect(flat(to.getState())).toEqual(before);
    });

    it('StreamPool session, and between a session and a batch-1 stream', () => {
      const pool = c.into().streamPool({ capacity: 2 });
      const session = pool.open();
      pool.open();
      session.step(new Float32Array(pool.inputSize).fill(0.5));
      const before = flat(session.getState());
      const fromPool = c.from().streamPool();
      const other = fromPool.open();
      other.step(new Float32Array(fromPool.inputSize).fill(0.25));
      expectRefused(() => session.restore(other.snapshot()), c);
      const solo = c.from().stream();
      warm(solo);
      expectRefused(() => session.restore(solo.snapshot()), c);
      expect(flat(session.getState())).toEqual(before);
      // And a session's snapshot into a batch-1 stream of the other configuration.
      const into = c.into().stream();
      warm(into);
      const intoBefore = flat(into.getState());
      expectRefused(() => into.restore(other.snapshot()), c);
      expect(flat(into.getState())).toEqual(intoBefore);
    });

    // The mismatch in the last recurrent layer: the first one's state would have been restored
    // before the second one refused (a partial restore) if each part were checked in turn.
    const model = (last: () => Recurrent): Sequential => {
      const l = last();
      return new Sequential([
        new GRU({ inputSize: 2, hiddenSize: 3, seed: 4 }),
        new Dense({ inputSize: 3, outputSize: l.inputSize, activation: 'tanh', seed: 5 }),
        l as SequentialLayer,
      ]);
    };

    it('Sequential stream (ComposedSnapshot), with no partial restore', () => {
      const from = model(c.from).stream();
      warm(from);
      const to = model(c.into).stream();
      warm(to);
      const before = flat(to.getState());
      expectRefused(() => to.restore(from.snapshot()), c, true);
      expect(flat(to.getState())).toEqual(before);
    });

    it('ComposedPool session, and between a session and a batch-1 model stream', () => {
      const pool = model(c.into).streamPool();
      const session = pool.open();
      session.step(new Float32Array([0.5, -0.5]));
      const before = flat(session.getState());
      const fromPool = model(c.from).streamPool();
      const other = fromPool.open();
      other.step(new Float32Array([0.25, 1]));
      expectRefused(() => session.restore(other.snapshot()), c, true);
      const solo = model(c.from).stream();
      warm(solo);
      expectRefused(() => session.restore(solo.snapshot()), c, true);
      expect(flat(session.getState())).toEqual(before);
      const into = model(c.into).stream();
      warm(into);
      const intoBefore = flat(into.getState());
      expectRefused(() => into.restore(other.snapshot()), c, true);
      expect(flat(into.getState())).toEqual(intoBefore);
    });
  });

  it('the same architecture restores across streams, sessions and models (control)', () => {
    const make = () =>
      new LSTM({ inputSize: 3, hiddenSize: 4, projSize: 2, numLayers: 2, peephole: true, seed: 1 });
    const s = make().stream();
    warm(s);
    const snap = s.snapshot();
    const t = make().stream();
    t.restore(snap);
    expect(flat(t.getState())).toEqual(flat(s.getState()));
    const pool = make().streamPool();
    const session = pool.open();
    session.restore(snap);
    expect(flat(session.getState())).toEqual(flat(s.getState()));
  });

  it('a composed snapshot is refused by models of other layers, in number, kind or order', () => {
    const gru = () => new GRU({ inputSize: 4, hiddenSize: 4, seed: 1 });
    const dense = () => new Dense({ inputSize: 4, outputSize: 4, seed: 2 });
    const a = new Sequential([gru(), dense()]).stream();
    warm(a);
    const snap = a.snapshot();
    const swapped = new Sequential([dense(), gru()]).stream();
    warm(swapped);
    const before = flat(swapped.getState());
    // Layer 0 is a GRU in the snapshot, a Dense here: another kind of layer.
    expect(() => swapped.restore(snap)).toThrow(
      expect.objectContaining({ code: ErrorCode.INVALID_ARG }),
    );
    expect(flat(swapped.getState())).toEqual(before);
    const longer = new Sequential([gru(), new Dropout({ rate: 0.1 }), dense()]).stream();
    expect(() => longer.restore(snap)).toThrow(/taken from 2 layers, this model has 3/);
    // A stateless layer of other sizes is another model too.
    const wider = new Sequential([gru(), new Dense({ inputSize: 4, outputSize: 6, seed: 2 })]);
    expect(() => wider.stream().restore(snap)).toThrow(
      expect.objectContaining({ code: ErrorCode.SHAPE }),
    );
    expect(() => wider.stream().restore(snap)).toThrow(/layer 1 has outputSize 6/);
    // A StreamSnapshot is not a composed one, nor the reverse.
    expect(() => a.restore(gru().stream().snapshot() as never)).toThrow(TypeError);
    expect(() =>
      gru()
        .stream()
        .restore(snap as never),
    ).toThrow(TypeError);
  });

  it('snapshot(into) takes the source of the stream it snapshots', () => {
    const a = new GRU({ inputSize: 3, hiddenSize: 4, seed: 1 }).stream();
    const b = new RNN({ inputSize: 3, hiddenSize: 4, seed: 1 }).stream();
    warm(b);
    const snap = a.snapshot();
    expect(snap.source?.cell).toBe('gru');
    b.snapshot(snap); // reused for b: now b's
    expect(snap.source?.cell).toBe('rnn');
    expect(() => a.restore(snap)).toThrow(TypeError);
    const fresh = new RNN({ inputSize: 3, hiddenSize: 4, seed: 7 }).stream();
    fresh.restore(snap);
    expect(flat(fresh.getState())).toEqual(flat(b.getState()));
  });
});
