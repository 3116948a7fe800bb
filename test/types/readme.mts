// The README's examples as a strict TypeScript ES module consumer writes them (strict,
// exactOptionalPropertyTypes, module nodenext): they must compile against the built package.
import { Adam, Dense, LSTM, Sequential, Tensor, addingProblem, load, save } from 'cellstate';

// Layer API
const lstm = new LSTM({ inputSize: 4, hiddenSize: 8, numLayers: 2, seed: 7 });
const x = Tensor.from([[[0.1, 0.2, 0.3, 0.4]], [[0.5, 0.6, 0.7, 0.8]]]); // [T=2, B=1, I=4]
const { output, h, c } = lstm.forward(x, { train: true });
const grads = lstm.backward({ output: new Tensor(new Float32Array(16).fill(1), [2, 1, 8]) });
console.log(output.shape, grads.x.shape, grads.h0.shape, grads.c0.shape);
console.log(lstm.gradients().weight_ih_l0?.shape);

// Frames in chunks: the state carried, the result reused
let r = lstm.forward(x);
for (const chunk of [x, x]) r = lstm.forward(chunk, { h0: r.h, c0: r.c, into: r });
console.log(h.shape, c.shape, r.output.toArray()[0]?.[0]?.[0]);

// Training
const model = new Sequential(
  [
    new LSTM({ inputSize: 2, hiddenSize: 32, seed: 1 }),
    new Dense({ inputSize: 32, outputSize: 1, lastStep: true, seed: 2 }),
  ],
  { batchFirst: true },
);
const data = addingProblem({ n: 64, T: 10, seed: 1 }); // x [N, T, 2], y [N, 1]
const history = await model.fit(data, {
  loss: 'mse',
  optimizer: new Adam({ lr: 0.01 }),
  epochs: 2,
  batchSize: 32,
  validationSplit: 0.05,
  earlyStopping: { patience: 1 },
  seed: 7,
});
console.log(history.valLoss, history.samplesPerSecond);
const y = model.predict(addingProblem({ n: 4, seed: 9 }).x); // Tensor [4, 1]
console.log(y.shape);

// Files
await save(model, 'model.cellstate');
const loaded = await load('model.cellstate');
console.log(loaded.predict(addingProblem({ n: 4, seed: 9 }).x).shape, loaded.outputSize);
const same = await load('model.cellstate', { expect: Sequential });
await same.fit(data, { loss: 'mse', verbose: 0 });

// Streaming
const s = lstm.stream({ batch: 1 });
const frame = new Float32Array(4);
const out: Float32Array = s.step(frame);
console.log(out.length);
