// What flows between the layers of a model: float activations, time-major sequences [T, B, F]
// or one row per sequence [B, F], and integer tokens [T, B] for an Embedding. Internal to
// lib/layers and lib/model.
import {
  CellstateRangeError,
  CellstateTypeError,
  ErrorCode,
  describe,
  shapeError,
} from '../errors';
import { Tensor } from '../tensor';

/** Float activations: `[T, B, F]` when `T > 0` (per step), else `[B, F]` (one row per sequence). */
export interface Activation {
  data: Float32Array;
  /** Time steps; 0 for `[B, F]`. */
  T: number;
  B: number;
  F: number;
}

/** Integer tokens `[T, B]`, time-major. */
export interface TokenBatch {
  tokens: Int32Array;
  T: number;
  B: number;
}

/** How a batch runs through a layer. */
export interface BatchContext {
  /** Sequence lengths [B] in [0, T], or null (every sequence has length T). */
  lengths: Int32Array | null;
  /** Keep what backward needs; apply dropout. */
  train: boolean;
  /**
   * The last layer only: return the pre-activation (logits) of a softmax / sigmoid Dense, whose
   * backward then takes the gradient of the logits (the loss fuses the activation).
   */
  logits?: boolean;
}

/** Swaps the first two axes of `[A, B, F]` data into a new array `[B, A, F]`. */
export function swapAxes<T extends Float32Array | Int32Array>(
  data: T,
  A: number,
  B: number,
  F: number,
): T {
  const out = new (data.constructor as new (n: number) => T)(data.length);
  for (let a = 0; a < A; ++a)
    for (let b = 0; b < B; ++b)
      for (let f = 0, src = (a * B + b) * F, dst = (b * A + a) * F; f < F; ++f)
        out[dst + f] = data[src + f];
  return out;
}

/** Rows of an activation: T·B per step, B otherwise. */
export function rowsOf(a: Activation): number {
  return a.T > 0 ? a.T * a.B : a.B;
}

export function activationTensor(a: Activation): Tensor {
  return new Tensor(a.data, a.T > 0 ? [a.T, a.B, a.F] : [a.B, a.F]);
}

/** Zeroes the rows of padded steps (t ≥ len_b) of a per-step activation, in place. */
export function zeroPadded(
  data: Float32Array,
  T: number,
  B: number,
  F: number,
  lengths: Int32Array | null,
): void {
  if (!lengths || T === 0) return;
  for (let b = 0; b < B; ++b) {
    for (let t = lengths[b]; t < T; ++t) data.fill(0, (t * B + b) * F, (t * B + b + 1) * F);
  }
}

/** Integer tokens in any accepted form: `{ data: Int32Array, shape }`, a Tensor or nested arrays. */
export interface Tokens {
  /** The token ids, row-major. */
  data: Int32Array;
  /** The dimensions; their product is `data.length`. */
  shape: readonly number[];
}

/** What a method taking token ids accepts. */
export type TokensLike = Tokens | Tensor | number[] | number[][];

function isTokens(v: unknown): v is Tokens {
  return (
    v !== null &&
    typeof v === 'object' &&
    (v as Tokens).data instanceof Int32Array &&
    Array.isArray((v as Tokens).shape)
  );
}

/**
 * Token ids of the given rank as a flat Int32Array and shape. Float values (a Tensor) must be
 * integers. `where` and `arg` name the caller in messages.
 */
export function readTokens(
  value: unknown,
  where: string,
  arg: string,
  dims: readonly string[],
): { data: Int32Array; shape: number[] } {
  const rank = dims.length;
  if (isTokens(value)) {
    const shape = [...value.shape];
    const size = shape.reduce((a, b) => a * b, 1);
    if (shape.length !== rank || size !== value.data.length)
      throw shapeError(where, arg, dims, shape, `${value.data.length} ids`);
    return { data: value.data, shape };
  }
  let t: Tensor;
  if (value instanceof Tensor) t = value;
  else if (Array.isArray(value)) t = Tensor.from(value as number[][]);
  else
    throw new CellstateTypeError(
      ErrorCode.INVALID_ARG,
      `${where}: ${arg} must be token ids: { data: Int32Array, shape }, a Tensor or nested arrays of integers, got ${describe(value)}`,
    );
  if (t.shape.length !== rank) throw shapeError(where, arg, dims, t.shape);
  const data = new Int32Array(t.data.length);
  for (let i = 0; i < data.length; ++i) {
    const v = t.data[i];
    if (!Number.isInteger(v))
      throw new CellstateRangeError(
        ErrorCode.INVALID_ARG,
        `${where}: ${arg} must hold integer token ids, got ${v} at flat index ${i}`,
      );
    data[i] = v;
  }
  return { data, shape: [...t.shape] };
}

/**
 * The sequence lengths of a batch, validated: `value` (an array of numbers or an Int32Array) must
 * hold B integers in [0, T] (0: an empty sequence, whose outputs are all 0 and whose state
 * passes through); returned as a new Int32Array. The one check of every `lengths` the
 * API takes (recurrent layers, Dense, Embedding, Sequential, losses, fit / evaluate / predict):
 * a TypeError (ERR_CELLSTATE_INVALID_ARG) for the wrong kind of value or element, a RangeError
 * ERR_CELLSTATE_SHAPE for the wrong count and ERR_CELLSTATE_OUT_OF_RANGE for a length outside
 * [0, T], each naming `where` and the entry.
 */
export function readLengths(where: string, value: unknown, T: number, B: number): Int32Array {
  if (!(value instanceof Int32Array) && !Array.isArray(value))
    throw new CellstateTypeError(
      ErrorCode.INVALID_ARG,
      `${where}: lengths must be an array of integers or an Int32Array, got ${describe(value)}`,
    );
  if (value.length !== B) throw shapeError(where, 'lengths', [`B=${B}`], [value.length]);
  const out = new Int32Array(B);
  for (let b = 0; b < B; ++b) {
    const v: unknown = value[b];
    if (typeof v !== 'number')
      throw new CellstateTypeError(
        ErrorCode.INVALID_ARG,
        `${where}: lengths[${b}] must be an integer in [0, T=${T}], got ${describe(v)}`,
      );
    if (!Number.isInteger(v) || v < 0 || v > T)
      throw new CellstateRangeError(
        ErrorCode.OUT_OF_RANGE,
        `${where}: lengths[${b}] must be an integer in [0, T=${T}], got ${v}`,
      );
    out[b] = v;
  }
  return out;
}

/**
 * Refuses an empty sequence (a 0 in `lengths`) where a lastStep Dense reads each sequence's last
 * step, which an empty sequence has not: a RangeError ERR_CELLSTATE_OUT_OF_RANGE naming `where`
 * and the entry. Checked before anything runs.
 */
export function checkLastStepLengths(where: string, lengths: Int32Array | null): void {
  const b = lengths ? lengths.indexOf(0) : -1;
  if (b >= 0)
    throw new CellstateRangeError(
      ErrorCode.OUT_OF_RANGE,
      `${where}: lengths[${b}] is 0, an empty sequence, but a lastStep Dense reads the last step of each sequence (lengths[b] − 1)`,
    );
}

/** Whether every value of `a` is finite. */
export function allFinite(a: Float32Array): boolean {
  for (let i = 0; i < a.length; ++i) if (!Number.isFinite(a[i])) return false;
  return true;
}
