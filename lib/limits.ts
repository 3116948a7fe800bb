// The documented limits: every size an option, a file or an ONNX graph may ask for is checked
// against these before anything is allocated, and refused with a coded RangeError (options) or a
// CellstateError with a FILE_* / ONNX_* code (files) instead of an uncoded `Invalid typed array
// length`, an out-of-memory abort or a stack overflow.
import { CellstateRangeError, ErrorCode } from './errors';

/**
 * The memory limit: the most float32 values one layer's parameters, or any one buffer cellstate
 * allocates for an option (a stream's `[batch, features]` output, a layer's gradients), may hold:
 * 2^28 values, 1 GiB. Options asking for more are a RangeError with code
 * ERR_CELLSTATE_INVALID_OPTION (constructors) or ERR_CELLSTATE_INVALID_ARG (methods).
 */
export const MAX_ELEMENTS = 2 ** 28;

/**
 * The largest tensor a forward or backward returns: 2^32 − 1 values, the most a Float32Array
 * holds. Results are sized by the caller's inputs (`[T, B, H]` from `[T, B, I]`), not by an
 * option, so they are not held to MAX_ELEMENTS; a larger one is a RangeError with code
 * ERR_CELLSTATE_SHAPE instead of an uncoded `Invalid typed array length`.
 */
export const MAX_TENSOR_ELEMENTS = 2 ** 32 - 1;

/**
 * The most layers a model read from a file or an ONNX graph may describe (a Sequential's
 * `layers`); more is refused with ERR_CELLSTATE_FILE_CONFIG (ERR_CELLSTATE_ONNX_UNSUPPORTED for
 * ONNX) before any layer is built.
 */
export const MAX_MODEL_LAYERS = 4096;

/**
 * The deepest nesting of arrays and objects accepted in a stored config (a cellstate file's
 * `__metadata__.config`, an ONNX file's `cellstate.config`, the `config` option of load). A
 * real config nests 3 levels (`{ layers: [{ ... }] }`); deeper is refused with
 * ERR_CELLSTATE_FILE_CONFIG instead of overflowing the stack.
 */
export const MAX_CONFIG_DEPTH = 32;

/**
 * The largest file `load` and `importOnnx` read from a path: 2^32 − 1 bytes (4 GiB), the most
 * a Uint8Array holds. A larger file is refused with ERR_CELLSTATE_FILE_TOO_LARGE before any of
 * it is read.
 */
export const MAX_FILE_BYTES = 2 ** 32 - 1;

/**
 * Refuses `count` elements beyond `limit` (MAX_ELEMENTS unless given) with a RangeError naming
 * what asks for them: `Dense: inputSize 16777216 × outputSize 16777216 needs … values, more
 * than the memory limit of 268435456 (MAX_ELEMENTS …)`.
 */
export function checkElements(
  count: number,
  where: string,
  what: string,
  code: ErrorCode = ErrorCode.INVALID_OPTION,
  limit: number = MAX_ELEMENTS,
): void {
  if (!(count <= limit))
    throw new CellstateRangeError(
      code,
      limit === MAX_ELEMENTS
        ? `${where}: ${what} needs ${count} values, more than the memory limit of ${MAX_ELEMENTS} (MAX_ELEMENTS: 2^28 float32 values, 1 GiB)`
        : `${where}: ${what} needs ${count} values, more than the ${limit} a Float32Array can hold`,
    );
}

/** Refuses a result tensor of more than MAX_TENSOR_ELEMENTS values (ERR_CELLSTATE_SHAPE). */
export function checkResult(count: number, where: string, what: string): void {
  checkElements(count, where, what, ErrorCode.SHAPE, MAX_TENSOR_ELEMENTS);
}

/**
 * The nesting depth of a JSON value if it is at most `max`, else -1; iterative, so that no
 * input overflows the stack.
 */
export function jsonDepth(value: unknown, max: number = MAX_CONFIG_DEPTH): number {
  let deepest = 0;
  const values: unknown[] = [value];
  const depths: number[] = [0];
  while (values.length > 0) {
    const v = values.pop();
    const d = (depths.pop() as number) + 1;
    if (v === null || typeof v !== 'object') continue;
    if (d > max) return -1;
    if (d > deepest) deepest = d;
    const children = Array.isArray(v) ? v : Object.values(v);
    for (let i = 0; i < children.length; ++i) {
      const c = children[i];
      if (c !== null && typeof c === 'object') {
        values.push(c);
        depths.push(d);
      }
    }
  }
  return deepest;
}
