// The dispose() protocol of the layers computed in JavaScript (Dense, Embedding, Dropout): one
// flag, refusals with ERR_CELLSTATE_DISPOSED after it, and no dispose while a fit holds the layer.
import { disposeSymbol, disposedError } from '../errors';
import { checkNotHeld } from '../hold';
import type { Tensor, TensorLike } from '../tensor';
import { type Layer, layerBrand } from './layer';

/**
 * Base of Dense, Embedding and Dropout: the Layer interface's defaults, dispose() and its checks.
 * Each also has forwardBatch / backwardBatch / discard (BatchLayer, lib/layers/layer.ts).
 */
export abstract class JsLayer implements Layer {
  private disposedFlag = false;

  abstract readonly config: Readonly<object>;
  abstract readonly layerType: string;
  abstract readonly inputSize: number | null;
  abstract readonly outputSize: number | null;
  abstract readonly parameterCount: number;
  abstract summaryDetails(): string;
  abstract parameters(): Record<string, Tensor>;
  abstract setParameters(params: Record<string, Tensor | Float32Array | TensorLike>): void;
  abstract gradients(): Record<string, Tensor>;
  abstract zeroGrad(): void;

  /** What the layer reads: features per step (`[T, B, F]` or `[B, F]`). */
  get reads(): Layer['reads'] {
    return 'features';
  }

  /** Whether the output keeps the time axis: true. */
  get keepsTime(): boolean {
    return true;
  }

  /** Never busy: a JavaScript layer has no async call in flight. */
  get busy(): null {
    return null;
  }

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

Object.defineProperty(JsLayer.prototype, layerBrand, { value: true });
