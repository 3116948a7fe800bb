// The types a model is made of, and what lib/train reads of a Sequential: fit, evaluate and
// predict take a TrainableModel, so lib/train never imports lib/model/sequential (which imports
// lib/train to offer model.fit): the import graph stays acyclic.
import type { Activation, BatchContext, TokenBatch } from '../layers/batch';
import type { Dense } from '../layers/dense';
import type { Dropout } from '../layers/dropout';
import type { Embedding } from '../layers/embedding';
import type {
  BackwardResult,
  ForwardResult,
  Recurrent,
  RecurrentConfig,
} from '../layers/recurrent';
import type { Tensor, TensorLike } from '../tensor';

/** A layer a Sequential can hold. */
export type SequentialLayer = Recurrent | Dense | Embedding | Dropout;

/** The resolved options of one layer of a Sequential, as its `config`. */
export type SequentialLayerConfig =
  RecurrentConfig | Dense['config'] | Embedding['config'] | Dropout['config'];

/** The state of one recurrent layer: its `h` (and an LSTM's `c`), as forward returns them. */
export interface RecurrentState {
  h: Tensor;
  c?: Tensor;
}

/** Per layer index: the state of each recurrent layer, null for the other layers. */
export type SequentialState = (RecurrentState | null)[];

/** One recurrent call that the sync or async driver performs. */
export type ForwardCall = {
  layer: Recurrent;
  x: Tensor;
  opts: Parameters<Recurrent['forward']>[1];
};
/** The recurrent backward call that the driver performs. */
export type BackwardCall = { layer: Recurrent; grad: { output: Tensor } };

/** What fit, evaluate and predict (lib/train) use of a Sequential. */
export interface TrainableModel {
  readonly layers: readonly SequentialLayer[];
  readonly batchFirst: boolean | undefined;
  readonly inputSize: number;
  readonly outputSize: number;
  readonly perStepOutput: boolean;
  readonly tokenInput: boolean;
  lastOutputs: (Float32Array | null)[];
  forwardGen(
    input: Activation | TokenBatch,
    ctx: BatchContext,
    state: SequentialState | null,
  ): Generator<ForwardCall, { output: Activation; state: SequentialState }, ForwardResult>;
  backwardGen(dy: Float32Array): Generator<BackwardCall, Tensor | null, BackwardResult>;
  parameters(): Record<string, Tensor>;
  setParameters(params: Record<string, Tensor | Float32Array | TensorLike>): void;
  zeroGrad(): void;
}
