// The cellstate file: save / load / toBuffer / fromBuffer round-trip every configuration bit for
// bit (config, parameters, outputs), write atomically, and refuse bad files with stable codes.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { GRU, LSTM, RNN, Tensor, fromBuffer, load, save, toBuffer } from '../../lib/index';
import { Dense } from '../../lib/layers/dense';
import { Dropout } from '../../lib/layers/dropout';
import { Embedding } from '../../lib/layers/embedding';
import { Recurrent } from '../../lib/layers/recurrent';
import { Sequential } from '../../lib/model/sequential';
import {
  bits,
  expectSameParameters,
  joinFile,
  randomTensor,
  signedFile,
  splitFile,
  thrown,
} from './helpers';

const dir = mkdtempSync(path.join(tmpdir(), 'cellstate-io-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Every option of docs/cells.md, alone and in the combinations that touch the file layout.
const recurrentConfigs: [string, () => Recurrent][] = [
  ['lstm', () => new LSTM({ inputSize: 3, hiddenSize: 5, seed: 1 })],
  [
    'lstm stack bidir',
    () => new LSTM({ inputSize: 3, hiddenSize: 4, numLayers: 2, bidirectional: true, seed: 2 }),
  ],
  [
    'lstm batchFirst dropout',
    () =>
      new LSTM({
        inputSize: 2,
        hiddenSize: 3,
        numLayers: 2,
        dropout: 0.25,
        batchFirst: true,
        seed: 3,
      }),
  ],
  ['lstm peephole', () => new LSTM({ inputSize: 3, hiddenSize: 4, peephole: true, seed: 4 })],
  [
    'lstm coupled peephole',
    () => new LSTM({ inputSize: 3, hiddenSize: 4, coupled: true, peephole: true, seed: 5 }),
  ],
  ['lstm NIG', () => new LSTM({ inputSize: 3, hiddenSize: 4, inputGate: false, seed: 6 })],
  ['lstm NFG', () => new LSTM({ inputSize: 3, hiddenSize: 4, forgetGate: false, seed: 7 })],
  [
    'lstm NOG peephole',
    () => new LSTM({ inputSize: 3, hiddenSize: 4, outputGate: false, peephole: true, seed: 8 }),
  ],
  [
    'lstm NIAF NOAF',
    () =>
      new LSTM({
        inputSize: 3,
        hiddenSize: 4,
        inputActivation: false,
        outputActivation: false,
        seed: 9,
      }),
  ],
  [
    'lstm projection bidir',
    () =>
      new LSTM({
        inputSize: 3,
        hiddenSize: 6,
        projSize: 2,
        numLayers: 2,
        bidirectional: true,
        seed: 10,
      }),
  ],
  ['lstm forgetBias', () => new LSTM({ inputSize: 3, hiddenSize: 4, forgetBias: 2.5, seed: 11 })],
  ['gru', () => new GRU({ inputSize: 3, hiddenSize: 5, seed: 12 })],
  [
    'gru reset before bidir',
    () =>
      new GRU({
        inputSize: 3,
        hiddenSize: 4,
        resetAfter: false,
        bidirectional: true,
        numLayers: 2,
        seed: 13,
      }),
  ],
  ['rnn tanh', () => new RNN({ inputSize: 3, hiddenSize: 5, seed: 14 })],
  [
    'rnn relu bidir',
    () =>
      new RNN({ inputSize: 3, hiddenSize: 4, nonlinearity: 'relu', bidirectional: true, seed: 15 }),
  ],
];

function forwardAll(layer: Recurrent, x: Tensor) {
  return layer.forward(x, { lengths: [4, 2] });
}

describe('cellstate file round trip', () => {
  it.each(recurrentConfigs)('%s: config, parameters and outputs bit for bit', (_name, make) => {
    const layer = make();
    const bytes = toBuffer(layer);
    const back = fromBuffer(bytes) as Recurrent;
    expect(back).toBeInstanceOf(layer.constructor);
    expect(back).not.toBe(layer);
    expect(back.config).toEqual(layer.config);
    expectSameParameters(back.parameters(), layer.parameters());
    const { batchFirst, inputSize } = layer.config;
    const x = randomTensor(batchFirst ? [2, 4, inputSize] : [4, 2, inputSize], 99);
    const a = forwardAll(layer, x);
    const b = forwardAll(back, x);
    expect(bits(b.output)).toEqual(bits(a.output));
    expect(bits(b.h)).toEqual(bits(a.h));
    if (a.c) expect(bits(b.c as Tensor)).toEqual(bits(a.c));
    // and the file written again is the same file
    expect(toBuffer(back)).toEqual(bytes);
  });

  it('keeps special values (NaN payloads, ±0, ±∞, subnormals) bit for bit', () => {
    const layer = new RNN({ inputSize: 2, hiddenSize: 2, seed: 1 });
    const w = new Float32Array([NaN, -0, Infinity, -Infinity]);
    new Uint32Array(w.buffer)[0] = 0x7fc12345; // a NaN with a payload
    layer.setParameters({
      ...layer.parameters(),
      weight_ih_l0: new Tensor(w, [2, 2]),
      bias_ih_l0: new Tensor(new Float32Array([1e-45, -1e-40]), [2]),
    });
    const back = fromBuffer(toBuffer(layer)) as Recurrent;
    expectSameParameters(back.parameters(), layer.parameters());
  });

  it('a Sequential with Embedding, LSTM, Dropout and Dense', () => {
    const model = new Sequential([
      new Embedding({ numEmbeddings: 11, embeddingDim: 4, seed: 1 }),
      new LSTM({ inputSize: 4, hiddenSize: 6, numLayers: 2, seed: 2 }),
      new Dropout({ rate: 0.3, seed: 3 }),
      new GRU({ inputSize: 6, hiddenSize: 5, bidirectional: true, seed: 4 }),
      new Dense({ inputSize: 10, outputSize: 3, activation: 'softmax', lastStep: true, seed: 5 }),
    ]);
    const bytes = toBuffer(model);
    const { header } = splitFile(bytes);
    expect(Object.keys(header)).toContain('1.weight_ih_l1');
    expect(Object.keys(header)).toContain('3.bias_hh_l0_reverse');
    expect(Object.keys(header)).toContain('4.weight');
    expect(header.__metadata__.format).toBe('cellstate');
    expect(header.__metadata__.version).toBe('2.0');
    expect(JSON.parse(header.__metadata__.config)).toEqual(model.config);
    const back = fromBuffer(bytes) as Sequential;
    expect(back).toBeInstanceOf(Sequential);
    expect(back.config).toEqual(model.config);
    expectSameParameters(back.parameters(), model.parameters());
    const tokens = [
      [1, 2],
      [3, 10],
      [0, 5],
    ];
    const a = model.forward(tokens, { lengths: [3, 2] });
    const b = back.forward(tokens, { lengths: [3, 2] });
    expect(b.output.shape).toEqual([2, 3]);
    expect(bits(b.output)).toEqual(bits(a.output));
  });

  it('a Dense alone', () => {
    const d = new Dense({ inputSize: 3, outputSize: 2, activation: 'tanh', seed: 3 });
    const back = fromBuffer(toBuffer(d)) as Dense;
    expect(back.config).toEqual(d.config);
    expectSameParameters(back.parameters(), d.parameters());
  });
});

describe('save and load', () => {
  it('writes atomically and loads from a path, a Buffer and an ArrayBuffer', async () => {
    const file = path.join(dir, 'model.cellstate');
    const layer = new GRU({ inputSize: 3, hiddenSize: 4, seed: 5 });
    await save(layer, file);
    writeFileSync(path.join(dir, 'other'), 'x');
    // overwrite: the old file is replaced in one rename
    const layer2 = new GRU({ inputSize: 3, hiddenSize: 4, seed: 6 });
    await save(layer2, file);
    expect(readdirSync(dir).sort()).toEqual(['model.cellstate', 'other']); // no temporary left
    const bytes = readFileSync(file);
    expect(new Uint8Array(bytes)).toEqual(toBuffer(layer2));
    for (const source of [file, bytes, new Uint8Array(bytes).buffer]) {
      const back = (await load(source)) as GRU;
      expectSameParameters(back.parameters(), layer2.parameters());
    }
  });

  it('a failing save leaves no file and no temporary behind', async () => {
    const missing = path.join(dir, 'no-such-dir', 'm.cellstate');
    await expect(save(new RNN({ inputSize: 1, hiddenSize: 1 }), missing)).rejects.toMatchObject({
      code: 'ENOENT',
    });
    const before = readdirSync(dir).sort();
    await expect(save({} as never, path.join(dir, 'bad.cellstate'))).rejects.toMatchObject({
      code: 'ERR_CELLSTATE_INVALID_ARG',
    });
    expect(readdirSync(dir).sort()).toEqual(before);
  });

  it('refuses bad arguments with TypeErrors naming them', async () => {
    await expect(load(42 as never)).rejects.toThrow(/load: source must be a path or the bytes/);
    expect(() => fromBuffer('x' as never)).toThrow(TypeError);
    expect(() => toBuffer(null as never)).toThrow(/toBuffer: model must be a Sequential, LSTM/);
    await expect(save(new RNN({ inputSize: 1, hiddenSize: 1 }), '' as never)).rejects.toThrow(
      /path must be a non-empty string/,
    );
    const bytes = toBuffer(new RNN({ inputSize: 1, hiddenSize: 1 }));
    const e = thrown(() => fromBuffer(bytes, { config: { cell: 'rnn' } }));
    expect(e).toBeInstanceOf(TypeError);
    expect(e.message).toMatch(/carries its own configuration/);
    expect(() => fromBuffer(bytes, { nonsense: 1 } as never)).toThrow(/unknown option 'nonsense'/);
  });
});

describe('bad files', () => {
  const layer = new LSTM({ inputSize: 2, hiddenSize: 3, seed: 7 });
  const good = toBuffer(layer);
  const { header, data } = splitFile(good);
  // the header changed by fn, then signed again (sign = false keeps the old checksum)
  const rewrite = (fn: (h: Record<string, any>) => void, d: Uint8Array = data, sign = true) => {
    const h = structuredClone(header);
    fn(h);
    return sign ? signedFile(h, d) : joinFile(h, d);
  };
  const code = (bytes: Uint8Array) => {
    const e = thrown(() => fromBuffer(bytes));
    expect(e).toBeInstanceOf(Error);
    return { code: e.code as string, message: e.message as string };
  };
  // stored tensor order: the order of parameters()
  const first = Object.keys(layer.parameters())[0];
  const second = Object.keys(layer.parameters())[1];

  it('truncated data', () => {
    const e = code(good.subarray(0, good.length - 5));
    expect(e.code).toBe('ERR_CELLSTATE_FILE_TRUNCATED');
    expect(e.message).toMatch(/truncated/);
    expect(code(good.subarray(0, 5)).code).toBe('ERR_CELLSTATE_FILE_TRUNCATED');
    expect(code(new Uint8Array(0)).code).toBe('ERR_CELLSTATE_FILE_TRUNCATED');
  });

  it('a wrong header length', () => {
    const b = good.slice();
    new DataView(b.buffer).setUint32(0, good.length, true);
    expect(code(b)).toMatchObject({
      code: 'ERR_CELLSTATE_FILE_HEADER_LENGTH',
      message: expect.stringMatching(/only \d+ bytes follow/),
    });
    const huge = good.slice();
    new DataView(huge.buffer).setBigUint64(0, 2n ** 62n, true);
    expect(code(huge)).toMatchObject({
      code: 'ERR_CELLSTATE_FILE_HEADER_LENGTH',
      message: expect.stringMatching(/more than the limit/),
    });
    const short = good.slice();
    new DataView(short.buffer).setUint32(0, 40, true); // points into the middle of the JSON
    expect(code(short).code).toBe('ERR_CELLSTATE_FILE_HEADER');
  });

  it('broken JSON, and entries that are not { dtype, shape, data_offsets }', () => {
    const text = new TextDecoder().decode(
      good.subarray(8, 8 + Number(new DataView(good.buffer).getBigUint64(0, true))),
    );
    expect(code(joinFile(text.replace('{', '['), data))).toMatchObject({
      code: 'ERR_CELLSTATE_FILE_HEADER',
      message: expect.stringMatching(/not valid JSON/),
    });
    expect(code(joinFile('[1, 2]', new Uint8Array(0))).message).toMatch(/must be a JSON object/);
    expect(code(rewrite((h) => delete h[first].dtype)).message).toContain(
      `tensor '${first}' has no dtype`,
    );
    expect(code(rewrite((h) => (h[first].shape = [-1]))).message).toContain(
      'non-negative integers',
    );
    expect(code(rewrite((h) => (h[first].data_offsets = [0]))).message).toContain(
      'data_offsets must be [begin, end]',
    );
    expect(code(rewrite((h) => (h.__metadata__.version = 1))).message).toContain(
      '__metadata__.version must be a string',
    );
    const bad = joinFile(text, data);
    bad[12] = 0xff; // not UTF-8
    expect(code(bad).message).toMatch(/not valid UTF-8/);
  });

  it('overlapping, gapped and out-of-range offsets', () => {
    const o = header[second].data_offsets;
    expect(code(rewrite((h) => (h[second].data_offsets = [o[0] - 4, o[1] - 4])))).toMatchObject({
      code: 'ERR_CELLSTATE_FILE_OFFSETS',
      message: expect.stringMatching(/overlaps/),
    });
    expect(
      code(rewrite((h) => (h[first].data_offsets = [4, 4 + h[first].data_offsets[1]]))),
    ).toMatchObject({
      code: 'ERR_CELLSTATE_FILE_OFFSETS',
      message: expect.stringMatching(/overlaps|gap/),
    });
    expect(
      code(rewrite((h) => (h[first].data_offsets = [1e15, 1e15 + h[first].data_offsets[1]]))).code,
    ).toBe('ERR_CELLSTATE_FILE_OFFSETS');
    expect(code(rewrite((h) => (h[first].data_offsets = [8, 4]))).message).toMatch(
      /end before they begin/,
    );
    const extra = new Uint8Array(data.length + 4);
    extra.set(data);
    expect(code(rewrite(() => undefined, extra)).message).toMatch(/4 bytes after the last tensor/);
  });

  it('unsupported and unknown dtypes', () => {
    expect(code(rewrite((h) => (h[first].dtype = 'I32')))).toMatchObject({
      code: 'ERR_CELLSTATE_FILE_DTYPE',
      message: expect.stringContaining(
        `tensor '${first}' has dtype I32, which cellstate does not read`,
      ),
    });
    expect(code(rewrite((h) => (h[first].dtype = 'Q7'))).message).toMatch(
      /not a safetensors dtype/,
    );
  });

  it('shape and size mismatches', () => {
    expect(code(rewrite((h) => (h[first].shape = [5, 5])))).toMatchObject({
      code: 'ERR_CELLSTATE_FILE_SHAPE',
      message: expect.stringMatching(/needs 100 bytes, but data_offsets \[0, \d+\] hold/),
    });
    // the right byte count but the wrong shape for the model
    const [r, c] = header[first].shape;
    expect(code(rewrite((h) => (h[first].shape = [c, r])))).toMatchObject({
      code: 'ERR_CELLSTATE_FILE_SHAPE',
      message: expect.stringContaining(
        `tensor '${first}' has shape [${c}, ${r}], but the model's parameter is [${r}, ${c}]`,
      ),
    });
  });

  it('absurd declared sizes are refused before anything is allocated', () => {
    expect(code(rewrite((h) => (h[first].shape = [2 ** 40, 2 ** 40]))).code).toBe(
      'ERR_CELLSTATE_FILE_SHAPE',
    );
    expect(code(rewrite((h) => (h[first].shape = new Array(100).fill(1)))).code).toBe(
      'ERR_CELLSTATE_FILE_HEADER',
    );
    expect(code(rewrite((h) => (h[first].data_offsets = [0, 2 ** 53 + 2]))).code).toBe(
      'ERR_CELLSTATE_FILE_HEADER',
    );
    const cfg = JSON.parse(header.__metadata__.config);
    expect(
      code(
        rewrite((h) => {
          h.__metadata__.config = JSON.stringify({ ...cfg, hiddenSize: 2 ** 20, numLayers: 1000 });
        }),
      ),
    ).toMatchObject({
      code: 'ERR_CELLSTATE_FILE_SHAPE',
      message: expect.stringMatching(
        /the stored config describes a model of \d+ parameters, but the file's tensors hold 84 values/,
      ),
    });
  });

  it('a config asking for a large model the file does not hold is refused unbuilt', () => {
    // 4·4000·(4000 + 4000 + 2) = 128 Mi parameters: 512 MB had it been built
    const config = JSON.stringify({ cell: 'lstm', inputSize: 4000, hiddenSize: 4000 });
    const e = code(
      rewrite((h) => {
        h.__metadata__.config = config;
      }),
    );
    expect(e).toMatchObject({
      code: 'ERR_CELLSTATE_FILE_SHAPE',
      message: expect.stringMatching(/describes a model of 128032000 parameters/),
    });
  });

  it('missing and unknown tensors', () => {
    // drop the last tensor (and its bytes)
    const names = Object.keys(layer.parameters());
    const last = names[names.length - 1];
    const cut = header[last].data_offsets[0];
    expect(
      code(
        rewrite(
          (h) => {
            delete h[last];
          },
          data.subarray(0, cut),
        ),
      ),
    ).toMatchObject({
      code: 'ERR_CELLSTATE_FILE_MISSING_TENSOR',
      message: expect.stringContaining(`'${last}'`),
    });
    expect(
      code(
        rewrite((h) => {
          h.extra = h[last];
          delete h[last];
        }),
      ),
    ).toMatchObject({
      code: 'ERR_CELLSTATE_FILE_MISSING_TENSOR',
    });
    expect(
      code(
        rewrite((h) => {
          h[`${last}_x`] = h[last];
          delete h[last];
          h.__metadata__.config = JSON.stringify({ ...JSON.parse(h.__metadata__.config) });
        }),
      ),
    ).toMatchObject({
      code: 'ERR_CELLSTATE_FILE_MISSING_TENSOR',
    });
    // an extra tensor beside every needed one
    const extra = new Uint8Array(data.length + 4);
    extra.set(data);
    expect(
      code(
        rewrite((h) => {
          h.stray = { dtype: 'F32', shape: [1], data_offsets: [data.length, data.length + 4] };
        }, extra),
      ),
    ).toMatchObject({
      code: 'ERR_CELLSTATE_FILE_UNKNOWN_TENSOR',
      message: expect.stringContaining(`'stray'`),
    });
  });

  it("a tensor named '__proto__' is an unknown tensor like any other", () => {
    const extra = new Uint8Array(data.length + 4);
    extra.set(data);
    const text = JSON.stringify(header).replace(
      /\}$/,
      `,"__proto__":{"dtype":"F32","shape":[1],"data_offsets":[${data.length},${data.length + 4}]}}`,
    );
    expect(code(signedFile(text, extra))).toMatchObject({
      code: 'ERR_CELLSTATE_FILE_UNKNOWN_TENSOR',
      message: expect.stringContaining("'__proto__'"),
    });
  });

  it('a flipped byte in the data or the config fails the checksum', () => {
    const d = data.slice();
    d[3] ^= 0x10;
    expect(code(rewrite(() => undefined, d, false))).toMatchObject({
      code: 'ERR_CELLSTATE_FILE_CHECKSUM',
      message: expect.stringMatching(/corrupt/),
    });
    const cfg = JSON.parse(header.__metadata__.config);
    expect(
      code(
        rewrite(
          (h) => (h.__metadata__.config = JSON.stringify({ ...cfg, seed: cfg.seed + 1 })),
          data,
          false,
        ),
      ).code,
    ).toBe('ERR_CELLSTATE_FILE_CHECKSUM');
    // a file whose checksum is gone (a mangled key) is refused too
    expect(code(rewrite((h) => delete h.__metadata__.checksum, data, false))).toMatchObject({
      code: 'ERR_CELLSTATE_FILE_CHECKSUM',
      message: expect.stringMatching(/has no checksum/),
    });
  });

  it('a newer major version is refused, saying so; a newer minor loads', () => {
    const e = code(rewrite((h) => (h.__metadata__.version = '3.0')));
    expect(e.code).toBe('ERR_CELLSTATE_FILE_VERSION');
    expect(e.message).toBe(
      'fromBuffer: the file has cellstate format version 3.0, newer than this cellstate reads (1.x to 2.x); update cellstate to load it',
    );
    const minor = fromBuffer(rewrite((h) => (h.__metadata__.version = '2.7'))) as LSTM;
    expectSameParameters(minor.parameters(), layer.parameters());
    expect(code(rewrite((h) => (h.__metadata__.version = 'one'))).code).toBe(
      'ERR_CELLSTATE_FILE_HEADER',
    );
  });

  it('a broken or invalid stored config', () => {
    expect(
      code(
        rewrite((h) => {
          h.__metadata__.config = '{"cell":';
        }),
      ),
    ).toMatchObject({
      code: 'ERR_CELLSTATE_FILE_CONFIG',
      message: expect.stringMatching(/not valid JSON/),
    });
    expect(
      code(
        rewrite((h) => {
          h.__metadata__.config = '{"cell":"lstm","inputSize":2}';
        }),
      ),
    ).toMatchObject({
      code: 'ERR_CELLSTATE_FILE_CONFIG',
      message: expect.stringMatching(/hiddenSize is required/),
    });
    expect(
      code(
        rewrite((h) => {
          delete h.__metadata__.config;
        }),
      ).code,
    ).toBe('ERR_CELLSTATE_FILE_CONFIG');
    expect(code(rewrite((h) => (h.__metadata__.format = 'cellstat'))).code).toBe(
      'ERR_CELLSTATE_FILE_HEADER',
    );
    expect(code(rewrite((h) => (h.__metadata__ = { format: 'tf' }), data, false)).message).toMatch(
      /neither a cellstate file nor a PyTorch state_dict/,
    );
  });
});

describe('optimizer state', () => {
  // fit's data: x [N, T, I] and y [N, O] (a last-step Dense)
  const N = 12;
  const x = randomTensor([N, 5, 3], 11);
  const y = randomTensor([N, 2], 12);
  const makeModel = () =>
    new Sequential([
      new LSTM({ inputSize: 3, hiddenSize: 6, seed: 1 }),
      new Dense({ inputSize: 6, outputSize: 2, lastStep: true, seed: 2 }),
    ]);
  const fitOptions = (optimizer: unknown, seed: number) =>
    ({ loss: 'mse', optimizer, epochs: 2, batchSize: 4, seed, verbose: 0 }) as const;

  const sameState = (
    a: { type: string; step: number; buffers: Record<string, Record<string, Float32Array>> },
    b: typeof a,
  ) => {
    expect(a.type).toBe(b.type);
    expect(a.step).toBe(b.step);
    expect(Object.keys(a.buffers).sort()).toEqual(Object.keys(b.buffers).sort());
    for (const [name, rec] of Object.entries(b.buffers))
      for (const [k, v] of Object.entries(rec))
        expect(bits(a.buffers[name][k]), `${name}.${k}`).toEqual(bits(v));
  };

  it('the state saved is the state restored: step count and every buffer, bit for bit', async () => {
    const { Adam } = await import('../../lib/train/optimizers');
    const model = makeModel();
    const adam = new Adam({ lr: 0.01 });
    await model.fit({ x, y }, fitOptions(adam, 1) as never);
    const file = path.join(dir, 'checkpoint.cellstate');
    await save(model, file, { optimizer: adam });
    const { header } = splitFile(new Uint8Array(readFileSync(file)));
    expect(JSON.parse(header.__metadata__.optimizer)).toMatchObject({
      type: 'adam',
      step: 6,
      options: { lr: 0.01 },
    });
    expect(header['optimizer.0.weight_ih_l0.exp_avg'].shape).toEqual([24, 3]);
    expect(header['optimizer.1.bias.exp_avg_sq'].shape).toEqual([2]);

    const adam2 = new Adam({ lr: 0.01 });
    const resumed = (await load(file, { optimizer: adam2 })) as Sequential;
    sameState(adam2.state() as never, adam.state() as never);
    // training on from the file is training on from the in-memory state
    const ref = makeModel();
    ref.setParameters(model.parameters());
    const adam3 = new Adam({ lr: 0.01 });
    adam3.loadState(adam.state());
    await resumed.fit({ x, y }, fitOptions(adam2, 2) as never);
    await ref.fit({ x, y }, fitOptions(adam3, 2) as never);
    expectSameParameters(resumed.parameters(), ref.parameters());
  });

  it('training resumes exactly where it stopped (a model of Dense layers)', async () => {
    const { SGD } = await import('../../lib/train/optimizers');
    const xs = randomTensor([N, 4, 3], 13);
    const ys = randomTensor([N, 4, 2], 14);
    const make = () =>
      new Sequential([
        new Dense({ inputSize: 3, outputSize: 5, activation: 'tanh', seed: 1 }),
        new Dense({ inputSize: 5, outputSize: 2, seed: 2 }),
      ]);
    const model = make();
    const sgd = new SGD({ lr: 0.05, momentum: 0.9, nesterov: true });
    await model.fit({ x: xs, y: ys }, fitOptions(sgd, 1) as never);
    const bytes = toBuffer(model, { optimizer: sgd });
    await model.fit({ x: xs, y: ys }, fitOptions(sgd, 2) as never);
    const sgd2 = new SGD({ lr: 0.05, momentum: 0.9, nesterov: true });
    const resumed = fromBuffer(bytes, { optimizer: sgd2 }) as Sequential;
    await resumed.fit({ x: xs, y: ys }, fitOptions(sgd2, 2) as never);
    expectSameParameters(resumed.parameters(), model.parameters());
  });

  it('refuses an optimizer of another type, or one the file does not hold', async () => {
    const { Adam, SGD } = await import('../../lib/train/optimizers');
    const model = makeModel();
    const adam = new Adam();
    await model.fit({ x, y }, fitOptions(adam, 1) as never);
    const bytes = toBuffer(model, { optimizer: adam });
    const sgd = new SGD({ momentum: 0.9 });
    expect(thrown(() => fromBuffer(bytes, { optimizer: sgd }))).toMatchObject({
      code: 'ERR_CELLSTATE_FILE_CONFIG',
      message: expect.stringMatching(
        /state of a 'adam' optimizer, but the optimizer given is 'sgd'/,
      ),
    });
    expect(sgd.steps).toBe(0);
    expect(thrown(() => fromBuffer(toBuffer(model), { optimizer: new Adam() })).message).toMatch(
      /holds no optimizer state/,
    );
    // loading without an optimizer ignores the state
    expectSameParameters((fromBuffer(bytes) as Sequential).parameters(), model.parameters());
    expect(() => toBuffer(model, { optimizer: 'adam' as never })).toThrow(
      /optimizer must be an Optimizer/,
    );
  });
});
