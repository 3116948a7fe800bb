#!/usr/bin/env node
// Streaming latency from JavaScript (issue 6): per-step p50 / p99 of
//   single  one stream, batch 1                         (stream.step)
//   pool64  a StreamPool of 64 sessions, one batched step (64 × session.write + pool.step),
//           with its throughput in session-steps per second, against 64 separate streams
//   worker  a StreamWorker round trip, batch 1            (await worker.step(x, out))
// for S1 (LSTM I=64 H=128), S2 (I=256 H=256) and S3 (2 layers, I=64 H=256), on one thread
// (setNumThreads(1); the worker's kernel too). A benchmark, never a test: it asserts nothing.
// It runs the built package (dist/): `npm run build` first.
//
//   node bench/stream.mjs [--quick] [--only S1,S2] [--json out.json]
//
// `npm run bench` (bench/run.mjs) imports benchStreaming() from here.
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

export const WORKLOADS = [
  { id: 'S1', L: 1, I: 64, H: 128 },
  { id: 'S2', L: 1, I: 256, H: 256 },
  { id: 'S3', L: 2, I: 64, H: 256 },
];
const POOL = 64;

function quantile(sorted, q) {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Samples (µs) of `n` timed calls of a synchronous `f` after `warmup` untimed ones. */
function timeSync(f, warmup, n) {
  for (let i = 0; i < warmup; ++i) f(i);
  const out = new Float64Array(n);
  for (let i = 0; i < n; ++i) {
    const t0 = performance.now();
    f(i);
    out[i] = (performance.now() - t0) * 1000;
  }
  return out;
}

async function timeAsync(f, warmup, n) {
  for (let i = 0; i < warmup; ++i) await f(i);
  const out = new Float64Array(n);
  for (let i = 0; i < n; ++i) {
    const t0 = performance.now();
    await f(i);
    out[i] = (performance.now() - t0) * 1000;
  }
  return out;
}

/** p50 / p99 / mean of each round's samples; the figures are medians over rounds. */
function summarize(rounds) {
  const per = rounds.map((samples) => {
    const s = Array.from(samples).sort((a, b) => a - b);
    return {
      p50: quantile(s, 0.5),
      p99: quantile(s, 0.99),
      mean: s.reduce((a, b) => a + b, 0) / s.length,
    };
  });
  return {
    p50: median(per.map((r) => r.p50)),
    p99: median(per.map((r) => r.p99)),
    mean: median(per.map((r) => r.mean)),
  };
}

/**
 * A result row. steps_per_s: sequence-steps per second at the median call (`rows` sequences
 * per call); steps_per_s_mean: at the mean call (descheduling on a busy machine drags it).
 */
function row(workload, mode, t, rows) {
  return {
    workload,
    mode,
    p50_us: t.p50,
    p99_us: t.p99,
    steps_per_s: (rows * 1e6) / t.p50,
    steps_per_s_mean: (rows * 1e6) / t.mean,
  };
}

function randomFrames(n, seed) {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; ++i) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32) * 2 - 1;
  }
  return out;
}

/** The machine, for the report. */
export function machine(cs) {
  const cpus = os.cpus();
  const i = cs.info();
  return {
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    isa: i.isa,
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    load: os.loadavg()[0],
  };
}

/**
 * Runs the streaming bench. options: { quick?: boolean, only?: string[] (workload ids; others
 * ignored), rounds?: number, log?: (line) => void }. Returns { machine, rows }, one row per
 * workload and mode: { workload, mode, p50_us, p99_us, steps_per_s, steps_per_s_mean }.
 */
export async function benchStreaming(options = {}) {
  const cs = require(path.join(here, '..', 'dist', 'index.js'));
  const quick = Boolean(options.quick);
  const log = options.log ?? ((line) => console.log(line));
  const only = options.only?.length
    ? new Set(options.only.filter((id) => WORKLOADS.some((w) => w.id === id)))
    : null;
  const workloads = WORKLOADS.filter((w) => !only || only.size === 0 || only.has(w.id));
  const rounds = options.rounds ?? (quick ? 1 : 5);
  const steps = quick ? 2000 : 20000;
  const poolSteps = quick ? 100 : 500;
  const workerSteps = quick ? 1000 : 10000;
  const threads = cs.info().threads;
  cs.setNumThreads(1);
  const rows = [];
  try {
    for (const w of workloads) {
      const layer = new cs.LSTM({ inputSize: w.I, hiddenSize: w.H, numLayers: w.L, seed: 1 });
      const frames = 64;
      const xs = randomFrames(frames * w.I, 7);
      const frame = (i) => xs.subarray((i % frames) * w.I, ((i % frames) + 1) * w.I);

      // One stream.
      const s = layer.stream();
      const single = [];
      for (let r = 0; r < rounds; ++r)
        single.push(timeSync((i) => s.step(frame(i)), steps / 10, steps));
      const one = summarize(single);
      rows.push(row(w.id, 'single', one, 1));
      log(`${w.id} single: p50 ${one.p50.toFixed(1)} µs, p99 ${one.p99.toFixed(1)} µs`);

      // A pool of 64 sessions, one batched step per round of frames.
      const pool = layer.streamPool({ capacity: POOL });
      const sessions = Array.from({ length: POOL }, () => pool.open());
      const poolRounds = [];
      for (let r = 0; r < rounds; ++r)
        poolRounds.push(
          timeSync(
            (i) => {
              for (let k = 0; k < POOL; ++k) sessions[k].write(frame(i + k));
              pool.step();
            },
            poolSteps / 10,
            poolSteps,
          ),
        );
      const p = summarize(poolRounds);
      rows.push(row(w.id, `pool${POOL}`, p, POOL));
      // The same 64 sequences as 64 separate streams, for comparison.
      const separate = Array.from({ length: POOL }, () => layer.stream());
      const sepRounds = [];
      for (let r = 0; r < rounds; ++r)
        sepRounds.push(
          timeSync(
            (i) => {
              for (let k = 0; k < POOL; ++k) separate[k].step(frame(i + k));
            },
            poolSteps / 10,
            poolSteps,
          ),
        );
      const sep = summarize(sepRounds);
      rows.push(row(w.id, `${POOL} streams`, sep, POOL));
      log(
        `${w.id} pool of ${POOL}: p50 ${p.p50.toFixed(1)} µs per batched step, ` +
          `${((POOL * 1e6) / p.p50).toFixed(0)} steps/s (64 separate streams: ${((POOL * 1e6) / sep.p50).toFixed(0)} steps/s)`,
      );

      // The worker round trip.
      const worker = await cs.StreamWorker.create(layer, { threads: 1 });
      try {
        const out = new Float32Array(layer.outputSize);
        const wr = [];
        for (let r = 0; r < rounds; ++r)
          wr.push(
            await timeAsync((i) => worker.step(frame(i), out), workerSteps / 10, workerSteps),
          );
        const q = summarize(wr);
        rows.push(row(w.id, 'worker', q, 1));
        log(`${w.id} worker round trip: p50 ${q.p50.toFixed(1)} µs, p99 ${q.p99.toFixed(1)} µs`);
      } finally {
        await worker.close();
      }
    }
  } finally {
    cs.setNumThreads(threads);
  }
  return { machine: machine(cs), rows };
}

function table(rows) {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => String(r[c]).length)));
  return rows.map((r) => r.map((v, c) => String(v).padStart(widths[c])).join('  ')).join('\n');
}

async function main() {
  const argv = process.argv.slice(2);
  const quick = argv.includes('--quick');
  const onlyAt = argv.indexOf('--only');
  const only = onlyAt >= 0 ? (argv[onlyAt + 1] ?? '').split(',') : undefined;
  const jsonAt = argv.indexOf('--json');
  const result = await benchStreaming({ quick, only });
  const m = result.machine;
  console.log(
    `\n${m.cpu}, ${m.cores} cores, ${m.isa}, Node ${m.node}, load ${m.load.toFixed(1)} at the end`,
  );
  console.log('medians over rounds; µs per step (pool: per batched step of 64 sessions)\n');
  console.log(
    table([
      ['workload', 'mode', 'p50 µs', 'p99 µs', 'steps/s (median)', 'steps/s (mean)'],
      ...result.rows.map((r) => [
        r.workload,
        r.mode,
        r.p50_us.toFixed(1),
        r.p99_us.toFixed(1),
        Math.round(r.steps_per_s),
        Math.round(r.steps_per_s_mean),
      ]),
    ]),
  );
  if (jsonAt >= 0) writeFileSync(argv[jsonAt + 1], JSON.stringify(result, null, 2));
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e) => {
    console.error(`bench/stream: ${e.stack ?? e}`);
    process.exit(1);
  });
}
