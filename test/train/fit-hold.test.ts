// While fit runs, the model and every one of its layers are fit's alone: calls that would run a
// forward or a backward or change weights or gradients get ERR_CELLSTATE_BUSY (from fit's
// callbacks too), read-only calls (parameters, config, streams) work, fit's result is the same
// as without them, and the hold ends when fit resolves, rejects or is aborted.
import { describe, expect, it } from 'vitest';

import {
  AbortError,
  Dense,
  Dropout,
  ErrorCode,
  LSTM,
  Sequential,
  Tensor,
  fromBuffer,
  toBuffer,
  type History,
} from '../../lib/index';
import { lcg } from '../helpers/fd';

const N = 12;
const T = 5;

function data() {
  const r = lcg(3);
  const x = new Float32Array(N * T * 2).map(() => r() * 2 - 1);
  const y = new Float32Array(N * T).map(() => r());
  return { x: new Tensor(x, [N, T, 2]), y: new Tensor(y, [N, T, 1]) };
}

// Dropout inside the LSTM and a Dropout layer: a training forward by anybody else would move
// their random streams, and so change fit's result.
function model(): Sequential {
  return new Sequential([
    new LSTM({ inputSize: 2, hiddenSize: 6, numLayers: 2, dropout: 0.3, seed: 1 }),
    new Dropout({ rate: 0.2, seed: 2 }),
    new Dense({ inputSize: 6, outputSize: 1, seed: 3 }),
  ]);
}

const OPTIONS = { loss: 'mse', epochs: 2, batchSize: 4, seed: 7, verbose: 0 } as const;

/** What fit computed, without the timings. */
function result(h: History, m: Sequential) {
  return {
    loss: h.loss,
    batchLoss: h.batchLoss,
    steps: h.steps,
    params: Object.fromEntries(
      Object.entries(m.parameters()).map(([k, t]) => [k, Array.from(t.data)]),
    ),
  };
}

/** Every call that must be refused while `m` fits, by name. Each throws or returns a promise. */
function refusedCalls(m: Sequential): [string, () => unknown][] {
  const [lstm, dropout, dense] = m.layers as [LSTM, Dropout, Dense];
  const x3 = new Tensor(new Float32Array(T * 2 * 2), [T, 2, 2]);
  const h3 = new Tensor(new Float32Array(T * 2 * 6), [T, 2, 6]);
  const d = data();
  return [
    ['lstm.forward train', () => lstm.forward(x3, { train: true })],
    ['lstm.forward', () => lstm.forward(x3)],
    ['lstm.forwardAsync', () => lstm.forwardAsync(x3, { train: true })],
    ['lstm.backward', () => lstm.backward({ output: new Tensor(new Float32Array(60), [T, 2, 6]) })],
    ['lstm.backwardAsync', () => lstm.backwardAsync()],
    ['lstm.setParameters', () => lstm.setParameters(lstm.parameters())],
    ['lstm.zeroGrad', () => lstm.zeroGrad()],
    ['lstm.gradients', () => lstm.gradients()],
    ['dropout.forward train', () => dropout.forward(h3, { train: true })],
    ['dropout.backward', () => dropout.backward({ output: h3 })],
    ['dense.forward train', () => dense.forward(h3, { train: true })],
    [
      'dense.backward',
      () => dense.backward({ output: new Tensor(new Float32Array(10), [T, 2, 1]) }),
    ],
    ['dense.setParameters', () => dense.setParameters(dense.parameters())],
    ['dense.zeroGrad', () => dense.zeroGrad()],
    ['dense.gradients', () => dense.gradients()],
    ['model.forward', () => m.forward(x3, { train: true })],
    ['model.forwardAsync', () => m.forwardAsync(x3)],
    ['model.backward', () => m.backward({ output: new Tensor(new Float32Array(10), [T, 2, 1]) })],
    [
      'model.backwardAsync',
      () => m.backwardAsync({ output: new Tensor(new Float32Array(10), [T, 2, 1]) }),
    ],
    ['model.predict', () => m.predict(d.x)],
    ['model.evaluate', () => m.evaluate(d, { loss: 'mse' })],
    ['model.predictAsync', () => m.predictAsync(d.x)],
    ['model.evaluateAsync', () => m.evaluateAsync(d, { loss: 'mse' })],
    ['lstm.predictAsync', () => lstm.predictAsync(x3)],
    ['model.setParameters', () => m.setParameters(m.parameters())],
    ['model.zeroGrad', () => m.zeroGrad()],
    ['model.gradients', () => m.gradients()],
    ['model.fit', () => m.fit(d, OPTIONS)],
  ];
}

function codeOf(error: unknown): string {
  return String((error as { code?: string }).code ?? (error as Error).name);
}

/** Calls `f` now; resolves to the code of its error (thrown or rejected), or 'ok'. */
function attempt(f: () => unknown): Promise<string> {
  try {
    return Promise.resolve(f()).then(() => 'ok', codeOf);
  } catch (error) {
    return Promise.resolve(codeOf(error));
  }
}

async function outcome(f: () => unknown): Promise<string> {
  return attempt(f);
}

/**
 * Makes every refused call at once (synchronously: all of them while fit holds the model, even
 * the async ones, which are refused before they start), then expects BUSY from each. Returns
 * how many were tried.
 */
async function expectAllBusy(m: Sequential, where: string): Promise<number> {
  const calls = refusedCalls(m);
  const codes = calls.map(([, f]) => attempt(f));
  expectReadsWork(m);
  const got = await Promise.all(codes);
  calls.forEach(([name], i) => expect(got[i], `${name} ${where}`).toBe(ErrorCode.BUSY));
  return calls.length;
}

/** The read-only calls allowed during fit; they must work. */
function expectReadsWork(m: Sequential): void {
  expect(Object.keys(m.parameters()).length).toBeGreaterThan(0);
  expect(m.config.layers.length).toBe(3);
  expect(m.layers[0].parameters().weight_ih_l0.shape).toEqual([24, 2]);
  const s = m.stream();
  expect(s.step(new Float32Array([0.5, -0.5])).length).toBe(1);
  expect((m.layers[0] as LSTM).stream().step(new Float32Array(2)).length).toBe(6);
  // A checkpoint: the weights of the latest update.
  const copy = fromBuffer(toBuffer(m)) as Sequential;
  expect(Array.from(copy.parameters()['2.weight'].data)).toEqual(
    Array.from(m.parameters()['2.weight'].data),
  );
}

describe('fit holds its model', () => {
  it('refuses every other call on the model and its layers, and fit computes the same', async () => {
    const quiet = model();
    const want = result(await quiet.fit(data(), OPTIONS), quiet);

    const m = model();
    let tries = 0;
    let inCallback = 0;
    const fitting = m.fit(data(), {
      ...OPTIONS,
      callbacks: {
        onBatchEnd: async () => {
          inCallback += await expectAllBusy(m, 'in onBatchEnd');
        },
        onEpochEnd: async () => {
          inCallback += await expectAllBusy(m, 'in onEpochEnd');
        },
      },
    });
    let running = true;
    const stop = () => {
      running = false;
    };
    fitting.then(stop, stop);
    // Between fit's steps: at every turn of the event loop until fit settles (a macrotask, so
    // never between fit's release and the settling of its promise).
    for (;;) {
      await new Promise((r) => setImmediate(r));
      if (!running) break;
      tries += await expectAllBusy(m, 'between steps');
    }
    const h = await fitting;
    expect(tries).toBeGreaterThan(0);
    expect(inCallback).toBeGreaterThan(0);
    // Bit-identical: nothing of the refused calls reached the training.
    expect(result(h, m)).toEqual(want);
  });

  it('refuses to dispose the model or a layer while fit holds them; dispose works after', async () => {
    const m = model();
    const [lstm, dropout, dense] = m.layers as [LSTM, Dropout, Dense];
    const fitting = m.fit(data(), OPTIONS);
    for (const [name, f] of [
      ['model', () => m.dispose()],
      ['lstm', () => lstm.dispose()],
      ['dropout', () => dropout.dispose()],
      ['dense', () => dense.dispose()],
    ] as const)
      expect(await outcome(f), name).toBe(ErrorCode.BUSY);
    expect(m.disposed || lstm.disposed || dropout.disposed || dense.disposed).toBe(false);
    expect((await fitting).steps).toBe(6);
    m.dispose();
    expect([m.disposed, lstm.disposed, dropout.disposed, dense.disposed]).toEqual([
      true,
      true,
      true,
      true,
    ]);
  });

  it('releases the model when fit resolves', async () => {
    const m = model();
    await m.fit(data(), OPTIONS);
    for (const [name, f] of refusedCalls(m)) {
      if (name === 'model.fit') continue;
      expect(await outcome(f), name).not.toBe(ErrorCode.BUSY);
    }
    expect((await m.fit(data(), OPTIONS)).steps).toBe(6);
  });

  it('releases the model when fit rejects (a callback throws)', async () => {
    const m = model();
    const failing = m.fit(data(), {
      ...OPTIONS,
      callbacks: {
        onBatchEnd: () => {
          throw new Error('callback failed');
        },
      },
    });
    expect(await outcome(() => m.predict(data().x))).toBe(ErrorCode.BUSY);
    await expect(failing).rejects.toThrow('callback failed');
    expect(await outcome(() => m.predict(data().x))).toBe('ok');
    expect(
      await outcome(() =>
        m.layers[0].forward(new Tensor(new Float32Array(4), [1, 2, 2]), { train: true }),
      ),
    ).toBe('ok');
    expect((await m.fit(data(), OPTIONS)).steps).toBe(6);
  });

  it('releases the model when fit is aborted, or refused before it starts', async () => {
    const m = model();
    const ac = new AbortController();
    const aborted = m.fit(data(), {
      ...OPTIONS,
      signal: ac.signal,
      callbacks: { onBatchEnd: (i) => (i.step === 2 ? ac.abort() : undefined) },
    });
    await expect(aborted).rejects.toBeInstanceOf(AbortError);
    expect(await outcome(() => m.zeroGrad())).toBe('ok');
    expect(await outcome(() => m.evaluate(data(), { loss: 'mse' }))).toBe('ok');
    // A signal aborted before fit: refused, and nothing held.
    await expect(m.fit(data(), { ...OPTIONS, signal: AbortSignal.abort() })).rejects.toBeInstanceOf(
      AbortError,
    );
    expect(await outcome(() => m.setParameters(m.parameters()))).toBe('ok');
    // Bad options: refused before the hold.
    await expect(m.fit(data(), { ...OPTIONS, epochs: 0 })).rejects.toThrow(RangeError);
    expect((await m.fit(data(), OPTIONS)).steps).toBe(6);
  });

  it('holds a layer shared with another model', async () => {
    const shared = new LSTM({ inputSize: 2, hiddenSize: 6, seed: 1 });
    const a = new Sequential([shared, new Dense({ inputSize: 6, outputSize: 1, seed: 2 })]);
    const b = new Sequential([shared, new Dense({ inputSize: 6, outputSize: 1, seed: 3 })]);
    const fitting = a.fit(data(), OPTIONS);
    expect(await outcome(() => b.predict(data().x))).toBe(ErrorCode.BUSY);
    await expect(b.fit(data(), OPTIONS)).rejects.toThrow(/its layer 0 is already training/);
    // b's own Dense is not held.
    expect(await outcome(() => b.layers[1].forward(new Tensor(new Float32Array(6), [1, 6])))).toBe(
      'ok',
    );
    await fitting;
    expect(await outcome(() => b.predict(data().x))).toBe('ok');
  });
});
