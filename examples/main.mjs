#!/usr/bin/env node
// cellstate demo (npm run demo in a clone; npx cellstate-demo where cellstate is installed): on
// data shipped with the package, nothing downloaded,
//   (a) the adding problem at T = 100 (Hochreiter and Schmidhuber 1997): a tanh RNN, an LSTM and
//       a GRU get the same budget of updates; the RNN stays at the baseline, LSTM and GRU learn;
//   (b) a character-level LSTM on a page of Alice's Adventures in Wonderland, then text generated
//       by streaming the model one character at a time;
//   (c) the learning curves as an SVG (examples/out/curves.svg) and a compact summary.
// It imports the built package (../dist/index.js); in a clone it builds it first when it is
// missing. Options: --quick (a few updates of each part: a check that it runs, not a result),
// --out DIR (where curves.svg goes; default examples/out in a clone, ./cellstate-demo where the
// package is installed, as node_modules may not be writable).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
// A clone has the TypeScript sources; the installed package has only dist/.
const isClone = existsSync(path.join(root, 'lib', 'index.ts'));
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const outArg = args.indexOf('--out');
if (args.includes('--help') || (outArg >= 0 && !args[outArg + 1])) {
  console.log('usage: cellstate-demo [--quick] [--out DIR]');
  process.exit(args.includes('--help') ? 0 : 2);
}
if (isClone && (!existsSync(path.join(root, 'dist', 'index.js')) || !hasAddon())) {
  console.log(
    'cellstate is not built yet: running `npm run build` (the native addon and dist/) ...',
  );
  const r = spawnSync('npm', ['run', 'build'], {
    cwd: root,
    stdio: 'inherit',
    shell: process.platform === 'win32',
  });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
const { Adam, Dense, Embedding, GRU, LSTM, RNN, Sequential, addingProblem, info, plotSvg } =
  await import('../dist/index.js');

function hasAddon() {
  if (process.env.CELLSTATE_BINARY) return true;
  return (
    ['build/Release/cellstate.node', 'build/Debug/cellstate.node'].some((p) =>
      existsSync(path.join(root, p)),
    ) || existsSync(path.join(root, 'prebuilds', `${process.platform}-${process.arch}`))
  );
}

const tty = process.stdout.isTTY === true;
const started = performance.now();
const seconds = (t0) => ((performance.now() - t0) / 1000).toFixed(1);
/** One status line: redrawn in place on a terminal, printed every `every` calls otherwise. */
function status(text, final = false) {
  if (tty) process.stdout.write(`\r\x1b[2K${text}${final ? '\n' : ''}`);
  else if (final) console.log(text);
}

const rt = info();
console.log(
  `cellstate ${rt.version} · ${rt.isa} · ${rt.threads} thread${rt.threads > 1 ? 's' : ''}\n`,
);

// ---- (a) the adding problem ------------------------------------------------------------------
const T = 100;
const HIDDEN = 32;
const BATCH = 32;
const BUDGET = quick ? 20 : 3000; // updates per cell
const ROUND = quick ? 10 : 100; // updates per fit call, each on freshly generated sequences
const val = addingProblem({ n: 1000, T, seed: 999 });
let baseline = 0;
for (const v of val.y.data) baseline += (v - 1) ** 2;
baseline /= val.y.data.length;

console.log(`(a) The adding problem, T = ${T}: two marked values among ${T}, answer their sum.`);
console.log(
  `    Answering 1.0 always scores MSE ${baseline.toFixed(3)} (1/6 in theory); the bar to clear is 0.01.`,
);
console.log(
  `    Each cell: ${HIDDEN} hidden units, batches of ${BATCH}, Adam lr 0.01, up to ${BUDGET} updates.\n`,
);

const adding = [];
for (const [name, Cell] of [
  ['RNN (tanh)', RNN],
  ['LSTM', LSTM],
  ['GRU', GRU],
]) {
  const model = new Sequential([
    new Cell({ inputSize: 2, hiddenSize: HIDDEN, seed: 1 }),
    new Dense({ inputSize: HIDDEN, outputSize: 1, lastStep: true, seed: 2 }),
  ]);
  const optimizer = new Adam({ lr: 0.01 });
  const curve = [[0, model.evaluate(val, { loss: 'mse' })]];
  const t0 = performance.now();
  let steps = 0;
  let trainMs = 0;
  let solvedAt = null;
  for (let round = 0; steps < BUDGET; ++round) {
    const data = addingProblem({ n: ROUND * BATCH, T, seed: 1000 + round });
    const t1 = performance.now();
    const h = await model.fit(data, {
      loss: 'mse',
      optimizer,
      batchSize: BATCH,
      seed: round,
      verbose: 0,
    });
    trainMs += performance.now() - t1;
    steps += h.steps;
    const mse = model.evaluate(val, { loss: 'mse' });
    curve.push([steps, mse]);
    if (solvedAt === null && mse < 0.01) solvedAt = steps;
    status(
      `    ${name.padEnd(10)} update ${String(steps).padStart(4)}/${BUDGET}  validation MSE ${mse.toFixed(4)}  ${seconds(t0)}s`,
    );
    if (!tty && steps % 1000 === 0)
      console.log(
        `    ${name.padEnd(10)} update ${steps}/${BUDGET}  validation MSE ${mse.toFixed(4)}`,
      );
    if (mse < 0.001) break; // learnt: no need to spend the rest of the budget
  }
  const final = curve[curve.length - 1][1];
  const rate = (steps * BATCH) / (trainMs / 1000);
  adding.push({ name, steps, final, solvedAt, curve, rate, secs: Number(seconds(t0)) });
  status(
    `    ${name.padEnd(10)} ${solvedAt !== null ? `learnt it: MSE < 0.01 after ${solvedAt} updates` : `did not learn it: MSE ${final.toFixed(3)} after ${steps} updates`} (final ${final.toFixed(4)}; ${Math.round(rate)} sequences/s, ${Math.round(rate * T)} steps/s)`,
    true,
  );
}

// ---- (b) a character-level LSTM -----------------------------------------------------------
const text = readFileSync(path.join(here, 'data', 'alice.txt'), 'utf8');
const vocab = [...new Set(text)].sort();
const V = vocab.length;
const ids = Int32Array.from(text, (c) => vocab.indexOf(c));
const counts = new Map();
for (const c of text) counts.set(c, (counts.get(c) ?? 0) + 1);
let unigram = 0;
for (const n of counts.values()) unigram -= (n / text.length) * Math.log2(n / text.length);

const L = 64;
const N = Math.floor((ids.length - 1) / L);
const x = new Int32Array(N * L);
const y = new Int32Array(N * L);
for (let n = 0; n < N; ++n)
  for (let t = 0; t < L; ++t) {
    x[n * L + t] = ids[n * L + t];
    y[n * L + t] = ids[n * L + t + 1];
  }
const EPOCHS = quick ? 1 : 60;
const CHAR_HIDDEN = 128;
console.log(
  `\n(b) A character-level LSTM on examples/data/alice.txt (${text.length} characters, ${V} distinct;`,
);
console.log(`    their unigram entropy is ${unigram.toFixed(2)} bits per character).`);
console.log(
  `    Embedding(${V}, 32) → LSTM(128) → Dense(${V}), cross-entropy, windows of ${L}, ${EPOCHS} epochs.\n`,
);

const charModel = new Sequential([
  new Embedding({ numEmbeddings: V, embeddingDim: 32, seed: 1 }),
  new LSTM({ inputSize: 32, hiddenSize: CHAR_HIDDEN, seed: 2 }),
  new Dense({ inputSize: CHAR_HIDDEN, outputSize: V, seed: 3 }),
]);
const charData = { x: { data: x, shape: [N, L] }, y: { data: y, shape: [N, L] } };
const bpcCurve = [[0, charModel.evaluate(charData, { loss: 'crossEntropy' }) / Math.LN2]];
const tChar = performance.now();
const charHistory = await charModel.fit(charData, {
  loss: 'crossEntropy',
  optimizer: new Adam({ lr: 0.005 }),
  epochs: EPOCHS,
  batchSize: 16,
  seed: 1,
  verbose: 0,
  callbacks: {
    onEpochEnd: ({ epoch, loss }) => {
      bpcCurve.push([epoch + 1, loss / Math.LN2]);
      status(
        `    epoch ${String(epoch + 1).padStart(2)}/${EPOCHS}  ${(loss / Math.LN2).toFixed(3)} bits per character  ${seconds(tChar)}s`,
      );
      if (!tty && (epoch + 1) % 20 === 0)
        console.log(
          `    epoch ${epoch + 1}/${EPOCHS}  ${(loss / Math.LN2).toFixed(3)} bits per character`,
        );
    },
  },
});
const bpc = charModel.evaluate(charData, { loss: 'crossEntropy' }) / Math.LN2;
status(
  `    ${bpc.toFixed(2)} bits per character after ${charHistory.steps} updates (unigram: ${unigram.toFixed(2)}); ${Math.round(charHistory.timestepsPerSecond)} characters/s in training`,
  true,
);

// Generation: one character per step through the model's stream (no allocation per step).
const stream = charModel.stream({ batch: 1 });
let state = 12345;
const random = () => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 4294967296;
const temperature = 0.6;
const prime = 'Alice ';
const token = new Float32Array(1);
let logits = null;
for (const c of prime) {
  token[0] = vocab.indexOf(c);
  logits = stream.step(token);
}
let generated = prime;
const probs = new Float64Array(V);
const tGen = performance.now();
for (let i = 0; i < 400; ++i) {
  let max = -Infinity;
  for (let k = 0; k < V; ++k) max = Math.max(max, logits[k]);
  let sum = 0;
  for (let k = 0; k < V; ++k) sum += probs[k] = Math.exp((logits[k] - max) / temperature);
  let u = random() * sum;
  let k = 0;
  while (k < V - 1 && (u -= probs[k]) > 0) ++k;
  generated += vocab[k];
  token[0] = k;
  logits = stream.step(token);
}
const genRate = 400 / ((performance.now() - tGen) / 1000);
console.log(
  `\n    Generated by streaming, one character per step (temperature ${temperature}, ${Math.round(genRate)} characters/s):\n`,
);
for (const line of wrap(generated, 90)) console.log(`      ${line}`);

// ---- (c) curves and summary ---------------------------------------------------------------
const outDir =
  outArg >= 0
    ? path.resolve(args[outArg + 1])
    : isClone
      ? path.join(here, 'out')
      : path.resolve('cellstate-demo');
mkdirSync(outDir, { recursive: true });
const svgPath = path.join(outDir, 'curves.svg');
writeFileSync(svgPath, curvesSvg());

console.log('\nSummary');
console.log(
  '  adding problem, T = 100   updates to MSE < 0.01   updates run   final MSE   sequences/s',
);
for (const a of adding)
  console.log(
    `  ${a.name.padEnd(24)} ${String(a.solvedAt ?? 'never').padStart(20)}   ${String(a.steps).padStart(11)}   ${a.final.toFixed(4).padStart(9)}   ${String(Math.round(a.rate)).padStart(11)}`,
  );
console.log(
  `  ${'baseline (always 1.0)'.padEnd(24)} ${''.padStart(20)}   ${''.padStart(11)}   ${baseline.toFixed(4).padStart(9)}`,
);
console.log(
  `  character LSTM: ${bpc.toFixed(2)} bits/char (unigram ${unigram.toFixed(2)}), ${Math.round(charHistory.timestepsPerSecond)} chars/s training, ${Math.round(genRate)} chars/s streaming`,
);
console.log(`  learning curves: ${path.relative(process.cwd(), svgPath)}`);
console.log(`  total ${seconds(started)}s`);

function wrap(s, width) {
  const out = [];
  for (const para of s.split('\n')) {
    let line = '';
    for (const word of para.split(' ')) {
      if (line.length + word.length + 1 > width && line) {
        out.push(line);
        line = word;
      } else line = line ? `${line} ${word}` : word;
    }
    out.push(line);
  }
  return out;
}

function curvesSvg() {
  const colors = { 'RNN (tanh)': '#d95f02', LSTM: '#1b9e77', GRU: '#7570b3' };
  const ticks = (max) => [0, 1, 2, 3, 4, 5].map((i) => Math.round((max * i) / 5));
  return plotSvg([
    {
      title: `Adding problem, T = ${T}: validation MSE`,
      x: { label: 'updates', min: 0, max: BUDGET, ticks: ticks(BUDGET) },
      y: {
        label: 'mean squared error (log scale)',
        min: 1e-4,
        max: 1,
        log: true,
        ticks: [0.0001, 0.001, 0.01, 0.1, 1],
      },
      series: adding.map((a) => ({ label: a.name, color: colors[a.name], points: a.curve })),
      refs: [
        { y: baseline, label: `always 1.0: ${baseline.toFixed(3)}`, dash: '6 4' },
        { y: 0.01, label: 'solved: 0.01', dash: '2 3' },
      ],
    },
    {
      title: 'Character LSTM on alice.txt',
      x: { label: 'epochs', min: 0, max: EPOCHS, ticks: ticks(EPOCHS) },
      y: { label: 'bits per character', min: 0, max: 6, ticks: [0, 1, 2, 3, 4, 5, 6] },
      series: [{ label: 'LSTM (training text)', color: colors.LSTM, points: bpcCurve }],
      refs: [{ y: unigram, label: `unigram entropy: ${unigram.toFixed(2)}`, dash: '6 4' }],
    },
  ]);
}
