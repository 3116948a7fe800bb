// One error base: `e instanceof CellstateError` for every error cellstate throws — its
// TypeErrors and RangeErrors (which stay TypeError / RangeError), its Errors, fit's AbortError
// and the native addon's own errors — and for nothing else.
import { describe, expect, it } from 'vitest';

import {
  AbortError,
  BusyError,
  CellstateError,
  CellstateRangeError,
  CellstateTypeError,
  Dense,
  Dropout,
  ErrorCode,
  GRU,
  LSTM,
  NoForwardError,
  NonFiniteError,
  Sequential,
  Tensor,
  UnsupportedError,
  fromBuffer,
  isCellstateError,
  toBuffer,
} from '../../lib/index';
import { loadNative } from '../../lib/native';

function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new Error('expected a throw');
}

async function rejected(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  );
}

describe('CellstateError is the base of every error cellstate throws', () => {
  it('TypeErrors and RangeErrors of validation stay TypeError / RangeError', () => {
    const type = thrown(() => new LSTM({ inputSize: '2' as never, hiddenSize: 3 }));
    expect(type).toBeInstanceOf(TypeError);
    expect(type).toBeInstanceOf(CellstateTypeError);
    expect(type).toBeInstanceOf(CellstateError);
    const range = thrown(() => new LSTM({ inputSize: 2, hiddenSize: 3 }).forward([[[1, 2, 3]]]));
    expect(range).toBeInstanceOf(RangeError);
    expect(range).toBeInstanceOf(CellstateRangeError);
    expect(range).toBeInstanceOf(CellstateError);
    expect((range as CellstateRangeError).code).toBe(ErrorCode.SHAPE);
    const noForward = thrown(() => new GRU({ inputSize: 2, hiddenSize: 3 }).backward());
    expect(noForward).toBeInstanceOf(NoForwardError);
    expect(noForward).toBeInstanceOf(RangeError);
    expect(noForward).toBeInstanceOf(CellstateError);
  });

  it('Errors: busy, unsupported and file errors', async () => {
    const lstm = new LSTM({ inputSize: 2, hiddenSize: 3, seed: 1 });
    const p = lstm.forwardAsync([[[1, 2]]]);
    const busy = thrown(() => lstm.forward([[[1, 2]]]));
    await p;
    expect(busy).toBeInstanceOf(BusyError);
    expect(busy).toBeInstanceOf(CellstateError);
    const unsupported = thrown(() =>
      new LSTM({ inputSize: 2, hiddenSize: 3, bidirectional: true }).stream(),
    );
    expect(unsupported).toBeInstanceOf(UnsupportedError);
    expect(unsupported).toBeInstanceOf(CellstateError);
    const bytes = toBuffer(lstm);
    bytes[bytes.length - 1] ^= 1;
    const file = thrown(() => fromBuffer(bytes));
    expect(file).toBeInstanceOf(CellstateError);
    expect((file as CellstateError).code).toBe(ErrorCode.FILE_CHECKSUM);
  });

  it("fit's AbortError and NonFiniteError", async () => {
    const model = new Sequential(
      [
        new LSTM({ inputSize: 1, hiddenSize: 2, seed: 1 }),
        new Dense({ inputSize: 2, outputSize: 1, lastStep: true, seed: 2 }),
      ],
      { batchFirst: true },
    );
    const x = new Tensor(new Float32Array(8 * 3), [8, 3, 1]);
    const ac = new AbortController();
    ac.abort();
    const abort = await rejected(
      model.fit(
        { x, y: new Tensor(new Float32Array(8), [8, 1]) },
        {
          loss: 'mse',
          verbose: 0,
          signal: ac.signal,
        },
      ),
    );
    expect(abort).toBeInstanceOf(AbortError);
    expect(abort).toBeInstanceOf(CellstateError);
    expect((abort as AbortError).code).toBe('ABORT_ERR');
    const nan = await rejected(
      model.fit(
        { x, y: new Tensor(new Float32Array(8).fill(NaN), [8, 1]) },
        {
          loss: 'mse',
          verbose: 0,
        },
      ),
    );
    expect(nan).toBeInstanceOf(NonFiniteError);
    expect(nan).toBeInstanceOf(CellstateError);
  });

  it("the native addon's errors (its TypeError, RangeError and Error kinds)", () => {
    const { NativeLayer } = loadNative();
    const range = thrown(
      () => new NativeLayer({ cell: 'lstm', inputSize: 3, hiddenSize: 4, projSize: 4 }),
    );
    expect(range).toBeInstanceOf(RangeError);
    expect(range).not.toBeInstanceOf(CellstateRangeError); // made by the addon, not by lib/
    expect(range).toBeInstanceOf(CellstateError);
    const type = thrown(
      () => new NativeLayer({ cell: 'gru', inputSize: 3, hiddenSize: 4, projSize: 2 }),
    );
    expect(type).toBeInstanceOf(TypeError);
    expect(type).toBeInstanceOf(CellstateError);
    expect(isCellstateError(type)).toBe(true);
  });

  it('a save of a Dropout alone is refused with a coded TypeError', () => {
    const e = thrown(() => toBuffer(new Dropout({ rate: 0.5 }) as never));
    expect(e).toBeInstanceOf(CellstateTypeError);
    expect(String((e as Error).message)).toContain('Dropout alone');
  });

  it('other errors are not cellstate errors, and subclasses test by prototype', () => {
    for (const e of [
      new Error('x'),
      new TypeError('x'),
      Object.assign(new Error('x'), { code: 'ENOENT' }),
      Object.assign(new RangeError('x'), { code: 'ERR_OUT_OF_RANGE' }),
      { code: ErrorCode.SHAPE, message: 'not an Error' },
      null,
      'ERR_CELLSTATE_SHAPE',
    ]) {
      expect(e instanceof CellstateError).toBe(false);
      expect(isCellstateError(e)).toBe(false);
    }
    const shape = new CellstateRangeError(ErrorCode.SHAPE, 'x');
    expect(shape instanceof BusyError).toBe(false);
    expect(shape instanceof UnsupportedError).toBe(false);
    expect(new BusyError('x') instanceof UnsupportedError).toBe(false);
    expect(new BusyError('x') instanceof BusyError).toBe(true);
    expect(new CellstateError(ErrorCode.OOM, 'x') instanceof BusyError).toBe(false);
  });
});
