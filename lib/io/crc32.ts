// CRC-32 (IEEE 802.3, the polynomial of zlib and PNG) of a byte range: the checksum a cellstate
// file records for its data section so that a flipped byte never loads silently. Node's
// zlib.crc32 (Node >= 20.15 / 22.2, native) where it exists, the table-driven JavaScript below
// otherwise; both give the same value (test/io/crc32.test.ts).
import * as zlib from 'node:zlib';

type Crc32 = (bytes: Uint8Array) => number;

let table: Uint32Array | undefined;

function crcTable(): Uint32Array {
  if (table) return table;
  table = new Uint32Array(256);
  for (let n = 0; n < 256; ++n) {
    let c = n;
    for (let k = 0; k < 8; ++k) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
}

/** CRC-32 of `bytes` in JavaScript, one table lookup per byte (the fallback). @internal */
export function crc32js(bytes: Uint8Array): number {
  const t = crcTable();
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; ++i) c = t[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const zlibCrc32 = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;

/** Which implementation crc32 uses: 'zlib' (Node's, native) or 'js'. @internal */
export const crc32Implementation: 'zlib' | 'js' = typeof zlibCrc32 === 'function' ? 'zlib' : 'js';

/** CRC-32 of `bytes`, an unsigned 32-bit integer (crc32("123456789") = 0xcbf43926). */
export const crc32: Crc32 =
  typeof zlibCrc32 === 'function' ? (bytes) => zlibCrc32(bytes) >>> 0 : crc32js;

/** The checksum as 8 lowercase hex digits, as stored in `__metadata__`. */
export function crc32Hex(bytes: Uint8Array): string {
  return crc32(bytes).toString(16).padStart(8, '0');
}
