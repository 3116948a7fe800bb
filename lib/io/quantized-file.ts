// The int8 weights of a quantized model in a cellstate file (issue 17). A quantized layer's
// weight `<name>` (`0.weight_ih_l0` in a Sequential) is stored as an I8 tensor of its shape, and
// its row scales as the F32 tensor `<name>.scale` `[rows]`; every other parameter (biases,
// peepholes, a layer left float) is F32 as before. `__metadata__.quantization` is "int8" and the
// format version 2.1. Loading sets the float weights to the dequantized ones and the layers'
// int8 weights to the stored bytes (setQuantizedParameters), so the loaded model predicts
// exactly as the saved one.
import { ErrorCode } from '../errors';
import {
  isQuantizable,
  type QuantizableLayer,
  type QuantizedTensor,
  dequantizeMatrix,
} from '../layers/quant';
import { Sequential } from '../model/sequential';
import { Tensor } from '../tensor';
import { type Int8Entry, type SafetensorsContent, fileError } from './safetensors';
import type { Model } from './registry';

/** `__metadata__.quantization` of a quantized file. */
export const QUANTIZATION = 'int8';
/** Suffix of a quantized weight's scale tensor. */
export const SCALE_SUFFIX = '.scale';

/** The model's quantized layers with the prefix of their parameter names ('' or '3.'). */
export function quantizedLayers(model: Model): { prefix: string; layer: QuantizableLayer }[] {
  const layers = model instanceof Sequential ? model.layers : [model];
  const out: { prefix: string; layer: QuantizableLayer }[] = [];
  layers.forEach((layer, i) => {
    if (isQuantizable(layer) && layer.quantized)
      out.push({ prefix: model instanceof Sequential ? `${i}.` : '', layer });
  });
  return out;
}

/**
 * The tensors to write: the parameters, with each quantized weight replaced by its I8 tensor
 * and followed by its `.scale`. `quantized` tells whether any layer was.
 */
export function quantizedTensors(
  model: Model,
  params: Record<string, Tensor>,
): { tensors: [string, Tensor | Int8Entry][]; quantized: boolean } {
  const int8 = new Map<string, QuantizedTensor>();
  for (const { prefix, layer } of quantizedLayers(model))
    for (const [name, q] of Object.entries(layer.quantizedParameters())) int8.set(prefix + name, q);
  const tensors: [string, Tensor | Int8Entry][] = [];
  for (const [name, t] of Object.entries(params)) {
    const q = int8.get(name);
    if (!q) {
      tensors.push([name, t]);
      continue;
    }
    tensors.push([name, { dtype: 'I8', data: q.values, shape: [...q.shape] }]);
    tensors.push([name + SCALE_SUFFIX, new Tensor(q.scale, [q.scale.length])]);
  }
  return { tensors, quantized: int8.size > 0 };
}

/**
 * Splits the parameters read from a file into float parameters (the I8 weights dequantized) and
 * the int8 weights by name; refuses I8 tensors in a file not marked quantized, an I8 tensor
 * without its scale (or a scale without its I8 tensor), and values outside [-127, 127].
 */
export function readQuantizedTensors(
  where: string,
  content: SafetensorsContent,
  params: Map<string, Tensor>,
  quantization: string | undefined,
): { floats: Map<string, Tensor>; int8: Map<string, QuantizedTensor> } {
  const err = (code: ErrorCode, message: string) => fileError(code, where, message);
  if (quantization !== undefined && quantization !== QUANTIZATION)
    throw err(
      ErrorCode.FILE_CONFIG,
      `__metadata__.quantization must be "${QUANTIZATION}" when present, got ${JSON.stringify(quantization.slice(0, 40))}`,
    );
  const floats = new Map<string, Tensor>();
  const int8 = new Map<string, QuantizedTensor>();
  for (const [name, t] of params) {
    if (content.dtypes.get(name) !== 'I8') {
      if (!(
        name.endsWith(SCALE_SUFFIX) &&
        content.dtypes.get(name.slice(0, -SCALE_SUFFIX.length)) === 'I8'
      ))
        floats.set(name, t);
      continue;
    }
    if (quantization === undefined)
      throw err(
        ErrorCode.FILE_DTYPE,
        `tensor '${name}' has dtype I8, but __metadata__ does not mark the model quantized ("quantization": "int8")`,
      );
    if (t.shape.length !== 2)
      throw err(
        ErrorCode.FILE_SHAPE,
        `int8 tensor '${name}' must be a matrix, got shape [${t.shape.join(', ')}]`,
      );
    const [rows, cols] = t.shape;
    const scale = params.get(name + SCALE_SUFFIX);
    if (!scale || content.dtypes.get(name + SCALE_SUFFIX) === 'I8')
      throw err(
        ErrorCode.FILE_MISSING_TENSOR,
        `int8 tensor '${name}' needs its float scales '${name}${SCALE_SUFFIX}', which the file does not hold`,
      );
    if (scale.shape.length !== 1 || scale.shape[0] !== rows)
      throw err(
        ErrorCode.FILE_SHAPE,
        `tensor '${name}${SCALE_SUFFIX}' has shape [${scale.shape.join(', ')}], but '${name}' has ${rows} rows`,
      );
    const values = new Int8Array(rows * cols);
    for (let i = 0; i < values.length; ++i) {
      const v = t.data[i];
      if (v === -128)
        throw err(
          ErrorCode.FILE_VALUE,
          `int8 tensor '${name}' holds -128 (values are in [-127, 127])`,
        );
      values[i] = v;
    }
    for (let r = 0; r < rows; ++r)
      if (!(Number.isFinite(scale.data[r]) && scale.data[r] >= 0))
        throw err(
          ErrorCode.FILE_VALUE,
          `tensor '${name}${SCALE_SUFFIX}' holds ${scale.data[r]} at row ${r} (scales are finite and ≥ 0)`,
        );
    const q: QuantizedTensor = { values, scale: scale.data.slice(), shape: [rows, cols] };
    int8.set(name, q);
    floats.set(name, new Tensor(dequantizeMatrix(q), [rows, cols]));
  }
  if (quantization !== undefined && int8.size === 0)
    throw err(
      ErrorCode.FILE_MISSING_TENSOR,
      '__metadata__ marks the model quantized, but the file holds no int8 (I8) tensor',
    );
  return { floats, int8 };
}

/**
 * Quantizes the layers of a just-loaded model on the file's int8 weights: each layer with I8
 * tensors gets them (setQuantizedParameters); a layer that cannot take them is a FILE_VALUE
 * error. The float parameters are set already.
 */
export function applyQuantized(
  where: string,
  model: Model,
  int8: Map<string, QuantizedTensor>,
): void {
  if (int8.size === 0) return;
  const layers = model instanceof Sequential ? model.layers : [model];
  const groups = new Map<number, Record<string, QuantizedTensor>>();
  for (const [name, q] of int8) {
    let index = 0;
    let local = name;
    if (model instanceof Sequential) {
      const m = /^(\d+)\.(.+)$/.exec(name);
      index = m ? Number(m[1]) : -1;
      local = m ? m[2] : name;
    }
    const group = groups.get(index) ?? {};
    group[local] = q;
    groups.set(index, group);
  }
  for (const [index, group] of groups) {
    const layer = layers[index];
    if (!isQuantizable(layer))
      throw fileError(
        ErrorCode.FILE_VALUE,
        where,
        `the file holds int8 weights for ${model instanceof Sequential ? `layer ${index}` : 'the model'}, which cannot be quantized`,
      );
    try {
      layer.setQuantizedParameters(group);
    } catch (e) {
      const error = fileError(
        ErrorCode.FILE_VALUE,
        where,
        `the int8 weights of ${model instanceof Sequential ? `layer ${index} (${layer.layerType})` : `the ${layer.layerType}`} cannot be used: ${(e as Error).message}`,
      );
      (error as { cause?: unknown }).cause = e;
      throw error;
    }
  }
}
