// A stream through layers applied one after another (Sequential.stream()): each step runs every
// layer's stream on the previous one's output buffer. Nothing is allocated per step beyond what
// the layers' streams allocate (nothing).
import {
  CellstateRangeError,
  CellstateTypeError,
  ErrorCode,
  describe,
  disposeSymbol,
  disposedError,
} from '../errors';
import { OptionReader } from '../options';
import type { Tensor } from '../tensor';
import { over, transform, type OverOptions, type TransformOptions } from './node';
import { MAX_STREAM_ROWS, checkStreamable, frameData } from './stream';
import type {
  LayerStream,
  LayerStreamOptions,
  StatefulLayerStream,
  StreamSnapshotLike,
  StreamState,
} from './types';

/** A layer that can stream (every layer a Sequential holds). */
export interface StreamingLayer {
  readonly config: object;
  stream(opts?: LayerStreamOptions): LayerStream;
}

/** Per layer index: the state of each recurrent layer's stream, null for the other layers. */
export type ComposedState = (StreamState | null)[];

function isStateful(s: LayerStream): s is StatefulLayerStream {
  const t = s as Partial<StatefulLayerStream>;
  return (
    typeof t.getState === 'function' &&
    typeof t.setState === 'function' &&
    typeof t.snapshot === 'function' &&
    typeof t.restore === 'function'
  );
}

/** A snapshot of every stateful layer's stream of a ComposedStream. */
export class ComposedSnapshot implements StreamSnapshotLike {
  /** @internal Per layer index, the layer stream's snapshot (null: a stateless layer). */
  readonly parts: (StreamSnapshotLike | null)[];
  /** Sequences whose state it holds. */
  readonly rows: number;

  /** @internal */
  constructor(parts: (StreamSnapshotLike | null)[], rows: number) {
    this.parts = parts;
    this.rows = rows;
  }

  /** Whether dispose() was called. */
  get disposed(): boolean {
    return this.parts.some((p) => (p as { disposed?: boolean } | null)?.disposed === true);
  }

  /** Frees every layer's snapshot now (restoring it is then ERR_CELLSTATE_DISPOSED). */
  dispose(): void {
    for (const p of this.parts) (p as { dispose?: () => void } | null)?.dispose?.();
  }

  /** dispose(), for `using`. */
  [disposeSymbol](): void {
    this.dispose();
  }
}

/** One time step at a time through layers in order. */
export class ComposedStream implements StatefulLayerStream<ComposedState, ComposedSnapshot> {
  /** Sequences stepped together, `B`. */
  readonly batch: number;
  /** Features per sequence of each step's input (1 with an Embedding first: a token id). */
  readonly inputSize: number;
  /** Features per sequence of each step's output. */
  readonly outputSize: number;
  /** The layers' streams, in order. */
  readonly streams: readonly LayerStream[];
  private last: Float32Array;

  /** @internal Use `composeStreams(layers)` or `model.stream()`. */
  constructor(streams: LayerStream[], batch: number) {
    this.streams = Object.freeze(streams);
    this.batch = batch;
    this.inputSize = streams[0].inputSize;
    this.outputSize = streams[streams.length - 1].outputSize;
    this.last = new Float32Array(batch * this.outputSize);
  }

  /** The latest step's output `[B, O]` (the last layer's buffer; zeros before a first step). */
  get output(): Float32Array {
    return this.last;
  }

  /**
   * One time step: `x` `[B, I]` (a Float32Array of B·I values, or a Tensor `[B, I]`) through
   * every layer. Returns the last layer's output buffer `[B, O]`, reused by the next step.
   */
  step(x: Float32Array | Tensor): Float32Array {
    this.live('step');
    let y =
      x instanceof Float32Array && x.length === this.batch * this.inputSize
        ? x
        : frameData('step', x, this.batch, this.inputSize, 'I');
    const streams = this.streams;
    for (let i = 0; i < streams.length; ++i) y = streams[i].step(y);
    this.last = y;
    return y;
  }

  /** Zero state in every layer. */
  reset(): void {
    this.live('reset');
    for (let i = 0; i < this.streams.length; ++i) this.streams[i].reset();
  }

  private disposedFlag = false;

  /** Whether dispose() was called. */
  get disposed(): boolean {
    return this.disposedFlag;
  }

  /**
   * Frees every layer's stream now (the recurrent ones' native state). Every later call throws
   * an Error with code ERR_CELLSTATE_DISPOSED; a second dispose() does nothing.
   */
  dispose(): void {
    if (this.disposedFlag) return;
    this.disposedFlag = true;
    for (const s of this.streams) s.dispose?.();
  }

  /** dispose(), for `using`. */
  [disposeSymbol](): void {
    this.dispose();
  }

  private live(where: string): void {
    if (this.disposedFlag) throw disposedError(where, 'stream');
  }

  /** A copy of the state: per layer index, `{ h, c? }` for a recurrent layer, else null. */
  getState(): ComposedState {
    this.live('getState');
    return this.streams.map((s) => (isStateful(s) ? (s.getState() as StreamState) : null));
  }

  /**
   * Replaces the state of the recurrent layers: per layer index, `{ h, c? }` as their streams'
   * setState takes; null or undefined entries (and stateless layers) are left as they are.
   */
  setState(state: ComposedState): void {
    this.live('setState');
    const where = 'setState';
    if (!Array.isArray(state) || state.length !== this.streams.length)
      throw new CellstateTypeError(
        ErrorCode.INVALID_ARG,
        `${where}: state must be an array of ${this.streams.length} entries (one per layer, null for a layer without state), got ${describe(state)}`,
      );
    this.streams.forEach((s, i) => {
      const part = state[i];
      if (part === null || part === undefined) return;
      if (!isStateful(s))
        throw new CellstateTypeError(
          ErrorCode.INVALID_ARG,
          `${where}: state[${i}] must be null: layer ${i} has no state`,
        );
    });
    this.streams.forEach((s, i) => {
      const part = state[i];
      if (part !== null && part !== undefined && isStateful(s)) s.setState(part);
    });
  }

  /** A copy of every layer's state (`into`: a snapshot of this stream to reuse). */
  snapshot(into?: ComposedSnapshot): ComposedSnapshot {
    this.live('snapshot');
    if (
      into !== undefined &&
      !(into instanceof ComposedSnapshot && into.parts.length === this.streams.length)
    )
      throw new CellstateTypeError(
        ErrorCode.INVALID_ARG,
        `snapshot: into must be a snapshot of a stream of these layers, got ${describe(into)}`,
      );
    const parts = this.streams.map((s, i) =>
      isStateful(s) ? s.snapshot(into?.parts[i] ?? undefined) : null,
    );
    return new ComposedSnapshot(parts, this.batch);
  }

  /** Puts back the state of a snapshot of a stream of these layers. */
  restore(snapshot: ComposedSnapshot): void {
    this.live('restore');
    const where = 'restore';
    if (!(snapshot instanceof ComposedSnapshot) || snapshot.parts.length !== this.streams.length)
      throw new CellstateTypeError(
        ErrorCode.INVALID_ARG,
        `${where}: snapshot must be a snapshot of a stream of these layers, got ${describe(snapshot)}`,
      );
    if (snapshot.rows !== this.batch)
      throw new CellstateRangeError(
        ErrorCode.SHAPE,
        `${where}: snapshot must hold the state of ${this.batch} sequences, got ${snapshot.rows}`,
      );
    this.streams.forEach((s, i) => {
      const part = snapshot.parts[i];
      if (part && isStateful(s)) s.restore(part);
    });
  }

  /** A Node.js Transform over this stream (see lib/stream/node.ts). */
  transform(options?: TransformOptions) {
    return transform(this, options);
  }

  /** Steps through the frames of `source`, yielding each output (see lib/stream/node.ts). */
  over(
    source: Iterable<Float32Array | Tensor> | AsyncIterable<Float32Array | Tensor>,
    options?: OverOptions,
  ): AsyncGenerator<Float32Array, void, undefined> {
    return over(this, source, options);
  }
}

/**
 * A stream through `layers` in order (what Sequential.stream() returns). A bidirectional
 * recurrent layer refuses (ERR_CELLSTATE_UNSUPPORTED).
 */
export function composeStreams(
  layers: readonly StreamingLayer[],
  opts?: LayerStreamOptions,
): ComposedStream {
  const where = 'stream';
  const batch = new OptionReader(opts, where, ['batch'], ErrorCode.INVALID_ARG).int(
    'batch',
    1,
    MAX_STREAM_ROWS,
    1,
  );
  if (!Array.isArray(layers) || layers.length === 0)
    throw new CellstateTypeError(
      ErrorCode.INVALID_ARG,
      `${where}: layers must be a non-empty array of layers, got ${describe(layers)}`,
    );
  layers.forEach((layer, i) => {
    const config = layer.config as { cell?: string; bidirectional?: boolean };
    if (config.cell !== undefined) checkStreamable(layer as never, `${where}: layers[${i}]`);
  });
  const streams: LayerStream[] = [];
  layers.forEach((layer, i) => {
    const type = (layer.config as { type?: string }).type;
    if (type !== 'dropout') {
      streams.push(layer.stream({ batch }));
      return;
    }
    // A Dropout (the identity at inference) has no size of its own: the features flowing in.
    const next = layers
      .slice(i + 1)
      .find((l) => typeof (l as { inputSize?: unknown }).inputSize === 'number');
    const size =
      i > 0 ? streams[i - 1].outputSize : (next as { inputSize?: number } | undefined)?.inputSize;
    if (size === undefined)
      throw new CellstateTypeError(
        ErrorCode.INVALID_ARG,
        `${where}: layers[${i}] is a Dropout whose feature size nothing determines`,
      );
    streams.push(layer.stream({ batch, size } as LayerStreamOptions));
  });
  return new ComposedStream(streams, batch);
}
