// Many independent streaming sessions (one per connected user, say) on one recurrent layer
// stack, stepped together as one batched kernel call: each session is a row of the batch.
// Sessions open and close between steps without disturbing the others: closing moves the last
// row's state into the freed row, so the active rows stay 0..size-1 and a full step is one
// kernel call on exactly `size` rows. A step of a subset (the sessions that received a frame)
// gathers their rows, steps them as one batch and scatters them back. Each row's result is
// bit-identical to stepping that session alone (the kernel computes every row with the same
// summation order whatever the batch; test/stream/pool.test.ts checks it).
import type { NativeLayer } from '../binding';
import { CellstateError, ErrorCode, disposeSymbol, disposedError } from '../errors';
import { OptionReader } from '../options';
import { Tensor, type TensorLike } from '../tensor';
import { newNativeStream, type NativeStream } from './native';
import {
  MAX_STREAM_ROWS,
  checkStreamRows,
  StreamSnapshot,
  checkSnapshot,
  checkStreamable,
  frameData,
  readState,
  snapshotSource,
  snapshotTarget,
  type SnapshotSource,
  type StreamableLayer,
} from './stream';
import { PooledSession } from './session';
import type { StreamState } from './types';

/** Options of `layer.streamPool()`. */
export interface StreamPoolOptions {
  /** Rows allocated at first; the pool doubles them when more sessions open. An integer in [1, 2^24]. Default 16. */
  capacity?: number | undefined;
}

/** One session of a StreamPool: the state of one sequence, and its latest frame and output. */
export class PoolSession extends PooledSession<StreamPool> {
  /** @internal Use `pool.open()`. */
  constructor(pool: StreamPool, row: number) {
    super(pool, row);
  }

  /** Leaves the pool: the last session's row moves into this one's. Idempotent. */
  close(): void {
    this.pool.closeSession(this);
  }

  /**
   * Gives the session its next frame `[I]` (a Float32Array of I values or a Tensor); the next
   * `pool.step()` steps it. Copied into the pool's batch, so the caller may reuse `x`. A second
   * write before the step replaces the first.
   */
  write(x: Float32Array | Tensor): void {
    this.pool.write(this, x);
  }

  /**
   * This session's output `[R]` of its latest step: a view into the pool's output batch, valid
   * until the next pool.step(), open() or close() (copy it to keep it). Zeros before a first step.
   */
  get output(): Float32Array {
    return this.pool.outputOf(this);
  }

  /** Steps this session alone, now, with `x` `[I]`; returns its output (as `output`). */
  step(x: Float32Array | Tensor): Float32Array {
    return this.pool.stepOne(this, x);
  }

  /** Zero state. */
  reset(): void {
    this.pool.sessionCall(this, 'reset', (row, n) => n.reset(row, 1));
  }

  /** A copy of the state: `h` `[L, 1, R]` and, for an LSTM, `c` `[L, 1, H]`. */
  getState(): StreamState {
    return this.pool.stateOf(this);
  }

  /** Replaces the state: `h` `[L, 1, R]`, and for an LSTM `c` `[L, 1, H]` (absent: zeros). */
  setState(state: { h: TensorLike | Float32Array; c?: TensorLike | Float32Array }): void {
    this.pool.setStateOf(this, state);
  }

  /** A copy of the state (`into`: a snapshot to reuse). Exchangeable with a batch-1 stream's. */
  snapshot(into?: StreamSnapshot): StreamSnapshot {
    const snap = snapshotTarget('snapshot', into);
    this.pool.sessionCall(this, 'snapshot', (row, n) => n.snapshot(row, 1, snap.native));
    snap.setSource(this.pool.source);
    return snap;
  }

  /**
   * Puts back a snapshot's state: one row taken from a session or a batch-1 stream of this
   * configuration (the same source); another is refused, changing nothing (see Stream.restore).
   */
  restore(snapshot: StreamSnapshot): void {
    this.checkRestore('restore', snapshot);
    this.pool.sessionCall(this, 'restore', (row, n) => n.restore(snapshot.native, row));
  }

  /** @internal Throws what restore(snapshot) would refuse, changing nothing. */
  checkRestore(where: string, snapshot: unknown): void {
    this.pool.checkOpen(this, where);
    checkSnapshot(where, snapshot, 1, this.pool.source);
  }
}

/** Independent streaming sessions on one layer stack, stepped as one batch. */
export class StreamPool {
  /** Features per step of each session's input, `I`. */
  readonly inputSize: number;
  /** Features per step of each session's output, `R`. */
  readonly outputSize: number;
  /** @internal What its sessions' snapshots are taken from. */
  readonly source: SnapshotSource;

  private readonly native: NativeStream;
  private readonly layers: number;
  private readonly hiddenSize: number;
  private readonly cellState: boolean;
  private capacity: number;
  private sessions: PoolSession[] = [];
  private x: Float32Array;
  private out: Float32Array;
  private xRows: Float32Array[] = [];
  private outRows: Float32Array[] = [];
  private index: Int32Array;
  private readyCount = 0;
  private outBatch: Float32Array;

  /** @internal Use `layer.streamPool()`. */
  constructor(layer: StreamableLayer, nativeLayer: NativeLayer, options?: StreamPoolOptions) {
    const where = 'streamPool';
    checkStreamable(layer, where);
    const r = new OptionReader(options, where, ['capacity'], ErrorCode.INVALID_ARG);
    this.capacity = r.int('capacity', 1, MAX_STREAM_ROWS, 16);
    checkStreamRows(layer.config, this.capacity, where);
    this.native = newNativeStream(nativeLayer, this.capacity, true);
    this.native.setRows(0);
    this.source = snapshotSource(layer);
    this.inputSize = this.native.inputSize;
    this.outputSize = this.native.outputSize;
    this.layers = this.native.numLayers;
    this.hiddenSize = this.native.hiddenSize;
    this.cellState = this.native.cellState;
    this.x = new Float32Array(0);
    this.out = new Float32Array(0);
    this.index = new Int32Array(0);
    this.outBatch = this.out;
    this.allocate(this.capacity);
  }

  /** Open sessions. */
  get size(): number {
    return this.sessions.length;
  }

  /** Whether dispose() was called on this pool or on its layer. */
  get disposed(): boolean {
    return this.native.disposed;
  }

  /**
   * Frees the pool's native memory (every session's state) now and closes every session.
   * Every later call on the pool or its sessions throws an Error with code
   * ERR_CELLSTATE_DISPOSED (close() stays a no-op); a second dispose() does nothing. The layer
   * is not disposed.
   */
  dispose(): void {
    if (this.native.disposed && this.sessions.length === 0) return;
    for (const s of this.sessions) s.poolDisposed();
    this.sessions = [];
    this.readyCount = 0;
    this.native.dispose();
    this.x = new Float32Array(0);
    this.out = new Float32Array(0);
    this.xRows = [];
    this.outRows = [];
    this.resized();
  }

  /** dispose(), for `using`. */
  [disposeSymbol](): void {
    this.dispose();
  }

  private live(where: string): void {
    if (this.native.disposed) throw disposedError(where, 'pool (or its layer)');
  }

  /** Opens a session with zero state. Grows the pool (doubling) when it is full. */
  open(): PoolSession {
    this.live('open');
    const row = this.sessions.length;
    if (row === this.capacity) {
      const capacity = Math.min(MAX_STREAM_ROWS, this.capacity * 2);
      if (capacity === this.capacity)
        throw new CellstateError(
          ErrorCode.OUT_OF_RANGE,
          `open: the pool is full (${MAX_STREAM_ROWS} sessions)`,
        );
      checkStreamRows(this.source, capacity, 'open');
      this.native.reserve(capacity);
      this.allocate(capacity);
    }
    this.native.setRows(row + 1);
    this.x.fill(0, row * this.inputSize, (row + 1) * this.inputSize);
    this.out.fill(0, row * this.outputSize, (row + 1) * this.outputSize);
    const session = new PoolSession(this, row);
    this.sessions.push(session);
    this.resized();
    return session;
  }

  /**
   * One time step of every session that was given a frame (write) since the last step, as one
   * batched kernel call (all sessions: directly; a subset: gathered, stepped and scattered
   * back). Returns how many sessions were stepped. Allocates nothing.
   */
  step(): number {
    this.live('step');
    const k = this.readyCount;
    if (k === 0) return 0;
    const n = this.sessions.length;
    if (k === n) {
      this.native.step(this.x, this.out);
      for (let i = 0; i < n; ++i) this.sessions[i].ready = false;
    } else {
      let j = 0;
      for (let i = 0; i < n; ++i) {
        const s = this.sessions[i];
        if (!s.ready) continue;
        this.index[j++] = i;
        s.ready = false;
      }
      this.native.stepRows(this.x, this.out, this.index, k);
    }
    this.readyCount = 0;
    return k;
  }

  /**
   * One time step of every session with the frames of `x` `[size, I]` (row i: the i-th session
   * in `sessions()` order) — for callers that build the batch themselves. Returns the output
   * batch `[size, R]` (reused by the next step).
   */
  stepAll(x: Float32Array | Tensor): Float32Array {
    this.live('stepAll');
    const n = this.sessions.length;
    const data = frameData('stepAll', x, n, this.inputSize, 'I');
    this.x.set(data);
    for (let i = 0; i < n; ++i) this.sessions[i].ready = false;
    this.readyCount = 0;
    this.native.step(this.x, this.out);
    return this.outBatch;
  }

  /** The open sessions, in row order (a new array). */
  list(): PoolSession[] {
    return this.sessions.slice();
  }

  /** Closes every session. */
  clear(): void {
    this.live('clear');
    for (const s of this.sessions) s.open = false;
    this.sessions = [];
    this.readyCount = 0;
    this.native.setRows(0);
    this.resized();
  }

  // ---- session operations (PoolSession delegates here) -------------------------------------

  /** @internal */
  write(s: PoolSession, x: Float32Array | Tensor): void {
    this.checkSession(s, 'write');
    const data =
      x instanceof Float32Array && x.length === this.inputSize
        ? x
        : frameData('write', x, 1, this.inputSize, 'I');
    this.xRows[s.row].set(data);
    if (!s.ready) {
      s.ready = true;
      ++this.readyCount;
    }
  }

  /** @internal */
  outputOf(s: PoolSession): Float32Array {
    this.checkSession(s, 'output');
    return this.outRows[s.row];
  }

  /** @internal */
  stepOne(s: PoolSession, x: Float32Array | Tensor): Float32Array {
    this.checkSession(s, 'step');
    const data =
      x instanceof Float32Array && x.length === this.inputSize
        ? x
        : frameData('step', x, 1, this.inputSize, 'I');
    this.xRows[s.row].set(data);
    if (s.ready) {
      s.ready = false;
      --this.readyCount;
    }
    this.index[0] = s.row;
    this.native.stepRows(this.x, this.out, this.index, 1);
    return this.outRows[s.row];
  }

  /** @internal */
  sessionCall(s: PoolSession, where: string, f: (row: number, n: NativeStream) => void): void {
    this.checkSession(s, where);
    f(s.row, this.native);
  }

  /** @internal */
  stateOf(s: PoolSession): StreamState {
    this.checkSession(s, 'getState');
    const L = this.layers;
    const h = new Float32Array(L * this.outputSize);
    const c = this.cellState ? new Float32Array(L * this.hiddenSize) : null;
    this.native.readState(h, c, s.row, 1);
    const state: StreamState = { h: new Tensor(h, [L, 1, this.outputSize]) };
    if (c) state.c = new Tensor(c, [L, 1, this.hiddenSize]);
    return state;
  }

  /** @internal */
  setStateOf(s: PoolSession, state: unknown): void {
    const where = 'setState';
    this.checkSession(s, where);
    const { h, c } = readState(where, state, this.layers, 1, this.outputSize, {
      cellState: this.cellState,
      hiddenSize: this.hiddenSize,
    });
    this.native.writeState(h, c, s.row, 1);
  }

  /** @internal */
  closeSession(s: PoolSession): void {
    if (!s.open || s.pool !== this || this.native.disposed) return;
    const last = this.sessions.length - 1;
    const row = s.row;
    if (s.ready) --this.readyCount;
    s.open = false;
    if (row !== last) {
      const moved = this.sessions[last];
      this.native.moveRow(last, row);
      this.xRows[row].set(this.xRows[last]);
      this.outRows[row].set(this.outRows[last]);
      moved.row = row;
      this.sessions[row] = moved;
    }
    this.sessions.pop();
    this.native.setRows(last);
    this.resized();
  }

  // ---- for composed pools (lib/stream/compose-pool.ts) --------------------------------------

  /**
   * @internal One step of rows 0..size-1 (index null) or of rows index[0..k) reading `input`
   * `[≥ size, I]` instead of the written frames; returns the output batch `[capacity, R]`
   * (other rows untouched). Sessions' pending frames are left as they are.
   */
  stepBatch(input: Float32Array, index: Int32Array | null, k: number): Float32Array {
    this.live('step');
    if (index) this.native.stepRows(input, this.out, index, k);
    else this.native.step(input, this.out);
    return this.out;
  }

  /** @internal The output batch `[capacity, R]` (replaced when the pool grows). */
  stepBatchOutput(): Float32Array {
    return this.out;
  }

  /** @internal Throws when `s` is closed. */
  checkOpen(s: PoolSession, where: string): void {
    this.checkSession(s, where);
  }

  // ---- internals ----------------------------------------------------------------------------

  private checkSession(s: PoolSession, where: string): void {
    if (s.disposedFlag) throw disposedError(where, 'session');
    this.live(where);
    if (!s.open)
      throw new CellstateError(
        ErrorCode.UNSUPPORTED,
        `${where}: the session is closed (it left its pool)`,
      );
  }

  // The view of the output batch of the open sessions, updated when the size changes.
  private resized(): void {
    this.outBatch = this.out.subarray(0, this.sessions.length * this.outputSize);
  }

  // Buffers for `capacity` rows (the old contents kept), and one view per row.
  private allocate(capacity: number): void {
    const I = this.inputSize;
    const R = this.outputSize;
    const x = new Float32Array(capacity * I);
    const out = new Float32Array(capacity * R);
    x.set(this.x);
    out.set(this.out);
    this.x = x;
    this.out = out;
    this.xRows = Array.from({ length: capacity }, (_, i) => x.subarray(i * I, (i + 1) * I));
    this.outRows = Array.from({ length: capacity }, (_, i) => out.subarray(i * R, (i + 1) * R));
    this.index = new Int32Array(capacity);
    this.capacity = capacity;
    this.resized();
  }
}
