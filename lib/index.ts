// cellstate: recurrent neural networks on the CPU. Everything public is exported here.
export { Tensor, type NestedArray, type TensorLike } from './tensor';
export {
  BusyError,
  CellstateError,
  CellstateRangeError,
  CellstateTypeError,
  DisposedError,
  ErrorCode,
  NoForwardError,
  UnsupportedError,
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
  type GRUConfig,
  type GRUOptions,
  type LSTMConfig,
  type LSTMOptions,
  type RNNConfig,
  type RNNOptions,
  type RecurrentConfig,
  type RecurrentOptions,
} from './layers/recurrent';
export { info, maxThreads, setNumThreads, type RuntimeInfo } from './runtime';
export { Stream, StreamSnapshot, type StreamOptions } from './stream/stream';
export { PoolSession, StreamPool, type StreamPoolOptions } from './stream/pool';
export {
  ComposedSnapshot,
  ComposedStream,
  composeStreams,
  type ComposedState,
  type StreamingLayer,
} from './stream/compose';
export { ComposedPool, ComposedSession, composePool } from './stream/compose-pool';
export { over, transform, type OverOptions, type TransformOptions } from './stream/node';
export { StreamWorker, type ModelDescription, type StreamWorkerOptions } from './stream/worker';
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
export type { Tokens, TokensLike } from './model/batch';
export {
  Sequential,
  type RecurrentState,
  type SequentialForwardOptions,
  type SequentialForwardResult,
  type SequentialLayer,
  type SequentialLayerConfig,
  type SequentialState,
} from './model/sequential';
export {
  BinaryCrossEntropy,
  CrossEntropy,
  Loss,
  MeanSquaredError,
  type BinaryCrossEntropyOptions,
  type LossComputeOptions,
  type LossName,
  type LossResult,
} from './train/losses';
export {
  Adam,
  AdamW,
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
  type FitCallbacks,
  type FitData,
  type FitOptions,
  type History,
  type PredictOptions,
} from './train/fit';
export {
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
  type Model,
  type OnnxExportOptions,
  type SaveOptions,
} from './io/index';
export { addingProblem, type AddingProblemOptions } from './data/adding';
