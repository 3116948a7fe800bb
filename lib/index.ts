// cellstate: recurrent neural networks on the CPU. Everything public is exported here.
export {
  Tensor,
  type DeepNestedArray,
  type NestedArray,
  type ShapeOf,
  type TensorLike,
} from './tensor';
export {
  BusyError,
  CellstateError,
  CellstateRangeError,
  CellstateTypeError,
  DisposedError,
  ErrorCode,
  NoForwardError,
  UnsupportedError,
  isCellstateError,
} from './errors';
export {
  GRU,
  LSTM,
  RNN,
  Recurrent,
  type BackwardGradients,
  type BackwardOptions,
  type BackwardResult,
  type ForwardOptions,
  type ForwardResult,
  type HiddenBackwardResult,
  type HiddenForwardResult,
  type LSTMBackwardResult,
  type LSTMForwardResult,
  type Direction,
  type GRUConfig,
  type GRUOptions,
  type LSTMConfig,
  type LSTMOptions,
  type RNNConfig,
  type RNNOptions,
  type RecurrentConfig,
  type RecurrentOptions,
} from './layers/recurrent';
export type { ActivationName, CellActivation, ResolvedActivation } from './cells';
export type { ParamEntry } from './binding';
export type { ParamSlot } from './layers/params';
export { info, maxThreads, setNumThreads, type RuntimeInfo } from './runtime';
export {
  MAX_CONFIG_DEPTH,
  MAX_ELEMENTS,
  MAX_FILE_BYTES,
  MAX_MODEL_LAYERS,
  MAX_TENSOR_ELEMENTS,
} from './limits';
export {
  Stream,
  StreamSnapshot,
  type SnapshotSource,
  type StreamOptions,
  type StreamableLayer,
} from './stream/stream';
export { PoolSession, StreamPool, type StreamPoolOptions } from './stream/pool';
export { PooledSession } from './stream/session';
export {
  ComposedSnapshot,
  ComposedStream,
  composeStreams,
  type ComposedState,
  type StreamingLayer,
} from './stream/compose';
export { ComposedPool, ComposedSession, composePool } from './stream/compose-pool';
export { over, transform, type OverOptions, type TransformOptions } from './stream/node';
export {
  StreamWorker,
  type ModelDescription,
  type StreamWorkerOptions,
  type WorkerModel,
  type WorkerSequential,
} from './stream/worker';
export type {
  BufferDescription,
  LayerDescription,
  SequentialDescription,
} from './stream/worker-protocol';
export type {
  LayerStream,
  LayerStreamOptions,
  StatefulLayerStream,
  StreamSnapshotLike,
  StreamState,
} from './stream/types';
export {
  Dense,
  type DenseActivation,
  type DenseConfig,
  type DenseForwardOptions,
  type DenseOptions,
} from './layers/dense';
export { Embedding, type EmbeddingConfig, type EmbeddingOptions } from './layers/embedding';
export { Dropout, type DropoutConfig, type DropoutOptions } from './layers/dropout';
export type { Tokens, TokensLike } from './layers/batch';
export {
  Sequential,
  type RecurrentState,
  type SequentialConfig,
  type SequentialForwardOptions,
  type SequentialForwardResult,
  type SequentialLayer,
  type SequentialLayerConfig,
  type SequentialOptions,
  type SequentialState,
} from './model/sequential';
export type { LayerSummary, ModelSummary, SummaryDim, SummaryOptions } from './model/summary';
export { quantize } from './model/quantize';
export type { QuantizeOptions, QuantizedTensor } from './layers/quant';
export type { Layer } from './layers/layer';
export {
  BinaryCrossEntropy,
  CrossEntropy,
  Loss,
  MeanSquaredError,
  type BinaryCrossEntropyOptions,
  type LossComputeOptions,
  type LossName,
  type LossResult,
  type LossTarget,
} from './train/losses';
export {
  Adam,
  AdamW,
  MAX_OPTIMIZER_STEP,
  Optimizer,
  RMSprop,
  SGD,
  clipGradNorm,
  clipGradValue,
  type AdamOptions,
  type OptimizerName,
  type OptimizerState,
  type ParameterGroup,
  type RMSpropOptions,
  type SGDOptions,
} from './train/optimizers';
export {
  CosineDecay,
  ExponentialDecay,
  StepDecay,
  type CosineDecayOptions,
  type ExponentialDecayOptions,
  type Schedule,
  type ScheduleUnit,
  type StepDecayOptions,
} from './train/schedules';
export {
  AbortError,
  NonFiniteError,
  type BatchEndInfo,
  type EarlyStoppingOptions,
  type EpochEndInfo,
  type EvaluateOptions,
  type EvaluateAsyncOptions,
  type EvaluateResult,
  type FitCallbacks,
  type FitData,
  type FitOptions,
  type History,
  type PredictOptions,
  type PredictAsyncOptions,
  type TrainingData,
} from './train/fit';
export type {
  MetricBatch,
  MetricFunction,
  MetricName,
  MetricObject,
  MetricSpec,
} from './train/metrics';
export type { ProgressOutput } from './train/progress';
export {
  FORMAT_VERSION,
  ONNX_OPSET,
  exportOnnx,
  fromBuffer,
  fromOnnx,
  importOnnx,
  layerFromConfig,
  load,
  modelFromConfig,
  save,
  toBuffer,
  toOnnx,
  type LoadOptions,
  type LoadedModel,
  type Model,
  type ModelClass,
  type ModelConfig,
  OnnxGraphModel,
  type OnnxExportOptions,
  type OnnxFeed,
  type OnnxImportOptions,
  type OnnxIntTensor,
  type OnnxOutput,
  type OnnxRunnable,
  type OnnxValueInfo,
  type SaveOptions,
} from './io/index';
export {
  TfjsModel,
  fromTfjs,
  importTfjs,
  type TfjsArtifacts,
  type TfjsWeightSpec,
} from './io/tfjs';
export { addingProblem, type AddingProblemOptions } from './data/adding';
export {
  WindowDataset,
  windows,
  type BatchIterable,
  type DataBatch,
  type WindowOptions,
} from './data/dataset';
export {
  plotSvg,
  type PlotAxis,
  type PlotPanel,
  type PlotRef,
  type PlotSeries,
} from './train/plot';
export { ModelCheckpoint, type ModelCheckpointOptions } from './train/callbacks';
export {
  lrFinder,
  lrFinderSvg,
  type LrFinderOptions,
  type LrFinderResult,
  type LrFinderSvgOptions,
} from './train/lr-finder';
export {
  CustomLayer,
  type CustomLayerBackwardContext,
  type CustomLayerConfig,
  type CustomLayerContext,
  type CustomLayerOptions,
} from './layers/custom';
