// quantize(model, { dtype: 'int8' }) (issue 17): a copy of the model (or the model itself with
// inPlace) whose LSTM/GRU/RNN, Dense and Embedding layers run on int8 weights.
import {
  CellstateError,
  CellstateRangeError,
  CellstateTypeError,
  ErrorCode,
  describe,
} from '../errors';
import { checkModel, type Model, modelConfig, modelFromConfig } from '../io/registry';
import { isQuantizable, type QuantizeOptions, type QuantizableLayer } from '../layers/quant';
import { OptionReader } from '../options';
import { Sequential } from './sequential';

/**
 * int8 dynamic quantization of a whole model, for inference: every LSTM, GRU and RNN layer
 * (`layer.quantize()`: int8 weights with one scale per gate row, `x_t` and `h_{t-1}` quantized
 * per row and step), every Dense (int8 weights per output row, inputs quantized per row, the int8
 * GEMM) and every Embedding (an int8 table, one scale per row, dequantized on lookup). Biases,
 * peepholes and layer-norm parameters stay float; Dropout has nothing to quantize.
 *
 * Returns a new model of the same classes (like PyTorch's `quantize_dynamic`) and leaves `model`
 * as it was; with `inPlace: true` the model's own layers are quantized and it is returned. A
 * quantized model predicts, streams (also in a StreamWorker), saves int8 files (I8 tensors and
 * `<name>.scale`) and exports to ONNX (DynamicQuantizeLSTM where it can); training it (`fit`,
 * `forward(x, { train: true })`) throws ERR_CELLSTATE_UNSUPPORTED. A layer that cannot be
 * quantized throws ERR_CELLSTATE_UNSUPPORTED naming it (a NaN or infinite weight: a RangeError),
 * and then nothing changed.
 */
export function quantize<M extends Model>(model: M, options: QuantizeOptions): M {
  const where = 'quantize';
  const m = checkModel(model, where);
  if (options === null || typeof options !== 'object')
    throw new CellstateTypeError(
      ErrorCode.INVALID_ARG,
      `${where}: options must be { dtype: 'int8' }, got ${describe(options)}`,
    );
  const o = new OptionReader(options, where, ['dtype', 'inPlace'], ErrorCode.INVALID_ARG);
  if (o.raw('dtype') === undefined)
    throw new CellstateTypeError(ErrorCode.INVALID_ARG, `${where}: dtype is required ('int8')`);
  o.choice('dtype', ['int8'] as const, 'int8');
  const inPlace = o.bool('inPlace', false);
  const target = inPlace ? m : copyModel(m);
  const layers: unknown[] = target instanceof Sequential ? [...target.layers] : [target];
  const done: QuantizableLayer[] = [];
  try {
    layers.forEach((layer, i) => {
      if (!isQuantizable(layer) || layer.quantized) return;
      try {
        layer.quantize();
      } catch (e) {
        const what =
          target instanceof Sequential
            ? `layer ${i} (${layer.layerType})`
            : `the ${layer.layerType}`;
        // the layer's own refusal, its class and code kept, naming the layer
        const code = (e as { code?: ErrorCode }).code ?? ErrorCode.UNSUPPORTED;
        const message = `${where}: ${what} cannot be quantized: ${(e as Error).message}`;
        const error =
          e instanceof RangeError
            ? new CellstateRangeError(code, message)
            : e instanceof TypeError
              ? new CellstateTypeError(code, message)
              : new CellstateError(code, message);
        (error as { cause?: unknown }).cause = e;
        throw error;
      }
      done.push(layer);
    });
  } catch (e) {
    if (inPlace) for (const layer of done) layer.dequantize();
    else target.dispose();
    throw e;
  }
  return target as M;
}

/** A new model with the same config and parameters (float weights; quantized layers stay so). */
function copyModel(model: Model): Model {
  const copy = modelFromConfig(modelConfig(model));
  try {
    copy.setParameters(model.parameters());
  } catch (e) {
    copy.dispose();
    throw e;
  }
  return copy;
}
