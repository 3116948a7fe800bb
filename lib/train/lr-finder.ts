// The learning-rate range test (Smith 2017, "Cyclical learning rates"; fastai's lr_find): train
// for a number of updates with the learning rate growing exponentially from minLr to maxLr,
// record the loss of each update, stop when it diverges, and put the model back as it was. The
// curve falls while the rate is useful and shoots up once it is too large; the suggested rate is
// where the smoothed loss falls fastest.
import { CellstateRangeError, CellstateTypeError, ErrorCode, describe } from '../errors';
import { isBatchIterable } from '../data/dataset';
import type { Sequential } from '../model/sequential';
import { OptionReader } from '../options';
import type { Tensor } from '../tensor';
import type { TrainingData } from './fit';
import type { Loss, LossName } from './losses';
import { type Optimizer, type OptimizerName, resolveOptimizer } from './optimizers';
import { formatLoss } from './progress';
import { plotSvg } from './plot';

/** Options of lrFinder. */
export interface LrFinderOptions {
  /** The loss, as fit's. Required. */
  loss: LossName | Loss;
  /**
   * 'adam' (default), 'adamw', 'sgd', 'rmsprop', or an instance whose type and options are
   * copied (the instance itself is not stepped). Its lr is replaced by the sweep's.
   */
  optimizer?: OptimizerName | Optimizer | undefined;
  /** The first learning rate, > 0. Default 1e-7. */
  minLr?: number | undefined;
  /** The last learning rate, > minLr. Default 10. */
  maxLr?: number | undefined;
  /** Updates in the sweep (the rate grows by (maxLr / minLr)^(1 / (steps − 1)) each), an integer ≥ 2. Default 100. */
  steps?: number | undefined;
  /** Sequences per batch of a dataset in memory. Default 32. */
  batchSize?: number | undefined;
  /** Exponential smoothing of the loss, in [0, 1). Default 0.98 (bias-corrected, as fastai). */
  smoothing?: number | undefined;
  /** Stop when the smoothed loss exceeds this many times its minimum, > 1. Default 4. */
  divergeFactor?: number | undefined;
  /** Seed of the shuffling of a dataset in memory. Default: random. */
  seed?: number | undefined;
  /** Aborting stops the sweep (the model is put back) with an AbortError. */
  signal?: AbortSignal | undefined;
}

/** What lrFinder resolves to. */
export interface LrFinderResult {
  /** The learning rate of each update. */
  lr: number[];
  /** The loss of each update. */
  loss: number[];
  /** The smoothed loss of each update. */
  smoothed: number[];
  /**
   * The rate where the smoothed loss falls fastest (per decade of the rate, over a window of a
   * tenth of the points), before its minimum; a starting point for fit's lr, not a guarantee.
   */
  suggested: number;
  /** 'diverged': stopped by divergeFactor or a non-finite loss; 'completed': reached maxLr; 'dataExhausted': the data ran out. */
  stopReason: 'diverged' | 'completed' | 'dataExhausted';
}

/**
 * Sweeps the learning rate over `steps` updates of fit on `data` (in memory or batch by batch,
 * as fit takes it), then restores the model's parameters: the model is as before when the
 * promise settles, whether it resolves or rejects.
 */
export async function lrFinder(
  model: Sequential,
  data: TrainingData,
  options: LrFinderOptions,
): Promise<LrFinderResult> {
  const where = 'lrFinder';
  const o = new OptionReader(
    options,
    where,
    [
      'loss',
      'optimizer',
      'minLr',
      'maxLr',
      'steps',
      'batchSize',
      'smoothing',
      'divergeFactor',
      'seed',
      'signal',
    ],
    ErrorCode.INVALID_ARG,
  );
  if (o.raw('loss') === undefined)
    throw new CellstateTypeError(ErrorCode.INVALID_ARG, `${where}: loss is required`);
  const minLr = o.number('minLr', Number.MIN_VALUE, Number.MAX_VALUE, 1e-7, true);
  const maxLr = o.number('maxLr', Number.MIN_VALUE, Number.MAX_VALUE, 10, true);
  if (!(maxLr > minLr))
    throw new CellstateRangeError(
      ErrorCode.INVALID_ARG,
      `${where}: maxLr (${maxLr}) must be greater than minLr (${minLr})`,
    );
  const steps = o.int('steps', 2, 1 << 24, 100);
  const beta = o.number('smoothing', 0, 1, 0.98);
  const divergeFactor = o.number('divergeFactor', 1, Number.MAX_VALUE, 4);
  if (divergeFactor === 1)
    throw new CellstateRangeError(
      ErrorCode.INVALID_ARG,
      `${where}: divergeFactor must be a number > 1, got 1`,
    );
  const given = resolveOptimizer(o.raw('optimizer'), where);
  // a fresh optimizer of the same type and options: the caller's is never stepped
  const optimizer = new (given.constructor as new (opts: unknown) => Optimizer)({
    ...given.options,
    lr: minLr,
  });
  if (model === null || typeof model !== 'object' || typeof model.fit !== 'function')
    throw new CellstateTypeError(
      ErrorCode.INVALID_ARG,
      `${where}: model must be a Sequential, got ${describe(model)}`,
    );
  const ratio = maxLr / minLr;
  const result: LrFinderResult = {
    lr: [],
    loss: [],
    smoothed: [],
    suggested: NaN,
    stopReason: 'completed',
  };
  let avg = 0;
  let best = Infinity;
  const saved: Record<string, Tensor> = model.parameters();
  const iterable = isBatchIterable(data);
  const fitOptions = {
    loss: o.raw('loss') as LossName | Loss,
    optimizer,
    epochs: iterable ? 1 : Number.MAX_SAFE_INTEGER,
    ...(iterable ? { stepsPerEpoch: steps } : { batchSize: o.raw('batchSize') as number }),
    ...(o.raw('seed') !== undefined ? { seed: o.raw('seed') as number } : {}),
    ...(o.raw('signal') !== undefined ? { signal: o.raw('signal') as AbortSignal } : {}),
    maxSteps: steps,
    nanPolicy: 'skip' as const,
    verbose: 0 as const,
    schedule: { every: 'step' as const, factor: (i: number) => ratio ** (i / (steps - 1)) },
    callbacks: {
      onBatchEnd: (info: { loss: number; lr: number }) => {
        if (!Number.isFinite(info.loss)) {
          result.stopReason = 'diverged';
          return false;
        }
        const k = result.loss.length + 1;
        avg = beta * avg + (1 - beta) * info.loss;
        const smooth = avg / (1 - beta ** k);
        result.lr.push(info.lr);
        result.loss.push(info.loss);
        result.smoothed.push(smooth);
        if (smooth < best) best = smooth;
        if (k > 1 && smooth > divergeFactor * best) {
          result.stopReason = 'diverged';
          return false;
        }
        return true;
      },
    },
  };
  let failure: { error: unknown } | null = null;
  try {
    const h = await model.fit(data, fitOptions);
    if (h.stopReason === 'dataExhausted') result.stopReason = 'dataExhausted';
  } catch (error) {
    failure = { error };
  }
  // the model as it was, whatever happened (a fit refused as busy changed nothing, and its
  // error is the one reported)
  try {
    if (!model.disposed) model.setParameters(saved);
  } catch (error) {
    failure ??= { error };
  }
  if (failure) throw failure.error;
  result.suggested = suggest(result);
  return result;
}

/**
 * Where the smoothed loss falls fastest per decade of the rate, up to its minimum: the slope over
 * a window of a tenth of the points (single steps are noise), the first window skipped (the
 * bias-corrected start of the smoothing is the noisiest); with too few points, the minimum's
 * rate / 10.
 */
function suggest(r: LrFinderResult): number {
  const s = r.smoothed;
  if (s.length === 0) return NaN;
  let m = 0;
  for (let i = 1; i < s.length; ++i) if (s[i] < s[m]) m = i;
  const w = Math.max(1, Math.floor(s.length / 10));
  if (m < 2 * w) return r.lr[m] / 10;
  let k = -1;
  let steepest = 0;
  for (let i = 2 * w; i <= m; ++i) {
    const slope = (s[i] - s[i - w]) / (Math.log10(r.lr[i]) - Math.log10(r.lr[i - w]));
    if (slope < steepest) {
      steepest = slope;
      k = i - Math.floor(w / 2); // the middle of the window
    }
  }
  return k >= 0 ? r.lr[k] : r.lr[m] / 10;
}

/** Options of lrFinderSvg. */
export interface LrFinderSvgOptions {
  /** Default 'Learning-rate finder'. */
  title?: string | undefined;
}

/**
 * The curve of an lrFinder result as an SVG document, in the demo's style: the loss and the
 * smoothed loss over the learning rate (log scale), the suggested rate marked.
 */
export function lrFinderSvg(result: LrFinderResult, options?: LrFinderSvgOptions): string {
  const r = new OptionReader(options, 'lrFinderSvg', ['title'], ErrorCode.INVALID_ARG);
  const title = r.raw('title') ?? 'Learning-rate finder';
  if (typeof title !== 'string')
    throw new CellstateTypeError(
      ErrorCode.INVALID_ARG,
      `lrFinderSvg: title must be a string, got ${describe(title)}`,
    );
  if (
    result === null ||
    typeof result !== 'object' ||
    !Array.isArray(result.lr) ||
    result.lr.length === 0 ||
    result.lr.length !== result.loss.length ||
    result.lr.length !== result.smoothed.length
  )
    throw new CellstateTypeError(
      ErrorCode.INVALID_ARG,
      `lrFinderSvg: result must be what lrFinder returned, with at least one point, got ${describe(result)}`,
    );
  const lo = Math.min(...result.smoothed, ...result.loss);
  const first = result.smoothed[0];
  // the interesting part: from the minimum to a little above the starting loss
  const hi = Math.max(first * 1.25, lo + 1e-12);
  const xMin = 10 ** Math.floor(Math.log10(result.lr[0]));
  const xMax = 10 ** Math.ceil(Math.log10(result.lr[result.lr.length - 1]));
  const span = hi - lo;
  const yMin = Math.max(0, lo - 0.05 * span);
  const yTicks = [0, 1, 2, 3, 4, 5].map((i) =>
    Number((yMin + ((hi - yMin) * i) / 5).toPrecision(3)),
  );
  const points = (ys: number[]) => result.lr.map((x, i) => [x, ys[i]] as const);
  return plotSvg([
    {
      title,
      x: { label: 'learning rate (log scale)', min: xMin, max: xMax, log: true },
      y: { label: 'training loss', min: yMin, max: hi, ticks: yTicks },
      series: [
        { label: 'loss per update', color: '#bbbbbb', points: points(result.loss) },
        { label: 'smoothed', color: '#1b9e77', points: points(result.smoothed) },
      ],
      refs: Number.isFinite(result.suggested)
        ? [{ x: result.suggested, label: `suggested ${formatLoss(result.suggested)}`, dash: '2 3' }]
        : [],
    },
  ]);
}
