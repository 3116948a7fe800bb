// Dropout: while training, each value is zeroed with probability `rate` and the others scaled by
// 1 / (1 − rate) ("inverted" dropout, as PyTorch); at inference it is the identity.
import {
  CellstateTypeError,
  ErrorCode,
  NoForwardError,
  describe,
  shapeError,
  disposedError,
} from '../errors';
import { checkElements } from '../limits';
import { type Activation, type BatchContext, zeroPadded } from './batch';
import { checkNotHeld } from '../hold';
import { JsLayer } from './js-layer';
import { OptionReader } from '../options';
import { Random, randomSeed } from '../random';
import type { LayerStream, LayerStreamOptions } from '../stream/types';
import { Tensor, type TensorLike, toTensor } from '../tensor';

/** Options of a Dropout layer. */
export interface DropoutOptions {
  /** Probability of zeroing each value while training, in [0, 1). Default 0.5. */
  rate?: number | undefined;
  /** Seed of the masks, an unsigned 32-bit integer; the masks of successive training calls follow from it. Default: random. */
  seed?: number | undefined;
  /** Accepted so that a `config` can be passed back; must be 'dropout'. */
  type?: 'dropout' | undefined;
}

/** The resolved options of a Dropout layer, plain JSON. */
export interface DropoutConfig {
  type: 'dropout';
  rate: number;
  seed: number;
}

/** Zeroes values at random while training; no parameters. */
export class Dropout extends JsLayer {
  readonly config: Readonly<DropoutConfig>;
  private readonly rng: Random;
  private mask: Float32Array | null = null;
  private pendingSize = -1;

  constructor(options?: DropoutOptions) {
    super();
    const where = 'Dropout';
    const r = new OptionReader(options, where, ['type', 'rate', 'seed']);
    const type = r.raw('type');
    if (type !== undefined && type !== 'dropout')
      throw new CellstateTypeError(
        ErrorCode.INVALID_OPTION,
        `${where}: type must be 'dropout' when given, got ${describe(type)}`,
      );
    const seed = r.int('seed', 0, 0xffffffff, -1);
    this.config = Object.freeze({
      type: 'dropout' as const,
      rate: r.number('rate', 0, 1, 0.5),
      seed: seed === -1 ? randomSeed() : seed,
    });
    this.rng = new Random(this.config.seed);
  }

  /** 'Dropout'. */
  get layerType(): 'Dropout' {
    return 'Dropout';
  }

  /** null: any size, passed through. */
  get inputSize(): null {
    return null;
  }

  /** null: the size of its input. */
  get outputSize(): null {
    return null;
  }

  /** `rate <rate>`, for summary(). */
  summaryDetails(): string {
    return `rate ${this.config.rate}`;
  }

  /** 0. */
  get parameterCount(): number {
    return 0;
  }

  /** No parameters. */
  parameters(): Record<string, Tensor> {
    this.live('parameters');
    return {};
  }

  /** Accepts only an empty record. */
  setParameters(params: Record<string, Tensor | Float32Array>): void {
    this.live('setParameters');
    checkNotHeld(this, 'setParameters', 'layer');
    const names = params && typeof params === 'object' ? Object.keys(params) : null;
    if (!names || names.length > 0)
      throw new CellstateTypeError(
        ErrorCode.INVALID_ARG,
        `setParameters: a Dropout layer has no parameters, got ${names ? names.map((n) => `'${n}'`).join(', ') : describe(params)}`,
      );
  }

  gradients(): Record<string, Tensor> {
    this.live('gradients');
    return {};
  }

  zeroGrad(): void {}

  /** Any shape in, the same shape out: masked and scaled with `train: true`, else a copy. */
  forward(x: TensorLike, opts?: { train?: boolean | undefined }): { output: Tensor } {
    this.live('forward');
    checkNotHeld(this, 'forward', 'layer');
    const o = new OptionReader(opts, 'forward', ['train'], ErrorCode.INVALID_ARG);
    const train = o.bool('train', false);
    const t = toTensor(x, 'forward', 'x');
    const out = this.forwardBatch(
      { data: t.data, T: 0, B: 1, F: t.data.length },
      { lengths: null, train },
    );
    return { output: new Tensor(out.data === t.data ? t.data.slice() : out.data, t.shape) };
  }

  /** Once per training forward: the gradient of x (same shape as the output). */
  backward(grad: { output: TensorLike }): { x: Tensor } {
    this.live('backward');
    checkNotHeld(this, 'backward', 'layer');
    const o = new OptionReader(grad, 'backward', ['output'], ErrorCode.INVALID_ARG);
    const dy = toTensor(o.raw('output'), 'backward', 'output');
    if (this.pendingSize < 0)
      throw new NoForwardError(
        'backward: no pending training forward; call forward(x, { train: true }) first',
      );
    if (dy.data.length !== this.pendingSize)
      throw shapeError('backward', 'output', [`${this.pendingSize} elements`], dy.shape);
    return { x: new Tensor(this.backwardBatch(dy.data), dy.shape) };
  }

  /** @internal At inference the input itself is returned. */
  forwardBatch(x: Activation, ctx: BatchContext): Activation {
    this.live('forwardBatch');
    const p = this.config.rate;
    if (!ctx.train || p === 0) {
      this.mask = null;
      this.pendingSize = ctx.train ? x.data.length : -1;
      return x;
    }
    const n = x.data.length;
    const mask = new Float32Array(n);
    const scale = 1 / (1 - p);
    const out = new Float32Array(n);
    for (let i = 0; i < n; ++i) {
      const keep = this.rng.nextUnit() >= p;
      mask[i] = keep ? scale : 0;
      out[i] = keep ? x.data[i] * scale : 0;
    }
    if (x.T > 0) zeroPadded(out, x.T, x.B, x.F, ctx.lengths);
    this.mask = mask;
    this.pendingSize = n;
    return { ...x, data: out };
  }

  /** @internal */
  backwardBatch(dy: Float32Array): Float32Array {
    this.live('backwardBatch');
    if (this.pendingSize < 0) throw new NoForwardError('backward: no pending training forward');
    const mask = this.mask;
    this.mask = null;
    this.pendingSize = -1;
    if (!mask) return dy.slice();
    const dx = new Float32Array(dy.length);
    for (let i = 0; i < dy.length; ++i) dx[i] = dy[i] * mask[i];
    return dx;
  }

  /**
   * What dispose() frees (its mask).
   */
  protected free(): void {
    this.discard();
  }

  /** @internal */
  get pending(): boolean {
    return this.pendingSize >= 0;
  }

  /** @internal */
  discard(): void {
    this.mask = null;
    this.pendingSize = -1;
  }

  /** Streams run at inference: each step copies its input (`size` features per sequence). */
  stream(opts?: LayerStreamOptions & { size?: number }): LayerStream {
    this.live('stream');
    const o = new OptionReader(opts, 'stream', ['batch', 'size'], ErrorCode.INVALID_ARG);
    const batch = o.int('batch', 1, 1 << 24, 1);
    const size = o.int('size', 1, 1 << 24);
    checkElements(
      batch * size,
      'stream',
      `batch ${batch} × size ${size} (the output)`,
      ErrorCode.INVALID_ARG,
    );
    return new IdentityStream(this, batch, size);
  }
}

class IdentityStream implements LayerStream {
  private readonly out: Float32Array;
  readonly inputSize: number;
  readonly outputSize: number;

  constructor(
    private readonly layer: Dropout,
    readonly batch: number,
    size: number,
  ) {
    this.inputSize = this.outputSize = size;
    this.out = new Float32Array(batch * size);
  }

  step(x: Float32Array): Float32Array {
    if (this.layer.disposed) throw disposedError('step', 'layer of this stream');
    if (!(x instanceof Float32Array) || x.length !== this.out.length)
      throw shapeError(
        'step',
        'x',
        [`B=${this.batch}`, `F=${this.inputSize}`],
        x instanceof Float32Array ? [x.length] : [],
        `a Float32Array of ${this.out.length} values`,
      );
    this.out.set(x);
    return this.out;
  }

  reset(): void {}
}
