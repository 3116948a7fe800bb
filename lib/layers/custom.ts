// CustomLayer: a differentiable layer written in JavaScript — its forward and its backward given
// as functions — with parameters that fit's optimizers train like a Dense's. It reads and
// returns time-major activations [T, B, F] (or [B, F] after a lastStep layer), as every layer
// inside a Sequential does.
import {
  CellstateError,
  CellstateRangeError,
  CellstateTypeError,
  ErrorCode,
  NoForwardError,
  describe,
  shapeError,
} from '../errors';
import { checkNotHeld } from '../hold';
import { type Activation, type BatchContext, readLengths, zeroPadded } from './batch';
import { OptionReader } from '../options';
import { Tensor, type TensorLike, toTensor } from '../tensor';
import { JsLayer } from './js-layer';
import { type FlatParameters, type ParamSlot, copyRecord, readParameterRecord } from './params';

/** What a custom layer's forward sees besides x. */
export interface CustomLayerContext {
  /** The parameters by name: live views of the values fit trains (read them, do not write). */
  readonly params: Readonly<Record<string, Tensor>>;
  /** A training forward (fit, or forward with train: true): keep in `saved` what backward needs. */
  readonly train: boolean;
  /** For x `[T, B, I]`: the length of each sequence (steps t ≥ lengths[b] are padding), or null. */
  readonly lengths: Int32Array | null;
  /** An object of the forward's own, handed to the backward of the same call. */
  readonly saved: Record<string, unknown>;
}

/** What a custom layer's backward sees besides dy. */
export interface CustomLayerBackwardContext extends CustomLayerContext {
  /**
   * The parameters' gradients by name (the shapes of params): add d loss / d param into them;
   * they accumulate over backward calls until zeroGrad (fit zeroes them before each batch).
   */
  readonly grads: Readonly<Record<string, Tensor>>;
  /** The input of the forward. */
  readonly x: Tensor;
}

/** Options of a CustomLayer. */
export interface CustomLayerOptions {
  /** Features per step of the input, an integer ≥ 1. Required. */
  inputSize: number;
  /** Features per step of the output, an integer ≥ 1. Required. */
  outputSize: number;
  /** A name for messages and summary(). Default 'Custom'. */
  name?: string | undefined;
  /** Initial parameters by name (copied); each a Tensor, nested arrays or `{ data, shape }`. Default none. */
  params?: Record<string, TensorLike> | undefined;
  /**
   * The layer takes `[T, B, I]` and returns one row per sequence `[B, O]` (as a lastStep Dense);
   * no recurrent layer may follow it. Default false: `[T, B, O]` from `[T, B, I]`, or `[B, O]`
   * from `[B, I]`.
   */
  lastStep?: boolean | undefined;
  /**
   * The output for x: time-major `[T, B, inputSize]` (or `[B, inputSize]` after a lastStep
   * layer) → `[T, B, outputSize]` (`[B, outputSize]` with lastStep, or from `[B, I]`). A new
   * Tensor; it must not alias x. Padded steps of the output are zeroed after it.
   */
  forward(x: Tensor, ctx: CustomLayerContext): Tensor;
  /**
   * The gradient of x (x's shape) for dy, the gradient of the output (zero at padded steps);
   * adds the parameters' gradients into ctx.grads. Called once per training forward, with that
   * forward's ctx.
   */
  backward(dy: Tensor, ctx: CustomLayerBackwardContext): Tensor;
}

/** The resolved options of a CustomLayer, plain JSON (its functions are not in it). */
export interface CustomLayerConfig {
  type: 'custom';
  name: string;
  inputSize: number;
  outputSize: number;
  lastStep: boolean;
}

interface Pending {
  x: Tensor;
  ctx: CustomLayerContext;
  outputShape: number[];
}

/** A layer computed by your own forward and backward functions, with trainable parameters. */
export class CustomLayer extends JsLayer {
  readonly config: Readonly<CustomLayerConfig>;
  /** @internal The parameters and gradients, flat (fit's optimizers update them in place). */
  readonly flat: FlatParameters;
  /** @internal Bumped by fit after each update (as Dense's). */
  version = 0;
  private readonly fwd: CustomLayerOptions['forward'];
  private readonly bwd: CustomLayerOptions['backward'];
  private readonly params: Readonly<Record<string, Tensor>>;
  private readonly grads: Readonly<Record<string, Tensor>>;
  private pendingCall: Pending | null = null;

  constructor(options: CustomLayerOptions) {
    super();
    const where = 'CustomLayer';
    const r = new OptionReader(options, where, [
      'inputSize',
      'outputSize',
      'name',
      'params',
      'lastStep',
      'forward',
      'backward',
    ]);
    const inputSize = r.int('inputSize', 1, 1 << 24);
    const outputSize = r.int('outputSize', 1, 1 << 24);
    const name = r.raw('name') ?? 'Custom';
    if (typeof name !== 'string' || name === '')
      throw new CellstateTypeError(
        ErrorCode.INVALID_OPTION,
        `${where}: name must be a non-empty string, got ${describe(name)}`,
      );
    for (const k of ['forward', 'backward'])
      if (typeof r.raw(k) !== 'function')
        throw new CellstateTypeError(
          ErrorCode.INVALID_OPTION,
          `${where}: ${k} must be a function, got ${describe(r.raw(k))}`,
        );
    const rawParams = r.raw('params') ?? {};
    if (rawParams === null || typeof rawParams !== 'object' || Array.isArray(rawParams))
      throw new CellstateTypeError(
        ErrorCode.INVALID_OPTION,
        `${where}: params must be an object of tensors by name, got ${describe(rawParams)}`,
      );
    const entries: ParamSlot[] = [];
    let offset = 0;
    const initial: Record<string, Tensor> = {};
    for (const [k, v] of Object.entries(rawParams as Record<string, unknown>)) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k))
        throw new CellstateTypeError(
          ErrorCode.INVALID_OPTION,
          `${where}: parameter names are identifiers (letters, digits, _), got '${k}'`,
        );
      const t = toTensor(v as TensorLike, where, `params.${k}`);
      initial[k] = t;
      entries.push({ name: k, shape: [...t.shape], offset, size: t.data.length });
      offset += t.data.length;
    }
    const values = readParameterRecord(where, initial, entries, offset);
    const grads = new Float32Array(offset);
    this.flat = { values, grads, entries };
    const views = (a: Float32Array) =>
      Object.freeze(
        Object.fromEntries(
          entries.map((e) => [
            e.name,
            new Tensor(a.subarray(e.offset, e.offset + e.size), e.shape),
          ]),
        ),
      );
    this.params = views(values);
    this.grads = views(grads);
    this.config = Object.freeze({
      type: 'custom' as const,
      name,
      inputSize,
      outputSize,
      lastStep: r.bool('lastStep', false),
    });
    this.fwd = (options as CustomLayerOptions).forward;
    this.bwd = (options as CustomLayerOptions).backward;
  }

  get inputSize(): number {
    return this.config.inputSize;
  }

  get outputSize(): number {
    return this.config.outputSize;
  }

  /** 'Custom' (its name is in summaryDetails()). */
  get layerType(): string {
    return 'Custom';
  }

  /** 'sequence' with lastStep (it needs the time axis), else 'features'. */
  override get reads(): 'features' | 'sequence' {
    return this.config.lastStep ? 'sequence' : 'features';
  }

  /** false with lastStep: one row per sequence. */
  override get keepsTime(): boolean {
    return !this.config.lastStep;
  }

  get parameterCount(): number {
    return this.flat.values.length;
  }

  /** Its name, and 'lastStep'. */
  summaryDetails(): string {
    return `${this.config.name}${this.config.lastStep ? ', lastStep' : ''}`;
  }

  /** Copies of the parameters by name. */
  parameters(): Record<string, Tensor> {
    this.live('parameters');
    return copyRecord(this.flat.values, this.flat.entries);
  }

  /** Replaces every parameter (all names, exact shapes); on an error nothing changes. */
  setParameters(params: Record<string, Tensor | Float32Array | TensorLike>): void {
    this.live('setParameters');
    checkNotHeld(this, 'setParameters', 'layer');
    const flat = readParameterRecord(
      'setParameters',
      params,
      this.flat.entries,
      this.flat.values.length,
    );
    this.flat.values.set(flat);
    this.discard();
  }

  /** Copies of the accumulated gradients by name. */
  gradients(): Record<string, Tensor> {
    this.live('gradients');
    return copyRecord(this.flat.grads, this.flat.entries);
  }

  zeroGrad(): void {
    this.live('zeroGrad');
    checkNotHeld(this, 'zeroGrad', 'layer');
    this.flat.grads.fill(0);
  }

  /**
   * The layer alone: x `[T, B, I]` (time-major) or `[B, I]`, with `lengths` for `[T, B, I]`
   * and `train` to keep what one following backward needs.
   */
  forward(
    x: TensorLike,
    opts?: { train?: boolean | undefined; lengths?: number[] | Int32Array | undefined },
  ): { output: Tensor } {
    const where = 'forward';
    this.live(where);
    checkNotHeld(this, where, 'layer');
    const o = new OptionReader(opts, where, ['train', 'lengths'], ErrorCode.INVALID_ARG);
    const train = o.bool('train', false);
    const t = toTensor(x, where, 'x');
    const I = this.inputSize;
    if ((t.shape.length !== 3 && t.shape.length !== 2) || t.shape[t.shape.length - 1] !== I)
      throw shapeError(where, 'x', ['T', 'B', `I=${I}`], t.shape, `or [B, I=${I}]`);
    const a: Activation =
      t.shape.length === 3
        ? { data: t.data, T: t.shape[0], B: t.shape[1], F: I }
        : { data: t.data, T: 0, B: t.shape[0], F: I };
    const raw = o.raw('lengths');
    const lengths =
      raw === undefined || raw === null
        ? null
        : a.T > 0
          ? readLengths(where, raw, a.T, a.B)
          : (() => {
              throw new CellstateTypeError(
                ErrorCode.INVALID_ARG,
                `${where}: lengths apply to x [T, B, I]; x has shape [${t.shape.join(', ')}]`,
              );
            })();
    const out = this.forwardBatch(a, { lengths, train });
    return {
      output:
        out.T > 0
          ? new Tensor(out.data, [out.T, out.B, out.F])
          : new Tensor(out.data, [out.B, out.F]),
    };
  }

  /** Once per training forward: the gradient of x for the gradient of the output. */
  backward(grad: { output: TensorLike }): { x: Tensor } {
    const where = 'backward';
    this.live(where);
    checkNotHeld(this, where, 'layer');
    const o = new OptionReader(grad, where, ['output'], ErrorCode.INVALID_ARG);
    const dy = toTensor(o.raw('output'), where, 'output');
    const p = this.pendingCall;
    if (!p)
      throw new NoForwardError(
        `${where}: no pending training forward; call forward(x, { train: true }) first`,
      );
    if (dy.shape.length !== p.outputShape.length || dy.shape.some((d, i) => d !== p.outputShape[i]))
      throw shapeError(where, 'output', p.outputShape, dy.shape);
    const dx = this.backwardBatch(dy.data);
    return { x: new Tensor(dx, p.x.shape) };
  }

  /** @internal */
  forwardBatch(a: Activation, ctx: BatchContext): Activation {
    this.live('forwardBatch');
    this.pendingCall = null;
    const name = `${this.config.name}.forward`;
    const x = a.T > 0 ? new Tensor(a.data, [a.T, a.B, a.F]) : new Tensor(a.data, [a.B, a.F]);
    const lengths = a.T > 0 ? ctx.lengths : null;
    const layerCtx: CustomLayerContext = {
      params: this.params,
      train: ctx.train,
      lengths,
      saved: {},
    };
    const y = this.fwd.call(undefined, x, layerCtx);
    const O = this.outputSize;
    const reduce = a.T > 0 && this.config.lastStep;
    const want = a.T > 0 && !reduce ? [a.T, a.B, O] : [a.B, O];
    if (!(y instanceof Tensor))
      throw new CellstateTypeError(
        ErrorCode.INVALID_ARG,
        `${name} must return a Tensor [${want.join(', ')}], got ${describe(y)}`,
      );
    if (y.shape.length !== want.length || y.shape.some((d, i) => d !== want[i]))
      throw new CellstateRangeError(
        ErrorCode.SHAPE,
        `${name} returned a Tensor of shape [${y.shape.join(', ')}]; it must be [${want.join(', ')}]`,
      );
    if (y.data === a.data || y.data.buffer === a.data.buffer)
      throw new CellstateRangeError(
        ErrorCode.INVALID_ARG,
        `${name} returned x's own memory; return a new Tensor`,
      );
    const T = want.length === 3 ? a.T : 0;
    if (T > 0) zeroPadded(y.data, T, a.B, O, lengths);
    if (ctx.train) this.pendingCall = { x, ctx: layerCtx, outputShape: want };
    return { data: y.data, T, B: a.B, F: O };
  }

  /** @internal */
  backwardBatch(dy: Float32Array): Float32Array {
    this.live('backwardBatch');
    const p = this.pendingCall;
    if (!p) throw new NoForwardError('backward: no pending training forward');
    this.pendingCall = null;
    const name = `${this.config.name}.backward`;
    // the padded steps of the output were zeroed after forward: they get no gradient
    const [T, B, O] = p.outputShape;
    let g = dy;
    if (p.outputShape.length === 3 && p.ctx.lengths) {
      g = dy.slice();
      zeroPadded(g, T, B, O, p.ctx.lengths);
    }
    const dx = this.bwd.call(undefined, new Tensor(g, p.outputShape), {
      ...p.ctx,
      grads: this.grads,
      x: p.x,
    });
    if (!(dx instanceof Tensor))
      throw new CellstateTypeError(
        ErrorCode.INVALID_ARG,
        `${name} must return the gradient of x, a Tensor [${p.x.shape.join(', ')}], got ${describe(dx)}`,
      );
    if (dx.shape.length !== p.x.shape.length || dx.shape.some((d, i) => d !== p.x.shape[i]))
      throw new CellstateRangeError(
        ErrorCode.SHAPE,
        `${name} returned a Tensor of shape [${dx.shape.join(', ')}]; the gradient of x must be [${p.x.shape.join(', ')}]`,
      );
    return dx.data;
  }

  /** @internal */
  get pending(): boolean {
    return this.pendingCall !== null;
  }

  /** @internal */
  discard(): void {
    this.pendingCall = null;
  }

  protected free(): void {
    this.discard();
  }

  /**
   * Refused (ERR_CELLSTATE_UNSUPPORTED): a custom layer's forward sees whole sequences, so it has
   * no step-by-step form; model.stream() over it refuses the same way.
   */
  stream(_opts?: unknown): never {
    this.live('stream');
    throw new CellstateError(
      ErrorCode.UNSUPPORTED,
      `stream: layer '${this.config.name}' is a CustomLayer, whose forward sees whole sequences; it has no step-by-step stream`,
    );
  }
}
