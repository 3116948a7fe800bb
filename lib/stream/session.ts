// The life of one session of a pool (PoolSession, ComposedSession): its row in the pool's batch,
// whether it holds a frame, close() and dispose(). Each kind of session adds what it steps.
import { disposeSymbol } from '../errors';

/**
 * What every session of a pool (StreamPool's PoolSession, ComposedPool's ComposedSession) shares:
 * open / closed, pending, close and dispose.
 */
export abstract class PooledSession<P> {
  /** The pool this session belongs to. */
  readonly pool: P;
  /** @internal The session's row in the pool's batch (changes when other sessions close). */
  row: number;
  /** @internal It holds a frame for the next pool.step(). */
  ready = false;
  /** @internal */
  open = true;
  /** @internal dispose() was called (on the session or its pool). */
  disposedFlag = false;

  /** @internal */
  constructor(pool: P, row: number) {
    this.pool = pool;
    this.row = row;
  }

  /** Whether the session has left its pool. */
  get closed(): boolean {
    return !this.open;
  }

  /** Whether the session holds a frame (write) that the next pool.step() will step. */
  get pending(): boolean {
    return this.open && this.ready;
  }

  /** Leaves the pool: the last session's row moves into this one's. Idempotent. */
  abstract close(): void;

  /** Whether dispose() was called on this session or on its pool. */
  get disposed(): boolean {
    return this.disposedFlag;
  }

  /**
   * Closes the session (its row is freed for others at once); every later call on it then
   * throws an Error with code ERR_CELLSTATE_DISPOSED (close() stays a no-op). A second
   * dispose() does nothing.
   */
  dispose(): void {
    this.close();
    this.disposedFlag = true;
  }

  /** dispose(), for `using session = pool.open()`. */
  [disposeSymbol](): void {
    this.dispose();
  }

  /** @internal Its pool was disposed: closed and disposed with it. */
  poolDisposed(): void {
    this.open = false;
    this.disposedFlag = true;
  }
}
