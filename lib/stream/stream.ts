// Streaming inference on one recurrent layer stack: a Stream holds the state of `batch`
// independent sequences in native memory and runs one time step per step() call on the layer's
// packed weights (cellstate::Layer<float>::Step), writing into an output buffer allocated once.
// On the success path step() allocates nothing, in JavaScript or natively.
import type { NativeLayer } from '../binding';
import {
  CellstateRangeError,
  CellstateTypeError,
  ErrorCode,
  UnsupportedError,
  describe,
  disposeSymbol,
  disposedError,
  shapeError,
} from '../errors';
import { findCell, initKeys } from '../cells';
import { checkElements } from '../limits';
import { OptionReader } from '../options';
import { Tensor, type TensorLike, toTensor } from '../tensor';
import {
  newNativeSnapshot,
  newNativeStream,
  type NativeSnapshot,
  type NativeStream,
} from './native';
import { over, transform, type OverOptions, type TransformOptions } from './node';
import type { StatefulLayerStream, StreamSnapshotLike, StreamState } from './types';

/** Largest `batch` of a stream (and capacity of a pool). */
export const MAX_STREAM_ROWS = 1 << 24;

/** Options of `layer.stream()`. */
export interface StreamOptions {
  /** Independent sequences stepped together, `B`: step() takes `[B, I]` and returns `[B, R]`. An integer in [1, 2^24]. Default 1. */
  batch?: number | undefined;
}

/** What a layer needs to expose for streaming (LSTM, GRU, RNN). */
export interface StreamableLayer {
  readonly config: { readonly cell: string; readonly bidirectional: boolean };
}

/**
 * What a snapshot was taken from: the recurrent layer stack's architecture — its config apart
 * from the weights' seed, forgetBias (an initial value), dropout (training only) and batchFirst
 * (the layout of forward's tensors) — so `cell`, the sizes, `numLayers`, `bidirectional` and
 * the cell's variant options (an LSTM's projSize, peephole, gates and activations, a GRU's
 * resetAfter, an RNN's nonlinearity). A snapshot restores only into a stream or session whose
 * layer has the same source (the weights may differ).
 */
export type SnapshotSource = Readonly<Record<string, string | number | boolean>>;

/**
 * Refuses a stream or pool of `rows` rows on a layer of `config` whose native state and workspace would
 * exceed MAX_ELEMENTS, before anything is allocated (RangeError ERR_CELLSTATE_INVALID_ARG). Per
 * row the kernel keeps the frame, every layer's h (and c) and its gate pre-activations.
 */
export function checkStreamRows(
  config: Readonly<Record<string, unknown>>,
  rows: number,
  where: string,
): void {
  const c = config as {
    cell?: unknown;
    inputSize?: number;
    hiddenSize?: number;
    numLayers?: number;
  };
  const H = c.hiddenSize ?? 0;
  const spec = findCell(c.cell);
  const R = spec ? spec.stateSize({ ...config, hiddenSize: H } as never) : H;
  const gates = spec ? spec.maxBlocks : 1;
  const perRow = (c.inputSize ?? 0) + (c.numLayers ?? 1) * (gates * H + H + R);
  checkElements(
    rows * perRow,
    where,
    `${rows} rows × ${perRow} values of state and workspace per row`,
    ErrorCode.INVALID_ARG,
  );
}

/** The source of the snapshots of streams on `layer` (frozen; keys in the config's order). */
export function snapshotSource(layer: StreamableLayer): SnapshotSource {
  const out: Record<string, string | number | boolean> = {};
  // not part of the source: the layout of forward's tensors, and what does not change the
  // computation (the seed, dropout, an LSTM's forgetBias: lib/cells initKeys)
  const notSource = new Set(['batchFirst', ...initKeys(layer.config)]);
  for (const [key, value] of Object.entries(layer.config))
    if (!notSource.has(key) && ['string', 'number', 'boolean'].includes(typeof value))
      out[key] = value as string | number | boolean;
  return Object.freeze(out);
}

/**
 * The first difference between the source a snapshot was taken from (`got`) and the one a
 * stream needs (`want`), as an error (null when they are the same): a RangeError
 * ERR_CELLSTATE_SHAPE for a size, a TypeError ERR_CELLSTATE_INVALID_ARG for the cell or a
 * variant. `what` names the target ("this stream's layer", "layer 2").
 */
export function sourceMismatch(
  where: string,
  got: SnapshotSource | null,
  want: SnapshotSource,
  what: string,
): Error | null {
  if (got === null)
    return new CellstateTypeError(
      ErrorCode.INVALID_ARG,
      `${where}: the snapshot holds no state yet (it was never filled by snapshot())`,
    );
  const keys = [...new Set([...Object.keys(want), ...Object.keys(got)])];
  const key = keys.find((k) => got[k] !== want[k]);
  if (key === undefined) return null;
  const message =
    `${where}: the snapshot is of another configuration: it was taken with ${key} ` +
    `${show(got[key])}, ${what} has ${key} ${show(want[key])}`;
  return typeof want[key] === 'number' && typeof got[key] === 'number'
    ? new CellstateRangeError(ErrorCode.SHAPE, message)
    : new CellstateTypeError(ErrorCode.INVALID_ARG, message);
}

function show(value: unknown): string {
  return value === undefined ? '(none)' : typeof value === 'string' ? `'${value}'` : String(value);
}

/**
 * A copy of the state of a stream (or of a pool session) taken by `snapshot()`, to branch and
 * come back to it with `restore()` (beam search, rollback). Opaque; it lives in native memory.
 * It records what it was taken from (`source`: the cell, sizes, layers, directions) and
 * restores only into a stream or pool session on a layer of that same source, with as many
 * rows (a pool session counts as one row); anything else is refused before any state changes.
 */
export class StreamSnapshot implements StreamSnapshotLike {
  /** @internal */
  readonly native: NativeSnapshot;
  private taken: SnapshotSource | null = null;

  /** @internal Use `stream.snapshot()`. */
  constructor(nativeSnapshot: NativeSnapshot) {
    this.native = nativeSnapshot;
  }

  /** The architecture of the layer it was taken from (see SnapshotSource); null before a first snapshot() into it. */
  get source(): SnapshotSource | null {
    return this.taken;
  }

  /** @internal Records the source after a snapshot() into this. */
  setSource(source: SnapshotSource): void {
    this.taken = source;
  }

  /** Sequences (rows) whose state this holds; 0 before a first snapshot() into it. */
  get rows(): number {
    return this.native.rows;
  }

  /** Whether dispose() was called. */
  get disposed(): boolean {
    return this.native.disposed;
  }

  /**
   * Frees the snapshot's native memory now. Restoring it, or snapshotting into it, then throws
   * an Error with code ERR_CELLSTATE_DISPOSED; a second dispose() does nothing.
   */
  dispose(): void {
    this.native.dispose();
  }

  /** dispose(), for `using`. */
  [disposeSymbol](): void {
    this.dispose();
  }
}

/**
 * A frame for a model's stream: an Int32Array of `rows` token ids, as given, when the model reads
 * token ids (starts with an Embedding); else as frameData.
 */
export function frameInput(
  where: string,
  x: unknown,
  rows: number,
  size: number,
  tokens: boolean,
): Float32Array | Int32Array {
  if (tokens && x instanceof Int32Array) {
    if (x.length !== rows)
      throw shapeError(where, 'x', [`B=${rows}`], [x.length], `${rows} token ids`);
    return x;
  }
  return frameData(where, x, rows, size, 'I');
}

/** `x`'s data when it is one frame of `rows × size` values (a Float32Array, a Tensor or nested arrays). */
export function frameData(
  where: string,
  x: unknown,
  rows: number,
  size: number,
  sizeName: string,
): Float32Array {
  const expected = [`B=${rows}`, `${sizeName}=${size}`];
  if (x instanceof Float32Array) {
    if (x.length !== rows * size)
      throw shapeError(
        where,
        'x',
        expected,
        [x.length],
        `a Float32Array of ${rows * size} elements`,
      );
    return x;
  }
  if (!(x instanceof Tensor) && !Array.isArray(x))
    throw new CellstateTypeError(
      ErrorCode.INVALID_ARG,
      `${where}: x must be a Float32Array, a Tensor or nested arrays of numbers, got ${describe(x)}`,
    );
  const t = toTensor(x, where, 'x');
  const s = t.shape;
  const ok =
    (s.length === 2 && s[0] === rows && s[1] === size) ||
    (rows === 1 && s.length === 1 && s[0] === size);
  if (!ok) throw shapeError(where, 'x', expected, s);
  return t.data;
}

/** Throws ERR_CELLSTATE_UNSUPPORTED when `layer` cannot stream (a bidirectional layer). */
export function checkStreamable(layer: StreamableLayer, where: string): void {
  if (layer.config.bidirectional)
    throw new UnsupportedError(
      `${where}: a bidirectional ${findCell(layer.config.cell)?.title ?? 'layer'} cannot stream: its reverse ` +
        'direction reads the sequence from its end; stream a one-direction model, or run forward on whole sequences',
    );
}

/** One time step at a time of `batch` independent sequences through a recurrent layer stack. */
export class Stream implements StatefulLayerStream<StreamState, StreamSnapshot> {
  /** Independent sequences, `B`. */
  readonly batch: number;
  /** Features per step of the input, `I`. */
  readonly inputSize: number;
  /** Features per step of the output, `R` (projSize when > 0, else hiddenSize). */
  readonly outputSize: number;
  /**
   * The output buffer `[B, R]` that every step() writes and returns: the same array each time,
   * overwritten by the next step (copy it — `out.slice()` — to keep a step's output).
   */
  readonly output: Float32Array;

  /** @internal What this stream's snapshots are taken from. */
  readonly source: SnapshotSource;

  private readonly native: NativeStream;
  private readonly layers: number;
  private readonly hiddenSize: number;
  private readonly cellState: boolean;

  /** @internal Use `layer.stream()`. */
  constructor(layer: StreamableLayer, nativeLayer: NativeLayer, options?: StreamOptions) {
    const where = 'stream';
    checkStreamable(layer, where);
    const r = new OptionReader(options, where, ['batch'], ErrorCode.INVALID_ARG);
    this.batch = r.int('batch', 1, MAX_STREAM_ROWS, 1);
    checkStreamRows(layer.config, this.batch, where);
    this.native = newNativeStream(nativeLayer, this.batch, false);
    this.source = snapshotSource(layer);
    this.inputSize = this.native.inputSize;
    this.outputSize = this.native.outputSize;
    this.layers = this.native.numLayers;
    this.hiddenSize = this.native.hiddenSize;
    this.cellState = this.native.cellState;
    this.output = new Float32Array(this.batch * this.outputSize);
  }

  /**
   * One time step: `x` `[B, I]` (a Float32Array of B·I values, or a Tensor `[B, I]`) in, the
   * output `[B, R]` out, in `this.output`, which is returned and reused by the next step.
   * Allocates nothing when x is a Float32Array. A wrong size is a RangeError.
   */
  step(x: Float32Array | Tensor): Float32Array {
    // A disposed stream (or layer) is refused by the binding: no extra call on this hot path.
    const data =
      x instanceof Float32Array && x.length === this.batch * this.inputSize
        ? x
        : frameData('step', x, this.batch, this.inputSize, 'I');
    this.native.step(data, this.output);
    return this.output;
  }

  /** Zero state: every sequence starts again. */
  reset(): void {
    if (this.native.disposed) throw this.disposedError('reset');
    this.native.reset();
  }

  /** Whether dispose() was called on this stream or on its layer. */
  get disposed(): boolean {
    return this.native.disposed;
  }

  /**
   * Frees the stream's state (native memory) now. Every later call throws an Error with code
   * ERR_CELLSTATE_DISPOSED; a second dispose() does nothing. The layer is not disposed.
   */
  dispose(): void {
    this.native.dispose();
  }

  /** dispose(), for `using`. */
  [disposeSymbol](): void {
    this.dispose();
  }

  private disposedError(where: string): Error {
    return disposedError(where, this.native.disposed ? 'stream (or its layer)' : 'stream');
  }

  /**
   * A copy of the state: `h` `[L, B, R]` and, for an LSTM, `c` `[L, B, H]` — the layout of
   * forward's `h` / `c`, so `forward(x, { h0: h, c0: c })` continues where the stream is.
   */
  getState(): StreamState {
    if (this.native.disposed) throw this.disposedError('getState');
    const { layers: L, batch: B } = this;
    const h = new Float32Array(L * B * this.outputSize);
    const c = this.cellState ? new Float32Array(L * B * this.hiddenSize) : null;
    this.native.readState(h, c, 0, B);
    const state: StreamState = { h: new Tensor(h, [L, B, this.outputSize]) };
    if (c) state.c = new Tensor(c, [L, B, this.hiddenSize]);
    return state;
  }

  /**
   * Replaces the state: `h` `[L, B, R]` and, for an LSTM, `c` `[L, B, H]` (absent: zeros), as
   * Tensors, nested arrays or Float32Arrays of that many values.
   */
  setState(state: { h: TensorLike | Float32Array; c?: TensorLike | Float32Array }): void {
    const where = 'setState';
    if (this.native.disposed) throw this.disposedError(where);
    const { h, c } = readState(where, state, this.layers, this.batch, this.outputSize, {
      cellState: this.cellState,
      hiddenSize: this.hiddenSize,
    });
    this.native.writeState(h, c, 0, this.batch);
  }

  /**
   * A copy of the state to come back to with restore(). `into`: a snapshot to overwrite
   * (reusing its memory, so branching in a loop allocates nothing once sizes are reached).
   */
  snapshot(into?: StreamSnapshot): StreamSnapshot {
    if (this.native.disposed) throw this.disposedError('snapshot');
    const snap = snapshotTarget('snapshot', into);
    this.native.snapshot(0, this.batch, snap.native);
    snap.setSource(this.source);
    return snap;
  }

  /**
   * Puts back the state of a snapshot taken from a stream of this configuration (the same
   * source: cell, sizes, layers) with B rows, or from a pool session when B = 1. Another
   * snapshot is refused (a RangeError ERR_CELLSTATE_SHAPE for other sizes or rows, a TypeError
   * ERR_CELLSTATE_INVALID_ARG for another cell or kind) and the state is left as it was.
   */
  restore(snapshot: StreamSnapshot): void {
    const where = 'restore';
    if (this.native.disposed) throw this.disposedError(where);
    this.checkRestore(where, snapshot);
    this.native.restore(snapshot.native, 0);
  }

  /** @internal Throws what restore(snapshot) would refuse, changing nothing. */
  checkRestore(where: string, snapshot: unknown): void {
    checkSnapshot(where, snapshot, this.batch, this.source);
  }

  /**
   * A Node.js Transform stream over this stream: frames in, outputs out, with backpressure.
   * See `transform()` in lib/stream/node.ts.
   */
  transform(options?: TransformOptions) {
    return transform(this, options);
  }

  /**
   * Steps through the frames of `source` (an iterable or async iterable), yielding each output
   * (a copy, unless `{ copy: false }`): `for await (const y of s.over(frames)) ...`.
   */
  over(
    source: Iterable<Float32Array | Tensor> | AsyncIterable<Float32Array | Tensor>,
    options?: OverOptions,
  ): AsyncGenerator<Float32Array, void, undefined> {
    return over(this, source, options);
  }
}

/** The target of snapshot(): `into` when given (checked), else a new snapshot. */
export function snapshotTarget(where: string, into: unknown): StreamSnapshot {
  if (into === undefined) return new StreamSnapshot(newNativeSnapshot());
  if (!(into instanceof StreamSnapshot))
    throw new CellstateTypeError(
      ErrorCode.INVALID_ARG,
      `${where}: into must be a StreamSnapshot (from snapshot()), got ${describe(into)}`,
    );
  if (into.disposed) throw disposedError(where, 'snapshot given as into');
  return into;
}

/** Checks that `snapshot` is a StreamSnapshot of `rows` rows taken from `source`. */
export function checkSnapshot(
  where: string,
  snapshot: unknown,
  rows: number,
  source: SnapshotSource,
): void {
  if (!(snapshot instanceof StreamSnapshot))
    throw new CellstateTypeError(
      ErrorCode.INVALID_ARG,
      `${where}: snapshot must be a StreamSnapshot (from snapshot()), got ${describe(snapshot)}`,
    );
  if (snapshot.disposed) throw disposedError(where, 'snapshot');
  if (snapshot.rows !== rows)
    throw new CellstateRangeError(
      ErrorCode.SHAPE,
      `${where}: snapshot must hold the state of ${rows} sequence${rows === 1 ? '' : 's'}, got ${snapshot.rows}`,
    );
  const error = sourceMismatch(where, snapshot.source, source, "this stream's layer");
  if (error) throw error;
}

/** Reads `{ h, c? }` of `rows` sequences for writeState. */
export function readState(
  where: string,
  state: unknown,
  layers: number,
  rows: number,
  outputSize: number,
  cell: { cellState: boolean; hiddenSize: number },
): { h: Float32Array; c: Float32Array | null } {
  if (state === null || typeof state !== 'object' || Array.isArray(state))
    throw new CellstateTypeError(
      ErrorCode.INVALID_ARG,
      `${where}: state must be an object { h${cell.cellState ? ', c' : ''} }, got ${describe(state)}`,
    );
  const o = new OptionReader(state, where, ['h', 'c'], ErrorCode.INVALID_ARG);
  if (!cell.cellState && o.raw('c') !== undefined)
    throw new CellstateTypeError(
      ErrorCode.INVALID_ARG,
      `${where}: c is a cell state, which only an LSTM has; leave it out`,
    );
  const part = (name: string, size: number, symbol: string): Float32Array => {
    const value = o.raw(name);
    const shape = [layers, rows, size];
    const dims = [`L=${layers}`, `B=${rows}`, `${symbol}=${size}`];
    if (value instanceof Float32Array) {
      if (value.length !== layers * rows * size)
        throw shapeError(
          where,
          name,
          dims,
          [value.length],
          `a Float32Array of ${layers * rows * size} elements`,
        );
      return value;
    }
    const t = toTensor(value, where, name);
    if (t.shape.length !== 3 || t.shape.some((d, i) => d !== shape[i]))
      throw shapeError(where, name, dims, t.shape);
    return t.data;
  };
  if (o.raw('h') === undefined)
    throw new CellstateTypeError(ErrorCode.INVALID_ARG, `${where}: state.h is required`);
  const h = part('h', outputSize, 'R');
  const c = cell.cellState && o.raw('c') !== undefined ? part('c', cell.hiddenSize, 'H') : null;
  return { h, c };
}
