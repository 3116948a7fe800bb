// Runs in a worker_thread until terminated: every kind of synchronous and asynchronous
// cellstate call in a loop (forward, forwardAsync, backward, backwardAsync, stream.step,
// pool steps, parameters(), setParameters, snapshots, Dense, dispose). workerData.kind picks the
// mix ('all' cycles through every kind); workerData.packageDir is the built package.
const { parentPort, workerData } = require('node:worker_threads');

const cs = require(workerData.packageDir);
const { LSTM, GRU, RNN, Tensor, Dense } = cs;

const layers = [
  new LSTM({ inputSize: 16, hiddenSize: 32, numLayers: 2, seed: 1 }),
  new GRU({ inputSize: 16, hiddenSize: 32, bidirectional: true, seed: 2 }),
  new RNN({ inputSize: 16, hiddenSize: 32, seed: 3 }),
];
const x = new Tensor(new Float32Array(20 * 4 * 16).fill(0.25), [20, 4, 16]);
const frame = new Float32Array(16).fill(0.5);
const dense = new Dense({ inputSize: 16, outputSize: 8, seed: 4 });

const kinds = {
  forward(l) {
    l.forward(x);
  },
  backward(l) {
    l.forward(x, { train: true });
    l.backward({ h: undefined });
  },
  async forwardAsync(l) {
    await l.forwardAsync(x, { train: true });
  },
  async backwardAsync(l) {
    await l.forwardAsync(x, { train: true });
    await l.backwardAsync();
  },
  params(l) {
    l.setParameters(l.parameters());
    l.gradients();
  },
  stream(l) {
    if (l.config.bidirectional) return;
    const s = l.stream({ batch: 1 });
    for (let i = 0; i < 50; ++i) s.step(frame);
    const snap = s.snapshot();
    s.restore(snap);
    s.getState();
  },
  pool(l) {
    if (l.config.bidirectional) return;
    const pool = l.streamPool({ capacity: 2 });
    const sessions = [pool.open(), pool.open(), pool.open()];
    for (let i = 0; i < 20; ++i) {
      for (const s of sessions) s.write(frame);
      pool.step();
    }
    sessions[1].close();
    sessions[0].step(frame);
  },
  dense() {
    dense.forward(new Tensor(new Float32Array(32 * 16).fill(0.1), [32, 16]));
  },
  create() {
    new LSTM({ inputSize: 32, hiddenSize: 64, seed: 5 });
  },
  dispose() {
    const l = new GRU({ inputSize: 8, hiddenSize: 16, seed: 6 });
    const s = l.stream({ batch: 2 });
    const snap = s.snapshot();
    const pool = l.streamPool({ capacity: 2 });
    pool.open();
    snap.dispose();
    s.dispose();
    pool.dispose();
    l.dispose();
  },
  error(l) {
    try {
      l.forward(new Tensor(new Float32Array(3), [1, 1, 3]));
    } catch {
      // expected
    }
  },
};

const names = workerData.kind === 'all' ? Object.keys(kinds) : [workerData.kind];

async function loop() {
  parentPort.postMessage('running');
  for (let i = 0; ; ++i) {
    const kind = kinds[names[i % names.length]];
    const layer = layers[i % layers.length];
    try {
      await kind(layer);
    } catch (error) {
      // A call left in flight below makes the next one on that layer busy: expected.
      if (error?.code !== 'ERR_CELLSTATE_BUSY') throw error;
    }
    if (i % 7 === 0) {
      // Mix in calls still in flight at the moment of termination.
      layers[(i + 1) % layers.length].forwardAsync(x).catch(() => {});
    }
  }
}

loop();
