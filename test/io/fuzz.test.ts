// Property-based fuzzing of the readers: valid files mutated thousands of times (flipped bytes,
// truncations, insertions, deletions, a rewritten header length). Every outcome must be either
// the original model, bit for bit, or an Error with a stable code; never another exception, a
// crash, a hang or a huge allocation.
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import path from 'node:path';

import { describe, expect, it } from 'vitest';

import { GRU, LSTM, fromBuffer, fromOnnx, toBuffer, toOnnx } from '../../lib/index';
import { Dense } from '../../lib/layers/dense';
import { Sequential } from '../../lib/model/sequential';
import { bits } from './helpers';

const FILE_CODE = /^ERR_CELLSTATE_FILE_[A-Z_]+$/;
const ONNX_CODE = /^ERR_CELLSTATE_(ONNX|FILE)_[A-Z_]+$/;

type Mutation =
  | { kind: 'flip'; at: number[]; values: number[] }
  | { kind: 'truncate'; length: number }
  | { kind: 'insert'; at: number; bytes: number[] }
  | { kind: 'delete'; at: number; count: number }
  | { kind: 'length'; value: bigint };

function mutation(size: number): fc.Arbitrary<Mutation> {
  const pos = fc.nat({ max: size - 1 });
  return fc.oneof(
    {
      weight: 5,
      arbitrary: fc.record({
        kind: fc.constant('flip' as const),
        at: fc.array(pos, { minLength: 1, maxLength: 4 }),
        values: fc.array(fc.nat({ max: 255 }), { minLength: 4, maxLength: 4 }),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('truncate' as const),
        length: fc.nat({ max: size - 1 }),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('insert' as const),
        at: pos,
        bytes: fc.array(fc.nat({ max: 255 }), { minLength: 1, maxLength: 8 }),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('delete' as const),
        at: pos,
        count: fc.integer({ min: 1, max: 16 }),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('length' as const),
        value: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
      }),
    },
  );
}

function apply(bytes: Uint8Array, m: Mutation): Uint8Array {
  switch (m.kind) {
    case 'flip': {
      const out = bytes.slice();
      m.at.forEach((at, i) => {
        out[at] = m.values[i] === out[at] ? out[at] ^ 0x01 : m.values[i];
      });
      return out;
    }
    case 'truncate':
      return bytes.slice(0, m.length);
    case 'insert': {
      const out = new Uint8Array(bytes.length + m.bytes.length);
      out.set(bytes.subarray(0, m.at));
      out.set(m.bytes, m.at);
      out.set(bytes.subarray(m.at), m.at + m.bytes.length);
      return out;
    }
    case 'delete': {
      const count = Math.min(m.count, bytes.length - m.at);
      const out = new Uint8Array(bytes.length - count);
      out.set(bytes.subarray(0, m.at));
      out.set(bytes.subarray(m.at + count), m.at);
      return out;
    }
    case 'length': {
      const out = bytes.slice();
      new DataView(out.buffer).setBigUint64(0, m.value, true);
      return out;
    }
  }
}

function sameParameters(
  a: Record<string, { shape: readonly number[]; data: Float32Array }>,
  b: typeof a,
): boolean {
  const ka = Object.keys(a);
  if (ka.join() !== Object.keys(b).join()) return false;
  return ka.every(
    (k) =>
      a[k].shape.join() === b[k].shape.join() &&
      bits(a[k].data).every((v, i) => v === bits(b[k].data)[i]),
  );
}

describe('fuzz: mutated files', () => {
  const models = [
    new LSTM({ inputSize: 2, hiddenSize: 3, peephole: true, seed: 1 }),
    new Sequential([
      new GRU({ inputSize: 2, hiddenSize: 3, bidirectional: true, seed: 2 }),
      new Dense({ inputSize: 6, outputSize: 2, seed: 3 }),
    ]),
  ];

  it.each(models.map((m, i) => [i, m] as const))(
    'cellstate file %i: the original, bit for bit, or a FILE_* error',
    (_i, model) => {
      const good = toBuffer(model);
      const want = model.parameters();
      let loaded = 0;
      const codes = new Map<string, number>();
      fc.assert(
        fc.property(mutation(good.length), (m) => {
          let got;
          try {
            got = fromBuffer(apply(good, m));
          } catch (e) {
            const code = (e as { code?: unknown }).code;
            if (!(e instanceof Error) || typeof code !== 'string' || !FILE_CODE.test(code)) throw e;
            codes.set(code, (codes.get(code) ?? 0) + 1);
            return;
          }
          loaded++;
          // a mutation that left the meaning intact (JSON whitespace, a minor version, …)
          expect(got.constructor).toBe(model.constructor);
          expect(sameParameters(got.parameters(), want)).toBe(true);
        }),
        { numRuns: 2000, seed: 42 },
      );
      // the mutations reach the checks of every part of the file
      for (const c of ['TRUNCATED', 'HEADER_LENGTH', 'HEADER', 'CHECKSUM'])
        expect(codes.get(`ERR_CELLSTATE_FILE_${c}`)).toBeGreaterThan(0);
      expect(loaded).toBeLessThan(2000);
    },
  );

  it('PyTorch state_dict: a model or a FILE_* error', () => {
    // no checksum in PyTorch's files: a flipped weight loads as a different weight
    const good = new Uint8Array(
      readFileSync(path.resolve(__dirname, '../data/torch_classifier.safetensors')),
    );
    fc.assert(
      fc.property(mutation(good.length), (m) => {
        try {
          fromBuffer(apply(good, m));
        } catch (e) {
          const code = (e as { code?: unknown }).code;
          if (!(e instanceof Error) || typeof code !== 'string' || !FILE_CODE.test(code)) throw e;
        }
      }),
      { numRuns: 1000, seed: 43 },
    );
  });

  it('ONNX: a model or an ONNX_* / FILE_* error', () => {
    const good = toOnnx(
      new Sequential([
        new LSTM({ inputSize: 2, hiddenSize: 3, seed: 1 }),
        new Dense({ inputSize: 3, outputSize: 2, seed: 2 }),
      ]),
    );
    const torch = new Uint8Array(
      readFileSync(path.resolve(__dirname, '../data/torch_gru_last.onnx')),
    );
    for (const [bytes, seed] of [
      [good, 44],
      [torch, 45],
    ] as const)
      fc.assert(
        fc.property(mutation(bytes.length), (m) => {
          try {
            fromOnnx(apply(bytes, m));
          } catch (e) {
            const code = (e as { code?: unknown }).code;
            if (!(e instanceof Error) || typeof code !== 'string' || !ONNX_CODE.test(code)) throw e;
          }
        }),
        { numRuns: 1000, seed },
      );
  });
});
