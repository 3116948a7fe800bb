// dispose() and [Symbol.dispose] (issue 11, item 13): every object holding memory frees it at
// once; any later call is an Error with code ERR_CELLSTATE_DISPOSED; a second dispose does
// nothing; a layer with async work in flight refuses with ERR_CELLSTATE_BUSY (and stays usable).
import { describe, expect, it } from 'vitest';

import {
  ComposedSession,
  Dense,
  DisposedError,
  Dropout,
  Embedding,
  ErrorCode,
  GRU,
  LSTM,
  PoolSession,
  PooledSession,
  RNN,
  Sequential,
  StreamWorker,
  Tensor,
} from '../../lib/index';

const disposeSymbol: symbol =
  (Symbol as { dispose?: symbol }).dispose ?? Symbol.for('nodejs.dispose');

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return (e as { code?: string }).code;
  }
  return 'no error';
}

async function rejection(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (e) {
    return (e as { code?: string }).code;
  }
  return 'no error';
}

const DISPOSED = ErrorCode.DISPOSED;

function x3(T: number, B: number, I: number): Tensor {
  return new Tensor(
    Float32Array.from({ length: T * B * I }, (_, i) => Math.sin(i)),
    [T, B, I],
  );
}

describe('dispose', () => {
  it('has the code ERR_CELLSTATE_DISPOSED and a DisposedError class', () => {
    expect(ErrorCode.DISPOSED).toBe('ERR_CELLSTATE_DISPOSED');
    const layer = new GRU({ inputSize: 2, hiddenSize: 3, seed: 1 });
    layer.dispose();
    let error: unknown;
    try {
      layer.forward(x3(2, 1, 2));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(DisposedError);
    expect((error as Error).message).toContain('forward');
  });

  it.each([
    ['LSTM', () => new LSTM({ inputSize: 3, hiddenSize: 4, seed: 1 })],
    ['GRU', () => new GRU({ inputSize: 3, hiddenSize: 4, seed: 1 })],
    ['RNN', () => new RNN({ inputSize: 3, hiddenSize: 4, seed: 1 })],
  ])('a disposed %s refuses every call; twice is a no-op', async (_name, make) => {
    const layer = make();
    const out = layer.forward(x3(2, 1, 3), { train: true });
    const stream = layer.stream();
    const params = layer.parameters();
    expect(layer.disposed).toBe(false);
    layer.dispose();
    expect(layer.disposed).toBe(true);
    expect(() => layer.dispose()).not.toThrow();
    expect(code(() => layer.forward(x3(2, 1, 3)))).toBe(DISPOSED);
    expect(code(() => layer.forward(x3(2, 1, 3), { into: out }))).toBe(DISPOSED);
    expect(code(() => layer.backward())).toBe(DISPOSED);
    expect(code(() => layer.parameters())).toBe(DISPOSED);
    expect(code(() => layer.setParameters(params))).toBe(DISPOSED);
    expect(code(() => layer.gradients())).toBe(DISPOSED);
    expect(code(() => layer.zeroGrad())).toBe(DISPOSED);
    expect(code(() => layer.stream())).toBe(DISPOSED);
    expect(code(() => layer.streamPool())).toBe(DISPOSED);
    expect(await rejection(layer.forwardAsync(x3(2, 1, 3)))).toBe(DISPOSED);
    expect(await rejection(layer.backwardAsync())).toBe(DISPOSED);
    // Streams on it refuse too (they shared its weights).
    expect(code(() => stream.step(new Float32Array(3)))).toBe(DISPOSED);
    expect(code(() => stream.reset())).toBe(DISPOSED);
    expect(code(() => stream.getState())).toBe(DISPOSED);
    // [Symbol.dispose] on a disposed layer: nothing.
    expect(() => (layer as unknown as Record<symbol, () => void>)[disposeSymbol]()).not.toThrow();
  });

  it('[Symbol.dispose] disposes (what `using` calls)', () => {
    const layer = new LSTM({ inputSize: 2, hiddenSize: 2, seed: 1 });
    (layer as unknown as Record<symbol, () => void>)[disposeSymbol]();
    expect(layer.disposed).toBe(true);
  });

  it('refuses while forwardAsync runs (ERR_CELLSTATE_BUSY), then works once it settles', async () => {
    const layer = new LSTM({ inputSize: 16, hiddenSize: 32, seed: 1 });
    const pending = layer.forwardAsync(x3(50, 4, 16));
    expect(code(() => layer.dispose())).toBe(ErrorCode.BUSY);
    expect(layer.disposed).toBe(false);
    const result = await pending;
    expect(result.output.data.every(Number.isFinite)).toBe(true);
    layer.dispose();
    expect(layer.disposed).toBe(true);
  });

  it('a stream, a snapshot and a pool dispose on their own; the layer keeps working', () => {
    const layer = new GRU({ inputSize: 2, hiddenSize: 3, seed: 1 });
    const stream = layer.stream();
    stream.step(new Float32Array([1, 2]));
    const snap = stream.snapshot();
    const other = layer.stream();
    snap.dispose();
    snap.dispose();
    expect(snap.disposed).toBe(true);
    expect(code(() => other.restore(snap))).toBe(DISPOSED);
    expect(code(() => stream.snapshot(snap))).toBe(DISPOSED);
    stream.dispose();
    stream.dispose();
    expect(stream.disposed).toBe(true);
    expect(code(() => stream.step(new Float32Array([1, 2])))).toBe(DISPOSED);
    expect(code(() => stream.setState({ h: new Float32Array(3) }))).toBe(DISPOSED);
    expect(code(() => stream.snapshot())).toBe(DISPOSED);
    expect(other.step(new Float32Array([1, 2])).every(Number.isFinite)).toBe(true);

    const pool = layer.streamPool({ capacity: 2 });
    const a = pool.open();
    const b = pool.open();
    a.write(new Float32Array([1, 2]));
    pool.step();
    b.dispose(); // a session: closes it, later calls refused
    expect(b.closed).toBe(true);
    expect(code(() => b.write(new Float32Array([1, 2])))).toBe(DISPOSED);
    expect(code(() => b.close())).toBe('no error');
    expect(pool.size).toBe(1);
    pool.dispose();
    pool.dispose();
    expect(pool.disposed).toBe(true);
    expect(code(() => pool.open())).toBe(DISPOSED);
    expect(code(() => pool.step())).toBe(DISPOSED);
    expect(code(() => a.step(new Float32Array([1, 2])))).toBe(DISPOSED);
    expect(code(() => a.getState())).toBe(DISPOSED);
    expect(a.disposed && a.closed).toBe(true);
    expect(layer.forward(x3(2, 1, 2)).output.data.every(Number.isFinite)).toBe(true);
  });

  it("a StreamPool's and a ComposedPool's sessions dispose through one implementation", () => {
    for (const s of [PoolSession.prototype, ComposedSession.prototype]) {
      expect(s).toBeInstanceOf(PooledSession);
      expect(s.dispose).toBe(PooledSession.prototype.dispose);
      expect(s[disposeSymbol as typeof Symbol.dispose]).toBe(
        PooledSession.prototype[disposeSymbol as typeof Symbol.dispose],
      );
    }
    const model = new Sequential([new GRU({ inputSize: 2, hiddenSize: 3, seed: 1 })]);
    const pool = model.streamPool({ capacity: 2 });
    const a = pool.open();
    const b = pool.open();
    b.dispose();
    expect(b.disposed && b.closed && pool.size === 1).toBe(true);
    expect(code(() => b.reset())).toBe(DISPOSED);
    pool.dispose();
    expect(a.disposed && a.closed).toBe(true);
    expect(code(() => a.getState())).toBe(DISPOSED);
  });

  it('Dense, Embedding and Dropout refuse every call once disposed', () => {
    const dense = new Dense({ inputSize: 3, outputSize: 2, seed: 1 });
    const ds = dense.stream();
    ds.step(new Float32Array(3));
    dense.dispose();
    dense.dispose();
    expect(dense.disposed).toBe(true);
    expect(code(() => dense.forward(new Tensor(new Float32Array(3), [1, 3])))).toBe(DISPOSED);
    expect(code(() => dense.parameters())).toBe(DISPOSED);
    expect(code(() => dense.gradients())).toBe(DISPOSED);
    expect(code(() => dense.zeroGrad())).toBe(DISPOSED);
    expect(code(() => dense.stream())).toBe(DISPOSED);
    // Its packed weights are freed: a stream made before refuses.
    expect(code(() => ds.step(new Float32Array(3)))).toBe(DISPOSED);

    const emb = new Embedding({ numEmbeddings: 5, embeddingDim: 2, seed: 1 });
    emb.dispose();
    expect(code(() => emb.parameters())).toBe(DISPOSED);
    expect(code(() => emb.forward({ data: new Int32Array([1]), shape: [1, 1] }))).toBe(DISPOSED);

    const drop = new Dropout({ rate: 0.5, seed: 1 });
    drop.dispose();
    expect(code(() => drop.forward(new Tensor(new Float32Array(2), [1, 1, 2])))).toBe(DISPOSED);
    expect(code(() => drop.stream({ size: 2 }))).toBe(DISPOSED);
  });

  it('streams made before an Embedding or Dense was disposed refuse (no NaN, no size error)', () => {
    const emb = new Embedding({ numEmbeddings: 5, embeddingDim: 2, seed: 1 });
    const es = emb.stream();
    expect(Array.from(es.step(new Int32Array([3]))).every(Number.isFinite)).toBe(true);
    emb.dispose();
    expect(code(() => es.step(new Int32Array([3])))).toBe(DISPOSED);
    expect(code(() => es.step(new Float32Array([3])))).toBe(DISPOSED);

    // A stream made before setParameters holds the older packed weights.
    const dense = new Dense({ inputSize: 3, outputSize: 2, seed: 1 });
    const old = dense.stream();
    dense.setParameters(dense.parameters());
    const current = dense.stream();
    dense.dispose();
    expect(code(() => old.step(new Float32Array(3)))).toBe(DISPOSED);
    expect(code(() => current.step(new Float32Array(3)))).toBe(DISPOSED);

    // Through a model: an Embedding first, then a Dense.
    const model = new Sequential(
      [
        new Embedding({ numEmbeddings: 5, embeddingDim: 2, seed: 1 }),
        new Dense({ inputSize: 2, outputSize: 2, seed: 2 }),
      ],
      { batchFirst: true },
    );
    const ms = model.stream();
    const first = model.layers[0].stream();
    model.dispose();
    expect(code(() => first.step(new Int32Array([1])))).toBe(DISPOSED);
    expect(code(() => ms.step(new Int32Array([1])))).toBe(DISPOSED);
  });

  it("a Dropout's stream refuses once the Dropout is disposed, as every layer's does", () => {
    const drop = new Dropout({ rate: 0.5, seed: 1 });
    const ds = drop.stream({ size: 2 });
    expect(Array.from(ds.step(new Float32Array([1, 2])))).toEqual([1, 2]);
    drop.dispose();
    expect(code(() => ds.step(new Float32Array([1, 2])))).toBe(DISPOSED);
  });

  it('a Sequential disposes its layers; its streams and pools refuse', async () => {
    const model = new Sequential([
      new LSTM({ inputSize: 3, hiddenSize: 4, seed: 1 }),
      new Dense({ inputSize: 4, outputSize: 2, seed: 2 }),
    ]);
    const stream = model.stream();
    const pool = model.streamPool();
    const session = pool.open();
    model.dispose();
    model.dispose();
    expect(model.disposed).toBe(true);
    for (const layer of model.layers) expect(layer.disposed).toBe(true);
    expect(code(() => model.forward(x3(2, 1, 3)))).toBe(DISPOSED);
    expect(code(() => model.parameters())).toBe(DISPOSED);
    expect(code(() => model.stream())).toBe(DISPOSED);
    expect(await rejection(model.forwardAsync(x3(2, 1, 3)))).toBe(DISPOSED);
    expect(
      await rejection(
        model.fit({ x: x3(2, 2, 3), y: new Tensor(new Float32Array(8), [2, 2, 2]) }, {
          loss: 'mse',
          optimizer: 'sgd',
          epochs: 1,
        } as never),
      ),
    ).toBe(DISPOSED);
    expect(code(() => stream.step(new Float32Array(3)))).toBe(DISPOSED);
    expect(code(() => session.step(new Float32Array(3)))).toBe(DISPOSED);

    // A composed stream and pool dispose on their own too.
    const m2 = new Sequential([new GRU({ inputSize: 2, hiddenSize: 2, seed: 1 })]);
    const s2 = m2.stream();
    const p2 = m2.streamPool();
    s2.dispose();
    p2.dispose();
    expect(code(() => s2.step(new Float32Array(2)))).toBe(DISPOSED);
    expect(code(() => p2.open())).toBe(DISPOSED);
    expect(m2.forward(x3(2, 1, 2)).output.data.every(Number.isFinite)).toBe(true);
  });

  it('a Sequential with a busy layer refuses dispose and disposes nothing', async () => {
    const lstm = new LSTM({ inputSize: 16, hiddenSize: 32, seed: 1 });
    const model = new Sequential([lstm, new Dense({ inputSize: 32, outputSize: 2, seed: 2 })]);
    const pending = lstm.forwardAsync(x3(50, 4, 16));
    expect(code(() => model.dispose())).toBe(ErrorCode.BUSY);
    expect(model.disposed).toBe(false);
    for (const layer of model.layers) expect(layer.disposed).toBe(false);
    await pending;
    model.dispose();
    expect(lstm.disposed).toBe(true);
  });

  it('a StreamWorker terminates its thread; later calls reject with ERR_CELLSTATE_DISPOSED', async () => {
    const layer = new GRU({ inputSize: 2, hiddenSize: 3, seed: 1 });
    const worker = await StreamWorker.create(layer);
    const y = await worker.step(new Float32Array([1, 2]));
    expect(y.every(Number.isFinite)).toBe(true);
    worker.dispose();
    worker.dispose();
    expect(worker.disposed).toBe(true);
    expect(await rejection(worker.step(new Float32Array([1, 2])))).toBe(DISPOSED);
    expect(await rejection(worker.reset())).toBe(DISPOSED);
    await worker.terminate();
    expect(worker.closed).toBe(true);
  });
});
