// Embedding: integer tokens [T, B] → vectors [T, B, D], a row of `weight [N, D]` per token.
import {
  CellstateRangeError,
  CellstateTypeError,
  ErrorCode,
  NoForwardError,
  describe,
  shapeError,
  disposedError,
} from '../errors';
import {
  type Activation,
  type BatchContext,
  type TokenBatch,
  type TokensLike,
  activationTensor,
  readLengths,
  readTokens,
} from './batch';
import { checkElements, checkResult } from '../limits';
import { checkNotHeld } from '../hold';
import { Int8JsLayer } from './int8-layer';
import { OptionReader } from '../options';
import { Random, randomSeed } from '../random';
import type { LayerStream, LayerStreamOptions } from '../stream/types';
import { Tensor, type TensorLike, toTensor } from '../tensor';
import { type FlatParameters, copyRecord, readParameterRecord } from './params';
import { quantizedTrainingError } from './quant';

/** Largest numEmbeddings and embeddingDim. */
export const MAX_EMBEDDING_SIZE = 1 << 24;

/** Options of an Embedding layer (its weight, `N·D` values, at most MAX_ELEMENTS). */
export interface EmbeddingOptions {
  /** Size of the vocabulary, `N`: token ids are integers in [0, N). Required; in [1, 2^24]. */
  numEmbeddings: number;
  /** Size of each vector, `D`. Required; an integer in [1, 2^24]. */
  embeddingDim: number;
  /** Seed of the initialisation (PyTorch's: normal, mean 0, variance 1), an unsigned 32-bit integer. Default: random. */
  seed?: number | undefined;
  /** Accepted so that a `config` can be passed back; must be 'embedding'. */
  type?: 'embedding' | undefined;
}

/** The resolved options of an Embedding, plain JSON. */
export interface EmbeddingConfig {
  type: 'embedding';
  numEmbeddings: number;
  embeddingDim: number;
  seed: number;
}

interface EmbeddingCache {
  tokens: Int32Array;
  T: number;
  B: number;
  lengths: Int32Array | null;
}

/** A lookup table of `numEmbeddings` vectors; PyTorch's name and layout: `weight [N, D]`. */
export class Embedding extends Int8JsLayer {
  /** The resolved options (frozen). */
  readonly config: Readonly<EmbeddingConfig>;
  /** @internal */
  readonly flat: FlatParameters;
  private cache: EmbeddingCache | null = null;

  constructor(options: EmbeddingOptions) {
    super();
    const where = 'Embedding';
    const r = new OptionReader(options, where, ['type', 'numEmbeddings', 'embeddingDim', 'seed']);
    const type = r.raw('type');
    if (type !== undefined && type !== 'embedding')
      throw new CellstateTypeError(
        ErrorCode.INVALID_OPTION,
        `${where}: type must be 'embedding' when given, got ${describe(type)}`,
      );
    const seed = r.int('seed', 0, 0xffffffff, -1);
    this.config = Object.freeze({
      type: 'embedding' as const,
      numEmbeddings: r.int('numEmbeddings', 1, MAX_EMBEDDING_SIZE),
      embeddingDim: r.int('embeddingDim', 1, MAX_EMBEDDING_SIZE),
      seed: seed === -1 ? randomSeed() : seed,
    });
    const { numEmbeddings: N, embeddingDim: D } = this.config;
    checkElements(N * D, where, `numEmbeddings ${N} × embeddingDim ${D} (weight)`);
    this.flat = {
      values: new Float32Array(N * D),
      grads: new Float32Array(N * D),
      entries: [{ name: 'weight', shape: [N, D], offset: 0, size: N * D }],
    };
    fillNormal(new Random(this.config.seed), this.flat.values);
  }

  /** 'Embedding'. */
  get layerType(): 'Embedding' {
    return 'Embedding';
  }

  /** Token ids per step: 1. */
  get inputSize(): number {
    return 1;
  }

  /** Integer token ids `[T, B]`; an Embedding comes first in a model. */
  override get reads(): 'tokens' {
    return 'tokens';
  }

  /** `<numEmbeddings> ids`, for summary(). */
  summaryDetails(): string {
    return `${this.config.numEmbeddings} ids`;
  }

  /** `N·D`. */
  get parameterCount(): number {
    return this.flat.values.length;
  }

  /** `D`. */
  get outputSize(): number {
    return this.config.embeddingDim;
  }

  parameters(): Record<string, Tensor> {
    this.live('parameters');
    return copyRecord(this.flat.values, this.flat.entries);
  }

  setParameters(params: Record<string, Tensor | Float32Array | TensorLike>): void {
    this.live('setParameters');
    checkNotHeld(this, 'setParameters', 'layer');
    const flat = readParameterRecord(
      'setParameters',
      params,
      this.flat.entries,
      this.flat.values.length,
    );
    const q = this.requantize('setParameters', flat);
    this.flat.values.set(flat);
    this.commitWeights(q);
  }

  /**
   * int8 for an Embedding: the table per row; forward, predict and streams look up the int8 row
   * and dequantize it (`fround(q · scale)`).
   */
  protected int8Matrix(): { rows: number; cols: number; values: Float32Array } {
    const { numEmbeddings, embeddingDim } = this.config;
    return { rows: numEmbeddings, cols: embeddingDim, values: this.flat.values };
  }

  protected dropCache(): void {
    this.cache = null;
  }

  /** @internal Row `id` of the table into out[dst, dst + D): float, or int8 dequantized. */
  lookup(id: number, out: Float32Array, dst: number): void {
    const D = this.config.embeddingDim;
    const src = id * D;
    const q = this.quant;
    if (q) {
      const s = q.scale[id];
      const v = q.values;
      for (let d = 0; d < D; ++d) out[dst + d] = v[src + d] * s;
    } else {
      const w = this.flat.values;
      for (let d = 0; d < D; ++d) out[dst + d] = w[src + d];
    }
  }

  gradients(): Record<string, Tensor> {
    this.live('gradients');
    checkNotHeld(this, 'gradients', 'layer');
    return copyRecord(this.flat.grads, this.flat.entries);
  }

  zeroGrad(): void {
    this.live('zeroGrad');
    checkNotHeld(this, 'zeroGrad', 'layer');
    this.flat.grads.fill(0);
  }

  /**
   * `x`: token ids `[T, B]` (`{ data: Int32Array, shape: [T, B] }`, a Tensor of integer values
   * or nested arrays) → `[T, B, D]`; padded steps (t ≥ lengths[b]) give 0 and their ids are not
   * read.
   */
  forward(
    x: TokensLike,
    opts?: { lengths?: number[] | Int32Array | undefined; train?: boolean | undefined },
  ): { output: Tensor } {
    this.live('forward');
    const where = 'forward';
    checkNotHeld(this, where, 'layer');
    const o = new OptionReader(opts, where, ['lengths', 'train'], ErrorCode.INVALID_ARG);
    const train = o.bool('train', false);
    const t = readTokens(x, where, 'x', ['T', 'B']);
    const [T, B] = t.shape;
    if (T < 1 || B < 1) throw shapeError(where, 'x', ['T', 'B'], t.shape, 'T, B ≥ 1');
    const raw = o.raw('lengths');
    const lengths = raw === undefined || raw === null ? null : readLengths(where, raw, T, B);
    this.checkTokens(where, t.data, T, B, lengths);
    return {
      output: activationTensor(this.forwardBatch({ tokens: t.data, T, B }, { lengths, train })),
    };
  }

  /** The output of forward at inference (nothing kept for backward): token ids `[T, B]` give `[T, B, D]`. */
  predict(x: TokensLike, opts?: { lengths?: number[] | Int32Array | undefined }): Tensor {
    const o = new OptionReader(opts, 'predict', ['lengths'], ErrorCode.INVALID_ARG);
    const lengths = o.raw('lengths') as number[] | Int32Array | undefined;
    return this.forward(x, lengths === undefined ? {} : { lengths }).output;
  }

  /** Once per training forward: adds into the gradient of `weight`. Token ids have no gradient: x is null. */
  backward(grad: { output: TensorLike }): { x: null } {
    this.live('backward');
    const where = 'backward';
    checkNotHeld(this, where, 'layer');
    const o = new OptionReader(grad, where, ['output'], ErrorCode.INVALID_ARG);
    const cache = this.cache;
    if (!cache)
      throw new NoForwardError(
        `${where}: no pending training forward; call forward(x, { train: true }) first`,
      );
    const shape = [cache.T, cache.B, this.config.embeddingDim];
    const dy = toTensor(o.raw('output'), where, 'output');
    if (dy.shape.length !== 3 || dy.shape.some((d, i) => d !== shape[i]))
      throw shapeError(where, 'output', shape, dy.shape);
    this.backwardBatch(dy.data);
    return { x: null };
  }

  /** @internal Throws a RangeError naming the first id outside [0, N) at a step in use. */
  checkTokens(
    where: string,
    tokens: Int32Array,
    T: number,
    B: number,
    lengths: Int32Array | null,
  ): void {
    const N = this.config.numEmbeddings;
    for (let t = 0; t < T; ++t)
      for (let b = 0; b < B; ++b) {
        if (lengths && t >= lengths[b]) continue;
        const id = tokens[t * B + b];
        if (!(id >= 0 && id < N))
          throw new CellstateRangeError(
            ErrorCode.OUT_OF_RANGE,
            `${where}: token ids must be integers in [0, numEmbeddings=${N}), got ${id} at step ${t}, sequence ${b}`,
          );
      }
  }

  /** @internal Ids already checked. */
  forwardBatch(x: TokenBatch, ctx: BatchContext): Activation {
    this.live('forwardBatch');
    if (this.quant && ctx.train) throw quantizedTrainingError('forward', 'Embedding layer');
    const { T, B, tokens } = x;
    const D = this.config.embeddingDim;
    checkResult(T * B * D, 'forward', `output [${T}, ${B}, ${D}]`);
    const out = new Float32Array(T * B * D);
    for (let t = 0; t < T; ++t)
      for (let b = 0; b < B; ++b) {
        if (ctx.lengths && t >= ctx.lengths[b]) continue;
        this.lookup(tokens[t * B + b], out, (t * B + b) * D);
      }
    this.cache = ctx.train ? { tokens, T, B, lengths: ctx.lengths } : null;
    return { data: out, T, B, F: D };
  }

  /** @internal */
  backwardBatch(dy: Float32Array): null {
    this.live('backwardBatch');
    const cache = this.cache;
    if (!cache) throw new NoForwardError('backward: no pending training forward');
    this.cache = null;
    const { tokens, T, B, lengths } = cache;
    const D = this.config.embeddingDim;
    const g = this.flat.grads;
    for (let t = 0; t < T; ++t)
      for (let b = 0; b < B; ++b) {
        if (lengths && t >= lengths[b]) continue;
        const row = (t * B + b) * D;
        const off = tokens[t * B + b] * D;
        for (let d = 0; d < D; ++d) g[off + d] += dy[row + d];
      }
    return null;
  }

  /**
   * What dispose() frees: its weight and gradient buffers.
   */
  protected free(): void {
    this.cache = null;
    this.quant = null;
    const empty = new Float32Array(0);
    (this as { flat: FlatParameters }).flat = { values: empty, grads: empty, entries: [] };
  }

  /** The int8 table while quantized. */

  /** @internal */
  get pending(): boolean {
    return this.cache !== null;
  }

  /** @internal */
  discard(): void {
    this.cache = null;
  }

  /**
   * One time step at a time: `step(ids)` reads `batch` token ids (integers, in a Float32Array
   * or an Int32Array) and returns `[batch, D]` in a preallocated buffer.
   */
  stream(opts?: LayerStreamOptions): LayerStream {
    this.live('stream');
    const o = new OptionReader(opts, 'stream', ['batch'], ErrorCode.INVALID_ARG);
    const batch = o.int('batch', 1, 1 << 24, 1);
    checkElements(
      batch * this.outputSize,
      'stream',
      `batch ${batch} × embeddingDim ${this.outputSize} (the output)`,
      ErrorCode.INVALID_ARG,
    );
    return new EmbeddingStream(this, batch);
  }
}

class EmbeddingStream implements LayerStream {
  readonly inputSize = 1;
  readonly outputSize: number;
  private readonly out: Float32Array;

  constructor(
    private readonly layer: Embedding,
    readonly batch: number,
  ) {
    this.outputSize = layer.outputSize;
    this.out = new Float32Array(batch * this.outputSize);
  }

  step(ids: Float32Array | Int32Array): Float32Array {
    // The disposed layer's table is empty: every row would read as NaN.
    if (this.layer.disposed) throw disposedError('step', 'layer of this stream');
    const B = this.batch;
    if (!(ids instanceof Float32Array || ids instanceof Int32Array) || ids.length !== B)
      throw shapeError(
        'step',
        'x',
        [`B=${B}`],
        ArrayBuffer.isView(ids) ? [(ids as Float32Array).length] : [],
        `${B} token ids in a Float32Array or an Int32Array${ArrayBuffer.isView(ids) ? '' : `, got ${describe(ids)}`}`,
      );
    const { numEmbeddings: N, embeddingDim: D } = this.layer.config;
    for (let b = 0; b < B; ++b) {
      const id = ids[b];
      if (!(Number.isInteger(id) && id >= 0 && id < N))
        throw new CellstateRangeError(
          ErrorCode.OUT_OF_RANGE,
          `step: token ids must be integers in [0, numEmbeddings=${N}), got ${id} at row ${b}`,
        );
      // An element loop rather than set(subarray(...)): no view object per step.
      this.layer.lookup(id, this.out, b * D);
    }
    return this.out;
  }

  reset(): void {}
}

/** Standard normal values (Box–Muller on the seeded generator; the same on every machine up to Math.log/cos rounding). */
export function fillNormal(rng: Random, out: Float32Array): void {
  for (let i = 0; i < out.length; i += 2) {
    const u1 = 1 - rng.nextUnit(); // (0, 1]
    const u2 = rng.nextUnit();
    const r = Math.sqrt(-2 * Math.log(u1));
    out[i] = r * Math.cos(2 * Math.PI * u2);
    if (i + 1 < out.length) out[i + 1] = r * Math.sin(2 * Math.PI * u2);
  }
}
