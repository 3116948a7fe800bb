#!/usr/bin/env node
// Does layerNorm help, and what does it cost? (issue 12, item 1; numbers in the lead's report.)
//
//   node bench/layernorm.mjs [--rounds N] [--layers L] [--seeds a,b] [--T n] [--lr x]
//                            [--cost-only] [--train-only]
//
// 1. The adding problem (lib/data/adding.ts, as test/train/adding.test.ts; T 100 unless --T): a
//    stack of L LSTM layers (default 4, H 32) and a Dense on the last step, with and without
//    layerNorm, the same seeds, data and budget (rounds of 100 Adam updates, lr 0.01 unless
//    --lr, on fresh data, batch 32); validation MSE (500 held-out sequences) after every round.
//    The baseline of answering 1.0 scores about 1/6.
// 2. Step cost at bench/README.md's F1 shape (LSTM inference, T 100, B 32, I 256, H 256) and T1
//    shape (forward with train: true + backward, same sizes): alternating rounds A, B, A, B, ...
//    and the medians of each (the machine is shared and noisy).
// Runs on the built package (dist/): `npm run build` first.
import { performance } from 'node:perf_hooks';

import { Adam, Dense, LSTM, Sequential, Tensor, addingProblem, info } from '../dist/index.mjs';

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : def;
};
const ROUNDS = Number(opt('--rounds', 15));
const LAYERS = Number(opt('--layers', 4));
const SEEDS = opt('--seeds', '1').split(',').map(Number);
const T = Number(opt('--T', 100));
const LR = Number(opt('--lr', 0.01));
const HIDDEN = 32;
const BATCH = 32;
const UPDATES = 100; // per round

async function adding(layerNorm, seed) {
  const layers = [];
  for (let l = 0; l < LAYERS; ++l)
    layers.push(
      new LSTM({ inputSize: l ? HIDDEN : 2, hiddenSize: HIDDEN, layerNorm, seed: seed * 100 + l }),
    );
  const model = new Sequential([
    ...layers,
    new Dense({ inputSize: HIDDEN, outputSize: 1, lastStep: true, seed: seed * 100 + 99 }),
  ]);
  const val = addingProblem({ n: 500, T, seed: 999 });
  const optimizer = new Adam({ lr: LR });
  const curve = [];
  const t0 = performance.now();
  for (let round = 0; round < ROUNDS; ++round) {
    const data = addingProblem({ n: UPDATES * BATCH, T, seed: seed * 1000 + round + 1 });
    const h = await model.fit(data, {
      loss: 'mse',
      optimizer,
      batchSize: BATCH,
      seed: round,
      verbose: 0,
    });
    const train = h.loss[h.loss.length - 1]; // the round's mean training loss
    curve.push({
      updates: (round + 1) * UPDATES,
      train,
      val: model.evaluate(val, { loss: 'mse' }),
    });
  }
  return { curve, seconds: (performance.now() - t0) / 1000 };
}

function median(v) {
  const s = [...v].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function cost() {
  const [Tn, B, I, H] = [100, 32, 256, 256];
  const rand = (n, seed) => {
    let s = seed >>> 0;
    const a = new Float32Array(n);
    for (let i = 0; i < n; ++i) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      a[i] = (s / 2 ** 32 - 0.5) * 0.2;
    }
    return a;
  };
  const x = new Tensor(rand(Tn * B * I, 1), [Tn, B, I]);
  const dy = new Tensor(rand(Tn * B * H, 2), [Tn, B, H]);
  const make = (layerNorm) => new LSTM({ inputSize: I, hiddenSize: H, layerNorm, seed: 5 });
  const layers = { plain: make(false), layerNorm: make(true) };
  const runs = {
    F1: (l, into) => l.forward(x, { into }),
    T1: (l) => {
      l.forward(x, { train: true });
      l.backward({ output: dy });
    },
  };
  const out = {};
  for (const [w, fn] of Object.entries(runs)) {
    const into = {};
    for (const [k, l] of Object.entries(layers)) into[k] = l.forward(x); // warm up, result reused
    for (const l of Object.values(layers)) fn(l, into[l.config.layerNorm ? 'layerNorm' : 'plain']);
    const times = { plain: [], layerNorm: [] };
    for (let r = 0; r < 15; ++r)
      for (const k of r % 2 ? ['layerNorm', 'plain'] : ['plain', 'layerNorm']) {
        const t0 = performance.now();
        fn(layers[k], into[k]);
        times[k].push(performance.now() - t0);
      }
    out[w] = { plain: median(times.plain), layerNorm: median(times.layerNorm) };
  }
  return out;
}

const rt = info();
console.log(`isa ${rt.isa}, threads ${rt.threads}`);
if (!args.includes('--cost-only')) {
  for (const seed of SEEDS) {
    const res = {};
    for (const ln of [false, true]) res[ln ? 'layerNorm' : 'plain'] = await adding(ln, seed);
    console.log(
      `\nadding problem T=${T}, ${LAYERS} x LSTM(H ${HIDDEN}), Adam lr ${LR}, seed ${seed}: validation MSE (mean training MSE of the round)`,
    );
    console.log('updates   plain              layerNorm');
    for (let r = 0; r < ROUNDS; ++r) {
      const a = res.plain.curve[r];
      const b = res.layerNorm.curve[r];
      const f = (c) => `${c.val.toFixed(4)} (${c.train.toFixed(4)})`.padEnd(19);
      console.log(`${String(a.updates).padEnd(9)} ${f(a)}${f(b)}`);
    }
    console.log(
      `wall time: plain ${res.plain.seconds.toFixed(1)} s, layerNorm ${res.layerNorm.seconds.toFixed(1)} s`,
    );
  }
}
if (!args.includes('--train-only')) {
  const c = cost();
  console.log('\nstep cost, medians of 15 alternating rounds (ms):');
  for (const [w, v] of Object.entries(c))
    console.log(
      `${w}: plain ${v.plain.toFixed(2)}, layerNorm ${v.layerNorm.toFixed(2)}, ratio ${(v.layerNorm / v.plain).toFixed(3)}`,
    );
}
