// Helpers of the file tests: bitwise comparisons, deterministic inputs, header surgery.
import { expect } from 'vitest';

import { Tensor } from '../../lib/index';
import { CHECKSUM_AT, fileChecksum, legacyChecksum } from '../../lib/io/file';

/** A deterministic pseudo-random Float32Array in [−1, 1) (a small LCG; not the library's). */
export function randomData(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; ++i) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

export function randomTensor(shape: number[], seed: number): Tensor {
  return new Tensor(
    randomData(
      shape.reduce((a, b) => a * b, 1),
      seed,
    ),
    shape,
  );
}

/** The float32 bit patterns, so that comparisons are bit for bit (NaN payloads, −0 included). */
export function bits(t: Tensor | Float32Array): Uint32Array {
  const d = t instanceof Tensor ? t.data : t;
  return new Uint32Array(d.slice().buffer);
}

/** Two parameter records are equal name for name, shape for shape, bit for bit. */
export function expectSameParameters(
  got: Record<string, Tensor>,
  want: Record<string, Tensor>,
): void {
  expect(Object.keys(got)).toEqual(Object.keys(want));
  for (const [name, t] of Object.entries(want)) {
    expect(got[name].shape, name).toEqual(t.shape);
    expect(bits(got[name]), name).toEqual(bits(t));
  }
}

/** The header of a safetensors buffer and its data section. */
export function splitFile(bytes: Uint8Array): { header: Record<string, any>; data: Uint8Array } {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  return { header, data: bytes.subarray(8 + n) };
}

/** A safetensors buffer from a header object (or raw header text) and a data section. */
export function joinFile(header: Record<string, any> | string, data: Uint8Array): Uint8Array {
  const json = new TextEncoder().encode(
    typeof header === 'string' ? header : JSON.stringify(header),
  );
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

/** The error `fn` throws (fails the test if it returns). */
export function thrown(fn: () => unknown): any {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected an error, none was thrown');
}

/**
 * Signs a (modified) cellstate file in place as cellstate does: the CRC-32 of every byte with
 * the checksum's 8 digits read as zeros, written at CHECKSUM_AT. A file whose header does not
 * begin with `{"__metadata__":{"checksum":"crc32:` is returned unchanged.
 */
export function sign(bytes: Uint8Array): Uint8Array {
  const start = '{"__metadata__":{"checksum":"crc32:';
  if (new TextDecoder().decode(bytes.subarray(8, CHECKSUM_AT)) !== start) return bytes;
  bytes.set(new TextEncoder().encode(fileChecksum(bytes).slice(6)), CHECKSUM_AT);
  return bytes;
}

/** A safetensors file from a header and data, signed (see sign). */
export function signedFile(header: Record<string, any> | string, data: Uint8Array): Uint8Array {
  return sign(joinFile(header, data));
}

/**
 * The same model as a format 1.0 file (cellstate 0.1): version "1.0" and the checksum of the
 * data, config and optimizer metadata, as the last key of __metadata__.
 */
export function legacyFile(bytes: Uint8Array): Uint8Array {
  const { header, data } = splitFile(bytes);
  const m = header.__metadata__;
  delete m.checksum;
  m.version = '1.0';
  m.checksum = legacyChecksum(data, m.config ?? '', m.optimizer ?? '');
  return joinFile(header, data);
}
