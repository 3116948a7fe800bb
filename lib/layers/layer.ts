// The one interface every layer has — LSTM, GRU, RNN, Dense, Embedding, Dropout — and that a
// Sequential, fit, summary, the file formats and streaming read instead of asking for classes.
import type { Activation, BatchContext, TokenBatch } from './batch';
import type { Tensor, TensorLike } from '../tensor';

/** Marks the objects that are layers (set by the layer base classes). */
export const layerBrand: unique symbol = Symbol.for('cellstate.layer');

/**
 * A layer: what every layer of cellstate has, and all that a Sequential, fit, summary(), save /
 * load and ONNX export need to know of it. Recurrent layers compute natively; Dense, Embedding
 * and Dropout in JavaScript, time-major (`[T, B, F]` activations, `[B, F]` after a lastStep
 * Dense), with their parameters and gradients in flat Float32Arrays exposed as Tensors.
 */
export interface Layer {
  /** The resolved options, plain JSON (recurrent layers tell theirs by `cell`, the others by `type`); the layer's constructor accepts it back. */
  readonly config: Readonly<object>;
  /** Its kind in summaries and messages: 'LSTM', 'GRU', 'RNN', 'Dense', 'Embedding', 'Dropout'. */
  readonly layerType: string;
  /** Features per time step of the input (1 for token ids); null: any, passed through (Dropout). */
  readonly inputSize: number | null;
  /** Features of the output; null: those of its input (Dropout). */
  readonly outputSize: number | null;
  /**
   * What the layer reads: 'features' (`[T, B, F]` or `[B, F]`), 'sequence' (`[T, B, F]` only: it
   * needs the time axis) or 'tokens' (integer ids `[T, B]`; first in a model).
   */
  readonly reads: 'features' | 'sequence' | 'tokens';
  /** Whether the output keeps the time axis; false: one row per sequence (a lastStep Dense). */
  readonly keepsTime: boolean;
  /** Parameter values: the elements of parameters(). */
  readonly parameterCount: number;
  /** The options that shape the layer, as summary() shows them: '2 layers, bidirectional', 'softmax, lastStep'; may be ''. */
  summaryDetails(): string;
  /** Every parameter by name: copies. */
  parameters(): Record<string, Tensor>;
  /** Replaces every parameter (names of parameters()); on a refusal nothing is changed. */
  setParameters(params: Record<string, Tensor | Float32Array | TensorLike>): void;
  /** The accumulated gradients, under the names of parameters(). */
  gradients(): Record<string, Tensor>;
  /** Sets every gradient to zero. */
  zeroGrad(): void;
  /** The async call in flight ('forward' / 'backward'), or null (always null for a JavaScript layer). */
  readonly busy: 'forward' | 'backward' | null;
  /** Whether dispose() was called. */
  readonly disposed: boolean;
  /** Frees the layer now; every later call throws ERR_CELLSTATE_DISPOSED. */
  dispose(): void;
}

/**
 * A layer computed in JavaScript on a model's time-major batches (Dense, Embedding,
 * Dropout): the model calls forwardBatch, then backwardBatch once for a training forward.
 */
export interface BatchLayer extends Layer {
  /** The output of a batch; with ctx.train it keeps what one backwardBatch needs. */
  forwardBatch(x: Activation | TokenBatch, ctx: BatchContext): Activation;
  /** The gradient of the input for the gradient of the last training output (null for token ids); adds into the parameter gradients. */
  backwardBatch(dy: Float32Array): Float32Array | null;
  /** Drops what the last training forward kept. */
  discard(): void;
}

/** Whether `value` is a layer (an instance of one of the layer classes). */
export function isLayer(value: unknown): value is Layer {
  return (
    value !== null &&
    typeof value === 'object' &&
    (value as { [layerBrand]?: unknown })[layerBrand] === true
  );
}

/** Whether a layer computes in JavaScript on batches (else the model's driver runs its forward). */
export function isBatchLayer(layer: Layer): layer is BatchLayer {
  return typeof (layer as Partial<BatchLayer>).forwardBatch === 'function';
}
