// Named parameters inside one flat buffer: the layout of every layer's parameters and
// gradients that the optimizers update in place.
import {
  CellstateRangeError,
  CellstateTypeError,
  ErrorCode,
  describe,
  shapeError,
} from '../errors';
import { Tensor, type TensorLike, toTensor } from '../tensor';

/** One named parameter inside a flat buffer. */
export interface ParamSlot {
  /** Its name (`weight`, `weight_ih_l0`; prefixed by the layer index in a Sequential). */
  readonly name: string;
  readonly shape: readonly number[];
  /** First element inside the flat buffer. */
  readonly offset: number;
  /** Element count. */
  readonly size: number;
}

/** A layer's parameters and gradients as flat buffers of one layout. */
export interface FlatParameters {
  readonly values: Float32Array;
  readonly grads: Float32Array;
  readonly entries: readonly ParamSlot[];
}

/** Copies of each entry of `flat` as Tensors, by name. */
export function copyRecord(
  flat: Float32Array,
  entries: readonly ParamSlot[],
): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const p of entries)
    out[p.name] = new Tensor(flat.slice(p.offset, p.offset + p.size), p.shape);
  return out;
}

/**
 * Reads a complete record of parameters into a new flat buffer laid out by `entries`: every
 * name present, no unknown name, each value a Tensor (nested arrays) of the exact shape or a
 * Float32Array of the right element count.
 */
export function readParameterRecord(
  where: string,
  params: unknown,
  entries: readonly ParamSlot[],
  total: number,
): Float32Array {
  if (params === null || typeof params !== 'object' || Array.isArray(params))
    throw new CellstateTypeError(
      ErrorCode.INVALID_ARG,
      `${where}: params must be an object of parameters by name, got ${describe(params)}`,
    );
  const record = params as Record<string, unknown>;
  const names = new Set(entries.map((p) => p.name));
  const unknown = Object.keys(record).filter((k) => !names.has(k));
  if (unknown.length > 0)
    throw new CellstateTypeError(
      ErrorCode.INVALID_ARG,
      `${where}: unknown parameter${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')} (this layer has ${[...names].join(', ')})`,
    );
  const flat = new Float32Array(total);
  for (const p of entries) {
    const value = record[p.name];
    if (value === undefined)
      throw new CellstateRangeError(
        ErrorCode.INVALID_ARG,
        `${where}: missing parameter '${p.name}' (shape [${p.shape.join(', ')}]); every parameter must be given`,
      );
    if (value instanceof Float32Array) {
      if (value.length !== p.size)
        throw shapeError(
          where,
          p.name,
          p.shape,
          [value.length],
          `a Float32Array of ${p.size} elements`,
        );
      flat.set(value, p.offset);
    } else {
      const t = toTensor(value as TensorLike, where, p.name);
      if (t.shape.length !== p.shape.length || t.shape.some((d, i) => d !== p.shape[i]))
        throw shapeError(where, p.name, p.shape, t.shape);
      flat.set(t.data, p.offset);
    }
  }
  return flat;
}
