// The int8 protocol of the JavaScript layers whose one weight matrix can run quantized (Dense,
// Embedding): quantize / dequantize / quantized / quantizedParameters / setQuantizedParameters,
// and setParameters' re-quantization. Each subclass says which float matrix is quantized and
// what to drop when the weights change; the forms and checks live in ./quant.
import { CellstateTypeError, ErrorCode, describe } from '../errors';
import { checkNotHeld } from '../hold';
import { JsLayer } from './js-layer';
import {
  type QuantizedTensor,
  copyQuantized,
  dequantizeMatrix,
  notQuantizedError,
  quantizeMatrix,
  readQuantized,
} from './quant';

/** Base of Dense and Embedding: one weight matrix, int8 with one scale per row when quantized. */
export abstract class Int8JsLayer extends JsLayer {
  /** @internal Bumped whenever the weights or their form change (streams and packed weights compare it). */
  version = 0;
  /** The int8 weight the layer runs on, or null (float). */
  protected quant: QuantizedTensor | null = null;

  /** The float matrix int8 covers: `values` is a [rows, cols] row-major view of the parameters. */
  protected abstract int8Matrix(): { rows: number; cols: number; values: Float32Array };
  /** Drops what was computed from the old weights (called when they change). */
  protected abstract dropCache(): void;
  /** Refuses (with a coded error) a layer that cannot run int8; by default every layer can. */
  protected checkQuantizable(_where: string): void {}

  /** Whether the layer runs int8 inference (see quantize()). */
  get quantized(): boolean {
    return this.quant !== null;
  }

  /**
   * int8 quantization, inference only: the weight matrix becomes int8 with one scale per row
   * (`max |w| / 127`); see each layer for how its forward uses it. `parameters()` still returns
   * the float weights; `setParameters` quantizes the new ones. Training (`forward(x, { train:
   * true })`, `fit`) throws ERR_CELLSTATE_UNSUPPORTED. Returns the layer.
   */
  quantize(): this {
    this.live('quantize');
    checkNotHeld(this, 'quantize', 'layer');
    this.checkQuantizable('quantize');
    const { rows, cols, values } = this.int8Matrix();
    this.quant = quantizeMatrix('quantize', 'weight', rows, cols, values);
    this.changed();
    return this;
  }

  /** Back to float inference (a no-op when not quantized). Returns the layer. */
  dequantize(): this {
    this.live('dequantize');
    checkNotHeld(this, 'dequantize', 'layer');
    if (this.quant) {
      this.quant = null;
      this.version++;
    }
    return this;
  }

  /** The int8 weights the layer runs on: `{ weight }` (a copy). ERR_CELLSTATE_UNSUPPORTED when not quantized. */
  quantizedParameters(): Record<string, QuantizedTensor> {
    this.live('quantizedParameters');
    if (!this.quant) throw notQuantizedError('quantizedParameters', `${this.layerType} layer`);
    return { weight: copyQuantized(this.quant) };
  }

  /**
   * Sets the int8 weights directly (`{ weight: { values, scale } }`, as quantizedParameters()
   * gives them; other parameters with setParameters): the layer is quantized from then on and its
   * float weight becomes the dequantized one (`fround(q · scale)`). Nothing changes on an error.
   */
  setQuantizedParameters(params: Record<string, QuantizedTensor>): void {
    const where = 'setQuantizedParameters';
    this.live(where);
    checkNotHeld(this, where, 'layer');
    this.checkQuantizable(where);
    if (
      params === null ||
      typeof params !== 'object' ||
      Object.keys(params).some((k) => k !== 'weight')
    )
      throw new CellstateTypeError(
        ErrorCode.INVALID_ARG,
        `${where}: params must be { weight: { values, scale } }, got ${describe(params)}`,
      );
    const { rows, cols, values } = this.int8Matrix();
    const q = readQuantized(where, 'weight', params.weight, rows, cols);
    dequantizeMatrix(q, values);
    this.quant = q;
    this.changed();
  }

  /**
   * For setParameters, before anything changes: the int8 form of the new weight matrix `w`
   * (null when the layer is float; throws for a NaN or an infinity). Commit with commitWeights.
   */
  protected requantize(where: string, w: Float32Array): QuantizedTensor | null {
    if (!this.quant) return null;
    const { rows, cols } = this.int8Matrix();
    return quantizeMatrix(where, 'weight', rows, cols, w.subarray(0, rows * cols));
  }

  /** After new float weights were stored: their int8 form (from requantize) and the caches. */
  protected commitWeights(q: QuantizedTensor | null): void {
    if (q) this.quant = q;
    this.changed();
  }

  private changed(): void {
    this.dropCache();
    this.version++;
  }
}
