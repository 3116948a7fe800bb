// The oneDNN baseline of `npm run bench`: onednn/onednn_bench.cc (oneDNN's RNN primitives) in a
// child process, driven one measurement at a time so its rounds alternate with cellstate's in the
// same run, on cellstate's own weights and inputs (handed over as float32 files in a temporary
// folder), so that a same-function check can compare what both compute.
//
// The harness is built on demand with the system's C++ compiler (CXX, else g++) into
// build/bench/onednn_bench, again whenever its source is newer; it needs oneDNN's headers and
// library: Debian's libdnnl-dev (apt-get install libdnnl-dev). Without them the baseline is
// skipped with a note; nothing is thrown.
//
// Threads: Debian's oneDNN uses the OpenMP runtime; the harness calls omp_set_num_threads before
// it creates (per thread count) and runs a primitive. passive: OMP_WAIT_POLICY=PASSIVE for the
// child (unless the caller's environment sets it), as for PyTorch.
import { spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
export const harnessSource = path.join(here, 'onednn', 'onednn_bench.cc');
export const harnessBinary = path.join(root, 'build', 'bench', 'onednn_bench');

/**
 * Builds the harness when it is missing or older than its source. Returns { binary } or
 * { skip: reason }; log(line) reports a build.
 */
export function buildOnednnHarness({ log = () => {}, force = false } = {}) {
  if (process.platform !== 'linux')
    return { skip: `the harness is built on Linux only (here ${process.platform})` };
  const fresh =
    !force &&
    existsSync(harnessBinary) &&
    statSync(harnessBinary).mtimeMs >= statSync(harnessSource).mtimeMs;
  if (fresh) return { binary: harnessBinary };
  const cxx = process.env.CXX || 'g++';
  const args = ['-O2', '-std=c++17', '-fopenmp', harnessSource, '-ldnnl', '-o', harnessBinary];
  mkdirSync(path.dirname(harnessBinary), { recursive: true });
  log(
    `building the oneDNN harness: ${cxx} ${args.map((a) => path.relative(root, a) || a).join(' ')}`,
  );
  const r = spawnSync(cxx, args, { encoding: 'utf8' });
  if (r.error)
    return {
      skip: `cannot run the C++ compiler ${cxx} to build the oneDNN harness: ${r.error.message}`,
    };
  if (r.status !== 0) {
    const err = `${r.stderr}`;
    if (/dnnl\.hpp: No such file|cannot find -ldnnl/.test(err))
      return { skip: 'oneDNN is not installed (Debian: apt-get install libdnnl-dev)' };
    const first = err.split('\n').find((l) => /error/.test(l)) ?? err.split('\n')[0];
    return { skip: `the oneDNN harness does not build: ${first.trim()}` };
  }
  return { binary: harnessBinary };
}

const f32bytes = (a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

function readF32(file) {
  const b = readFileSync(file);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

/**
 * Starts the harness. Resolves to
 *   { info, loadBatch(name, spec, params, x, dy), loadStream(name, spec, params, frames, xs),
 *     loadGemm(name, n, a, b) (dnnl_sgemm, C = A · B, n x n row-major), loadPeak(name) (the
 *     core's FMA peak, PEAK_FLOPS_PER_THREAD per thread and call),
 *     check(name, files) -> { file: Float32Array }, run(name, threads, warmup, reps), close() }
 * or to { skip: reason }.
 * params: cellstate's parameters() (weight_ih_l0, ...); spec: { kind: 'lstm'|'gru'|'lbr_gru',
 * mode: 'infer'|'train', T, B, I, H } or, for a stream, { L, I, H }.
 */
/** Flops per thread of one call of the harness's FMA-peak loop (loadPeak). */
export const PEAK_FLOPS_PER_THREAD = 2 ** 28;

export async function startOnednn({ passive = false, log = () => {} } = {}) {
  const built = buildOnednnHarness({ log });
  if (built.skip) return built;
  const env = { ...process.env };
  if (passive && !env.OMP_WAIT_POLICY) env.OMP_WAIT_POLICY = 'PASSIVE';
  const child = spawn(built.binary, [], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr = (stderr + d).slice(-4000);
  });
  const lines = readline.createInterface({ input: child.stdout });
  const waiting = [];
  let exited = null;
  lines.on('line', (line) => {
    // Answers are JSON objects; anything else is oneDNN's own output (ONEDNN_VERBOSE=1 or
    // DNNL_VERBOSE=1 print which implementation each primitive uses), passed on to stderr.
    if (!line.startsWith('{')) {
      process.stderr.write(`${line}\n`);
      return;
    }
    const w = waiting.shift();
    if (w) w.resolve(line);
  });
  const fail = (why) => {
    exited = why;
    for (const w of waiting.splice(0)) w.reject(new Error(why));
  };
  child.on('error', (e) => fail(`cannot run ${built.binary}: ${e.message}`));
  child.on('exit', (code, signal) => {
    const tail = stderr.trim().split('\n').slice(-3).join(' / ');
    fail(`the oneDNN harness exited (${signal ?? code})${tail ? `: ${tail}` : ''}`);
  });
  child.stdin.on('error', () => {}); // a dead child is reported by request()

  function request(words) {
    if (exited) return Promise.reject(new Error(exited));
    return new Promise((resolve, reject) => {
      waiting.push({ resolve, reject });
      child.stdin.write(words.join(' ') + '\n');
    }).then((line) => {
      const answer = JSON.parse(line);
      if (answer.error) throw new Error(`oneDNN harness: ${answer.error}`);
      return answer;
    });
  }

  let info;
  try {
    info = (await request(['info'])).info;
  } catch (e) {
    child.kill();
    return { skip: e.message };
  }
  // The protocol separates words by spaces: a temporary folder with one goes under build/.
  const base = /\s/.test(os.tmpdir()) ? path.dirname(harnessBinary) : os.tmpdir();
  const folder = mkdtempSync(path.join(base, 'cellstate-onednn-'));
  // Removed by close(), and at exit when a crash skipped it.
  process.once('exit', () => rmSync(folder, { recursive: true, force: true }));
  const dirOf = (name) => {
    const d = path.join(folder, name);
    mkdirSync(d, { recursive: true });
    return d;
  };
  // Layer l's four tensors as w_ih{sfx}.bin, w_hh{sfx}.bin, b_ih{sfx}.bin, b_hh{sfx}.bin.
  const writeLayer = (dir, params, l, sfx) => {
    for (const [file, name] of [
      ['w_ih', 'weight_ih'],
      ['w_hh', 'weight_hh'],
      ['b_ih', 'bias_ih'],
      ['b_hh', 'bias_hh'],
    ]) {
      const t = params[`${name}_l${l}`];
      if (!t) throw new Error(`oneDNN baseline: no parameter ${name}_l${l}`);
      writeFileSync(path.join(dir, `${file}${sfx}.bin`), f32bytes(t.data));
    }
  };

  return {
    info: { ...info, binary: built.binary },
    async loadBatch(name, spec, params, x, dy) {
      const dir = dirOf(name);
      writeLayer(dir, params, 0, '');
      writeFileSync(path.join(dir, 'x.bin'), f32bytes(x));
      if (spec.mode === 'train') writeFileSync(path.join(dir, 'dy.bin'), f32bytes(dy));
      await request(['load', name, spec.kind, spec.mode, spec.T, spec.B, spec.I, spec.H, dir]);
    },
    async loadGemm(name, n, a, b) {
      const dir = dirOf(name);
      writeFileSync(path.join(dir, 'a.bin'), f32bytes(a));
      writeFileSync(path.join(dir, 'b.bin'), f32bytes(b));
      await request(['loadgemm', name, n, dir]);
    },
    /** The core's FMA peak (a register-only loop, 2^28 flops per thread and call). */
    loadPeak: (name) => request(['loadpeak', name]),
    async loadStream(name, spec, params, frames, xs) {
      const dir = dirOf(name);
      for (let l = 0; l < spec.L; ++l) writeLayer(dir, params, l, `_l${l}`);
      writeFileSync(path.join(dir, 'x.bin'), f32bytes(xs));
      await request(['loadstream', name, spec.L, spec.I, spec.H, frames, dir]);
    },
    /** Runs `name` once at 1 thread from zero state; returns the named outputs. */
    async check(name, files) {
      const dir = dirOf(`${name}-out`);
      await request(['check', name, dir]);
      const out = {};
      for (const f of files) out[f] = readF32(path.join(dir, `${f}.bin`));
      rmSync(dir, { recursive: true, force: true });
      return out;
    },
    run: async (name, threads, warmup, reps) =>
      (await request(['run', name, threads, warmup, reps])).times,
    close() {
      rmSync(folder, { recursive: true, force: true });
      if (!exited) {
        child.stdin.end('quit\n');
        setTimeout(() => child.kill(), 2000).unref();
      }
    },
  };
}
