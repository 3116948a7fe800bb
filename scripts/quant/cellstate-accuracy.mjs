#!/usr/bin/env node
// The accuracy (and file size) of cellstate's int8 quantization, measured on the real kernels
// (issue 17): the companion of torch-dynamic-accuracy.py, which measures PyTorch's dynamic
// quantization (and simulates cellstate's scheme) on the same cases.
//
//   node scripts/quant/cellstate-accuracy.mjs [--epochs 60] [--json FILE] [--save FILE]
//   /usr/bin/python3 scripts/quant/torch-dynamic-accuracy.py --weights FILE
//
// --save writes the trained float character model, so that torch-dynamic-accuracy.py measures
// PyTorch's dynamic quantization on the very same weights.
//
// 1. The fixtures' shapes (test/fixtures: LSTM and GRU cases without lengths): the largest
//    difference from float32 of the output and final states of quantize(layer) (a layer the
//    kernel cannot quantize yet is listed as such), and the size of its file (toBuffer) over the
//    float layer's.
// 2. The demo's character model (examples/main.mjs: Embedding(V, 32) → LSTM(128) → Dense(V),
//    Adam 0.005, batch 16, seed 1, windows of 64 of examples/data/alice.txt), trained here for
//    --epochs, then quantize(model, { dtype: 'int8' }) (Embedding, LSTM and Dense int8): the
//    largest logit difference, bits per character (float and int8) and the file size ratio.
// Run `npm run build` first (it loads dist/).
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const api = await import(pathToFileURL(path.join(root, 'dist', 'index.mjs')).href);
const { Adam, Dense, Embedding, GRU, LSTM, Sequential, Tensor, quantize, setNumThreads, toBuffer } =
  api;

const args = process.argv.slice(2);
const arg = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const epochs = Number(arg('--epochs', '60'));
const jsonOut = arg('--json', null);
const saveTo = arg('--save', null);
setNumThreads(1);

const maxDiff = (a, b) => {
  let m = 0;
  for (let i = 0; i < a.length; ++i) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

// ---- 1. fixtures -------------------------------------------------------------------------
const fixtures = [];
const dir = path.join(root, 'test', 'fixtures');
for (const file of readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .sort()) {
  const f = JSON.parse(readFileSync(path.join(dir, file), 'utf8'));
  if (f.lengths || (f.cell !== 'lstm' && f.cell !== 'gru')) continue;
  const { batchFirst, ...config } = f.config;
  const layer = new (f.cell === 'lstm' ? LSTM : GRU)({ ...config, seed: 1 });
  const params = {};
  for (const [k, t] of Object.entries(f.params))
    params[k] = new Tensor(Float32Array.from(t.data), t.shape);
  layer.setParameters(params);
  // time-major input (a quantized layer takes time-major input)
  let x = Float32Array.from(f.inputs.x.data);
  const [d0, d1, I] = f.inputs.x.shape;
  if (batchFirst) {
    const t = new Float32Array(x.length);
    for (let b = 0; b < d0; ++b)
      for (let s = 0; s < d1; ++s)
        t.set(x.subarray((b * d1 + s) * I, (b * d1 + s + 1) * I), (s * d0 + b) * I);
    x = t;
  }
  const xt = new Tensor(x, batchFirst ? [d1, d0, I] : [d0, d1, I]);
  const opts = {};
  if (f.inputs.h0) opts.h0 = new Tensor(Float32Array.from(f.inputs.h0.data), f.inputs.h0.shape);
  if (f.inputs.c0) opts.c0 = new Tensor(Float32Array.from(f.inputs.c0.data), f.inputs.c0.shape);
  const ref = layer.forward(xt, opts);
  const row = { case: f.name, cell: f.cell };
  try {
    const q = quantize(layer, { dtype: 'int8' });
    const got = q.forward(xt, opts);
    row.maxDiff = Math.max(
      maxDiff(got.output.data, ref.output.data),
      maxDiff(got.h.data, ref.h.data),
      ref.c ? maxDiff(got.c.data, ref.c.data) : 0,
    );
    row.fileRatio = toBuffer(q).length / toBuffer(layer).length;
    row.fileBytes = [toBuffer(layer).length, toBuffer(q).length];
  } catch (e) {
    row.notQuantizable = e.message;
  }
  fixtures.push(row);
}

// ---- 2. the character model ----------------------------------------------------------------
const text = readFileSync(path.join(root, 'examples', 'data', 'alice.txt'), 'utf8');
const vocab = [...new Set(text)].sort();
const V = vocab.length;
const ids = Int32Array.from(text, (c) => vocab.indexOf(c));
const L = 64;
const N = Math.floor((ids.length - 1) / L);
const x = new Int32Array(N * L);
const y = new Int32Array(N * L);
for (let n = 0; n < N; ++n)
  for (let t = 0; t < L; ++t) {
    x[n * L + t] = ids[n * L + t];
    y[n * L + t] = ids[n * L + t + 1];
  }
const model = new Sequential(
  [
    new Embedding({ numEmbeddings: V, embeddingDim: 32, seed: 1 }),
    new LSTM({ inputSize: 32, hiddenSize: 128, seed: 2 }),
    new Dense({ inputSize: 128, outputSize: V, seed: 3 }),
  ],
  { batchFirst: true },
);
const data = { x: { data: x, shape: [N, L] }, y: { data: y, shape: [N, L] } };
await model.fit(data, {
  loss: 'crossEntropy',
  optimizer: new Adam({ lr: 0.005 }),
  epochs,
  batchSize: 16,
  seed: 1,
  verbose: 0,
});
// time-major for the quantized LSTM: [L, N] ids, logits [L, N, V]
const tm = new Sequential(model.layers, { batchFirst: false });
const xt = new Int32Array(N * L);
for (let n = 0; n < N; ++n) for (let t = 0; t < L; ++t) xt[t * N + n] = x[n * L + t];
const bpc = (logits) => {
  let sum = 0;
  for (let t = 0; t < L; ++t)
    for (let n = 0; n < N; ++n) {
      const row = logits.subarray((t * N + n) * V, (t * N + n + 1) * V);
      let m = -Infinity;
      for (const v of row) m = Math.max(m, v);
      let z = 0;
      for (const v of row) z += Math.exp(v - m);
      sum += Math.log(z) + m - row[y[n * L + t]];
    }
  return sum / (N * L) / Math.LN2;
};
const floatLogits = tm.predict({ data: xt, shape: [L, N] }).data.slice();
const q = quantize(tm, { dtype: 'int8' });
const int8Logits = q.predict({ data: xt, shape: [L, N] }).data;
const char = {
  epochs,
  floatBpc: bpc(floatLogits),
  int8Bpc: bpc(int8Logits),
  maxLogitDiff: maxDiff(int8Logits, floatLogits),
  fileBytes: [toBuffer(tm).length, toBuffer(q).length],
};
char.bpcChange = char.int8Bpc - char.floatBpc;
char.fileRatio = char.fileBytes[1] / char.fileBytes[0];

console.log(
  'fixtures (largest |int8 − float32| over output and final states; file size int8/float):',
);
for (const r of fixtures)
  console.log(
    `  ${r.case.padEnd(34)} ${r.notQuantizable ? `not quantizable: ${r.notQuantizable}` : `${r.maxDiff.toExponential(1)}   file ${r.fileRatio.toFixed(2)}× (${r.fileBytes[0]} → ${r.fileBytes[1]} bytes)`}`,
  );
console.log(
  `character model, ${epochs} epochs: float ${char.floatBpc.toFixed(4)} bits/char, int8 ${char.int8Bpc.toFixed(4)} (${char.bpcChange >= 0 ? '+' : ''}${char.bpcChange.toFixed(4)}), largest logit difference ${char.maxLogitDiff.toFixed(3)}, file ${char.fileRatio.toFixed(3)}× (${char.fileBytes[0]} → ${char.fileBytes[1]} bytes)`,
);
if (saveTo) writeFileSync(saveTo, toBuffer(tm));
if (jsonOut) writeFileSync(jsonOut, JSON.stringify({ fixtures, char }, null, 2) + '\n');
