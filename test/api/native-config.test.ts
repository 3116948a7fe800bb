// The binding's config is generic: it passes the config object's own properties to the kernel
// (cellstate::ParseConfig), which owns the option names, rules and messages. The binding refuses
// only values of a JavaScript type no option can take. Also the kernel's direction option.
import { describe, expect, it } from 'vitest';

import { LSTM } from '../../lib/index';
import { loadNative } from '../../lib/native';

type Coded = Error & { code?: string };

function expectThrow(fn: () => unknown, type: ErrorConstructor, ...parts: string[]): Coded {
  let err: Coded | undefined;
  try {
    fn();
  } catch (e) {
    err = e as Coded;
  }
  expect(err, 'expected a throw').toBeInstanceOf(type);
  for (const p of parts) expect(err!.message).toContain(p);
  return err!;
}

describe('NativeLayer config', () => {
  const { NativeLayer, NativeStream } = loadNative();
  const base = { cell: 'lstm', inputSize: 3, hiddenSize: 4 };

  it('refuses an unknown key and a key of another cell, naming them', () => {
    const unknown = expectThrow(
      () => new NativeLayer({ ...base, hiddenSise: 4 }),
      TypeError,
      'hiddenSise',
    );
    expect(unknown.code).toBe('ERR_CELLSTATE_INVALID_ARG');
    expectThrow(
      () => new NativeLayer({ ...base, resetAfter: false }),
      TypeError,
      'resetAfter',
      'GRU',
    );
    expectThrow(
      () => new NativeLayer({ ...base, cell: 'rnn', peephole: true }),
      TypeError,
      'peephole',
      'LSTM',
    );
  });

  it('refuses a value of an unsupported JavaScript type with a TypeError naming the key', () => {
    for (const value of [[1], new Float32Array(1), () => 1, 1n, Symbol('s')]) {
      const e = expectThrow(
        () => new NativeLayer({ ...base, peephole: value }),
        TypeError,
        'peephole',
      );
      expect(e.code).toBe('ERR_CELLSTATE_INVALID_ARG');
    }
  });

  it('leaves out undefined and null (the defaults) and ignores inherited properties', () => {
    const nl = new NativeLayer({ ...base, projSize: undefined, peephole: null });
    expect(nl.paramCount).toBe(4 * 4 * 3 + 4 * 4 * 4 + 2 * 4 * 4);
    const inherited = Object.create({ hiddenSise: 4 }) as Record<string, unknown>;
    Object.assign(inherited, base);
    expect(new NativeLayer(inherited).paramCount).toBe(nl.paramCount);
  });

  it('type errors and range errors as the kernel decides them', () => {
    expectThrow(() => new NativeLayer({ ...base, peephole: 1 }), TypeError, 'peephole', 'boolean');
    expectThrow(() => new NativeLayer({ ...base, inputSize: '3' }), TypeError, 'inputSize');
    expectThrow(() => new NativeLayer({ ...base, inputSize: 3.5 }), RangeError, 'inputSize');
    expectThrow(() => new NativeLayer({ ...base, dropout: Infinity }), RangeError, 'dropout');
  });

  it("direction: 'reverse' is one direction without _reverse names, and cannot stream", () => {
    const nl = new NativeLayer({ ...base, numLayers: 2, direction: 'reverse' });
    const names = nl.paramTable().map((p: { name: string }) => p.name);
    expect(names).toEqual([
      'weight_ih_l0',
      'weight_hh_l0',
      'bias_ih_l0',
      'bias_hh_l0',
      'weight_ih_l1',
      'weight_hh_l1',
      'bias_ih_l1',
      'bias_hh_l1',
    ]);
    const e = expectThrow(() => new NativeStream(nl, 1, false), Error, 'reverse', 'cannot stream');
    expect(e.code).toBe('ERR_CELLSTATE_UNSUPPORTED');
    expectThrow(
      () => new NativeLayer({ ...base, direction: 'reverse', bidirectional: true }),
      TypeError,
      'direction',
      'bidirectional',
    );
    expectThrow(() => new NativeLayer({ ...base, direction: 'backward' }), TypeError, 'direction');
  });

  it('refuses an activation flag false beside a function for its role, as the options do (one rule)', () => {
    for (const [flag, role] of [
      ['outputActivation', 'hiddenActivation'],
      ['inputActivation', 'cellActivation'],
    ])
      for (const fn of ['tanh', 'relu']) {
        const options = { inputSize: 3, hiddenSize: 4, [flag]: false, [role]: fn };
        expectThrow(() => new LSTM(options), RangeError, flag, role, 'give one');
        expectThrow(
          () => new NativeLayer({ ...base, [flag]: false, [role]: fn }),
          RangeError,
          flag,
          role,
          'give one',
        );
      }
  });

  it('a reverse layer runs t = T-1 ... 0: its output equals a forward layer on the reversed input', () => {
    const T = 5;
    const B = 2;
    const fwd = new NativeLayer({ ...base, cell: 'gru' });
    const rev = new NativeLayer({ ...base, cell: 'gru', direction: 'reverse' });
    const params = Float32Array.from({ length: fwd.paramCount }, (_, i) => Math.sin(i) * 0.5);
    fwd.writeParams(params);
    rev.writeParams(params);
    const x = Float32Array.from({ length: T * B * 3 }, (_, i) => Math.cos(i));
    const xr = new Float32Array(x.length);
    for (let t = 0; t < T; t++) xr.set(x.subarray(t * B * 3, (t + 1) * B * 3), (T - 1 - t) * B * 3);
    const run = (nl: typeof fwd, input: Float32Array) => {
      const output = new Float32Array(T * B * 4);
      nl.forward({ T, B, x: input, output });
      return output;
    };
    const a = run(rev, x);
    const b = run(fwd, xr);
    for (let t = 0; t < T; t++)
      expect(Array.from(a.subarray(t * B * 4, (t + 1) * B * 4))).toEqual(
        Array.from(b.subarray((T - 1 - t) * B * 4, (T - t) * B * 4)),
      );
  });
});
