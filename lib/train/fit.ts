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
import {
  type BatchIterable,
  type DataBatch,
  WindowDataset,
  isAsyncOnly,
  isBatchIterable,
  isSinglePass,
  openBatches,
} from '../data/dataset';
import { type Hold, acquire, release } from '../hold';
import { Dense, applyActivation } from '../layers/dense';
import type { Embedding } from '../layers/embedding';
import type { FlatParameters, ParamSlot } from '../layers/params';
import {
  type Activation,
  type BatchContext,
  type TokenBatch,
  type Tokens,
  type TokensLike,
  checkLastStepLengths,
  readLengths,
  readTokens,
  swapAxes,
} from '../layers/batch';
import type { SequentialState, TrainableModel } from '../model/model';
import { quantizedTrainingError } from '../layers/quant';
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
import {
  type Metric,
  type MetricBatch,
  type MetricSpec,
  checkMetricsFor,
  countOf,
  metricResults,
  resolveMetrics,
} from './metrics';
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
  /** Length of each sequence, N integers in [0, T] (0 only for a model with an output at every step); padded steps do not count in the loss. Default: all T. */
  lengths?: number[] | Int32Array | undefined;
}

/**
 * What fit, evaluate and predict take: a dataset in memory (FitData), or one given batch by
 * batch — an iterable or async iterable of `{ x, y?, lengths? }` (BatchIterable; a generator, an
 * array of batches, a WindowDataset from `windows()`), each batch in the layout of FitData with
 * N = B. Batches may differ in B and T. The synchronous evaluate and predict take sync
 * iterables only.
 */
export type TrainingData = FitData | BatchIterable;
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
  /** The epoch's metrics on the training batches (as they were trained), by key. */
  metrics: Record<string, number>;
  /** The metrics on the validation data, when there is validation data. */
  valMetrics?: Record<string, number>;
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
  /**
   * Metrics reported per epoch besides the loss, on the training batches and the validation
   * data, masked by lengths (see lib/train/metrics.ts): 'accuracy', 'binaryAccuracy', 'topK'
   * (k 5; `{ name: 'topK', k }`), 'mae', 'mse', 'bce', 'crossEntropy', a named function
   * `(batch: MetricBatch) => number` (the batch's mean) or an object `{ name, update, result,
   * reset }`. In History.metrics / valMetrics and the progress bar. Default none.
   */
  metrics?: MetricSpec[] | undefined;
  /**
   * For data given batch by batch: batches per epoch. The iterable is opened once and read on
   * across epochs; when a pass ends it is opened again (a used-up generator ends training with
   * stopReason 'dataExhausted'). Default: one whole pass per epoch.
   */
  stepsPerEpoch?: number | undefined;
  /** Data to compute the validation loss (and metrics) on after each epoch: in memory or batch by batch. */
  validationData?: TrainingData | undefined;
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
  /** Callbacks, or a list of them (called in order; e.g. a ModelCheckpoint). */
  callbacks?: FitCallbacks | FitCallbacks[] | undefined;
  /** Aborting stops training between two batches: fit rejects with an {@link AbortError} carrying the History so far. */
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
  /** Per metric key, its value per epoch on the training batches (empty object without metrics). */
  metrics: Record<string, number[]>;
  /** Per metric key, its value per epoch on the validation data. */
  valMetrics: Record<string, number[]>;
  /** Learning rate at the end of each epoch. */
  lr: number[];
  /** Mean training loss of each update, in order. */
  batchLoss: number[];
  /** Optimizer updates done. */
  steps: number;
  /** Updates skipped for a non-finite loss or gradient (nanPolicy 'skip'). */
  skipped: number;
  /**
   * Why training ended; 'dataExhausted': a dataset given batch by batch with stepsPerEpoch ran
   * out and could not be opened again (a used-up generator).
   */
  stopReason: 'completed' | 'earlyStopping' | 'callback' | 'maxSteps' | 'aborted' | 'dataExhausted';
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
  /** Length of each sequence, N integers in [0, T] (0 only for a model with an output at every step). */
  lengths?: number[] | Int32Array | undefined;
  /** Sequences per forward; an integer ≥ 1. Default 256. */
  batchSize?: number | undefined;
}

/** Options of predictAsync: predict's, and a signal. */
export interface PredictAsyncOptions extends PredictOptions {
  /**
   * Aborting stops between two batches: predictAsync rejects with an {@link AbortError} (fit's
   * class: name 'AbortError', code 'ABORT_ERR', no history), and the model is free again.
   * Default: none.
   */
  signal?: AbortSignal | undefined;
}

/** Options of evaluate. */
export interface EvaluateOptions {
  loss: LossName | Loss;
  /** Sequences per forward; an integer ≥ 1. Default 256 (data given batch by batch keeps its batches). */
  batchSize?: number | undefined;
  /** Metrics as fit's; given, evaluate returns `{ loss, metrics }` instead of the loss. Default none. */
  metrics?: MetricSpec[] | undefined;
}

/** What evaluate returns when metrics are asked for. */
export interface EvaluateResult {
  /** The mean loss. */
  loss: number;
  /** Each metric's value, by key. */
  metrics: Record<string, number>;
}

/** Options of evaluateAsync: evaluate's, and a signal. */
export interface EvaluateAsyncOptions extends EvaluateOptions {
  /**
   * Aborting stops between two batches: evaluateAsync rejects with an {@link AbortError} (fit's
   * class: name 'AbortError', code 'ABORT_ERR', no history), and the model is free again.
   * Default: none.
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

/**
 * fit, predictAsync or evaluateAsync was stopped by its AbortSignal: the one error all three
 * reject with. `name` is 'AbortError' and `code` 'ABORT_ERR', as Node's; `cause` is the signal's
 * reason; the message starts with the method's name.
 */
export class AbortError extends Error {
  readonly code = ErrorCode.ABORTED;
  /**
   * fit's History up to the last completed update (stopReason 'aborted'); undefined when
   * predictAsync or evaluateAsync was aborted (they train nothing).
   */
  readonly history: History | undefined;
  constructor(where: string, history: History | undefined, cause?: unknown) {
    super(`${where}: aborted by its signal`, cause === undefined ? undefined : { cause });
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
  if (!model.perStepOutput) checkLastStepLengths(where, lengths);
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
      lengths[j] = real; // 0 past a sequence's end: its state passes through, its steps do not count
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

// ---- batch sources ------------------------------------------------------------------------

/** One pass after another over a dataset: in memory (gathered in `order`) or an iterable's batches. */
interface BatchSource {
  /** Batches per pass, when known. */
  count: number | null;
  /** Whether opening it again gives the same used-up iterator (a generator object). */
  readonly singlePass: boolean;
  /** Starts a pass. */
  open(): void;
  /** The next batch, or null at the end of the pass. */
  next(): Batch | null | Promise<Batch | null>;
  /** Ends the pass (closes an iterator: a generator's finally blocks run). */
  close(): void;
}

function identity(n: number): Int32Array {
  const order = new Int32Array(n);
  for (let i = 0; i < n; ++i) order[i] = i;
  return order;
}

class MemorySource implements BatchSource {
  readonly singlePass = false;
  readonly count: number;
  /** The order of the samples; fit shuffles it before each epoch. */
  readonly order: Int32Array;
  private from = 0;
  constructor(
    readonly d: Dataset,
    private readonly batchSize: number,
    private readonly perStep: boolean,
    private readonly O: number,
  ) {
    this.order = identity(d.N);
    this.count = Math.ceil(d.N / batchSize);
  }
  open(): void {
    this.from = 0;
  }
  next(): Batch | null {
    if (this.from >= this.d.N) return null;
    const to = Math.min(this.d.N, this.from + this.batchSize);
    const b = gather(this.d, this.order, this.from, to, this.perStep, this.O);
    this.from = to;
    return b;
  }
  close(): void {}
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return (
    v !== null && typeof v === 'object' && typeof (v as PromiseLike<unknown>).then === 'function'
  );
}

/** The batches of an iterable, each read and checked as a dataset of its own (errors name it). */
class IterableSource implements BatchSource {
  count: number | null;
  readonly singlePass: boolean;
  private it: Iterator<DataBatch> | AsyncIterator<DataBatch> | null = null;
  /** Batches read in this pass. */
  private index = 0;
  constructor(
    private readonly model: TrainableModel,
    private readonly loss: Loss | null,
    private readonly where: string,
    private readonly name: string,
    private readonly data: BatchIterable,
    private readonly perStep: boolean,
    private readonly O: number,
    private readonly sync: boolean,
  ) {
    this.singlePass = isSinglePass(data);
    this.count =
      data instanceof WindowDataset ? data.batches : Array.isArray(data) ? data.length : null;
  }
  open(): void {
    this.close();
    this.it = openBatches(this.data);
    this.index = 0;
  }
  next(): Batch | null | Promise<Batch | null> {
    const it = this.it;
    if (!it) return null;
    const r = it.next();
    if (isThenable(r)) {
      if (this.sync) throw this.asyncError();
      return Promise.resolve(r).then(async (x) => this.take(x.done ? null : await x.value, x.done));
    }
    if (!r.done && isThenable(r.value)) {
      if (this.sync) throw this.asyncError();
      return Promise.resolve(r.value).then((v) => this.take(v, false));
    }
    return this.take(r.done ? null : r.value, r.done === true);
  }
  private asyncError(): CellstateTypeError {
    const method = this.where.split(':')[0];
    return new CellstateTypeError(
      ErrorCode.INVALID_ARG,
      `${this.where}: ${this.name} gives its batches asynchronously; use ${method}Async`,
    );
  }
  private take(v: unknown, done: boolean | undefined): Batch | null {
    if (done) {
      this.it = null;
      if (this.index === 0)
        throw new CellstateRangeError(
          ErrorCode.INVALID_ARG,
          `${this.where}: ${this.name} yielded no batches${this.singlePass ? ' (a generator is used up after one pass: give an object whose [Symbol.asyncIterator]() or [Symbol.iterator]() starts a new pass, or stepsPerEpoch)' : ''}`,
        );
      if (!this.singlePass) this.count = this.index;
      return null;
    }
    const k = this.index++;
    const d = readDataset(this.model, this.loss, `${this.where}: ${this.name} batch ${k}`, v, 'it');
    return gather(d, identity(d.N), 0, d.N, this.perStep, this.O);
  }
  close(): void {
    const it = this.it;
    this.it = null;
    if (!it || typeof it.return !== 'function') return;
    try {
      const r = it.return();
      if (isThenable(r)) (r as Promise<unknown>).catch(() => {});
    } catch {
      // a failing return() of the user's iterator does not hide the error that ended the pass
    }
  }
}

/** The source of fit / evaluate / predict data: an iterable's batches, or batches of a dataset in memory. */
function sourceOf(
  model: TrainableModel,
  loss: Loss | null,
  where: string,
  name: string,
  data: unknown,
  batchSize: number,
  sync: boolean,
): BatchSource {
  const perStep = model.perStepOutput;
  const O = model.outputSize;
  if (isBatchIterable(data)) {
    if (sync && isAsyncOnly(data))
      throw new CellstateTypeError(
        ErrorCode.INVALID_ARG,
        `${where}: ${name} is an async iterable; use ${where}Async`,
      );
    return new IterableSource(model, loss, where, name, data, perStep, O, sync);
  }
  return new MemorySource(readDataset(model, loss, where, data, name), batchSize, perStep, O);
}

/** Adds one batch to the metrics, on the predictions as predict() gives them. */
function updateMetrics(
  metrics: Metric[],
  pred: Float32Array,
  rows: number,
  O: number,
  target: LossTarget,
  mask: Uint8Array | null,
  fused: Dense | null,
): void {
  if (metrics.length === 0) return;
  let p = pred;
  if (fused) {
    p = pred.slice(0, rows * O);
    applyActivation(fused.config.activation, p, rows, O);
  }
  const batch: MetricBatch = {
    pred: p,
    target: target.kind === 'values' ? target.data : null,
    indices: target.kind === 'indices' ? target.data : null,
    rows,
    cols: O,
    mask,
    count: countOf(rows, mask),
  };
  for (const m of metrics) m.update(batch);
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
  'metrics',
  'stepsPerEpoch',
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
  data: TrainingData,
  options: FitOptions,
): Promise<History> {
  const where = 'fit';
  const quantized = model.layers.findIndex(
    (l) => (l as { quantized?: unknown }).quantized === true,
  );
  if (quantized >= 0)
    throw quantizedTrainingError(
      where,
      `model's layer ${quantized} (${model.layers[quantized].layerType})`,
    );
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
  const callbacks = readCallbacks(where, o.raw('callbacks'));
  const es = readEarlyStopping(where, o.raw('earlyStopping'));
  const metrics = resolveMetrics(
    o.raw('metrics'),
    where,
    loss.name === 'binaryCrossEntropy' || model.outputSize === 1,
  );
  checkMetricsFor(metrics, where, model.outputSize);
  const stepsRaw = o.raw('stepsPerEpoch');
  const stepsPerEpoch =
    stepsRaw === undefined ? null : o.int('stepsPerEpoch', 1, Number.MAX_SAFE_INTEGER);

  const perStep = model.perStepOutput;
  if (bptt > 0 && !perStep)
    throw new CellstateTypeError(
      ErrorCode.INVALID_ARG,
      `${where}: bpttLength needs a model with an output at every step; this one ends in a lastStep Dense (train it on whole sequences)`,
    );
  const O = model.outputSize;
  let train: Dataset | null = null;
  let trainSource: BatchSource;
  if (isBatchIterable(data)) {
    if (validationSplit > 0)
      throw new CellstateTypeError(
        ErrorCode.INVALID_ARG,
        `${where}: validationSplit needs a dataset in memory; with data given batch by batch, give validationData`,
      );
    trainSource = sourceOf(model, loss, where, 'data', data, batchSize, false);
    if (trainSource.singlePass && epochs > 1 && stepsPerEpoch === null)
      throw new CellstateTypeError(
        ErrorCode.INVALID_ARG,
        `${where}: data is a generator, used up after one pass, and epochs is ${epochs}: give an object whose [Symbol.asyncIterator]() or [Symbol.iterator]() starts a new pass (e.g. { [Symbol.asyncIterator]: makeBatches }), or stepsPerEpoch`,
      );
  } else {
    if (stepsPerEpoch !== null)
      throw new CellstateTypeError(
        ErrorCode.INVALID_ARG,
        `${where}: stepsPerEpoch is for data given batch by batch (an iterable); a dataset in memory has ceil(N / batchSize) batches per epoch`,
      );
    train = readDataset(model, loss, where, data, 'data');
    trainSource = new MemorySource(train, batchSize, perStep, O);
  }
  let val: Dataset | null = null;
  let valSource: BatchSource | null = null;
  if (o.raw('validationData') !== undefined) {
    if (validationSplit > 0)
      throw new CellstateTypeError(
        ErrorCode.INVALID_ARG,
        `${where}: give validationData or validationSplit, not both`,
      );
    valSource = sourceOf(
      model,
      loss,
      where,
      'validationData',
      o.raw('validationData'),
      batchSize,
      false,
    );
    if (valSource.singlePass && epochs > 1)
      throw new CellstateTypeError(
        ErrorCode.INVALID_ARG,
        `${where}: validationData is a generator, used up after one pass, and epochs is ${epochs}: give an object whose [Symbol.asyncIterator]() or [Symbol.iterator]() starts a new pass`,
      );
  } else if (validationSplit > 0 && train) {
    const nVal = Math.floor(train.N * validationSplit);
    if (nVal < 1 || nVal >= train.N)
      throw new CellstateRangeError(
        ErrorCode.INVALID_ARG,
        `${where}: validationSplit ${validationSplit} of ${train.N} samples leaves ${nVal} for validation and ${train.N - nVal} for training; both need at least 1`,
      );
    val = slice(train, train.N - nVal, train.N, perStep, model.outputSize);
    train = slice(train, 0, train.N - nVal, perStep, model.outputSize);
    trainSource = new MemorySource(train, batchSize, perStep, O);
    valSource = new MemorySource(val, batchSize, perStep, O);
  }
  if (es && es.monitor === null) es.monitor = valSource ? 'valLoss' : 'loss';
  if (es && es.monitor === 'valLoss' && !valSource)
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
    metrics: Object.fromEntries(metrics.map((m) => [m.key, []])),
    valMetrics: valSource ? Object.fromEntries(metrics.map((m) => [m.key, []])) : {},
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
    throw new AbortError('fit', history, signal.reason);
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
    const fused = fuse ? (model.layers[model.layers.length - 1] as Dense) : null;
    const rng = new Random(seed);
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
      updateMetrics(metrics, pred.data, rows, O, b.target as LossTarget, mask, fused);
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

    const memory = trainSource instanceof MemorySource ? trainSource : null;
    if (stepsPerEpoch !== null) trainSource.open();
    for (let epoch = 0; epoch < epochs; ++epoch) {
      const epochStart = performance.now();
      if (memory && shuffle) {
        const order = memory.order;
        for (let i = order.length - 1; i > 0; --i) {
          const j = Math.floor(rng.nextUnit() * (i + 1));
          const t = order[i];
          order[i] = order[j];
          order[j] = t;
        }
      }
      if (stepsPerEpoch === null) trainSource.open();
      // batches per epoch: unknown (NaN in BatchEndInfo) in the first pass of an iterable of
      // unknown length
      const known = stepsPerEpoch ?? trainSource.count;
      const batches = known ?? NaN;
      const bar = tty ? new ProgressBar(output, `Epoch ${epoch + 1}/${epochs}`, known) : null;
      for (const m of metrics) m.reset();
      let lossSum = 0;
      let lossUnits = 0;
      let lastLr = lrAt(epoch);
      let stop: History['stopReason'] | null = null;
      let epochSamples = 0;
      let done = 0;
      for (let batch = 0; !stop && (stepsPerEpoch === null || batch < stepsPerEpoch); ++batch) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        if (signal?.aborted) {
          history.stopReason = 'aborted';
          throw new AbortError(
            'fit',
            finish(history, started, trainMs, samplesDone, timestepsDone),
            signal.reason,
          );
        }
        const t0 = performance.now();
        let full = await trainSource.next();
        if (!full) {
          if (stepsPerEpoch === null) break; // the end of this epoch's pass
          if (trainSource.singlePass) {
            stop = 'dataExhausted';
            break;
          }
          trainSource.open(); // stepsPerEpoch reads on: a new pass
          full = (await trainSource.next()) as Batch;
        }
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
        done++;
        const batchLoss = batchUnits > 0 ? batchSum / batchUnits : NaN;
        bar?.update(done, epochSamples, lossUnits > 0 ? lossSum / lossUnits : NaN);
        for (const cb of callbacks) {
          if (!cb.onBatchEnd) continue;
          const r = await cb.onBatchEnd({
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
      if (done === 0) {
        // a used-up generator at an epoch's start (stepsPerEpoch): no epoch to record
        history.stopReason = stop ?? 'dataExhausted';
        break;
      }
      const epochLoss = lossUnits > 0 ? lossSum / lossUnits : NaN;
      const epochMetrics = metricResults(metrics);
      let valLoss: number | undefined;
      let valMetrics: Record<string, number> | undefined;
      if (valSource) {
        for (const m of metrics) m.reset();
        valLoss = await evaluateAsync(hold, model, valSource, loss, fuse, metrics);
        valMetrics = metricResults(metrics);
      }
      history.epochs++;
      history.loss.push(epochLoss);
      if (valLoss !== undefined) history.valLoss.push(valLoss);
      for (const m of metrics) {
        history.metrics[m.key].push(epochMetrics[m.key]);
        if (valMetrics) history.valMetrics[m.key].push(valMetrics[m.key]);
      }
      history.lr.push(lastLr);
      const seconds = (performance.now() - epochStart) / 1000;
      const summary = `${metricsText('', epochMetrics)}${valLoss !== undefined ? `val ${formatLoss(valLoss)} · ${metricsText('val ', valMetrics!)}` : ''}${formatDuration(seconds)}`;
      if (bar) {
        bar.update(done, epochSamples, epochLoss, true);
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
      for (const cb of callbacks) {
        if (!cb.onEpochEnd) continue;
        const info: EpochEndInfo = {
          epoch,
          epochs,
          loss: epochLoss,
          metrics: { ...epochMetrics },
          lr: lastLr,
          step: history.steps,
          seconds,
        };
        if (valLoss !== undefined) info.valLoss = valLoss;
        if (valMetrics) info.valMetrics = { ...valMetrics };
        const r = await cb.onEpochEnd(info);
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
    trainSource.close();
    valSource?.close();
    release(hold);
  }
}

/** `acc 0.9120 · ` for the progress line. */
function metricsText(prefix: string, values: Record<string, number>): string {
  let s = '';
  for (const [k, v] of Object.entries(values)) s += `${prefix}${k} ${formatLoss(v)} · `;
  return s;
}

/** The callbacks as a list: one object or an array of them, each function checked. */
function readCallbacks(where: string, raw: unknown): FitCallbacks[] {
  if (raw === undefined || raw === null) return [];
  const list = Array.isArray(raw) ? raw : [raw];
  return list.map((cb: unknown, i) => {
    const name = Array.isArray(raw) ? `callbacks[${i}]` : 'callbacks';
    if (cb === null || typeof cb !== 'object')
      throw new CellstateTypeError(
        ErrorCode.INVALID_ARG,
        `${where}: ${name} must be an object { onBatchEnd?, onEpochEnd? }, got ${describe(cb)}`,
      );
    for (const k of ['onBatchEnd', 'onEpochEnd'] as const) {
      const f = (cb as Record<string, unknown>)[k];
      if (f !== undefined && typeof f !== 'function')
        throw new CellstateTypeError(
          ErrorCode.INVALID_ARG,
          `${where}: ${name}.${k} must be a function, got ${describe(f)}`,
        );
    }
    if (Object.getPrototypeOf(cb) === Object.prototype)
      new OptionReader(
        cb,
        `${where}: ${name}`,
        ['onBatchEnd', 'onEpochEnd'],
        ErrorCode.INVALID_ARG,
      );
    const c = cb as FitCallbacks;
    // bound, so that a class instance's methods keep their `this`
    return {
      onBatchEnd: c.onBatchEnd ? c.onBatchEnd.bind(c) : undefined,
      onEpochEnd: c.onEpochEnd ? c.onEpochEnd.bind(c) : undefined,
    };
  });
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

/** The final Dense whose activation the loss fuses, or null. */
function fusedLayer(model: TrainableModel, fuse: boolean): Dense | null {
  return fuse ? (model.layers[model.layers.length - 1] as Dense) : null;
}

/** Adds one evaluated batch to the running sums and the metrics. */
function scoreBatch(
  model: TrainableModel,
  b: Batch,
  pred: Activation,
  loss: Loss,
  fused: Dense | null,
  metrics: Metric[],
  acc: { sum: number; units: number },
): void {
  const O = model.outputSize;
  const rows = pred.T > 0 ? pred.T * pred.B : pred.B;
  const mask = model.perStepOutput && b.lengths ? maskOf(b.lengths, pred.T, pred.B) : null;
  acc.sum += loss.accumulate(pred.data, rows, O, b.target as LossTarget, mask, null, 0);
  acc.units += loss.units(rows, O, mask);
  updateMetrics(metrics, pred.data, rows, O, b.target as LossTarget, mask, fused);
}

/** One pass of `src` at inference, synchronously: the mean loss; the metrics updated. */
function lossOver(
  model: TrainableModel,
  src: BatchSource,
  loss: Loss,
  fuse: boolean,
  metrics: Metric[],
): number {
  const fused = fusedLayer(model, fuse);
  const acc = { sum: 0, units: 0 };
  src.open();
  try {
    for (let b = src.next() as Batch | null; b; b = src.next() as Batch | null) {
      const ctx: BatchContext = { lengths: b.lengths, train: false, logits: fuse };
      const pred = runSyncGen(model.forwardGen(b.input, ctx, null), (c) =>
        c.layer.forward(c.x, c.opts),
      ).output;
      scoreBatch(model, b, pred, loss, fused, metrics, acc);
    }
  } finally {
    src.close();
  }
  return acc.units > 0 ? acc.sum / acc.units : NaN;
}

async function evaluateAsync(
  hold: Hold,
  model: TrainableModel,
  src: BatchSource,
  loss: Loss,
  fuse: boolean,
  metrics: Metric[],
  signal?: AbortSignal,
  where = 'evaluateAsync',
  turns = false,
): Promise<number> {
  const fused = fusedLayer(model, fuse);
  const acc = { sum: 0, units: 0 };
  src.open();
  try {
    for (let k = 0; ; ++k) {
      // evaluateAsync (turns): a turn of the event loop between batches and after each recurrent
      // layer, as predictAsync; fit's validation keeps fit's pace.
      if (turns && k > 0) await turn();
      if (signal?.aborted) throw abortError(where, signal);
      const b = await src.next();
      if (!b) break;
      if (turns) await turn();
      const ctx: BatchContext = { lengths: b.lengths, train: false, logits: fuse };
      const r = await runAsyncGen(hold, model.forwardGen(b.input, ctx, null), async (c) => {
        const value = await c.layer.forwardAsync(c.x, c.opts);
        if (turns) await turn();
        return value;
      });
      scoreBatch(model, b, r.output, loss, fused, metrics, acc);
    }
  } finally {
    src.close();
  }
  return acc.units > 0 ? acc.sum / acc.units : NaN;
}

/** The validated arguments of evaluate / evaluateAsync. */
function evaluatePlan(
  model: TrainableModel,
  where: string,
  data: unknown,
  opts: unknown,
  keys: string[],
  sync: boolean,
) {
  const o = new OptionReader(opts, where, keys, ErrorCode.INVALID_ARG);
  if (o.raw('loss') === undefined)
    throw new CellstateTypeError(ErrorCode.INVALID_ARG, `${where}: loss is required`);
  const loss = resolveLoss(o.raw('loss'), where);
  const batchSize = o.int('batchSize', 1, 1 << 24, 256);
  const signal = readSignal(where, o.raw('signal'));
  const rawMetrics = o.raw('metrics');
  const metrics = resolveMetrics(
    rawMetrics,
    where,
    loss.name === 'binaryCrossEntropy' || model.outputSize === 1,
  );
  checkMetricsFor(metrics, where, model.outputSize);
  const src = sourceOf(model, loss, where, 'data', data, batchSize, sync);
  const last = model.layers[model.layers.length - 1];
  const fuse =
    loss.fuses !== null && last instanceof Dense && last.config.activation === loss.fuses;
  return { loss, src, fuse, signal, metrics, withMetrics: rawMetrics !== undefined };
}

function evaluateResult(
  value: number,
  metrics: Metric[],
  withMetrics: boolean,
): number | EvaluateResult {
  return withMetrics ? { loss: value, metrics: metricResults(metrics) } : value;
}

function readSignal(where: string, signal: unknown): AbortSignal | undefined {
  if (signal !== undefined && !(signal instanceof AbortSignal))
    throw new CellstateTypeError(
      ErrorCode.INVALID_ARG,
      `${where}: signal must be an AbortSignal, got ${describe(signal)}`,
    );
  return signal;
}

/** Model.evaluate: the mean loss over a dataset at inference (and the metrics when asked for). */
export function evaluateModel(
  model: TrainableModel,
  data: TrainingData,
  opts: EvaluateOptions,
): number | EvaluateResult {
  const { loss, src, fuse, metrics, withMetrics } = evaluatePlan(
    model,
    'evaluate',
    data,
    opts,
    ['loss', 'batchSize', 'metrics'],
    true,
  );
  return evaluateResult(lossOver(model, src, loss, fuse, metrics), metrics, withMetrics);
}

/**
 * Model.evaluateAsync: evaluate with the recurrent layers in forwardAsync, yielding to the event
 * loop between batches; holds the model (lib/hold.ts) until it settles.
 */
export async function evaluateModelAsync(
  model: TrainableModel,
  data: TrainingData,
  opts: EvaluateAsyncOptions,
): Promise<number | EvaluateResult> {
  const where = 'evaluateAsync';
  const { loss, src, fuse, signal, metrics, withMetrics } = evaluatePlan(
    model,
    where,
    data,
    opts,
    ['loss', 'batchSize', 'signal', 'metrics'],
    false,
  );
  if (signal?.aborted) throw abortError(where, signal);
  const hold = acquire(where, [model, ...model.layers], modelPart, where);
  try {
    const value = await evaluateAsync(hold, model, src, loss, fuse, metrics, signal, where, true);
    return evaluateResult(value, metrics, withMetrics);
  } finally {
    release(hold);
  }
}

function modelPart(i: number): string {
  return i === 0 ? 'this model' : `its layer ${i - 1}`;
}

/** What predictAsync / evaluateAsync reject with when their signal aborts (fit's error class). */
function abortError(where: string, signal: AbortSignal): AbortError {
  return new AbortError(where, undefined, signal.reason);
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
  if (!model.perStepOutput) checkLastStepLengths(where, lengths);
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

/** The outputs of batches read from an iterable, joined into one result. */
class Outputs {
  private readonly parts: Float32Array[] = [];
  private N = 0;
  private T = -1;
  constructor(
    private readonly model: TrainableModel,
    private readonly where: string,
  ) {}
  /** Adds batch k's output (time-major) sample-first. */
  add(k: number, b: Batch, r: Activation): void {
    if (this.model.perStepOutput) {
      if (this.T >= 0 && b.T !== this.T)
        throw new CellstateRangeError(
          ErrorCode.SHAPE,
          `${this.where}: data batch ${k} has T=${b.T} steps but the batches before it have ${this.T}; ${this.where} joins the outputs into one tensor: give batches of one T (or predict batch by batch)`,
        );
      this.T = b.T;
      this.parts.push(swapAxes(r.data, r.T, r.B, r.F));
    } else {
      this.parts.push(r.data);
    }
    this.N += b.B;
  }
  result(): Tensor {
    const O = this.model.outputSize;
    const out = new Float32Array(this.parts.reduce((n, p) => n + p.length, 0));
    let off = 0;
    for (const p of this.parts) {
      out.set(p, off);
      off += p.length;
    }
    if (!this.model.perStepOutput) return new Tensor(out, [this.N, O]);
    const { N, T } = this;
    if (this.model.batchFirst === false) return new Tensor(swapAxes(out, N, T, O), [T, N, O]);
    return new Tensor(out, [N, T, O]);
  }
}

/** The checked options of predict over an iterable (lengths come with each batch). */
function iterablePredictPlan(
  model: TrainableModel,
  where: string,
  x: BatchIterable,
  opts: unknown,
  keys: string[],
  sync: boolean,
) {
  const o = new OptionReader(opts, where, keys, ErrorCode.INVALID_ARG);
  o.int('batchSize', 1, 1 << 24, 256);
  if (o.raw('lengths') !== undefined)
    throw new CellstateTypeError(
      ErrorCode.INVALID_ARG,
      `${where}: with data given batch by batch, each batch carries its own lengths; the lengths option is for x in memory`,
    );
  const signal = readSignal(where, o.raw('signal'));
  const src = sourceOf(model, null, where, 'data', x, 1, sync);
  return { src, signal, outputs: new Outputs(model, where) };
}

/** Model.predict: outputs for a dataset, sample-first ([N, O] or [N, T, O]). */
export function predictModel(
  model: TrainableModel,
  x: TensorLike | TokensLike | BatchIterable,
  opts?: PredictOptions,
): Tensor {
  if (isBatchIterable(x)) {
    const { src, outputs } = iterablePredictPlan(
      model,
      'predict',
      x,
      opts,
      ['lengths', 'batchSize'],
      true,
    );
    src.open();
    try {
      let k = 0;
      for (let b = src.next() as Batch | null; b; b = src.next() as Batch | null, ++k) {
        const r = runSyncGen(
          model.forwardGen(b.input, { lengths: b.lengths, train: false }, null),
          (c) => c.layer.forward(c.x, c.opts),
        ).output;
        outputs.add(k, b, r);
      }
    } finally {
      src.close();
    }
    return outputs.result();
  }
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
  x: TensorLike | TokensLike | BatchIterable,
  opts?: PredictAsyncOptions,
): Promise<Tensor> {
  const where = 'predictAsync';
  if (isBatchIterable(x)) {
    const { src, signal, outputs } = iterablePredictPlan(
      model,
      where,
      x,
      opts,
      ['lengths', 'batchSize', 'signal'],
      false,
    );
    if (signal?.aborted) throw abortError(where, signal);
    const hold = acquire(where, [model, ...model.layers], modelPart, where);
    src.open();
    try {
      for (let k = 0; ; ++k) {
        if (k > 0) await turn();
        if (signal?.aborted) throw abortError(where, signal);
        const b = await src.next();
        if (!b) break;
        await turn();
        const ctx: BatchContext = { lengths: b.lengths, train: false };
        const r = await runAsyncGen(hold, model.forwardGen(b.input, ctx, null), async (c) => {
          const value = await c.layer.forwardAsync(c.x, c.opts);
          await turn();
          return value;
        });
        outputs.add(k, b, r.output);
      }
    } finally {
      src.close();
      release(hold);
    }
    return outputs.result();
  }
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
