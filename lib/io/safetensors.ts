// The safetensors layout, read and written with every declared size checked against the bytes
// that are really there before anything is allocated:
//
//   [8 bytes: N, little-endian u64] [N bytes: JSON header] [data section]
//
// The header maps each tensor name to { dtype, shape, data_offsets: [begin, end] } (offsets
// relative to the data section) and may hold "__metadata__", an object of string values. The
// tensors must tile the data section exactly: no overlap, no gap, nothing after the last one
// (as the reference implementation requires). Every refusal is a CellstateError with a FILE_*
// code whose message names the tensor, offset or field that is wrong.
import { CellstateError, ErrorCode } from '../errors';
import { MAX_ELEMENTS } from '../limits';
import { Tensor } from '../tensor';

/** Largest header accepted, in bytes (the reference implementation's limit). */
export const MAX_HEADER_BYTES = 100_000_000;
/** Largest tensor rank accepted. */
export const MAX_RANK = 16;

/**
 * Bytes per element of the dtypes cellstate reads (all are converted to float32; I8 holds the
 * int8 weights of quantized cellstate files, which file.ts alone accepts).
 */
const ITEM_SIZE: Readonly<Record<string, number>> = { F32: 4, F64: 8, F16: 2, BF16: 2, I8: 1 };
/** Every dtype of the safetensors format, to tell "unsupported" from "not a dtype". */
const KNOWN_DTYPES = [
  'BOOL',
  'U8',
  'I8',
  'F8_E5M2',
  'F8_E4M3',
  'I16',
  'U16',
  'F16',
  'BF16',
  'I32',
  'U32',
  'F32',
  'F64',
  'I64',
  'U64',
];

/** What a safetensors file holds, every tensor converted to float32. */
export interface SafetensorsContent {
  /** `__metadata__`, or null when the file has none. */
  metadata: Record<string, string> | null;
  /** The tensors in the order of their data offsets. */
  tensors: Map<string, Tensor>;
  /** The dtype each tensor was stored with. */
  dtypes: Map<string, string>;
  /** The data section (a view of the input), for checksums. */
  data: Uint8Array;
}

/** A CellstateError with a file code; `where` prefixes the message (`load: …`). */
export function fileError(code: ErrorCode, where: string, message: string): CellstateError {
  return new CellstateError(code, `${where}: ${message}`);
}

/** One tensor of a header. */
export interface Entry {
  name: string;
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The header of a safetensors file, parsed and checked on its own (the data not yet read). */
export interface SafetensorsHeader {
  /** N, the length of the JSON header in bytes. */
  length: number;
  metadata: Record<string, string> | null;
  /** The tensors in the order of their data offsets, tiling [0, dataLength) with no overlap or gap. */
  entries: readonly Entry[];
  /** The bytes of data the tensors declare (the data section must hold exactly these). */
  dataLength: number;
}

/**
 * N from the first 8 bytes of a file of `size` bytes, checked: at most MAX_HEADER_BYTES, and
 * leaving room for the header in the file.
 */
export function readHeaderLength(prefix: Uint8Array, size: number, where: string): number {
  const err = (code: ErrorCode, message: string) => fileError(code, where, message);
  if (prefix.length < 8 || size < 8)
    throw err(
      ErrorCode.FILE_TRUNCATED,
      `the file has ${Math.min(prefix.length, size)} bytes, fewer than the 8 of its header length (truncated, or not a safetensors file)`,
    );
  const view = new DataView(prefix.buffer, prefix.byteOffset, 8);
  const lo = view.getUint32(0, true);
  const hi = view.getUint32(4, true);
  const n = hi * 2 ** 32 + lo;
  if (n > MAX_HEADER_BYTES)
    throw err(
      ErrorCode.FILE_HEADER_LENGTH,
      `the header length field says ${n} bytes, more than the limit of ${MAX_HEADER_BYTES} (not a safetensors file, or a corrupt one)`,
    );
  if (n > size - 8)
    throw err(
      ErrorCode.FILE_HEADER_LENGTH,
      `the header length field says ${n} bytes, but only ${size - 8} bytes follow it (a wrong header length, or a truncated file)`,
    );
  if (n < 2)
    throw err(
      ErrorCode.FILE_HEADER_LENGTH,
      `the header length field says ${n} bytes, too few for a JSON object`,
    );
  return n;
}

/**
 * Parses and checks the N bytes of a header (`json`): every entry, and the tiling of the data
 * section they declare. Nothing is allocated from the declared sizes.
 */
export function parseHeader(json: Uint8Array, where: string): SafetensorsHeader {
  const err = (code: ErrorCode, message: string) => fileError(code, where, message);
  const n = json.length;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(json);
  } catch {
    throw err(ErrorCode.FILE_HEADER, `the ${n}-byte header is not valid UTF-8`);
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    throw err(
      ErrorCode.FILE_HEADER,
      `the ${n}-byte header is not valid JSON (${(e as Error).message})`,
    );
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header))
    throw err(ErrorCode.FILE_HEADER, 'the header must be a JSON object of tensors by name');

  let metadata: Record<string, string> | null = null;
  const entries: Entry[] = [];
  for (const [name, value] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      metadata = readMetadata(value, err);
      continue;
    }
    entries.push(readEntry(name, value, err));
  }

  // Tile the data section: sorted by begin, each tensor starts where the previous one ended.
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let pos = 0;
  for (let k = 0; k < entries.length; ++k) {
    const e = entries[k];
    if (e.begin < pos)
      throw err(
        ErrorCode.FILE_OFFSETS,
        `tensor '${e.name}' at data_offsets [${e.begin}, ${e.end}] overlaps tensor '${entries[k - 1].name}' ending at ${pos}`,
      );
    if (e.begin > pos)
      throw err(
        ErrorCode.FILE_OFFSETS,
        `a gap of ${e.begin - pos} bytes before tensor '${e.name}' at data_offsets [${e.begin}, ${e.end}] (tensors must tile the data section)`,
      );
    pos = e.end;
  }
  return { length: n, metadata, entries, dataLength: pos };
}

/** Refuses a data section of `available` bytes that is not exactly the `header`'s. */
export function checkDataLength(header: SafetensorsHeader, available: number, where: string): void {
  const pos = header.dataLength;
  if (pos > available)
    throw fileError(
      ErrorCode.FILE_TRUNCATED,
      where,
      `the tensors need ${pos} bytes of data but the file has ${available} after its header (truncated; the last tensor is '${header.entries[header.entries.length - 1].name}')`,
    );
  if (pos < available)
    throw fileError(
      ErrorCode.FILE_OFFSETS,
      where,
      `${available - pos} bytes after the last tensor are not covered by any data_offsets`,
    );
}

/**
 * Parses and validates a safetensors buffer; `where` names the caller in messages. `header` is
 * the buffer's header when the caller has parsed it already (a file read from a path).
 */
export function decodeSafetensors(
  bytes: Uint8Array,
  where: string,
  header?: SafetensorsHeader,
): SafetensorsContent {
  const n = readHeaderLength(bytes, bytes.length, where);
  const h = header ?? parseHeader(bytes.subarray(8, 8 + n), where);
  const data = bytes.subarray(8 + n);
  checkDataLength(h, data.length, where);
  const tensors = new Map<string, Tensor>();
  const dtypes = new Map<string, string>();
  for (const e of h.entries) {
    tensors.set(e.name, new Tensor(convert(data, e), e.shape));
    dtypes.set(e.name, e.dtype);
  }
  return { metadata: h.metadata, tensors, dtypes, data };
}

function readMetadata(
  value: unknown,
  err: (code: ErrorCode, message: string) => CellstateError,
): Record<string, string> {
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw err(ErrorCode.FILE_HEADER, '__metadata__ must be an object of strings');
  const out: Record<string, string> = Object.create(null);
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (typeof v !== 'string')
      throw err(
        ErrorCode.FILE_HEADER,
        `__metadata__.${k} must be a string (safetensors metadata holds strings only), got ${typeof v}`,
      );
    out[k] = v;
  }
  return out;
}

function readEntry(
  name: string,
  value: unknown,
  err: (code: ErrorCode, message: string) => CellstateError,
): Entry {
  const what = `tensor '${name}'`;
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw err(ErrorCode.FILE_HEADER, `${what} must be an object { dtype, shape, data_offsets }`);
  const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;
  if (typeof dtype !== 'string') throw err(ErrorCode.FILE_HEADER, `${what} has no dtype string`);
  const itemSize = ITEM_SIZE[dtype];
  if (itemSize === undefined)
    throw err(
      ErrorCode.FILE_DTYPE,
      KNOWN_DTYPES.includes(dtype)
        ? `${what} has dtype ${dtype}, which cellstate does not read (it reads F32, F64, F16, BF16, and I8 in quantized cellstate files)`
        : `${what} has dtype ${JSON.stringify(dtype.slice(0, 20))}, which is not a safetensors dtype`,
    );
  if (!Array.isArray(shape) || shape.length > MAX_RANK)
    throw err(
      ErrorCode.FILE_HEADER,
      `${what}: shape must be an array of at most ${MAX_RANK} non-negative integers`,
    );
  // The element count in doubles: exact until it exceeds 2^53, and any count that large is
  // refused below against the real byte count, so nothing is ever allocated from it.
  let count = 1;
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0)
      throw err(
        ErrorCode.FILE_HEADER,
        `${what}: shape must hold non-negative integers, got [${shape.map(shapeItem).join(', ')}]`,
      );
    count *= d;
  }
  if (
    !Array.isArray(offsets) ||
    offsets.length !== 2 ||
    !offsets.every((o) => typeof o === 'number' && Number.isSafeInteger(o) && o >= 0)
  )
    throw err(
      ErrorCode.FILE_HEADER,
      `${what}: data_offsets must be [begin, end], two non-negative integers`,
    );
  const [begin, end] = offsets as number[];
  if (end < begin)
    throw err(
      ErrorCode.FILE_OFFSETS,
      `${what}: data_offsets [${begin}, ${end}] end before they begin`,
    );
  if (count * itemSize !== end - begin)
    throw err(
      ErrorCode.FILE_SHAPE,
      `${what}: shape [${shape.join(', ')}] of ${dtype} needs ${count * itemSize} bytes, but data_offsets [${begin}, ${end}] hold ${end - begin}`,
    );
  // no layer has a parameter this large: refused before its data is read or converted
  if (count > MAX_ELEMENTS)
    throw err(
      ErrorCode.FILE_SHAPE,
      `${what}: shape [${shape.join(', ')}] holds ${count} values, more than the memory limit of ${MAX_ELEMENTS} (MAX_ELEMENTS)`,
    );
  return { name, dtype, shape: shape as number[], begin, end };
}

/** One item of a refused shape, for messages (never recursing into a nested value). */
function shapeItem(x: unknown): string {
  if (Array.isArray(x)) return '[…]';
  if (x !== null && typeof x === 'object') return '{…}';
  return typeof x === 'string' ? JSON.stringify(x.slice(0, 20)) : String(x);
}

function convert(data: Uint8Array, e: Entry): Float32Array {
  const n = (e.end - e.begin) / ITEM_SIZE[e.dtype];
  const out = new Float32Array(n);
  const bytes = data.subarray(e.begin, e.end);
  if (e.dtype === 'F32' && littleEndian) {
    new Uint8Array(out.buffer).set(bytes);
    return out;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (e.dtype) {
    case 'F32':
      for (let i = 0; i < n; ++i) out[i] = view.getFloat32(4 * i, true);
      break;
    case 'F64':
      for (let i = 0; i < n; ++i) out[i] = view.getFloat64(8 * i, true);
      break;
    case 'F16':
      for (let i = 0; i < n; ++i) out[i] = halfToFloat(view.getUint16(2 * i, true));
      break;
    case 'I8':
      for (let i = 0; i < n; ++i) out[i] = view.getInt8(i);
      break;
    case 'BF16': {
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < n; ++i) bits[i] = view.getUint16(2 * i, true) << 16;
      break;
    }
  }
  return out;
}

/** IEEE binary16 bits to a number (exact: every half is a float32). */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** An int8 tensor to write (dtype I8): the int8 weights of a quantized model. */
export interface Int8Entry {
  readonly dtype: 'I8';
  readonly data: Int8Array;
  readonly shape: readonly number[];
}

/**
 * Writes tensors (F32, or I8 for an Int8Entry, in the order given) and string metadata in the
 * safetensors layout. The header is padded with spaces so that the data section starts at a
 * multiple of 8 bytes.
 */
export function encodeSafetensors(
  tensors: ReadonlyArray<readonly [string, Tensor | Int8Entry]>,
  metadata: Record<string, string>,
): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let pos = 0;
  for (const [name, t] of tensors) {
    const i8 = t instanceof Tensor ? false : t.dtype === 'I8';
    const end = pos + (i8 ? 1 : 4) * t.data.length;
    header[name] = { dtype: i8 ? 'I8' : 'F32', shape: [...t.shape], data_offsets: [pos, end] };
    pos = end;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil((8 + json.length) / 8) * 8 - 8;
  if (padded !== json.length) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(json);
    json = p;
  }
  const out = new Uint8Array(8 + json.length + pos);
  const view = new DataView(out.buffer);
  view.setUint32(0, json.length, true);
  view.setUint32(4, 0, true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const [, t] of tensors) {
    if (t.data instanceof Int8Array) {
      out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
      at += t.data.length;
      continue;
    }
    const d = t.data;
    if (littleEndian) {
      out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), at);
    } else {
      for (let i = 0; i < d.length; ++i) view.setFloat32(at + 4 * i, d[i], true);
    }
    at += 4 * d.length;
  }
  return out;
}
