// The checksum of cellstate files: Node's zlib.crc32 where Node has it, the JavaScript fallback
// otherwise; both must give the same value, as a file saved by one is read by the other.
import * as zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';

import {
  CRC32_INIT,
  crc32,
  crc32Final,
  crc32Hex,
  crc32Implementation,
  crc32js,
  crc32Update,
} from '../../lib/io/crc32';

const zlibCrc32 = (zlib as { crc32?: (d: Uint8Array) => number }).crc32;

function randomBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; ++i) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s >>> 24;
  }
  return out;
}

describe('crc32', () => {
  it('gives the check value of CRC-32/ISO-HDLC in both implementations', () => {
    const bytes = new TextEncoder().encode('123456789');
    expect(crc32js(bytes)).toBe(0xcbf43926);
    expect(crc32(bytes)).toBe(0xcbf43926);
    expect(crc32Hex(bytes)).toBe('cbf43926');
    expect(crc32js(new Uint8Array(0))).toBe(0);
    expect(crc32(new Uint8Array(0))).toBe(0);
  });

  it('uses zlib.crc32 exactly when this Node has it', () => {
    expect(crc32Implementation).toBe(typeof zlibCrc32 === 'function' ? 'zlib' : 'js');
  });

  it('the JavaScript fallback equals zlib.crc32 on sizes 0 to 4099 and on a subarray', () => {
    for (const n of [0, 1, 2, 3, 7, 8, 9, 255, 256, 257, 1000, 4099]) {
      const bytes = randomBytes(n, n + 1);
      const js = crc32js(bytes);
      expect(crc32(bytes)).toBe(js);
      if (zlibCrc32) expect(zlibCrc32(bytes) >>> 0).toBe(js);
    }
    const big = randomBytes(10_000, 5);
    const view = big.subarray(13, 9_000);
    expect(crc32(view)).toBe(crc32js(view));
    expect(crc32(view)).not.toBe(crc32(big));
  });
});

describe('crc32Update', () => {
  it('continues a running value across pieces, equal to the JavaScript fallback over the whole', () => {
    const bytes = randomBytes(5000, 9);
    for (const cut of [0, 1, 17, 2500, 4999, 5000]) {
      const c = crc32Update(crc32Update(CRC32_INIT, bytes.subarray(0, cut)), bytes.subarray(cut));
      expect(crc32Final(c)).toBe(crc32js(bytes));
    }
  });
});
