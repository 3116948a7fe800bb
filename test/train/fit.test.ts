// fit: determinism, the event loop, cancellation, early stopping, validation, truncated BPTT,
// non-finite values, callbacks, progress output, predict and evaluate, refusals.
import { describe, expect, it } from 'vitest';

import {
  AbortError,
  Adam,
  Dense,
  Dropout,
  Embedding,
  GRU,
  LSTM,
  NonFiniteError,
  RNN,
  SGD,
  Sequential,
  StepDecay,
  Tensor,
} from '../../lib/index';
import { lcg } from '../helpers/fd';

/** N sequences of T steps: x [N, T, 2], y = running mean of x[:, :, 0] per step ([N, T, 1]) and at the end ([N, 1]). */
function toyData(N: number, T: number, seed: number) {
  const r = lcg(seed);
  const x = new Float32Array(N * T * 2);
  const ySeq = new Float32Array(N * T);
  const yLast = new Float32Array(N);
  for (let n = 0; n < N; ++n) {
    let s = 0;
    for (let t = 0; t < T; ++t) {
      const v = r();
      x[(n * T + t) * 2] = v;
      x[(n * T + t) * 2 + 1] = r();
      s += v;
      ySeq[n * T + t] = s / (t + 1);
    }
    yLast[n] = s / T;
  }
  return {
    x: new Tensor(x, [N, T, 2]),
    ySeq: new Tensor(ySeq, [N, T, 1]),
    yLast: new Tensor(yLast, [N, 1]),
  };
}

const lastStepModel = (seed = 1) =>
  new Sequential([
    new LSTM({ inputSize: 2, hiddenSize: 8, seed }),
    new Dropout({ rate: 0.1, seed: seed + 1 }),
    new Dense({ inputSize: 8, outputSize: 1, lastStep: true, seed: seed + 2 }),
  ]);

const perStepModel = (seed = 1) =>
  new Sequential([
    new GRU({ inputSize: 2, hiddenSize: 6, seed }),
    new Dense({ inputSize: 6, outputSize: 1, seed: seed + 1 }),
  ]);

describe('fit', () => {
  it('learns a small task, and returns a History', async () => {
    const d = toyData(64, 10, 1);
    const m = lastStepModel();
    const before = m.evaluate({ x: d.x, y: d.yLast }, { loss: 'mse' });
    const h = await m.fit(
      { x: d.x, y: d.yLast },
      {
        loss: 'mse',
        optimizer: new Adam({ lr: 0.02 }),
        epochs: 15,
        batchSize: 16,
        seed: 3,
        verbose: 0,
      },
    );
    const after = m.evaluate({ x: d.x, y: d.yLast }, { loss: 'mse' });
    expect(after).toBeLessThan(before / 4);
    expect(h.epochs).toBe(15);
    expect(h.steps).toBe(60);
    expect(h.loss).toHaveLength(15);
    expect(h.batchLoss).toHaveLength(60);
    expect(h.lr).toEqual(new Array(15).fill(0.02));
    expect(h.stopReason).toBe('completed');
    expect(h.seed).toBe(3);
    expect(h.samplesPerSecond).toBeGreaterThan(0);
    expect(h.timestepsPerSecond).toBeCloseTo(h.samplesPerSecond * 10, 3);
  });

  it('is deterministic: same seeds, data and options give the same weights', async () => {
    const d = toyData(40, 8, 2);
    const run = async () => {
      const m = lastStepModel(5);
      await m.fit(
        { x: d.x, y: d.yLast },
        {
          loss: 'mse',
          optimizer: 'adam',
          epochs: 3,
          batchSize: 7,
          seed: 11,
          validationSplit: 0.2,
          verbose: 0,
        },
      );
      return m.parameters();
    };
    const a = await run();
    const b = await run();
    for (const k of Object.keys(a))
      expect(Buffer.from(b[k].data.buffer).equals(Buffer.from(a[k].data.buffer))).toBe(true);
    // and another shuffling seed gives other weights
    const m = lastStepModel(5);
    await m.fit(
      { x: d.x, y: d.yLast },
      { loss: 'mse', epochs: 3, batchSize: 7, seed: 12, validationSplit: 0.2, verbose: 0 },
    );
    expect(m.parameters()['0.weight_hh_l0'].data).not.toEqual(a['0.weight_hh_l0'].data);
  });

  it('lets the event loop turn while it trains', async () => {
    const d = toyData(64, 50, 3);
    const m = new Sequential([
      new LSTM({ inputSize: 2, hiddenSize: 64, seed: 1 }),
      new Dense({ inputSize: 64, outputSize: 1, lastStep: true, seed: 2 }),
    ]);
    let ticks = 0;
    let running = true;
    const tick = () => {
      if (!running) return;
      ticks++;
      setImmediate(tick);
    };
    setImmediate(tick);
    let timerFired = 0;
    const timer = setInterval(() => timerFired++, 1);
    const ticksAtBatch: number[] = [];
    await m.fit(
      { x: d.x, y: d.yLast },
      {
        loss: 'mse',
        epochs: 1,
        batchSize: 8,
        seed: 1,
        verbose: 0,
        callbacks: { onBatchEnd: () => void ticksAtBatch.push(ticks) },
      },
    );
    running = false;
    clearInterval(timer);
    expect(ticksAtBatch).toHaveLength(8);
    // the loop turned between every two batches, and timers ran during training
    for (let i = 1; i < ticksAtBatch.length; ++i)
      expect(ticksAtBatch[i]).toBeGreaterThan(ticksAtBatch[i - 1]);
    expect(timerFired).toBeGreaterThan(0);
  });

  it('stops cleanly on its AbortSignal: rejects with an AbortError carrying the History', async () => {
    const d = toyData(64, 10, 4);
    const m = lastStepModel();
    const ac = new AbortController();
    const p = m.fit(
      { x: d.x, y: d.yLast },
      {
        loss: 'mse',
        epochs: 5,
        batchSize: 8,
        verbose: 0,
        signal: ac.signal,
        callbacks: { onBatchEnd: (i) => (i.step === 3 ? ac.abort() : undefined) },
      },
    );
    const error = await p.then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(AbortError);
    const e = error as AbortError;
    expect(e.name).toBe('AbortError');
    expect(e.code).toBe('ABORT_ERR');
    expect(e.message).toBe('fit: aborted by its signal');
    expect(e.history?.steps).toBe(3);
    expect(e.history?.batchLoss).toHaveLength(3);
    expect(e.history?.stopReason).toBe('aborted');
    // the model is whole and usable: predict and another fit work
    expect(m.predict(d.x).shape).toEqual([64, 1]);
    const h = await m.fit(
      { x: d.x, y: d.yLast },
      { loss: 'mse', epochs: 1, batchSize: 32, verbose: 0 },
    );
    expect(h.steps).toBe(2);
    await expect(
      m.fit({ x: d.x, y: d.yLast }, { loss: 'mse', signal: AbortSignal.abort(), verbose: 0 }),
    ).rejects.toThrow(AbortError);
  });

  it('stops early when the monitored loss stops improving, restoring the best weights', async () => {
    const d = toyData(32, 6, 5);
    const m = perStepModel();
    // lr 0: the loss never improves by more than minDelta (epochs differ only by summation order)
    const h = await m.fit(
      { x: d.x, y: d.ySeq },
      {
        loss: 'mse',
        optimizer: new SGD({ lr: 0 }),
        epochs: 20,
        batchSize: 16,
        seed: 1,
        verbose: 0,
        earlyStopping: { patience: 3, minDelta: 1e-9 },
      },
    );
    expect(h.stopReason).toBe('earlyStopping');
    expect(h.epochs).toBe(4);
    expect(h.bestEpoch).toBe(0);
    // with learning and a validation split, the best epoch's weights are restored
    const m2 = perStepModel();
    const h2 = await m2.fit(
      { x: d.x, y: d.ySeq },
      {
        loss: 'mse',
        optimizer: new Adam({ lr: 0.5 }),
        epochs: 30,
        batchSize: 8,
        seed: 2,
        verbose: 0,
        validationSplit: 0.25,
        earlyStopping: { patience: 2 },
      },
    );
    const tail = {
      x: new Tensor(d.x.data.slice(24 * 6 * 2), [8, 6, 2]),
      y: new Tensor(d.ySeq.data.slice(24 * 6), [8, 6, 1]),
    };
    expect(h2.stopReason).toBe('earlyStopping');
    expect(h2.valLoss.length).toBeGreaterThan((h2.bestEpoch as number) + 2);
    expect(m2.evaluate(tail, { loss: 'mse' })).toBeCloseTo(Math.min(...h2.valLoss), 5);
  });

  it('holds out a validation split and reports its loss each epoch', async () => {
    const d = toyData(50, 6, 6);
    const m = perStepModel();
    const h = await m.fit(
      { x: d.x, y: d.ySeq },
      { loss: 'mse', epochs: 3, batchSize: 10, validationSplit: 0.2, verbose: 0, seed: 1 },
    );
    expect(h.valLoss).toHaveLength(3);
    expect(h.steps).toBe(12); // 40 training samples, batches of 10
    const tail = {
      x: new Tensor(d.x.data.slice(40 * 6 * 2), [10, 6, 2]),
      y: new Tensor(d.ySeq.data.slice(40 * 6), [10, 6, 1]),
    };
    expect(h.valLoss[2]).toBeCloseTo(m.evaluate(tail, { loss: 'mse' }), 5);
    const h2 = await m.fit(
      { x: d.x, y: d.ySeq },
      { loss: 'mse', epochs: 2, validationData: tail, verbose: 0, earlyStopping: true },
    );
    expect(h2.valLoss).toHaveLength(2);
  });

  it('truncated BPTT carries the state across chunks (lr 0: the chunked loss equals the whole-sequence loss)', async () => {
    const d = toyData(12, 20, 7);
    const lengths = [20, 13, 7, 1, 20, 5, 9, 20, 16, 3, 11, 20];
    const m = perStepModel(3);
    const whole = m.evaluate({ x: d.x, y: d.ySeq, lengths }, { loss: 'mse' });
    const h = await m.fit(
      { x: d.x, y: d.ySeq, lengths },
      {
        loss: 'mse',
        optimizer: new SGD({ lr: 0 }),
        bpttLength: 6,
        batchSize: 12,
        shuffle: false,
        verbose: 0,
      },
    );
    expect(h.steps).toBe(4); // ceil(20 / 6) chunks, one update each
    expect(h.loss[0]).toBeCloseTo(whole, 5);
    // and with learning, chunked training improves the loss
    const h2 = await m.fit(
      { x: d.x, y: d.ySeq, lengths },
      {
        loss: 'mse',
        optimizer: new Adam({ lr: 0.02 }),
        bpttLength: 5,
        batchSize: 4,
        epochs: 10,
        verbose: 0,
        seed: 1,
      },
    );
    expect(h2.loss[9]).toBeLessThan(h2.loss[0]);
    // a bpttLength ≥ T is whole-sequence training
    const a = perStepModel(4);
    const b = perStepModel(4);
    await a.fit(
      { x: d.x, y: d.ySeq },
      { loss: 'mse', bpttLength: 20, batchSize: 6, seed: 2, verbose: 0 },
    );
    await b.fit({ x: d.x, y: d.ySeq }, { loss: 'mse', batchSize: 6, seed: 2, verbose: 0 });
    expect(a.parameters()['1.weight'].data).toEqual(b.parameters()['1.weight'].data);
  });

  it('truncated BPTT on token ids with class-index targets and lengths', async () => {
    const N = 6;
    const T = 12;
    const r = lcg(21);
    const ids = new Int32Array(N * T);
    const next = new Int32Array(N * T);
    for (let i = 0; i < N * T; ++i) ids[i] = Math.floor(((r() + 1) / 2) * 5);
    for (let n = 0; n < N; ++n)
      for (let t = 0; t < T; ++t) next[n * T + t] = ids[n * T + ((t + 1) % T)];
    const m = new Sequential([
      new Embedding({ numEmbeddings: 5, embeddingDim: 3, seed: 1 }),
      new LSTM({ inputSize: 3, hiddenSize: 8, seed: 2 }),
      new Dense({ inputSize: 8, outputSize: 5, seed: 3 }),
    ]);
    const data = {
      x: { data: ids, shape: [N, T] },
      y: { data: next, shape: [N, T] },
      lengths: [12, 5, 9, 1, 12, 7],
    };
    const whole = m.evaluate(data, { loss: 'crossEntropy' });
    const h0 = await m.fit(data, {
      loss: 'crossEntropy',
      optimizer: new SGD({ lr: 0 }),
      bpttLength: 4,
      batchSize: 6,
      shuffle: false,
      verbose: 0,
    });
    expect(h0.steps).toBe(3);
    expect(h0.loss[0]).toBeCloseTo(whole, 5);
    const h = await m.fit(data, {
      loss: 'crossEntropy',
      optimizer: new Adam({ lr: 0.05 }),
      bpttLength: 4,
      batchSize: 3,
      epochs: 20,
      seed: 1,
      verbose: 0,
    });
    expect(h.loss[19]).toBeLessThan(h.loss[0]);
  });

  it('stops on a non-finite loss, naming the step and the layer, unless nanPolicy is skip', async () => {
    const d = toyData(16, 5, 8);
    const x = d.x.data.slice();
    x[(9 * 5 + 2) * 2] = NaN; // sample 9
    const m = lastStepModel();
    const error = await m
      .fit(
        { x: new Tensor(x, [16, 5, 2]), y: d.yLast },
        { loss: 'mse', batchSize: 4, shuffle: false, verbose: 0 },
      )
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NonFiniteError);
    const e = error as NonFiniteError;
    expect(e.code).toBe('ERR_CELLSTATE_NON_FINITE');
    expect(e.message).toMatch(
      /the loss is NaN at epoch 0, batch 2 \(update 3\): the output of layer 0 \(LSTM\) holds NaN/,
    );
    expect([e.epoch, e.batch, e.step, e.layer]).toEqual([0, 2, 2, 0]);

    const y = d.yLast.data.slice();
    y[1] = Infinity;
    const m2 = lastStepModel();
    await expect(
      m2.fit(
        { x: d.x, y: new Tensor(y, [16, 1]) },
        { loss: 'mse', batchSize: 4, shuffle: false, verbose: 0 },
      ),
    ).rejects.toThrow(
      /the loss is Infinity at epoch 0, batch 0 \(update 1\): the predictions or the targets are out of range/,
    );

    const m3 = lastStepModel();
    const h = await m3.fit(
      { x: new Tensor(x, [16, 5, 2]), y: d.yLast },
      { loss: 'mse', batchSize: 4, shuffle: false, verbose: 0, nanPolicy: 'skip' },
    );
    expect(h.skipped).toBe(1);
    expect(h.steps).toBe(3);
    for (const t of Object.values(m3.parameters()))
      expect(t.data.every(Number.isFinite)).toBe(true);
  });

  it('calls back per batch and per epoch; a callback returning false stops; maxSteps stops', async () => {
    const d = toyData(20, 4, 9);
    const m = lastStepModel();
    const epochs: number[] = [];
    const h = await m.fit(
      { x: d.x, y: d.yLast },
      {
        loss: 'mse',
        epochs: 10,
        batchSize: 5,
        verbose: 0,
        schedule: new StepDecay({ stepSize: 1, gamma: 0.5 }),
        optimizer: new Adam({ lr: 0.1 }),
        callbacks: {
          onEpochEnd: async (info) => {
            epochs.push(info.epoch);
            await new Promise((r) => setTimeout(r, 1));
            return info.epoch < 2;
          },
        },
      },
    );
    expect(epochs).toEqual([0, 1, 2]);
    expect(h.stopReason).toBe('callback');
    expect(h.lr).toEqual([0.1, 0.05, 0.025]);
    const h2 = await m.fit(
      { x: d.x, y: d.yLast },
      { loss: 'mse', epochs: 10, batchSize: 5, verbose: 0, maxSteps: 6 },
    );
    expect(h2.steps).toBe(6);
    expect(h2.stopReason).toBe('maxSteps');
  });

  it('draws a progress bar on a terminal only, and a line per epoch with verbose 2', async () => {
    const d = toyData(16, 4, 10);
    const run = async (isTTY: boolean, verbose: 0 | 1 | 2) => {
      let text = '';
      const output = { isTTY, columns: 100, write: (s: string) => ((text += s), true) };
      await lastStepModel().fit(
        { x: d.x, y: d.yLast },
        { loss: 'mse', epochs: 2, batchSize: 4, verbose, output },
      );
      return text;
    };
    const tty = await run(true, 1);
    expect(tty).toMatch(/Epoch 1\/2 .*4\/4 · loss \d\.\d+ · \d+ seq\/s/);
    expect(tty).toMatch(/Epoch 2\/2/);
    expect(tty.split('\n').filter((l) => l.length > 0)).toHaveLength(2);
    expect(await run(false, 1)).toBe('');
    expect(await run(true, 0)).toBe('');
    expect((await run(false, 2)).trim().split('\n')).toHaveLength(2);
  });

  it('fuses a final softmax into crossEntropy; predict returns probabilities', async () => {
    // classify which of 3 inputs is largest at the last step, tokens via an Embedding
    const N = 60;
    const T = 5;
    const r = lcg(12);
    const ids = new Int32Array(N * T);
    const y = new Int32Array(N);
    for (let n = 0; n < N; ++n) {
      for (let t = 0; t < T; ++t) ids[n * T + t] = Math.floor(((r() + 1) / 2) * 4);
      y[n] = ids[n * T] % 3;
    }
    const m = new Sequential([
      new Embedding({ numEmbeddings: 4, embeddingDim: 4, seed: 1 }),
      new RNN({ inputSize: 4, hiddenSize: 12, seed: 2 }),
      new Dense({ inputSize: 12, outputSize: 3, activation: 'softmax', lastStep: true, seed: 3 }),
    ]);
    const data = { x: { data: ids, shape: [N, T] }, y };
    const before = m.evaluate(data, { loss: 'crossEntropy' });
    await m.fit(data, {
      loss: 'crossEntropy',
      optimizer: new Adam({ lr: 0.03 }),
      epochs: 30,
      batchSize: 20,
      seed: 1,
      verbose: 0,
    });
    expect(m.evaluate(data, { loss: 'crossEntropy' })).toBeLessThan(before / 2);
    const p = m.predict({ data: ids, shape: [N, T] });
    expect(p.shape).toEqual([N, 3]);
    for (let n = 0; n < N; ++n)
      expect(p.data[n * 3] + p.data[n * 3 + 1] + p.data[n * 3 + 2]).toBeCloseTo(1, 5);
  });

  it('predict is forward on sample-first data', () => {
    const d = toyData(5, 4, 11);
    const m = perStepModel();
    const p = m.predict(d.x, { lengths: [4, 2, 1, 3, 4], batchSize: 2 });
    expect(p.shape).toEqual([5, 4, 1]);
    const xt = new Float32Array(4 * 5 * 2); // time-major
    for (let n = 0; n < 5; ++n)
      for (let t = 0; t < 4; ++t)
        xt.set(d.x.data.subarray((n * 4 + t) * 2, (n * 4 + t) * 2 + 2), (t * 5 + n) * 2);
    const f = m.forward(new Tensor(xt, [4, 5, 2]), { lengths: [4, 2, 1, 3, 4] }).output;
    for (let n = 0; n < 5; ++n)
      for (let t = 0; t < 4; ++t) expect(p.data[n * 4 + t]).toBeCloseTo(f.data[t * 5 + n], 6);
  });

  it('keeps an optimizer instance state across fit calls: two calls equal one of two epochs', async () => {
    const d = toyData(8, 3, 12);
    const data = { x: d.x, y: d.yLast };
    const opts = { loss: 'mse' as const, batchSize: 4, shuffle: false, verbose: 0 as const };
    const opt = new Adam({ lr: 0.01 });
    const a = lastStepModel();
    await a.fit(data, { ...opts, optimizer: opt });
    await a.fit(data, { ...opts, optimizer: opt });
    expect(opt.steps).toBe(4);
    expect(Object.keys(opt.state().buffers)).toEqual(Object.keys(a.parameters()));
    const b = lastStepModel();
    await b.fit(data, { ...opts, optimizer: new Adam({ lr: 0.01 }), epochs: 2 });
    const pa = a.parameters();
    const pb = b.parameters();
    for (const k of Object.keys(pa)) expect(pa[k].data).toEqual(pb[k].data);
  });

  it('refuses bad options and data', async () => {
    const d = toyData(8, 3, 13);
    const m = lastStepModel();
    await expect(m.fit({ x: d.x, y: d.yLast }, {} as never)).rejects.toThrow(/loss is required/);
    await expect(m.fit({ x: d.x, y: d.ySeq }, { loss: 'mse' })).rejects.toThrow(
      /fit: y must have shape \[N, O=1\] \(or \[N\]\), got \[8, 3, 1\]/,
    );
    await expect(m.fit({ x: d.x, y: d.yLast }, { loss: 'mse', bpttLength: 2 })).rejects.toThrow(
      /bpttLength needs a model with an output at every step/,
    );
    await expect(
      m.fit(
        { x: d.x, y: d.yLast },
        { loss: 'mse', validationSplit: 0.5, validationData: { x: d.x, y: d.yLast } },
      ),
    ).rejects.toThrow(/not both/);
    await expect(m.fit({ x: d.x, y: d.yLast }, { loss: 'hinge' as never })).rejects.toThrow(
      /loss must be 'mse'/,
    );
    await expect(
      m.fit({ x: d.x, y: d.yLast }, { loss: 'mse', batchsize: 3 } as never),
    ).rejects.toThrow(/unknown option 'batchsize'/);
    await expect(
      m.fit({ x: d.x, y: d.yLast }, { loss: 'mse', earlyStopping: { monitor: 'valLoss' } }),
    ).rejects.toThrow(/no validationData/);
    await expect(m.fit({ x: d.x, y: d.yLast, lengths: [1, 2] }, { loss: 'mse' })).rejects.toThrow(
      /lengths must have shape \[B=8\], got \[2\]/,
    );
    await expect(
      m.fit({ x: d.x, y: Int32Array.from([0, 1, 0, 1, 0, 1, 0, 1]) }, { loss: 'mse' }),
    ).rejects.toThrow(/class indices are for crossEntropy/);
    const first = m.fit({ x: d.x, y: d.yLast }, { loss: 'mse', verbose: 0 });
    await expect(m.fit({ x: d.x, y: d.yLast }, { loss: 'mse', verbose: 0 })).rejects.toThrow(
      /already training/,
    );
    await first;
  });
});
