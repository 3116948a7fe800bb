// CRC-32 (IEEE 802.3, the polynomial of zlib and PNG) of a byte range: the checksum a cellstate
// file records over its bytes so that a flipped byte never loads silently.

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

/** CRC-32 of `bytes`, an unsigned 32-bit integer (crc32("123456789") = 0xcbf43926). */
export function crc32(bytes: Uint8Array): number {
  return crc32Final(crc32Update(CRC32_INIT, bytes));
}

/** The running value before any byte: `crc32Final(crc32Update(crc32Update(CRC32_INIT, a), b))` is the CRC-32 of a then b. */
export const CRC32_INIT = 0xffffffff;

/** The running CRC-32 value `c` continued over `bytes`. */
export function crc32Update(c: number, bytes: Uint8Array): number {
  const t = crcTable();
  for (let i = 0; i < bytes.length; ++i) c = t[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return c;
}

/** The CRC-32 from a running value. */
export function crc32Final(c: number): number {
  return (c ^ 0xffffffff) >>> 0;
}

/** The checksum as 8 lowercase hex digits, as stored in `__metadata__`. */
export function crc32Hex(bytes: Uint8Array): string {
  return hex8(crc32(bytes));
}

/** An unsigned 32-bit integer as 8 lowercase hex digits. */
export function hex8(value: number): string {
  return value.toString(16).padStart(8, '0');
}
