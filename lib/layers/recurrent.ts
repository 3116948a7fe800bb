// Recurrent layers (LSTM, GRU, RNN): options → a native layer (cpp/binding) → typed results.
// Everything is validated here first, with messages that name the argument and the expected and
// actual shapes; the binding re-checks only what memory safety needs.
import {
  native,
  type NativeBackwardArgs,
  type NativeForwardArgs,
  type NativeLayer,
  type ParamEntry,
} from '../binding';
import {
  type CellSpec,
  type GRUConfig,
  type GRUOptions,
  type LSTMConfig,
  type LSTMOptions,
  type RNNConfig,
  type RNNOptions,
  type RecurrentConfig,
  directionsOf,
  findCell,
  gru,
  lstm,
  nativeConfig,
  parameterCount,
  resolveCell,
  rnn,
} from '../cells';
import {
  BusyError,
  CellstateRangeError,
  CellstateTypeError,
  type Dim,
  ErrorCode,
  NoForwardError,
  describe,
  disposeSymbol,
  disposedError,
  shapeError,
  withCallerStack,
} from '../errors';
import { MAX_ELEMENTS, checkResult } from '../limits';
import { checkNotHeld } from '../hold';
import { OptionReader } from '../options';
import { Random } from '../random';
import { type ShapeOf, Tensor, type TensorLike, toTensor } from '../tensor';
import { StreamPool, type StreamPoolOptions } from '../stream/pool';
import { Stream, type StreamOptions } from '../stream/stream';
import { readLengths } from './batch';
import { type Layer, layerBrand } from './layer';
import {
  type QuantizedTensor,
  dequantizeMatrix,
  nativeQuantizedWeight,
  notQuantizedError,
  quantizeMatrix,
  readQuantized,
  sameQuantized,
} from './quant';

/** The weight matrices int8 quantization may cover (the kernel says which it does). */
const QUANTIZABLE = /^weight_(ih|hh|hr)_l\d+(_reverse)?$/;

/** Largest parameter count of one layer stack: MAX_ELEMENTS, 2^28 float32 values, 1 GiB. */
export const MAX_PARAMETERS = MAX_ELEMENTS;

export {
  MAX_LAYERS,
  MAX_SIZE,
  type Direction,
  type GRUConfig,
  type GRUOptions,
  type LSTMConfig,
  type LSTMOptions,
  type RNNConfig,
  type RNNOptions,
  type RecurrentConfig,
  type RecurrentOptions,
} from '../cells';

// ---- forward and backward ------------------------------------------------------------------

/** Options of forward / forwardAsync. */
export interface ForwardOptions {
  /** Initial hidden state `[L·D, B, R]`. Default: zeros. */
  h0?: TensorLike | undefined;
  /** Initial cell state `[L·D, B, H]`, LSTM only. Default: zeros. */
  c0?: TensorLike | undefined;
  /** Length of each sequence, B integers in [0, T]; steps past a length output 0 and leave the state unchanged (an empty sequence, length 0: every output 0, the final state is h0 / c0, and backward passes the state's gradient through to h0 / c0). Default: every sequence has length T. */
  lengths?: number[] | Int32Array | undefined;
  /** Keep what backward needs, and apply dropout. Default false. */
  train?: boolean | undefined;
  /**
   * The result of an earlier forward of the same shape, whose tensors this call overwrites and
   * returns instead of allocating new ones (a loop over equal-sized chunks then allocates
   * nothing). `h0: into.h` (and `c0: into.c`) carries the state from chunk to chunk; otherwise
   * its tensors must not share memory with x, h0, c0 or each other (a RangeError). With
   * forwardAsync, do not read it until the promise settles.
   */
  into?: ForwardResult | undefined;
}

/** What forward returns: {@link LSTMForwardResult} for an LSTM, {@link HiddenForwardResult} for a GRU or RNN. */
export interface ForwardResult {
  /** `[T, B, D·R]` (or `[B, T, D·R]` with batchFirst); 0 at padded steps. */
  output: Tensor<3>;
  /** Final hidden state `[L·D, B, R]`, layer-major, forward before reverse. */
  h: Tensor<3>;
  /** Final cell state `[L·D, B, H]` (LSTM only). */
  c?: Tensor<3>;
}

/** What an LSTM's forward returns: the output and the final `h` and `c`. */
export interface LSTMForwardResult extends ForwardResult {
  /** Final cell state `[L·D, B, H]`. */
  c: Tensor<3>;
}

/** What a GRU's or an RNN's forward returns: the output and the final `h` (no cell state). */
export interface HiddenForwardResult {
  /** `[T, B, D·R]` (or `[B, T, D·R]` with batchFirst); 0 at padded steps. */
  output: Tensor<3>;
  /** Final hidden state `[L·D, B, R]`, layer-major, forward before reverse. */
  h: Tensor<3>;
}

/** Upstream gradients for backward; an absent one is zero. */
export interface BackwardGradients {
  /** Gradient of `output`, its shape. */
  output?: TensorLike | undefined;
  /** Gradient of the final `h`, `[L·D, B, R]`. */
  h?: TensorLike | undefined;
  /** Gradient of the final `c`, `[L·D, B, H]` (LSTM only). */
  c?: TensorLike | undefined;
}

/** Options of backward / backwardAsync. */
export interface BackwardOptions {
  /** The result of an earlier backward of the same shapes, overwritten and returned (as forward's `into`). */
  into?: BackwardResult | undefined;
}

/** What backward returns: gradients of the inputs of the training forward. */
export interface BackwardResult {
  /** Gradient of `x`, its shape; 0 at padded steps. */
  x: Tensor<3>;
  /** Gradient of `h0`, `[L·D, B, R]`. */
  h0: Tensor<3>;
  /** Gradient of `c0`, `[L·D, B, H]` (LSTM only). */
  c0?: Tensor<3>;
}

/** What an LSTM's backward returns: the gradients of x, h0 and c0. */
export interface LSTMBackwardResult extends BackwardResult {
  /** Gradient of `c0`, `[L·D, B, H]`. */
  c0: Tensor<3>;
}

/** What a GRU's or an RNN's backward returns: the gradients of x and h0. */
export interface HiddenBackwardResult {
  /** Gradient of `x`, its shape; 0 at padded steps. */
  x: Tensor<3>;
  /** Gradient of `h0`, `[L·D, B, R]`. */
  h0: Tensor<3>;
}

interface Prepared<A, R> {
  args: A;
  result: R;
}

const FORWARD_KEYS = ['h0', 'c0', 'lengths', 'train', 'into'] as const;
const BACKWARD_KEYS = ['output', 'h', 'c'] as const;
const BACKWARD_OPTION_KEYS = ['into'] as const;

/**
 * The common base of LSTM, GRU and RNN: a stack of recurrent layers over a native kernel. `F` and
 * `G` are the results of forward and backward (with `c` / `c0` for an LSTM only).
 */
export abstract class Recurrent<
  C extends RecurrentConfig = RecurrentConfig,
  F extends ForwardResult = ForwardResult,
  G extends BackwardResult = BackwardResult,
> implements Layer {
  /** The resolved options, plain JSON (frozen), seed included: `new LSTM(layer.config)` rebuilds the same layer. */
  readonly config: Readonly<C>;

  /** The parameter table (docs/cells.md names, shapes, offsets into the flat buffer). */
  protected readonly parameterTable: readonly ParamEntry[];
  private readonly native: NativeLayer;
  private readonly paramCount: number;
  // T and B of the last successful training forward (what backward's shapes are checked
  // against while the native layer reports a pending backward).
  private pendingShape: { T: number; B: number } | null = null;
  // Training forwards so far: with the seed, it determines each call's dropout masks.
  private trainCalls = 0;

  /** The cell's registry entry (lib/cells). */
  private readonly cell: CellSpec<C>;

  protected constructor(cell: CellSpec<C>, options: unknown) {
    const config = resolveCell(cell, options);
    this.cell = cell;
    const count = parameterCount(config);
    if (count > MAX_PARAMETERS)
      throw new CellstateRangeError(
        ErrorCode.INVALID_OPTION,
        `${this.constructor.name}: these options make ${count} parameters, more than the limit of ${MAX_PARAMETERS}`,
      );
    this.config = Object.freeze({ ...config });
    const { NativeLayer } = native();
    this.native = new NativeLayer(nativeConfig(config));
    this.parameterTable = Object.freeze(
      this.native.paramTable().map((p) => Object.freeze({ ...p, shape: Object.freeze(p.shape) })),
    ) as readonly ParamEntry[];
    this.paramCount = this.native.paramCount;
    this.native.writeParams(this.initialParameters());
  }

  /** The cell's name in summaries and messages: 'LSTM', 'GRU', 'RNN'. */
  get layerType(): string {
    return this.cell.title;
  }

  /** Features per time step of the input, `I`. */
  get inputSize(): number {
    return this.config.inputSize;
  }

  /** What the layer reads: sequences `[T, B, I]` (it needs the time axis). */
  get reads(): 'sequence' {
    return 'sequence';
  }

  /** Whether the output keeps the time axis: true. */
  get keepsTime(): boolean {
    return true;
  }

  /** Parameter values: the elements of parameters(). */
  get parameterCount(): number {
    return this.paramCount;
  }

  /** The options that shape the stack, for summary(): '2 layers, bidirectional, projSize 3'. */
  summaryDetails(): string {
    const c = this.config;
    const parts: string[] = [];
    if (c.numLayers > 1) parts.push(`${c.numLayers} layers`);
    if (c.bidirectional) parts.push('bidirectional');
    if (c.direction === 'reverse') parts.push('reverse');
    parts.push(...this.cell.summary(c));
    if (c.dropout > 0) parts.push(`dropout ${c.dropout}`);
    if (c.recurrentDropout > 0) parts.push(`recurrentDropout ${c.recurrentDropout}`);
    if (c.inputDropout > 0) parts.push(`inputDropout ${c.inputDropout}`);
    return parts.join(', ');
  }

  /** Size of h, `R` (projSize when > 0, else hiddenSize). */
  get stateSize(): number {
    return this.cell.stateSize(this.config as never);
  }

  /** Features per time step of the output, `D·R`. */
  get outputSize(): number {
    return this.directions * this.stateSize;
  }

  private get directions(): number {
    return directionsOf(this.config);
  }

  /** Rows of the state tensors, `L·D`. */
  private get stateRows(): number {
    return this.config.numLayers * this.directions;
  }

  private get hasCellState(): boolean {
    return this.cell.cellState;
  }

  /**
   * The initial parameters: PyTorch's U(−1/√H, 1/√H), drawn in ParamTable order from the seed,
   * then the cell's own initialisation (an LSTM's forgetBias).
   */
  private initialParameters(): Float32Array {
    const params = new Float32Array(this.paramCount);
    new Random(this.config.seed).fillUniform(params, 1 / Math.sqrt(this.config.hiddenSize));
    this.cell.initialize?.(this.config, params, this.parameterTable);
    return params;
  }

  private split(flat: Float32Array): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    for (const p of this.parameterTable)
      out[p.name] = new Tensor(flat.slice(p.offset, p.offset + p.size), p.shape);
    return out;
  }

  /** Every parameter under its docs/cells.md name: copies, not live views. */
  parameters(): Record<string, Tensor> {
    this.live('parameters');
    const flat = new Float32Array(this.paramCount);
    this.native.readParams(flat);
    return this.split(flat);
  }

  /**
   * Replaces every parameter. Each value is a Tensor (or nested arrays) of exactly the
   * parameter's shape, or a Float32Array of its element count. An unknown or missing name or a
   * wrong size throws, and then nothing is changed. A pending backward is discarded.
   */
  setParameters(params: Record<string, Tensor | Float32Array | TensorLike>): void {
    const where = 'setParameters';
    this.checkIdle(where);
    if (params === null || typeof params !== 'object' || Array.isArray(params))
      throw new CellstateTypeError(
        ErrorCode.INVALID_ARG,
        `${where}: params must be an object of parameters by name, got ${describe(params)}`,
      );
    const names = new Set(this.parameterTable.map((p) => p.name));
    const unknown = Object.keys(params).filter((k) => !names.has(k));
    if (unknown.length > 0)
      throw new CellstateTypeError(
        ErrorCode.INVALID_ARG,
        `${where}: unknown parameter${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')} (this layer has ${[...names].join(', ')})`,
      );
    const flat = new Float32Array(this.paramCount);
    for (const p of this.parameterTable) {
      const value: unknown = params[p.name];
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
        const t = toTensor(value, where, p.name);
        if (!sameShape(t.shape, p.shape)) throw shapeError(where, p.name, p.shape, t.shape);
        flat.set(t.data, p.offset);
      }
    }
    this.native.writeParams(flat);
  }

  /** The accumulated parameter gradients, under the names of parameters(). */
  gradients(): Record<string, Tensor> {
    this.live('gradients');
    checkNotHeld(this, 'gradients', 'layer');
    if (this.native.busy === 'backward')
      throw new BusyError('gradients: the layer is busy with backwardAsync; await it first');
    const flat = new Float32Array(this.paramCount);
    this.native.readGrads(flat);
    return this.split(flat);
  }

  /** Sets every parameter gradient to zero. */
  zeroGrad(): void {
    this.checkIdle('zeroGrad');
    this.native.zeroGrad();
  }

  /**
   * Runs the layer over `x` `[T, B, I]` (`[B, T, I]` with batchFirst). With `train: true` it
   * keeps what one following backward needs, and applies dropout.
   */
  forward(x: TensorLike, opts?: ForwardOptions): F {
    this.checkIdle('forward');
    const call = this.prepareForward('forward', x, opts);
    this.native.forward(call.args);
    this.afterForward(call.args);
    return call.result as F;
  }

  /** forward off the event loop: the same validation and bit-identical results. */
  async forwardAsync(x: TensorLike, opts?: ForwardOptions): Promise<F> {
    const caller = new Error();
    this.checkIdle('forwardAsync');
    const call = this.prepareForward('forwardAsync', x, opts);
    try {
      await this.native.forwardAsync(call.args);
    } catch (error) {
      throw withCallerStack(error, caller);
    }
    this.afterForward(call.args);
    return call.result as F;
  }

  /**
   * The output of forward at inference (no dropout, nothing kept for backward), in the layer's
   * layout: `x` `[T, B, I]` gives `[T, B, D·R]` (`[B, T, ·]` with batchFirst).
   */
  predict(x: TensorLike, opts?: { lengths?: number[] | Int32Array | undefined }): Tensor<3> {
    const o = new OptionReader(opts, 'predict', ['lengths'], ErrorCode.INVALID_ARG);
    const lengths = o.raw('lengths') as number[] | Int32Array | undefined;
    return this.forward(x, lengths === undefined ? {} : { lengths }).output;
  }

  /** predict off the event loop (forwardAsync): the same arguments and bit-identical results. */
  async predictAsync(
    x: TensorLike,
    opts?: { lengths?: number[] | Int32Array | undefined },
  ): Promise<Tensor<3>> {
    const o = new OptionReader(opts, 'predictAsync', ['lengths'], ErrorCode.INVALID_ARG);
    const lengths = o.raw('lengths') as number[] | Int32Array | undefined;
    return (await this.forwardAsync(x, lengths === undefined ? {} : { lengths })).output;
  }

  /**
   * Backpropagation through time for the last training forward, once per such forward. Adds
   * into the parameter gradients and returns the gradients of x, h0 (and c0).
   */
  backward(grad?: BackwardGradients, opts?: BackwardOptions): G {
    this.checkIdle('backward');
    const call = this.prepareBackward('backward', grad, opts);
    this.native.backward(call.args);
    return call.result as G;
  }

  /** backward off the event loop: the same validation and bit-identical results. */
  async backwardAsync(grad?: BackwardGradients, opts?: BackwardOptions): Promise<G> {
    const caller = new Error();
    this.checkIdle('backwardAsync');
    const call = this.prepareBackward('backwardAsync', grad, opts);
    try {
      await this.native.backwardAsync(call.args);
    } catch (error) {
      throw withCallerStack(error, caller);
    }
    return call.result as G;
  }

  /**
   * One time step at a time of `batch` independent sequences (one-direction layers only): see
   * Stream. Streams share this layer's weights (setParameters applies to them from their next
   * step) and may step while forwardAsync / backwardAsync runs.
   */
  stream(opts?: StreamOptions): Stream {
    this.live('stream');
    return new Stream(this, this.native, opts);
  }

  /** Independent streaming sessions stepped together as one batch: see StreamPool. */
  streamPool(opts?: StreamPoolOptions): StreamPool {
    this.live('streamPool');
    return new StreamPool(this, this.native, opts);
  }

  /** Which async call is in flight ('forward' / 'backward'), or null. */
  get busy(): 'forward' | 'backward' | null {
    return this.native.busy;
  }

  /** Whether dispose() has freed this layer's native memory. */
  get disposed(): boolean {
    return this.native.disposed;
  }

  /** Whether the layer runs int8 inference (see quantize()). */
  get quantized(): boolean {
    return this.native.quantized;
  }

  /**
   * int8 dynamic quantization, inference only: the current weights of the GEMMs (`weight_ih`,
   * `weight_hh`, and `weight_hr` with `projSize`) become int8 with one scale per row (biases,
   * peepholes and layer-norm parameters stay float), and `forward` and the layer's streams then
   * quantize each GEMM's activations (`x_t`, `h_{t-1}`, the GRU's `r ⊙ h` when `resetAfter` is
   * false, the LSTM's `m_t` before the projection) per row and step, accumulate in int32 and run
   * the post-GEMM (gates, activations, clip, layer norm) in float. Every cell and option of
   * inference works: LSTM, GRU, RNN, stacks, bidirectional and reverse, `lengths`, batch-first,
   * threads. The layer then holds those weights only in int8 (a byte each, packed, and a scale
   * per row) and no gradients: `parameters()` returns them dequantized (`fround(q · scale)`, each
   * within half a step of the float weight it replaced), `gradients()` zeros, and new parameters
   * (`setParameters`) are quantized again. A quantized layer refuses
   * `forward(x, { train: true })` with ERR_CELLSTATE_UNSUPPORTED. Returns the layer.
   */
  quantize(): this {
    this.checkIdle('quantize');
    this.native.quantize(true);
    return this;
  }

  /**
   * Back to float inference on the dequantized weights (the float weights quantize() replaced are
   * not kept: keep a copy of the model, as `quantize(model)` does by default, to go back to them).
   * A no-op when the layer is not quantized. Returns the layer.
   */
  dequantize(): this {
    this.checkIdle('dequantize');
    this.native.quantize(false);
    return this;
  }

  /**
   * The int8 weights the quantized layer runs on, by parameter name (`weight_ih_l0`,
   * `weight_hh_l0`, …): `{ values: Int8Array [rows, cols], scale: Float32Array [rows], shape }`,
   * copies read from the native layer. Biases and peepholes stay float (parameters()).
   * ERR_CELLSTATE_UNSUPPORTED when the layer is not quantized.
   */
  quantizedParameters(): Record<string, QuantizedTensor> {
    const where = 'quantizedParameters';
    this.checkIdle(where);
    if (!this.native.quantized) throw notQuantizedError(where, `${this.layerType} layer`);
    const out: Record<string, QuantizedTensor> = {};
    for (const p of this.parameterTable) {
      if (!QUANTIZABLE.test(p.name) || p.shape.length !== 2) continue;
      try {
        out[p.name] = nativeQuantizedWeight(this.native, p.name, p.shape[0], p.shape[1]);
      } catch (e) {
        // a weight the quantized layer keeps in float (the kernel says it is not quantized)
        if ((e as { code?: unknown }).code === ErrorCode.INVALID_ARG) continue;
        throw e;
      }
    }
    return out;
  }

  /**
   * Sets int8 weights (every weight quantizedParameters() lists, in its form; biases and
   * peepholes with setParameters): the float weights become the dequantized ones
   * (`fround(q · scale)`) and the layer is quantized on them. The int8 values must be those
   * cellstate's quantization gives back (each row's largest |value| 127, or an all-zero row), as
   * in a file cellstate saved; anything else is a RangeError. Nothing changes on an error.
   */
  setQuantizedParameters(params: Record<string, QuantizedTensor>): void {
    const where = 'setQuantizedParameters';
    this.checkIdle(where);
    if (params === null || typeof params !== 'object' || Array.isArray(params))
      throw new CellstateTypeError(
        ErrorCode.INVALID_ARG,
        `${where}: params must be an object of { values, scale } by weight name, got ${describe(params)}`,
      );
    const table = new Map(this.parameterTable.map((p) => [p.name, p]));
    const given = new Map<string, QuantizedTensor>();
    for (const [name, value] of Object.entries(params)) {
      const p = table.get(name);
      if (!p || !QUANTIZABLE.test(name) || p.shape.length !== 2)
        throw new CellstateTypeError(
          ErrorCode.INVALID_ARG,
          `${where}: '${name}' is not a weight matrix of this layer`,
        );
      given.set(name, readQuantized(where, name, value, p.shape[0], p.shape[1]));
    }
    // Everything is checked before the native layer is touched (writing parameters discards a
    // pending backward, which a failed call must keep): the layer quantizes every weight matrix,
    // and each given one must be what quantizing its dequantized values gives back (the same
    // native quantization the layer runs).
    for (const p of this.parameterTable)
      if (QUANTIZABLE.test(p.name) && p.shape.length === 2 && !given.has(p.name))
        throw new CellstateRangeError(
          ErrorCode.INVALID_ARG,
          `${where}: missing '${p.name}' (the layer quantizes it)`,
        );
    const flat = new Float32Array(this.paramCount);
    this.native.readParams(flat);
    for (const [name, q] of given) {
      const p = table.get(name) as ParamEntry;
      const w = dequantizeMatrix(q, flat.subarray(p.offset, p.offset + p.size));
      if (!sameQuantized(quantizeMatrix(where, `'${name}'`, p.shape[0], p.shape[1], w), q))
        throw new CellstateRangeError(
          ErrorCode.INVALID_ARG,
          `${where}: '${name}' is not as cellstate quantizes (every row's largest |value| must be 127, or the row all zeros)`,
        );
    }
    const before = new Float32Array(this.paramCount);
    this.native.readParams(before);
    const wasQuantized = this.native.quantized;
    this.native.writeParams(flat);
    try {
      this.native.quantize(true);
    } catch (e) {
      // out of memory for the int8 copy: back to the weights and mode the layer had
      this.native.writeParams(before);
      this.native.quantize(wasQuantized);
      throw e;
    }
  }

  /**
   * Frees the layer's native memory (parameters, gradients, packed weights, workspaces) now,
   * instead of when the garbage collector finds the layer unreachable. Every later call on the
   * layer, and on its streams and pools, throws an Error with code ERR_CELLSTATE_DISPOSED. A
   * second dispose() does nothing. While forwardAsync / backwardAsync runs it throws
   * ERR_CELLSTATE_BUSY and frees nothing: await the call first.
   */
  dispose(): void {
    if (this.native.disposed) return;
    this.checkIdle('dispose');
    this.native.dispose();
  }

  /** dispose(), for `using layer = new LSTM(...)`. */
  [disposeSymbol](): void {
    this.dispose();
  }

  private live(where: string): void {
    if (this.native.disposed) throw disposedError(where, 'layer');
  }

  private checkIdle(where: string): void {
    this.live(where);
    checkNotHeld(this, where, 'layer');
    const busy = this.native.busy;
    if (busy)
      throw new BusyError(
        `${where}: the layer is busy with ${busy}Async; await it before changing or running the layer`,
      );
  }

  // Only after a call succeeded: a failed call changes nothing (the next training call gets
  // the dropout seed this one would have had).
  private afterForward(args: NativeForwardArgs): void {
    if (!args.train) return;
    this.pendingShape = { T: args.T, B: args.B };
    this.trainCalls = (this.trainCalls + 1) >>> 0;
  }

  private prepareForward(
    where: string,
    xValue: unknown,
    opts: unknown,
  ): Prepared<NativeForwardArgs, ForwardResult> {
    const o = new OptionReader(opts, where, FORWARD_KEYS, ErrorCode.INVALID_ARG);
    const train = o.bool('train', false);
    const { batchFirst, inputSize: I, hiddenSize: H } = this.config;
    const R = this.stateSize;
    const LD = this.stateRows;

    const x = toTensor(xValue, where, 'x');
    const xDims: Dim[] = batchFirst ? ['B', 'T', `I=${I}`] : ['T', 'B', `I=${I}`];
    if (x.shape.length !== 3 || x.shape[2] !== I) throw shapeError(where, 'x', xDims, x.shape);
    if (x.shape[0] < 1 || x.shape[1] < 1)
      throw shapeError(where, 'x', xDims, x.shape, 'T ≥ 1 and B ≥ 1');
    const T = batchFirst ? x.shape[1] : x.shape[0];
    const B = batchFirst ? x.shape[0] : x.shape[1];

    const h0v = o.raw('h0');
    const h0 =
      h0v === undefined
        ? undefined
        : this.stateArg(where, 'h0', h0v, [LD, B, R], ['L·D', 'B', 'R']);
    const c0v = o.raw('c0');
    if (c0v !== undefined && !this.hasCellState) throw this.noCellState(where, 'c0', c0v);
    const c0 =
      c0v === undefined
        ? undefined
        : this.stateArg(where, 'c0', c0v, [LD, B, H], ['L·D', 'B', 'H']);
    const slots: Slot[] = [
      {
        key: 'output',
        shape: batchFirst ? [B, T, this.outputSize] : [T, B, this.outputSize],
        symbols: batchFirst ? ['B', 'T', 'D·R'] : ['T', 'B', 'D·R'],
      },
      { key: 'h', shape: [LD, B, R], symbols: ['L·D', 'B', 'R'] },
    ];
    if (this.hasCellState) slots.push({ key: 'c', shape: [LD, B, H], symbols: ['L·D', 'B', 'H'] });
    const t = resultTensors(where, 'forward', o.raw('into'), slots, [
      ['x', x.data],
      ['h0', h0, 'h'],
      ['c0', c0, 'c'],
    ]);
    const result: ForwardResult = { output: t.output, h: t.h };
    if (t.c) result.c = t.c;
    const args: NativeForwardArgs = {
      T,
      B,
      batchFirst,
      train,
      dropoutSeed: train ? this.dropoutSeed() : 0n,
      x: x.data,
      output: result.output.data,
      hN: result.h.data,
    };
    if (h0) args.h0 = h0;
    if (result.c) args.cN = result.c.data;
    if (c0) args.c0 = c0;
    const lengths = o.raw('lengths');
    if (lengths !== undefined && lengths !== null) args.lengths = readLengths(where, lengths, T, B);
    return { args, result };
  }

  private prepareBackward(
    where: string,
    grad: unknown,
    opts: unknown,
  ): Prepared<NativeBackwardArgs, BackwardResult> {
    const o = new OptionReader(grad, where, BACKWARD_KEYS, ErrorCode.INVALID_ARG);
    const bo = new OptionReader(opts, where, BACKWARD_OPTION_KEYS, ErrorCode.INVALID_ARG);
    if (!this.native.pendingBackward || !this.pendingShape)
      throw new NoForwardError(
        `${where}: no pending training forward; call forward(x, { train: true }) first ` +
          '(backward runs once per training forward, and an inference forward or setParameters in between discards it)',
      );
    const { T, B } = this.pendingShape;
    const { batchFirst, inputSize: I, hiddenSize: H } = this.config;
    const R = this.stateSize;
    const LD = this.stateRows;
    const DR = this.outputSize;

    const dOutputValue = o.raw('output');
    let dOutput: Float32Array | undefined;
    if (dOutputValue !== undefined) {
      const t = toTensor(dOutputValue, where, 'output');
      const shape = batchFirst ? [B, T, DR] : [T, B, DR];
      const dims = batchFirst ? ['B', 'T', 'D·R'] : ['T', 'B', 'D·R'];
      if (!sameShape(t.shape, shape))
        throw shapeError(where, 'output', labelled(dims, shape), t.shape);
      dOutput = t.data;
    }
    const dh = o.raw('h');
    const dhN =
      dh === undefined ? undefined : this.stateArg(where, 'h', dh, [LD, B, R], ['L·D', 'B', 'R']);
    const dc = o.raw('c');
    if (dc !== undefined && !this.hasCellState) throw this.noCellState(where, 'c', dc);
    const dcN =
      dc === undefined ? undefined : this.stateArg(where, 'c', dc, [LD, B, H], ['L·D', 'B', 'H']);

    const slots: Slot[] = [
      {
        key: 'x',
        shape: batchFirst ? [B, T, I] : [T, B, I],
        symbols: batchFirst ? ['B', 'T', 'I'] : ['T', 'B', 'I'],
      },
      { key: 'h0', shape: [LD, B, R], symbols: ['L·D', 'B', 'R'] },
    ];
    if (this.hasCellState) slots.push({ key: 'c0', shape: [LD, B, H], symbols: ['L·D', 'B', 'H'] });
    const t = resultTensors(where, 'backward', bo.raw('into'), slots, [
      ['output', dOutput],
      ['h', dhN, 'h0'],
      ['c', dcN, 'c0'],
    ]);
    const args: NativeBackwardArgs = { dx: t.x.data, dh0: t.h0.data };
    if (dOutput) args.dOutput = dOutput;
    if (dhN) args.dhN = dhN;
    if (dcN) args.dcN = dcN;
    const result: BackwardResult = { x: t.x, h0: t.h0 };
    if (t.c0) {
      result.c0 = t.c0;
      args.dc0 = t.c0.data;
    }
    return { args, result };
  }

  /**
   * @internal Throws what forward would refuse in an initial state `h0` (`c0`) for a batch of
   * `B` sequences (named `name.h` / `name.c`), changing nothing: a Sequential checks every
   * layer's state before the first layer runs.
   */
  checkInitialState(where: string, name: string, B: number, h0: unknown, c0: unknown): void {
    const LD = this.stateRows;
    if (h0 !== undefined)
      this.stateArg(where, `${name}.h`, h0, [LD, B, this.stateSize], ['L·D', 'B', 'R']);
    if (c0 === undefined) return;
    if (!this.hasCellState) throw this.noCellState(where, `${name}.c`, c0);
    this.stateArg(where, `${name}.c`, c0, [LD, B, this.config.hiddenSize], ['L·D', 'B', 'H']);
  }

  private stateArg(
    where: string,
    arg: string,
    value: unknown,
    shape: number[],
    symbols: string[],
  ): Float32Array {
    const t = toTensor(value, where, arg);
    if (!sameShape(t.shape, shape)) throw shapeError(where, arg, labelled(symbols, shape), t.shape);
    return t.data;
  }

  private noCellState(where: string, arg: string, value: unknown): CellstateTypeError {
    const given =
      value instanceof Tensor ? `a Tensor of shape [${value.shape.join(', ')}]` : describe(value);
    return new CellstateTypeError(
      ErrorCode.INVALID_ARG,
      `${where}: ${arg} is a cell state, which only an LSTM has; a ${this.cell.title} takes no ${arg}, got ${given}`,
    );
  }

  // Distinct per training forward and reproducible from the seed.
  private dropoutSeed(): bigint {
    return (BigInt(this.config.seed) << 32n) | BigInt(this.trainCalls);
  }
}

/** One tensor of a result: its key, shape and the symbols naming its dimensions. */
interface Slot {
  key: string;
  shape: number[];
  symbols: string[];
}

/**
 * The tensors of a forward's or backward's result: new ones, or those of `into`, an earlier
 * result of the same shapes, each checked against its shape. The kernel reads its inputs while
 * it writes the result, so no result tensor may share memory with an input or with another
 * result tensor, except an input that is exactly the slot named beside it (a state row is read
 * before the same unit writes it).
 */
function resultTensors(
  where: string,
  what: string,
  into: unknown,
  slots: Slot[],
  inputs: [string, Float32Array | undefined, string?][],
): Record<string, Tensor<3>> {
  // every result tensor (output, states, their gradients) has rank 3
  const out: Record<string, Tensor<3>> = {};
  if (into === undefined) {
    const sizes = slots.map((s) => s.shape.reduce((a, b) => a * b, 1));
    slots.forEach((s, i) => checkResult(sizes[i], where, `${s.key} [${s.shape.join(', ')}]`));
    slots.forEach(
      (s, i) => (out[s.key] = new Tensor(new Float32Array(sizes[i]), s.shape as ShapeOf<3>)),
    );
    return out;
  }
  const r = into as Record<string, unknown> | null;
  if (r === null || typeof r !== 'object' || slots.some((s) => !(r[s.key] instanceof Tensor)))
    throw new CellstateTypeError(
      ErrorCode.INVALID_ARG,
      `${where}: into must be the result of an earlier ${what} (Tensors ${slots.map((s) => s.key).join(', ')}), got ${describe(into)}`,
    );
  for (const s of slots) {
    const t = r[s.key] as Tensor<3>;
    if (!sameShape(t.shape, s.shape))
      throw shapeError(where, `into.${s.key}`, labelled(s.symbols, s.shape), t.shape);
    out[s.key] = t;
  }
  const clash = (a: string, b: string) =>
    new CellstateRangeError(
      ErrorCode.INVALID_ARG,
      `${where}: ${a} must not share memory with ${b}`,
    );
  slots.forEach((s, i) => {
    for (const o of slots.slice(i + 1))
      if (overlaps(out[s.key].data, out[o.key].data)) throw clash(`into.${o.key}`, `into.${s.key}`);
  });
  for (const [name, data, mayBe] of inputs)
    for (const s of slots) {
      const t = out[s.key].data;
      if (data && overlaps(t, data) && !(s.key === mayBe && sameView(t, data)))
        throw clash(`into.${s.key}`, name);
    }
  return out;
}

function sameView(a: Float32Array, b: Float32Array): boolean {
  return a.buffer === b.buffer && a.byteOffset === b.byteOffset && a.length === b.length;
}

function overlaps(a: Float32Array, b: Float32Array): boolean {
  return (
    a.buffer === b.buffer &&
    a.byteOffset < b.byteOffset + b.byteLength &&
    b.byteOffset < a.byteOffset + a.byteLength
  );
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** `['L·D', 'B']` and `[4, 3]` → `['L·D=4', 'B=3']`. */
function labelled(symbols: readonly string[], dims: readonly number[]): Dim[] {
  return dims.map((d, i) => `${symbols[i]}=${d}`);
}

Object.defineProperty(Recurrent.prototype, layerBrand, { value: true });

// ---- the cells -----------------------------------------------------------------------------

/** Long short-term memory with the variants of Greff et al. (docs/cells.md). */
export class LSTM extends Recurrent<LSTMConfig, LSTMForwardResult, LSTMBackwardResult> {
  constructor(options: LSTMOptions) {
    super(lstm, options);
  }
}

/** Gated recurrent unit; resetAfter chooses PyTorch's (default) or Cho et al.'s form. */
export class GRU extends Recurrent<GRUConfig, HiddenForwardResult, HiddenBackwardResult> {
  constructor(options: GRUOptions) {
    super(gru, options);
  }
}

/** Elman RNN with tanh or relu. */
export class RNN extends Recurrent<RNNConfig, HiddenForwardResult, HiddenBackwardResult> {
  constructor(options: RNNOptions) {
    super(rnn, options);
  }
}

/** The layer class of each cell, by the cell's name. */
const CLASSES: ReadonlyMap<string, new (options: never) => Recurrent> = new Map<
  string,
  new (options: never) => Recurrent
>([
  [lstm.name, LSTM],
  [gru.name, GRU],
  [rnn.name, RNN],
]);

/**
 * A recurrent layer from its config (`layer.config`, by its `cell`), or undefined when `cell`
 * names no cell. The constructor's own refusals pass through.
 */
export function recurrentFromConfig(
  config: Readonly<Record<string, unknown>>,
): Recurrent | undefined {
  const spec = findCell(config.cell);
  const Class = spec && CLASSES.get(spec.name);
  return Class ? new Class(config as never) : undefined;
}
