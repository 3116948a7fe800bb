// CRC-32 (IEEE 802.3, the polynomial of zlib and PNG) of a byte range: the checksum a cellstate
// file records over its bytes so that a flipped byte never loads silently. Node's zlib.crc32
// (Node >= 20.15 / 22.2, native) where it exists, the table-driven JavaScript below otherwise;
// both give the same value (test/io/crc32.test.ts).
import * as zlib from 'node:zlib';

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

/** The running value before any byte: `crc32Final(crc32Update(crc32Update(CRC32_INIT, a), b))` is the CRC-32 of a then b. */
export const CRC32_INIT = 0xffffffff;

/** The running value `c` continued over `bytes` in JavaScript, one table lookup per byte. */
function crc32UpdateJs(c: number, bytes: Uint8Array): number {
  const t = crcTable();
  for (let i = 0; i < bytes.length; ++i) c = t[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return c;
}

/** The CRC-32 from a running value. */
export function crc32Final(c: number): number {
  return (c ^ 0xffffffff) >>> 0;
}

/** CRC-32 of `bytes` in JavaScript (the fallback). @internal */
export function crc32js(bytes: Uint8Array): number {
  return crc32Final(crc32UpdateJs(CRC32_INIT, bytes));
}

const zlibCrc32 = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;

/** Which implementation crc32 uses: 'zlib' (Node's, native) or 'js'. @internal */
export const crc32Implementation: 'zlib' | 'js' = typeof zlibCrc32 === 'function' ? 'zlib' : 'js';

/** The running CRC-32 value `c` continued over `bytes`. */
export const crc32Update: (c: number, bytes: Uint8Array) => number =
  typeof zlibCrc32 === 'function'
    ? (c, bytes) => crc32Final(zlibCrc32(bytes, crc32Final(c)))
    : crc32UpdateJs;

/** CRC-32 of `bytes`, an unsigned 32-bit integer (crc32("123456789") = 0xcbf43926). */
export function crc32(bytes: Uint8Array): number {
  return crc32Final(crc32Update(CRC32_INIT, bytes));
}

/** The checksum as 8 lowercase hex digits, as stored in `__metadata__`. */
export function crc32Hex(bytes: Uint8Array): string {
  return hex8(crc32(bytes));
}

/** An unsigned 32-bit integer as 8 lowercase hex digits. */
export function hex8(value: number): string {
  return value.toString(16).padStart(8, '0');
}
