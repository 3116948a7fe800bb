// `lengths` is checked by one helper (lib/layers/batch.ts readLengths) wherever the API takes it:
// the same bad value gets the same class, code and message from every entry point.
import { describe, expect, it } from 'vitest';

import { Dense, Embedding, LSTM, Sequential, Tensor } from '../../lib/index';

type Coded = Error & { code?: string };

function thrown(fn: () => unknown): Coded {
  try {
    fn();
  } catch (e) {
    return e as Coded;
  }
  throw new Error('expected a throw');
}

const T = 3;
const B = 2;
const x = new Tensor(new Float32Array(T * B * 2), [T, B, 2]);
const tokens = { data: new Int32Array(T * B), shape: [T, B] };

// every entry point taking lengths, for a batch of T = 3 steps and B = 2 sequences
const entries: [string, string, (lengths: unknown) => unknown][] = [
  [
    'LSTM.forward',
    'forward',
    (l) => new LSTM({ inputSize: 2, hiddenSize: 3 }).forward(x, { lengths: l as never }),
  ],
  [
    'LSTM.predict',
    'forward',
    (l) => new LSTM({ inputSize: 2, hiddenSize: 3 }).predict(x, { lengths: l as never }),
  ],
  [
    'Dense.forward',
    'forward',
    (l) => new Dense({ inputSize: 2, outputSize: 1 }).forward(x, { lengths: l as never }),
  ],
  [
    'Embedding.forward',
    'forward',
    (l) =>
      new Embedding({ numEmbeddings: 4, embeddingDim: 2 }).forward(tokens, { lengths: l as never }),
  ],
  [
    'Sequential.forward',
    'forward',
    (l) =>
      new Sequential([new LSTM({ inputSize: 2, hiddenSize: 3 })], { batchFirst: false }).forward(
        x,
        {
          lengths: l as never,
        },
      ),
  ],
];

const cases: [string, unknown, ErrorConstructor, string, string][] = [
  [
    'a string entry',
    [3, '3'],
    TypeError,
    'ERR_CELLSTATE_INVALID_ARG',
    'lengths[1] must be an integer in [0, T=3], got string',
  ],
  [
    'a fraction',
    [3, 1.5],
    RangeError,
    'ERR_CELLSTATE_OUT_OF_RANGE',
    'lengths[1] must be an integer in [0, T=3], got 1.5',
  ],
  [
    'a negative length',
    new Int32Array([-1, 1]),
    RangeError,
    'ERR_CELLSTATE_OUT_OF_RANGE',
    'lengths[0] must be an integer in [0, T=3], got -1',
  ],
  [
    'a length past T',
    [3, 4],
    RangeError,
    'ERR_CELLSTATE_OUT_OF_RANGE',
    'lengths[1] must be an integer in [0, T=3], got 4',
  ],
  [
    'not an array',
    'abc',
    TypeError,
    'ERR_CELLSTATE_INVALID_ARG',
    'lengths must be an array of integers or an Int32Array',
  ],
];

describe('lengths', () => {
  for (const [what, value, type, code, message] of cases)
    it(`refuses ${what} alike everywhere`, () => {
      for (const [name, where, call] of entries) {
        const e = thrown(() => call(value));
        expect(e, `${name}: ${String(e)}`).toBeInstanceOf(type);
        expect(e.code, name).toBe(code);
        expect(e.message, name).toContain(`${where}: ${message}`);
      }
    });

  it('refuses the wrong count with the same shape error everywhere', () => {
    for (const [name, , call] of entries) {
      const e = thrown(() => call([1]));
      expect(e, name).toBeInstanceOf(RangeError);
      expect(e.code, name).toBe('ERR_CELLSTATE_SHAPE');
      expect(e.message, name).toContain('lengths');
    }
  });
});
