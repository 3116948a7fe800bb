// Datasets as streams of batches (as TF.js's fitDataset): fit, evaluate and predict accept an
// iterable or async iterable of `{ x, y?, lengths? }`, each a batch in the layout of an in-memory
// dataset. `windows` makes such batches over one long token or frame array (a text, a time
// series) without copying it: each pass shuffles the window starts by index, and only one batch
// at a time is gathered.
import { CellstateRangeError, CellstateTypeError, ErrorCode, describe } from '../errors';
import { OptionReader } from '../options';
import { Random, randomSeed } from '../random';
import { Tensor, type TensorLike } from '../tensor';
import type { Tokens, TokensLike } from '../layers/batch';

/** One batch of a dataset given as an iterable: the layout of an in-memory dataset with N = B. */
export interface DataBatch {
  /** `[B, T, I]`, or token ids `[B, T]` (time-major `[T, B, ·]` for a model with batchFirst: false). */
  x: TensorLike | TokensLike;
  /** Targets, as FitData's `y`; needed by fit and evaluate, not by predict. */
  y?: TensorLike | Int32Array | Tokens | undefined;
  /** Length of each sequence, B integers in [0, T]. Default: all T. */
  lengths?: number[] | Int32Array | undefined;
}

/**
 * A dataset given batch by batch: an iterable or async iterable of DataBatch (an array of
 * batches, a generator, a WindowDataset, a stream reader...). fit opens it once per epoch
 * (`[Symbol.asyncIterator]()` or `[Symbol.iterator]()`), unless `stepsPerEpoch` is given.
 */
export type BatchIterable = Iterable<DataBatch> | AsyncIterable<DataBatch>;

/** @internal Whether `v` is a dataset given batch by batch (not a tensor or an array of numbers). */
export function isBatchIterable(v: unknown): v is BatchIterable {
  if (v === null || typeof v !== 'object') return false;
  if (ArrayBuffer.isView(v) || v instanceof Tensor) return false;
  // an array is batches when its first element is one (nested arrays of numbers are a tensor);
  // each element is then checked as a batch, so a bad one is named
  if (Array.isArray(v)) return v.length > 0 && v[0] !== null && isBatchObject(v[0]);
  return (
    typeof (v as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function' ||
    typeof (v as Iterable<unknown>)[Symbol.iterator] === 'function'
  );
}

function isBatchObject(b: unknown): boolean {
  return typeof b === 'object' && !Array.isArray(b) && 'x' in (b as object);
}

/** @internal Opens one pass over a batch iterable. */
export function openBatches(data: BatchIterable): Iterator<DataBatch> | AsyncIterator<DataBatch> {
  const a = (data as AsyncIterable<DataBatch>)[Symbol.asyncIterator];
  if (typeof a === 'function') return a.call(data);
  return (data as Iterable<DataBatch>)[Symbol.iterator]();
}

/** @internal Whether iterating `data` again gives the same, used-up iterator (a generator object). */
export function isSinglePass(data: BatchIterable): boolean {
  return typeof (data as { next?: unknown }).next === 'function';
}

/** @internal Whether only an async iterator is available. */
export function isAsyncOnly(data: BatchIterable): boolean {
  return typeof (data as Iterable<DataBatch>)[Symbol.iterator] !== 'function';
}

/** Options of windows. */
export interface WindowOptions {
  /** Steps per window (T), an integer ≥ 1. Required. */
  length: number;
  /** Steps from the start of one window to the next, an integer ≥ 1. Default `length` (windows do not overlap). */
  stride?: number | undefined;
  /** Windows per batch, an integer ≥ 1. Default 32. */
  batchSize?: number | undefined;
  /**
   * For a Float32Array of frames: features per frame (the array holds `frames × features`
   * values, frame-major). Default 1. Token arrays (Int32Array) have one id per step.
   */
  features?: number | undefined;
  /**
   * The targets: 'next' — per step, the element after it (`y[t] = data[start + t + 1]`: a
   * character model, a one-step-ahead forecaster); 'last' — the element after the window, once
   * per window (a model ending in a lastStep Dense); 'none' — no y (predict). Default 'next'.
   */
  target?: 'next' | 'last' | 'none' | undefined;
  /** Shuffle the windows at each pass (by index; the array is never copied). Default true. */
  shuffle?: boolean | undefined;
  /** Seed of the shuffling, an unsigned 32-bit integer; pass p uses the p-th shuffle. Default: random. */
  seed?: number | undefined;
  /** Drop the last batch of a pass when it has fewer than batchSize windows. Default false. */
  dropRemainder?: boolean | undefined;
  /** Batches time-major (`[T, B, ·]`), for a model with batchFirst: false. Default false: `[B, T, ·]`. */
  timeMajor?: boolean | undefined;
}

/**
 * Windows over one long array, batch by batch: an iterable for fit / evaluate / predict that
 * never copies the array (each batch gathers its windows into a new buffer; a pass shuffles the
 * window starts, not the data). Each `for...of` is a new pass with the next shuffle.
 */
export class WindowDataset implements Iterable<DataBatch> {
  /** Windows in one pass. */
  readonly windows: number;
  /** Batches in one pass. */
  readonly batches: number;
  /** The resolved options. */
  readonly length: number;
  readonly stride: number;
  readonly batchSize: number;
  readonly features: number;
  readonly target: 'next' | 'last' | 'none';
  readonly shuffle: boolean;
  readonly seed: number;
  readonly dropRemainder: boolean;
  readonly timeMajor: boolean;
  private readonly data: Int32Array | Float32Array;
  private passes = 0;

  constructor(data: Int32Array | Float32Array, options: WindowOptions) {
    const where = 'windows';
    if (!(data instanceof Int32Array) && !(data instanceof Float32Array))
      throw new CellstateTypeError(
        ErrorCode.INVALID_ARG,
        `${where}: data must be an Int32Array of token ids or a Float32Array of frames, got ${describe(data)}`,
      );
    const r = new OptionReader(
      options,
      where,
      [
        'length',
        'stride',
        'batchSize',
        'features',
        'target',
        'shuffle',
        'seed',
        'dropRemainder',
        'timeMajor',
      ],
      ErrorCode.INVALID_ARG,
    );
    if (r.raw('length') === undefined)
      throw new CellstateTypeError(ErrorCode.INVALID_ARG, `${where}: length is required`);
    this.length = r.int('length', 1, 1 << 24);
    this.stride = r.int('stride', 1, 1 << 30, this.length);
    this.batchSize = r.int('batchSize', 1, 1 << 24, 32);
    this.features = r.int('features', 1, 1 << 24, 1);
    if (data instanceof Int32Array && this.features !== 1)
      throw new CellstateRangeError(
        ErrorCode.INVALID_ARG,
        `${where}: features applies to a Float32Array of frames; token ids have one per step, got features ${this.features}`,
      );
    this.target = r.choice('target', ['next', 'last', 'none'] as const, 'next');
    this.shuffle = r.bool('shuffle', true);
    const seed = r.int('seed', 0, 0xffffffff, -1);
    this.seed = seed === -1 ? randomSeed() : seed;
    this.dropRemainder = r.bool('dropRemainder', false);
    this.timeMajor = r.bool('timeMajor', false);
    if (data.length % this.features !== 0)
      throw new CellstateRangeError(
        ErrorCode.SHAPE,
        `${where}: data has ${data.length} values, not a whole number of frames of ${this.features} features`,
      );
    const frames = data.length / this.features;
    const need = this.length + (this.target === 'none' ? 0 : 1);
    this.windows = frames >= need ? Math.floor((frames - need) / this.stride) + 1 : 0;
    if (this.windows < 1)
      throw new CellstateRangeError(
        ErrorCode.SHAPE,
        `${where}: data has ${frames} steps, fewer than one window of length ${this.length}${this.target === 'none' ? '' : ' plus its target'} (${need})`,
      );
    this.batches = this.dropRemainder
      ? Math.floor(this.windows / this.batchSize)
      : Math.ceil(this.windows / this.batchSize);
    if (this.batches < 1)
      throw new CellstateRangeError(
        ErrorCode.SHAPE,
        `${where}: ${this.windows} windows make no full batch of ${this.batchSize} (dropRemainder: true)`,
      );
    this.data = data;
  }

  /** One pass: batches of windows, in the next shuffled order. */
  *[Symbol.iterator](): Iterator<DataBatch> {
    const order = new Int32Array(this.windows);
    for (let i = 0; i < order.length; ++i) order[i] = i;
    if (this.shuffle) {
      // pass p's shuffle depends on the seed and p only
      const rng = new Random((this.seed + Math.imul(this.passes, 0x9e3779b9)) >>> 0);
      for (let i = order.length - 1; i > 0; --i) {
        const j = Math.floor(rng.nextUnit() * (i + 1));
        const t = order[i];
        order[i] = order[j];
        order[j] = t;
      }
    }
    this.passes++;
    for (let b = 0; b < this.batches; ++b) {
      const from = b * this.batchSize;
      yield this.batch(order.subarray(from, Math.min(this.windows, from + this.batchSize)));
    }
  }

  /** The batch of the given windows (by index in [0, windows)). */
  batch(indices: ArrayLike<number>): DataBatch {
    const B = indices.length;
    const L = this.length;
    const F = this.features;
    const tokens = this.data instanceof Int32Array;
    const make = (n: number) => (tokens ? new Int32Array(n) : new Float32Array(n));
    const x = make(B * L * F);
    const next = this.target === 'next';
    const y = this.target === 'none' ? null : make(B * (next ? L : 1) * F);
    for (let j = 0; j < B; ++j) {
      const w = indices[j];
      if (!(w >= 0 && w < this.windows))
        throw new CellstateRangeError(
          ErrorCode.OUT_OF_RANGE,
          `WindowDataset.batch: window indices must be integers in [0, ${this.windows}), got ${w}`,
        );
      const s = w * this.stride * F;
      for (let t = 0; t < L; ++t) {
        const dst = (this.timeMajor ? t * B + j : j * L + t) * F;
        x.set(this.data.subarray(s + t * F, s + (t + 1) * F), dst);
        if (next && y) y.set(this.data.subarray(s + (t + 1) * F, s + (t + 2) * F), dst);
      }
      if (y && !next) y.set(this.data.subarray(s + L * F, s + (L + 1) * F), j * F);
    }
    const seqShape = this.timeMajor ? [L, B] : [B, L];
    const out: DataBatch = {
      x: tokens
        ? { data: x as Int32Array, shape: seqShape }
        : new Tensor(x as Float32Array, [...seqShape, F]),
    };
    if (y)
      out.y = tokens
        ? { data: y as Int32Array, shape: next ? seqShape : [B] }
        : new Tensor(y as Float32Array, next ? [...seqShape, F] : [B, F]);
    return out;
  }
}

/**
 * Windows over a long token array (`Int32Array`: a text as ids) or frame array (`Float32Array`,
 * `features` values per frame): a WindowDataset to pass to fit, evaluate or predict.
 */
export function windows(data: Int32Array | Float32Array, options: WindowOptions): WindowDataset {
  return new WindowDataset(data, options);
}
