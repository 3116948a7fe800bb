// The dispose() protocol of the layers computed in JavaScript (Dense, Embedding, Dropout): one
// flag, refusals with ERR_CELLSTATE_DISPOSED after it, and no dispose while a fit holds the layer.
import { disposeSymbol, disposedError } from '../errors';
import { checkNotHeld } from '../hold';

/** Base of Dense, Embedding and Dropout: dispose() and its checks. */
export abstract class JsLayer {
  private disposedFlag = false;

  /** Whether dispose() was called. */
  get disposed(): boolean {
    return this.disposedFlag;
  }

  /**
   * Frees the layer now (see each class for what it holds). Every later call, and every step of
   * its streams, throws an Error with code ERR_CELLSTATE_DISPOSED; a second dispose() does
   * nothing. A layer a running fit holds throws ERR_CELLSTATE_BUSY and frees nothing.
   */
  dispose(): void {
    if (this.disposedFlag) return;
    checkNotHeld(this, 'dispose', 'layer');
    this.disposedFlag = true;
    this.free();
  }

  /** dispose(), for `using`. */
  [disposeSymbol](): void {
    this.dispose();
  }

  /** What dispose() frees; called once. */
  protected abstract free(): void;

  /** Refuses a call `where` on a disposed layer. */
  protected live(where: string): void {
    if (this.disposedFlag) throw disposedError(where, 'layer');
  }
}
