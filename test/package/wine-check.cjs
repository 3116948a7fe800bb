// The installed package on Node for Windows (scripts/wine-test.sh runs it with node.exe under
// wine, in a project that installed the packed tarball without scripts):
//   1. require('cellstate') loads prebuilds/win32-x64 (node-gyp-build's choice);
//   2. every ISA this CPU has (info().isas, each forced with CELLSTATE_ISA in a child process)
//      computes the reference fixtures named on the command line (fixture-check.cjs);
//   3. a stream stepped one frame at a time equals forward over the whole sequence;
//   4. the addon loads in a worker thread and computes there what it computes here;
//   5. save writes a file (then replaces it: the atomic rename over an existing file, MoveFileEx
//      semantics on Windows) and load reads it back to the same layer;
//   6. with no Windows binary where node-gyp-build looks (CELLSTATE_PREBUILD: a folder with the
//      Linux prebuilds only), loading fails with code ERR_CELLSTATE_NO_BINARY naming them.
// Prints one JSON line; exits 1 on any failure.
//
//   node wine-check.cjs fixture.json ...            (the checks above)
//   node wine-check.cjs --fixtures fixture.json ... (step 2's child: the fixtures, this ISA)
'use strict';
const { spawnSync } = require('node:child_process');
const { cpSync, mkdtempSync, readdirSync, rmSync, statSync } = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Worker } = require('node:worker_threads');
const { checkFixture } = require('./fixture-check.cjs');

const cellstate = require('cellstate');
const args = process.argv.slice(2);

if (args[0] === '--fixtures') {
  const results = args.slice(1).map((file) => checkFixture(cellstate, file));
  console.log(JSON.stringify({ isa: cellstate.info().isa, results }));
  process.exit(0);
}

function fail(message) {
  throw new Error(`wine-check: ${message}`);
}

/**
 * Inputs and a layer that every check below rebuilds the same way (seeded). Large enough that the
 * forward workspace (T·B·4H floats, 2.5 MiB) takes the large-block path of the platform layer
 * (VirtualAlloc on Windows).
 */
const SHAPE = { T: 80, B: 16, I: 32, H: 128 };
function sequence() {
  const { T, B, I } = SHAPE;
  const x = new Float32Array(T * B * I);
  for (let i = 0; i < x.length; ++i) x[i] = Math.sin(0.37 * i + 1);
  return x;
}
function makeLayer(cs) {
  return new cs.LSTM({ inputSize: SHAPE.I, hiddenSize: SHAPE.H, seed: 7 });
}

function maxDiff(a, b) {
  if (a.length !== b.length) return Infinity;
  let d = 0;
  for (let i = 0; i < a.length; ++i) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

async function main() {
  if (process.platform !== 'win32') fail(`platform ${process.platform}, expected win32`);
  const report = { node: process.version, platform: process.platform, arch: process.arch };

  // 1. The binary node-gyp-build picks.
  const root = path.dirname(require.resolve('cellstate/package.json'));
  report.binary = path.relative(root, require('node-gyp-build').resolve(root));
  if (report.binary !== path.join('prebuilds', 'win32-x64', 'cellstate.napi.node'))
    fail(`loaded ${report.binary}, expected prebuilds\\win32-x64\\cellstate.napi.node`);
  report.info = cellstate.info();

  // 2. Fixtures on every ISA the CPU has. A pipe between two Windows processes is fine; only
  // wine's own stdout must be a file.
  report.isas = {};
  for (const isa of report.info.isas) {
    const r = spawnSync(process.execPath, [__filename, '--fixtures', ...args], {
      env: { ...process.env, CELLSTATE_ISA: isa },
      encoding: 'utf8',
    });
    if (r.status !== 0) fail(`CELLSTATE_ISA=${isa}: exit ${r.status}\n${r.stderr}`);
    const out = JSON.parse(r.stdout);
    if (out.isa !== isa) fail(`CELLSTATE_ISA=${isa} ran ${out.isa}`);
    report.isas[isa] = out.results.map((x) => x.name);
  }

  // 3. Streaming equals forward.
  const { T, B, I, H } = SHAPE;
  const x = sequence();
  const layer = makeLayer(cellstate);
  const whole = layer.forward(new cellstate.Tensor(x, [T, B, I])).output.data;
  const stream = layer.stream({ batch: B });
  let streamDiff = 0;
  for (let t = 0; t < T; ++t) {
    const y = stream.step(x.subarray(t * B * I, (t + 1) * B * I));
    streamDiff = Math.max(streamDiff, maxDiff(y, whole.subarray(t * B * H, (t + 1) * B * H)));
  }
  if (!(streamDiff <= 1e-6)) fail(`stream vs forward: max difference ${streamDiff}`);
  report.stream = { steps: T, maxDiff: streamDiff };

  // 4. A worker thread: the addon loads there and computes the same output.
  const fromWorker = await new Promise((resolve, reject) => {
    const code = `
      const { parentPort, workerData } = require('node:worker_threads');
      const cs = require('cellstate');
      const layer = new cs.LSTM({ inputSize: ${I}, hiddenSize: ${H}, seed: 7 });
      const out = layer.forward(new cs.Tensor(workerData, [${T}, ${B}, ${I}])).output.data;
      parentPort.postMessage(out);`;
    const w = new Worker(code, { eval: true, workerData: x });
    w.once('message', resolve);
    w.once('error', reject);
    w.once('exit', (c) => c !== 0 && reject(new Error(`worker exited with ${c}`)));
  });
  const workerDiff = maxDiff(fromWorker, whole);
  if (!(workerDiff <= 1e-6)) fail(`worker vs main thread: max difference ${workerDiff}`);
  report.worker = { maxDiff: workerDiff };

  // 5. save (twice: the second replaces the file) and load.
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cellstate-wine-'));
  try {
    const file = path.join(dir, 'model.cellstate');
    await cellstate.save(makeLayer(cellstate), file);
    await cellstate.save(layer, file);
    const back = await cellstate.load(file);
    const again = back.forward(new cellstate.Tensor(x, [T, B, I])).output.data;
    if (maxDiff(again, whole) !== 0) fail('the loaded layer computes another output');
    report.file = { bytes: statSync(file).size, path: file };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  // 6. No binary for this platform: the load error.
  const bare = mkdtempSync(path.join(os.tmpdir(), 'cellstate-wine-'));
  try {
    const others = readdirSync(path.join(root, 'prebuilds')).filter((d) => d !== 'win32-x64');
    for (const d of others)
      cpSync(path.join(root, 'prebuilds', d), path.join(bare, 'prebuilds', d), { recursive: true });
    const code =
      "try { require('cellstate').info(); } catch (e) {" +
      ' console.log(JSON.stringify({ code: e.code, message: e.message })); }';
    const r = spawnSync(process.execPath, ['-e', code], {
      env: { ...process.env, CELLSTATE_PREBUILD: bare, CELLSTATE_BINARY: '' },
      encoding: 'utf8',
    });
    if (r.status !== 0) fail(`the load-error child exited with ${r.status}\n${r.stderr}`);
    const e = JSON.parse(r.stdout || 'null');
    if (!e || e.code !== 'ERR_CELLSTATE_NO_BINARY')
      fail(`no ERR_CELLSTATE_NO_BINARY without a win32-x64 binary: ${r.stdout}`);
    for (const want of ['platform win32', 'arch x64', ...others])
      if (!e.message.includes(want)) fail(`the load error does not name ${want}: ${e.message}`);
    report.noBinary = { code: e.code, named: others };
  } finally {
    rmSync(bare, { recursive: true, force: true });
  }
  console.log(JSON.stringify(report));
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : e);
  process.exit(1);
});
