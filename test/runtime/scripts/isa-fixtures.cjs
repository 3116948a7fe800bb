// Runs in a child process (test/runtime/isa.test.ts), so that CELLSTATE_ISA, read when the addon
// creates its engine, applies: loads the built package (argv[2], dist/), computes every fixture
// named after it (forward, then backward with the fixture's upstream gradients) and prints one
// JSON object { info, results: { <file>: { output, h, c, dx, dh0, dc0, grads } } }.
// With argv[2] alone it prints { info } or, when info() throws, { error: { name, code, message } }.
const { readFileSync } = require('node:fs');
const path = require('node:path');

const cellstate = require(process.argv[2]);
const files = process.argv.slice(3);

let info;
try {
  info = cellstate.info();
} catch (e) {
  console.log(JSON.stringify({ error: { name: e.name, code: e.code, message: e.message } }));
  process.exit(0);
}

const tensor = (t) => (t ? new cellstate.Tensor(Float32Array.from(t.data), t.shape) : undefined);
const plain = (t) => (t ? { shape: t.shape, data: Array.from(t.data) } : null);
const results = {};
for (const file of files) {
  const f = JSON.parse(readFileSync(file, 'utf8'));
  const Layer = { lstm: cellstate.LSTM, gru: cellstate.GRU, rnn: cellstate.RNN }[f.cell];
  const layer = new Layer({ ...f.config, seed: 1 });
  const params = {};
  for (const [name, t] of Object.entries(f.params)) params[name] = tensor(t);
  layer.setParameters(params);
  layer.zeroGrad();
  const fwd = layer.forward(tensor(f.inputs.x), {
    h0: tensor(f.inputs.h0),
    c0: tensor(f.inputs.c0),
    lengths: f.lengths ?? undefined,
    train: true,
  });
  const bwd = layer.backward({
    output: tensor(f.upstream.dOutput),
    h: tensor(f.upstream.dhN),
    c: tensor(f.upstream.dcN),
  });
  const grads = {};
  for (const [name, t] of Object.entries(layer.gradients())) grads[name] = plain(t);
  results[path.basename(file)] = {
    output: plain(fwd.output),
    h: plain(fwd.h),
    c: plain(fwd.c),
    dx: plain(bwd.x),
    dh0: plain(bwd.h0),
    dc0: plain(bwd.c0),
    grads,
  };
}
console.log(JSON.stringify({ info, results }));
