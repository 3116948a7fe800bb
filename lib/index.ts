// cellstate: recurrent neural networks on the CPU. Everything public is exported here.
export { Tensor, type NestedArray, type TensorLike } from './tensor';
export {
  BusyError,
  CellstateError,
  CellstateRangeError,
  CellstateTypeError,
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
export { info, setNumThreads, type RuntimeInfo } from './runtime';
