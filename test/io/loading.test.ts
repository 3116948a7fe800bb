// What load, fromBuffer and importOnnx return (a LoadedModel, or the class given as `expect`,
// checked before anything changes), and the warnings of a PyTorch import that had to assume
// batch_first or an RNN's nonlinearity.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import {
  Adam,
  CellstateError,
  Dense,
  ErrorCode,
  GRU,
  LSTM,
  Recurrent,
  Sequential,
  fromBuffer,
  fromOnnx,
  importOnnx,
  load,
  toBuffer,
  toOnnx,
} from '../../lib/index';

const dataDir = path.resolve(__dirname, '../data');
const bytesOf = (name: string) => readFileSync(path.join(dataDir, name));

let warnings: (Error & { code?: string })[] = [];
const onWarning = (w: Error) => warnings.push(w);
beforeEach(() => {
  warnings = [];
  process.on('warning', onWarning);
});
afterEach(() => {
  process.off('warning', onWarning);
});
const settle = () => new Promise((r) => setImmediate(r));
const guesses = () => warnings.filter((w) => w.code === 'CELLSTATE_PYTORCH_GUESS');

describe('load, fromBuffer and importOnnx: expect', () => {
  it('returns the model when it is of the class given, and refuses another before changing anything', async () => {
    const lstm = new LSTM({ inputSize: 2, hiddenSize: 3, seed: 1 });
    const adam = new Adam({ lr: 0.1 });
    const bytes = toBuffer(lstm, { optimizer: new Adam({ lr: 0.1 }) });
    expect(fromBuffer(bytes, { expect: LSTM })).toBeInstanceOf(LSTM);
    expect(fromBuffer(bytes, { expect: Recurrent })).toBeInstanceOf(LSTM);
    expect(await load(bytes, { expect: LSTM })).toBeInstanceOf(LSTM);
    const before = JSON.stringify(adam.state());
    const e = (() => {
      try {
        fromBuffer(bytes, { expect: GRU, optimizer: adam });
      } catch (error) {
        return error as CellstateError;
      }
      return null;
    })();
    expect(e).toBeInstanceOf(CellstateError);
    expect(e!.code).toBe(ErrorCode.FILE_CONFIG);
    expect(e!.message).toContain('the file holds an LSTM, not the GRU given as expect');
    expect(JSON.stringify(adam.state())).toBe(before); // the optimizer was not restored
    expect(() => fromBuffer(bytes, { expect: Date as never })).toThrow(TypeError);
    expect(() => fromBuffer(bytes, { expect: Sequential })).toThrow(/not the Sequential/);
  });

  it('importOnnx and fromOnnx take expect too', async () => {
    const dense = new Dense({ inputSize: 3, outputSize: 2, seed: 1 });
    const onnx = toOnnx(dense);
    expect(fromOnnx(onnx, { expect: Dense })).toBeInstanceOf(Dense);
    expect(await importOnnx(onnx, { expect: Dense })).toBeInstanceOf(Dense);
    await expect(importOnnx(onnx, { expect: LSTM })).rejects.toThrow(/not the LSTM/);
    await expect(importOnnx(onnx, { other: 1 } as never)).rejects.toThrow(TypeError);
  });

  it('every model has predict, forward, outputSize, config and parameters', async () => {
    const x = [[[1, 2, 3]]];
    for (const m of [
      new LSTM({ inputSize: 3, hiddenSize: 2, seed: 1 }),
      new GRU({ inputSize: 3, hiddenSize: 2, seed: 1 }),
      new Dense({ inputSize: 3, outputSize: 2, seed: 1 }),
      new Sequential([new LSTM({ inputSize: 3, hiddenSize: 2, seed: 1 })], { batchFirst: true }),
    ]) {
      const loaded = fromBuffer(toBuffer(m));
      expect(loaded.outputSize).toBe(2);
      expect(loaded.predict(x).data).toEqual(loaded.forward(x).output.data);
      expect(Object.keys(loaded.parameters())).toEqual(Object.keys(m.parameters()));
      expect(loaded.config).toEqual(m.config);
    }
  });
});

describe('PyTorch import: warnings for what a state_dict does not record', () => {
  it("an RNN's nonlinearity and batch_first assumed: one warning naming both", async () => {
    await load(bytesOf('torch_rnn_relu.safetensors'));
    await settle();
    expect(guesses()).toHaveLength(1);
    expect(guesses()[0].message).toMatch(/nonlinearity.*'tanh' assumed.*batch_first.*time-major/);
  });

  it('no warning when config gives them', async () => {
    await load(bytesOf('torch_rnn_relu.safetensors'), {
      config: { nonlinearity: 'relu', batchFirst: false },
    });
    await load(bytesOf('torch_gru_batch_first.safetensors'), { config: { batchFirst: true } });
    await settle();
    expect(guesses()).toHaveLength(0);
  });

  it('a module of several layers: batchFirst at the top of config, else a warning', async () => {
    const layers = [{ module: 'emb' }, { module: 'lstm' }, { module: 'fc' }];
    const m = await load(bytesOf('torch_classifier.safetensors'), {
      config: { layers, batchFirst: true },
      expect: Sequential,
    });
    expect(m.batchFirst).toBe(true);
    await settle();
    expect(guesses()).toHaveLength(0);
    const n = await load(bytesOf('torch_classifier.safetensors'), { expect: Sequential });
    expect(n.batchFirst).toBeUndefined();
    await settle();
    expect(guesses()).toHaveLength(1);
    expect(guesses()[0].message).toContain('{ layers, batchFirst: true }');
  });
});
