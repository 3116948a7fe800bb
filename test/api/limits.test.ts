// The memory limit (lib/limits.ts): every size an option asks for, for every layer kind, is
// checked against MAX_ELEMENTS before anything is allocated, and a result larger than a
// Float32Array can hold is a coded RangeError, never an uncoded `Invalid typed array length`.
import { describe, expect, it } from 'vitest';

import {
  Dense,
  Dropout,
  Embedding,
  GRU,
  LSTM,
  MAX_ELEMENTS,
  MAX_TENSOR_ELEMENTS,
  RNN,
  Tensor,
} from '../../lib/index';

function thrown(fn: () => unknown): Error & { code?: string } {
  try {
    fn();
  } catch (e) {
    return e as Error & { code?: string };
  }
  throw new Error('expected a throw');
}

const LIMIT = /more than the memory limit of 268435456 \(MAX_ELEMENTS/;

describe('MAX_ELEMENTS: sizes options ask for', () => {
  it('is 2^28, and a float32 buffer of that size is 1 GiB', () => {
    expect(MAX_ELEMENTS).toBe(2 ** 28);
    expect(MAX_TENSOR_ELEMENTS).toBe(2 ** 32 - 1);
  });

  it.each([
    ['Dense', () => new Dense({ inputSize: 2 ** 24, outputSize: 2 ** 24 }), 'inputSize 16777216'],
    ['Dense at the edge', () => new Dense({ inputSize: 2 ** 14, outputSize: 2 ** 14 }), 'weight'],
    [
      'Embedding',
      () => new Embedding({ numEmbeddings: 2 ** 24, embeddingDim: 2 ** 24 }),
      'numEmbeddings 16777216',
    ],
    ['LSTM', () => new LSTM({ inputSize: 2 ** 20, hiddenSize: 2 ** 20 }), 'parameters'],
    ['GRU stack', () => new GRU({ inputSize: 8, hiddenSize: 4096, numLayers: 1024 }), 'parameters'],
  ])('%s: a coded RangeError before allocating', (_name, make, part) => {
    const e = thrown(make);
    expect(e).toBeInstanceOf(RangeError);
    expect(e.code).toBe('ERR_CELLSTATE_INVALID_OPTION');
    expect(e.message).toContain(part);
    expect(e.message).toMatch(/limit of 268435456/);
  });

  it('counts every parameter: Dense O·(I + 1), one output row past 2^28 is refused', () => {
    // 2^14 · (2^14 − 1 + 1) = 2^28 exactly would be allowed (1 GiB: not built here)
    const I = 2 ** 14 - 1;
    expect(() => new Dense({ inputSize: I, outputSize: 2 ** 14 + 1 })).toThrow(LIMIT);
    expect(() => new Embedding({ numEmbeddings: 2 ** 14 + 1, embeddingDim: 2 ** 14 })).toThrow(
      LIMIT,
    );
    const d = new Dense({ inputSize: 3, outputSize: 5 });
    expect(d.parameters().weight.shape).toEqual([5, 3]);
  });

  it('streams of Dense, Embedding and Dropout: batch × features against the limit', () => {
    const d = new Dense({ inputSize: 1, outputSize: 2 ** 20 });
    const e1 = thrown(() => d.stream({ batch: 2 ** 24 }));
    expect(e1).toBeInstanceOf(RangeError);
    expect(e1).toMatchObject({ code: 'ERR_CELLSTATE_INVALID_ARG' });
    expect(e1.message).toMatch(LIMIT);
    const emb = new Embedding({ numEmbeddings: 2, embeddingDim: 2 ** 20 });
    expect(thrown(() => emb.stream({ batch: 2 ** 24 }))).toMatchObject({
      code: 'ERR_CELLSTATE_INVALID_ARG',
      message: expect.stringMatching(LIMIT),
    });
    expect(
      thrown(() => new Dropout({ rate: 0.5 }).stream({ batch: 2 ** 24, size: 2 ** 24 })),
    ).toMatchObject({ code: 'ERR_CELLSTATE_INVALID_ARG', message: expect.stringMatching(LIMIT) });
    expect(d.stream({ batch: 4 }).outputSize).toBe(2 ** 20);
  });
});

describe('MAX_ELEMENTS: recurrent streams and pools', () => {
  it('refuses rows × (frame + state + gates) past the limit before allocating', () => {
    const lstm = new LSTM({ inputSize: 512, hiddenSize: 512, numLayers: 2 });
    for (const f of [
      () => lstm.stream({ batch: 2 ** 24 }),
      () => lstm.streamPool({ capacity: 2 ** 18 }),
      () => new GRU({ inputSize: 8, hiddenSize: 1024 }).stream({ batch: 2 ** 18 }),
    ]) {
      const e = thrown(f);
      expect(e).toBeInstanceOf(RangeError);
      expect(e).toMatchObject({ code: 'ERR_CELLSTATE_INVALID_ARG' });
      expect(e.message).toMatch(LIMIT);
    }
    expect(lstm.stream({ batch: 64 }).batch).toBe(64);
    lstm.dispose();
  });
});

describe('MAX_TENSOR_ELEMENTS: results sized by the inputs', () => {
  const shapeError = (fn: () => unknown) => {
    const e = thrown(fn);
    expect(e).toBeInstanceOf(RangeError);
    expect(e.code).toBe('ERR_CELLSTATE_SHAPE');
    expect(e.message).toMatch(/more than the 4294967295 a Float32Array can hold/);
  };

  it('Dense, Embedding and recurrent forwards refuse a result a Float32Array cannot hold', () => {
    const d = new Dense({ inputSize: 1, outputSize: 2 ** 20 });
    shapeError(() => d.forward(new Tensor(new Float32Array(8192), [8192, 1, 1])));
    const e = new Embedding({ numEmbeddings: 1, embeddingDim: 2 ** 20 });
    shapeError(() => e.forward({ data: new Int32Array(8192), shape: [8192, 1] }));
    const r = new RNN({ inputSize: 1, hiddenSize: 1024 });
    shapeError(() => r.forward(new Tensor(new Float32Array(2 ** 23), [2 ** 22, 2, 1])));
    // and the layers still work
    expect(r.forward(new Tensor(new Float32Array(2), [2, 1, 1])).output.shape).toEqual([
      2, 1, 1024,
    ]);
  });
});
