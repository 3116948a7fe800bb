// Sequential: layers applied one after another — recurrent stacks (LSTM, GRU, RNN), Dense,
// Embedding and Dropout. Batches are time-major [T, B, F] (an Embedding first: token ids
// [T, B]); datasets given to fit / evaluate / predict are sample-first (see lib/train/fit.ts).
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
import { Dense } from '../layers/dense';
import { Dropout } from '../layers/dropout';
import { Embedding } from '../layers/embedding';
import {
  type BackwardResult,
  type ForwardResult,
  type RecurrentConfig,
  Recurrent,
} from '../layers/recurrent';
import { OptionReader } from '../options';
import { type ComposedStream, composeStreams } from '../stream/compose';
import { type ComposedPool, composePool } from '../stream/compose-pool';
import type { StreamPoolOptions } from '../stream/pool';
import type { LayerStreamOptions } from '../stream/types';
import { Tensor, type TensorLike, toTensor } from '../tensor';
import type { FitData, FitOptions, History, PredictOptions, EvaluateOptions } from '../train/fit';
import { evaluateModel, fitModel, predictModel } from '../train/fit';
import {
  type Activation,
  type BatchContext,
  type TokenBatch,
  type TokensLike,
  activationTensor,
  readLengths,
  readTokens,
} from './batch';

/** A layer a Sequential can hold. */
export type SequentialLayer = Recurrent | Dense | Embedding | Dropout;

/** The resolved options of one layer of a Sequential, as its `config`. */
export type SequentialLayerConfig =
  RecurrentConfig | Dense['config'] | Embedding['config'] | Dropout['config'];

/** The state of one recurrent layer: its `h` (and an LSTM's `c`), as forward returns them. */
export interface RecurrentState {
  h: Tensor;
  c?: Tensor;
}

/** Per layer index: the state of each recurrent layer, null for the other layers. */
export type SequentialState = (RecurrentState | null)[];

/** Options of Sequential.forward. */
export interface SequentialForwardOptions {
  /** Length of each sequence, B integers in [1, T]. Default: every sequence has length T. */
  lengths?: number[] | Int32Array;
  /** Keep what one following backward needs, and apply dropout. Default false. */
  train?: boolean;
  /** Initial state per layer index (from a previous forward's `state`), e.g. to carry it across chunks of a long sequence. Default: zeros. */
  state?: SequentialState;
}

/** What Sequential.forward returns. */
export interface SequentialForwardResult {
  /** `[T, B, O]`, or `[B, O]` after a lastStep Dense. */
  output: Tensor;
  /** The final state of each recurrent layer (null for the other layers). */
  state: SequentialState;
}

/** @internal One recurrent call that the sync or async driver performs. */
type ForwardCall = { layer: Recurrent; x: Tensor; opts: Parameters<Recurrent['forward']>[1] };
type BackwardCall = { layer: Recurrent; grad: { output: Tensor } };

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

  constructor(layers: SequentialLayer[]) {
    const where = 'Sequential';
    if (!Array.isArray(layers) || layers.length === 0)
      throw new CellstateTypeError(
        ErrorCode.INVALID_ARG,
        `${where}: layers must be a non-empty array of layers, got ${Array.isArray(layers) ? 'an empty array' : describe(layers)}`,
      );
    let size: number | null = null; // features flowing out of the previous layer
    let perStep = true;
    let tokens = false;
    layers.forEach((layer, i) => {
      const name = `layers[${i}]`;
      if (
        !(layer instanceof Recurrent) &&
        !(layer instanceof Dense) &&
        !(layer instanceof Embedding) &&
        !(layer instanceof Dropout)
      )
        throw new CellstateTypeError(
          ErrorCode.INVALID_ARG,
          `${where}: ${name} must be an LSTM, GRU, RNN, Dense, Embedding or Dropout, got ${describe(layer)}`,
        );
      if (layers.indexOf(layer) !== i)
        throw new CellstateTypeError(
          ErrorCode.INVALID_ARG,
          `${where}: ${name} is the same layer as layers[${layers.indexOf(layer)}]; create a separate layer`,
        );
      if (layer instanceof Embedding) {
        if (i !== 0)
          throw new CellstateTypeError(
            ErrorCode.INVALID_ARG,
            `${where}: an Embedding reads token ids and must come first, found at ${name}`,
          );
        tokens = true;
        size = layer.outputSize;
        return;
      }
      if (layer instanceof Dropout) return;
      if (layer instanceof Recurrent) {
        if (layer.config.batchFirst)
          throw new CellstateTypeError(
            ErrorCode.INVALID_ARG,
            `${where}: ${name} has batchFirst: true; a Sequential works time-major [T, B, F], so build it with batchFirst: false`,
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
      if (layer instanceof Dense && layer.config.lastStep) perStep = false;
    });
    if (size === null)
      throw new CellstateTypeError(
        ErrorCode.INVALID_ARG,
        `${where}: layers must include a layer with a size (only Dropout was given)`,
      );
    this.layers = Object.freeze([...layers]);
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
    const first = this.layers.find((l) => !(l instanceof Dropout)) as Exclude<
      SequentialLayer,
      Dropout
    >;
    return first.inputSize;
  }

  /** Features of the output. */
  get outputSize(): number {
    return this.outSize;
  }

  /** The resolved options of every layer, plain JSON: `{ layers: [config, ...] }`. */
  get config(): { layers: SequentialLayerConfig[] } {
    return { layers: this.layers.map((l) => ({ ...l.config }) as SequentialLayerConfig) };
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
      if (!m || index >= this.layers.length || this.layers[index] instanceof Dropout)
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
        if (!(layer instanceof Dropout)) layer.setParameters(groups[done] as never);
      }
    } catch (error) {
      // put back the layers already changed: nothing is changed on an error
      for (let i = 0; i < done; ++i) {
        const layer = this.layers[i];
        if (!(layer instanceof Dropout)) layer.setParameters(before[i] as never);
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
    const out: Record<string, Tensor> = {};
    this.layers.forEach((layer, i) => {
      for (const [name, t] of Object.entries(layer.gradients())) out[`${i}.${name}`] = t;
    });
    return out;
  }

  /** Sets every gradient to zero. */
  zeroGrad(): void {
    this.live('zeroGrad');
    for (const layer of this.layers) layer.zeroGrad();
  }

  /**
   * Runs the layers over `x` `[T, B, I]` (token ids `[T, B]` when the first layer is an
   * Embedding). Returns the output `[T, B, O]` (`[B, O]` after a lastStep Dense) and the final
   * state of each recurrent layer.
   */
  forward(x: TensorLike | TokensLike, opts?: SequentialForwardOptions): SequentialForwardResult {
    this.live('forward');
    const { input, ctx, state } = this.prepareForward('forward', x, opts);
    return finish(runSync(this.forwardGen(input, ctx, state), (c) => c.layer.forward(c.x, c.opts)));
  }

  /** forward with the recurrent layers' work off the event loop. */
  async forwardAsync(
    x: TensorLike | TokensLike,
    opts?: SequentialForwardOptions,
  ): Promise<SequentialForwardResult> {
    this.live('forwardAsync');
    const { input, ctx, state } = this.prepareForward('forwardAsync', x, opts);
    const result = await runAsync(this.forwardGen(input, ctx, state), (c) =>
      c.layer.forwardAsync(c.x, c.opts),
    );
    return finish(result);
  }

  /**
   * Once per training forward: backpropagates the gradient of the output through every layer,
   * adds into the parameter gradients and returns the gradient of x (null for token ids).
   */
  backward(grad: { output: TensorLike }): { x: Tensor | null } {
    this.live('backward');
    const dy = this.prepareBackward('backward', grad);
    return { x: runSync(this.backwardGen(dy), (c) => c.layer.backward(c.grad)) };
  }

  /** backward with the recurrent layers' work off the event loop. */
  async backwardAsync(grad: { output: TensorLike }): Promise<{ x: Tensor | null }> {
    this.live('backwardAsync');
    const dy = this.prepareBackward('backwardAsync', grad);
    return { x: await runAsync(this.backwardGen(dy), (c) => c.layer.backwardAsync(c.grad)) };
  }

  /**
   * Trains the model on a dataset, sample-first: `x` `[N, T, I]` (token ids `[N, T]`), `y`
   * `[N, O]` for a model ending in a lastStep Dense, else `[N, T, O]` (class indices `[N]` or
   * `[N, T]` for crossEntropy), `lengths` `[N]`. See FitOptions for the options and History for
   * the result. Runs off the event loop; an AbortSignal stops it.
   */
  fit(data: FitData, options: FitOptions): Promise<History> {
    if (this.disposedFlag) return Promise.reject(disposedError('fit', 'model'));
    return fitModel(this, data, options);
  }

  /** The model's output for a dataset (sample-first, as fit): `[N, O]` or `[N, T, O]`. Inference: no dropout. */
  predict(x: TensorLike | TokensLike, opts?: PredictOptions): Tensor {
    this.live('predict');
    return predictModel(this, x, opts);
  }

  /** The mean loss over a dataset (as fit computes it), at inference. */
  evaluate(data: FitData, opts: EvaluateOptions): number {
    this.live('evaluate');
    return evaluateModel(this, data, opts);
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
   * ERR_CELLSTATE_BUSY and disposes nothing: await the call first.
   */
  dispose(): void {
    if (this.disposedFlag) return;
    for (const layer of this.layers)
      if (layer instanceof Recurrent && layer.busy)
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

  private prepareForward(where: string, x: unknown, opts: unknown) {
    const o = new OptionReader(opts, where, ['lengths', 'train', 'state'], ErrorCode.INVALID_ARG);
    const train = o.bool('train', false);
    let input: Activation | TokenBatch;
    if (this.tokenInput) {
      const t = readTokens(x, where, 'x', ['T', 'B']);
      const [T, B] = t.shape;
      if (T < 1 || B < 1) throw shapeError(where, 'x', ['T', 'B'], t.shape, 'T, B ≥ 1');
      input = { tokens: t.data, T, B };
    } else {
      const t = toTensor(x, where, 'x');
      const I = this.inputSize;
      if (t.shape.length !== 3 || t.shape[2] !== I || t.shape[0] < 1 || t.shape[1] < 1)
        throw shapeError(where, 'x', ['T', 'B', `I=${I}`], t.shape, 'T, B ≥ 1');
      input = { data: t.data, T: t.shape[0], B: t.shape[1], F: I };
    }
    const raw = o.raw('lengths');
    const lengths =
      raw === undefined || raw === null ? null : readLengths(where, raw, input.T, input.B);
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
    for (const layer of this.layers) if (!(layer instanceof Recurrent)) layer.discard();
    const outState: SequentialState = this.layers.map(() => null);
    const outputs: (Float32Array | null)[] = [];
    const shapes: (number[] | null)[] = this.layers.map(() => null);
    let a: Activation | TokenBatch = input;
    const last = this.layers.length - 1;
    for (let i = 0; i <= last; ++i) {
      const layer = this.layers[i];
      const layerCtx: BatchContext = { ...ctx, logits: i === last ? ctx.logits : false };
      if (layer instanceof Embedding) {
        a = layer.forwardBatch(a as TokenBatch, layerCtx);
      } else if (layer instanceof Recurrent) {
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
      } else {
        a = layer.forwardBatch(a as Activation, layerCtx);
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
    const o = new OptionReader(grad, where, ['output'], ErrorCode.INVALID_ARG);
    const p = this.pendingInfo;
    if (!p)
      throw new NoForwardError(
        `${where}: no pending training forward; call forward(x, { train: true }) first (once per forward)`,
      );
    const dy = toTensor(o.raw('output'), where, 'output');
    if (dy.shape.length !== p.outputShape.length || dy.shape.some((d, i) => d !== p.outputShape[i]))
      throw shapeError(where, 'output', p.outputShape, dy.shape);
    return dy.data;
  }

  /** @internal The backward of the last training forwardGen: the gradient of x (null for token ids). */
  *backwardGen(dy: Float32Array): Generator<BackwardCall, Tensor | null, BackwardResult> {
    const p = this.pendingInfo;
    if (!p) throw new NoForwardError('backward: no pending training forward');
    this.pendingInfo = null;
    let g: Float32Array | null = dy;
    for (let i = this.layers.length - 1; i >= 0 && g !== null; --i) {
      const layer = this.layers[i];
      if (layer instanceof Recurrent) {
        const r: BackwardResult = yield {
          layer,
          grad: { output: new Tensor(g, p.shapes[i] as number[]) },
        };
        g = r.x.data;
      } else {
        g = layer.backwardBatch(g);
      }
    }
    return g && p.inputShape ? new Tensor(g, p.inputShape) : null;
  }

  /** @internal Whether a training forward awaits its backward. */
  get pending(): boolean {
    return this.pendingInfo !== null;
  }
}

function finish(r: { output: Activation; state: SequentialState }): SequentialForwardResult {
  return { output: activationTensor(r.output), state: r.state };
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
