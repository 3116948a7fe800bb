// The streaming contract shared by every layer that can run one time step at a time.
//
// `layer.stream({ batch })` returns a LayerStream: the state of `batch` independent sequences
// and preallocated buffers. Dense, Embedding and Dropout (lib/layers/) implement it; the
// recurrent layers and Sequential build on it. Keep this file minimal: it is the one interface
// that the layers and the stream composition agree on.

/** Options of `layer.stream(opts)`. */
export interface LayerStreamOptions {
  /** Independent sequences stepped together, `B`; an integer ≥ 1. Default 1. */
  batch?: number | undefined;
}

/**
 * One layer stepped one time step at a time.
 *
 * `step(x)` reads `x` `[batch, inputSize]` (row-major) and returns the output
 * `[batch, outputSize]` in a buffer preallocated by the stream: it is valid until the next
 * `step` (or `reset`) of the same stream and is overwritten then; copy it to keep it. `step`
 * allocates nothing per call. Streams are independent: many may run on one layer at once.
 */
export interface LayerStream {
  /** Sequences stepped together, `B`. */
  readonly batch: number;
  /** Features per sequence of each step's input (1 for an Embedding: the token id). */
  readonly inputSize: number;
  /** Features per sequence of each step's output. */
  readonly outputSize: number;
  /**
   * One time step: `x` holds `batch · inputSize` values (an Embedding reads token ids, as
   * integers in a Float32Array or an Int32Array). Returns the stream's output buffer of
   * `batch · outputSize` values, valid until the next step.
   */
  step(x: Float32Array): Float32Array;
  /** Back to the initial (zero) state; a stateless layer has nothing to reset. */
  reset(): void;
  /** Frees what the stream holds now (recurrent streams: their native state). */
  dispose?(): void;
}

// ---- stateful streams (lib/stream/stream.ts, lib/stream/compose.ts) -----------------------

/** The state of a recurrent stream: `h` `[L, B, R]` and, for an LSTM, `c` `[L, B, H]`. */
export interface StreamState {
  h: import('../tensor').Tensor;
  c?: import('../tensor').Tensor;
}

/** A snapshot of a stream's state (opaque), for `restore`. */
export interface StreamSnapshotLike {
  /** Sequences whose state it holds. */
  readonly rows: number;
}

/**
 * A LayerStream whose state can be read, replaced, and snapshotted to branch and come back
 * (beam search, rollback): the recurrent layers' streams and Sequential's.
 */
export interface StatefulLayerStream<
  S = unknown,
  P extends StreamSnapshotLike = StreamSnapshotLike,
> extends LayerStream {
  getState(): S;
  setState(state: S): void;
  snapshot(into?: P): P;
  restore(snapshot: P): void;
}
