// Optimizer state read from a file is checked as parameters are — names, shapes, finiteness,
// ranges — and a refused load changes neither the optimizer given nor anything else. The same
// checks guard loadState.
import { describe, expect, it } from 'vitest';

import { Dense, LSTM, Sequential, fromBuffer, toBuffer } from '../../lib/index';
import { Adam, MAX_OPTIMIZER_STEP, type Optimizer, RMSprop, SGD } from '../../lib/train/optimizers';
import { bits, randomTensor, signedFile, splitFile, thrown } from './helpers';

const makeModel = () =>
  new Sequential([
    new LSTM({ inputSize: 2, hiddenSize: 3, seed: 1 }),
    new Dense({ inputSize: 3, outputSize: 2, lastStep: true, seed: 2 }),
  ]);

async function trained(optimizer: Optimizer): Promise<Uint8Array> {
  const model = makeModel();
  const x = randomTensor([4, 3, 2], 5);
  const y = randomTensor([4, 2], 6);
  await model.fit({ x, y }, {
    loss: 'mse',
    optimizer,
    epochs: 1,
    batchSize: 2,
    seed: 1,
    verbose: 0,
  } as never);
  return toBuffer(model, { optimizer });
}

/** The state of `o` as comparable plain data (step and buffer bits). */
function snapshot(o: Optimizer) {
  const s = o.state();
  return {
    step: s.step,
    buffers: Object.fromEntries(
      Object.entries(s.buffers).map(([k, rec]) => [
        k,
        Object.fromEntries(Object.entries(rec).map(([b, v]) => [b, [...bits(v)]])),
      ]),
    ),
  };
}

/** `good` with its header changed by `fn` and the bytes of tensor `name` changed by `data`. */
function edited(
  good: Uint8Array,
  fn: (h: Record<string, any>) => void,
  data?: { name: string; edit: (values: Float32Array) => void },
): Uint8Array {
  const { header, data: section } = splitFile(good);
  const d = section.slice();
  if (data) {
    const [b, e] = header[data.name].data_offsets;
    const values = new Float32Array(d.buffer.slice(d.byteOffset + b, d.byteOffset + e));
    data.edit(values);
    d.set(new Uint8Array(values.buffer), b);
  }
  fn(header);
  return signedFile(header, d);
}

describe('optimizer state from a file', () => {
  it('every refusal names the problem, and the optimizer given keeps its state', async () => {
    const good = await trained(new Adam({ lr: 0.01 }));
    const exp = 'optimizer.0.weight_ih_l0.exp_avg';
    const sq = 'optimizer.1.weight.exp_avg_sq';
    const meta = (h: Record<string, any>, f: (o: Record<string, any>) => void) => {
      const o = JSON.parse(h.__metadata__.optimizer);
      f(o);
      h.__metadata__.optimizer = JSON.stringify(o);
    };
    const cases: [string, Uint8Array, string, RegExp][] = [
      [
        'an unknown buffer name',
        edited(good, (h) => {
          h[`${exp}_x`] = h[exp];
          delete h[exp];
        }),
        'ERR_CELLSTATE_FILE_UNKNOWN_TENSOR',
        /'exp_avg_x' is not a buffer of adam \(it keeps 'exp_avg', 'exp_avg_sq'\)/,
      ],
      [
        'an unknown parameter',
        edited(good, (h) => {
          h['optimizer.7.weight.exp_avg'] = h[exp];
          delete h[exp];
        }),
        'ERR_CELLSTATE_FILE_UNKNOWN_TENSOR',
        /names no parameter of the model/,
      ],
      [
        'a NaN moment',
        edited(good, () => undefined, { name: exp, edit: (v) => (v[2] = NaN) }),
        'ERR_CELLSTATE_FILE_VALUE',
        /'exp_avg' holds NaN at index 2; every value must be finite/,
      ],
      [
        'an infinite moment',
        edited(good, () => undefined, { name: exp, edit: (v) => (v[0] = -Infinity) }),
        'ERR_CELLSTATE_FILE_VALUE',
        /holds -Infinity at index 0/,
      ],
      [
        'a negative exp_avg_sq',
        edited(good, () => undefined, { name: sq, edit: (v) => (v[1] = -1e-3) }),
        'ERR_CELLSTATE_FILE_VALUE',
        /a running average of squares is never negative/,
      ],
      [
        'step 1e15',
        edited(good, (h) => meta(h, (o) => (o.step = 1e15))),
        'ERR_CELLSTATE_FILE_VALUE',
        new RegExp(`step must be at most ${MAX_OPTIMIZER_STEP}`),
      ],
      [
        'step −1',
        edited(good, (h) => meta(h, (o) => (o.step = -1))),
        'ERR_CELLSTATE_FILE_VALUE',
        /step must be an integer ≥ 0/,
      ],
      [
        'an unknown optimizer type',
        edited(good, (h) => meta(h, (o) => (o.type = 'adamx'))),
        'ERR_CELLSTATE_FILE_CONFIG',
        /type must be one of 'sgd', 'adam', 'adamw', 'rmsprop'/,
      ],
      [
        'options that are not numbers',
        edited(good, (h) => meta(h, (o) => (o.options = { lr: 'fast' }))),
        'ERR_CELLSTATE_FILE_CONFIG',
        /options must be an object of finite numbers and booleans/,
      ],
      [
        'a buffer of another shape (transposed)',
        edited(good, (h) => (h[exp].shape = [...h[exp].shape].reverse())),
        'ERR_CELLSTATE_FILE_SHAPE',
        /has shape \[2, 12\], but parameter '0.weight_ih_l0' is \[12, 2\]/,
      ],
      [
        'a parameter without the buffers the others have',
        (() => {
          // drop one buffer and its bytes (the last tensor, so the rest keep their offsets)
          const { header } = splitFile(good);
          const last = Object.entries(header)
            .filter(([k]) => k !== '__metadata__')
            .sort((a: any, b: any) => b[1].data_offsets[1] - a[1].data_offsets[1])[0][0];
          const cut = header[last].data_offsets[0];
          const { data } = splitFile(good);
          delete header[last];
          return signedFile(header, data.subarray(0, cut));
        })(),
        'ERR_CELLSTATE_FILE_MISSING_TENSOR',
        /the optimizer state has 'exp_avg(_sq)?' buffers but none for parameter/,
      ],
    ];
    const adam = new Adam({ lr: 0.01 });
    fromBuffer(good, { optimizer: adam });
    const before = snapshot(adam);
    expect(before.step).toBe(2);
    for (const [name, bytes, code, message] of cases) {
      const e = thrown(() => fromBuffer(bytes, { optimizer: adam }));
      expect(e.code, name).toBe(code);
      expect(e.message, name).toMatch(message);
      // and without an optimizer to restore into, the broken state is refused all the same
      expect(thrown(() => fromBuffer(bytes)).code, name).toBe(code);
      expect(snapshot(adam), name).toEqual(before);
    }
  });

  it('RMSprop and SGD states load with their own buffer names, and refuse the other ones', async () => {
    const rms = new RMSprop({ momentum: 0.5 });
    const bytes = await trained(rms);
    const back = new RMSprop({ momentum: 0.5 });
    fromBuffer(bytes, { optimizer: back });
    expect(snapshot(back)).toEqual(snapshot(rms));
    const sq = 'optimizer.1.bias.square_avg';
    expect(
      thrown(() =>
        fromBuffer(edited(bytes, () => undefined, { name: sq, edit: (v) => (v[0] = -2) })),
      ),
    ).toMatchObject({ code: 'ERR_CELLSTATE_FILE_VALUE' });
    const sgd = await trained(new SGD({ momentum: 0.9 }));
    const renamed = edited(sgd, (h) => {
      for (const k of Object.keys(h))
        if (k.endsWith('.momentum_buffer')) {
          h[k.replace('momentum_buffer', 'exp_avg')] = h[k];
          delete h[k];
        }
    });
    expect(thrown(() => fromBuffer(renamed))).toMatchObject({
      code: 'ERR_CELLSTATE_FILE_UNKNOWN_TENSOR',
      message: expect.stringMatching(/'exp_avg' is not a buffer of sgd/),
    });
  });
});

describe('loadState', () => {
  it('refuses NaN, negative squares, unknown buffers and huge steps, changing nothing', () => {
    const adam = new Adam();
    const n = 6;
    const ok = { exp_avg: new Float32Array(n).fill(0.5), exp_avg_sq: new Float32Array(n).fill(2) };
    adam.loadState({ type: 'adam', options: {}, step: 3, buffers: { w: ok } });
    const before = snapshot(adam);
    const bad: [unknown, RegExp][] = [
      [{ ...ok, exp_avg: new Float32Array(n).fill(NaN) }, /holds NaN at index 0/],
      [{ ...ok, exp_avg_sq: new Float32Array(n).fill(-1) }, /never negative/],
      [
        { ...ok, momentum_buffer: new Float32Array(n) },
        /'momentum_buffer' is not a buffer of adam/,
      ],
    ];
    for (const [rec, message] of bad) {
      const e = thrown(() =>
        adam.loadState({ type: 'adam', options: {}, step: 4, buffers: { w: rec } } as never),
      );
      expect(e).toBeInstanceOf(RangeError);
      expect(e).toMatchObject({ code: 'ERR_CELLSTATE_INVALID_ARG' });
      expect(e.message).toMatch(message);
      expect(snapshot(adam)).toEqual(before);
    }
    for (const step of [1e15, MAX_OPTIMIZER_STEP + 1, 1.5, -1, Number.MAX_VALUE])
      expect(
        thrown(() => adam.loadState({ type: 'adam', options: {}, step, buffers: {} })),
      ).toMatchObject({ code: 'ERR_CELLSTATE_INVALID_ARG' });
    expect(snapshot(adam)).toEqual(before);
    adam.loadState({ type: 'adam', options: {}, step: MAX_OPTIMIZER_STEP, buffers: {} });
    expect(adam.steps).toBe(MAX_OPTIMIZER_STEP);
  });
});
