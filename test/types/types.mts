// Type tests of the public API (vitest's expectTypeOf, checked by tsc --noEmit): the types say
// what the runtime returns. `@ts-expect-error` lines must fail to compile.
import { expectTypeOf } from 'vitest';
import {
  AbortError,
  BusyError,
  CellstateError,
  CellstateRangeError,
  CellstateTypeError,
  Dense,
  Embedding,
  ErrorCode,
  GRU,
  LSTM,
  NonFiniteError,
  RNN,
  Sequential,
  StreamWorker,
  Tensor,
  fromBuffer,
  importOnnx,
  importTfjs,
  fromTfjs,
  TfjsModel,
  toOnnx,
  isCellstateError,
  load,
  toBuffer,
  type DeepNestedArray,
  type HiddenBackwardResult,
  type HiddenForwardResult,
  type LSTMBackwardResult,
  type LSTMForwardResult,
  type LoadedModel,
  type OnnxOutput,
  type OnnxRunnable,
  type ProgressOutput,
  type SequentialOptions,
} from 'cellstate';

// ---- recurrent results: an LSTM's have c / c0, a GRU's and an RNN's have none --------------
const x = Tensor.from([[[1, 2]]]);
const lstm = new LSTM({ inputSize: 2, hiddenSize: 3 });
const gru = new GRU({ inputSize: 2, hiddenSize: 3 });
const rnn = new RNN({ inputSize: 2, hiddenSize: 3 });
expectTypeOf(lstm.forward(x)).toEqualTypeOf<LSTMForwardResult>();
expectTypeOf(lstm.forward(x).c).toEqualTypeOf<Tensor<3>>();
expectTypeOf(lstm.forwardAsync(x)).resolves.toHaveProperty('c');
expectTypeOf(lstm.backward()).toEqualTypeOf<LSTMBackwardResult>();
expectTypeOf(lstm.backward().c0).toEqualTypeOf<Tensor<3>>();
expectTypeOf(gru.forward(x)).toEqualTypeOf<HiddenForwardResult>();
expectTypeOf(rnn.forward(x)).toEqualTypeOf<HiddenForwardResult>();
expectTypeOf(gru.backward()).toEqualTypeOf<HiddenBackwardResult>();
// @ts-expect-error a GRU has no cell state
gru.forward(x).c;
// @ts-expect-error an RNN has no cell state
rnn.backward().c0;
// the state of an LSTM passes back in without a check for undefined
lstm.forward(x, { h0: lstm.forward(x).h, c0: lstm.forward(x).c });
expectTypeOf(lstm.predict(x)).toEqualTypeOf<Tensor<3>>();

// ---- Tensor: toArray typed by rank ----------------------------------------------------------
expectTypeOf(Tensor.from([1, 2]).toArray()).toEqualTypeOf<number[]>();
expectTypeOf(Tensor.from([[1, 2]]).toArray()).toEqualTypeOf<number[][]>();
expectTypeOf(Tensor.from([[[1, 2]]]).toArray()).toEqualTypeOf<number[][][]>();
expectTypeOf(lstm.forward(x).output.toArray()).toEqualTypeOf<number[][][]>();
expectTypeOf(new Tensor<2>(new Float32Array(6), [2, 3]).toArray()).toEqualTypeOf<number[][]>();
expectTypeOf(new Tensor(new Float32Array(6), [2, 3] as const).toArray()).toEqualTypeOf<
  number[][]
>();
const anyRank: Tensor = new Tensor(new Float32Array(6), [2, 3]);
expectTypeOf(anyRank.toArray()).toEqualTypeOf<DeepNestedArray>();
expectTypeOf(Tensor.from([[[1]]]).shape).toEqualTypeOf<
  readonly number[] & { readonly length: 3 }
>();
// a rank-3 tensor is a Tensor of any rank, not the other way round
const widened: Tensor = lstm.forward(x).output;
void widened;
// @ts-expect-error a tensor of unknown rank is not a Tensor<3>
const narrowed: Tensor<3> = anyRank;
void narrowed;

// ---- loading: a common interface, or the exact class with expect ----------------------------
const bytes = toBuffer(lstm);
expectTypeOf(fromBuffer(bytes)).toEqualTypeOf<LoadedModel>();
expectTypeOf(fromBuffer(bytes, { expect: LSTM })).toEqualTypeOf<LSTM>();
expectTypeOf(load('m.cellstate')).resolves.toEqualTypeOf<LoadedModel>();
expectTypeOf(load('m.cellstate', { expect: Sequential })).resolves.toEqualTypeOf<Sequential>();
expectTypeOf(importOnnx('m.onnx', { expect: GRU })).resolves.toEqualTypeOf<GRU & OnnxRunnable>();
expectTypeOf(importOnnx('m.onnx')).resolves.toEqualTypeOf<LoadedModel & OnnxRunnable>();
expectTypeOf(toOnnx(lstm, { state: true, lengths: true })).toEqualTypeOf<Uint8Array>();
expectTypeOf(importTfjs('model.json')).resolves.toEqualTypeOf<TfjsModel>();
expectTypeOf(
  fromTfjs({ modelTopology: {}, weightSpecs: [], weightData: new ArrayBuffer(0) }).predict(x),
).toEqualTypeOf<Tensor>();
const m = fromBuffer(bytes);
expectTypeOf(m.predict(x)).toEqualTypeOf<Tensor>();
expectTypeOf(m.forward(x).output).toEqualTypeOf<Tensor>();
expectTypeOf(m.outputSize).toEqualTypeOf<number>();
expectTypeOf(m.parameters()).toEqualTypeOf<Record<string, Tensor>>();
if (m instanceof LSTM) expectTypeOf(m.forward(x).c).toEqualTypeOf<Tensor<3>>();
// every loadable class is a LoadedModel
expectTypeOf<Sequential>().toMatchTypeOf<LoadedModel>();
expectTypeOf<LSTM>().toMatchTypeOf<LoadedModel>();
expectTypeOf<GRU>().toMatchTypeOf<LoadedModel>();
expectTypeOf<RNN>().toMatchTypeOf<LoadedModel>();
expectTypeOf<Dense>().toMatchTypeOf<LoadedModel>();
expectTypeOf<LoadedModel['dispose']>().toEqualTypeOf<() => void>();
expectTypeOf<Embedding>().toMatchTypeOf<LoadedModel>();

// ---- errors: one base ----------------------------------------------------------------------
declare const e: unknown;
if (e instanceof CellstateError) {
  expectTypeOf(e).toEqualTypeOf<CellstateError>();
  expectTypeOf(e.code).toEqualTypeOf<ErrorCode>();
}
if (e instanceof BusyError) expectTypeOf(e).toEqualTypeOf<BusyError>();
if (e instanceof NonFiniteError) expectTypeOf(e.layer).toEqualTypeOf<number | null>();
if (e instanceof AbortError) expectTypeOf(e.history?.loss).toEqualTypeOf<number[] | undefined>();
if (isCellstateError(e)) expectTypeOf(e.code).toEqualTypeOf<ErrorCode>();
expectTypeOf<CellstateTypeError>().toMatchTypeOf<TypeError>();
expectTypeOf<CellstateRangeError>().toMatchTypeOf<RangeError>();
expectTypeOf(ErrorCode.NO_BINARY).toEqualTypeOf<'ERR_CELLSTATE_NO_BINARY'>();

// ---- layout, streams, options --------------------------------------------------------------
expectTypeOf<SequentialOptions>().toEqualTypeOf<{ batchFirst?: boolean | undefined }>();
const seq = new Sequential([new Embedding({ numEmbeddings: 5, embeddingDim: 2 })], {
  batchFirst: true,
});
expectTypeOf(seq.batchFirst).toEqualTypeOf<boolean | undefined>();
seq.stream().step(new Int32Array(1));
seq.streamPool().open().step(new Int32Array(1));
declare const worker: StreamWorker;
expectTypeOf(worker.step(new Int32Array(1))).resolves.toEqualTypeOf<Float32Array>();
const progress: ProgressOutput = process.stdout;
void progress;

// ---- exactOptionalPropertyTypes: an option given as undefined is absent, as at run time ------
declare const maybeLengths: number[] | undefined;
declare const maybeSeed: number | undefined;
new LSTM({ inputSize: 2, hiddenSize: 3, seed: maybeSeed }).forward(x, { lengths: maybeLengths });
new Sequential([lstm], { batchFirst: undefined }).predict(x, { lengths: maybeLengths });
fromBuffer(bytes).predict(x, { lengths: maybeLengths });
lstm.predict(x, { lengths: maybeLengths });

// ---- predictAsync / evaluateAsync and summary ------------------------------------------------
const inference = new Sequential([lstm], { batchFirst: true });
expectTypeOf(inference.predictAsync(x)).toEqualTypeOf<Promise<Tensor>>();
expectTypeOf(
  inference.evaluateAsync({ x, y: x }, { loss: 'mse', signal: new AbortController().signal }),
).toEqualTypeOf<Promise<number>>();
expectTypeOf(lstm.predictAsync(x)).toEqualTypeOf<Promise<Tensor<3>>>();
expectTypeOf(inference.summary()).toEqualTypeOf<string>();
expectTypeOf(inference.summary({ format: 'text' })).toEqualTypeOf<string>();
expectTypeOf(inference.summary({ format: 'object' }).layers[0]?.outputShape).toEqualTypeOf<
  (number | 'B' | 'T')[] | undefined
>();

// the ONNX graph runner: feeds by name, outputs by name
declare const onnx: LoadedModel & OnnxRunnable;
expectTypeOf(onnx.run({ X: new Tensor(new Float32Array(6), [2, 1, 3]) })).toEqualTypeOf<
  Record<string, OnnxOutput>
>();
expectTypeOf(onnx.runAsync({ lens: new Int32Array([2]) })).resolves.toEqualTypeOf<
  Record<string, OnnxOutput>
>();
