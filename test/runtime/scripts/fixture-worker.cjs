// Runs in a worker_thread: loads the built package (dist/), computes a fixture case and posts
// the forward output and input gradient back. With workerData.spin, it keeps computing
// (forwardAsync in a loop) until terminated.
const { parentPort, workerData } = require('node:worker_threads');
const { readFileSync } = require('node:fs');

const cellstate = require(workerData.packageDir);

const f = JSON.parse(readFileSync(workerData.fixture, 'utf8'));
const tensor = (t) => new cellstate.Tensor(Float32Array.from(t.data), t.shape);
const options = { ...f.config, seed: 1 };
const Layer = { lstm: cellstate.LSTM, gru: cellstate.GRU, rnn: cellstate.RNN }[f.cell];
const layer = new Layer(options);
const params = {};
for (const [name, t] of Object.entries(f.params)) params[name] = tensor(t);
layer.setParameters(params);

function compute() {
  const fwd = layer.forward(tensor(f.inputs.x), {
    h0: f.inputs.h0 ? tensor(f.inputs.h0) : undefined,
    c0: f.inputs.c0 ? tensor(f.inputs.c0) : undefined,
    lengths: f.lengths ?? undefined,
    train: true,
  });
  const bwd = layer.backward({
    output: tensor(f.upstream.dOutput),
    h: tensor(f.upstream.dhN),
    c: f.upstream.dcN ? tensor(f.upstream.dcN) : undefined,
  });
  return { output: fwd.output.data, dx: bwd.x.data, info: cellstate.info() };
}

async function spin() {
  const big = new cellstate.LSTM({ inputSize: 64, hiddenSize: 256, seed: 2 });
  const x = new cellstate.Tensor(new Float32Array(100 * 16 * 64).fill(0.5), [100, 16, 64]);
  parentPort.postMessage({ spinning: true, ...compute() });
  for (;;) await big.forwardAsync(x, { train: true });
}

if (workerData.spin) spin();
else parentPort.postMessage(compute());
