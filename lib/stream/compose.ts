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
import {
  MAX_STREAM_ROWS,
  checkStreamable,
  frameInput,
  snapshotSource,
  sourceMismatch,
  type SnapshotSource,
} from './stream';
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

/** A stateful stream's check of a snapshot part (its checkRestore, when it has one). */
function partChecker(s: StatefulLayerStream): (where: string, part: unknown) => void {
  const t = s as { checkRestore?: (where: string, part: unknown) => void };
  return typeof t.checkRestore === 'function' ? (w, p) => t.checkRestore!(w, p) : () => {};
}

function isStateful(s: LayerStream): s is StatefulLayerStream {
  const t = s as Partial<StatefulLayerStream>;
  return (
    typeof t.getState === 'function' &&
    typeof t.setState === 'function' &&
    typeof t.snapshot === 'function' &&
    typeof t.restore === 'function'
  );
}

/**
 * A snapshot of every stateful layer's stream of a ComposedStream (or of a ComposedPool
 * session). It records what it was taken from — per layer, a recurrent layer's SnapshotSource
 * or a stateless layer's `{ type, inputSize, outputSize }` — and restores only into a stream
 * or session of layers with the same sources, in the same order, with as many rows.
 */
export class ComposedSnapshot implements StreamSnapshotLike {
  /** @internal Per layer index, the layer stream's snapshot (null: a stateless layer). */
  readonly parts: (StreamSnapshotLike | null)[];
  /** Sequences whose state it holds. */
  readonly rows: number;
  /** Per layer index, what the snapshot was taken from. */
  readonly sources: readonly SnapshotSource[];

  /** @internal */
  constructor(
    parts: (StreamSnapshotLike | null)[],
    rows: number,
    sources: readonly SnapshotSource[],
  ) {
    this.parts = parts;
    this.rows = rows;
    this.sources = sources;
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

/** The per-layer sources of a composed stream's snapshots: a recurrent layer's or `{ type, inputSize, outputSize }`. */
export function layerSources(
  layers: readonly StreamingLayer[],
  streams: readonly LayerStream[],
): readonly SnapshotSource[] {
  return Object.freeze(layers.map((layer, i) => layerSource(layer, streams[i])));
}

/** One layer's part of a composed snapshot's source (`stream`: a stream on it). */
export function layerSource(layer: StreamingLayer, stream: LayerStream): SnapshotSource {
  const config = layer.config as { cell?: string; type?: string };
  if (config.cell !== undefined) return snapshotSource(layer as never);
  return Object.freeze({
    type: String(config.type),
    inputSize: stream.inputSize,
    outputSize: stream.outputSize,
  });
}

/**
 * Throws what restoring `snapshot` into layers of `sources` with `rows` rows would refuse (null
 * `checkPart` entries: stateless layers), before anything is changed.
 */
export function checkComposedSnapshot(
  where: string,
  snapshot: unknown,
  rows: number,
  sources: readonly SnapshotSource[],
  checkPart: (((where: string, part: unknown) => void) | null)[],
): asserts snapshot is ComposedSnapshot {
  if (!(snapshot instanceof ComposedSnapshot))
    throw new CellstateTypeError(
      ErrorCode.INVALID_ARG,
      `${where}: snapshot must be a snapshot of a stream of these layers (from snapshot()), got ${describe(snapshot)}`,
    );
  if (snapshot.sources.length !== sources.length || snapshot.parts.length !== sources.length)
    throw new CellstateTypeError(
      ErrorCode.INVALID_ARG,
      `${where}: the snapshot is of another configuration: it was taken from ${snapshot.sources.length} layers, this model has ${sources.length}`,
    );
  if (snapshot.rows !== rows)
    throw new CellstateRangeError(
      ErrorCode.SHAPE,
      `${where}: snapshot must hold the state of ${rows} sequence${rows === 1 ? '' : 's'}, got ${snapshot.rows}`,
    );
  sources.forEach((source, i) => {
    const error = sourceMismatch(where, snapshot.sources[i], source, `layer ${i}`);
    if (error) throw error;
  });
  checkPart.forEach((check, i) => {
    const part = snapshot.parts[i];
    if (!check !== !part)
      throw new CellstateTypeError(
        ErrorCode.INVALID_ARG,
        `${where}: the snapshot is of another configuration: layer ${i} ${check ? 'has' : 'has no'} state`,
      );
    check?.(where, part);
  });
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
  /** @internal Per layer index, what this stream's snapshots are taken from. */
  readonly sources: readonly SnapshotSource[];
  private last: Float32Array;

  // whether the first layer is an Embedding (the input is token ids)
  private readonly tokens: boolean;

  /** @internal Use `composeStreams(layers)` or `model.stream()`. */
  constructor(
    streams: LayerStream[],
    batch: number,
    sources: readonly SnapshotSource[],
    tokens = false,
  ) {
    this.tokens = tokens;
    this.streams = Object.freeze(streams);
    this.sources = sources;
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
   * One time step: `x` `[B, I]` (a Float32Array of B·I values, or a Tensor `[B, I]`; token ids
   * `[B]` also as an Int32Array when the first layer is an Embedding) through every layer. Returns the last layer's output buffer `[B, O]`, reused by the next step.
   */
  step(x: Float32Array | Int32Array | Tensor): Float32Array {
    this.live('step');
    // An Int32Array of B token ids goes to an Embedding's stream as it is.
    let y =
      x instanceof Float32Array && x.length === this.batch * this.inputSize
        ? x
        : (frameInput('step', x, this.batch, this.inputSize, this.tokens) as Float32Array);
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
    // A part refused after earlier layers took theirs: put those back (a failed call changes
    // nothing).
    const stateful = this.streams.map((s, i) =>
      state[i] !== null && state[i] !== undefined && isStateful(s) ? s : null,
    );
    const before = stateful.map((s) => s?.getState() ?? null);
    let done = 0;
    try {
      for (; done < stateful.length; ++done) stateful[done]?.setState(state[done]);
    } catch (error) {
      for (let i = 0; i < done; ++i) stateful[i]?.setState(before[i]);
      throw error;
    }
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
    return new ComposedSnapshot(parts, this.batch, this.sources);
  }

  /**
   * Puts back the state of a snapshot of a stream (or pool session, when B = 1) of layers of
   * the same sources with B rows. Another is refused before any layer's state changes (a
   * RangeError ERR_CELLSTATE_SHAPE for other sizes or rows, a TypeError
   * ERR_CELLSTATE_INVALID_ARG for other cells or kinds of layer).
   */
  restore(snapshot: ComposedSnapshot): void {
    this.live('restore');
    const where = 'restore';
    checkComposedSnapshot(
      where,
      snapshot,
      this.batch,
      this.sources,
      this.streams.map((s) => (isStateful(s) ? partChecker(s) : null)),
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
  const tokens = (layers[0].config as { type?: string }).type === 'embedding';
  return new ComposedStream(streams, batch, layerSources(layers, streams), tokens);
}
