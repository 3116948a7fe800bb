// ModelCheckpoint: the best epoch's parameters on disk (min and max modes, metrics, validation
// metrics), one file per epoch with {epoch}, atomic replacement, refusals.
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import {
  Adam,
  Dense,
  GRU,
  ModelCheckpoint,
  Sequential,
  Tensor,
  addingProblem,
  load,
  type EpochEndInfo,
} from '../../lib/index';

const dir = mkdtempSync(path.join(tmpdir(), 'cellstate-ckpt-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const makeModel = () =>
  new Sequential(
    [
      new GRU({ inputSize: 2, hiddenSize: 8, seed: 1 }),
      new Dense({ inputSize: 8, outputSize: 1, lastStep: true, seed: 2 }),
    ],
    { batchFirst: true },
  );

const info = (epoch: number, loss: number, extra: Partial<EpochEndInfo> = {}): EpochEndInfo => ({
  epoch,
  epochs: 10,
  loss,
  metrics: {},
  lr: 0.001,
  step: epoch + 1,
  seconds: 0,
  ...extra,
});

describe('ModelCheckpoint', () => {
  it('keeps the parameters of the best validation epoch, written atomically', async () => {
    const model = makeModel();
    const file = path.join(dir, 'best.cellstate');
    writeFileSync(file, 'an older file'); // replaced, not appended to
    const ckpt = new ModelCheckpoint(model, { path: file });
    const snapshots: Record<string, Tensor>[] = [];
    const h = await model.fit(addingProblem({ n: 256, T: 10, seed: 1 }), {
      loss: 'mse',
      optimizer: new Adam({ lr: 0.05 }), // large: the validation loss goes up and down
      epochs: 5,
      batchSize: 32,
      seed: 1,
      validationData: addingProblem({ n: 64, T: 10, seed: 2 }),
      callbacks: [ckpt, { onEpochEnd: () => void snapshots.push(model.parameters()) }],
      verbose: 0,
    });
    const best = h.valLoss.indexOf(Math.min(...h.valLoss));
    // with these seeds the last epoch is not the best (measured: epoch 3 of 0–4), so the file
    // must hold an earlier epoch's parameters than the model's final ones
    expect(best).toBeLessThan(4);
    expect(ckpt.bestEpoch).toBe(best);
    expect(ckpt.best).toBe(h.valLoss[best]);
    expect(ckpt.saved.length).toBeGreaterThanOrEqual(1);
    expect(ckpt.saved.length).toBeLessThanOrEqual(best + 1);
    const loaded = (await load(file)) as Sequential;
    const p = loaded.parameters();
    for (const [k, t] of Object.entries(snapshots[best])) expect(p[k].data).toEqual(t.data);
    expect(readdirSync(dir)).toEqual(['best.cellstate']); // no temporary file left behind
  });

  it('monitors a metric: max mode for accuracy-like keys, min for the rest, minDelta', async () => {
    const model = makeModel();
    const a = new ModelCheckpoint(model, {
      path: path.join(dir, 'acc-{epoch}.cellstate'),
      monitor: 'valAccuracy',
    });
    const values = [0.5, 0.7, 0.65, 0.9];
    for (const [e, v] of values.entries())
      await a.onEpochEnd(info(e, 1, { valLoss: 1, valMetrics: { accuracy: v } }));
    expect(a.saved.map((f) => path.basename(f))).toEqual([
      'acc-1.cellstate',
      'acc-2.cellstate',
      'acc-4.cellstate',
    ]);
    expect([a.best, a.bestEpoch]).toEqual([0.9, 3]);
    const m = new ModelCheckpoint(model, {
      path: path.join(dir, 'mae.cellstate'),
      monitor: 'mae',
      minDelta: 0.1,
    });
    for (const [e, v] of [1, 0.95, 0.8, Number.NaN, 0.75].entries())
      await m.onEpochEnd(info(e, 1, { metrics: { mae: v } }));
    expect([m.best, m.bestEpoch, m.saved.length]).toEqual([0.8, 2, 2]); // 0.95 and 0.75: < minDelta
    const all = new ModelCheckpoint(model, {
      path: path.join(dir, 'all-{epoch}.cellstate'),
      saveBestOnly: false,
      mode: 'max',
    });
    for (const e of [0, 1, 2]) await all.onEpochEnd(info(e, 3 - e));
    expect(all.saved).toHaveLength(3);
    expect(all.bestEpoch).toBe(0); // max mode on the loss: the first is the best
  });

  it('makes fit reject when the monitored value is missing, and refuses bad options', async () => {
    const model = makeModel();
    const ckpt = new ModelCheckpoint(model, {
      path: path.join(dir, 'x.cellstate'),
      monitor: 'valLoss',
    });
    await expect(
      model.fit(addingProblem({ n: 8, T: 4 }), { loss: 'mse', callbacks: [ckpt], verbose: 0 }),
    ).rejects.toMatchObject({
      code: 'ERR_CELLSTATE_INVALID_ARG',
      message: expect.stringMatching(/monitor 'valLoss' is not among this epoch's values \(loss\)/),
    });
    expect(() => new ModelCheckpoint(model, {} as never)).toThrow(TypeError);
    expect(() => new ModelCheckpoint(model, { path: 'a', mode: 'up' as never })).toThrow(
      expect.objectContaining({ code: 'ERR_CELLSTATE_INVALID_ARG' }),
    );
    expect(() => new ModelCheckpoint(model, { path: 'a', optimizer: 'adam' as never })).toThrow(
      TypeError,
    );
    expect(() => new ModelCheckpoint(null as never, { path: 'a' })).toThrow(TypeError);
    expect(() => new ModelCheckpoint(model, { path: 'a', minDelta: -1 })).toThrow(RangeError);
  });
});
