// A StreamPool through layers in order (Sequential.streamPool()): the sessions are rows of one
// batch in every layer. Each recurrent layer is a StreamPool whose sessions open and close in
// lockstep with this pool's (so their rows agree); each stateless layer (Dense, Embedding,
// Dropout) is a stream over all `capacity` rows, whose rows are functions of their input rows
// alone, so recomputing a row that was not stepped gives back what it held. A step runs every
// layer once: the recurrent ones on exactly the stepped rows.
import {
  CellstateError,
  CellstateRangeError,
  CellstateTypeError,
  ErrorCode,
  describe,
  disposeSymbol,
  disposedError,
} from '../errors';
import { OptionReader } from '../options';
import type { Tensor } from '../tensor';
import {
  ComposedSnapshot,
  checkComposedSnapshot,
  layerSource,
  type ComposedState,
  type StreamingLayer,
} from './compose';
import type { PoolSession, StreamPool, StreamPoolOptions } from './pool';
import { PooledSession } from './session';
import {
  MAX_STREAM_ROWS,
  StreamSnapshot,
  checkStreamable,
  frameInput,
  type SnapshotSource,
} from './stream';
import type { LayerStream, LayerStreamOptions, StreamState } from './types';

/** A layer that can be pooled: a recurrent one has streamPool(). */
interface PoolableLayer extends StreamingLayer {
  streamPool?(opts?: StreamPoolOptions): StreamPool;
}

interface Stage {
  /** A recurrent layer's pool. */
  pool: StreamPool | null;
  /** A stateless layer, its stream over `capacity` rows and that stream's output buffer. */
  layer: PoolableLayer | null;
  stream: LayerStream | null;
  out: Float32Array | null;
  /** Features per row out of this stage. */
  outputSize: number;
  /** Dropout: the features flowing through. */
  size: number;
}

/** One session of a ComposedPool. */
export class ComposedSession extends PooledSession<ComposedPool> {
  /** @internal Per layer index, the recurrent layer's session (null for the other layers). */
  readonly parts: (PoolSession | null)[];

  /** @internal Use `pool.open()`. */
  constructor(pool: ComposedPool, row: number, parts: (PoolSession | null)[]) {
    super(pool, row);
    this.parts = parts;
  }

  /** Leaves the pool: the last session's row moves into this one's. Idempotent. */
  close(): void {
    this.pool.closeSession(this);
  }

  /** Gives the session its next frame `[I]` (a token id: also an Int32Array of 1); the next pool.step() steps it. Copied. */
  write(x: Float32Array | Int32Array | Tensor): void {
    this.pool.write(this, x);
  }

  /**
   * The session's output `[O]` of its latest step: a view, valid until the next step, open or
   * close (before the session's first step its contents are unspecified).
   */
  get output(): Float32Array {
    return this.pool.outputOf(this);
  }

  /** Steps this session alone, now; returns its output. */
  step(x: Float32Array | Int32Array | Tensor): Float32Array {
    this.pool.write(this, x);
    return this.pool.stepOne(this);
  }

  /** Zero state in every recurrent layer. */
  reset(): void {
    this.check('reset');
    for (const p of this.parts) p?.reset();
  }

  /** Per layer index: a copy of the recurrent layer's `{ h, c? }` (`[L, 1, ·]`), else null. */
  getState(): ComposedState {
    this.check('getState');
    return this.parts.map((p) => (p ? p.getState() : null));
  }

  /** Replaces the recurrent layers' state (null / undefined entries are left as they are). */
  setState(state: ComposedState): void {
    const where = 'setState';
    this.check(where);
    if (!Array.isArray(state) || state.length !== this.parts.length)
      throw new CellstateTypeError(
        ErrorCode.INVALID_ARG,
        `${where}: state must be an array of ${this.parts.length} entries (one per layer, null for a layer without state), got ${describe(state)}`,
      );
    this.parts.forEach((p, i) => {
      if (!p && state[i] !== null && state[i] !== undefined)
        throw new CellstateTypeError(
          ErrorCode.INVALID_ARG,
          `${where}: state[${i}] must be null: layer ${i} has no state`,
        );
    });
    // A part refused after earlier layers took theirs: put those back (a failed call changes
    // nothing).
    const parts = this.parts.map((p, i) => (p && state[i] ? p : null));
    const before = parts.map((p) => p?.getState() ?? null);
    let done = 0;
    try {
      for (; done < parts.length; ++done) parts[done]?.setState(state[done] as StreamState);
    } catch (error) {
      for (let i = 0; i < done; ++i) if (before[i]) parts[i]!.setState(before[i]!);
      throw error;
    }
  }

  /** A copy of the state (exchangeable with a batch-1 `model.stream()`'s). */
  snapshot(into?: ComposedSnapshot): ComposedSnapshot {
    this.check('snapshot');
    if (
      into !== undefined &&
      !(into instanceof ComposedSnapshot && into.parts.length === this.parts.length)
    )
      throw new CellstateTypeError(
        ErrorCode.INVALID_ARG,
        `snapshot: into must be a snapshot of these layers, got ${describe(into)}`,
      );
    const parts = this.parts.map((p, i) =>
      p ? p.snapshot((into?.parts[i] as StreamSnapshot | null | undefined) ?? undefined) : null,
    );
    return new ComposedSnapshot(parts, 1, this.pool.sources);
  }

  /**
   * Puts back a snapshot's state: one sequence of layers of the same sources (from a session
   * or a batch-1 `model.stream()`); another is refused before any layer's state changes.
   */
  restore(snapshot: ComposedSnapshot): void {
    const where = 'restore';
    this.check(where);
    checkComposedSnapshot(
      where,
      snapshot,
      1,
      this.pool.sources,
      this.parts.map((p) => (p ? (w: string, part: unknown) => p.checkRestore(w, part) : null)),
    );
    this.parts.forEach((p, i) => {
      const part = snapshot.parts[i];
      if (p && part) p.restore(part as StreamSnapshot);
    });
  }

  private check(where: string): void {
    if (this.disposedFlag) throw disposedError(where, 'session');
    if (!this.open)
      throw new CellstateError(
        ErrorCode.UNSUPPORTED,
        `${where}: the session is closed (it left its pool)`,
      );
  }
}

/** Independent streaming sessions through layers in order, stepped as one batch. */
export class ComposedPool {
  /** Features per step of each session's input (1 with an Embedding first: a token id). */
  readonly inputSize: number;
  /** Features per step of each session's output. */
  readonly outputSize: number;
  /** @internal Per layer index, what its sessions' snapshots are taken from. */
  readonly sources: readonly SnapshotSource[];

  private readonly stages: Stage[];
  private readonly tokens: number; // numEmbeddings of an Embedding first, else 0
  private capacity: number;
  private sessions: ComposedSession[] = [];
  private x: Float32Array = new Float32Array(0);
  private xRows: Float32Array[] = [];
  private index = new Int32Array(0);
  private one = new Int32Array(1);
  private readyCount = 0;
  private final: Float32Array = new Float32Array(0);
  private finalRows: Float32Array[] = [];
  private finalBatch: Float32Array = new Float32Array(0);

  /** @internal Use `model.streamPool()`. */
  constructor(layers: readonly PoolableLayer[], options?: StreamPoolOptions) {
    const where = 'streamPool';
    const r = new OptionReader(options, where, ['capacity'], ErrorCode.INVALID_ARG);
    this.capacity = r.int('capacity', 1, MAX_STREAM_ROWS, 16);
    if (!Array.isArray(layers) || layers.length === 0)
      throw new CellstateTypeError(
        ErrorCode.INVALID_ARG,
        `${where}: layers must be a non-empty array of layers, got ${describe(layers)}`,
      );
    layers.forEach((layer, i) => {
      if ((layer.config as { cell?: string }).cell !== undefined)
        checkStreamable(layer as never, `${where}: layers[${i}]`);
    });
    this.stages = [];
    layers.forEach((layer, i) => {
      if (typeof layer.streamPool === 'function') {
        const pool = layer.streamPool({ capacity: this.capacity });
        this.stages.push({
          pool,
          layer: null,
          stream: null,
          out: null,
          outputSize: pool.outputSize,
          size: 0,
        });
        return;
      }
      const type = (layer.config as { type?: string }).type;
      let size = 0;
      if (type === 'dropout') {
        const next = layers
          .slice(i + 1)
          .find((l) => typeof (l as { inputSize?: unknown }).inputSize === 'number');
        const s =
          i > 0
            ? this.stages[i - 1].outputSize
            : (next as { inputSize?: number } | undefined)?.inputSize;
        if (s === undefined)
          throw new CellstateTypeError(
            ErrorCode.INVALID_ARG,
            `${where}: layers[${i}] is a Dropout whose feature size nothing determines`,
          );
        size = s;
      }
      const stream = this.openStream(layer, size);
      this.stages.push({
        pool: null,
        layer,
        stream,
        out: null,
        outputSize: stream.outputSize,
        size,
      });
    });
    const first = this.stages[0];
    this.inputSize = first.pool ? first.pool.inputSize : first.stream!.inputSize;
    this.outputSize = this.stages[this.stages.length - 1].outputSize;
    this.sources = Object.freeze(
      this.stages.map((st, i) => (st.pool ? st.pool.source : layerSource(layers[i], st.stream!))),
    );
    const config = layers[0].config as { type?: string; numEmbeddings?: number };
    this.tokens = config.type === 'embedding' ? (config.numEmbeddings ?? 0) : 0;
    this.allocate(this.capacity);
  }

  /** Open sessions. */
  get size(): number {
    return this.sessions.length;
  }

  private disposedFlag = false;

  /** Whether dispose() was called. */
  get disposed(): boolean {
    return this.disposedFlag;
  }

  /**
   * Frees every layer's pool now (their native state) and closes every session. Every later
   * call on the pool or its sessions throws an Error with code ERR_CELLSTATE_DISPOSED (close()
   * stays a no-op); a second dispose() does nothing.
   */
  dispose(): void {
    if (this.disposedFlag) return;
    this.disposedFlag = true;
    for (const s of this.sessions) s.poolDisposed();
    this.sessions = [];
    this.readyCount = 0;
    for (const st of this.stages) st.pool?.dispose();
  }

  /** dispose(), for `using`. */
  [disposeSymbol](): void {
    this.dispose();
  }

  private live(where: string): void {
    if (this.disposedFlag) throw disposedError(where, 'pool');
  }

  /**
   * Opens a session with zero state (grows the pool, doubling, when full). All or nothing: a
   * refusal (the pool at MAX_STREAM_ROWS sessions, a layer's stream past MAX_ELEMENTS, a disposed
   * layer) leaves every layer's pool as it was.
   */
  open(): ComposedSession {
    this.live('open');
    const row = this.sessions.length;
    let capacity = this.capacity;
    let streams: (LayerStream | null)[] | null = null;
    if (row === this.capacity) {
      capacity = Math.min(MAX_STREAM_ROWS, this.capacity * 2);
      if (capacity === this.capacity)
        throw new CellstateError(
          ErrorCode.OUT_OF_RANGE,
          `open: the pool is full (${MAX_STREAM_ROWS} sessions)`,
        );
      // The stateless layers' streams for the new capacity, before anything changes.
      streams = this.stages.map((st) =>
        st.pool ? null : this.openStream(st.layer!, st.size, capacity),
      );
    }
    const parts: (PoolSession | null)[] = [];
    try {
      for (const st of this.stages) parts.push(st.pool ? st.pool.open() : null);
    } catch (e) {
      for (const p of parts) p?.close();
      throw e;
    }
    // The recurrent pools grew on their own; the rest follows.
    if (streams) this.allocate(capacity, streams);
    this.x.fill(0, row * this.inputSize, (row + 1) * this.inputSize);
    const session = new ComposedSession(this, row, parts);
    this.sessions.push(session);
    this.refreshFinal();
    return session;
  }

  /**
   * One time step of every session given a frame since the last step, each layer once (the
   * recurrent ones on exactly those rows). Returns how many sessions were stepped.
   */
  step(): number {
    this.live('step');
    const k = this.readyCount;
    if (k === 0) return 0;
    const n = this.sessions.length;
    let index: Int32Array | null = null;
    if (k < n) {
      index = this.index;
      let j = 0;
      for (let i = 0; i < n; ++i) if (this.sessions[i].ready) index[j++] = i;
    }
    this.run(index, k);
    for (let i = 0; i < n; ++i) this.sessions[i].ready = false;
    this.readyCount = 0;
    return k;
  }

  /**
   * One step of every session with the frames of `x` `[size, I]` (token ids `[size]` also as an
   * Int32Array when the first layer is an Embedding); returns `[size, O]` (reused).
   */
  stepAll(x: Float32Array | Int32Array | Tensor): Float32Array {
    this.live('stepAll');
    const n = this.sessions.length;
    const data = frameInput('stepAll', x, n, this.inputSize, this.tokens > 0);
    for (let i = 0; i < n; ++i) this.checkTokens('stepAll', data, i);
    this.x.set(data);
    for (let i = 0; i < n; ++i) this.sessions[i].ready = false;
    this.readyCount = 0;
    if (n > 0) this.run(null, n);
    return this.finalBatch;
  }

  /** The open sessions in row order (a new array). */
  list(): ComposedSession[] {
    return this.sessions.slice();
  }

  /** Closes every session. */
  clear(): void {
    this.live('clear');
    for (const s of this.sessions) {
      s.open = false;
      for (const p of s.parts) p?.close();
    }
    this.sessions = [];
    this.readyCount = 0;
    this.refreshFinal();
  }

  // ---- session operations -------------------------------------------------------------------

  /** @internal */
  write(s: ComposedSession, x: Float32Array | Int32Array | Tensor): void {
    this.checkSession(s, 'write');
    const data =
      x instanceof Float32Array && x.length === this.inputSize
        ? x
        : frameInput('write', x, 1, this.inputSize, this.tokens > 0);
    this.checkTokens('write', data, 0);
    this.xRows[s.row].set(data);
    if (!s.ready) {
      s.ready = true;
      ++this.readyCount;
    }
  }

  /** @internal */
  outputOf(s: ComposedSession): Float32Array {
    this.checkSession(s, 'output');
    return this.finalRows[s.row];
  }

  /** @internal Steps one session whose frame was just written. */
  stepOne(s: ComposedSession): Float32Array {
    s.ready = false;
    --this.readyCount;
    this.one[0] = s.row;
    this.run(this.one, 1);
    return this.finalRows[s.row];
  }

  /** @internal */
  closeSession(s: ComposedSession): void {
    if (!s.open || s.pool !== this || this.disposedFlag) return;
    const last = this.sessions.length - 1;
    const row = s.row;
    if (s.ready) --this.readyCount;
    s.open = false;
    for (const p of s.parts) p?.close(); // each recurrent pool moves its last row too
    if (row !== last) {
      const moved = this.sessions[last];
      this.xRows[row].set(this.xRows[last]);
      for (const st of this.stages) {
        if (!st.out) continue;
        const F = st.outputSize;
        st.out.copyWithin(row * F, last * F, (last + 1) * F);
      }
      moved.row = row;
      this.sessions[row] = moved;
    }
    this.sessions.pop();
    this.refreshFinal();
  }

  // ---- internals ----------------------------------------------------------------------------

  private openStream(layer: PoolableLayer, size: number, rows = this.capacity): LayerStream {
    const opts = size > 0 ? { batch: rows, size } : { batch: rows };
    return layer.stream(opts as LayerStreamOptions);
  }

  // Every stage once: recurrent pools on the rows of `index` (null: all), stateless streams on
  // all rows.
  private run(index: Int32Array | null, k: number): void {
    let input = this.x;
    const stages = this.stages;
    for (let i = 0; i < stages.length; ++i) {
      const st = stages[i];
      if (st.pool) input = st.pool.stepBatch(input, index, k);
      else input = st.out = st.stream!.step(input);
    }
    if (input !== this.final) {
      this.final = input;
      this.refreshFinal();
    }
  }

  private checkTokens(where: string, data: Float32Array | Int32Array, row: number): void {
    if (this.tokens === 0) return;
    const id = data[row];
    if (!(Number.isInteger(id) && id >= 0 && id < this.tokens))
      throw new CellstateRangeError(
        ErrorCode.OUT_OF_RANGE,
        `${where}: token ids must be integers in [0, numEmbeddings=${this.tokens}), got ${id}`,
      );
  }

  private checkSession(s: ComposedSession, where: string): void {
    if (s.disposedFlag) throw disposedError(where, 'session');
    this.live(where);
    if (!s.open)
      throw new CellstateError(
        ErrorCode.UNSUPPORTED,
        `${where}: the session is closed (it left its pool)`,
      );
  }

  // The final output buffer's row views and the view of the open sessions' rows.
  private refreshFinal(): void {
    const last = this.stages[this.stages.length - 1];
    const O = this.outputSize;
    if (this.final.length !== this.capacity * O) this.final = new Float32Array(this.capacity * O);
    if (last.pool) this.final = last.pool.stepBatchOutput();
    if (this.finalRows.length !== this.capacity || this.finalRows[0]?.buffer !== this.final.buffer)
      this.finalRows = Array.from({ length: this.capacity }, (_, i) =>
        this.final.subarray(i * O, (i + 1) * O),
      );
    this.finalBatch = this.final.subarray(0, this.sessions.length * O);
  }

  // Buffers for `capacity` rows (contents kept); stateless streams reopened (or `streams`, opened
  // for that capacity, taken) and recomputed.
  private allocate(capacity: number, streams?: (LayerStream | null)[]): void {
    const I = this.inputSize;
    const x = new Float32Array(capacity * I);
    x.set(this.x.subarray(0, Math.min(this.x.length, x.length)));
    this.x = x;
    this.xRows = Array.from({ length: capacity }, (_, i) => x.subarray(i * I, (i + 1) * I));
    this.index = new Int32Array(capacity);
    const grown = capacity !== this.capacity;
    this.capacity = capacity;
    if (grown) {
      // Reopen the stateless streams for the new capacity and recompute their outputs from
      // their (kept) inputs, so that the rows of sessions not stepped since keep their values.
      let input: Float32Array = this.x;
      this.stages.forEach((st, i) => {
        if (st.pool) {
          input = st.pool.stepBatchOutput();
          return;
        }
        st.stream = streams?.[i] ?? this.openStream(st.layer!, st.size);
        input = st.out = st.stream.step(input);
      });
      this.final = input;
    }
    this.refreshFinal();
  }
}

/** A pool of sessions through `layers` in order (what Sequential.streamPool() returns). */
export function composePool(
  layers: readonly StreamingLayer[],
  options?: StreamPoolOptions,
): ComposedPool {
  return new ComposedPool(layers as PoolableLayer[], options);
}
