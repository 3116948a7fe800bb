// Learning-rate schedules: lr = base lr × factor(i), where i counts epochs (every: 'epoch', the
// default) or optimizer updates (every: 'step') from 0.
import { CellstateTypeError, ErrorCode } from '../errors';
import { OptionReader } from '../options';

/** When a schedule advances. */
export type ScheduleUnit = 'epoch' | 'step';

/** A learning-rate schedule: a factor on the optimizer's base learning rate. */
export interface Schedule {
  /** Whether `factor` is indexed by epochs or by optimizer updates. */
  readonly every: ScheduleUnit;
  /** The factor at index i (0 for the first epoch or update). */
  factor(i: number): number;
}

const UNITS: readonly ScheduleUnit[] = ['epoch', 'step'];

/** Options of StepDecay. */
export interface StepDecayOptions {
  /** Epochs (or updates) between decays; an integer ≥ 1. Required. */
  stepSize: number;
  /** Factor applied at each decay, in (0, 1]. Default 0.1. */
  gamma?: number | undefined;
  /** Default 'epoch'. */
  every?: ScheduleUnit | undefined;
}

/** factor = gamma^floor(i / stepSize), as torch.optim.lr_scheduler.StepLR. */
export class StepDecay implements Schedule {
  readonly every: ScheduleUnit;
  readonly stepSize: number;
  readonly gamma: number;

  constructor(options: StepDecayOptions) {
    const r = new OptionReader(options, 'StepDecay', ['stepSize', 'gamma', 'every']);
    this.stepSize = r.int('stepSize', 1, Number.MAX_SAFE_INTEGER);
    this.gamma = r.number('gamma', Number.MIN_VALUE, 1, 0.1, true);
    this.every = r.choice('every', UNITS, 'epoch');
  }

  factor(i: number): number {
    return Math.pow(this.gamma, Math.floor(i / this.stepSize));
  }
}

/** Options of ExponentialDecay. */
export interface ExponentialDecayOptions {
  /** Factor per epoch (or update), in (0, 1]. Required. */
  gamma: number;
  /** Default 'epoch'. */
  every?: ScheduleUnit | undefined;
}

/** factor = gamma^i, as torch.optim.lr_scheduler.ExponentialLR. */
export class ExponentialDecay implements Schedule {
  readonly every: ScheduleUnit;
  readonly gamma: number;

  constructor(options: ExponentialDecayOptions) {
    const r = new OptionReader(options, 'ExponentialDecay', ['gamma', 'every']);
    if (r.raw('gamma') === undefined)
      throw new CellstateTypeError(
        ErrorCode.INVALID_OPTION,
        'ExponentialDecay: gamma is required (a number in (0, 1])',
      );
    this.gamma = r.number('gamma', Number.MIN_VALUE, 1, 1, true);
    this.every = r.choice('every', UNITS, 'epoch');
  }

  factor(i: number): number {
    return Math.pow(this.gamma, i);
  }
}

/** Options of CosineDecay. */
export interface CosineDecayOptions {
  /** Epochs (or updates) from the base rate down to the minimum; an integer ≥ 1. Required. */
  period: number;
  /** The factor at the end of the period (and after it), in [0, 1]. Default 0. */
  minFactor?: number | undefined;
  /** Epochs (or updates) of linear warm-up from 0 before the decay starts; an integer ≥ 0. Default 0. */
  warmup?: number | undefined;
  /** Default 'epoch'. */
  every?: ScheduleUnit | undefined;
}

/** Cosine annealing (as torch.optim.lr_scheduler.CosineAnnealingLR, without restarts), optionally after a linear warm-up. */
export class CosineDecay implements Schedule {
  readonly every: ScheduleUnit;
  readonly period: number;
  readonly minFactor: number;
  readonly warmup: number;

  constructor(options: CosineDecayOptions) {
    const r = new OptionReader(options, 'CosineDecay', ['period', 'minFactor', 'warmup', 'every']);
    this.period = r.int('period', 1, Number.MAX_SAFE_INTEGER);
    this.minFactor = r.number('minFactor', 0, 1, 0, true);
    this.warmup = r.int('warmup', 0, Number.MAX_SAFE_INTEGER, 0);
    this.every = r.choice('every', UNITS, 'epoch');
  }

  factor(i: number): number {
    if (i < this.warmup) return (i + 1) / (this.warmup + 1);
    const k = Math.min(i - this.warmup, this.period);
    return (
      this.minFactor + ((1 - this.minFactor) * (1 + Math.cos((Math.PI * k) / this.period))) / 2
    );
  }
}
