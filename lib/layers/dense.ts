// Dense: y = act(x Wᵀ + b), applied at every time step of [T, B, F] sequences (one GEMM over all
// T·B rows on the native kernel), at the last step only (lastStep), or to rows [B, F].
import {
  CellstateError,
  CellstateTypeError,
  ErrorCode,
  NoForwardError,
  describe,
  shapeError,
  disposedError,
} from '../errors';
import {
  type Activation,
  type BatchContext,
  activationTensor,
  checkLastStepLengths,
  readLengths,
  rowsOf,
  zeroPadded,
} from './batch';
import { checkElements, checkResult } from '../limits';
import { checkNotHeld } from '../hold';
import { Int8JsLayer } from './int8-layer';
import { OptionReader } from '../options';
import { Random, randomSeed } from '../random';
import type { LayerStream, LayerStreamOptions } from '../stream/types';
import { Tensor, type TensorLike, toTensor } from '../tensor';
import { type NativePackedMatrix, matmul, packMatrix } from './matmul';
import { type FlatParameters, copyRecord, readParameterRecord } from './params';
import {
  MAX_QUANT_DEPTH,
  type NativeQuantizedMatrix,
  packQuantized,
  quantizedTrainingError,
} from './quant';

/** The activation of a Dense layer. */
export type DenseActivation = 'linear' | 'tanh' | 'sigmoid' | 'relu' | 'softmax';

const ACTIVATIONS: readonly DenseActivation[] = ['linear', 'tanh', 'sigmoid', 'relu', 'softmax'];

/** Largest inputSize and outputSize. */
export const MAX_DENSE_SIZE = 1 << 24;

/** Options of a Dense layer (its parameters, `O·(I + 1)` values, at most MAX_ELEMENTS). */
export interface DenseOptions {
  /** Features in, `I`. Required; an integer in [1, 2^24]. */
  inputSize: number;
  /** Features out, `O`. Required; an integer in [1, 2^24]. */
  outputSize: number;
  /** The activation: 'linear', 'tanh', 'sigmoid', 'relu' or 'softmax' (over the O outputs). Default 'linear'. */
  activation?: DenseActivation | undefined;
  /**
   * On sequences `[T, B, I]`, apply to the last step of each sequence only (step `len_b − 1`
   * with lengths, else `T − 1`) and return `[B, O]`. Default false (every step: `[T, B, O]`).
   */
  lastStep?: boolean | undefined;
  /** Seed of the initialisation, an unsigned 32-bit integer. Default: random (recorded in `config`). */
  seed?: number | undefined;
  /** Accepted so that a `config` can be passed back; must be 'dense'. */
  type?: 'dense' | undefined;
}

/** The resolved options of a Dense layer, plain JSON. */
export interface DenseConfig {
  type: 'dense';
  inputSize: number;
  outputSize: number;
  activation: DenseActivation;
  lastStep: boolean;
  seed: number;
}

/** Options of Dense.forward. */
export interface DenseForwardOptions {
  /** Lengths of the sequences of a `[T, B, I]` input (B integers in [0, T]; a lastStep Dense refuses 0); padded steps give 0. */
  lengths?: number[] | Int32Array | undefined;
  /** Keep what one following backward needs. Default false. */
  train?: boolean | undefined;
}

interface DenseCache {
  x: Float32Array; // [rows, I] (the gathered last steps with lastStep)
  y: Float32Array; // [rows, O], after the activation (before it with logits)
  rows: number;
  logits: boolean;
  input: Activation; // shape of the input (for dx)
  gather: Int32Array | null; // lastStep: the row of [T·B] each of the B rows came from
  lengths: Int32Array | null; // per-step input with lengths: padded rows carry no gradient
}

/** A fully connected layer; PyTorch's Linear names and layout: `weight [O, I]`, `bias [O]`. */
export class Dense extends Int8JsLayer {
  /** The resolved options (frozen): `new Dense(layer.config)` rebuilds the same layer. */
  readonly config: Readonly<DenseConfig>;
  /** @internal Parameters and gradients in one flat buffer each: weight then bias. */
  readonly flat: FlatParameters;
  private cache: DenseCache | null = null;

  constructor(options: DenseOptions) {
    super();
    const where = 'Dense';
    const r = new OptionReader(options, where, [
      'type',
      'inputSize',
      'outputSize',
      'activation',
      'lastStep',
      'seed',
    ]);
    const type = r.raw('type');
    if (type !== undefined && type !== 'dense')
      throw new CellstateTypeError(
        ErrorCode.INVALID_OPTION,
        `${where}: type must be 'dense' when given, got ${describe(type)}`,
      );
    const seed = r.int('seed', 0, 0xffffffff, -1);
    this.config = Object.freeze({
      type: 'dense' as const,
      inputSize: r.int('inputSize', 1, MAX_DENSE_SIZE),
      outputSize: r.int('outputSize', 1, MAX_DENSE_SIZE),
      activation: r.choice('activation', ACTIVATIONS, 'linear'),
      lastStep: r.bool('lastStep', false),
      seed: seed === -1 ? randomSeed() : seed,
    });
    const { inputSize: I, outputSize: O } = this.config;
    checkElements(O * I + O, where, `inputSize ${I} × outputSize ${O} (weight and bias)`);
    const entries = [
      { name: 'weight', shape: [O, I], offset: 0, size: O * I },
      { name: 'bias', shape: [O], offset: O * I, size: O },
    ];
    this.flat = {
      values: new Float32Array(O * I + O),
      grads: new Float32Array(O * I + O),
      entries,
    };
    // PyTorch's Linear: weight and bias uniform in [−1/√I, 1/√I].
    new Random(this.config.seed).fillUniform(this.flat.values, 1 / Math.sqrt(I));
  }

  /** 'Dense'. */
  get layerType(): 'Dense' {
    return 'Dense';
  }

  /** Features in, `I`. */
  get inputSize(): number {
    return this.config.inputSize;
  }

  /** Whether the output keeps the time axis: false for a lastStep Dense (`[B, O]`). */
  override get keepsTime(): boolean {
    return !this.config.lastStep;
  }

  /** The activation (unless linear) and lastStep, for summary(). */
  summaryDetails(): string {
    const parts: string[] = [];
    if (this.config.activation !== 'linear') parts.push(this.config.activation);
    if (this.config.lastStep) parts.push('lastStep');
    return parts.join(', ');
  }

  /** `O·I + O`. */
  get parameterCount(): number {
    return this.flat.values.length;
  }

  /** Features out, `O`. */
  get outputSize(): number {
    return this.config.outputSize;
  }

  private get weight(): Float32Array {
    return this.flat.values.subarray(0, this.config.outputSize * this.config.inputSize);
  }

  private get bias(): Float32Array {
    return this.flat.values.subarray(this.config.outputSize * this.config.inputSize);
  }

  /** `weight [O, I]` and `bias [O]`: copies. */
  parameters(): Record<string, Tensor> {
    this.live('parameters');
    return copyRecord(this.flat.values, this.flat.entries);
  }

  /** Replaces both parameters (Tensors of the exact shape or Float32Arrays of the right size); nothing changes on an error. */
  setParameters(params: Record<string, Tensor | Float32Array | TensorLike>): void {
    this.live('setParameters');
    checkNotHeld(this, 'setParameters', 'layer');
    const flat = readParameterRecord(
      'setParameters',
      params,
      this.flat.entries,
      this.flat.values.length,
    );
    const q = this.requantize('setParameters', flat);
    this.flat.values.set(flat);
    this.commitWeights(q);
  }

  protected int8Matrix(): { rows: number; cols: number; values: Float32Array } {
    return { rows: this.outputSize, cols: this.inputSize, values: this.weight };
  }

  protected dropCache(): void {
    this.cache = null;
  }

  /**
   * int8 for a Dense: `weight` per output row (the bias stays float); forward, predict and
   * streams quantize each input row on the fly (one scale per row), multiply in int8 with exact
   * int32 sums (the recurrent layers' int8 GEMM) and dequantize before the bias and the
   * activation. `inputSize` up to 65536.
   */
  protected override checkQuantizable(where: string): void {
    if (this.inputSize > MAX_QUANT_DEPTH)
      throw new CellstateError(
        ErrorCode.UNSUPPORTED,
        `${where}: int8 quantization needs inputSize ≤ ${MAX_QUANT_DEPTH}, got ${this.inputSize}`,
      );
  }

  /** The accumulated gradients under the names of parameters(). */
  gradients(): Record<string, Tensor> {
    this.live('gradients');
    checkNotHeld(this, 'gradients', 'layer');
    return copyRecord(this.flat.grads, this.flat.entries);
  }

  /** Sets every gradient to zero. */
  zeroGrad(): void {
    this.live('zeroGrad');
    checkNotHeld(this, 'zeroGrad', 'layer');
    this.flat.grads.fill(0);
  }

  /**
   * `x` `[T, B, I]` gives `[T, B, O]` (or `[B, O]` with lastStep); `x` `[B, I]` gives `[B, O]`.
   * With `train: true` it keeps what one following backward needs.
   */
  forward(x: TensorLike, opts?: DenseForwardOptions): { output: Tensor } {
    this.live('forward');
    const where = 'forward';
    checkNotHeld(this, where, 'layer');
    const o = new OptionReader(opts, where, ['lengths', 'train'], ErrorCode.INVALID_ARG);
    const train = o.bool('train', false);
    const t = toTensor(x, where, 'x');
    const I = this.config.inputSize;
    let input: Activation;
    if (t.shape.length === 3 && t.shape[2] === I && t.shape[0] >= 1 && t.shape[1] >= 1)
      input = { data: t.data, T: t.shape[0], B: t.shape[1], F: I };
    else if (t.shape.length === 2 && t.shape[1] === I && t.shape[0] >= 1)
      input = { data: t.data, T: 0, B: t.shape[0], F: I };
    else throw shapeError(where, 'x', ['T', 'B', `I=${I}`], t.shape, `or [B, I=${I}]; T, B ≥ 1`);
    const rawLengths = o.raw('lengths');
    let lengths: Int32Array | null = null;
    if (rawLengths !== undefined && rawLengths !== null) {
      if (input.T === 0)
        throw new CellstateTypeError(
          ErrorCode.INVALID_ARG,
          `${where}: lengths apply to sequences [T, B, I]; x has shape [${t.shape.join(', ')}]`,
        );
      lengths = readLengths(where, rawLengths, input.T, input.B);
    }
    return { output: activationTensor(this.forwardBatch(input, { lengths, train })) };
  }

  /** The output of forward at inference (nothing kept for backward): `[T, B, O]` or `[B, O]`. */
  predict(x: TensorLike, opts?: { lengths?: number[] | Int32Array | undefined }): Tensor {
    const o = new OptionReader(opts, 'predict', ['lengths'], ErrorCode.INVALID_ARG);
    const lengths = o.raw('lengths') as number[] | Int32Array | undefined;
    return this.forward(x, lengths === undefined ? {} : { lengths }).output;
  }

  /** Once per training forward: adds into the gradients and returns the gradient of x. */
  backward(grad: { output: TensorLike }): { x: Tensor } {
    this.live('backward');
    const where = 'backward';
    checkNotHeld(this, where, 'layer');
    const o = new OptionReader(grad, where, ['output'], ErrorCode.INVALID_ARG);
    const cache = this.cache;
    if (!cache)
      throw new NoForwardError(
        `${where}: no pending training forward; call forward(x, { train: true }) first`,
      );
    const O = this.config.outputSize;
    const shape =
      cache.gather || cache.input.T === 0 ? [cache.input.B, O] : [cache.input.T, cache.input.B, O];
    const dy = toTensor(o.raw('output'), where, 'output');
    if (dy.shape.length !== shape.length || dy.shape.some((d, i) => d !== shape[i]))
      throw shapeError(where, 'output', shape, dy.shape);
    const dx = this.backwardBatch(dy.data);
    const { T, B, F } = cache.input;
    return { x: new Tensor(dx, T > 0 ? [T, B, F] : [B, F]) };
  }

  /** @internal The forward of a batch inside a model (sizes checked by the caller). */
  forwardBatch(input: Activation, ctx: BatchContext): Activation {
    this.live('forwardBatch');
    if (this.quant && ctx.train) throw quantizedTrainingError('forward', 'Dense layer');
    const { inputSize: I, outputSize: O, activation, lastStep } = this.config;
    let x = input.data;
    let gather: Int32Array | null = null;
    let T = input.T;
    const B = input.B;
    if (lastStep && T > 0) {
      checkLastStepLengths('forward', ctx.lengths);
      gather = new Int32Array(B);
      x = new Float32Array(B * I);
      for (let b = 0; b < B; ++b) {
        const t = ctx.lengths ? ctx.lengths[b] - 1 : T - 1;
        gather[b] = t * B + b;
        x.set(input.data.subarray(gather[b] * I, gather[b] * I + I), b * I);
      }
      T = 0;
    }
    const rows = T > 0 ? T * B : B;
    checkResult(rows * O, 'forward', `output [${T > 0 ? `${T}, ` : ''}${B}, ${O}]`);
    const y = new Float32Array(rows * O);
    if (this.quant) this.packed().apply(rows, x, y);
    else matmul(rows, O, I, x, false, this.weight, true, this.bias, y, false);
    const logits = ctx.logits === true && (activation === 'softmax' || activation === 'sigmoid');
    if (!logits) applyActivation(activation, y, rows, O);
    const lengths = T > 0 ? ctx.lengths : null;
    zeroPadded(y, T, B, O, lengths);
    this.cache = ctx.train ? { x, y, rows, logits, input, gather, lengths } : null;
    return { data: y, T, B, F: O };
  }

  /** @internal The backward of the last training forwardBatch: dy like its output, returns dx like its input. */
  backwardBatch(dy: Float32Array): Float32Array {
    this.live('backwardBatch');
    const cache = this.cache;
    if (!cache) throw new NoForwardError('backward: no pending training forward');
    this.cache = null;
    const { inputSize: I, outputSize: O, activation } = this.config;
    const { x, y, rows, input } = cache;
    const dz = new Float32Array(rows * O);
    activationBackward(cache.logits ? 'linear' : activation, y, dy, dz, rows, O);
    if (cache.lengths) zeroPadded(dz, input.T, input.B, O, cache.lengths);
    const grads = this.flat.grads;
    // dW [O, I] += dZᵀ [O, rows] · X [rows, I]
    matmul(O, I, rows, dz, true, x, false, null, grads.subarray(0, O * I), true);
    // db += Σ_rows dZ
    const db = grads.subarray(O * I);
    for (let r = 0; r < rows; ++r) {
      const off = r * O;
      for (let j = 0; j < O; ++j) db[j] += dz[off + j];
    }
    // dX [rows, I] = dZ [rows, O] · W [O, I]
    const dxRows = new Float32Array(rows * I);
    matmul(rows, I, O, dz, false, this.weight, false, null, dxRows, false);
    if (!cache.gather) return dxRows;
    const dx = new Float32Array(rowsOf(input) * I);
    for (let b = 0; b < input.B; ++b)
      dx.set(dxRows.subarray(b * I, b * I + I), cache.gather[b] * I);
    return dx;
  }

  /** @internal Whether backwardBatch has a pending forward. */
  get pending(): boolean {
    return this.cache !== null;
  }

  /** @internal Drops a pending backward. */
  discard(): void {
    this.cache = null;
  }

  /**
   * One time step at a time: `step(x [batch, I])` returns `[batch, O]` in a preallocated
   * buffer. The weights are packed once (again after they change); a step allocates nothing.
   * lastStep plays no part here: every step gives an output.
   */
  stream(opts?: LayerStreamOptions): LayerStream {
    this.live('stream');
    const o = new OptionReader(opts, 'stream', ['batch'], ErrorCode.INVALID_ARG);
    const batch = o.int('batch', 1, 1 << 24, 1);
    checkElements(
      batch * this.outputSize,
      'stream',
      `batch ${batch} × outputSize ${this.outputSize} (the output)`,
      ErrorCode.INVALID_ARG,
    );
    return new DenseStream(this, batch);
  }

  /**
   * @internal The packed weight matrix for streams (and the quantized forward), shared by the
   * streams of one version: float, or int8 when the layer is quantized.
   */
  packed(): NativePackedMatrix | NativeQuantizedMatrix {
    if (!this.packedCache || this.packedCache.version !== this.version) {
      const { inputSize: I, outputSize: O } = this.config;
      const matrix = this.quant
        ? packQuantized(this.quant, this.bias)
        : packMatrix(I, O, this.weight, true, this.bias);
      this.packedCache?.matrix.dispose();
      this.packedCache = { version: this.version, matrix };
    }
    return this.packedCache.matrix;
  }

  /**
   * What dispose() frees: its packed weights (native memory, shared by its streams) and its
   * parameter and gradient buffers.
   */
  protected free(): void {
    this.cache = null;
    this.quant = null;
    this.packedCache?.matrix.dispose();
    this.packedCache = null;
    const empty = new Float32Array(0);
    (this as { flat: FlatParameters }).flat = { values: empty, grads: empty, entries: [] };
  }
  private packedCache: {
    version: number;
    matrix: NativePackedMatrix | NativeQuantizedMatrix;
  } | null = null;
  /** The int8 weight while quantized (the source of truth then: files store it). */
}

class DenseStream implements LayerStream {
  readonly inputSize: number;
  readonly outputSize: number;
  private readonly out: Float32Array;
  private matrix: NativePackedMatrix | NativeQuantizedMatrix;
  private version: number;

  constructor(
    private readonly layer: Dense,
    readonly batch: number,
  ) {
    this.inputSize = layer.inputSize;
    this.outputSize = layer.outputSize;
    this.out = new Float32Array(batch * this.outputSize);
    this.matrix = layer.packed();
    this.version = layer.version;
  }

  step(x: Float32Array): Float32Array {
    // A stream made before setParameters holds older packed weights, which the layer's
    // dispose() does not reach: the layer's flag decides.
    if (this.layer.disposed) throw disposedError('step', 'layer of this stream');
    if (!(x instanceof Float32Array) || x.length !== this.batch * this.inputSize)
      throw shapeError(
        'step',
        'x',
        [`B=${this.batch}`, `I=${this.inputSize}`],
        x instanceof Float32Array ? [x.length] : [],
        `a Float32Array of ${this.batch * this.inputSize} values${x instanceof Float32Array ? '' : `, got ${describe(x)}`}`,
      );
    if (this.version !== this.layer.version) {
      this.matrix = this.layer.packed();
      this.version = this.layer.version;
    }
    this.matrix.apply(this.batch, x, this.out);
    applyActivation(this.layer.config.activation, this.out, this.batch, this.outputSize);
    return this.out;
  }

  reset(): void {}
}

/** y = act(y) in place over `rows` rows of `cols`. */
export function applyActivation(
  act: DenseActivation,
  y: Float32Array,
  rows: number,
  cols: number,
): void {
  const n = rows * cols;
  switch (act) {
    case 'linear':
      return;
    case 'tanh':
      for (let i = 0; i < n; ++i) y[i] = Math.tanh(y[i]);
      return;
    case 'sigmoid':
      for (let i = 0; i < n; ++i) y[i] = sigmoid(y[i]);
      return;
    case 'relu':
      for (let i = 0; i < n; ++i) if (!(y[i] > 0)) y[i] = y[i] === y[i] ? 0 : y[i];
      return;
    case 'softmax':
      for (let r = 0; r < rows; ++r) softmaxRow(y, r * cols, cols);
      return;
  }
}

/** The logistic function, stable at both ends. */
export function sigmoid(z: number): number {
  if (z >= 0) return 1 / (1 + Math.exp(-z));
  const e = Math.exp(z);
  return e / (1 + e);
}

/** softmax over y[off, off + n) in place (max-shifted, summed in double). */
export function softmaxRow(y: Float32Array, off: number, n: number): void {
  let max = -Infinity;
  for (let j = 0; j < n; ++j) if (y[off + j] > max) max = y[off + j];
  if (!Number.isFinite(max)) {
    // all −∞, or a NaN / +∞ among them: let it propagate as NaN rather than hide it
    if (max === -Infinity) for (let j = 0; j < n; ++j) y[off + j] = 1 / n;
    else for (let j = 0; j < n; ++j) y[off + j] = NaN;
    return;
  }
  let sum = 0;
  for (let j = 0; j < n; ++j) {
    const e = Math.exp(y[off + j] - max);
    y[off + j] = e;
    sum += e;
  }
  for (let j = 0; j < n; ++j) y[off + j] /= sum;
}

/** dz = dy ⊙ act'(…), from the activation's output y. */
function activationBackward(
  act: DenseActivation,
  y: Float32Array,
  dy: Float32Array,
  dz: Float32Array,
  rows: number,
  cols: number,
): void {
  const n = rows * cols;
  switch (act) {
    case 'linear':
      dz.set(dy);
      return;
    case 'tanh':
      for (let i = 0; i < n; ++i) dz[i] = dy[i] * (1 - y[i] * y[i]);
      return;
    case 'sigmoid':
      for (let i = 0; i < n; ++i) dz[i] = dy[i] * y[i] * (1 - y[i]);
      return;
    case 'relu':
      for (let i = 0; i < n; ++i) dz[i] = y[i] > 0 ? dy[i] : 0;
      return;
    case 'softmax':
      for (let r = 0; r < rows; ++r) {
        const off = r * cols;
        let dot = 0;
        for (let j = 0; j < cols; ++j) dot += dy[off + j] * y[off + j];
        for (let j = 0; j < cols; ++j) dz[off + j] = y[off + j] * (dy[off + j] - dot);
      }
      return;
  }
}
