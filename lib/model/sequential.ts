// Sequential: layers applied one after another — recurrent stacks (LSTM, GRU, RNN), Dense,
// Embedding and Dropout. Inside, batches flow time-major [T, B, F] (an Embedding first: token
// ids [T, B]); the model's `batchFirst` sets the layout of what it takes and returns:
//   true       forward / backward [B, T, ·]; fit / evaluate / predict datasets [N, T, ·]
//   false      forward / backward [T, B, ·]; fit / evaluate / predict datasets [T, N, ·]
//   not given  cellstate 0.1's layout: forward / backward [T, B, ·], datasets [N, T, ·];
//              forward and backward warn once (CELLSTATE_LAYOUT)
// A lastStep Dense's output [B, O] ([N, O]) and lengths [B] ([N]) have no time axis.
import {
  BusyError,
  CellstateRangeError,
  CellstateTypeError,
  ErrorCode,
  NoForwardError,
  describe,
  disposeSymbol,
  disposedError,
  shapeError,
} from '../errors';
import type { Embedding } from '../layers/embedding';
import { checkNotHeld } from '../hold';
import { type BatchLayer, isBatchLayer, isLayer } from '../layers/layer';
import type { BackwardResult, ForwardResult, Recurrent } from '../layers/recurrent';
import type {
  BackwardCall,
  ForwardCall,
  SequentialLayer,
  SequentialLayerConfig,
  SequentialState,
} from './model';
import { OptionReader } from '../options';
export type {
  RecurrentState,
  SequentialLayer,
  SequentialLayerConfig,
  SequentialState,
} from './model';
import { type ModelSummary, type SummaryOptions, summarize, summaryText } from './summary';
import { type ComposedStream, composeStreams } from '../stream/compose';
import { type ComposedPool, composePool } from '../stream/compose-pool';
import type { StreamPoolOptions } from '../stream/pool';
import type { LayerStreamOptions } from '../stream/types';
import { Tensor, type TensorLike, toTensor } from '../tensor';
import type { BatchIterable } from '../data/dataset';
import type { MetricSpec } from '../train/metrics';
import type {
  EvaluateAsyncOptions,
  EvaluateOptions,
  EvaluateResult,
  FitOptions,
  TrainingData,
  History,
  PredictAsyncOptions,
  PredictOptions,
} from '../train/fit';
import {
  evaluateModel,
  evaluateModelAsync,
  fitModel,
  predictModel,
  predictModelAsync,
} from '../train/fit';
import {
  type Activation,
  type BatchContext,
  type TokenBatch,
  type TokensLike,
  activationTensor,
  checkLastStepLengths,
  readLengths,
  readTokens,
  swapAxes,
} from '../layers/batch';

/** Options of a Sequential. */
export interface SequentialOptions {
  /**
   * The layout of every batch and dataset the model takes and returns. `true`: sample-first —
   * forward / backward `x` `[B, T, I]` (token ids `[B, T]`), output `[B, T, O]`; fit / evaluate /
   * predict `x` `[N, T, I]`, `y` `[N, T, O]`. `false`: time-major — forward / backward
   * `[T, B, I]`; fit / evaluate / predict `x` `[T, N, I]`, `y` `[T, N, O]` (class indices
   * `[T, N]`). A lastStep Dense's output `[B, O]` and `lengths` `[B]` have no time axis.
   * Default: not given, cellstate 0.1's layout — forward / backward time-major and datasets
   * sample-first — with a one-time warning (code CELLSTATE_LAYOUT) at the first forward or
   * backward; give it explicitly.
   */
  batchFirst?: boolean | undefined;
}

let layoutWarned = false;

/** The one-time warning of a Sequential without batchFirst whose forward / backward is called. */
function warnLayout(where: string): void {
  if (layoutWarned) return;
  layoutWarned = true;
  process.emitWarning(
    `Sequential.${where} takes [T, B, I] (time-major) because this model was built without ` +
      'batchFirst, while its fit / evaluate / predict take [N, T, I]. Build it with ' +
      '{ batchFirst: true } (everything sample-first) or { batchFirst: false } (everything ' +
      'time-major) to choose one layout and silence this warning.',
    { type: 'CellstateWarning', code: 'CELLSTATE_LAYOUT' },
  );
}

/** A Sequential's `config`: its layers' configs, and batchFirst when it was given. */
export interface SequentialConfig {
  layers: SequentialLayerConfig[];
  batchFirst?: boolean;
}

/** Options of Sequential.forward. */
export interface SequentialForwardOptions {
  /** Length of each sequence, B integers in [0, T] (0 only when no layer is a lastStep Dense). Default: every sequence has length T. */
  lengths?: number[] | Int32Array | undefined;
  /** Keep what one following backward needs, and apply dropout. Default false. */
  train?: boolean | undefined;
  /** Initial state per layer index (from a previous forward's `state`), e.g. to carry it across chunks of a long sequence. Default: zeros. */
  state?: SequentialState | undefined;
}

/** What Sequential.forward returns. */
export interface SequentialForwardResult {
  /** `[T, B, O]` (`[B, T, O]` with batchFirst: true), or `[B, O]` after a lastStep Dense. */
  output: Tensor;
  /** The final state of each recurrent layer (null for the other layers). */
  state: SequentialState;
}

interface Pending {
  /** Shape of the output (the gradient backward takes). */
  outputShape: number[];
  /** Shape of the input (the gradient backward returns), null for token ids. */
  inputShape: number[] | null;
  /** Shape of each recurrent layer's output, by layer index. */
  shapes: (number[] | null)[];
}

/** Layers applied in order, trained together. */
export class Sequential {
  /** The layers, in order. */
  readonly layers: readonly SequentialLayer[];
  private pendingInfo: Pending | null = null;
  /** @internal The last training forward's output of each layer (to name the layer of a NaN). */
  lastOutputs: (Float32Array | null)[] = [];

  /**
   * The layout of what the model takes and returns (see SequentialOptions): true sample-first,
   * false time-major, undefined cellstate 0.1's mixed layout.
   */
  readonly batchFirst: boolean | undefined;

  constructor(layers: SequentialLayer[], options?: SequentialOptions) {
    const where = 'Sequential';
    const opts = new OptionReader(options, where, ['batchFirst']);
    const batchFirst =
      opts.raw('batchFirst') === undefined ? undefined : opts.bool('batchFirst', false);
    if (!Array.isArray(layers) || layers.length === 0)
      throw new CellstateTypeError(
        ErrorCode.INVALID_ARG,
        `${where}: layers must be a non-empty array of layers, got ${Array.isArray(layers) ? 'an empty array' : describe(layers)}`,
      );
    let size: number | null = null; // features flowing out of the previous layer
    let perStep = true;
    let tokens = false;
    const seen = new Map<unknown, number>(); // each layer's first index: a linear duplicate check
    layers.forEach((layer, i) => {
      const name = `layers[${i}]`;
      if (!isLayer(layer))
        throw new CellstateTypeError(
          ErrorCode.INVALID_ARG,
          `${where}: ${name} must be an LSTM, GRU, RNN, Dense, Embedding or Dropout, got ${describe(layer)}`,
        );
      const first = seen.get(layer);
      if (first !== undefined)
        throw new CellstateTypeError(
          ErrorCode.INVALID_ARG,
          `${where}: ${name} is the same layer as layers[${first}]; create a separate layer`,
        );
      seen.set(layer, i);
      if (layer.reads === 'tokens') {
        if (i !== 0)
          throw new CellstateTypeError(
            ErrorCode.INVALID_ARG,
            `${where}: an Embedding reads token ids and must come first, found at ${name}`,
          );
        tokens = true;
        size = layer.outputSize;
        return;
      }
      if (layer.outputSize === null) return; // a Dropout passes its input through
      if (layer.reads === 'sequence') {
        if ((layer.config as { batchFirst?: unknown }).batchFirst === true)
          throw new CellstateTypeError(
            ErrorCode.INVALID_ARG,
            `${where}: ${name} has batchFirst: true; a Sequential sets the layout of all its layers: build the layer with batchFirst: false and the model with new Sequential(layers, { batchFirst: true })`,
          );
        if (!perStep)
          throw new CellstateTypeError(
            ErrorCode.INVALID_ARG,
            `${where}: ${name} is a recurrent layer after a lastStep Dense, which leaves no time steps`,
          );
      }
      if (size !== null && layer.inputSize !== size)
        throw new CellstateRangeError(
          ErrorCode.SHAPE,
          `${where}: ${name} has inputSize ${layer.inputSize} but the layer before it outputs ${size} features`,
        );
      size = layer.outputSize;
      if (!layer.keepsTime) perStep = false;
    });
    if (size === null)
      throw new CellstateTypeError(
        ErrorCode.INVALID_ARG,
        `${where}: layers must include a layer with a size (only Dropout was given)`,
      );
    this.layers = Object.freeze([...layers]);
    this.batchFirst = batchFirst;
    this.tokenInput = tokens;
    this.perStepOutput = perStep;
    this.outSize = size;
  }

  /** @internal Whether the first layer is an Embedding (the input is token ids). */
  readonly tokenInput: boolean;
  /** @internal Whether the output has a time axis ([T, B, O]) rather than one row per sequence. */
  readonly perStepOutput: boolean;
  private readonly outSize: number;

  /** Features per step of the input (1 for token ids). */
  get inputSize(): number {
    return this.layers.find((l) => l.inputSize !== null)?.inputSize as number;
  }

  /** Features of the output. */
  get outputSize(): number {
    return this.outSize;
  }

  /** The resolved options of every layer, plain JSON: `{ layers: [config, ...] }` (and `batchFirst` when given). */
  get config(): SequentialConfig {
    const layers = this.layers.map((l) => ({ ...l.config }) as SequentialLayerConfig);
    return this.batchFirst === undefined ? { layers } : { layers, batchFirst: this.batchFirst };
  }

  /**
   * The layers as Keras's `model.summary()` shows them: for each, its index, type (and the
   * options that shape it), output shape in the model's forward layout (`B` and `T` where Keras
   * prints None) and parameter count; then the totals (total, trainable, non-trainable). Text
   * (plain ASCII, no trailing newline) by default; `{ format: 'object' }` gives a ModelSummary.
   * Reads only the configuration: available while fit runs.
   */
  summary(opts?: { format?: 'text' | undefined }): string;
  summary(opts: { format: 'object' }): ModelSummary;
  summary(opts?: SummaryOptions): string | ModelSummary;
  summary(opts?: SummaryOptions): string | ModelSummary {
    this.live('summary');
    const o = new OptionReader(opts, 'summary', ['format'], ErrorCode.INVALID_ARG);
    const format = o.choice('format', ['text', 'object'] as const, 'text');
    const s = summarize(this.layers, this.batchFirst, this.inputSize, this.tokenInput);
    return format === 'object' ? s : summaryText(s);
  }

  /** Every parameter, named `<layer index>.<name>` (`0.weight_ih_l0`, `1.weight`): copies. */
  parameters(): Record<string, Tensor> {
    this.live('parameters');
    const out: Record<string, Tensor> = {};
    this.layers.forEach((layer, i) => {
      for (const [name, t] of Object.entries(layer.parameters())) out[`${i}.${name}`] = t;
    });
    return out;
  }

  /**
   * Replaces every parameter (names of parameters()). An unknown, missing or mis-sized entry
   * throws, and then nothing is changed.
   */
  setParameters(params: Record<string, Tensor | Float32Array | TensorLike>): void {
    this.live('setParameters');
    const where = 'setParameters';
    this.checkFree(where);
    this.checkIdle(where);
    if (params === null || typeof params !== 'object' || Array.isArray(params))
      throw new CellstateTypeError(
        ErrorCode.INVALID_ARG,
        `${where}: params must be an object of parameters by name, got ${describe(params)}`,
      );
    const groups: Record<string, Tensor | Float32Array | TensorLike>[] = this.layers.map(
      () => ({}),
    );
    for (const [key, value] of Object.entries(params)) {
      const m = /^(\d+)\.(.+)$/.exec(key);
      const index = m ? Number(m[1]) : -1;
      if (!m || index >= this.layers.length || this.layers[index].parameterCount === 0)
        throw new CellstateTypeError(
          ErrorCode.INVALID_ARG,
          `${where}: unknown parameter '${key}' (this model has ${Object.keys(this.parameters()).join(', ')})`,
        );
      groups[index][m[2]] = value;
    }
    const before = this.layers.map((l) => l.parameters());
    let done = 0;
    try {
      for (; done < this.layers.length; ++done) {
        const layer = this.layers[done];
        if (layer.parameterCount > 0) layer.setParameters(groups[done] as never);
      }
    } catch (error) {
      // put back the layers already changed: nothing is changed on an error
      for (let i = 0; i < done; ++i) {
        const layer = this.layers[i];
        if (layer.parameterCount > 0) layer.setParameters(before[i] as never);
      }
      throw error instanceof Error
        ? Object.assign(error, {
            message: error.message.replace(/'([^']+)'/, (_s, n) => `'${done}.${n}'`),
          })
        : error;
    }
    this.pendingInfo = null;
  }

  /** The accumulated gradients under the names of parameters(). */
  gradients(): Record<string, Tensor> {
    this.live('gradients');
    this.checkFree('gradients');
    const out: Record<string, Tensor> = {};
    this.layers.forEach((layer, i) => {
      for (const [name, t] of Object.entries(layer.gradients())) out[`${i}.${name}`] = t;
    });
    return out;
  }

  /** Sets every gradient to zero. */
  zeroGrad(): void {
    this.live('zeroGrad');
    this.checkFree('zeroGrad');
    this.checkIdle('zeroGrad');
    for (const layer of this.layers) layer.zeroGrad();
  }

  /**
   * Runs the layers over `x` `[T, B, I]` (`[B, T, I]` with batchFirst: true; token ids `[T, B]`
   * / `[B, T]` when the first layer is an Embedding). Returns the output in the same layout
   * (`[B, O]` after a lastStep Dense) and the final state of each recurrent layer.
   */
  forward(x: TensorLike | TokensLike, opts?: SequentialForwardOptions): SequentialForwardResult {
    this.live('forward');
    const { input, ctx, state } = this.prepareForward('forward', x, opts);
    return this.finish(
      runSync(this.forwardGen(input, ctx, state), (c) => c.layer.forward(c.x, c.opts)),
    );
  }

  /**
   * forward with the recurrent layers' work off the event loop. Until it settles, forward,
   * backward (and their async forms), predict, evaluate, setParameters, zeroGrad and fit on this model throw
   * (or reject) ERR_CELLSTATE_BUSY, as they do while any of its recurrent layers runs async work.
   */
  async forwardAsync(
    x: TensorLike | TokensLike,
    opts?: SequentialForwardOptions,
  ): Promise<SequentialForwardResult> {
    this.live('forwardAsync');
    const { input, ctx, state } = this.prepareForward('forwardAsync', x, opts);
    this.inFlight = 'forwardAsync';
    try {
      const result = await runAsync(this.forwardGen(input, ctx, state), (c) =>
        c.layer.forwardAsync(c.x, c.opts),
      );
      return this.finish(result);
    } finally {
      this.inFlight = null;
    }
  }

  /**
   * Once per training forward: backpropagates the gradient of the output (the output's shape
   * and layout) through every layer, adds into the parameter gradients and returns the gradient
   * of x (null for token ids).
   */
  backward(grad: { output: TensorLike }): { x: Tensor | null } {
    this.live('backward');
    const dy = this.prepareBackward('backward', grad);
    return { x: this.inputGrad(runSync(this.backwardGen(dy), (c) => c.layer.backward(c.grad))) };
  }

  /** backward with the recurrent layers' work off the event loop. */
  async backwardAsync(grad: { output: TensorLike }): Promise<{ x: Tensor | null }> {
    this.live('backwardAsync');
    const dy = this.prepareBackward('backwardAsync', grad);
    this.inFlight = 'backwardAsync';
    try {
      const g = await runAsync(this.backwardGen(dy), (c) => c.layer.backwardAsync(c.grad));
      return { x: this.inputGrad(g) };
    } finally {
      this.inFlight = null;
    }
  }

  /**
   * Trains the model on a dataset, sample-first (time-major with batchFirst: false): `x`
   * `[N, T, I]` (token ids `[N, T]`), `y` `[N, O]` for a model ending in a lastStep Dense, else
   * `[N, T, O]` (class indices `[N]` or `[N, T]` for crossEntropy), `lengths` `[N]`; or given
   * batch by batch, an (async) iterable of `{ x, y, lengths? }` in that layout with N = B
   * (a generator, `windows(...)`; see TrainingData and FitOptions.stepsPerEpoch). See
   * FitOptions for the options and History for the result. Runs off the event loop; an
   * AbortSignal stops it.
   *
   * Until the returned promise settles (resolves, rejects or is aborted), fit holds this model
   * and every one of its layers (also as layers of another model): forward, forwardAsync,
   * backward, backwardAsync, predict, predictAsync, evaluate, evaluateAsync, fit,
   * setParameters, zeroGrad and gradients on them throw (or reject) ERR_CELLSTATE_BUSY — from
   * fit's callbacks too — so nothing else can change what fit computes. Read-only calls stay available: `config`, the sizes, `layers`,
   * `parameters()` (the weights of the latest update), save / toBuffer / ONNX export, and
   * opening or stepping streams (on the weights of the latest update).
   */
  fit(data: TrainingData, options: FitOptions): Promise<History> {
    if (this.disposedFlag) return Promise.reject(disposedError('fit', 'model'));
    try {
      this.checkIdle('fit');
    } catch (error) {
      return Promise.reject(error);
    }
    return fitModel(this, data, options);
  }

  /**
   * The model's output for a dataset in the layout of fit: `[N, O]` or `[N, T, O]` (`[T, N, O]`
   * with batchFirst: false). Inference: no dropout. `x` may be given batch by batch: a sync
   * iterable of `{ x, lengths? }` (predictAsync also takes async ones), whose outputs are joined
   * in order (per-step outputs need batches of one T).
   */
  predict(x: TensorLike | TokensLike | BatchIterable, opts?: PredictOptions): Tensor {
    this.live('predict');
    this.checkFree('predict');
    this.checkIdle('predict');
    return predictModel(this, x, opts);
  }

  /**
   * The mean loss over a dataset (as fit computes it), at inference; with `metrics`,
   * `{ loss, metrics }`. The data may be given batch by batch (a sync iterable of
   * `{ x, y, lengths? }`; evaluateAsync also takes async ones).
   */
  evaluate(data: TrainingData, opts: EvaluateOptions & { metrics?: undefined }): number;
  evaluate(data: TrainingData, opts: EvaluateOptions & { metrics: MetricSpec[] }): EvaluateResult;
  evaluate(data: TrainingData, opts: EvaluateOptions): number | EvaluateResult;
  evaluate(data: TrainingData, opts: EvaluateOptions): number | EvaluateResult {
    this.live('evaluate');
    this.checkFree('evaluate');
    this.checkIdle('evaluate');
    return evaluateModel(this, data, opts);
  }

  /**
   * predict off the event loop: the same arguments and bit-identical results. The recurrent
   * layers run in forwardAsync on a worker thread, and the event loop turns between batches
   * (`batchSize` sequences each; the Dense and Embedding layers run on the main thread between
   * them). Until the promise settles the model is held as by fit: calls that run or change it
   * (forward, predict, fit, setParameters, dispose, ...) are ERR_CELLSTATE_BUSY; parameters(),
   * config, save and streams stay available. Aborting `signal` stops between two batches with
   * an AbortError (fit's class: name 'AbortError', code 'ABORT_ERR'; `history` undefined).
   */
  predictAsync(
    x: TensorLike | TokensLike | BatchIterable,
    opts?: PredictAsyncOptions,
  ): Promise<Tensor> {
    try {
      this.live('predictAsync');
      this.checkFree('predictAsync');
    } catch (error) {
      return Promise.reject(error);
    }
    return predictModelAsync(this, x, opts);
  }

  /**
   * evaluate off the event loop: the same arguments and bit-identical results; held, yielding
   * and cancellable as predictAsync.
   */
  evaluateAsync(
    data: TrainingData,
    opts: EvaluateAsyncOptions & { metrics?: undefined },
  ): Promise<number>;
  evaluateAsync(
    data: TrainingData,
    opts: EvaluateAsyncOptions & { metrics: MetricSpec[] },
  ): Promise<EvaluateResult>;
  evaluateAsync(data: TrainingData, opts: EvaluateAsyncOptions): Promise<number | EvaluateResult>;
  evaluateAsync(data: TrainingData, opts: EvaluateAsyncOptions): Promise<number | EvaluateResult> {
    try {
      this.live('evaluateAsync');
      this.checkFree('evaluateAsync');
    } catch (error) {
      return Promise.reject(error);
    }
    return evaluateModelAsync(this, data, opts);
  }

  /**
   * One time step at a time through every layer (lib/stream/compose.ts): `step(x [B, I])`
   * returns `[B, O]` in a reused buffer; getState / setState / snapshot / restore as a
   * recurrent layer's stream. A bidirectional layer refuses (ERR_CELLSTATE_UNSUPPORTED).
   */
  stream(opts?: LayerStreamOptions): ComposedStream {
    this.live('stream');
    return composeStreams(this.layers, opts);
  }

  /** Independent streaming sessions through every layer, stepped as one batch (lib/stream/compose-pool.ts). */
  streamPool(opts?: StreamPoolOptions): ComposedPool {
    this.live('streamPool');
    return composePool(this.layers, opts);
  }

  private disposedFlag = false;

  /** Whether dispose() was called. */
  get disposed(): boolean {
    return this.disposedFlag;
  }

  /**
   * Disposes every layer (frees their native memory now; see each layer's dispose()). Every
   * later call on the model or its layers throws an Error with code ERR_CELLSTATE_DISPOSED; a
   * second dispose() does nothing. While a layer runs forwardAsync / backwardAsync it throws
   * ERR_CELLSTATE_BUSY and disposes nothing: await the call first. So does a model (or a layer)
   * that a running fit holds.
   */
  dispose(): void {
    if (this.disposedFlag) return;
    this.checkFree('dispose');
    for (const layer of this.layers)
      if (layer.busy)
        throw new BusyError(
          'dispose: a layer of the model is busy with forwardAsync / backwardAsync; await it first',
        );
    this.disposedFlag = true;
    for (const layer of this.layers) layer.dispose();
  }

  /** dispose(), for `using model = new Sequential(...)`. */
  [disposeSymbol](): void {
    this.dispose();
  }

  private live(where: string): void {
    if (this.disposedFlag) throw disposedError(where, 'model');
  }

  // ---- internals ---------------------------------------------------------------------------

  /**
   * @internal Throws ERR_CELLSTATE_BUSY when this model or one of its layers is held by a
   * running fit (of this model or of another that shares a layer), outside fit's own calls.
   */
  checkFree(where: string): void {
    checkNotHeld(this, where, 'model');
    for (const layer of this.layers) checkNotHeld(layer, where, 'layer');
  }

  /**
   * Throws ERR_CELLSTATE_BUSY while this model's forwardAsync / backwardAsync runs, or one of
   * its recurrent layers runs one of its own: checked before any layer is touched, so a refused
   * call changes nothing (a Dense before a busy layer would otherwise take the new batch and
   * give the async call's backward wrong gradients).
   */
  private checkIdle(where: string): void {
    if (this.inFlight)
      throw new BusyError(`${where}: the model is busy with ${this.inFlight}; await it first`);
    this.layers.forEach((layer, i) => {
      if (layer.busy)
        throw new BusyError(
          `${where}: layers[${i}] is busy with ${layer.busy}Async; await it first`,
        );
    });
  }

  /** The async call of this model in flight. */
  private inFlight: 'forwardAsync' | 'backwardAsync' | null = null;

  private prepareForward(where: string, x: unknown, opts: unknown) {
    this.checkFree(where);
    this.checkIdle(where);
    const o = new OptionReader(opts, where, ['lengths', 'train', 'state'], ErrorCode.INVALID_ARG);
    const train = o.bool('train', false);
    if (this.batchFirst === undefined) warnLayout(where);
    const bf = this.batchFirst === true;
    const layout = bf
      ? 'batchFirst: true'
      : this.batchFirst === false
        ? 'batchFirst: false'
        : 'batchFirst not given';
    let input: Activation | TokenBatch;
    if (this.tokenInput) {
      const dims = bf ? ['B', 'T'] : ['T', 'B'];
      const t = readTokens(x, where, 'x', dims);
      const [T, B] = bf ? [t.shape[1], t.shape[0]] : t.shape;
      if (T < 1 || B < 1) throw shapeError(where, 'x', dims, t.shape, `T, B ≥ 1; ${layout}`);
      input = { tokens: bf ? swapAxes(t.data, B, T, 1) : t.data, T, B };
    } else {
      const t = toTensor(x, where, 'x');
      const I = this.inputSize;
      const dims = bf ? ['B', 'T', `I=${I}`] : ['T', 'B', `I=${I}`];
      if (t.shape.length !== 3 || t.shape[2] !== I || t.shape[0] < 1 || t.shape[1] < 1)
        throw shapeError(where, 'x', dims, t.shape, `T, B ≥ 1; ${layout}`);
      const [T, B] = bf ? [t.shape[1], t.shape[0]] : [t.shape[0], t.shape[1]];
      input = { data: bf ? swapAxes(t.data, B, T, I) : t.data, T, B, F: I };
    }
    const raw = o.raw('lengths');
    // lengths has one entry per sequence: when it fits the other axis of x and not B, x is in
    // the other layout (a silent wrong answer otherwise when T happens to be a valid length)
    const n = raw instanceof Int32Array || Array.isArray(raw) ? raw.length : -1;
    if (n >= 0 && n !== input.B && n === input.T)
      throw new CellstateRangeError(
        ErrorCode.SHAPE,
        `${where}: lengths has ${n} entries, the number of time steps of x rather than its ${input.B} sequences: x looks ${bf ? 'time-major [T, B, ·]' : 'sample-first [B, T, ·]'}, but this model takes ${bf ? '[B, T, ·]' : '[T, B, ·]'} (${layout})`,
      );
    const lengths =
      raw === undefined || raw === null ? null : readLengths(where, raw, input.T, input.B);
    if (!this.perStepOutput) checkLastStepLengths(where, lengths);
    if (input.T > 0 && this.tokenInput) {
      const emb = this.layers[0] as Embedding;
      emb.checkTokens(where, (input as TokenBatch).tokens, input.T, input.B, lengths);
    }
    const rawState = o.raw('state');
    let state: SequentialState | null = null;
    if (rawState !== undefined && rawState !== null) {
      if (!Array.isArray(rawState) || rawState.length !== this.layers.length)
        throw new CellstateTypeError(
          ErrorCode.INVALID_ARG,
          `${where}: state must be an array of ${this.layers.length} entries (one per layer, null for layers without state), got ${describe(rawState)}${Array.isArray(rawState) ? ` of ${rawState.length}` : ''}`,
        );
      state = rawState as SequentialState;
      // Every layer's state is checked before the first layer runs (a failed forward changes
      // nothing: no layer's pending backward, nor the model's, is replaced).
      state.forEach((s, i) => {
        const layer = this.layers[i];
        if (s && !isBatchLayer(layer))
          (layer as Recurrent).checkInitialState(
            where,
            `state[${i}]`,
            input.B,
            s.h,
            s.c || undefined,
          );
      });
    }
    return { input, ctx: { lengths, train } as BatchContext, state };
  }

  /** @internal The forward of a prepared batch; the driver runs the recurrent calls. */
  *forwardGen(
    input: Activation | TokenBatch,
    ctx: BatchContext,
    state: SequentialState | null,
  ): Generator<ForwardCall, { output: Activation; state: SequentialState }, ForwardResult> {
    this.pendingInfo = null;
    for (const layer of this.layers) if (isBatchLayer(layer)) layer.discard();
    const outState: SequentialState = this.layers.map(() => null);
    const outputs: (Float32Array | null)[] = [];
    const shapes: (number[] | null)[] = this.layers.map(() => null);
    let a: Activation | TokenBatch = input;
    const last = this.layers.length - 1;
    for (let i = 0; i <= last; ++i) {
      const layer = this.layers[i];
      const layerCtx: BatchContext = { ...ctx, logits: i === last ? ctx.logits : false };
      if (isBatchLayer(layer)) {
        a = (layer as BatchLayer).forwardBatch(a, layerCtx);
      } else {
        // a recurrent layer: the driver runs its forward (or forwardAsync)
        const layer = this.layers[i] as Recurrent;
        const x = a as Activation;
        const s = state?.[i];
        const opts: Parameters<Recurrent['forward']>[1] = { train: ctx.train };
        if (ctx.lengths) opts.lengths = ctx.lengths;
        if (s) {
          opts.h0 = s.h;
          if (s.c) opts.c0 = s.c;
        }
        const r: ForwardResult = yield { layer, x: new Tensor(x.data, [x.T, x.B, x.F]), opts };
        outState[i] = r.c ? { h: r.h, c: r.c } : { h: r.h };
        a = { data: r.output.data, T: x.T, B: x.B, F: layer.outputSize };
        shapes[i] = [x.T, x.B, layer.outputSize];
      }
      outputs.push((a as Activation).data);
    }
    const output = a as Activation;
    if (ctx.train) {
      this.lastOutputs = outputs;
      this.pendingInfo = {
        outputShape: output.T > 0 ? [output.T, output.B, output.F] : [output.B, output.F],
        inputShape: this.tokenInput ? null : [input.T, input.B, (input as Activation).F],
        shapes,
      };
    }
    return { output, state: outState };
  }

  private prepareBackward(where: string, grad: unknown): Float32Array {
    this.checkFree(where);
    this.checkIdle(where);
    const o = new OptionReader(grad, where, ['output'], ErrorCode.INVALID_ARG);
    const p = this.pendingInfo;
    if (!p)
      throw new NoForwardError(
        `${where}: no pending training forward; call forward(x, { train: true }) first (once per forward)`,
      );
    if (this.batchFirst === undefined) warnLayout(where);
    const dy = toTensor(o.raw('output'), where, 'output');
    const swap = this.batchFirst === true && p.outputShape.length === 3;
    const want = swap ? [p.outputShape[1], p.outputShape[0], p.outputShape[2]] : p.outputShape;
    if (dy.shape.length !== want.length || dy.shape.some((d, i) => d !== want[i]))
      throw shapeError(where, 'output', want, dy.shape);
    return swap ? swapAxes(dy.data, want[0], want[1], want[2]) : dy.data;
  }

  /** The forward result in the model's layout. */
  private finish(r: { output: Activation; state: SequentialState }): SequentialForwardResult {
    const a = r.output;
    if (this.batchFirst === true && a.T > 0)
      return {
        output: new Tensor(swapAxes(a.data, a.T, a.B, a.F), [a.B, a.T, a.F]),
        state: r.state,
      };
    return { output: activationTensor(a), state: r.state };
  }

  /** The gradient of x in the model's layout. */
  private inputGrad(g: Tensor | null): Tensor | null {
    if (!g || this.batchFirst !== true) return g;
    const [T, B, F] = g.shape;
    return new Tensor(swapAxes(g.data, T, B, F), [B, T, F]);
  }

  /** @internal The backward of the last training forwardGen: the gradient of x (null for token ids). */
  *backwardGen(dy: Float32Array): Generator<BackwardCall, Tensor | null, BackwardResult> {
    const p = this.pendingInfo;
    if (!p) throw new NoForwardError('backward: no pending training forward');
    this.pendingInfo = null;
    let g: Float32Array | null = dy;
    for (let i = this.layers.length - 1; i >= 0 && g !== null; --i) {
      const layer = this.layers[i];
      if (isBatchLayer(layer)) {
        g = (layer as BatchLayer).backwardBatch(g);
      } else {
        const r: BackwardResult = yield {
          layer: layer as Recurrent,
          grad: { output: new Tensor(g, p.shapes[i] as number[]) },
        };
        g = r.x.data;
      }
    }
    return g && p.inputShape ? new Tensor(g, p.inputShape) : null;
  }

  /** @internal Whether a training forward awaits its backward. */
  get pending(): boolean {
    return this.pendingInfo !== null;
  }
}

function runSync<C, R, Y>(gen: Generator<C, R, Y>, call: (c: C) => Y): R {
  let step = gen.next(undefined as unknown as Y);
  while (!step.done) step = gen.next(call(step.value));
  return step.value;
}

async function runAsync<C, R, Y>(gen: Generator<C, R, Y>, call: (c: C) => Promise<Y>): Promise<R> {
  let step = gen.next(undefined as unknown as Y);
  while (!step.done) {
    let value: Y;
    try {
      value = await call(step.value);
    } catch (error) {
      gen.return(undefined as unknown as R);
      throw error;
    }
    step = gen.next(value);
  }
  return step.value;
}
