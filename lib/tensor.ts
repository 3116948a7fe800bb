// A small readonly tensor: float32 data, row-major, with a frozen shape.
import { CellstateRangeError, CellstateTypeError, ErrorCode, describe } from './errors';

/** Nested number arrays of one to three levels (deeper nesting is accepted too). */
export type NestedArray = number[] | number[][] | number[][][];

/** Nested number arrays of any depth: what `toArray()` returns for a tensor of unknown rank. */
export type DeepNestedArray = number[] | DeepNestedArray[];

/**
 * The shape of a tensor of rank `R`: `readonly number[]` whose `length` is `R` (a literal when
 * the rank is known from the type, `number` otherwise).
 */
export type ShapeOf<R extends number> = readonly number[] & { readonly length: R };

/** What a method taking a tensor accepts: a Tensor or nested number arrays. */
export type TensorLike = Tensor | NestedArray;

/**
 * Float32 data with a shape; row-major, the last dimension contiguous. `R` is the rank when it is
 * known from the type (`Tensor<3>` from a recurrent layer's forward, `Tensor.from` of nested
 * arrays); `shape` and `toArray()` are typed by it.
 */
export class Tensor<R extends number = number> {
  /** The elements, row-major. The array is the caller's, not a copy. */
  readonly data: Float32Array;
  /** The dimensions (frozen). */
  readonly shape: ShapeOf<R>;

  /**
   * @param data the elements, row-major; kept, not copied
   * @param shape non-negative integers whose product is `data.length`
   */
  constructor(data: Float32Array, shape: ShapeOf<R>) {
    if (!(data instanceof Float32Array))
      throw new CellstateTypeError(
        ErrorCode.INVALID_ARG,
        `Tensor: data must be a Float32Array, got ${describe(data)}`,
      );
    if (!Array.isArray(shape))
      throw new CellstateTypeError(
        ErrorCode.INVALID_ARG,
        `Tensor: shape must be an array of non-negative integers, got ${describe(shape)}`,
      );
    let size = 1;
    shape.forEach((d: unknown, i) => {
      if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0)
        throw new CellstateRangeError(
          ErrorCode.SHAPE,
          `Tensor: shape[${i}] must be a non-negative integer, got ${describe(d)}`,
        );
      size *= d;
    });
    if (size !== data.length)
      throw new CellstateRangeError(
        ErrorCode.SHAPE,
        `Tensor: shape [${shape.join(', ')}] needs ${size} elements, got a Float32Array of ${data.length}`,
      );
    this.data = data;
    this.shape = Object.freeze([...shape]) as unknown as ShapeOf<R>;
    Object.freeze(this);
  }

  /** Number of elements. */
  get size(): number {
    return this.data.length;
  }

  /** A Tensor from nested number arrays (or typed arrays at the innermost level), copied. */
  static from(nested: readonly number[] | Float32Array): Tensor<1>;
  static from(nested: readonly (readonly number[] | Float32Array)[]): Tensor<2>;
  static from(nested: readonly (readonly (readonly number[] | Float32Array)[])[]): Tensor<3>;
  static from(nested: NestedArray): Tensor;
  static from(nested: unknown): Tensor {
    return fromNested(nested, 'Tensor.from', 'nested');
  }

  /**
   * The elements as nested arrays of the tensor's shape (a flat array for rank 0 and 1), typed
   * by the rank where the type knows it: `number[][][]` for a `Tensor<3>`, any depth otherwise.
   */
  toArray(this: Tensor<0> | Tensor<1>): number[];
  toArray(this: Tensor<2>): number[][];
  toArray(this: Tensor<3>): number[][][];
  toArray(this: Tensor<4>): number[][][][];
  toArray(): DeepNestedArray;
  toArray(): DeepNestedArray {
    const { data, shape } = this;
    if (shape.length <= 1) return Array.from(data);
    const build = (dim: number, offset: number): unknown[] => {
      const n = shape[dim];
      const stride = shape.slice(dim + 1).reduce((a, b) => a * b, 1);
      const out: unknown[] = new Array(n);
      for (let i = 0; i < n; ++i)
        out[i] = dim === shape.length - 1 ? data[offset + i] : build(dim + 1, offset + i * stride);
      return out;
    };
    return build(0, 0) as DeepNestedArray;
  }
}

// Deeper nesting is refused (it also stops a self-containing array).
const MAX_RANK = 16;

function isArrayLike(value: unknown): value is ArrayLike<unknown> {
  return Array.isArray(value) || (ArrayBuffer.isView(value) && !(value instanceof DataView));
}

/**
 * Nested arrays to a Tensor. `method` and `arg` name the caller in messages:
 * `forward: x[1] has 3 elements, expected 4 (a ragged array)`.
 */
export function fromNested(nested: unknown, method: string, arg: string): Tensor {
  if (!isArrayLike(nested))
    throw new CellstateTypeError(
      ErrorCode.INVALID_ARG,
      `${method}: ${arg} must be nested arrays of numbers, got ${describe(nested)}`,
    );
  const shape: number[] = [];
  for (let level: unknown = nested; isArrayLike(level); level = level[0]) {
    if (shape.length === MAX_RANK)
      throw new CellstateRangeError(
        ErrorCode.SHAPE,
        `${method}: ${arg} is nested more than ${MAX_RANK} levels deep`,
      );
    shape.push(level.length);
    if (level.length === 0) break;
  }
  const size = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(size);
  let k = 0;
  const walk = (value: ArrayLike<unknown>, dim: number, path: string): void => {
    if (value.length !== shape[dim])
      throw new CellstateRangeError(
        ErrorCode.SHAPE,
        `${method}: ${path} has ${value.length} elements, expected ${shape[dim]} (a ragged array)`,
      );
    const leaf = dim === shape.length - 1;
    for (let i = 0; i < value.length; ++i) {
      const v = value[i];
      if (leaf) {
        if (typeof v !== 'number')
          throw new CellstateTypeError(
            ErrorCode.INVALID_ARG,
            `${method}: ${path}[${i}] must be a number, got ${describe(v)}`,
          );
        data[k++] = v;
      } else {
        if (!isArrayLike(v))
          throw new CellstateTypeError(
            ErrorCode.INVALID_ARG,
            `${method}: ${path}[${i}] must be an array of ${shape[dim + 1]} elements, got ${describe(v)}`,
          );
        walk(v, dim + 1, `${path}[${i}]`);
      }
    }
  };
  walk(nested, 0, arg);
  return new Tensor(data, shape);
}

/**
 * A Tensor as given, or one built from nested arrays. A flat Float32Array has no shape and is
 * refused (wrap it: `new Tensor(data, shape)`).
 */
export function toTensor(value: unknown, method: string, arg: string): Tensor {
  if (value instanceof Tensor) return value;
  if (Array.isArray(value)) return fromNested(value, method, arg);
  throw new CellstateTypeError(
    ErrorCode.INVALID_ARG,
    `${method}: ${arg} must be a Tensor or nested arrays of numbers, got ${describe(value)}` +
      (value instanceof Float32Array ? ' (wrap it: new Tensor(data, shape))' : ''),
  );
}
