// Losses: each gives the mean loss of a batch and its gradient with respect to the predictions,
// over the rows that count (per-sequence lengths mask the padded steps of [T, B, C] outputs).
//
//   mse                  mean over every element of (p − y)²
//   crossEntropy         on logits, with the softmax fused in: mean over rows of
//                        −Σ_c y_c log softmax(z)_c; targets are class indices or probabilities
//                        (one-hot or soft) over the C classes
//   binaryCrossEntropy   mean over every element of −[y log p + (1 − y) log(1 − p)]; on logits
//                        (p = σ(z), fused and stable; the default) or on probabilities
//                        (fromLogits: false; p clamped to [1e-7, 1 − 1e-7])
//
// In fit, a model ending in a Dense 'softmax' (crossEntropy) or 'sigmoid' (binaryCrossEntropy on
// logits) has that activation fused into the loss: the loss reads the Dense's pre-activation,
// and predict() still returns probabilities.
import {
  CellstateRangeError,
  CellstateTypeError,
  ErrorCode,
  describe,
  shapeError,
} from '../errors';
import type { DenseActivation } from '../layers/dense';
import { type Tokens, readLengths } from '../layers/batch';
import { OptionReader } from '../options';
import { Tensor, type TensorLike, toTensor } from '../tensor';

/** The name of a built-in loss. */
export type LossName = 'mse' | 'crossEntropy' | 'binaryCrossEntropy';

/** Targets as the losses read them: dense values like the predictions, or class indices (one per row). */
export type LossTarget =
  { kind: 'values'; data: Float32Array } | { kind: 'indices'; data: Int32Array };

/** What a loss returns. */
export interface LossResult {
  /** The mean loss over the rows that count. */
  loss: number;
  /** d loss / d pred, the shape of pred (zero at masked rows). */
  grad: Tensor;
}

/** Options of `loss.compute`. */
export interface LossComputeOptions {
  /** For predictions `[T, B, C]`: the length of each sequence; rows t ≥ lengths[b] do not count. */
  lengths?: number[] | Int32Array | undefined;
}

/** The common base of the built-in losses. */
export abstract class Loss {
  /** The loss's name ('mse', 'crossEntropy' or 'binaryCrossEntropy'). */
  abstract readonly name: LossName;
  /** The final activation this loss fuses when it reads logits (fit uses it), or null. */
  abstract readonly fuses: DenseActivation | null;
  /** Whether targets may be class indices. */
  readonly acceptsIndices: boolean = false;

  /**
   * @internal Adds the per-unit losses of the rows that count and returns their sum (double)
   * and the number of units it is a mean over; writes d(sum)/d(pred) · scale into grad (all of
   * it: 0 at masked rows) when grad is given.
   */
  abstract accumulate(
    pred: Float32Array,
    rows: number,
    cols: number,
    target: LossTarget,
    mask: Uint8Array | null,
    grad: Float32Array | null,
    scale: number,
  ): number;

  /** @internal The number of units the mean runs over. */
  abstract units(rows: number, cols: number, mask: Uint8Array | null): number;

  /**
   * The mean loss and its gradient. `pred` is `[B, C]` or `[T, B, C]` (time-major; lengths
   * then mask the padded steps); `target` has pred's shape, or for crossEntropy holds class
   * indices `[B]` / `[T, B]` (a Tensor of integers, nested arrays, an Int32Array or
   * `{ data: Int32Array, shape }`).
   */
  compute(
    pred: TensorLike,
    target: TensorLike | Int32Array | Tokens,
    opts?: LossComputeOptions,
  ): LossResult {
    const where = `${this.name}.compute`;
    const o = new OptionReader(opts, where, ['lengths'], ErrorCode.INVALID_ARG);
    const p = toTensor(pred, where, 'pred');
    if (p.shape.length < 2 || p.shape.length > 3 || p.shape.some((d) => d < 1))
      throw shapeError(where, 'pred', ['B', 'C'], p.shape, 'or [T, B, C]');
    const C = p.shape[p.shape.length - 1];
    const rows = p.data.length / C;
    const t = readTarget(where, target, p.shape, this.acceptsIndices);
    let mask: Uint8Array | null = null;
    const raw = o.raw('lengths');
    if (raw !== undefined && raw !== null) {
      if (p.shape.length !== 3)
        throw new CellstateTypeError(
          ErrorCode.INVALID_ARG,
          `${where}: lengths apply to predictions [T, B, C]; pred has shape [${p.shape.join(', ')}]`,
        );
      const [T, B] = p.shape;
      mask = maskOf(readLengths(where, raw, T, B), T, B);
    }
    if (t.kind === 'indices') checkIndices(where, t.data, C, mask);
    const units = this.units(rows, C, mask);
    const grad = new Float32Array(p.data.length);
    const sum = this.accumulate(p.data, rows, C, t, mask, grad, units > 0 ? 1 / units : 0);
    return { loss: units > 0 ? sum / units : 0, grad: new Tensor(grad, p.shape) };
  }
}

/** Rows that count of a [T, B] time-major layout: t < lengths[b]. */
export function maskOf(lengths: Int32Array, T: number, B: number): Uint8Array {
  const mask = new Uint8Array(T * B);
  for (let b = 0; b < B; ++b) for (let t = 0; t < lengths[b]; ++t) mask[t * B + b] = 1;
  return mask;
}

function countRows(rows: number, mask: Uint8Array | null): number {
  if (!mask) return rows;
  let n = 0;
  for (let r = 0; r < rows; ++r) n += mask[r];
  return n;
}

/** Throws a RangeError naming the first class index outside [0, C) in a row that counts. */
export function checkIndices(
  where: string,
  idx: Int32Array,
  C: number,
  mask: Uint8Array | null,
): void {
  for (let r = 0; r < idx.length; ++r) {
    if (mask && !mask[r]) continue;
    const v = idx[r];
    if (!(v >= 0 && v < C))
      throw new CellstateRangeError(
        ErrorCode.OUT_OF_RANGE,
        `${where}: class indices must be integers in [0, C=${C}), got ${v} at row ${r}`,
      );
  }
}

function readTarget(
  where: string,
  target: unknown,
  predShape: readonly number[],
  indices: boolean,
): LossTarget {
  const C = predShape[predShape.length - 1];
  const rowShape = predShape.slice(0, -1);
  const rows = rowShape.reduce((a, b) => a * b, 1);
  if (
    target instanceof Int32Array ||
    (target && typeof target === 'object' && (target as Tokens).data instanceof Int32Array)
  ) {
    const data = target instanceof Int32Array ? target : (target as Tokens).data;
    if (!indices)
      throw new CellstateTypeError(
        ErrorCode.INVALID_ARG,
        `${where}: integer class indices are for crossEntropy; give target values of pred's shape [${predShape.join(', ')}]`,
      );
    if (data.length !== rows)
      throw shapeError(where, 'target', rowShape, [data.length], 'class indices');
    return { kind: 'indices', data };
  }
  const t = toTensor(target, where, 'target');
  const same = t.shape.length === predShape.length && t.shape.every((d, i) => d === predShape[i]);
  if (same) return { kind: 'values', data: t.data };
  const isRows = t.shape.length === rowShape.length && t.shape.every((d, i) => d === rowShape[i]);
  if (indices && isRows) {
    const data = new Int32Array(rows);
    for (let i = 0; i < rows; ++i) {
      if (!Number.isInteger(t.data[i]))
        throw new CellstateRangeError(
          ErrorCode.OUT_OF_RANGE,
          `${where}: class indices must be integers in [0, C=${C}), got ${t.data[i]} at row ${i}`,
        );
      data[i] = t.data[i];
    }
    return { kind: 'indices', data };
  }
  throw shapeError(
    where,
    'target',
    predShape,
    t.shape,
    indices ? `or class indices [${rowShape.join(', ')}]` : undefined,
  );
}

/** Mean squared error: mean over every element of (p − y)². */
export class MeanSquaredError extends Loss {
  readonly name = 'mse' as const;
  readonly fuses = null;

  units(rows: number, cols: number, mask: Uint8Array | null): number {
    return countRows(rows, mask) * cols;
  }

  accumulate(
    pred: Float32Array,
    rows: number,
    cols: number,
    target: LossTarget,
    mask: Uint8Array | null,
    grad: Float32Array | null,
    scale: number,
  ): number {
    const y = target.data as Float32Array;
    let sum = 0;
    for (let r = 0; r < rows; ++r) {
      const off = r * cols;
      if (mask && !mask[r]) {
        if (grad) grad.fill(0, off, off + cols);
        continue;
      }
      for (let j = off; j < off + cols; ++j) {
        const d = pred[j] - y[j];
        sum += d * d;
        if (grad) grad[j] = 2 * d * scale;
      }
    }
    return sum;
  }
}

/** Cross-entropy on logits with the softmax fused in; class-index or probability targets. */
export class CrossEntropy extends Loss {
  readonly name = 'crossEntropy' as const;
  readonly fuses = 'softmax' as const;
  override readonly acceptsIndices = true;

  units(rows: number, _cols: number, mask: Uint8Array | null): number {
    return countRows(rows, mask);
  }

  accumulate(
    z: Float32Array,
    rows: number,
    cols: number,
    target: LossTarget,
    mask: Uint8Array | null,
    grad: Float32Array | null,
    scale: number,
  ): number {
    let sum = 0;
    for (let r = 0; r < rows; ++r) {
      const off = r * cols;
      if (mask && !mask[r]) {
        if (grad) grad.fill(0, off, off + cols);
        continue;
      }
      let max = -Infinity;
      for (let j = 0; j < cols; ++j) if (z[off + j] > max) max = z[off + j];
      if (!Number.isFinite(max)) max = Number.isNaN(max) ? NaN : 0;
      let se = 0;
      if (grad) {
        // exp once per logit: kept in grad, normalised below
        for (let j = 0; j < cols; ++j) se += grad[off + j] = Math.exp(z[off + j] - max);
      } else {
        for (let j = 0; j < cols; ++j) se += Math.exp(z[off + j] - max);
      }
      const lse = max + Math.log(se);
      if (target.kind === 'indices') {
        const k = target.data[r];
        sum += lse - z[off + k];
        if (grad) {
          const s = scale / se;
          for (let j = 0; j < cols; ++j) grad[off + j] *= s;
          grad[off + k] -= scale;
        }
      } else {
        const y = target.data;
        let ysum = 0;
        for (let j = 0; j < cols; ++j) {
          ysum += y[off + j];
          if (y[off + j] !== 0) sum += y[off + j] * (lse - z[off + j]);
        }
        if (grad)
          for (let j = 0; j < cols; ++j)
            grad[off + j] = (Math.exp(z[off + j] - lse) * ysum - y[off + j]) * scale;
      }
    }
    return sum;
  }
}

/** Options of BinaryCrossEntropy. */
export interface BinaryCrossEntropyOptions {
  /** Predictions are logits z, p = σ(z) (stable, and fit fuses a final Dense 'sigmoid'); false: probabilities in [0, 1]. Default true. */
  fromLogits?: boolean | undefined;
}

/** Binary cross-entropy, mean over every element; targets in [0, 1]. */
export class BinaryCrossEntropy extends Loss {
  readonly name = 'binaryCrossEntropy' as const;
  readonly fuses: DenseActivation | null;
  /** Whether predictions are logits. */
  readonly fromLogits: boolean;

  constructor(options?: BinaryCrossEntropyOptions) {
    super();
    const r = new OptionReader(options, 'BinaryCrossEntropy', ['fromLogits']);
    this.fromLogits = r.bool('fromLogits', true);
    this.fuses = this.fromLogits ? 'sigmoid' : null;
  }

  units(rows: number, cols: number, mask: Uint8Array | null): number {
    return countRows(rows, mask) * cols;
  }

  accumulate(
    pred: Float32Array,
    rows: number,
    cols: number,
    target: LossTarget,
    mask: Uint8Array | null,
    grad: Float32Array | null,
    scale: number,
  ): number {
    const y = target.data as Float32Array;
    const eps = 1e-7;
    let sum = 0;
    for (let r = 0; r < rows; ++r) {
      const off = r * cols;
      if (mask && !mask[r]) {
        if (grad) grad.fill(0, off, off + cols);
        continue;
      }
      for (let j = off; j < off + cols; ++j) {
        if (this.fromLogits) {
          const z = pred[j];
          sum += Math.max(z, 0) - z * y[j] + Math.log1p(Math.exp(-Math.abs(z)));
          if (grad) grad[j] = (sigmoidOf(z) - y[j]) * scale;
        } else {
          const p = Math.min(Math.max(pred[j], eps), 1 - eps);
          sum -= y[j] * Math.log(p) + (1 - y[j]) * Math.log(1 - p);
          if (grad) grad[j] = ((p - y[j]) / (p * (1 - p))) * scale;
        }
      }
    }
    return sum;
  }
}

function sigmoidOf(z: number): number {
  if (z >= 0) return 1 / (1 + Math.exp(-z));
  const e = Math.exp(z);
  return e / (1 + e);
}

/** A loss from its name or an instance. */
export function resolveLoss(value: unknown, where: string): Loss {
  if (value instanceof Loss) return value;
  switch (value) {
    case 'mse':
      return new MeanSquaredError();
    case 'crossEntropy':
      return new CrossEntropy();
    case 'binaryCrossEntropy':
      return new BinaryCrossEntropy();
    default:
      throw new CellstateTypeError(
        ErrorCode.INVALID_ARG,
        `${where}: loss must be 'mse', 'crossEntropy', 'binaryCrossEntropy' or a Loss instance, got ${describe(value)}`,
      );
  }
}
