// Metrics: values fit reports per epoch besides the loss (on the training batches as they are
// trained, and on the validation data), and evaluate on request. Each is a mean over the rows
// (sequences, or steps of sequences) that count: padded steps (t ≥ lengths[b]) never do.
//
//   accuracy        the share of rows whose largest output is the target class (class indices or
//                   one-hot / soft targets: their largest entry); with one output, or with the
//                   binaryCrossEntropy loss, binaryAccuracy
//   binaryAccuracy  the share of elements with (p > 0.5) = (y > 0.5)
//   topK            the share of rows whose target class is among the k largest outputs (k 5)
//   mae, mse        mean absolute / squared error over the elements
//   bce             binary cross-entropy of probabilities over the elements (p clamped to
//                   [1e-7, 1 − 1e-7])
//   crossEntropy    −Σ_c y_c log p_c per row, on probabilities (p clamped to ≥ 1e-7), in nats
//
// Metrics see the predictions as predict() returns them: a softmax / sigmoid that fit fuses into
// its loss is applied for them.
import { CellstateRangeError, CellstateTypeError, ErrorCode, describe } from '../errors';

/** The name of a built-in metric. */
export type MetricName =
  'accuracy' | 'binaryAccuracy' | 'topK' | 'mae' | 'mse' | 'bce' | 'crossEntropy';

/** What a metric sees of one batch: rows of predictions and targets, and which rows count. */
export interface MetricBatch {
  /**
   * Predictions as predict() gives them (probabilities after a softmax / sigmoid), `rows × cols`
   * row-major. Rows are time-major `[T, B]` for a per-step output, else `[B]`.
   */
  readonly pred: Float32Array;
  /** Target values `rows × cols`, or null when the targets are class indices. */
  readonly target: Float32Array | null;
  /** Class indices, one per row, or null when the targets are values. */
  readonly indices: Int32Array | null;
  readonly rows: number;
  readonly cols: number;
  /** Per row: 1 when it counts, 0 for a padded step; null when every row counts. */
  readonly mask: Uint8Array | null;
  /** Rows that count (the mask's sum, or rows). */
  readonly count: number;
}

/**
 * A custom metric as an object: `update` is called with each batch, `result` at the end of an
 * epoch (or of evaluate), `reset` before each epoch / evaluation starts.
 */
export interface MetricObject {
  /** Its key in History.metrics and in the progress bar; not 'loss'. */
  readonly name: string;
  update(batch: MetricBatch): void;
  result(): number;
  reset(): void;
}

/**
 * A custom metric as a function: the mean over the rows of the batch that count (`batch.mask`);
 * the epoch's value is the mean of the batches' values weighted by `batch.count`. Its key is
 * the function's name.
 */
export type MetricFunction = (batch: MetricBatch) => number;

/** A metric: a built-in by name, topK with its k, a function or an object. */
export type MetricSpec = MetricName | { name: 'topK'; k: number } | MetricFunction | MetricObject;

/** @internal A resolved metric. */
export interface Metric {
  readonly key: string;
  update(batch: MetricBatch): void;
  result(): number;
  reset(): void;
}

const NAMES: readonly MetricName[] = [
  'accuracy',
  'binaryAccuracy',
  'topK',
  'mae',
  'mse',
  'bce',
  'crossEntropy',
];

/** A mean of per-unit values, summed in double. */
abstract class Mean implements Metric {
  abstract readonly key: string;
  protected sum = 0;
  protected n = 0;
  abstract update(b: MetricBatch): void;
  result(): number {
    return this.n > 0 ? this.sum / this.n : NaN;
  }
  reset(): void {
    this.sum = 0;
    this.n = 0;
  }
}

function argmax(p: Float32Array | Int32Array, off: number, n: number): number {
  let k = 0;
  for (let j = 1; j < n; ++j) if (p[off + j] > p[off + k]) k = j;
  return k;
}

function targetClass(b: MetricBatch, r: number): number {
  return b.indices ? b.indices[r] : argmax(b.target as Float32Array, r * b.cols, b.cols);
}

class Accuracy extends Mean {
  readonly key = 'accuracy';
  update(b: MetricBatch): void {
    for (let r = 0; r < b.rows; ++r) {
      if (b.mask && !b.mask[r]) continue;
      this.sum += argmax(b.pred, r * b.cols, b.cols) === targetClass(b, r) ? 1 : 0;
      this.n++;
    }
  }
}

class BinaryAccuracy extends Mean {
  constructor(readonly key: string) {
    super();
  }
  update(b: MetricBatch): void {
    const y = values(b, this.key);
    for (let r = 0; r < b.rows; ++r) {
      if (b.mask && !b.mask[r]) continue;
      for (let j = r * b.cols; j < (r + 1) * b.cols; ++j)
        this.sum += b.pred[j] > 0.5 === y[j] > 0.5 ? 1 : 0;
      this.n += b.cols;
    }
  }
}

class TopK extends Mean {
  readonly key = 'topK';
  constructor(readonly k: number) {
    super();
  }
  update(b: MetricBatch): void {
    for (let r = 0; r < b.rows; ++r) {
      if (b.mask && !b.mask[r]) continue;
      const off = r * b.cols;
      const c = targetClass(b, r);
      const v = b.pred[off + c];
      // rank of the target: outputs strictly larger, plus equal ones before it (a stable order)
      let above = 0;
      for (let j = 0; j < b.cols; ++j) {
        const p = b.pred[off + j];
        if (p > v || (p === v && j < c)) above++;
      }
      this.sum += above < this.k && v === v ? 1 : 0;
      this.n++;
    }
  }
}

class Elementwise extends Mean {
  constructor(
    readonly key: string,
    private readonly f: (p: number, y: number) => number,
  ) {
    super();
  }
  update(b: MetricBatch): void {
    const y = values(b, this.key);
    for (let r = 0; r < b.rows; ++r) {
      if (b.mask && !b.mask[r]) continue;
      for (let j = r * b.cols; j < (r + 1) * b.cols; ++j) this.sum += this.f(b.pred[j], y[j]);
      this.n += b.cols;
    }
  }
}

class CategoricalCrossEntropy extends Mean {
  readonly key = 'crossEntropy';
  update(b: MetricBatch): void {
    for (let r = 0; r < b.rows; ++r) {
      if (b.mask && !b.mask[r]) continue;
      const off = r * b.cols;
      if (b.indices) {
        this.sum -= Math.log(Math.max(b.pred[off + b.indices[r]], EPS));
      } else {
        const y = b.target as Float32Array;
        for (let j = off; j < off + b.cols; ++j)
          if (y[j] !== 0) this.sum -= y[j] * Math.log(Math.max(b.pred[j], EPS));
      }
      this.n++;
    }
  }
}

const EPS = 1e-7;

function values(b: MetricBatch, key: string): Float32Array {
  if (!b.target)
    throw new CellstateTypeError(
      ErrorCode.INVALID_ARG,
      `metrics: '${key}' compares values; the targets are class indices (use 'accuracy', 'topK' or 'crossEntropy')`,
    );
  return b.target;
}

class FunctionMetric extends Mean {
  constructor(
    readonly key: string,
    private readonly fn: MetricFunction,
  ) {
    super();
  }
  update(b: MetricBatch): void {
    if (b.count === 0) return;
    const v = this.fn(b);
    if (typeof v !== 'number')
      throw new CellstateTypeError(
        ErrorCode.INVALID_ARG,
        `metrics: the function '${this.key}' must return a number, got ${describe(v)}`,
      );
    this.sum += v * b.count;
    this.n += b.count;
  }
}

/**
 * @internal The metrics of `specs` (validated: known names, topK's k an integer ≥ 1, unique
 * keys). `binary`: 'accuracy' means binaryAccuracy (a binaryCrossEntropy loss, or one output).
 */
export function resolveMetrics(specs: unknown, where: string, binary: boolean): Metric[] {
  if (specs === undefined) return [];
  if (!Array.isArray(specs))
    throw new CellstateTypeError(
      ErrorCode.INVALID_ARG,
      `${where}: metrics must be an array of metric names, functions or { name, update, result, reset } objects, got ${describe(specs)}`,
    );
  const out: Metric[] = [];
  const seen = new Set<string>(['loss']);
  specs.forEach((s: unknown, i) => {
    const m = resolveOne(s, `${where}: metrics[${i}]`, binary);
    if (seen.has(m.key))
      throw new CellstateTypeError(
        ErrorCode.INVALID_ARG,
        `${where}: metrics[${i}] is named '${m.key}', ${m.key === 'loss' ? 'which is the loss' : 'as an earlier metric'}; give each metric its own name`,
      );
    seen.add(m.key);
    out.push(m);
  });
  return out;
}

function resolveOne(s: unknown, where: string, binary: boolean): Metric {
  if (typeof s === 'string') {
    switch (s as MetricName) {
      case 'accuracy':
        return binary ? new BinaryAccuracy('accuracy') : new Accuracy();
      case 'binaryAccuracy':
        return new BinaryAccuracy('binaryAccuracy');
      case 'topK':
        return new TopK(5);
      case 'mae':
        return new Elementwise('mae', (p, y) => Math.abs(p - y));
      case 'mse':
        return new Elementwise('mse', (p, y) => (p - y) * (p - y));
      case 'bce':
        return new Elementwise('bce', (p, y) => {
          const q = Math.min(Math.max(p, EPS), 1 - EPS);
          return -(y * Math.log(q) + (1 - y) * Math.log(1 - q));
        });
      case 'crossEntropy':
        return new CategoricalCrossEntropy();
    }
    throw new CellstateTypeError(
      ErrorCode.INVALID_ARG,
      `${where} must be one of ${NAMES.map((n) => `'${n}'`).join(', ')}, a function or a metric object, got ${describe(s)}`,
    );
  }
  if (typeof s === 'function') {
    const key = (s as { name?: string }).name;
    if (!key)
      throw new CellstateTypeError(
        ErrorCode.INVALID_ARG,
        `${where}: a metric function needs a name (use a named function, or an object { name, update, result, reset })`,
      );
    return new FunctionMetric(key, s as MetricFunction);
  }
  if (s !== null && typeof s === 'object') {
    const o = s as Partial<MetricObject> & { k?: unknown };
    if (o.name === 'topK' && typeof o.update !== 'function') {
      const k = o.k;
      if (typeof k !== 'number' || !Number.isInteger(k) || k < 1)
        throw new CellstateRangeError(
          ErrorCode.INVALID_ARG,
          `${where}: topK's k must be an integer ≥ 1, got ${describe(k)}`,
        );
      return new TopK(k);
    }
    if (
      typeof o.name === 'string' &&
      o.name !== '' &&
      typeof o.update === 'function' &&
      typeof o.result === 'function' &&
      typeof o.reset === 'function'
    ) {
      const obj = s as MetricObject;
      return {
        key: obj.name,
        update: (b) => obj.update(b),
        result: () => {
          const v = obj.result();
          if (typeof v !== 'number')
            throw new CellstateTypeError(
              ErrorCode.INVALID_ARG,
              `metrics: '${obj.name}'.result() must return a number, got ${describe(v)}`,
            );
          return v;
        },
        reset: () => obj.reset(),
      };
    }
  }
  throw new CellstateTypeError(
    ErrorCode.INVALID_ARG,
    `${where} must be one of ${NAMES.map((n) => `'${n}'`).join(', ')}, { name: 'topK', k }, a named function or an object { name, update, result, reset }, got ${describe(s)}`,
  );
}

/** @internal Checks a topK's k and the class indices against the output size before training. */
export function checkMetricsFor(metrics: Metric[], where: string, cols: number): void {
  for (const m of metrics)
    if (m instanceof TopK && m.k > cols)
      throw new CellstateRangeError(
        ErrorCode.INVALID_ARG,
        `${where}: topK's k (${m.k}) exceeds the model's ${cols} outputs`,
      );
}

/** @internal The current results by key. */
export function metricResults(metrics: Metric[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of metrics) out[m.key] = m.result();
  return out;
}

/** @internal Rows of a mask that count. */
export function countOf(rows: number, mask: Uint8Array | null): number {
  if (!mask) return rows;
  let n = 0;
  for (let r = 0; r < rows; ++r) n += mask[r];
  return n;
}
