// Optimizers (PyTorch's update rules, names and defaults) and gradient clipping. An update runs
// over flat Float32Array parameter buffers (one per layer) in place: the optimizer's state is
// allocated once per buffer, then nothing is allocated per step.
import { CellstateRangeError, CellstateTypeError, ErrorCode, describe } from '../errors';
import type { ParamSlot } from '../layers/params';
import { OptionReader } from '../options';

/** Parameters and gradients of one layer: flat buffers of one layout, with named slots. */
export interface ParameterGroup {
  readonly values: Float32Array;
  readonly grads: Float32Array;
  /** Names (prefixed by the layer index in a Sequential), shapes, offsets and sizes. */
  readonly entries: readonly ParamSlot[];
}

/** The name of a built-in optimizer. */
export type OptimizerName = 'sgd' | 'adam' | 'adamw' | 'rmsprop';

/**
 * An optimizer's state, exportable (to save training and resume it): the options, the step
 * count and, per parameter name, its buffers under PyTorch's names (`exp_avg`, `exp_avg_sq`,
 * `momentum_buffer`, `square_avg`).
 */
export interface OptimizerState {
  type: OptimizerName;
  options: Record<string, number | boolean>;
  /** Updates done so far. */
  step: number;
  /** Per parameter name, its buffers by name. */
  buffers: Record<string, Record<string, Float32Array>>;
}

/**
 * The most steps an optimizer state may count: 2^40 (a step per microsecond for 12 days).
 * A larger step count (from a file or loadState) is refused as corrupt.
 */
export const MAX_OPTIMIZER_STEP = 2 ** 40;

/** The buffers each optimizer keeps per parameter (PyTorch's names). */
export const OPTIMIZER_BUFFERS: Readonly<Record<OptimizerName, readonly string[]>> = Object.freeze({
  sgd: ['momentum_buffer'],
  adam: ['exp_avg', 'exp_avg_sq'],
  adamw: ['exp_avg', 'exp_avg_sq'],
  rmsprop: ['square_avg', 'momentum_buffer'],
});

/** Buffers holding running averages of squares, which are never negative. */
const NON_NEGATIVE_BUFFERS: ReadonlySet<string> = new Set(['exp_avg_sq', 'square_avg']);

/**
 * What is wrong with a step count of a saved state, or null: a safe integer in
 * [0, MAX_OPTIMIZER_STEP].
 */
export function stepProblem(step: unknown): string | null {
  if (typeof step !== 'number' || !Number.isSafeInteger(step) || step < 0)
    return `step must be an integer ≥ 0, got ${describe(step)}`;
  if (step > MAX_OPTIMIZER_STEP)
    return `step must be at most ${MAX_OPTIMIZER_STEP} (MAX_OPTIMIZER_STEP), got ${step}`;
  return null;
}

/**
 * What is wrong with buffer `name` of a `type` optimizer's saved state, or null: the name must
 * be one of OPTIMIZER_BUFFERS[type], every value finite, and running averages of squares
 * (`exp_avg_sq`, `square_avg`) ≥ 0.
 */
export function bufferProblem(
  type: OptimizerName,
  name: string,
  data: Float32Array,
): string | null {
  const known = OPTIMIZER_BUFFERS[type];
  if (!known.includes(name))
    return `'${name.length > 40 ? `${name.slice(0, 40)}…` : name}' is not a buffer of ${type} (it keeps ${known.map((k) => `'${k}'`).join(', ')})`;
  const nonNegative = NON_NEGATIVE_BUFFERS.has(name);
  for (let i = 0; i < data.length; ++i) {
    const v = data[i];
    if (!Number.isFinite(v))
      return `'${name}' holds ${v} at index ${i}; every value must be finite`;
    if (nonNegative && v < 0)
      return `'${name}' holds ${v} at index ${i}; a running average of squares is never negative`;
  }
  return null;
}

interface Bound {
  group: ParameterGroup;
  buffers: Float32Array[]; // one per buffer name, the group's size
  signature: string; // the group's parameter names and sizes
}

function signatureOf(g: ParameterGroup): string {
  return g.entries.map((e) => `${e.name}:${e.offset}:${e.size}`).join(',');
}

/** The common base: state per parameter group, allocated on first use. */
export abstract class Optimizer {
  abstract readonly type: OptimizerName;
  /** The base learning rate (a schedule scales it per epoch or step). */
  lr: number;
  /** Updates done so far. */
  steps = 0;
  /** Names of this optimizer's per-parameter buffers. */
  protected abstract readonly bufferNames: readonly string[];
  private bound: Bound[] = [];
  private pending: OptimizerState['buffers'] | null = null;

  protected constructor(lr: number) {
    this.lr = lr;
  }

  /** The resolved options, plain JSON (lr included). */
  abstract get options(): Record<string, number | boolean>;

  /** @internal Applies one update to the group's values in place (buffers as bufferNames). */
  protected abstract update(
    g: ParameterGroup,
    buffers: Float32Array[],
    lr: number,
    t: number,
  ): void;

  /**
   * One update of every group, from its gradients, with learning rate `lr` (default: this.lr).
   * The first step on a group allocates its state; later steps allocate nothing.
   */
  step(groups: readonly ParameterGroup[], lr: number = this.lr): void {
    if (!Number.isFinite(lr) || lr < 0)
      throw new CellstateRangeError(
        ErrorCode.INVALID_ARG,
        `step: lr must be a finite number ≥ 0, got ${lr}`,
      );
    this.steps++;
    for (let i = 0; i < groups.length; ++i)
      this.update(groups[i], this.buffersFor(i, groups[i]), lr, this.steps);
  }

  // The state of group i, kept while the group has the same parameters (names and sizes), even
  // when its buffers are new arrays (a later fit call on the same model): only a different
  // model's group starts from zero.
  private buffersFor(i: number, group: ParameterGroup): Float32Array[] {
    const b = this.bound[i];
    if (b && (b.group === group || b.signature === signatureOf(group))) {
      b.group = group;
      return b.buffers;
    }
    const buffers = this.bufferNames.map(() => new Float32Array(group.values.length));
    if (this.pending) {
      for (const e of group.entries) {
        const saved = this.pending[e.name];
        if (!saved) continue;
        this.bufferNames.forEach((name, k) => {
          const v = saved[name];
          if (v && v.length === e.size) buffers[k].set(v, e.offset);
        });
      }
    }
    this.bound[i] = { group, buffers, signature: signatureOf(group) };
    return buffers;
  }

  /** The state (copies), to save and loadState later. */
  state(): OptimizerState {
    const buffers: OptimizerState['buffers'] = {};
    if (this.pending) for (const [k, v] of Object.entries(this.pending)) buffers[k] = { ...v };
    for (const b of this.bound) {
      if (!b) continue;
      for (const e of b.group.entries) {
        const rec: Record<string, Float32Array> = {};
        this.bufferNames.forEach((name, k) => {
          rec[name] = b.buffers[k].slice(e.offset, e.offset + e.size);
        });
        buffers[e.name] = rec;
      }
    }
    return { type: this.type, options: this.options, step: this.steps, buffers };
  }

  /**
   * Restores a state from state(): the step count and buffers (matched to parameters by name
   * on the next step; the options stay this optimizer's). Throws, changing nothing, if the type
   * differs, the step is not an integer in [0, MAX_OPTIMIZER_STEP], or a buffer is not one this
   * type keeps, is not a Float32Array, holds a NaN or infinity, or (`exp_avg_sq`, `square_avg`)
   * a negative value.
   */
  loadState(state: OptimizerState): void {
    if (!state || typeof state !== 'object')
      throw new CellstateTypeError(
        ErrorCode.INVALID_ARG,
        `loadState: state must be an object, got ${describe(state)}`,
      );
    if (state.type !== this.type)
      throw new CellstateTypeError(
        ErrorCode.INVALID_ARG,
        `loadState: the state is of a '${String(state.type)}' optimizer, this one is '${this.type}'`,
      );
    const badStep = stepProblem(state.step);
    if (badStep) throw new CellstateRangeError(ErrorCode.INVALID_ARG, `loadState: ${badStep}`);
    const buffers: OptimizerState['buffers'] = {};
    const given = state.buffers ?? {};
    if (given === null || typeof given !== 'object')
      throw new CellstateTypeError(
        ErrorCode.INVALID_ARG,
        `loadState: buffers must be an object of buffers by parameter name, got ${describe(given)}`,
      );
    for (const [name, rec] of Object.entries(given)) {
      if (rec === null || typeof rec !== 'object')
        throw new CellstateTypeError(
          ErrorCode.INVALID_ARG,
          `loadState: buffers['${name}'] must be an object of Float32Arrays, got ${describe(rec)}`,
        );
      buffers[name] = {};
      for (const [k, v] of Object.entries(rec)) {
        if (!(v instanceof Float32Array))
          throw new CellstateTypeError(
            ErrorCode.INVALID_ARG,
            `loadState: buffers['${name}'].${k} must be a Float32Array, got ${describe(v)}`,
          );
        const bad = bufferProblem(this.type, k, v);
        if (bad)
          throw new CellstateRangeError(
            ErrorCode.INVALID_ARG,
            `loadState: buffers['${name}']: ${bad}`,
          );
        buffers[name][k] = v.slice();
      }
    }
    this.steps = state.step;
    this.pending = buffers;
    this.bound = [];
  }

  /** Forgets the state (step count and buffers). */
  reset(): void {
    this.steps = 0;
    this.bound = [];
    this.pending = null;
  }
}

const lrOption = (r: OptionReader, fallback: number) =>
  r.number('lr', 0, Number.MAX_VALUE, fallback, true);

/** Options of SGD. */
export interface SGDOptions {
  /** Learning rate, ≥ 0. Default 0.01. */
  lr?: number | undefined;
  /** Momentum factor in [0, 1). Default 0. */
  momentum?: number | undefined;
  /** Dampening of the momentum in [0, 1]. Default 0. */
  dampening?: number | undefined;
  /** Nesterov momentum (needs momentum > 0 and dampening 0). Default false. */
  nesterov?: boolean | undefined;
  /** L2 penalty added to the gradient, ≥ 0. Default 0. */
  weightDecay?: number | undefined;
}

/** Stochastic gradient descent with optional (Nesterov) momentum, as torch.optim.SGD. */
export class SGD extends Optimizer {
  readonly type = 'sgd' as const;
  readonly momentum: number;
  readonly dampening: number;
  readonly nesterov: boolean;
  readonly weightDecay: number;
  protected readonly bufferNames: readonly string[];

  constructor(options?: SGDOptions) {
    const r = new OptionReader(options, 'SGD', [
      'lr',
      'momentum',
      'dampening',
      'nesterov',
      'weightDecay',
    ]);
    super(lrOption(r, 0.01));
    this.momentum = r.number('momentum', 0, 1, 0);
    this.dampening = r.number('dampening', 0, 1, 0, true);
    this.nesterov = r.bool('nesterov', false);
    this.weightDecay = r.number('weightDecay', 0, Number.MAX_VALUE, 0, true);
    if (this.nesterov && (this.momentum <= 0 || this.dampening !== 0))
      throw new CellstateRangeError(
        ErrorCode.INVALID_OPTION,
        'SGD: nesterov: true needs momentum > 0 and dampening 0',
      );
    this.bufferNames = this.momentum > 0 ? ['momentum_buffer'] : [];
  }

  get options(): Record<string, number | boolean> {
    return {
      lr: this.lr,
      momentum: this.momentum,
      dampening: this.dampening,
      nesterov: this.nesterov,
      weightDecay: this.weightDecay,
    };
  }

  protected update(g: ParameterGroup, buffers: Float32Array[], lr: number, t: number): void {
    const { values: p, grads: d } = g;
    const wd = this.weightDecay;
    const mu = this.momentum;
    const n = p.length;
    if (mu === 0) {
      for (let i = 0; i < n; ++i) p[i] -= lr * (d[i] + wd * p[i]);
      return;
    }
    const buf = buffers[0];
    const damp = 1 - this.dampening;
    const first = t === 1 && !this.hadState(buf);
    for (let i = 0; i < n; ++i) {
      const gi = d[i] + wd * p[i];
      const b = first ? gi : mu * buf[i] + damp * gi;
      buf[i] = b;
      p[i] -= lr * (this.nesterov ? gi + mu * b : b);
    }
  }

  // PyTorch starts the momentum buffer at the first gradient (not at 0).
  private hadState(buf: Float32Array): boolean {
    for (let i = 0; i < buf.length; ++i) if (buf[i] !== 0) return true;
    return false;
  }
}

/** Options of Adam and AdamW. */
export interface AdamOptions {
  /** Learning rate, ≥ 0. Default 0.001. */
  lr?: number | undefined;
  /** β1 in [0, 1). Default 0.9. */
  beta1?: number | undefined;
  /** β2 in [0, 1). Default 0.999. */
  beta2?: number | undefined;
  /** ε > 0. Default 1e-8. */
  eps?: number | undefined;
  /** Adam: L2 penalty added to the gradient; AdamW: decoupled decay. ≥ 0. Default 0 (Adam), 0.01 (AdamW). */
  weightDecay?: number | undefined;
}

/** Adam (Kingma and Ba), as torch.optim.Adam. */
export class Adam extends Optimizer {
  readonly type: OptimizerName = 'adam';
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  protected readonly bufferNames = ['exp_avg', 'exp_avg_sq'] as const;
  protected readonly decoupled: boolean = false;

  constructor(options?: AdamOptions, where = 'Adam', defaultDecay = 0) {
    const r = new OptionReader(options, where, ['lr', 'beta1', 'beta2', 'eps', 'weightDecay']);
    super(lrOption(r, 0.001));
    this.beta1 = r.number('beta1', 0, 1, 0.9);
    this.beta2 = r.number('beta2', 0, 1, 0.999);
    this.eps = r.number('eps', Number.MIN_VALUE, Number.MAX_VALUE, 1e-8, true);
    this.weightDecay = r.number('weightDecay', 0, Number.MAX_VALUE, defaultDecay, true);
  }

  get options(): Record<string, number | boolean> {
    return {
      lr: this.lr,
      beta1: this.beta1,
      beta2: this.beta2,
      eps: this.eps,
      weightDecay: this.weightDecay,
    };
  }

  protected update(g: ParameterGroup, buffers: Float32Array[], lr: number, t: number): void {
    const { values: p, grads: d } = g;
    const [m, v] = buffers;
    const b1 = this.beta1;
    const b2 = this.beta2;
    const wd = this.weightDecay;
    const stepSize = lr / (1 - Math.pow(b1, t));
    const bc2 = Math.sqrt(1 - Math.pow(b2, t));
    const eps = this.eps;
    const n = p.length;
    const decay = this.decoupled ? 1 - lr * wd : 1;
    const l2 = this.decoupled ? 0 : wd;
    for (let i = 0; i < n; ++i) {
      const pi = p[i] * decay;
      const gi = d[i] + l2 * p[i];
      const mi = b1 * m[i] + (1 - b1) * gi;
      const vi = b2 * v[i] + (1 - b2) * gi * gi;
      m[i] = mi;
      v[i] = vi;
      p[i] = pi - (stepSize * mi) / (Math.sqrt(vi) / bc2 + eps);
    }
  }
}

/** AdamW (Loshchilov and Hutter): Adam with decoupled weight decay, as torch.optim.AdamW. */
export class AdamW extends Adam {
  override readonly type: OptimizerName = 'adamw';
  protected override readonly decoupled = true;

  constructor(options?: AdamOptions) {
    super(options, 'AdamW', 0.01);
  }
}

/** Options of RMSprop. */
export interface RMSpropOptions {
  /** Learning rate, ≥ 0. Default 0.01. */
  lr?: number | undefined;
  /** Smoothing constant α in [0, 1). Default 0.99. */
  alpha?: number | undefined;
  /** ε > 0. Default 1e-8. */
  eps?: number | undefined;
  /** Momentum factor in [0, 1). Default 0. */
  momentum?: number | undefined;
  /** L2 penalty added to the gradient, ≥ 0. Default 0. */
  weightDecay?: number | undefined;
}

/** RMSprop (Hinton), as torch.optim.RMSprop (not centered). */
export class RMSprop extends Optimizer {
  readonly type = 'rmsprop' as const;
  readonly alpha: number;
  readonly eps: number;
  readonly momentum: number;
  readonly weightDecay: number;
  protected readonly bufferNames: readonly string[];

  constructor(options?: RMSpropOptions) {
    const r = new OptionReader(options, 'RMSprop', [
      'lr',
      'alpha',
      'eps',
      'momentum',
      'weightDecay',
    ]);
    super(lrOption(r, 0.01));
    this.alpha = r.number('alpha', 0, 1, 0.99);
    this.eps = r.number('eps', Number.MIN_VALUE, Number.MAX_VALUE, 1e-8, true);
    this.momentum = r.number('momentum', 0, 1, 0);
    this.weightDecay = r.number('weightDecay', 0, Number.MAX_VALUE, 0, true);
    this.bufferNames = this.momentum > 0 ? ['square_avg', 'momentum_buffer'] : ['square_avg'];
  }

  get options(): Record<string, number | boolean> {
    return {
      lr: this.lr,
      alpha: this.alpha,
      eps: this.eps,
      momentum: this.momentum,
      weightDecay: this.weightDecay,
    };
  }

  protected update(g: ParameterGroup, buffers: Float32Array[], lr: number): void {
    const { values: p, grads: d } = g;
    const [sq, buf] = buffers;
    const a = this.alpha;
    const wd = this.weightDecay;
    const mu = this.momentum;
    const eps = this.eps;
    for (let i = 0; i < p.length; ++i) {
      const gi = d[i] + wd * p[i];
      const s = a * sq[i] + (1 - a) * gi * gi;
      sq[i] = s;
      const step = gi / (Math.sqrt(s) + eps);
      if (mu > 0) {
        const b = mu * buf[i] + step;
        buf[i] = b;
        p[i] -= lr * b;
      } else {
        p[i] -= lr * step;
      }
    }
  }
}

/** An optimizer from its name (with its defaults) or an instance. */
export function resolveOptimizer(value: unknown, where: string): Optimizer {
  if (value instanceof Optimizer) return value;
  switch (value) {
    case undefined:
    case 'adam':
      return new Adam();
    case 'adamw':
      return new AdamW();
    case 'sgd':
      return new SGD();
    case 'rmsprop':
      return new RMSprop();
    default:
      throw new CellstateTypeError(
        ErrorCode.INVALID_ARG,
        `${where}: optimizer must be 'adam', 'adamw', 'sgd', 'rmsprop' or an Optimizer instance, got ${describe(value)}`,
      );
  }
}

/** The global L2 norm of every gradient (double accumulation); NaN or ∞ if any gradient is. */
export function gradNorm(groups: readonly ParameterGroup[]): number {
  let sum = 0;
  for (const g of groups) {
    const d = g.grads;
    for (let i = 0; i < d.length; ++i) sum += d[i] * d[i];
  }
  return Math.sqrt(sum);
}

/**
 * Scales every gradient by maxNorm / norm when their global L2 norm exceeds maxNorm (as
 * torch.nn.utils.clip_grad_norm_). Returns the norm before clipping.
 */
export function clipGradNorm(
  groups: readonly ParameterGroup[],
  maxNorm: number,
  norm = gradNorm(groups),
): number {
  if (norm > maxNorm && Number.isFinite(norm)) {
    const s = maxNorm / (norm + 1e-6);
    for (const g of groups) {
      const d = g.grads;
      for (let i = 0; i < d.length; ++i) d[i] *= s;
    }
  }
  return norm;
}

/** Clamps every gradient to [−clip, clip] (as torch.nn.utils.clip_grad_value_). */
export function clipGradValue(groups: readonly ParameterGroup[], clip: number): void {
  for (const g of groups) {
    const d = g.grads;
    for (let i = 0; i < d.length; ++i) {
      if (d[i] > clip) d[i] = clip;
      else if (d[i] < -clip) d[i] = -clip;
    }
  }
}
