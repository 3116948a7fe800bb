// Callbacks for fit: ModelCheckpoint saves the model after an epoch (every epoch, or when a
// monitored value improves), through save()'s atomic write.
import { CellstateTypeError, ErrorCode, describe } from '../errors';
import { save } from '../io/file';
import type { Sequential } from '../model/sequential';
import { OptionReader } from '../options';
import type { EpochEndInfo, FitCallbacks } from './fit';
import { Optimizer } from './optimizers';

/** Options of ModelCheckpoint. */
export interface ModelCheckpointOptions {
  /**
   * The file written (a cellstate file, as save). `{epoch}` in it is replaced by the 1-based
   * epoch number, to keep one file per saved epoch. Required.
   */
  path: string;
  /**
   * The value watched: 'loss', 'valLoss', a metric's key ('accuracy': on the training batches)
   * or 'val' + its key capitalized ('valAccuracy', 'valTopK': on the validation data). Default
   * 'valLoss' when the epoch has a validation loss, else 'loss'.
   */
  monitor?: string | undefined;
  /**
   * 'min': lower is better; 'max': higher is better; 'auto': 'max' for accuracy, binaryAccuracy
   * and topK (training or validation), 'min' for the rest. Default 'auto'.
   */
  mode?: 'min' | 'max' | 'auto' | undefined;
  /** Save only when the monitored value improves on the best so far; false: after every epoch. Default true. */
  saveBestOnly?: boolean | undefined;
  /** An improvement must beat the best by more than this, ≥ 0. Default 0. */
  minDelta?: number | undefined;
  /** Also store this optimizer's state in the file (save's `optimizer`), to resume training exactly. Default: none. */
  optimizer?: Optimizer | undefined;
}

const MAXIMIZED = ['accuracy', 'binaryAccuracy', 'topK'];

/**
 * Saves `model` from fit's onEpochEnd: pass it in `callbacks` (alone or in a list). Each write
 * is atomic (a new file renamed over the old one; see save), so a crash mid-save leaves the
 * previous checkpoint whole. A NaN monitored value is never an improvement. An epoch without the
 * monitored value (e.g. 'valLoss' without validation data) makes fit reject with
 * ERR_CELLSTATE_INVALID_ARG.
 */
export class ModelCheckpoint implements FitCallbacks {
  /** The resolved options. */
  readonly path: string;
  readonly monitor: string | null;
  readonly mode: 'min' | 'max' | 'auto';
  readonly saveBestOnly: boolean;
  readonly minDelta: number;
  /** The best monitored value so far (±Infinity before the first epoch). */
  best: number;
  /** The 0-based epoch of the best value, or null. */
  bestEpoch: number | null = null;
  /** Paths written, in order. */
  readonly saved: string[] = [];
  private readonly model: Sequential;
  private readonly optimizer: Optimizer | undefined;
  private direction: 'min' | 'max' | null = null;

  constructor(model: Sequential, options: ModelCheckpointOptions) {
    const where = 'ModelCheckpoint';
    if (model === null || typeof model !== 'object' || typeof model.parameters !== 'function')
      throw new CellstateTypeError(
        ErrorCode.INVALID_ARG,
        `${where}: model must be the Sequential being trained, got ${describe(model)}`,
      );
    const r = new OptionReader(
      options,
      where,
      ['path', 'monitor', 'mode', 'saveBestOnly', 'minDelta', 'optimizer'],
      ErrorCode.INVALID_ARG,
    );
    const path = r.raw('path');
    if (typeof path !== 'string' || path === '')
      throw new CellstateTypeError(
        ErrorCode.INVALID_ARG,
        `${where}: path must be a non-empty string, got ${describe(path)}`,
      );
    const monitor = r.raw('monitor');
    if (monitor !== undefined && (typeof monitor !== 'string' || monitor === ''))
      throw new CellstateTypeError(
        ErrorCode.INVALID_ARG,
        `${where}: monitor must be 'loss', 'valLoss' or a metric's key, got ${describe(monitor)}`,
      );
    this.path = path;
    this.monitor = (monitor as string | undefined) ?? null;
    this.mode = r.choice('mode', ['min', 'max', 'auto'] as const, 'auto');
    this.saveBestOnly = r.bool('saveBestOnly', true);
    this.minDelta = r.number('minDelta', 0, Number.MAX_VALUE, 0, true);
    const optimizer = r.raw('optimizer');
    if (optimizer !== undefined && !(optimizer instanceof Optimizer))
      throw new CellstateTypeError(
        ErrorCode.INVALID_ARG,
        `${where}: optimizer must be an Optimizer instance (the one fit uses), got ${describe(optimizer)}`,
      );
    this.optimizer = optimizer;
    this.model = model;
    this.best = NaN;
  }

  /** The monitored key for this epoch's values, and its value. */
  private read(info: EpochEndInfo): { key: string; value: number } {
    const key = this.monitor ?? (info.valLoss !== undefined ? 'valLoss' : 'loss');
    let value: number | undefined;
    if (key === 'loss') value = info.loss;
    else if (key === 'valLoss') value = info.valLoss;
    else if (key in info.metrics) value = info.metrics[key];
    else if (/^val[A-Z]/.test(key) && info.valMetrics) {
      const m = key[3].toLowerCase() + key.slice(4);
      value = m in info.valMetrics ? info.valMetrics[m] : info.valMetrics[key.slice(3)];
    }
    if (value === undefined) {
      const known = ['loss', ...(info.valLoss !== undefined ? ['valLoss'] : [])];
      for (const k of Object.keys(info.metrics)) known.push(k);
      for (const k of Object.keys(info.valMetrics ?? {}))
        known.push(`val${k[0].toUpperCase()}${k.slice(1)}`);
      throw new CellstateTypeError(
        ErrorCode.INVALID_ARG,
        `ModelCheckpoint: monitor '${key}' is not among this epoch's values (${known.join(', ')})`,
      );
    }
    return { key, value };
  }

  /** fit calls it after each epoch. */
  async onEpochEnd(info: EpochEndInfo): Promise<void> {
    const { key, value } = this.read(info);
    if (this.direction === null) {
      const base = /^val[A-Z]/.test(key) ? key[3].toLowerCase() + key.slice(4) : key;
      this.direction =
        this.mode === 'auto' ? (MAXIMIZED.includes(base) ? 'max' : 'min') : this.mode;
      this.best = this.direction === 'min' ? Infinity : -Infinity;
    }
    const better =
      this.direction === 'min'
        ? value < this.best - this.minDelta
        : value > this.best + this.minDelta;
    if (better) {
      this.best = value;
      this.bestEpoch = info.epoch;
    }
    if (this.saveBestOnly && !better) return;
    const file = this.path.split('{epoch}').join(String(info.epoch + 1));
    await save(this.model, file, this.optimizer ? { optimizer: this.optimizer } : undefined);
    this.saved.push(file);
  }
}
