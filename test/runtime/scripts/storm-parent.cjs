// Run as a child process by test/runtime/terminate.test.ts: starts worker_threads that run
// every kind of cellstate call in a loop (storm-worker.cjs) and terminates each at a random
// moment (while it loads, while it creates layers, or mid-loop), `count` times; then checks
// that this thread still computes. Prints one JSON line; exits 0 only if all went well. A
// native abort shows up as a signal / exit code 134 in the test, not as a dead test runner.
const { Worker } = require('node:worker_threads');
const path = require('node:path');

const [packageDir, countArg, seedArg] = process.argv.slice(2);
const count = Number(countArg);
const cs = require(packageDir);
const script = path.join(__dirname, 'storm-worker.cjs');
const kinds = [
  'forward',
  'backward',
  'forwardAsync',
  'backwardAsync',
  'params',
  'stream',
  'pool',
  'dense',
  'create',
  'dispose',
  'error',
  'all',
];

// A small deterministic generator, so a failing run can be replayed with its seed.
let state = Number(seedArg) >>> 0 || 1;
function random() {
  state = (state * 1664525 + 1013904223) >>> 0;
  return state / 2 ** 32;
}

async function one(i) {
  const kind = kinds[i % kinds.length];
  const worker = new Worker(script, { workerData: { packageDir, kind } });
  let failure = null;
  worker.on('error', (error) => {
    failure = error;
  });
  // A third of the workers die before their loop starts (while loading or creating layers).
  if (random() < 1 / 3) {
    await new Promise((resolve) => setTimeout(resolve, random() * 40));
  } else {
    await new Promise((resolve) => {
      worker.once('message', resolve);
      worker.once('exit', resolve);
    });
    await new Promise((resolve) => setTimeout(resolve, random() * 25));
  }
  await worker.terminate();
  if (failure) throw new Error(`worker (${kind}) failed before termination: ${failure.stack}`);
  return kind;
}

(async () => {
  const done = [];
  for (let i = 0; i < count; ++i) done.push(await one(i));
  // This thread still works: a forward and a backward give finite results.
  const layer = new cs.LSTM({ inputSize: 4, hiddenSize: 8, seed: 1 });
  const x = new cs.Tensor(new Float32Array(3 * 2 * 4).fill(0.5), [3, 2, 4]);
  const out = layer.forward(x, { train: true });
  const grads = layer.backward({ output: out.output });
  const finite = [...out.output.data, ...grads.x.data].every(Number.isFinite);
  console.log(JSON.stringify({ terminated: done.length, finite }));
  process.exitCode = finite ? 0 : 1;
})().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
