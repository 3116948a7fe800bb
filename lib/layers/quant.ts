// int8 weights shared by the quantized layers (issue 17): the native entries of
// cpp/binding/quant.h, the QuantizedTensor type that files and workers carry, and its checks.
//
// The scheme (every layer): symmetric int8, one scale per output row, `scale = max |w| / 127`,
// `q = round(w / scale)` in [-127, 127]; dequantized `w = fround(q · scale)`. A cellstate-made
// row always holds a ±127 (its largest |w|), so quantizing the dequantized row again gives the
// same q and the same scale: recurrent layers, which quantize their float weights natively, get
// back exactly the int8 weights a file stored.
import { native } from '../binding';
import {
  CellstateError,
  CellstateRangeError,
  CellstateTypeError,
  ErrorCode,
  describe,
} from '../errors';

/** An int8 weight with one float scale per row: `w[r, c] ≈ values[r·cols + c] · scale[r]`. */
export interface QuantizedTensor {
  /** The int8 values, row-major `[rows, cols]`, each in [-127, 127]. */
  readonly values: Int8Array;
  /** One scale per row (finite, ≥ 0). */
  readonly scale: Float32Array;
  /** `[rows, cols]`. */
  readonly shape: readonly number[];
}

/** Options of `quantize(model, options)`. */
export interface QuantizeOptions {
  /** The weight type: 'int8' (the only one for now). Required. */
  dtype: 'int8';
  /** Quantize the given model's layers instead of a copy. Default false: a new model is returned and the given one is left as it was. */
  inPlace?: boolean | undefined;
}

/** A weight matrix packed for the int8 GEMM (cpp/binding/quant.h). */
export interface NativeQuantizedMatrix {
  readonly rows: number;
  readonly cols: number;
  /** The int8 kernels' ISA ('avx512vnni', 'avx2', 'neondot', 'scalar', …). */
  readonly isa: string;
  /** C[M,N] = bias + (X quantized per row) · Wqᵀ, dequantized; on the kernel's threads (the same bits for any count). */
  apply(M: number, X: Float32Array, C: Float32Array): void;
  dispose(): void;
}

interface QuantAddon {
  quantizeWeights(
    N: number,
    K: number,
    W: Float32Array,
    Wq: Int8Array,
    scale: Float32Array,
  ): boolean;
  quantizedWeight(
    layer: unknown,
    name: string,
    rows: number,
    cols: number,
    q: Int8Array,
    scale: Float32Array,
  ): void;
  QuantizedMatrix: new (
    K: number,
    N: number,
    Wq: Int8Array,
    scale: Float32Array,
    bias: Float32Array | null,
  ) => NativeQuantizedMatrix;
}

function addon(): QuantAddon {
  return native() as unknown as QuantAddon;
}

/** The largest depth (K) of the int8 GEMM: its int32 sums stay exact up to it. */
export const MAX_QUANT_DEPTH = 65536;

/**
 * W `[rows, cols]` as int8 with one scale per row (the native QuantizeWeights, so the same bytes
 * as the recurrent layers' own quantization). A NaN or an infinity is a RangeError naming `what`.
 */
export function quantizeMatrix(
  where: string,
  what: string,
  rows: number,
  cols: number,
  W: Float32Array,
): QuantizedTensor {
  const values = new Int8Array(rows * cols);
  const scale = new Float32Array(rows);
  if (!addon().quantizeWeights(rows, cols, W, values, scale))
    throw new CellstateRangeError(
      ErrorCode.INVALID_ARG,
      `${where}: ${what} holds a NaN or an infinity; it cannot be quantized`,
    );
  return { values, scale, shape: [rows, cols] };
}

/** `fround(q · scale)`, row by row, into `out` (or a new array). */
export function dequantizeMatrix(q: QuantizedTensor, out?: Float32Array): Float32Array {
  const [rows, cols] = q.shape;
  const w = out ?? new Float32Array(rows * cols);
  for (let r = 0; r < rows; ++r) {
    const s = q.scale[r];
    const off = r * cols;
    // q · s is exact in a double (7 + 24 bits); the store rounds it once, as a float product.
    for (let c = 0; c < cols; ++c) w[off + c] = q.values[off + c] * s;
  }
  return w;
}

/** A copy (values and scale), so callers never share a layer's buffers. */
export function copyQuantized(q: QuantizedTensor): QuantizedTensor {
  return { values: q.values.slice(), scale: q.scale.slice(), shape: [...q.shape] };
}

/**
 * Checks a QuantizedTensor given for a weight of shape `[rows, cols]`: an Int8Array of rows·cols
 * values in [-127, 127] and a Float32Array of rows finite scales ≥ 0. Returns a copy.
 */
export function readQuantized(
  where: string,
  name: string,
  value: unknown,
  rows: number,
  cols: number,
): QuantizedTensor {
  const v = value as Partial<QuantizedTensor> | null;
  if (
    v === null ||
    typeof v !== 'object' ||
    !(v.values instanceof Int8Array) ||
    !(v.scale instanceof Float32Array)
  )
    throw new CellstateTypeError(
      ErrorCode.INVALID_ARG,
      `${where}: '${name}' must be { values: Int8Array, scale: Float32Array, shape }, got ${describe(value)}`,
    );
  if (v.values.length !== rows * cols || v.scale.length !== rows)
    throw new CellstateRangeError(
      ErrorCode.INVALID_ARG,
      `${where}: '${name}' must hold ${rows}×${cols} int8 values and ${rows} scales, got ${v.values.length} and ${v.scale.length}`,
    );
  if (v.shape !== undefined && (v.shape.length !== 2 || v.shape[0] !== rows || v.shape[1] !== cols))
    throw new CellstateRangeError(
      ErrorCode.INVALID_ARG,
      `${where}: '${name}' must have shape [${rows}, ${cols}], got [${[...v.shape].join(', ')}]`,
    );
  for (let i = 0; i < v.values.length; ++i)
    if (v.values[i] === -128)
      throw new CellstateRangeError(
        ErrorCode.INVALID_ARG,
        `${where}: '${name}' values must be in [-127, 127], got -128 at ${i}`,
      );
  for (let r = 0; r < rows; ++r)
    if (!(Number.isFinite(v.scale[r]) && v.scale[r] >= 0))
      throw new CellstateRangeError(
        ErrorCode.INVALID_ARG,
        `${where}: '${name}' scales must be finite and ≥ 0, got ${v.scale[r]} at row ${r}`,
      );
  return { values: v.values.slice(), scale: v.scale.slice(), shape: [rows, cols] };
}

/** Packs a QuantizedTensor `[N, K]` for the int8 GEMM; bias `[N]` (copied) or null. */
export function packQuantized(
  q: QuantizedTensor,
  bias: Float32Array | null,
): NativeQuantizedMatrix {
  const [N, K] = q.shape;
  return new (addon().QuantizedMatrix)(K, N, q.values, q.scale, bias);
}

/** The int8 values and scales a quantized NativeLayer runs on for its weight `name`. */
export function nativeQuantizedWeight(
  layer: unknown,
  name: string,
  rows: number,
  cols: number,
): QuantizedTensor {
  const values = new Int8Array(rows * cols);
  const scale = new Float32Array(rows);
  addon().quantizedWeight(layer, name, rows, cols, values, scale);
  return { values, scale, shape: [rows, cols] };
}

/** Whether two quantized tensors hold the same bytes. */
export function sameQuantized(a: QuantizedTensor, b: QuantizedTensor): boolean {
  if (a.values.length !== b.values.length || a.scale.length !== b.scale.length) return false;
  for (let i = 0; i < a.values.length; ++i) if (a.values[i] !== b.values[i]) return false;
  const sa = new Uint32Array(a.scale.buffer, a.scale.byteOffset, a.scale.length);
  const sb = new Uint32Array(b.scale.buffer, b.scale.byteOffset, b.scale.length);
  for (let i = 0; i < sa.length; ++i) if (sa[i] !== sb[i]) return false;
  return true;
}

/** The refusal of training a quantized layer. */
export function quantizedTrainingError(where: string, layer: string): CellstateError {
  return new CellstateError(
    ErrorCode.UNSUPPORTED,
    `${where}: the ${layer} is quantized (int8, inference only): training refused; train the float model and quantize it afterwards`,
  );
}

/** The refusal of a quantized-only call on a float layer. */
export function notQuantizedError(where: string, layer: string): CellstateError {
  return new CellstateError(
    ErrorCode.UNSUPPORTED,
    `${where}: the ${layer} is not quantized; call quantize() first`,
  );
}

/** What a layer that can run on int8 weights has (LSTM, GRU, RNN, Dense, Embedding). */
export interface QuantizableLayer {
  readonly layerType: string;
  /** Whether the layer runs int8 inference. */
  readonly quantized: boolean;
  quantize(): unknown;
  dequantize(): unknown;
  quantizedParameters(): Record<string, QuantizedTensor>;
  setQuantizedParameters(params: Record<string, QuantizedTensor>): void;
}

/** Whether `layer` has the int8 methods (LSTM, GRU, RNN, Dense, Embedding). */
export function isQuantizable(layer: unknown): layer is QuantizableLayer {
  const l = layer as Partial<QuantizableLayer> | null;
  return (
    l !== null &&
    typeof l === 'object' &&
    typeof l.quantize === 'function' &&
    typeof l.quantizedParameters === 'function' &&
    typeof l.setQuantizedParameters === 'function'
  );
}
