// A call that fails changes nothing (issue 11, item 10). A forwardAsync whose `into.h` is
// detached while the kernel runs used to write `output` before failing on `h`, and a training
// one left the native pending backward at the new shape while the layer kept the old one.
import { describe, expect, it } from 'vitest';

import { Dense, ErrorCode, GRU, LSTM, Sequential, Tensor } from '../../lib/index';

function input(T: number, B: number, I: number, seed: number): Tensor {
  return new Tensor(
    Float32Array.from({ length: T * B * I }, (_, i) => Math.sin(seed + i * 0.37)),
    [T, B, I],
  );
}

function detach(a: Float32Array): void {
  structuredClone(a.buffer, { transfer: [a.buffer] });
}

const opts = { inputSize: 8, hiddenSize: 16, numLayers: 2, dropout: 0.5, seed: 11 };

describe('a failed forwardAsync', () => {
  it('writes nothing into `into` and leaves no pending backward of its shape', async () => {
    const layer = new LSTM(opts);
    const into = layer.forward(input(5, 3, 8, 1));
    into.output.data.fill(42);
    into.c?.data.fill(43);
    // A pending backward of another shape (T = 2) before the call.
    layer.forward(input(2, 3, 8, 2), { train: true });
    const pending = layer.forwardAsync(input(5, 3, 8, 3), { into, train: true });
    detach(into.h.data); // while the kernel runs
    await expect(pending).rejects.toMatchObject({ code: ErrorCode.INVALID_ARG });
    expect(into.output.data.every((v) => v === 42)).toBe(true);
    expect(into.c?.data.every((v) => v === 43)).toBe(true);
    // The kernel ran (and replaced the T = 2 forward's workspace): backward is refused with a
    // code, never computed on a mix of the two shapes.
    expect(() => layer.backward()).toThrow(expect.objectContaining({ code: ErrorCode.NO_FORWARD }));
  });

  it('does not advance the dropout seed sequence', async () => {
    const a = new LSTM(opts);
    const b = new LSTM(opts);
    const into = a.forward(input(5, 3, 8, 1));
    const pending = a.forwardAsync(input(5, 3, 8, 3), { into, train: true });
    detach(into.h.data);
    await expect(pending).rejects.toBeDefined();
    // The next training forward of `a` draws the masks `b`'s first one draws.
    const x = input(4, 3, 8, 4);
    const ya = a.forward(x, { train: true });
    const yb = b.forward(x, { train: true });
    expect(Array.from(ya.output.data)).toEqual(Array.from(yb.output.data));
  });

  it('a synchronous forward refused by the binding leaves the pending backward usable', () => {
    const layer = new LSTM(opts);
    const x = input(3, 2, 8, 5);
    const ref = new LSTM(opts);
    ref.forward(x, { train: true });
    const want = ref.backward();
    const into = layer.forward(input(3, 2, 8, 6));
    layer.forward(x, { train: true });
    detach(into.h.data); // detached before the call: refused before anything runs
    expect(() => layer.forward(x, { into })).toThrow(RangeError);
    const got = layer.backward();
    expect(Array.from(got.x.data)).toEqual(Array.from(want.x.data));
  });
});

describe("a model stream's or session's failed setState", () => {
  // Layer 1's part is wrong: layer 0's state must not have been replaced before the refusal.
  const model = () =>
    new Sequential(
      [
        new LSTM({ inputSize: 2, hiddenSize: 3, seed: 1 }),
        new GRU({ inputSize: 3, hiddenSize: 4, seed: 2 }),
        new Dense({ inputSize: 4, outputSize: 1, seed: 3 }),
      ],
      { batchFirst: true },
    );
  const bad = (rows: number) => [
    { h: new Float32Array(3 * rows).fill(0.5), c: new Float32Array(3 * rows).fill(0.5) },
    { h: new Float32Array(4 * rows + 1) },
    null,
  ];

  it('ComposedStream.setState leaves every layer as it was', () => {
    const s = model().stream({ batch: 2 });
    s.step(new Float32Array([1, 2, 3, 4]));
    const before = JSON.stringify(s.getState());
    expect(() => s.setState(bad(2))).toThrow(RangeError);
    expect(JSON.stringify(s.getState())).toBe(before);
  });

  it('ComposedSession.setState leaves every layer as it was', () => {
    const pool = model().streamPool();
    const session = pool.open();
    session.step(new Float32Array([1, 2]));
    const before = JSON.stringify(session.getState());
    expect(() => session.setState(bad(1))).toThrow(RangeError);
    expect(JSON.stringify(session.getState())).toBe(before);
  });
});

describe('a refused ComposedPool.open', () => {
  it("leaves every layer's pool as it was, with and without growing (a later layer refuses)", () => {
    for (const capacity of [4, 2]) {
      const m = new Sequential(
        [
          new LSTM({ inputSize: 2, hiddenSize: 3, seed: 1 }),
          new GRU({ inputSize: 3, hiddenSize: 4, seed: 2 }),
          new Dense({ inputSize: 4, outputSize: 1, seed: 3 }),
        ],
        { batchFirst: true },
      );
      const pool = m.streamPool({ capacity });
      const a = pool.open();
      const b = pool.open();
      const stages = (pool as unknown as { stages: { pool?: { size: number } }[] }).stages;
      m.layers[1].dispose(); // the GRU's pool now refuses to open a session
      expect(() => pool.open()).toThrow(expect.objectContaining({ code: ErrorCode.DISPOSED }));
      expect([pool.size, stages[0].pool!.size, stages[1].pool!.size]).toEqual([2, 2, 2]);
      expect([a.disposed, b.disposed]).toEqual([false, false]);
    }
  });
});

describe("a Sequential forward refused for a later layer's state", () => {
  // state[1] has the wrong shape: layer 0 must not have run (its pending backward, and the
  // model's, stay those of the previous training forward).
  for (const batchFirst of [true, false]) {
    it(`leaves the pending backward usable (batchFirst: ${batchFirst})`, () => {
      const build = () =>
        new Sequential(
          [
            new LSTM({ inputSize: 2, hiddenSize: 3, seed: 1 }),
            new GRU({ inputSize: 3, hiddenSize: 4, seed: 2 }),
            new Dense({ inputSize: 4, outputSize: 1, seed: 3 }),
          ],
          { batchFirst },
        );
      const x = input(2, 3, 2, 1); // [B, T, I] or [T, B, I], B = T = ... shapes differ below
      const dy = { output: new Tensor(new Float32Array(6).fill(1), [2, 3, 1]) };
      const want = build();
      want.forward(x, { train: true });
      const wantGrad = want.backward(dy).x!;

      const model = build();
      model.forward(x, { train: true });
      const rows = batchFirst ? 2 : 3;
      const state = [
        null,
        { h: new Tensor(new Float32Array(4 * (rows + 1)), [1, rows + 1, 4]) },
        null,
      ];
      expect(() => model.forward(input(2, 3, 2, 9), { train: true, state })).toThrow(RangeError);
      expect(() => model.forward(input(2, 3, 2, 9), { state })).toThrow(RangeError);
      const got = model.backward(dy).x!;
      expect(Array.from(got.data)).toEqual(Array.from(wantGrad.data));
      expect(Object.values(model.gradients()).map((t) => Array.from(t.data))).toEqual(
        Object.values(want.gradients()).map((t) => Array.from(t.data)),
      );
    });
  }
});

describe('a Sequential forward refused while its forwardAsync runs', () => {
  it('leaves the async forward and its backward as they were', async () => {
    const build = () =>
      new Sequential(
        [
          new Dense({ inputSize: 2, outputSize: 3, activation: 'tanh', seed: 1 }),
          new LSTM({ inputSize: 3, hiddenSize: 4, seed: 2 }),
        ],
        { batchFirst: false },
      );
    const x1 = input(3, 2, 2, 1);
    const x2 = input(3, 2, 2, 5);
    const dy = { output: new Tensor(new Float32Array(3 * 2 * 4).fill(1), [3, 2, 4]) };
    const want = build();
    await want.forwardAsync(x1, { train: true });
    const wantGrad = want.backward(dy).x!;

    const model = build();
    const pending = model.forwardAsync(x1, { train: true });
    let code: unknown;
    try {
      model.forward(x2, { train: true });
    } catch (e) {
      code = (e as { code?: unknown }).code;
    }
    expect(code).toBe(ErrorCode.BUSY);
    for (const call of [
      () => model.predict(new Tensor(new Float32Array(12), [2, 3, 2])),
      () =>
        model.evaluate(
          {
            x: new Tensor(new Float32Array(12), [2, 3, 2]),
            y: new Tensor(new Float32Array(24), [2, 3, 4]),
          },
          { loss: 'mse' },
        ),
      () => model.zeroGrad(),
      () => model.setParameters(model.parameters()),
    ]) {
      code = undefined;
      try {
        call();
      } catch (e) {
        code = (e as { code?: unknown }).code;
      }
      expect(code).toBe(ErrorCode.BUSY);
    }
    await pending;
    const got = model.backward(dy).x!;
    expect(Array.from(got.data)).toEqual(Array.from(wantGrad.data));
    expect(Object.values(model.gradients()).map((t) => Array.from(t.data))).toEqual(
      Object.values(want.gradients()).map((t) => Array.from(t.data)),
    );
  });
});
