// Two of `npm run bench`'s workloads through the installed package, small enough to run under
// emulation: scripts/wine-test.sh --bench runs it with Linux node and with node.exe under wine
// in alternating rounds, to compare the Windows binary with the Linux one on the same machine
// (wine adds little to pure compute: a large gap means the Windows build lost something, such
// as the ISA files' flags). A benchmark: it asserts nothing about time.
//   F1  LSTM inference B=32 T=100 I=256 H=256, writing into the last result, 1 and 2 threads:
//       median ms per forward
//   S2  streaming step, batch 1, LSTM I=256 H=256, one thread: p50 and p99 µs per step
// Prints one JSON line.
'use strict';
const cs = require('cellstate');

const reps = Number(process.argv[2] ?? 20);
const steps = Number(process.argv[3] ?? 2000);

function random(n, seed) {
  const a = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; ++i) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = s / 2 ** 32 - 0.5;
  }
  return a;
}
const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};
const now = () => Number(process.hrtime.bigint()) / 1e6; // ms

const result = { platform: process.platform, isa: cs.info().isa, F1: {}, S2: {} };
const threads = cs.info().threads;

const [T, B, I, H] = [100, 32, 256, 256];
const f1 = new cs.LSTM({ inputSize: I, hiddenSize: H, seed: 1 });
const x = new cs.Tensor(random(T * B * I, 2), [T, B, I]);
for (const t of [1, 2]) {
  cs.setNumThreads(t);
  let out = f1.forward(x);
  for (let i = 0; i < 3; ++i) out = f1.forward(x, { into: out });
  const ms = [];
  for (let i = 0; i < reps; ++i) {
    const t0 = now();
    out = f1.forward(x, { into: out });
    ms.push(now() - t0);
  }
  result.F1[`${t}t_ms`] = quantile(ms, 0.5);
}

cs.setNumThreads(1);
const s2 = new cs.LSTM({ inputSize: 256, hiddenSize: 256, seed: 1 });
const stream = s2.stream();
const frames = random(64 * 256, 3);
const frame = (i) => frames.subarray((i % 64) * 256, (i % 64) * 256 + 256);
for (let i = 0; i < steps / 10; ++i) stream.step(frame(i));
const us = [];
for (let i = 0; i < steps; ++i) {
  const t0 = now();
  stream.step(frame(i));
  us.push((now() - t0) * 1000);
}
result.S2 = { p50_us: quantile(us, 0.5), p99_us: quantile(us, 0.99) };
cs.setNumThreads(threads);
console.log(JSON.stringify(result));
