#!/usr/bin/env node
// `npm run bench`: the workloads of issue 3 through the public API, with the machine's SGEMM
// ceiling and the baselines (oneDNN, PyTorch, onnxruntime-node) measured in the same run, in
// alternating rounds. A benchmark, never a test: it asserts nothing about time and builds nothing
// of cellstate (run `npm run build` first; `npm run bench:setup` installs onnxruntime-node in
// bench/baselines/ort and builds the oneDNN harness, which this script also builds on demand into
// build/bench/ when libdnnl-dev is installed). bench/README.md describes every workload and peer.
//
//   npm run bench [-- --quick] [--only F1,T1,S1] [--json out.json] [--rounds N]
//                 [--threads 1,2] [--no-onednn] [--no-torch] [--no-ort] [--no-int8]
//
// Workloads (GFLOP counted as 2·T·B·G·H·(I+H) for a forward, three times that for a training
// step; G = 4 for the LSTM, 3 for the GRU):
//   F1  LSTM inference      B=32 T=100 I=256  H=256    1 and 2 threads (every workload writes
//                                                      into the last call's results, `into`;
//                                                      F1 also with new ones per call)
//   F2  LSTM inference      B=64 T=200 I=512  H=1024   2 threads
//   T1  LSTM training step  B=32 T=100 I=256  H=256    1 and 2 threads (forward train:true +
//                                                      backward with every gradient)
//   T2  LSTM training step  B=64 T=100 I=512  H=512    2 threads
//   G1  F1 and T1 for the GRU (G1-F, G1-T; resetAfter, oneDNN's lbr_gru)
//   G1B G1 with resetAfter: false (G1B-F, G1B-T; oneDNN's vanilla_gru; PyTorch has no such GRU)
//   S1–S3 streaming step, batch 1, one thread: I=64 H=128; I=256 H=256; 2 layers I=64 H=256
//         (p50 and p99 per step from JavaScript)
//   SGEMM 2048³: the binding's matmul (cellstate::Matmul, packing B included), its PackedMatrix
//         (B packed once, 1 thread), oneDNN's dnnl_sgemm and PyTorch's mm; the fastest of them
//         at a thread count is the ceiling every GFLOP/s figure is compared with.
//   FMA peak: the core's peak, a register-only loop of fused multiply-adds in the oneDNN
//         harness (AVX-512 where the CPU has it), at each thread count: what no GEMM exceeds;
//         the oneDNN comparison gives both sides' fraction of it.
// Each measurement is warmed up, then measured in R rounds (default 5; --quick: 1) that
// alternate over all systems and workloads (reversed every other round), so that drift of a
// shared machine hits all of them alike; a figure is the median over its rounds' samples, and a
// ratio (speed-ups, fractions of the ceiling, the targets) the median over rounds of the ratio
// within a round, since these machines drift by tens of percent within one run.
// Waiting: cellstate's threads wait passively between steps. On a busy machine (load average
// above the cores at start) the baselines are made to wait passively too (PyTorch:
// OMP_WAIT_POLICY=PASSIVE unless set; onnxruntime: session.intra_op.allow_spinning=0), since
// spinning workers that the OS deschedules make their 2-thread figures collapse (PyTorch's F1
// went from ~0.15 s to ~1–4 s here): the comparison is then of kernels, not of spin policies.
// CELLSTATE_BENCH_BASELINE_WAIT=passive|default forces either choice.
// oneDNN (bench/baselines/onednn.mjs): its RNN primitives on cellstate's weights and inputs, so a
// same-function check compares outputs, final state and (training) every gradient.
// int8 (issue 17): F1, G1-F and S1–S3 also run quantized (quantize(layer, { dtype: 'int8' })) next
// to the float layer, with PyTorch's quantize_dynamic (engines onednn and qnnpack, on the same
// weights and inputs) and onnxruntime's DynamicQuantizeLSTM (the quantized layer's own toOnnx);
// a layer cellstate cannot quantize yet says so in its row. Same-function checks compare each
// int8 output with the float layer's at INT8_TOL.
// Environment: CELLSTATE_BENCH_PYTHON (python with torch), CELLSTATE_BENCH_TORCH_BLAS=system
// (see bench/baselines/pytorch.mjs), and everything cellstate reads (CELLSTATE_ISA, ...).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const require = createRequire(import.meta.url);

// ---- options -----------------------------------------------------------------------------

const BATCH = [
  { id: 'F1', cell: 'lstm', mode: 'infer', T: 100, B: 32, I: 256, H: 256, threads: [1, 2] },
  { id: 'F2', cell: 'lstm', mode: 'infer', T: 200, B: 64, I: 512, H: 1024, threads: [2] },
  { id: 'T1', cell: 'lstm', mode: 'train', T: 100, B: 32, I: 256, H: 256, threads: [1, 2] },
  { id: 'T2', cell: 'lstm', mode: 'train', T: 100, B: 64, I: 512, H: 512, threads: [2] },
  { id: 'G1-F', cell: 'gru', mode: 'infer', T: 100, B: 32, I: 256, H: 256, threads: [1, 2] },
  { id: 'G1-T', cell: 'gru', mode: 'train', T: 100, B: 32, I: 256, H: 256, threads: [1, 2] },
  // The GRU of Cho et al. (reset before the recurrent product): oneDNN's vanilla_gru.
  {
    id: 'G1B-F',
    cell: 'gru',
    resetAfter: false,
    mode: 'infer',
    T: 100,
    B: 32,
    I: 256,
    H: 256,
    threads: [1, 2],
  },
  {
    id: 'G1B-T',
    cell: 'gru',
    resetAfter: false,
    mode: 'train',
    T: 100,
    B: 32,
    I: 256,
    H: 256,
    threads: [1, 2],
  },
];
const STREAMS = [
  { id: 'S1', L: 1, I: 64, H: 128 },
  { id: 'S2', L: 1, I: 256, H: 256 },
  { id: 'S3', L: 2, I: 64, H: 256 },
];
const GEMM_N = 2048;
// The workloads that also run int8, and the tolerance of their same-function checks against the
// float layer: dynamic int8 quantization (per-row or per-tensor activations) differs from float
// by ~1e-2 on these shapes (docs/quantization.md); 0.1 catches a wrong mapping (errors of O(1)).
const INT8_WORKLOADS = new Set(['F1', 'G1-F', 'S1', 'S2', 'S3']);
const INT8_TOL = 0.1;
const TORCH_QENGINES = ['onednn', 'qnnpack'];
// Issue 3's targets, printed for the reader (never a failure).
const TARGETS = {
  f1VsBest: 1.05,
  t1VsTorch: 1.9,
  t2Ceiling: 0.95,
  p50: { S1: 7, S2: 35, S3: 55 },
  vsOnednn: 1.05, // the target against oneDNN, every workload and thread count
};

const USAGE = `usage: npm run bench [-- options]
  --quick          one round, fewer steps (a smoke run: under a minute)
  --only LIST      comma-separated: F1 F2 T1 T2 G1 (= G1-F,G1-T) G1-F G1-T G1B (= G1B-F,G1B-T)
                   G1B-F G1B-T S1 S2 S3 S (= S1-S3)
  --json FILE      also write every sample and figure to FILE
  --rounds N       alternating rounds (default 5, --quick 1)
  --threads LIST   thread counts for every batch workload (default: each one's own, 1,2 or 2)
  --no-onednn      skip the oneDNN baseline
  --no-torch       skip the PyTorch baseline
  --no-ort         skip the onnxruntime-node baseline
  --no-int8        skip the int8 rows (F1, G1-F, S1–S3 quantized, with PyTorch's and onnxruntime's)`;

function parseArgs(argv) {
  const o = {
    quick: false,
    only: null,
    json: null,
    rounds: null,
    threads: null,
    onednn: true,
    torch: true,
    ort: true,
    int8: true,
  };
  const value = (i, name) => {
    if (i >= argv.length || argv[i].startsWith('--')) usage(`${name} needs a value`);
    return argv[i];
  };
  for (let i = 0; i < argv.length; ++i) {
    const a = argv[i];
    if (a === '--quick') o.quick = true;
    else if (a === '--no-torch') o.torch = false;
    else if (a === '--no-onednn') o.onednn = false;
    else if (a === '--no-ort') o.ort = false;
    else if (a === '--no-int8') o.int8 = false;
    else if (a === '--only') o.only = value(++i, a);
    else if (a === '--json') o.json = value(++i, a);
    else if (a === '--rounds') o.rounds = Number(value(++i, a));
    else if (a === '--threads') o.threads = value(++i, a);
    else if (a.startsWith('--only=')) o.only = a.slice(7);
    else if (a.startsWith('--json=')) o.json = a.slice(7);
    else if (a.startsWith('--rounds=')) o.rounds = Number(a.slice(9));
    else if (a.startsWith('--threads=')) o.threads = a.slice(10);
    else if (a === '--help' || a === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else usage(`unknown option ${a}`);
  }
  if (o.rounds === null) o.rounds = o.quick ? 1 : 5;
  else if (!Number.isInteger(o.rounds) || o.rounds < 1 || o.rounds > 100)
    usage(`--rounds must be an integer in [1, 100], got ${o.rounds}`);
  if (o.threads !== null) {
    const list = o.threads.split(',').map((t) => Number(t.trim()));
    if (!list.length || list.some((t) => !Number.isInteger(t) || t < 1 || t > 256))
      usage(`--threads must list integers in [1, 256], got ${o.threads}`);
    o.threads = [...new Set(list)].sort((a, b) => a - b);
  }
  const known = new Set([...BATCH.map((w) => w.id), ...STREAMS.map((s) => s.id)]);
  let selected = known;
  if (o.only !== null) {
    selected = new Set();
    for (const raw of o.only.split(',')) {
      const n = raw.trim().toUpperCase();
      if (!n) continue;
      if (n === 'G1') ['G1-F', 'G1-T'].forEach((x) => selected.add(x));
      else if (n === 'G1B') ['G1B-F', 'G1B-T'].forEach((x) => selected.add(x));
      else if (n === 'S') STREAMS.forEach((s) => selected.add(s.id));
      else if (known.has(n)) selected.add(n);
      else usage(`--only: unknown workload ${raw}; known: ${[...known].join(', ')}, G1, G1B, S`);
    }
    if (!selected.size) usage('--only: no workload named');
  }
  o.selected = selected;
  return o;
}

function usage(message) {
  console.error(`bench: ${message}\n${USAGE}`);
  process.exit(2);
}

// ---- small helpers -----------------------------------------------------------------------

function quantile(values, q) {
  if (!values.length) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}
const median = (v) => quantile(v, 0.5);

// Deterministic values in [-1, 1).
function randomArray(n, seed) {
  const a = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; ++i) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = (s >>> 8) / 8388608 - 1;
  }
  return a;
}

function flopsOf(w) {
  const G = w.cell === 'lstm' ? 4 : 3;
  const forward = 2 * w.T * w.B * G * w.H * (w.I + w.H);
  return w.mode === 'train' ? 3 * forward : forward;
}

// The vector extensions that matter for SGEMM, from /proc/cpuinfo (Linux x64).
function cpuVectorFlags() {
  try {
    const m = /^flags\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (!m) return [];
    const have = new Set(m[1].split(/\s+/));
    return ['avx2', 'fma', 'avx512f', 'avx512_bf16', 'amx_tile'].filter((f) => have.has(f));
  } catch {
    return [];
  }
}

function cpuModel() {
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) return m[1].trim();
  } catch {
    // not Linux
  }
  return os.cpus()[0]?.model ?? 'unknown CPU';
}

// Columns padded to one width; the first (or, with left, every) column left-aligned.
function table(rows, left = false) {
  const width = [];
  for (const r of rows) r.forEach((c, i) => (width[i] = Math.max(width[i] ?? 0, String(c).length)));
  return rows
    .map((r) =>
      r
        .map((c, i) =>
          i === 0 || left ? String(c).padEnd(width[i]) : String(c).padStart(width[i]),
        )
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

const fmt = (x, digits = 1) => (Number.isFinite(x) ? x.toFixed(digits) : '-');
const fmtMs = (s) => (Number.isFinite(s) ? (s * 1e3).toFixed(s < 0.1 ? 2 : 1) : '-');
const fmtUs = (s) => (Number.isFinite(s) ? (s * 1e6).toFixed(s < 1e-4 ? 1 : 0) : '-');

// How many times faster `ours` is than `theirs`: the median over rounds of the ratio of the two
// round medians. The machines drift by tens of percent within a run (minutes of fast and slow
// phases), so two measurements are compared round by round, where they ran close in time,
// rather than through their overall medians.
function speedup(ours, theirs) {
  const n = Math.min(ours.roundMedians.length, theirs.roundMedians.length);
  if (n === 0) return theirs.median / ours.median;
  const r = [];
  for (let i = 0; i < n; ++i) r.push(theirs.roundMedians[i] / ours.roundMedians[i]);
  return median(r);
}

function versus(r, what) {
  return r >= 1
    ? `${r.toFixed(2)}× faster than ${what}`
    : `${(1 / r).toFixed(2)}× slower than ${what}`;
}

function timeCalls(fn, warmup, reps) {
  for (let i = 0; i < warmup; ++i) fn();
  const times = new Array(reps);
  for (let i = 0; i < reps; ++i) {
    const t0 = performance.now();
    fn();
    times[i] = (performance.now() - t0) / 1e3;
  }
  return times;
}

async function timeAsyncCalls(fn, warmup, reps) {
  for (let i = 0; i < warmup; ++i) await fn();
  const times = new Array(reps);
  for (let i = 0; i < reps; ++i) {
    const t0 = performance.now();
    await fn();
    times[i] = (performance.now() - t0) / 1e3;
  }
  return times;
}

function maxAbsDiff(a, b) {
  if (a.length !== b.length) return Infinity;
  let d = 0;
  for (let i = 0; i < a.length; ++i) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

// A same-function check: the largest difference, with the largest reference value for scale.
// Tolerance: 1e-4 relative to max(1, max |ref|): float32 results of sums over up to T·B = 12800
// products, added in other orders by the two libraries (gradients reach |values| of tens).
function sameFunction(what, ref, got) {
  let maxRef = 0;
  for (let i = 0; i < ref.length; ++i) maxRef = Math.max(maxRef, Math.abs(ref[i]));
  return {
    what,
    maxAbsDiff: maxAbsDiff(ref, got),
    maxAbsRef: maxRef,
    tolerance: 1e-4 * Math.max(1, maxRef),
  };
}

// oneDNN against cellstate on one batch workload (both at 1 thread, from zero state and zero
// gradients): output and final state, and for training dx, dh0 (dc0) and every gradient.
async function onednnBatchCheck(onednn, w, kind, layer, x, g) {
  const lstm = w.cell === 'lstm';
  const ref = {};
  if (w.mode === 'train') {
    layer.zeroGrad();
    const f = layer.forward(x, { train: true });
    const b = layer.backward({ output: g });
    const grads = layer.gradients();
    layer.zeroGrad();
    Object.assign(ref, { y: f.output, hn: f.h, dx: b.x, dh0: b.h0 });
    if (lstm) Object.assign(ref, { cn: f.c, dc0: b.c0 });
    for (const [file, name] of [
      ['dw_ih', 'weight_ih_l0'],
      ['dw_hh', 'weight_hh_l0'],
      ['db_ih', 'bias_ih_l0'],
      ['db_hh', 'bias_hh_l0'],
    ])
      ref[file] = grads[name];
  } else {
    const f = layer.forward(x);
    Object.assign(ref, { y: f.output, hn: f.h });
    if (lstm) ref.cn = f.c;
  }
  const got = await onednn.check(w.id, Object.keys(ref));
  const label = {
    y: 'output',
    hn: 'h',
    cn: 'c',
    dx: 'dx',
    dh0: 'dh0',
    dc0: 'dc0',
    dw_ih: 'd weight_ih',
    dw_hh: 'd weight_hh',
    db_ih: 'd bias_ih',
    db_hh: 'd bias_hh',
  };
  return Object.keys(ref).map((k) =>
    sameFunction(`oneDNN ${w.id} (${kind}) ${label[k]} vs cellstate`, ref[k].data, got[k]),
  );
}

// ---- the systems -------------------------------------------------------------------------

async function loadCellstate() {
  let api;
  try {
    api = await import(pathToFileURL(path.join(root, 'dist', 'index.mjs')).href);
    api.info();
  } catch (e) {
    console.error(
      `bench: cannot load cellstate from dist/ (run \`npm run build\` first): ${e.message}`,
    );
    process.exit(1);
  }
  // The addon itself, for its matmul (not public API): the same instance dist/ loaded.
  let addon = null;
  try {
    addon = require(path.join(root, 'dist', 'native.js')).loadNative();
  } catch {
    // reported below as a missing ceiling
  }
  return {
    api,
    matmul: typeof addon?.matmul === 'function' ? addon.matmul : null,
    PackedMatrix: typeof addon?.PackedMatrix === 'function' ? addon.PackedMatrix : null,
  };
}

async function loadOrt() {
  const folder = path.join(here, 'baselines', 'ort');
  try {
    const ort = createRequire(path.join(folder, 'package.json'))('onnxruntime-node');
    return { ort, version: ort.env?.versions?.node ?? ort.env?.versions?.common ?? '?' };
  } catch (e) {
    const missing = e.code === 'MODULE_NOT_FOUND' && /onnxruntime-node'/.test(e.message);
    return {
      skip: missing
        ? 'onnxruntime-node is not installed: run `npm run bench:setup`'
        : `onnxruntime-node does not load here (${process.platform}-${process.arch}): ${e.message.split('\n')[0]}`,
    };
  }
}

// ---- main --------------------------------------------------------------------------------

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const started = Date.now();
  const loadStart = os.loadavg()[0];
  const notes = [];
  if (opts.quick)
    notes.push(
      '--quick: few samples per figure (a call over 1 s is measured once, warm-up included): ' +
        'a smoke run, not for comparison',
    );
  const { api, matmul, PackedMatrix } = await loadCellstate();
  const { LSTM, GRU, Tensor, info, setNumThreads, quantize, toOnnx } = api;
  // Files handed to PyTorch (weights, inputs, reference outputs) for the int8 rows.
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'cellstate-bench-'));
  let fileCount = 0;
  const rawFile = (data) => {
    const file = path.join(scratch, `${fileCount++}.f32`);
    writeFileSync(file, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    return file;
  };
  const weightFiles = (layer) =>
    Object.fromEntries(Object.entries(layer.parameters()).map(([k, t]) => [k, rawFile(t.data)]));
  // Per workload: why cellstate's int8 row is missing (a layer it cannot quantize yet).
  const notQuantizable = {};
  const int8Check = (what, ref, got) => ({
    what,
    maxAbsDiff: maxAbsDiff(ref, got),
    tolerance: INT8_TOL,
  });
  const runtime = info();
  const cores = os.availableParallelism?.() ?? os.cpus().length;

  const batch = BATCH.filter((w) => opts.selected.has(w.id)).map((w) =>
    opts.threads ? { ...w, threads: opts.threads } : w,
  );
  const streams = STREAMS.filter((s) => opts.selected.has(s.id));
  console.log(
    `cellstate ${runtime.version} bench: ${cpuModel()}, ${cores} cores, isa ${runtime.isa}, ` +
      `${opts.rounds} round(s)${opts.quick ? ' (quick)' : ''}, load average ${loadStart.toFixed(1)}`,
  );
  const busy = loadStart > cores;
  const waitChoice = process.env.CELLSTATE_BENCH_BASELINE_WAIT ?? 'auto';
  if (!['auto', 'passive', 'default'].includes(waitChoice))
    usage(`CELLSTATE_BENCH_BASELINE_WAIT must be auto, passive or default, got ${waitChoice}`);
  const passive = waitChoice === 'passive' || (waitChoice === 'auto' && busy);
  if (busy)
    console.log(
      `  note: the machine is busy (load ${loadStart.toFixed(1)} on ${cores} cores): figures are ` +
        'medians, compare only within this run.',
    );
  if (passive)
    notes.push(
      'baselines waited passively (oneDNN and PyTorch OMP_WAIT_POLICY=' +
        `${process.env.OMP_WAIT_POLICY ?? 'PASSIVE'}, onnxruntime allow_spinning=0)` +
        (waitChoice === 'auto' ? ' because the machine was busy' : ''),
    );

  // Baselines.
  let onednn = null;
  let PEAK_FLOPS_PER_THREAD = 0;
  if (opts.onednn && (batch.length || streams.length)) {
    const { startOnednn, PEAK_FLOPS_PER_THREAD: peakFlops } =
      await import('./baselines/onednn.mjs');
    PEAK_FLOPS_PER_THREAD = peakFlops;
    const o = await startOnednn({ passive, log: (line) => console.log(`  ${line}`) });
    if (o.skip) notes.push(`oneDNN skipped: ${o.skip}`);
    else {
      onednn = o;
      if (streams.length)
        notes.push(
          "oneDNN's stream steps are timed inside its harness (C++, no call from JavaScript); " +
            "cellstate's from JavaScript, the binding's call included",
        );
    }
  } else if (!opts.onednn) notes.push('oneDNN skipped (--no-onednn)');
  let torch = null;
  if (opts.torch && (batch.length || (opts.int8 && streams.length))) {
    const { startPytorch } = await import('./baselines/pytorch.mjs');
    const t = await startPytorch({ passive });
    if (t.skip) notes.push(`PyTorch skipped: ${t.skip}`);
    else torch = t;
  } else if (!opts.torch) notes.push('PyTorch skipped (--no-torch)');
  let ort = null;
  const wantOrt =
    batch.some((w) => w.id === 'F1' || (opts.int8 && INT8_WORKLOADS.has(w.id))) || streams.length;
  if (opts.ort && wantOrt) {
    const o = await loadOrt();
    if (o.skip) notes.push(`onnxruntime-node skipped: ${o.skip}`);
    else ort = o;
  } else if (!opts.ort) notes.push('onnxruntime-node skipped (--no-ort)');

  // Measurements: { key, group, system, threads, kind, flops?, run(warmup, reps) -> seconds[] }.
  const ms = [];
  const checks = [];
  const threadsUsed = new Set(batch.flatMap((w) => w.threads));

  if (batch.length) {
    if (!matmul) notes.push('no SGEMM ceiling: this build of the addon has no matmul');
    const n = GEMM_N;
    const A = randomArray(n * n, 11);
    const Bm = randomArray(n * n, 12);
    let onednnGemm = false;
    if (onednn) {
      try {
        await onednn.loadGemm('SGEMM', n, A, Bm);
        onednnGemm = true;
        if (matmul) {
          setNumThreads(1);
          const ref = new Float32Array(n * n);
          matmul(n, n, n, A, false, Bm, false, null, ref, false);
          const got = (await onednn.check('SGEMM', ['c'])).c;
          // 2048-term float32 sums in two orders: ~1e-5 relative, scaled by max |C| ≈ 40
          checks.push(sameFunction(`oneDNN sgemm ${n}³ vs cellstate matmul`, ref, got));
        }
      } catch (e) {
        notes.push(`oneDNN SGEMM failed: ${e.message}`);
      }
      try {
        await onednn.loadPeak('PEAK');
        for (const t of threadsUsed)
          ms.push({
            group: 'PEAK',
            system: 'fma-peak',
            threads: t,
            kind: 'gemm',
            flops: t * PEAK_FLOPS_PER_THREAD,
            run: (w, r) => onednn.run('PEAK', t, w, r),
          });
      } catch (e) {
        notes.push(`FMA peak failed: ${e.message}`);
      }
    }
    for (const t of [...threadsUsed].sort()) {
      if (matmul) {
        const C = new Float32Array(n * n);
        ms.push({
          group: 'SGEMM',
          system: 'cellstate',
          threads: t,
          kind: 'gemm',
          flops: 2 * n ** 3,
          run: async (w, r) => {
            setNumThreads(t);
            return timeCalls(() => matmul(n, n, n, A, false, Bm, false, null, C, false), w, r);
          },
        });
      }
      // B packed once (PackedMatrix.apply: the GEMM alone, as the layers' weights are packed
      // once); apply runs on one thread.
      if (PackedMatrix && t === 1) {
        const C = new Float32Array(n * n);
        const packed = new PackedMatrix(n, n, Bm, false, null);
        ms.push({
          group: 'SGEMM',
          system: 'cellstate-packed',
          threads: t,
          kind: 'gemm',
          flops: 2 * n ** 3,
          run: async (w, r) => timeCalls(() => packed.apply(n, A, C), w, r),
        });
      }
      if (onednnGemm)
        ms.push({
          group: 'SGEMM',
          system: 'onednn',
          threads: t,
          kind: 'gemm',
          flops: 2 * n ** 3,
          run: (w, r) => onednn.run('SGEMM', t, w, r),
        });
      if (torch) {
        const spec = { kind: 'gemm', n: GEMM_N };
        ms.push({
          group: 'SGEMM',
          system: 'pytorch',
          threads: t,
          kind: 'gemm',
          flops: 2 * GEMM_N ** 3,
          run: (w, r) => torch.run(spec, t, w, r),
        });
      }
    }
  }

  for (const w of batch) {
    const Cls = w.cell === 'lstm' ? LSTM : GRU;
    const layer = new Cls({
      inputSize: w.I,
      hiddenSize: w.H,
      seed: 1,
      ...(w.resetAfter === false ? { resetAfter: false } : {}),
    });
    const xData = randomArray(w.T * w.B * w.I, 2);
    const x = new Tensor(xData, [w.T, w.B, w.I]);
    const g = new Tensor(randomArray(w.T * w.B * w.H, 3), [w.T, w.B, w.H]);
    // Calls write into the previous call's results (forward's and backward's `into`), as a
    // loop over equal-sized batches would; F1 is also measured with a new result per call.
    let fwd;
    let bwd;
    const call =
      w.mode === 'infer'
        ? () => (fwd = layer.forward(x, { into: fwd }))
        : () => {
            fwd = layer.forward(x, { train: true, into: fwd });
            bwd = layer.backward({ output: g }, { into: bwd });
          };
    for (const t of w.threads) {
      const variants = [['cellstate', call]];
      if (w.id === 'F1') variants.push(['cellstate-alloc', () => layer.forward(x)]);
      for (const [system, fn] of variants)
        ms.push({
          group: w.id,
          system,
          threads: t,
          kind: 'batch',
          flops: flopsOf(w),
          run: async (wu, r) => {
            setNumThreads(t);
            return timeCalls(fn, wu, r);
          },
        });
      if (torch && w.resetAfter !== false) {
        const spec = { kind: w.cell, mode: w.mode, T: w.T, B: w.B, I: w.I, H: w.H };
        ms.push({
          group: w.id,
          system: 'pytorch',
          threads: t,
          kind: 'batch',
          flops: flopsOf(w),
          run: (wu, r) => torch.run(spec, t, wu, r),
        });
      }
    }
    if (onednn) {
      const kind = w.cell === 'lstm' ? 'lstm' : w.resetAfter === false ? 'gru' : 'lbr_gru';
      const spec = { kind, mode: w.mode, T: w.T, B: w.B, I: w.I, H: w.H };
      try {
        await onednn.loadBatch(w.id, spec, layer.parameters(), xData, g.data);
        setNumThreads(1);
        checks.push(...(await onednnBatchCheck(onednn, w, kind, layer, x, g)));
        for (const t of w.threads)
          ms.push({
            group: w.id,
            system: 'onednn',
            threads: t,
            kind: 'batch',
            flops: flopsOf(w),
            run: (wu, r) => onednn.run(w.id, t, wu, r),
          });
      } catch (e) {
        notes.push(`oneDNN ${w.id} failed: ${e.message}`);
      }
    }
    if (opts.int8 && INT8_WORKLOADS.has(w.id) && w.mode === 'infer') {
      setNumThreads(1);
      const floatOut = layer.forward(x).output.data;
      let q = null;
      try {
        q = quantize(layer, { dtype: 'int8' });
      } catch (e) {
        notQuantizable[w.id] = e.message;
      }
      if (q) {
        checks.push(
          int8Check(`cellstate int8 ${w.id} vs float`, floatOut, q.forward(x).output.data),
        );
        let qf;
        const qcall = () => (qf = q.forward(x, { into: qf }));
        for (const t of w.threads)
          ms.push({
            group: w.id,
            system: 'cellstate-int8',
            threads: t,
            kind: 'batch',
            flops: flopsOf(w),
            run: async (wu, r) => {
              setNumThreads(t);
              return timeCalls(qcall, wu, r);
            },
          });
        if (ort && w.cell === 'lstm') {
          const xt = new ort.ort.Tensor('float32', xData, [w.T, w.B, w.I]);
          const bytes = toOnnx(q);
          for (const t of w.threads) {
            const session = await ort.ort.InferenceSession.create(bytes, ortOptions(t, passive));
            if (t === w.threads[0]) {
              const y = (await session.run({ input: xt })).output.data;
              checks.push(
                int8Check(
                  `onnxruntime DynamicQuantizeLSTM ${w.id} vs cellstate float`,
                  floatOut,
                  y,
                ),
              );
            }
            ms.push({
              group: w.id,
              system: 'onnxruntime-int8',
              threads: t,
              kind: 'batch',
              flops: flopsOf(w),
              run: (wu, r) => timeAsyncCalls(() => session.run({ input: xt }), wu, r),
            });
          }
        }
      }
      if (torch && w.resetAfter !== false) {
        const files = { weights: weightFiles(layer), x: rawFile(xData) };
        const ref = rawFile(floatOut);
        for (const engine of TORCH_QENGINES) {
          const spec = {
            kind: w.cell,
            mode: 'infer',
            T: w.T,
            B: w.B,
            I: w.I,
            H: w.H,
            quant: engine,
            ...files,
          };
          try {
            const c = await torch.check(spec, ref);
            checks.push({
              what: `PyTorch int8 (${engine}) ${w.id} vs cellstate float`,
              maxAbsDiff: c.maxAbsDiff,
              tolerance: INT8_TOL,
            });
            for (const t of w.threads)
              ms.push({
                group: w.id,
                system: `pytorch-int8-${engine}`,
                threads: t,
                kind: 'batch',
                flops: flopsOf(w),
                run: (wu, r) => torch.run(spec, t, wu, r),
              });
          } catch (e) {
            notes.push(`PyTorch int8 (${engine}) ${w.id} skipped: ${e.message}`);
          }
        }
      }
    }
    if (ort && w.id === 'F1') {
      const { lstmSequenceModel } = await import('./baselines/onnx-model.mjs');
      const bytes = lstmSequenceModel(layer.parameters(), w);
      const xt = new ort.ort.Tensor('float32', xData, [w.T, w.B, w.I]);
      for (const t of w.threads) {
        const session = await ort.ort.InferenceSession.create(bytes, ortOptions(t, passive));
        if (t === w.threads[0]) {
          setNumThreads(1);
          const ref = layer.forward(x).output.data;
          const y = (await session.run({ X: xt })).Y.data;
          checks.push({
            what: 'onnxruntime F1 output vs cellstate',
            maxAbsDiff: maxAbsDiff(ref, y),
          });
        }
        ms.push({
          group: w.id,
          system: 'onnxruntime',
          threads: t,
          kind: 'batch',
          flops: flopsOf(w),
          run: (wu, r) => timeAsyncCalls(() => session.run({ X: xt }), wu, r),
        });
      }
    }
  }

  for (const s of streams) {
    const layer = new LSTM({ inputSize: s.I, hiddenSize: s.H, numLayers: s.L, seed: 1 });
    const frames = 64;
    const xs = randomArray(frames * s.I, 4);
    const frame = (i) => xs.subarray((i % frames) * s.I, ((i % frames) + 1) * s.I);
    if (typeof layer.stream === 'function') {
      const stream = layer.stream({ batch: 1 });
      let i = 0;
      ms.push({
        group: s.id,
        system: 'cellstate',
        threads: 1,
        kind: 'stream',
        run: async (wu, r) => {
          setNumThreads(1);
          return timeCalls(() => stream.step(frame(i++)), wu, r);
        },
      });
    } else if (!notes.some((n) => n.startsWith('cellstate streaming')))
      notes.push('cellstate streaming not measured: this build has no layer.stream()');
    if (opts.int8 && INT8_WORKLOADS.has(s.id)) {
      const n = 5;
      setNumThreads(1);
      const ref5 = layer.forward(new Tensor(xs.slice(0, n * s.I), [n, 1, s.I])).output.data;
      let q = null;
      try {
        q = quantize(layer, { dtype: 'int8' });
      } catch (e) {
        notQuantizable[s.id] = e.message;
      }
      if (q) {
        const qs = q.stream({ batch: 1 });
        const got = new Float32Array(n * s.H);
        for (let k = 0; k < n; ++k) got.set(qs.step(frame(k)), k * s.H);
        checks.push(int8Check(`cellstate int8 ${s.id} 5 steps vs float forward`, ref5, got));
        qs.reset();
        let i = 0;
        ms.push({
          group: s.id,
          system: 'cellstate-int8',
          threads: 1,
          kind: 'stream',
          run: async (wu, r) => {
            setNumThreads(1);
            return timeCalls(() => qs.step(frame(i++)), wu, r);
          },
        });
        if (ort) {
          // the quantized layer's own export, with its state as inputs and outputs
          const session = await ort.ort.InferenceSession.create(
            toOnnx(q, { state: true }),
            ortOptions(1, passive),
          );
          const T = ort.ort.Tensor;
          const xt = Array.from(
            { length: frames },
            (_, k) => new T('float32', frame(k), [1, 1, s.I]),
          );
          const zero = () => new T('float32', new Float32Array(s.L * s.H), [s.L, 1, s.H]);
          let feeds = { h0: zero(), c0: zero() };
          let last = null;
          const step = async (k) => {
            feeds.input = xt[k % frames];
            last = await session.run(feeds);
            feeds = { h0: last.h, c0: last.c };
          };
          const out = new Float32Array(n * s.H);
          for (let k = 0; k < n; ++k) {
            await step(k);
            out.set(last.output.data, k * s.H);
          }
          checks.push(
            int8Check(
              `onnxruntime DynamicQuantizeLSTM ${s.id} 5 steps vs cellstate float`,
              ref5,
              out,
            ),
          );
          feeds = { h0: zero(), c0: zero() };
          let k = 0;
          ms.push({
            group: s.id,
            system: 'onnxruntime-int8',
            threads: 1,
            kind: 'stream',
            run: (wu, r) => timeAsyncCalls(() => step(k++), wu, r),
          });
        }
      }
      if (torch) {
        const files = { weights: weightFiles(layer), x: rawFile(xs) };
        const ref = rawFile(ref5);
        for (const engine of TORCH_QENGINES) {
          const spec = {
            kind: 'lstm',
            mode: 'step',
            L: s.L,
            I: s.I,
            H: s.H,
            frames,
            quant: engine,
            ...files,
          };
          try {
            const c = await torch.check(spec, ref, n);
            checks.push({
              what: `PyTorch int8 (${engine}) ${s.id} 5 steps vs cellstate float`,
              maxAbsDiff: c.maxAbsDiff,
              tolerance: INT8_TOL,
            });
            ms.push({
              group: s.id,
              system: `pytorch-int8-${engine}`,
              threads: 1,
              kind: 'stream',
              run: (wu, r) => torch.run(spec, 1, wu, r),
            });
          } catch (e) {
            notes.push(`PyTorch int8 (${engine}) ${s.id} skipped: ${e.message}`);
          }
        }
      }
    }
    if (onednn) {
      try {
        await onednn.loadStream(s.id, s, layer.parameters(), frames, xs);
        // Check: 5 steps from a zero state equal cellstate's forward over the same frames.
        setNumThreads(1);
        const ref = layer.forward(new Tensor(xs.slice(0, 5 * s.I), [5, 1, s.I])).output.data;
        const got = (await onednn.check(s.id, ['y'])).y;
        checks.push(sameFunction(`oneDNN ${s.id} (lstm) 5 steps vs cellstate forward`, ref, got));
        ms.push({
          group: s.id,
          system: 'onednn',
          threads: 1,
          kind: 'stream',
          run: (wu, r) => onednn.run(s.id, 1, wu, r),
        });
      } catch (e) {
        notes.push(`oneDNN ${s.id} failed: ${e.message}`);
      }
    }
    if (ort) {
      const { lstmStepModel } = await import('./baselines/onnx-model.mjs');
      const session = await ort.ort.InferenceSession.create(
        lstmStepModel(layer.parameters(), s),
        ortOptions(1, passive),
      );
      const T = ort.ort.Tensor;
      const xt = Array.from({ length: frames }, (_, k) => new T('float32', frame(k), [1, 1, s.I]));
      const zeroState = () => {
        const f = {};
        for (let l = 0; l < s.L; ++l) {
          f[`h${l}`] = new T('float32', new Float32Array(s.H), [1, 1, s.H]);
          f[`c${l}`] = new T('float32', new Float32Array(s.H), [1, 1, s.H]);
        }
        return f;
      };
      let feeds = zeroState();
      let last = null;
      const step = async (k) => {
        feeds.x = xt[k % frames];
        last = await session.run(feeds);
        for (let l = 0; l < s.L; ++l) {
          feeds[`h${l}`] = last[`hn${l}`];
          feeds[`c${l}`] = last[`cn${l}`];
        }
      };
      // Check: 5 steps equal cellstate's forward over the same frames.
      const n = 5;
      setNumThreads(1);
      const ref = layer.forward(new Tensor(xs.slice(0, n * s.I), [n, 1, s.I])).output.data;
      const got = new Float32Array(n * s.H);
      for (let k = 0; k < n; ++k) {
        await step(k);
        got.set(last[`hn${s.L - 1}`].data, k * s.H);
      }
      checks.push({
        what: `onnxruntime ${s.id} steps vs cellstate`,
        maxAbsDiff: maxAbsDiff(ref, got),
      });
      feeds = zeroState();
      let k = 0;
      ms.push({
        group: s.id,
        system: 'onnxruntime',
        threads: 1,
        kind: 'stream',
        run: (wu, r) => timeAsyncCalls(() => step(k++), wu, r),
      });
    }
  }

  // Warm-up and calibration: one call (100 steps for streaming) sets each one's plan.
  console.log(`warming up ${ms.length} measurements…`);
  const roundBudget = opts.quick ? 0 : 0.3; // seconds per measurement and round
  const totalBudget = opts.quick ? 6 : 45; // seconds per measurement over all rounds
  for (const m of ms) {
    m.samples = [];
    m.roundMedians = [];
    try {
      if (m.kind === 'stream') {
        await m.run(100, 100);
        m.warmup = 50;
        m.reps = opts.quick ? 300 : 2000;
        m.rounds = opts.rounds;
      } else {
        const est = (await m.run(0, 1))[0];
        if (opts.quick && est > 1) {
          // --quick: a call over a second is its own sample (first-call costs included).
          m.samples.push(est);
          m.roundMedians.push(est);
          m.rounds = 0;
          continue;
        }
        m.reps = Math.max(1, Math.min(10, Math.floor(roundBudget / est)));
        m.warmup = !opts.quick && est < 0.15 ? 1 : 0;
        m.rounds = Math.max(1, Math.min(opts.rounds, Math.floor(totalBudget / (est * m.reps))));
      }
    } catch (e) {
      m.error = e.message;
      notes.push(`${m.group} ${m.system} ${m.threads}t failed: ${e.message}`);
    }
  }

  for (let r = 0; r < opts.rounds; ++r) {
    const t0 = Date.now();
    const order = r % 2 === 0 ? ms : [...ms].reverse();
    for (const m of order) {
      if (m.error || r >= m.rounds) continue;
      try {
        const times = await m.run(m.warmup, m.reps);
        m.samples.push(...times);
        m.roundMedians.push(median(times));
      } catch (e) {
        m.error = e.message;
        notes.push(`${m.group} ${m.system} ${m.threads}t failed: ${e.message}`);
      }
    }
    console.log(`round ${r + 1}/${opts.rounds}: ${((Date.now() - t0) / 1e3).toFixed(1)} s`);
  }
  torch?.close();
  onednn?.close();

  // ---- figures ---------------------------------------------------------------------------
  const find = (group, system, threads) =>
    ms.find((m) => m.group === group && m.system === system && m.threads === threads && !m.error);
  for (const m of ms) {
    m.median = median(m.samples);
    if (m.flops) m.gflops = m.flops / m.median / 1e9;
    if (m.kind === 'stream') {
      m.p50 = m.median;
      m.p99 = quantile(m.samples, 0.99);
    }
    // Drift: spread of the per-round medians around the median.
    m.drift =
      m.roundMedians.length > 1
        ? (Math.max(...m.roundMedians) - Math.min(...m.roundMedians)) / m.median
        : NaN;
  }
  // The ceiling at t threads: the fastest SGEMM measured at t in this run (any system).
  const best = {};
  const ceiling = {};
  for (const t of threadsUsed) {
    for (const m of ms)
      if (m.group === 'SGEMM' && m.threads === t && !m.error && m.gflops)
        if (!best[t] || m.gflops > best[t].gflops) best[t] = m;
    ceiling[t] = best[t]?.gflops;
  }
  // A workload's fraction of the same-thread ceiling, round by round (see speedup).
  const ceilingFraction = (m) => {
    const c = best[m.threads];
    return c ? speedup(m, c) * (m.flops / c.flops) : NaN;
  };

  const out = [];
  const ratios = [];
  const versusOnednn = []; // [workload, threads, cellstate, oneDNN] measurements
  if (batch.length) {
    out.push(
      '',
      `SGEMM ceiling, ${GEMM_N}³ (median GFLOP/s; * the fastest at that thread count, the ceiling):`,
    );
    const threadList = [...threadsUsed].sort();
    const rows = [['', ...threadList.map((t) => `${t} thread${t > 1 ? 's' : ''}`)]];
    const gemmRow = (label, system) => {
      if (!threadList.some((t) => find('SGEMM', system, t))) return;
      rows.push([
        label,
        ...threadList.map((t) => {
          const m = find('SGEMM', system, t);
          return m ? `${fmt(m.gflops)}${best[t] === m ? '*' : ' '}` : '-';
        }),
      ]);
    };
    gemmRow('cellstate matmul (packs B)', 'cellstate');
    gemmRow('cellstate, B packed once', 'cellstate-packed');
    gemmRow('oneDNN dnnl_sgemm', 'onednn');
    if (threadList.some((t) => find('PEAK', 'fma-peak', t)))
      rows.push([
        'FMA peak (register-only loop)',
        ...threadList.map((t) => fmt(find('PEAK', 'fma-peak', t)?.gflops)),
      ]);
    if (torch) gemmRow(`PyTorch mm (${path.basename(torch.info.blas ?? '?')})`, 'pytorch');
    out.push(table(rows));

    out.push(
      '',
      'Recurrent workloads (median ms per call; GFLOP/s; % of the same-thread ceiling and speed-ups round by round):',
    );
    const head = ['workload', 'thr', 'GFLOP', 'cellstate ms', 'GFLOP/s', '% ceil', 'drift'];
    if (onednn) head.push('oneDNN ms', 'GFLOP/s', 'vs oneDNN');
    if (torch) head.push('PyTorch ms', 'GFLOP/s', 'vs PyTorch');
    if (ort) head.push('ort ms', 'vs ort');
    const rows2 = [head];
    for (const w of batch) {
      for (const t of w.threads) {
        const cs = find(w.id, 'cellstate', t);
        const row = [
          w.id,
          t,
          fmt(flopsOf(w) / 1e9, 2),
          fmtMs(cs?.median),
          fmt(cs?.gflops),
          ceiling[t] && cs ? `${(100 * ceilingFraction(cs)).toFixed(0)}%` : '-',
          cs && Number.isFinite(cs.drift) ? `${(100 * cs.drift).toFixed(0)}%` : '-',
        ];
        if (onednn) {
          const od = find(w.id, 'onednn', t);
          row.push(
            fmtMs(od?.median),
            fmt(od?.gflops),
            cs && od ? `${fmt(speedup(cs, od), 2)}×` : '-',
          );
          if (cs && od) {
            ratios.push(`${w.id} ${t}t: ${versus(speedup(cs, od), 'oneDNN')}`);
            versusOnednn.push([w, t, cs, od]);
          }
        }
        if (torch) {
          const pt = find(w.id, 'pytorch', t);
          row.push(
            fmtMs(pt?.median),
            fmt(pt?.gflops),
            cs && pt ? `${fmt(speedup(cs, pt), 2)}×` : '-',
          );
          if (cs && pt) ratios.push(`${w.id} ${t}t: ${versus(speedup(cs, pt), 'PyTorch')}`);
        }
        if (ort) {
          const o = find(w.id, 'onnxruntime', t);
          row.push(fmtMs(o?.median), cs && o ? `${fmt(speedup(cs, o), 2)}×` : '-');
          if (cs && o) ratios.push(`${w.id} ${t}t: ${versus(speedup(cs, o), 'onnxruntime-node')}`);
        }
        const alloc = find(w.id, 'cellstate-alloc', t);
        if (alloc) {
          ratios.push(`${w.id} ${t}t, a new result per call: ${fmtMs(alloc.median)} ms`);
          const o = ort && find(w.id, 'onnxruntime', t);
          if (o)
            ratios.push(
              `${w.id} ${t}t, a new result per call: ${versus(speedup(alloc, o), 'onnxruntime-node')}`,
            );
        }
        rows2.push(row);
      }
    }
    out.push(table(rows2));
    out.push('(drift: spread of the per-round medians of cellstate, relative to the median)');
  }

  if (streams.length) {
    out.push(
      '',
      `Streaming, batch 1, one thread (µs per step from JavaScript${onednn ? "; oneDNN's inside its C++ harness" : ''}):`,
    );
    const head = ['workload', 'cellstate p50', 'p99'];
    if (onednn) head.push('oneDNN p50', 'p99', 'vs oneDNN (p50)');
    if (ort) head.push('ort p50', 'p99', 'vs ort (p50)');
    const rows = [head];
    for (const s of streams) {
      const cs = find(s.id, 'cellstate', 1);
      const row = [`${s.id} (L=${s.L} I=${s.I} H=${s.H})`, fmtUs(cs?.p50), fmtUs(cs?.p99)];
      if (onednn) {
        const od = find(s.id, 'onednn', 1);
        row.push(fmtUs(od?.p50), fmtUs(od?.p99), cs && od ? `${fmt(speedup(cs, od), 2)}×` : '-');
        if (cs && od) {
          ratios.push(`${s.id} p50: ${versus(speedup(cs, od), 'oneDNN')}`);
          versusOnednn.push([s, 1, cs, od]);
        }
      }
      if (ort) {
        const o = find(s.id, 'onnxruntime', 1);
        row.push(fmtUs(o?.p50), fmtUs(o?.p99), cs && o ? `${fmt(speedup(cs, o), 2)}×` : '-');
        if (cs && o) ratios.push(`${s.id} p50: ${versus(speedup(cs, o), 'onnxruntime-node')}`);
      }
      rows.push(row);
    }
    out.push(table(rows));
  }

  // int8 (issue 17): cellstate int8 next to its float layer and the quantized peers.
  const int8Targets = [];
  const int8Groups = [...batch.filter((w) => w.mode === 'infer'), ...streams].filter(
    (w) => opts.int8 && INT8_WORKLOADS.has(w.id),
  );
  if (int8Groups.length) {
    const peers = [
      ...TORCH_QENGINES.map((e) => [`pytorch-int8-${e}`, `PyTorch ${e}`]),
      ['onnxruntime-int8', 'ort DQ-LSTM'],
    ].filter(([sys]) => ms.some((m) => m.system === sys));
    out.push(
      '',
      'int8 dynamic quantization, same run (batch: median ms per call; streams: µs per step, p50/p99; ' +
        'int8/float and vs peers: median over rounds of the per-round ratio):',
    );
    const head = ['workload', 'thr', 'float', 'int8', 'int8/float'];
    for (const [, label] of peers) head.push(label);
    head.push('int8 vs best peer');
    const rows = [head];
    for (const w of int8Groups) {
      const stream = !w.mode;
      for (const t of stream ? [1] : w.threads) {
        const f = find(w.id, 'cellstate', t);
        const q = find(w.id, 'cellstate-int8', t);
        const time = (m) =>
          !m ? '-' : stream ? `${fmtUs(m.p50)}/${fmtUs(m.p99)}` : fmtMs(m.median);
        const row = [w.id, t, time(f), q ? time(q) : 'not quantizable'];
        row.push(f && q ? fmt(speedup(f, q), 2) : '-');
        const vs = [];
        for (const [sys] of peers) {
          const p = find(w.id, sys, t);
          row.push(time(p));
          if (q && p) vs.push(speedup(q, p));
        }
        row.push(vs.length ? `${fmt(Math.min(...vs), 2)}×` : '-');
        rows.push(row);
        if (!q && notQuantizable[w.id] && t === (stream ? 1 : w.threads[0]))
          notes.push(`${w.id} int8: not quantizable by cellstate yet (${notQuantizable[w.id]})`);
        const limit = { F1: 0.6, S2: 0.5, S3: 0.5 }[w.id];
        if (limit && f && q)
          int8Targets.push([
            `${w.id} ${t}t int8/float${vs.length ? ', ahead of the quantized peers' : ''}`,
            `${fmt(speedup(f, q), 2)}${vs.length ? `, ${fmt(Math.min(...vs), 2)}×` : ''}`,
            `≤ ${limit}${vs.length ? ', > 1×' : ''}`,
            speedup(f, q) <= limit && (!vs.length || Math.min(...vs) > 1),
          ]);
      }
    }
    out.push(table(rows));
  }

  if (ratios.length)
    out.push('', 'cellstate against the baselines, same run:', ...ratios.map((r) => `  ${r}`));
  if (versusOnednn.length) {
    // Issue 16's table: cellstate's speed-up over oneDNN, the median of per-round ratios.
    out.push(
      '',
      `cellstate against oneDNN (speed-up: median over rounds of the per-round ratio; target ≥ ${TARGETS.vsOnednn}×):`,
    );
    // Each side's fraction of the core's FMA peak at that thread count (median GFLOP/s over
    // the peak's median): how much room the workload leaves.
    const ofPeak = (m, t) => {
      const peak = find('PEAK', 'fma-peak', t);
      return peak && m.gflops ? `${((100 * m.gflops) / peak.gflops).toFixed(0)}%` : '-';
    };
    const rows = [
      [
        'workload',
        'thr',
        'oneDNN',
        'cellstate',
        'speed-up',
        '',
        'of FMA peak: oneDNN',
        'cellstate',
      ],
    ];
    for (const [w, t, cs, od] of versusOnednn) {
      const stream = cs.kind === 'stream';
      const time = (m) => (stream ? `${fmtUs(m.p50)} µs p50` : `${fmtMs(m.median)} ms`);
      const r = speedup(cs, od);
      rows.push([
        w.id,
        t,
        time(od),
        time(cs),
        `${fmt(r, 3)}×`,
        r >= TARGETS.vsOnednn ? 'met' : 'not met',
        stream ? '-' : ofPeak(od, t),
        stream ? '-' : ofPeak(cs, t),
      ]);
    }
    out.push(table(rows));
  }
  if (checks.length) {
    out.push('', 'Same function checked:');
    for (const c of checks) {
      const tol = c.tolerance ?? 1e-4;
      const scale = c.maxAbsRef !== undefined ? ` (max |ref| ${c.maxAbsRef.toExponential(1)})` : '';
      out.push(
        `  ${c.what}: max |Δ| ${c.maxAbsDiff.toExponential(1)}${scale}${!(c.maxAbsDiff <= tol) ? `  <-- MISMATCH (tolerance ${tol.toExponential(1)})` : ''}`,
      );
    }
  }

  // Issue 3's targets.
  const targets = [];
  const f1Base = [find('F1', 'pytorch', 2), find('F1', 'onnxruntime', 2)].filter(Boolean);
  for (const [system, label] of [
    ['cellstate', 'F1 2t (into) vs the faster baseline'],
    ['cellstate-alloc', 'F1 2t (a new result per call) vs the faster baseline'],
  ]) {
    const f1 = find('F1', system, 2);
    if (!f1 || !f1Base.length) continue;
    const r = Math.min(...f1Base.map((m) => speedup(f1, m)));
    targets.push([label, `${fmt(r, 2)}×`, `≥ ${TARGETS.f1VsBest}×`, r >= TARGETS.f1VsBest]);
  }
  const t1 = find('T1', 'cellstate', 2);
  const t1pt = find('T1', 'pytorch', 2);
  if (t1 && t1pt) {
    const r = speedup(t1, t1pt);
    targets.push([
      'T1 2t vs PyTorch',
      `${fmt(r, 2)}×`,
      `≥ ${TARGETS.t1VsTorch}×`,
      r >= TARGETS.t1VsTorch,
    ]);
  }
  // Issue 16: single-threaded F2 and T2 at 95% of the best SGEMM of the run.
  for (const id of ['F2', 'T2']) {
    const m = find(id, 'cellstate', 1);
    if (!m || !ceiling[1]) continue;
    const r = ceilingFraction(m);
    targets.push([
      `${id} 1t of the best SGEMM (${best[1].system})`,
      `${(100 * r).toFixed(0)}%`,
      `≥ ${100 * TARGETS.t2Ceiling}%`,
      r >= TARGETS.t2Ceiling,
    ]);
  }
  const t2 = find('T2', 'cellstate', 2);
  if (t2 && ceiling[2]) {
    const r = ceilingFraction(t2);
    targets.push([
      'T2 2t of the ceiling',
      `${(100 * r).toFixed(0)}%`,
      `≥ ${100 * TARGETS.t2Ceiling}%`,
      r >= TARGETS.t2Ceiling,
    ]);
  }
  for (const s of streams) {
    const cs = find(s.id, 'cellstate', 1);
    if (cs)
      targets.push([
        `${s.id} p50`,
        `${fmtUs(cs.p50)} µs`,
        `≤ ${TARGETS.p50[s.id]} µs`,
        cs.p50 * 1e6 <= TARGETS.p50[s.id],
      ]);
  }
  if (targets.length) {
    out.push('', 'Targets of issues 3 and 16 (information only):');
    out.push(table(targets.map(([a, b, c, ok]) => [`  ${a}`, b, c, ok ? 'met' : 'not met'])));
  }
  if (int8Targets.length) {
    out.push('', "Issue 17's int8 targets (information only):");
    out.push(table(int8Targets.map(([a, b, c, ok]) => [`  ${a}`, b, c, ok ? 'met' : 'not met'])));
  }
  rmSync(scratch, { recursive: true, force: true });
  console.log(out.join('\n'));

  // The streaming engineer's bench (bench/stream.mjs), when it exists.
  let streamingReport = null;
  if (streams.length) streamingReport = await runStreamingBench(opts, notes);

  const loadEnd = os.loadavg()[0];
  const machine = {
    cpu: cpuModel(),
    vectorFlags: cpuVectorFlags(),
    cores,
    memoryGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
    platform: `${process.platform}-${process.arch}`,
    node: process.version,
    loadAverage: [+loadStart.toFixed(2), +loadEnd.toFixed(2)],
  };
  const date = new Date().toISOString();
  const summary = [
    [
      'machine',
      `${machine.cpu}, ${cores} cores, ${machine.memoryGiB} GiB, ${machine.platform}, load ${loadStart.toFixed(1)} → ${loadEnd.toFixed(1)}`,
    ],
    [
      'cpu flags',
      `${machine.vectorFlags.join(' ') || '?'} (a baseline may use AVX-512 where cellstate uses ${runtime.isa})`,
    ],
    [
      'cellstate',
      `${runtime.version}, isa ${runtime.isa} (of ${(runtime.isas ?? []).join(', ')}), default threads ${runtime.threads}, openmp ${runtime.openmp}`,
    ],
    ['node', process.version],
    [
      'oneDNN',
      onednn
        ? `${onednn.info.version} (${onednn.info.cpu_runtime} runtime, isa ${onednn.info.isa}, OMP_WAIT_POLICY ${onednn.info.omp_wait_policy}; ${path.relative(root, onednn.info.binary)})`
        : 'not measured',
    ],
    [
      'PyTorch',
      torch
        ? `${torch.info.torch} (python ${torch.info.python}, BLAS ${torch.info.blas ?? '?'}, OMP_WAIT_POLICY ${torch.info.waitPolicy}, OPENBLAS_CORETYPE ${torch.info.openblasCoretype ?? 'auto'})`
        : 'not measured',
    ],
    ['onnxruntime-node', ort ? ort.version : 'not measured'],
    ['date', date],
    [
      'duration',
      `${((Date.now() - started) / 1e3).toFixed(0)} s, ${opts.rounds} round(s); timings are medians, shared machines drift`,
    ],
  ];
  console.log(`\n${table(summary, true)}`);
  if (notes.length) console.log(`\nNotes:\n${notes.map((n) => `  - ${n}`).join('\n')}`);

  if (opts.json) {
    const results = ms.map((m) => ({
      workload: m.group,
      system: m.system,
      threads: m.threads,
      kind: m.kind,
      flops: m.flops ?? null,
      medianSeconds: m.median ?? null,
      gflops: m.gflops ?? null,
      ceilingFraction:
        m.gflops && m.kind === 'batch' && ceiling[m.threads] ? ceilingFraction(m) : null,
      p50Seconds: m.p50 ?? null,
      p99Seconds: m.p99 ?? null,
      drift: Number.isFinite(m.drift) ? m.drift : null,
      error: m.error ?? null,
      samples: m.kind === 'stream' ? undefined : m.samples,
      sampleCount: m.samples.length,
    }));
    const doc = {
      date,
      machine,
      info: runtime,
      options: { quick: opts.quick, rounds: opts.rounds, only: [...opts.selected] },
      ceilingGflops: ceiling,
      ceilingSystem: Object.fromEntries(Object.entries(best).map(([t, m]) => [t, m.system])),
      onednn: onednn?.info ?? null,
      pytorch: torch?.info ?? null,
      onnxruntime: ort ? { version: ort.version } : null,
      results,
      ratios,
      checks,
      targets: [...targets, ...int8Targets].map(([what, value, target, met]) => ({
        what,
        value,
        target,
        met,
      })),
      streaming: streamingReport,
      notes,
    };
    writeFileSync(opts.json, JSON.stringify(doc, null, 2) + '\n');
    console.log(`\nwrote ${opts.json}`);
  }
  // A failing cellstate measurement fails the run (the CI smoke relies on it), and so does a
  // same-function mismatch (cellstate and a peer computing different things is a bug in one of
  // them, or in the mapping between them); a missing or failing baseline is only a note.
  if (ms.some((m) => m.system === 'cellstate' && m.error)) process.exitCode = 1;
  const mismatches = checks.filter((c) => !(c.maxAbsDiff <= (c.tolerance ?? 1e-4)));
  if (mismatches.length) {
    console.error(
      `bench: ${mismatches.length} same-function check(s) failed: ${mismatches.map((c) => c.what).join('; ')}`,
    );
    process.exitCode = 1;
  }
}

function ortOptions(threads, passive) {
  return {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3,
    ...(passive ? { extra: { session: { intra_op: { allow_spinning: '0' } } } } : {}),
  };
}

// bench/stream.mjs may export benchStreaming({ quick, only }) (latency of single streams, pools
// and the worker path); its result (any JSON) goes into --json as `streaming`.
async function runStreamingBench(opts, notes) {
  let mod;
  try {
    mod = await import('./stream.mjs');
  } catch (e) {
    if (e.code === 'ERR_MODULE_NOT_FOUND' && e.message.includes('stream.mjs'))
      notes.push('bench/stream.mjs not present: the streaming bench (pools, worker) was skipped');
    else notes.push(`bench/stream.mjs failed to load: ${e.message}`);
    return null;
  }
  if (typeof mod.benchStreaming !== 'function') {
    notes.push('bench/stream.mjs exports no benchStreaming(): the streaming bench was skipped');
    return null;
  }
  console.log('\nStreaming bench (bench/stream.mjs):');
  try {
    const result = await mod.benchStreaming({
      quick: opts.quick,
      rounds: opts.quick ? undefined : opts.rounds,
      only: [...opts.selected],
      log: (line) => console.log(`  ${line}`),
    });
    const rows = Array.isArray(result) ? result : Array.isArray(result?.rows) ? result.rows : null;
    if (rows?.length && typeof rows[0] === 'object') {
      const keys = [...new Set(rows.flatMap((r) => Object.keys(r)))];
      console.log(
        table([
          keys,
          ...rows.map((r) =>
            keys.map((k) => (typeof r[k] === 'number' ? +r[k].toPrecision(4) : (r[k] ?? ''))),
          ),
        ]),
      );
    }
    return result ?? null;
  } catch (e) {
    notes.push(`benchStreaming() failed: ${e.message}`);
    return null;
  }
}

main().catch((e) => {
  console.error(`bench: ${e.stack ?? e}`);
  process.exit(1);
});
