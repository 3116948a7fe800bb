// Training a Sequential: fit (mini-batches, seeded shuffling, validation, truncated BPTT, early
// stopping, callbacks, cancellation, progress), evaluate and predict.
//
// Datasets are sample-first, as in Keras: x [N, T, I] (token ids [N, T] for a model that starts
// with an Embedding), y [N, O] for a model ending in a lastStep Dense and [N, T, O] otherwise
// (class indices [N] / [N, T] for crossEntropy), lengths [N]. Each batch is gathered time-major
// [T, B, ·] for the layers. The recurrent layers run in forwardAsync / backwardAsync and fit yields
// to the event loop between batches, so the process stays responsive while it trains.
import {
  CellstateError,
  brandError,
  CellstateRangeError,
  CellstateTypeError,
  ErrorCode,
  describe,
  shapeError,
} from '../errors';
import { type Hold, acquire, release } from '../hold';
import { Dense } from '../layers/dense';
import type { Embedding } from '../layers/embedding';
import type { FlatParameters, ParamSlot } from '../layers/params';
import {
  type Activation,
  type BatchContext,
  type TokenBatch,
  type Tokens,
  type TokensLike,
  readLengths,
  readTokens,
  swapAxes,
} from '../layers/batch';
import type { SequentialState, TrainableModel } from '../model/model';
import { OptionReader } from '../options';
import { Random, randomSeed } from '../random';
import { Tensor, type TensorLike, toTensor } from '../tensor';
import {
  type Loss,
  type LossName,
  type LossTarget,
  checkIndices,
  maskOf,
  resolveLoss,
} from './losses';
import {
  type Optimizer,
  type OptimizerName,
  type ParameterGroup,
  clipGradNorm,
  clipGradValue,
  gradNorm,
  resolveOptimizer,
} from './optimizers';
import { type ProgressOutput, ProgressBar, formatDuration, formatLoss } from './progress';
import type { Schedule } from './schedules';

// ---- public types -------------------------------------------------------------------------

/** A dataset, sample-first. */
export interface FitData {
  /** `[N, T, I]`, or token ids `[N, T]` for a model that starts with an Embedding. */
  x: TensorLike | TokensLike;
  /**
   * Targets: `[N, O]` for a model ending in a lastStep Dense, else `[N, T, O]` (with O = 1 also
   * `[N]` / `[N, T]`); for crossEntropy also class indices `[N]` / `[N, T]` (a Tensor of
   * integers, nested arrays, an Int32Array or `{ data: Int32Array, shape }`).
   */
  y: TensorLike | Int32Array | Tokens;
  /** Length of each sequence, N integers in [1, T]; padded steps do not count in the loss. Default: all T. */
  lengths?: number[] | Int32Array | undefined;
}

/** Options of early stopping. */
export interface EarlyStoppingOptions {
  /** Epochs without improvement before stopping; an integer ≥ 1. Default 5. */
  patience?: number | undefined;
  /** An improvement must lower the monitored loss by more than this, ≥ 0. Default 0. */
  minDelta?: number | undefined;
  /** The loss watched. Default 'valLoss' with validation data, else 'loss'. */
  monitor?: 'loss' | 'valLoss' | undefined;
  /** At the end, put back the parameters of the best epoch. Default true. */
  restoreBest?: boolean | undefined;
}

/** What onBatchEnd receives. */
export interface BatchEndInfo {
  /** 0-based epoch. */
  epoch: number;
  /** 0-based batch within the epoch. */
  batch: number;
  /** Batches per epoch. */
  batches: number;
  /** Optimizer updates so far (all epochs). */
  step: number;
  /** This batch's mean training loss. */
  loss: number;
  /** The learning rate of its update(s). */
  lr: number;
}

/** What onEpochEnd receives. */
export interface EpochEndInfo {
  /** 0-based epoch. */
  epoch: number;
  epochs: number;
  /** Mean training loss of the epoch. */
  loss: number;
  /** Validation loss, when there is validation data. */
  valLoss?: number;
  lr: number;
  /** Optimizer updates so far. */
  step: number;
  /** Seconds the epoch took. */
  seconds: number;
}

/** Callbacks; each may be async (fit awaits it) and may return false to stop training. */
export interface FitCallbacks {
  onBatchEnd?: ((info: BatchEndInfo) => unknown) | undefined;
  onEpochEnd?: ((info: EpochEndInfo) => unknown) | undefined;
}

/** Options of fit. */
export interface FitOptions {
  /** 'mse', 'crossEntropy' (on logits; a final Dense 'softmax' is fused), 'binaryCrossEntropy' (on logits; a final Dense 'sigmoid' is fused) or a Loss instance. Required. */
  loss: LossName | Loss;
  /** 'adam' (lr 0.001), 'adamw', 'sgd', 'rmsprop' or an instance (new Adam({ lr: 0.01 })). Default 'adam'. */
  optimizer?: OptimizerName | Optimizer | undefined;
  /** Passes over the data; an integer ≥ 1. Default 1. */
  epochs?: number | undefined;
  /** Sequences per batch; an integer ≥ 1. Default 32. */
  batchSize?: number | undefined;
  /** Shuffle the samples before each epoch (seeded). Default true. */
  shuffle?: boolean | undefined;
  /** Seed of the shuffling, an unsigned 32-bit integer. Default: random (recorded in the History). Layers have their own seeds. */
  seed?: number | undefined;
  /** Data to compute the validation loss on after each epoch. */
  validationData?: FitData | undefined;
  /** Fraction in [0, 1) of the samples, taken from the end before shuffling, held out for validation. Default 0. */
  validationSplit?: number | undefined;
  /**
   * Truncated BPTT: cut each batch's sequences into chunks of this many steps, one update per
   * chunk, carrying the recurrent state (detached) from chunk to chunk. Needs a model with an
   * output at every step. Default: whole sequences.
   */
  bpttLength?: number | undefined;
  /** Stop when the monitored loss stops improving: true (defaults) or options. Default off. */
  earlyStopping?: boolean | EarlyStoppingOptions | undefined;
  /** Learning-rate schedule (StepDecay, ExponentialDecay, CosineDecay). Default: constant. */
  schedule?: Schedule | undefined;
  /** Clip gradients to this global L2 norm; null or Infinity: off. Default 5. */
  clipNorm?: number | null | undefined;
  /** Clip each gradient value to [−clipValue, clipValue]; null: off. Default null. */
  clipValue?: number | null | undefined;
  /** A NaN or infinite loss or gradient: 'throw' a NonFiniteError naming the step and layer, or 'skip' that update. Default 'throw'. */
  nanPolicy?: 'throw' | 'skip' | undefined;
  /** Stop after this many optimizer updates; an integer ≥ 1. Default: no limit. */
  maxSteps?: number | undefined;
  callbacks?: FitCallbacks | undefined;
  /** Aborting stops training between two batches: fit rejects with an AbortError carrying the History so far. */
  signal?: AbortSignal | undefined;
  /** 0: silent; 1: a progress bar when the output is a terminal; 2: also a line per epoch when it is not. Default 1. */
  verbose?: 0 | 1 | 2 | undefined;
  /** Where progress goes. Default process.stdout. */
  output?: ProgressOutput | undefined;
}

/** What fit resolves to. */
export interface History {
  /** Epochs completed. */
  epochs: number;
  /** Mean training loss per epoch. */
  loss: number[];
  /** Validation loss per epoch (empty without validation). */
  valLoss: number[];
  /** Learning rate at the end of each epoch. */
  lr: number[];
  /** Mean training loss of each update, in order. */
  batchLoss: number[];
  /** Optimizer updates done. */
  steps: number;
  /** Updates skipped for a non-finite loss or gradient (nanPolicy 'skip'). */
  skipped: number;
  /** Why training ended. */
  stopReason: 'completed' | 'earlyStopping' | 'callback' | 'maxSteps' | 'aborted';
  /** Epoch (0-based) of the best monitored loss with early stopping, else null. */
  bestEpoch: number | null;
  /** Wall-clock seconds. */
  seconds: number;
  /** Training sequences per second (validation excluded). */
  samplesPerSecond: number;
  /** Training time steps (sequences × their steps) per second. */
  timestepsPerSecond: number;
  /** The shuffling seed used. */
  seed: number;
}

/** Options of predict. */
export interface PredictOptions {
  /** Length of each sequence, N integers in [1, T]. */
  lengths?: number[] | Int32Array | undefined;
  /** Sequences per forward; an integer ≥ 1. Default 256. */
  batchSize?: number | undefined;
}

/** Options of predictAsync: predict's, and a signal. */
export interface PredictAsyncOptions extends PredictOptions {
  /**
   * Aborting stops between two batches: predictAsync rejects with an Error named 'AbortError'
   * (code 'ABORT_ERR'), and the model is free again. Default: none.
   */
  signal?: AbortSignal | undefined;
}

/** Options of evaluate. */
export interface EvaluateOptions {
  loss: LossName | Loss;
  /** Sequences per forward; an integer ≥ 1. Default 256. */
  batchSize?: number | undefined;
}

/** Options of evaluateAsync: evaluate's, and a signal. */
export interface EvaluateAsyncOptions extends EvaluateOptions {
  /**
   * Aborting stops between two batches: evaluateAsync rejects with an Error named 'AbortError'
   * (code 'ABORT_ERR'), and the model is free again. Default: none.
   */
  signal?: AbortSignal | undefined;
}

/** A NaN or infinite loss or gradient stopped training. */
export class NonFiniteError extends CellstateError {
  /** 0-based epoch, batch within it, and update count at the failure. */
  readonly epoch: number;
  readonly batch: number;
  readonly step: number;
  /** Index of the layer named, or null when it is the loss itself. */
  readonly layer: number | null;
  constructor(
    message: string,
    where: { epoch: number; batch: number; step: number; layer: number | null },
  ) {
    super(ErrorCode.NON_FINITE, message);
    this.name = 'NonFiniteError';
    this.epoch = where.epoch;
    this.batch = where.batch;
    this.step = where.step;
    this.layer = where.layer;
  }
}

/** fit was stopped by its AbortSignal. `name` is 'AbortError' and `code` 'ABORT_ERR', as Node's. */
export class AbortError extends Error {
  readonly code = ErrorCode.ABORTED;
  /** The History up to the last completed update (stopReason 'aborted'). */
  readonly history: History;
  constructor(history: History, cause?: unknown) {
    super('fit: aborted by its signal', cause === undefined ? undefined : { cause });
    this.name = 'AbortError';
    this.history = history;
    brandError(this);
  }
}

// ---- datasets -----------------------------------------------------------------------------

interface Dataset {
  N: number;
  T: number;
  /** [N, T, I] floats or [N, T] token ids. */
  x: Float32Array | Int32Array;
  I: number;
  tokens: boolean;
  /** Targets per sample: values [N, (T,) O] or class indices [N, (T)]. */
  y: LossTarget | null;
  lengths: Int32Array | null;
}

function readX(
  model: TrainableModel,
  where: string,
  x: unknown,
): Pick<Dataset, 'N' | 'T' | 'x' | 'I' | 'tokens'> {
  // Datasets are sample-first [N, T, ·] unless the model is time-major (batchFirst: false); a
  // time-major one is copied sample-first here, and everything after works sample-first.
  const tm = model.batchFirst === false;
  const layout = tm ? 'time-major: batchFirst false' : 'sample-first';
  if (model.tokenInput) {
    const dims = tm ? ['T', 'N'] : ['N', 'T'];
    const t = readTokens(x, where, 'x', dims);
    const [N, T] = tm ? [t.shape[1], t.shape[0]] : t.shape;
    if (N < 1 || T < 1) throw shapeError(where, 'x', dims, t.shape, `N, T ≥ 1; ${layout}`);
    return { N, T, x: tm ? swapAxes(t.data, T, N, 1) : t.data, I: 1, tokens: true };
  }
  const t = toTensor(x, where, 'x');
  const I = model.inputSize;
  const dims = tm ? ['T', 'N', `I=${I}`] : ['N', 'T', `I=${I}`];
  if (t.shape.length !== 3 || t.shape[2] !== I || t.shape[0] < 1 || t.shape[1] < 1)
    throw shapeError(where, 'x', dims, t.shape, `N, T ≥ 1; ${layout}`);
  const [N, T] = tm ? [t.shape[1], t.shape[0]] : [t.shape[0], t.shape[1]];
  return { N, T, x: tm ? swapAxes(t.data, T, N, I) : t.data, I, tokens: false };
}

/**
 * lengths has one entry per sequence: when it fits the time axis of x rather than N, x is in the
 * other layout (refused, naming the model's).
 */
function checkLayout(
  model: TrainableModel,
  where: string,
  raw: unknown,
  N: number,
  T: number,
): void {
  const n = raw instanceof Int32Array || Array.isArray(raw) ? raw.length : -1;
  if (n < 0 || n === N || n !== T) return;
  const tm = model.batchFirst === false;
  throw new CellstateRangeError(
    ErrorCode.SHAPE,
    `${where}: lengths has ${n} entries, the number of time steps of x rather than its ${N} sequences: x looks ${tm ? 'sample-first [N, T, ·]' : 'time-major [T, N, ·]'}, but this model's datasets are ${tm ? '[T, N, ·] (batchFirst: false)' : '[N, T, ·] (sample-first)'}`,
  );
}

function readY(
  model: TrainableModel,
  loss: Loss,
  where: string,
  y: unknown,
  N: number,
  T: number,
): LossTarget {
  const target = readYAs(model, loss, where, y, N, T);
  // a time-major model's per-step targets [T, N, ·] are copied sample-first, as x is
  if (model.batchFirst !== false || !model.perStepOutput) return target;
  const F = target.kind === 'values' ? target.data.length / (N * T) : 1;
  return target.kind === 'values'
    ? { kind: 'values', data: swapAxes(target.data, T, N, F) }
    : { kind: 'indices', data: swapAxes(target.data, T, N, 1) };
}

function readYAs(
  model: TrainableModel,
  loss: Loss,
  where: string,
  y: unknown,
  N: number,
  T: number,
): LossTarget {
  const O = model.outputSize;
  const tm = model.batchFirst === false;
  const rowShape = model.perStepOutput ? (tm ? [T, N] : [N, T]) : [N];
  const fullShape = [...rowShape, O];
  const dims = model.perStepOutput
    ? tm
      ? ['T', 'N', `O=${O}`]
      : ['N', 'T', `O=${O}`]
    : ['N', `O=${O}`];
  const rows = rowShape.reduce((a, b) => a * b, 1);
  const int =
    y instanceof Int32Array
      ? y
      : y && typeof y === 'object' && (y as Tokens).data instanceof Int32Array
        ? (y as Tokens).data
        : null;
  if (int) {
    if (!loss.acceptsIndices)
      throw new CellstateTypeError(
        ErrorCode.INVALID_ARG,
        `${where}: integer class indices are for crossEntropy; give y as values [${dims.join(', ')}]`,
      );
    if (int.length !== rows) throw shapeError(where, 'y', rowShape, [int.length], 'class indices');
    checkIndices(where, int, O, null);
    return { kind: 'indices', data: int };
  }
  const t = toTensor(y, where, 'y');
  const eq = (a: readonly number[], b: readonly number[]) =>
    a.length === b.length && a.every((d, i) => d === b[i]);
  if (eq(t.shape, fullShape)) return { kind: 'values', data: t.data };
  if (eq(t.shape, rowShape)) {
    if (loss.acceptsIndices) {
      const data = new Int32Array(rows);
      for (let i = 0; i < rows; ++i) {
        const v = t.data[i];
        if (!Number.isInteger(v) || v < 0 || v >= O)
          throw new CellstateRangeError(
            ErrorCode.OUT_OF_RANGE,
            `${where}: y holds class indices, which must be integers in [0, O=${O}), got ${v} at flat index ${i}`,
          );
        data[i] = v;
      }
      return { kind: 'indices', data };
    }
    if (O === 1) return { kind: 'values', data: t.data };
  }
  const rowDims = model.perStepOutput ? (tm ? 'T, N' : 'N, T') : 'N';
  throw shapeError(
    where,
    'y',
    dims,
    t.shape,
    loss.acceptsIndices ? `or class indices [${rowDims}]` : O === 1 ? `or [${rowDims}]` : undefined,
  );
}

function readDataset(
  model: TrainableModel,
  loss: Loss | null,
  where: string,
  data: unknown,
  name: string,
): Dataset {
  if (data === null || typeof data !== 'object' || Array.isArray(data))
    throw new CellstateTypeError(
      ErrorCode.INVALID_ARG,
      `${where}: ${name} must be an object { x, y, lengths? }, got ${describe(data)}`,
    );
  const o = new OptionReader(
    data,
    `${where}: ${name}`,
    ['x', 'y', 'lengths'],
    ErrorCode.INVALID_ARG,
  );
  const xs = readX(model, where, o.raw('x'));
  const rawLengths = o.raw('lengths');
  checkLayout(model, where, rawLengths, xs.N, xs.T);
  const lengths =
    rawLengths === undefined || rawLengths === null
      ? null
      : readLengths(where, rawLengths, xs.T, xs.N);
  if (xs.tokens) checkTokenIds(model, where, xs.x as Int32Array, xs.N, xs.T, lengths);
  const y = loss ? readY(model, loss, where, o.raw('y'), xs.N, xs.T) : null;
  return { ...xs, y, lengths };
}

function checkTokenIds(
  model: TrainableModel,
  where: string,
  ids: Int32Array,
  N: number,
  T: number,
  lengths: Int32Array | null,
): void {
  const V = (model.layers[0] as Embedding).config.numEmbeddings;
  for (let n = 0; n < N; ++n) {
    const len = lengths ? lengths[n] : T;
    for (let t = 0; t < len; ++t) {
      const id = ids[n * T + t];
      if (!(id >= 0 && id < V))
        throw new CellstateRangeError(
          ErrorCode.OUT_OF_RANGE,
          `${where}: token ids must be integers in [0, numEmbeddings=${V}), got ${id} at sample ${n}, step ${t}`,
        );
    }
  }
}

/** Samples [from, to) of a dataset (views, no copy). */
function slice(d: Dataset, from: number, to: number, perStep: boolean, O: number): Dataset {
  const per = d.T * d.I;
  let y: LossTarget | null = null;
  if (d.y) {
    const w = (perStep ? d.T : 1) * (d.y.kind === 'values' ? O : 1);
    y =
      d.y.kind === 'values'
        ? { kind: 'values', data: d.y.data.subarray(from * w, to * w) }
        : { kind: 'indices', data: d.y.data.subarray(from * w, to * w) };
  }
  return {
    ...d,
    N: to - from,
    x: d.x.subarray(from * per, to * per),
    y,
    lengths: d.lengths ? d.lengths.subarray(from, to) : null,
  };
}

/** A batch gathered time-major. */
interface Batch {
  input: Activation | TokenBatch;
  B: number;
  T: number;
  lengths: Int32Array | null;
  target: LossTarget | null;
  /** Timesteps that count (Σ lengths). */
  timesteps: number;
}

function gather(
  d: Dataset,
  idx: ArrayLike<number>,
  from: number,
  to: number,
  perStep: boolean,
  O: number,
): Batch {
  const B = to - from;
  const { T, I } = d;
  let lengths: Int32Array | null = null;
  let timesteps = B * T;
  if (d.lengths) {
    lengths = new Int32Array(B);
    timesteps = 0;
    for (let j = 0; j < B; ++j) timesteps += lengths[j] = d.lengths[idx[from + j]];
  }
  let input: Activation | TokenBatch;
  if (d.tokens) {
    const src = d.x as Int32Array;
    const tokens = new Int32Array(T * B);
    for (let j = 0; j < B; ++j) {
      const s = idx[from + j] * T;
      for (let t = 0; t < T; ++t) tokens[t * B + j] = src[s + t];
    }
    input = { tokens, T, B };
  } else {
    const src = d.x as Float32Array;
    const data = new Float32Array(T * B * I);
    for (let j = 0; j < B; ++j) {
      const s = idx[from + j] * T * I;
      for (let t = 0; t < T; ++t) data.set(src.subarray(s + t * I, s + t * I + I), (t * B + j) * I);
    }
    input = { data, T, B, F: I };
  }
  let target: LossTarget | null = null;
  if (d.y) {
    const cols = d.y.kind === 'values' ? O : 1;
    const out =
      d.y.kind === 'values'
        ? new Float32Array(B * (perStep ? T : 1) * cols)
        : new Int32Array(B * (perStep ? T : 1));
    const src = d.y.data;
    for (let j = 0; j < B; ++j) {
      const n = idx[from + j];
      if (perStep) {
        for (let t = 0; t < T; ++t)
          out.set(src.subarray((n * T + t) * cols, (n * T + t + 1) * cols), (t * B + j) * cols);
      } else {
        out.set(src.subarray(n * cols, (n + 1) * cols), j * cols);
      }
    }
    target =
      d.y.kind === 'values'
        ? { kind: 'values', data: out as Float32Array }
        : { kind: 'indices', data: out as Int32Array };
  }
  return { input, B, T, lengths, target, timesteps };
}

/** Steps [t0, t1) of a time-major batch. */
function chunk(
  b: Batch,
  t0: number,
  t1: number,
  perStep: boolean,
  O: number,
): { batch: Batch; realLengths: Int32Array | null } {
  const L = t1 - t0;
  const { B } = b;
  let input: Activation | TokenBatch;
  if ('tokens' in b.input) input = { tokens: b.input.tokens.subarray(t0 * B, t1 * B), T: L, B };
  else
    input = {
      data: b.input.data.subarray(t0 * B * b.input.F, t1 * B * b.input.F),
      T: L,
      B,
      F: b.input.F,
    };
  let lengths: Int32Array | null = null;
  let realLengths: Int32Array | null = null;
  let timesteps = L * B;
  if (b.lengths) {
    lengths = new Int32Array(B);
    realLengths = new Int32Array(B);
    timesteps = 0;
    for (let j = 0; j < B; ++j) {
      const real = Math.max(0, Math.min(L, b.lengths[j] - t0));
      realLengths[j] = real;
      timesteps += real;
      lengths[j] = Math.max(1, real); // the kernel needs ≥ 1; such rows are masked out of the loss
    }
  }
  let target: LossTarget | null = null;
  if (b.target && perStep) {
    const w = b.target.kind === 'values' ? O : 1;
    target =
      b.target.kind === 'values'
        ? { kind: 'values', data: b.target.data.subarray(t0 * B * w, t1 * B * w) }
        : { kind: 'indices', data: b.target.data.subarray(t0 * B * w, t1 * B * w) };
  }
  return { batch: { input, B, T: L, lengths, target, timesteps }, realLengths };
}

// ---- parameter groups ---------------------------------------------------------------------

interface Trainable {
  layerIndex: number;
  group: ParameterGroup;
  /** Copies the layer's accumulated gradients into group.grads (recurrent layers). */
  pull(): void;
  /** Makes the layer use group.values (repacks a recurrent layer's weights once). */
  push(): void;
}

function trainables(model: TrainableModel): Trainable[] {
  const out: Trainable[] = [];
  model.layers.forEach((layer, i) => {
    if (layer.parameterCount === 0) return;
    // a JavaScript layer's flat buffers are updated in place; a native layer's are copies
    const js = layer as { flat?: FlatParameters; version?: number };
    const flat = js.flat;
    if (flat) {
      const entries = flat.entries.map((e) => ({ ...e, name: `${i}.${e.name}` }));
      out.push({
        layerIndex: i,
        group: { values: flat.values, grads: flat.grads, entries },
        pull: () => {},
        push: () => {
          js.version = (js.version ?? 0) + 1;
        },
      });
      return;
    }
    const params = layer.parameters();
    const raw: ParamSlot[] = [];
    let offset = 0;
    for (const [name, t] of Object.entries(params)) {
      raw.push({ name, shape: t.shape, offset, size: t.data.length });
      offset += t.data.length;
    }
    const values = new Float32Array(offset);
    for (const e of raw) values.set(params[e.name].data, e.offset);
    const grads = new Float32Array(offset);
    const entries = raw.map((e) => ({ ...e, name: `${i}.${e.name}` }));
    const views: Record<string, Float32Array> = {};
    for (const e of raw) views[e.name] = values.subarray(e.offset, e.offset + e.size);
    out.push({
      layerIndex: i,
      group: { values, grads, entries },
      pull: () => {
        const g = layer.gradients();
        for (const e of raw) grads.set(g[e.name].data, e.offset);
      },
      push: () => layer.setParameters(views),
    });
  });
  return out;
}

function layerName(model: TrainableModel, i: number): string {
  const l = model.layers[i];
  return `layer ${i} (${l.layerType})`;
}

function firstNonFinite(a: Float32Array): number {
  for (let i = 0; i < a.length; ++i) if (!Number.isFinite(a[i])) return i;
  return -1;
}

// ---- the training loop --------------------------------------------------------------------

const FIT_KEYS = [
  'loss',
  'optimizer',
  'epochs',
  'batchSize',
  'shuffle',
  'seed',
  'validationData',
  'validationSplit',
  'bpttLength',
  'earlyStopping',
  'schedule',
  'clipNorm',
  'clipValue',
  'nanPolicy',
  'maxSteps',
  'callbacks',
  'signal',
  'verbose',
  'output',
] as const;

function optionalPositive(o: OptionReader, key: string, fallback: number | null): number | null {
  const v = o.raw(key);
  if (v === undefined) return fallback;
  if (v === null || v === Infinity) return null;
  return o.number(key, Number.MIN_VALUE, Number.MAX_VALUE, 0, true);
}

/** Model.fit: see FitOptions. */
export async function fitModel(
  model: TrainableModel,
  data: FitData,
  options: FitOptions,
): Promise<History> {
  const where = 'fit';
  const o = new OptionReader(options, where, FIT_KEYS, ErrorCode.INVALID_ARG);
  if (o.raw('loss') === undefined)
    throw new CellstateTypeError(
      ErrorCode.INVALID_ARG,
      `${where}: loss is required ('mse', 'crossEntropy', 'binaryCrossEntropy' or a Loss instance)`,
    );
  const loss = resolveLoss(o.raw('loss'), where);
  const optimizer = resolveOptimizer(o.raw('optimizer'), where);
  const epochs = o.int('epochs', 1, Number.MAX_SAFE_INTEGER, 1);
  const batchSize = o.int('batchSize', 1, 1 << 24, 32);
  const shuffle = o.bool('shuffle', true);
  const seedOpt = o.int('seed', 0, 0xffffffff, -1);
  const seed = seedOpt === -1 ? randomSeed() : seedOpt;
  const validationSplit = o.number('validationSplit', 0, 1, 0);
  const bpttRaw = o.raw('bpttLength');
  const bptt =
    bpttRaw === undefined || bpttRaw === null ? 0 : o.int('bpttLength', 1, Number.MAX_SAFE_INTEGER);
  const clipNorm = optionalPositive(o, 'clipNorm', 5);
  const clipValue = optionalPositive(o, 'clipValue', null);
  const nanPolicy = o.choice('nanPolicy', ['throw', 'skip'] as const, 'throw');
  const maxStepsRaw = o.raw('maxSteps');
  const maxSteps =
    maxStepsRaw === undefined ? Infinity : o.int('maxSteps', 1, Number.MAX_SAFE_INTEGER);
  const verbose = o.raw('verbose') === undefined ? 1 : o.int('verbose', 0, 2);
  const output = (o.raw('output') as ProgressOutput | undefined) ?? process.stdout;
  if (typeof output?.write !== 'function')
    throw new CellstateTypeError(
      ErrorCode.INVALID_ARG,
      `${where}: output must be a writable stream, got ${describe(output)}`,
    );
  const schedule = o.raw('schedule') as Schedule | undefined;
  if (
    schedule !== undefined &&
    (typeof schedule?.factor !== 'function' || !['epoch', 'step'].includes(schedule.every))
  )
    throw new CellstateTypeError(
      ErrorCode.INVALID_ARG,
      `${where}: schedule must be a StepDecay, ExponentialDecay, CosineDecay or { every, factor(i) }, got ${describe(schedule)}`,
    );
  const signal = o.raw('signal') as AbortSignal | undefined;
  if (signal !== undefined && !(signal instanceof AbortSignal))
    throw new CellstateTypeError(
      ErrorCode.INVALID_ARG,
      `${where}: signal must be an AbortSignal, got ${describe(signal)}`,
    );
  const callbacks = (o.raw('callbacks') ?? {}) as FitCallbacks;
  const cbReader = new OptionReader(
    callbacks,
    `${where}: callbacks`,
    ['onBatchEnd', 'onEpochEnd'],
    ErrorCode.INVALID_ARG,
  );
  for (const k of ['onBatchEnd', 'onEpochEnd'])
    if (cbReader.raw(k) !== undefined && typeof cbReader.raw(k) !== 'function')
      throw new CellstateTypeError(
        ErrorCode.INVALID_ARG,
        `${where}: callbacks.${k} must be a function, got ${describe(cbReader.raw(k))}`,
      );
  const es = readEarlyStopping(where, o.raw('earlyStopping'));

  const perStep = model.perStepOutput;
  if (bptt > 0 && !perStep)
    throw new CellstateTypeError(
      ErrorCode.INVALID_ARG,
      `${where}: bpttLength needs a model with an output at every step; this one ends in a lastStep Dense (train it on whole sequences)`,
    );
  let train = readDataset(model, loss, where, data, 'data');
  let val: Dataset | null = null;
  if (o.raw('validationData') !== undefined) {
    if (validationSplit > 0)
      throw new CellstateTypeError(
        ErrorCode.INVALID_ARG,
        `${where}: give validationData or validationSplit, not both`,
      );
    val = readDataset(model, loss, where, o.raw('validationData'), 'validationData');
  } else if (validationSplit > 0) {
    const nVal = Math.floor(train.N * validationSplit);
    if (nVal < 1 || nVal >= train.N)
      throw new CellstateRangeError(
        ErrorCode.INVALID_ARG,
        `${where}: validationSplit ${validationSplit} of ${train.N} samples leaves ${nVal} for validation and ${train.N - nVal} for training; both need at least 1`,
      );
    val = slice(train, train.N - nVal, train.N, perStep, model.outputSize);
    train = slice(train, 0, train.N - nVal, perStep, model.outputSize);
  }
  if (es && es.monitor === null) es.monitor = val ? 'valLoss' : 'loss';
  if (es && es.monitor === 'valLoss' && !val)
    throw new CellstateTypeError(
      ErrorCode.INVALID_ARG,
      `${where}: earlyStopping monitors 'valLoss' but there is no validationData or validationSplit`,
    );
  // From here until fit settles, the model and its layers are fit's alone (lib/hold.ts).
  const hold = acquire(where, [model, ...model.layers], (i) =>
    i === 0 ? 'this model' : `its layer ${i - 1}`,
  );

  const history: History = {
    epochs: 0,
    loss: [],
    valLoss: [],
    lr: [],
    batchLoss: [],
    steps: 0,
    skipped: 0,
    stopReason: 'completed',
    bestEpoch: null,
    seconds: 0,
    samplesPerSecond: 0,
    timestepsPerSecond: 0,
    seed,
  };
  if (signal?.aborted) {
    release(hold);
    history.stopReason = 'aborted';
    throw new AbortError(history, signal.reason);
  }

  const started = performance.now();
  let trainMs = 0;
  let samplesDone = 0;
  let timestepsDone = 0;
  try {
    const groups = trainables(model);
    const paramGroups = groups.map((g) => g.group);
    const fuse =
      loss.fuses !== null &&
      model.layers[model.layers.length - 1] instanceof Dense &&
      (model.layers[model.layers.length - 1] as Dense).config.activation === loss.fuses;
    const O = model.outputSize;
    const rng = new Random(seed);
    const order = new Int32Array(train.N);
    for (let i = 0; i < train.N; ++i) order[i] = i;
    const batches = Math.ceil(train.N / batchSize);
    const tty = verbose >= 1 && output.isTTY === true;
    let best = Infinity;
    let wait = 0;
    let bestParams: Record<string, Tensor> | null = null;
    const lrAt = (epoch: number) => {
      if (!schedule) return optimizer.lr;
      return optimizer.lr * schedule.factor(schedule.every === 'epoch' ? epoch : history.steps);
    };

    const step = async (
      b: Batch,
      realLengths: Int32Array | null,
      state: SequentialState | null,
      epoch: number,
      batch: number,
    ) => {
      hold.run(() => model.zeroGrad());
      const ctx: BatchContext = { lengths: b.lengths, train: true, logits: fuse };
      const fwd = await runAsyncGen(hold, model.forwardGen(b.input, ctx, state), (c) =>
        c.layer.forwardAsync(c.x, c.opts),
      );
      const pred = fwd.output;
      const rows = pred.T > 0 ? pred.T * pred.B : pred.B;
      const mask =
        perStep && (realLengths || b.lengths)
          ? maskOf((realLengths ?? b.lengths) as Int32Array, pred.T, pred.B)
          : null;
      const units = loss.units(rows, O, mask);
      const grad = new Float32Array(pred.data.length);
      const sum = loss.accumulate(
        pred.data,
        rows,
        O,
        b.target as LossTarget,
        mask,
        grad,
        units > 0 ? 1 / units : 0,
      );
      const value = units > 0 ? sum / units : 0;
      const at = { epoch, batch, step: history.steps };
      const lr = lrAt(epoch);
      if (!Number.isFinite(value)) {
        const bad = model.lastOutputs.findIndex((a) => a !== null && firstNonFinite(a) >= 0);
        if (nanPolicy === 'skip') return { value, units: 0, state: fwd.state, lr, skipped: true };
        const what =
          bad >= 0
            ? `the output of ${layerName(model, bad)} holds ${model.lastOutputs[bad]![firstNonFinite(model.lastOutputs[bad]!)]}`
            : 'the predictions or the targets are out of range for the loss';
        throw new NonFiniteError(
          `fit: the loss is ${value} at epoch ${epoch}, batch ${batch} (update ${history.steps + 1}): ${what}. Scale the inputs, lower the learning rate, or pass nanPolicy: 'skip'`,
          { ...at, layer: bad >= 0 ? bad : null },
        );
      }
      await runAsyncGen(hold, model.backwardGen(grad), (c) => c.layer.backwardAsync(c.grad));
      hold.run(() => {
        for (const g of groups) g.pull();
      });
      let norm = gradNorm(paramGroups);
      if (!Number.isFinite(norm)) {
        if (nanPolicy === 'skip') return { value, units: 0, state: fwd.state, lr, skipped: true };
        for (const g of groups) {
          const k = firstNonFinite(g.group.grads);
          if (k < 0) continue;
          const entry = g.group.entries.find((e) => k >= e.offset && k < e.offset + e.size)!;
          throw new NonFiniteError(
            `fit: the gradient of ${entry.name} in ${layerName(model, g.layerIndex)} is ${g.group.grads[k]} at epoch ${epoch}, batch ${batch} (update ${history.steps + 1}). Scale the inputs, lower the learning rate, or pass nanPolicy: 'skip'`,
            { ...at, layer: g.layerIndex },
          );
        }
      }
      if (clipValue !== null) {
        clipGradValue(paramGroups, clipValue);
        norm = gradNorm(paramGroups);
      }
      if (clipNorm !== null) clipGradNorm(paramGroups, clipNorm, norm);
      optimizer.step(paramGroups, lr);
      hold.run(() => {
        for (const g of groups) g.push();
      });
      history.steps++;
      history.batchLoss.push(value);
      return { value, units, state: fwd.state, lr, skipped: false };
    };

    for (let epoch = 0; epoch < epochs; ++epoch) {
      const epochStart = performance.now();
      if (shuffle) {
        for (let i = train.N - 1; i > 0; --i) {
          const j = Math.floor(rng.nextUnit() * (i + 1));
          const t = order[i];
          order[i] = order[j];
          order[j] = t;
        }
      }
      const bar = tty ? new ProgressBar(output, `Epoch ${epoch + 1}/${epochs}`, batches) : null;
      let lossSum = 0;
      let lossUnits = 0;
      let lastLr = lrAt(epoch);
      let stop: History['stopReason'] | null = null;
      let epochSamples = 0;
      for (let batch = 0; batch < batches && !stop; ++batch) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        if (signal?.aborted) {
          history.stopReason = 'aborted';
          throw new AbortError(
            finish(history, started, trainMs, samplesDone, timestepsDone),
            signal.reason,
          );
        }
        const t0 = performance.now();
        const from = batch * batchSize;
        const to = Math.min(train.N, from + batchSize);
        const full = gather(train, order, from, to, perStep, O);
        let batchSum = 0;
        let batchUnits = 0;
        if (bptt > 0 && bptt < full.T) {
          let state: SequentialState | null = null;
          const maxLen = full.lengths ? Math.max(...full.lengths) : full.T;
          for (let s = 0; s < maxLen && !stop; s += bptt) {
            const { batch: c, realLengths } = chunk(
              full,
              s,
              Math.min(full.T, s + bptt),
              perStep,
              O,
            );
            const r = await step(c, realLengths, state, epoch, batch);
            state = r.state;
            lastLr = r.lr;
            if (r.skipped) history.skipped++;
            batchSum += r.value * r.units;
            batchUnits += r.units;
            if (history.steps >= maxSteps) stop = 'maxSteps';
            if (signal?.aborted) break;
          }
        } else {
          const r = await step(full, null, null, epoch, batch);
          lastLr = r.lr;
          if (r.skipped) history.skipped++;
          batchSum += r.value * r.units;
          batchUnits += r.units;
          if (history.steps >= maxSteps) stop = 'maxSteps';
        }
        trainMs += performance.now() - t0;
        samplesDone += full.B;
        epochSamples += full.B;
        timestepsDone += full.timesteps;
        lossSum += batchSum;
        lossUnits += batchUnits;
        const batchLoss = batchUnits > 0 ? batchSum / batchUnits : NaN;
        bar?.update(batch + 1, epochSamples, lossUnits > 0 ? lossSum / lossUnits : NaN);
        if (callbacks.onBatchEnd) {
          const r = await callbacks.onBatchEnd({
            epoch,
            batch,
            batches,
            step: history.steps,
            loss: batchLoss,
            lr: lastLr,
          });
          if (r === false) stop = 'callback';
        }
      }
      const epochLoss = lossUnits > 0 ? lossSum / lossUnits : NaN;
      let valLoss: number | undefined;
      if (val) valLoss = await evaluateAsync(hold, model, val, loss, batchSize, fuse);
      history.epochs++;
      history.loss.push(epochLoss);
      if (valLoss !== undefined) history.valLoss.push(valLoss);
      history.lr.push(lastLr);
      const seconds = (performance.now() - epochStart) / 1000;
      const summary = `${valLoss !== undefined ? `val ${formatLoss(valLoss)} · ` : ''}${formatDuration(seconds)}`;
      if (bar) {
        bar.update(batches, epochSamples, epochLoss, true);
        bar.end(summary);
      } else if (verbose >= 2) {
        output.write(`Epoch ${epoch + 1}/${epochs} · loss ${formatLoss(epochLoss)} · ${summary}\n`);
      }
      if (es) {
        const value = es.monitor === 'valLoss' ? (valLoss as number) : epochLoss;
        if (value < best - es.minDelta) {
          best = value;
          wait = 0;
          history.bestEpoch = epoch;
          if (es.restoreBest) bestParams = model.parameters();
        } else if (++wait >= es.patience) {
          stop ??= 'earlyStopping';
        }
      }
      if (callbacks.onEpochEnd) {
        const info: EpochEndInfo = {
          epoch,
          epochs,
          loss: epochLoss,
          lr: lastLr,
          step: history.steps,
          seconds,
        };
        if (valLoss !== undefined) info.valLoss = valLoss;
        const r = await callbacks.onEpochEnd(info);
        if (r === false) stop ??= 'callback';
      }
      if (stop) {
        history.stopReason = stop;
        break;
      }
    }
    if (bestParams && history.stopReason === 'earlyStopping')
      hold.run(() => model.setParameters(bestParams!));
    return finish(history, started, trainMs, samplesDone, timestepsDone);
  } finally {
    release(hold);
  }
}

function finish(
  h: History,
  started: number,
  trainMs: number,
  samples: number,
  timesteps: number,
): History {
  h.seconds = (performance.now() - started) / 1000;
  h.samplesPerSecond = trainMs > 0 ? (samples * 1000) / trainMs : 0;
  h.timestepsPerSecond = trainMs > 0 ? (timesteps * 1000) / trainMs : 0;
  return h;
}

function readEarlyStopping(
  where: string,
  value: unknown,
): {
  patience: number;
  minDelta: number;
  monitor: 'loss' | 'valLoss' | null;
  restoreBest: boolean;
} | null {
  if (value === undefined || value === false) return null;
  const r = new OptionReader(
    value === true ? {} : value,
    `${where}: earlyStopping`,
    ['patience', 'minDelta', 'monitor', 'restoreBest'],
    ErrorCode.INVALID_ARG,
  );
  const monitor =
    r.raw('monitor') === undefined
      ? null
      : r.choice('monitor', ['loss', 'valLoss'] as const, 'loss');
  return {
    patience: r.int('patience', 1, Number.MAX_SAFE_INTEGER, 5),
    minDelta: r.number('minDelta', 0, Number.MAX_VALUE, 0, true),
    monitor,
    restoreBest: r.bool('restoreBest', true),
  };
}

/** Drives a forwardGen / backwardGen with async calls, each step as `hold`'s own call. */
async function runAsyncGen<C, R, Y>(
  hold: Hold,
  gen: Generator<C, R, Y>,
  call: (c: C) => Promise<Y>,
): Promise<R> {
  let s = hold.run(() => gen.next(undefined as unknown as Y));
  while (!s.done) {
    let v: Y;
    try {
      const c = s.value;
      v = await hold.run(() => call(c));
    } catch (error) {
      hold.run(() => gen.return(undefined as unknown as R));
      throw error;
    }
    const value = v;
    s = hold.run(() => gen.next(value));
  }
  return s.value;
}

function runSyncGen<C, R, Y>(gen: Generator<C, R, Y>, call: (c: C) => Y): R {
  let s = gen.next(undefined as unknown as Y);
  while (!s.done) s = gen.next(call(s.value));
  return s.value;
}

// ---- evaluation and prediction ------------------------------------------------------------

function lossOver(
  model: TrainableModel,
  d: Dataset,
  loss: Loss,
  batchSize: number,
  fuse: boolean,
  forward: (b: Batch, ctx: BatchContext) => Activation,
): { sum: number; units: number } {
  const O = model.outputSize;
  const perStep = model.perStepOutput;
  const order = new Int32Array(d.N);
  for (let i = 0; i < d.N; ++i) order[i] = i;
  let sum = 0;
  let units = 0;
  for (let from = 0; from < d.N; from += batchSize) {
    const b = gather(d, order, from, Math.min(d.N, from + batchSize), perStep, O);
    const pred = forward(b, { lengths: b.lengths, train: false, logits: fuse });
    const rows = pred.T > 0 ? pred.T * pred.B : pred.B;
    const mask = perStep && b.lengths ? maskOf(b.lengths, pred.T, pred.B) : null;
    sum += loss.accumulate(pred.data, rows, O, b.target as LossTarget, mask, null, 0);
    units += loss.units(rows, O, mask);
  }
  return { sum, units };
}

async function evaluateAsync(
  hold: Hold,
  model: TrainableModel,
  d: Dataset,
  loss: Loss,
  batchSize: number,
  fuse: boolean,
  signal?: AbortSignal,
  where = 'evaluateAsync',
  turns = false,
): Promise<number> {
  const O = model.outputSize;
  const perStep = model.perStepOutput;
  const order = new Int32Array(d.N);
  for (let i = 0; i < d.N; ++i) order[i] = i;
  let sum = 0;
  let units = 0;
  for (let from = 0; from < d.N; from += batchSize) {
    // evaluateAsync (turns): a turn of the event loop between batches and after each recurrent
    // layer, as predictAsync; fit's validation keeps fit's pace.
    if (turns && from > 0) await turn();
    if (signal?.aborted) throw abortError(where, signal);
    const b = gather(d, order, from, Math.min(d.N, from + batchSize), perStep, O);
    if (turns) await turn();
    const ctx: BatchContext = { lengths: b.lengths, train: false, logits: fuse };
    const r = await runAsyncGen(hold, model.forwardGen(b.input, ctx, null), async (c) => {
      const value = await c.layer.forwardAsync(c.x, c.opts);
      if (turns) await turn();
      return value;
    });
    const pred = r.output;
    const rows = pred.T > 0 ? pred.T * pred.B : pred.B;
    const mask = perStep && b.lengths ? maskOf(b.lengths, pred.T, pred.B) : null;
    sum += loss.accumulate(pred.data, rows, O, b.target as LossTarget, mask, null, 0);
    units += loss.units(rows, O, mask);
  }
  return units > 0 ? sum / units : NaN;
}

/** The validated arguments of evaluate / evaluateAsync. */
function evaluatePlan(
  model: TrainableModel,
  where: string,
  data: FitData,
  opts: unknown,
  keys: string[],
) {
  const o = new OptionReader(opts, where, keys, ErrorCode.INVALID_ARG);
  if (o.raw('loss') === undefined)
    throw new CellstateTypeError(ErrorCode.INVALID_ARG, `${where}: loss is required`);
  const loss = resolveLoss(o.raw('loss'), where);
  const batchSize = o.int('batchSize', 1, 1 << 24, 256);
  const signal = readSignal(where, o.raw('signal'));
  const d = readDataset(model, loss, where, data, 'data');
  const last = model.layers[model.layers.length - 1];
  const fuse =
    loss.fuses !== null && last instanceof Dense && last.config.activation === loss.fuses;
  return { loss, batchSize, d, fuse, signal };
}

function readSignal(where: string, signal: unknown): AbortSignal | undefined {
  if (signal !== undefined && !(signal instanceof AbortSignal))
    throw new CellstateTypeError(
      ErrorCode.INVALID_ARG,
      `${where}: signal must be an AbortSignal, got ${describe(signal)}`,
    );
  return signal;
}

/** Model.evaluate: the mean loss over a dataset at inference. */
export function evaluateModel(model: TrainableModel, data: FitData, opts: EvaluateOptions): number {
  const { loss, batchSize, d, fuse } = evaluatePlan(model, 'evaluate', data, opts, [
    'loss',
    'batchSize',
  ]);
  const { sum, units } = lossOver(
    model,
    d,
    loss,
    batchSize,
    fuse,
    (b, ctx) =>
      runSyncGen(model.forwardGen(b.input, ctx, null), (c) => c.layer.forward(c.x, c.opts)).output,
  );
  return units > 0 ? sum / units : NaN;
}

/**
 * Model.evaluateAsync: evaluate with the recurrent layers in forwardAsync, yielding to the event
 * loop between batches; holds the model (lib/hold.ts) until it settles.
 */
export async function evaluateModelAsync(
  model: TrainableModel,
  data: FitData,
  opts: EvaluateAsyncOptions,
): Promise<number> {
  const where = 'evaluateAsync';
  const { loss, batchSize, d, fuse, signal } = evaluatePlan(model, where, data, opts, [
    'loss',
    'batchSize',
    'signal',
  ]);
  if (signal?.aborted) throw abortError(where, signal);
  const hold = acquire(where, [model, ...model.layers], modelPart, where);
  try {
    return await evaluateAsync(hold, model, d, loss, batchSize, fuse, signal, where, true);
  } finally {
    release(hold);
  }
}

function modelPart(i: number): string {
  return i === 0 ? 'this model' : `its layer ${i - 1}`;
}

/**
 * What predictAsync / evaluateAsync reject with when their signal aborts: an Error named
 * 'AbortError' with code 'ABORT_ERR', as Node's own (fit's AbortError also carries a History).
 */
function abortError(where: string, signal: AbortSignal): Error {
  const e = Object.assign(new Error(`${where}: aborted by its signal`, { cause: signal.reason }), {
    code: ErrorCode.ABORTED,
  });
  e.name = 'AbortError';
  brandError(e);
  return e;
}

/** One turn of the event loop (timers and I/O run before it resolves). */
function turn(): Promise<void> {
  return new Promise<void>((resolve) => setImmediate(resolve));
}

/** The validated arguments of predict / predictAsync, and the output buffer. */
function predictPlan(
  model: TrainableModel,
  where: string,
  x: unknown,
  opts: unknown,
  keys: string[],
) {
  const o = new OptionReader(opts, where, keys, ErrorCode.INVALID_ARG);
  const batchSize = o.int('batchSize', 1, 1 << 24, 256);
  const signal = readSignal(where, o.raw('signal'));
  const xs = readX(model, where, x);
  const raw = o.raw('lengths');
  checkLayout(model, where, raw, xs.N, xs.T);
  const lengths = raw === undefined || raw === null ? null : readLengths(where, raw, xs.T, xs.N);
  if (xs.tokens) checkTokenIds(model, where, xs.x as Int32Array, xs.N, xs.T, lengths);
  const d: Dataset = { ...xs, y: null, lengths };
  const O = model.outputSize;
  const perStep = model.perStepOutput;
  const { N, T } = d;
  const out = new Float32Array(N * (perStep ? T : 1) * O);
  const order = new Int32Array(N);
  for (let i = 0; i < N; ++i) order[i] = i;
  return { batchSize, signal, d, out, order, O, perStep, N, T };
}

type PredictPlan = ReturnType<typeof predictPlan>;

/** Copies one batch's output (time-major) into the sample-first result. */
function scatter(p: PredictPlan, from: number, B: number, r: Activation): void {
  const { out, O, T } = p;
  if (p.perStep) {
    for (let j = 0; j < B; ++j)
      for (let t = 0; t < T; ++t)
        out.set(r.data.subarray((t * B + j) * O, (t * B + j + 1) * O), ((from + j) * T + t) * O);
  } else {
    out.set(r.data, from * O);
  }
}

/** The result of predict in the model's layout. */
function predictResult(model: TrainableModel, p: PredictPlan): Tensor {
  const { out, N, T, O, perStep } = p;
  if (perStep && model.batchFirst === false) return new Tensor(swapAxes(out, N, T, O), [T, N, O]);
  return new Tensor(out, perStep ? [N, T, O] : [N, O]);
}

/** Model.predict: outputs for a dataset, sample-first ([N, O] or [N, T, O]). */
export function predictModel(
  model: TrainableModel,
  x: TensorLike | TokensLike,
  opts?: PredictOptions,
): Tensor {
  const p = predictPlan(model, 'predict', x, opts, ['lengths', 'batchSize']);
  for (let from = 0; from < p.N; from += p.batchSize) {
    const b = gather(p.d, p.order, from, Math.min(p.N, from + p.batchSize), p.perStep, p.O);
    const r = runSyncGen(
      model.forwardGen(b.input, { lengths: b.lengths, train: false }, null),
      (c) => c.layer.forward(c.x, c.opts),
    ).output;
    scatter(p, from, b.B, r);
  }
  return predictResult(model, p);
}

/**
 * Model.predictAsync: predict with the recurrent layers in forwardAsync, yielding to the event
 * loop between batches; holds the model (lib/hold.ts) until it settles.
 */
export async function predictModelAsync(
  model: TrainableModel,
  x: TensorLike | TokensLike,
  opts?: PredictAsyncOptions,
): Promise<Tensor> {
  const where = 'predictAsync';
  const p = predictPlan(model, where, x, opts, ['lengths', 'batchSize', 'signal']);
  const { signal } = p;
  if (signal?.aborted) throw abortError(where, signal);
  const hold = acquire(where, [model, ...model.layers], modelPart, where);
  try {
    for (let from = 0; from < p.N; from += p.batchSize) {
      if (from > 0) await turn();
      if (signal?.aborted) throw abortError(where, signal);
      const b = gather(p.d, p.order, from, Math.min(p.N, from + p.batchSize), p.perStep, p.O);
      await turn();
      const ctx: BatchContext = { lengths: b.lengths, train: false };
      // A turn after each recurrent layer too: its result is copied in on the main thread, and
      // the layers after it run there; each piece of main-thread work gets its own turn.
      const r = await runAsyncGen(hold, model.forwardGen(b.input, ctx, null), async (c) => {
        const value = await c.layer.forwardAsync(c.x, c.opts);
        await turn();
        return value;
      });
      scatter(p, from, b.B, r.output);
    }
  } finally {
    release(hold);
  }
  return predictResult(model, p);
}
