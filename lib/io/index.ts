// Files and interop: the cellstate file (safetensors layout), PyTorch state_dicts, ONNX.
export {
  FORMAT,
  FORMAT_VERSION,
  fromBuffer,
  load,
  save,
  toBuffer,
  type LoadOptions,
  type SaveOptions,
} from './file';
export {
  layerFromConfig,
  modelFromConfig,
  type LoadedModel,
  type Model,
  type ModelClass,
  type ModelConfig,
} from './registry';
export { ONNX_OPSET, exportOnnx, toOnnx, type OnnxExportOptions } from './onnx-export';
export { fromOnnx, importOnnx, type OnnxImportOptions } from './onnx-import';
export {
  OnnxGraphModel,
  type OnnxFeed,
  type OnnxIntTensor,
  type OnnxOutput,
  type OnnxRunnable,
  type OnnxValueInfo,
} from './onnx-graph';
export { TfjsModel, fromTfjs, importTfjs, type TfjsArtifacts, type TfjsWeightSpec } from './tfjs';
