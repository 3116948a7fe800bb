// The README's examples, as a strict TypeScript ES module consumer writes them.
import { Adam, Dense, LSTM, Sequential, Tensor, addingProblem, load, save } from 'cellstate';

const lstm = new LSTM({ inputSize: 4, hiddenSize: 8, numLayers: 2, seed: 7 });
const x = Tensor.from([[[0.1, 0.2, 0.3, 0.4]], [[0.5, 0.6, 0.7, 0.8]]]); // [T=2, B=1, I=4]
const { output, h, c } = lstm.forward(x, { train: true });
const grads = lstm.backward({ output: new Tensor(new Float32Array(16).fill(1), [2, 1, 8]) });
grads.x;
lstm.gradients().weight_ih_l0;
const chunk = lstm.forward(x, { h0: h, c0: c, into: lstm.forward(x) });
void output;
void chunk;

const model = new Sequential([
  new LSTM({ inputSize: 2, hiddenSize: 32, seed: 1 }),
  new Dense({ inputSize: 32, outputSize: 1, lastStep: true, seed: 2 }),
]);
const data = addingProblem({ n: 64, T: 10, seed: 1 });
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
const y = model.predict(addingProblem({ n: 4, seed: 9 }).x);
console.log(y.toArray());
await save(model, 'model.cellstate');
const loaded = await load('model.cellstate');
loaded.predict(addingProblem({ n: 4, seed: 9 }).x);
const s = lstm.stream({ batch: 1 });
s.step(new Float32Array(4));
