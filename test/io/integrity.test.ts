// What a file may not do to load: make it read forever or hang (a device, a FIFO), read or
// allocate more than its declared sizes, load a different model than was saved (the checksum
// covers every byte), describe more layers than MAX_MODEL_LAYERS or nest its config deeper than
// MAX_CONFIG_DEPTH. Each is refused with a stable code.
import { execFileSync } from 'node:child_process';
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  rmSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import {
  Dense,
  Dropout,
  GRU,
  LSTM,
  MAX_CONFIG_DEPTH,
  MAX_ELEMENTS,
  MAX_FILE_BYTES,
  MAX_MODEL_LAYERS,
  RNN,
  Sequential,
  fromBuffer,
  importOnnx,
  load,
  toBuffer,
  toOnnx,
} from '../../lib/index';
import { CHECKSUM_AT, FORMAT_VERSION } from '../../lib/io/file';
import { SGD } from '../../lib/train/optimizers';
import {
  bits,
  expectSameParameters,
  joinFile,
  legacyFile,
  signedFile,
  splitFile,
  thrown,
} from './helpers';

const dir = mkdtempSync(path.join(tmpdir(), 'cellstate-integrity-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function rejection(p: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await p;
  } catch (e) {
    return e as Error & { code?: string };
  }
  throw new Error('expected a rejection');
}

/** A FIFO at `file` (mkfifo); false where the platform has none (Windows). */
function makeFifo(file: string): boolean {
  if (process.platform === 'win32') return false;
  execFileSync('mkfifo', [file]);
  return true;
}

describe('load reads regular files only, and only their declared sizes', () => {
  it('a character device (/dev/zero) is refused at once, not read forever', async () => {
    // Windows has no /dev/zero: a directory is the non-regular file there
    const device = process.platform === 'win32' ? dir : '/dev/zero';
    for (const read of [load, importOnnx]) {
      const e = await rejection(read(device));
      expect(e).toMatchObject({ code: 'ERR_CELLSTATE_FILE_NOT_REGULAR' });
      expect(e.message).toMatch(/not a regular file/);
    }
    if (device === '/dev/zero')
      expect((await rejection(load(device))).message).toMatch(/is a character device/);
  });

  it('a FIFO is refused and the call settles (with or without a writer)', async () => {
    const fifo = path.join(dir, 'model.fifo');
    if (!makeFifo(fifo)) {
      // no FIFOs here: a directory stands for the non-regular file
      expect(await rejection(load(dir))).toMatchObject({ code: 'ERR_CELLSTATE_FILE_NOT_REGULAR' });
      return;
    }
    for (const read of [load, importOnnx]) {
      const e = await rejection(read(fifo));
      expect(e).toMatchObject({ code: 'ERR_CELLSTATE_FILE_NOT_REGULAR' });
      expect(e.message).toMatch(/is a FIFO/);
    }
    // a writer holding the FIFO open with a valid model behind it: still refused, still settles
    const writer = openSync(fifo, 'r+'); // r+ opens a FIFO without waiting (Linux)
    try {
      expect(await rejection(load(fifo))).toMatchObject({
        code: 'ERR_CELLSTATE_FILE_NOT_REGULAR',
      });
    } finally {
      closeSync(writer);
    }
  });

  it('a directory is refused with the same code', async () => {
    const sub = path.join(dir, 'a-directory');
    mkdirSync(sub);
    expect(await rejection(load(sub))).toMatchObject({ code: 'ERR_CELLSTATE_FILE_NOT_REGULAR' });
    expect(await rejection(importOnnx(sub))).toMatchObject({
      code: 'ERR_CELLSTATE_FILE_NOT_REGULAR',
    });
  });

  it('a file larger than MAX_FILE_BYTES is refused before it is read', async () => {
    const big = path.join(dir, 'big.cellstate');
    writeFileSync(big, toBuffer(new RNN({ inputSize: 1, hiddenSize: 1, seed: 1 })));
    truncateSync(big, MAX_FILE_BYTES + 1); // sparse: no disk space used
    for (const read of [load, importOnnx]) {
      const e = await rejection(read(big));
      expect(e).toMatchObject({ code: 'ERR_CELLSTATE_FILE_TOO_LARGE' });
      expect(e.message).toMatch(/more than the limit of 4294967295/);
    }
  });

  it('a tensor of more than MAX_ELEMENTS values is refused before its data is read', async () => {
    const n = MAX_ELEMENTS + 1;
    const header = { big: { dtype: 'F16', shape: [n], data_offsets: [0, 2 * n] } };
    const json = new TextEncoder().encode(JSON.stringify(header));
    const file = path.join(dir, 'huge-tensor.safetensors');
    writeFileSync(file, joinFile(header, new Uint8Array(0)));
    truncateSync(file, 8 + json.length + 2 * n); // sparse: the 512 MiB of data are never read
    const e = await rejection(load(file));
    expect(e).toMatchObject({ code: 'ERR_CELLSTATE_FILE_SHAPE' });
    expect(e.message).toContain(`holds ${n} values, more than the memory limit of ${MAX_ELEMENTS}`);
  });

  it('a symlink to a regular file loads it; a missing file is ENOENT', async () => {
    const layer = new GRU({ inputSize: 2, hiddenSize: 3, seed: 2 });
    const file = path.join(dir, 'target.cellstate');
    writeFileSync(file, toBuffer(layer));
    const link = path.join(dir, 'link.cellstate');
    symlinkSync(file, link);
    expectSameParameters((await load(link)).parameters(), layer.parameters());
    expect(await rejection(load(path.join(dir, 'missing')))).toMatchObject({ code: 'ENOENT' });
  });

  it('the declared sizes decide what is read: a file shorter or longer than its header says is refused', async () => {
    const good = toBuffer(new LSTM({ inputSize: 2, hiddenSize: 3, seed: 3 }));
    const file = path.join(dir, 'sized.cellstate');
    const cases: [Uint8Array, string][] = [
      [good.subarray(0, good.length - 4), 'ERR_CELLSTATE_FILE_TRUNCATED'],
      [good.subarray(0, 5), 'ERR_CELLSTATE_FILE_TRUNCATED'],
      [new Uint8Array([...good, 1, 2, 3, 4]), 'ERR_CELLSTATE_FILE_OFFSETS'],
      [good.subarray(0, 40), 'ERR_CELLSTATE_FILE_HEADER_LENGTH'],
    ];
    for (const [bytes, code] of cases) {
      writeFileSync(file, bytes);
      // the same refusal from a path as from the bytes
      expect(await rejection(load(file))).toMatchObject({ code });
      expect(thrown(() => fromBuffer(bytes))).toMatchObject({ code });
    }
    // a header length of 2^62: refused from the 8 bytes alone
    const huge = good.slice();
    new DataView(huge.buffer).setBigUint64(0, 2n ** 62n, true);
    writeFileSync(file, huge);
    expect(await rejection(load(file))).toMatchObject({
      code: 'ERR_CELLSTATE_FILE_HEADER_LENGTH',
    });
    // options are checked before the file is opened
    await expect(load(path.join(dir, 'missing'), { nonsense: 1 } as never)).rejects.toThrow(
      /unknown option 'nonsense'/,
    );
  });
});

describe('the checksum covers every byte of the file but its own 8 digits', () => {
  it('is written first in the header, format 2.0', () => {
    const bytes = toBuffer(new RNN({ inputSize: 1, hiddenSize: 1, seed: 1 }));
    expect(FORMAT_VERSION).toBe('2.0');
    const text = new TextDecoder().decode(bytes.subarray(8, CHECKSUM_AT + 9));
    expect(text).toMatch(/^\{"__metadata__":\{"checksum":"crc32:[0-9a-f]{8}"$/);
    expect(splitFile(bytes).header.__metadata__.version).toBe('2.0');
  });

  it('swapping two bytes of the names weight_ih_l0 / weight_hh_l0 is a FILE_CHECKSUM error', () => {
    // inputSize = hiddenSize: both weights have the same shape, so only the checksum can tell
    const layer = new RNN({ inputSize: 3, hiddenSize: 3, seed: 4 });
    const bytes = toBuffer(layer);
    const text = new TextDecoder().decode(bytes);
    const ih = text.indexOf('"weight_ih_l0"');
    const hh = text.indexOf('"weight_hh_l0"');
    expect(ih).toBeGreaterThan(0);
    expect(hh).toBeGreaterThan(0);
    const swapped = bytes.slice();
    // "weight_ih_l0" ↔ "weight_hh_l0": the 'i' of one and the 'h' of the other trade places
    swapped[ih + 8] = bytes[hh + 8];
    swapped[hh + 8] = bytes[ih + 8];
    const { header } = splitFile(swapped);
    expect(header.weight_hh_l0.data_offsets).toEqual(
      splitFile(bytes).header.weight_ih_l0.data_offsets,
    );
    const e = thrown(() => fromBuffer(swapped));
    expect(e).toMatchObject({ code: 'ERR_CELLSTATE_FILE_CHECKSUM' });
    expect(e.message).toMatch(/the file is corrupt/);
  });

  const small: [string, Uint8Array][] = [
    ['an RNN', toBuffer(new RNN({ inputSize: 2, hiddenSize: 2, seed: 5 }))],
    (() => {
      const d = new Dense({ inputSize: 2, outputSize: 1, seed: 6 });
      const sgd = new SGD({ momentum: 0.9 });
      sgd.step([{ values: d.flat.values, grads: d.flat.values.slice(), entries: d.flat.entries }]);
      return ['a Dense with SGD state', toBuffer(d, { optimizer: sgd })] as [string, Uint8Array];
    })(),
  ];

  it.each(small)(
    '%s: any single byte changed anywhere is an error with a FILE_* code',
    (_n, good) => {
      fromBuffer(good); // the original loads
      const codes = new Map<string, number>();
      for (let at = 0; at < good.length; ++at)
        for (const mask of [0x01, 0x20, 0x80, 0xff]) {
          const bad = good.slice();
          bad[at] ^= mask;
          let e: { code?: string } | undefined;
          try {
            fromBuffer(bad);
          } catch (err) {
            e = err as { code?: string };
          }
          if (!e) throw new Error(`byte ${at} ^ 0x${mask.toString(16)} loaded`);
          expect(e.code, `byte ${at}`).toMatch(/^ERR_CELLSTATE_FILE_[A-Z_]+$/);
          codes.set(e.code as string, (codes.get(e.code as string) ?? 0) + 1);
        }
      // the checksum is what catches the changes the structure checks cannot
      expect(codes.get('ERR_CELLSTATE_FILE_CHECKSUM')).toBeGreaterThan(0);
    },
  );

  it('format 1.0 files (cellstate 0.1) still load, checked with their checksum', async () => {
    const layer = new LSTM({ inputSize: 2, hiddenSize: 3, seed: 7 });
    const old = legacyFile(toBuffer(layer));
    expect(splitFile(old).header.__metadata__.version).toBe('1.0');
    expectSameParameters(fromBuffer(old).parameters(), layer.parameters());
    const file = path.join(dir, 'v1.cellstate');
    writeFileSync(file, old);
    expectSameParameters((await load(file)).parameters(), layer.parameters());
    // a flipped data byte still fails format 1's checksum
    const bad = old.slice();
    bad[bad.length - 3] ^= 0x04;
    expect(thrown(() => fromBuffer(bad))).toMatchObject({ code: 'ERR_CELLSTATE_FILE_CHECKSUM' });
    // and saving again writes format 2
    expect(splitFile(toBuffer(fromBuffer(old))).header.__metadata__.version).toBe('2.0');
  });

  it('a second "checksum" key, or a checksum moved from the start, is refused', () => {
    const good = toBuffer(new RNN({ inputSize: 1, hiddenSize: 2, seed: 8 }));
    const { header, data } = splitFile(good);
    // JSON.parse keeps the last of two equal keys: a later checksum must not replace the first
    const text = JSON.stringify(header).replace(
      '"format"',
      `"checksum":"${header.__metadata__.checksum}","format"`,
    );
    expect(thrown(() => fromBuffer(signedFile(text, data)))).toMatchObject({
      code: 'ERR_CELLSTATE_FILE_CHECKSUM',
    });
    const moved = structuredClone(header);
    const sum = moved.__metadata__.checksum;
    delete moved.__metadata__.checksum;
    moved.__metadata__.checksum = sum;
    expect(thrown(() => fromBuffer(joinFile(moved, data)))).toMatchObject({
      code: 'ERR_CELLSTATE_FILE_CHECKSUM',
      message: expect.stringMatching(/does not begin with __metadata__.checksum/),
    });
  });
});

describe('MAX_MODEL_LAYERS and MAX_CONFIG_DEPTH', () => {
  /** A cellstate file of `model`'s tensors whose stored config is replaced by `config` (text). */
  function withConfig(config: string): Uint8Array {
    const { header, data } = splitFile(toBuffer(new RNN({ inputSize: 1, hiddenSize: 1, seed: 9 })));
    header.__metadata__.config = config;
    return signedFile(header, data);
  }

  it('a file describing 300k layers is refused by the cap, before any layer is built', () => {
    const layer = '{"type":"dropout","rate":0.5,"seed":1}';
    const config = `{"layers":[${new Array(300_000).fill(layer).join(',')}]}`;
    expect(config.length).toBeGreaterThan(7_000_000);
    const e = thrown(() => fromBuffer(withConfig(config)));
    expect(e).toMatchObject({ code: 'ERR_CELLSTATE_FILE_CONFIG' });
    expect(e.message).toContain(
      `describes 300000 layers, more than the limit of ${MAX_MODEL_LAYERS} (MAX_MODEL_LAYERS)`,
    );
  });

  it('a model of MAX_MODEL_LAYERS layers saves and loads', () => {
    const layers = [
      new Dense({ inputSize: 2, outputSize: 2, seed: 1 }),
      ...Array.from(
        { length: MAX_MODEL_LAYERS - 1 },
        (_, i) => new Dropout({ rate: 0.1, seed: i }),
      ),
    ];
    const model = new Sequential(layers);
    const back = fromBuffer(toBuffer(model)) as Sequential;
    expect(back.layers.length).toBe(MAX_MODEL_LAYERS);
    expectSameParameters(back.parameters(), model.parameters());
  });

  it('Sequential checks its layers for duplicates in linear work', () => {
    // count the reads of the layers array: the checks must read each entry a few times, not
    // once per pair (an indexOf per layer read n²/2 entries)
    const n = 3000;
    const layers = [
      new Dense({ inputSize: 2, outputSize: 2, seed: 1 }),
      ...Array.from({ length: n - 1 }, () => new Dropout({ rate: 0.1, seed: 1 })),
    ];
    let reads = 0;
    const counted = new Proxy(layers, {
      get(target, key, receiver) {
        if (typeof key === 'string' && /^\d+$/.test(key)) reads++;
        return Reflect.get(target, key, receiver);
      },
    });
    expect(new Sequential(counted).layers.length).toBe(n);
    expect(reads).toBeLessThan(10 * n);
    // and a duplicate is still found, naming both places
    const dup = [...layers.slice(0, 5), layers[3]];
    expect(() => new Sequential(dup)).toThrow(/layers\[5\] is the same layer as layers\[3\]/);
  });

  it('a config nested deeper than MAX_CONFIG_DEPTH is a FILE_CONFIG error, not a stack overflow', () => {
    const depth = 100_000;
    const config = '{"layers":['.repeat(depth) + '{"type":"dropout","rate":0}' + ']}'.repeat(depth);
    const e = thrown(() => fromBuffer(withConfig(config)));
    expect(e).toMatchObject({ code: 'ERR_CELLSTATE_FILE_CONFIG' });
    expect(e.message).toContain(`nested more than ${MAX_CONFIG_DEPTH} levels deep`);
    // a shallow nesting reaches the model's own check
    expect(
      thrown(() => fromBuffer(withConfig('{"layers":[{"layers":[{"type":"dropout"}]}]}'))),
    ).toMatchObject({ code: 'ERR_CELLSTATE_FILE_CONFIG' });
  });

  it('a deeply nested shape in the header, or a deep config option, is a coded error', () => {
    const { header, data } = splitFile(toBuffer(new RNN({ inputSize: 1, hiddenSize: 1, seed: 9 })));
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    const text = JSON.stringify(header).replace('"shape":[1,1]', `"shape":[${deep}]`);
    expect(thrown(() => fromBuffer(signedFile(text, data)))).toMatchObject({
      code: 'ERR_CELLSTATE_FILE_HEADER',
    });
    let config: Record<string, unknown> = {};
    for (let i = 0; i < 100_000; ++i) config = { inner: config };
    const torch = joinFile(
      { w: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } },
      new Uint8Array(4),
    );
    const e = thrown(() => fromBuffer(torch, { config }));
    expect(e).toBeInstanceOf(RangeError);
    expect(e).toMatchObject({ code: 'ERR_CELLSTATE_INVALID_ARG' });
  });
});

describe('ONNX files through importOnnx', () => {
  it('a path to a regular ONNX file loads as before', async () => {
    const layer = new LSTM({ inputSize: 2, hiddenSize: 3, seed: 10 });
    const file = path.join(dir, 'model.onnx');
    writeFileSync(file, toOnnx(layer));
    const back = await importOnnx(file);
    expect(bits(back.parameters().weight_ih_l0)).toEqual(bits(layer.parameters().weight_ih_l0));
  });
});
