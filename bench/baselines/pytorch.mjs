// The PyTorch baseline of `npm run bench`: torch_bench.py --serve in a child process, driven one
// measurement at a time so its rounds alternate with cellstate's in the same run.
//
// Python: CELLSTATE_BENCH_PYTHON, else /usr/bin/python3 (Debian's python3-torch), else python3.
// BLAS: Debian's torch uses libblas.so.3, the slow reference BLAS unless OpenBLAS is the
// system's choice; when libopenblas0-openmp is installed its folder goes first on the child's
// LD_LIBRARY_PATH (the OpenMP build, so torch.set_num_threads also sets OpenBLAS's threads).
// CELLSTATE_BENCH_TORCH_BLAS=system keeps the system's libblas.so.3.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const script = path.join(here, 'torch_bench.py');

function pythonPath() {
  if (process.env.CELLSTATE_BENCH_PYTHON) return process.env.CELLSTATE_BENCH_PYTHON;
  return existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
}

function openblasDir() {
  if (process.env.CELLSTATE_BENCH_TORCH_BLAS === 'system') return null;
  const triplet = { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu' }[process.arch];
  if (process.platform !== 'linux' || !triplet) return null;
  const dir = `/usr/lib/${triplet}/openblas-openmp`;
  return existsSync(path.join(dir, 'libblas.so.3')) ? dir : null;
}

/**
 * Starts the PyTorch server. Resolves to { info, run(spec, threads, warmup, reps), close() },
 * or to { skip: reason } when Python or PyTorch is missing (nothing thrown).
 * passive: OMP_WAIT_POLICY=PASSIVE for the child (unless the caller's environment sets it).
 */
export async function startPytorch({ passive = false } = {}) {
  const python = pythonPath();
  const env = { ...process.env };
  if (passive && !env.OMP_WAIT_POLICY) env.OMP_WAIT_POLICY = 'PASSIVE';
  const blasDir = openblasDir();
  if (blasDir) env.LD_LIBRARY_PATH = [blasDir, env.LD_LIBRARY_PATH].filter(Boolean).join(':');
  let child;
  try {
    child = spawn(python, [script, '--serve'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  } catch (e) {
    return { skip: `cannot start ${python}: ${e.message}` };
  }
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr = (stderr + d).slice(-4000);
  });
  const lines = readline.createInterface({ input: child.stdout });
  const waiting = [];
  let exited = null;
  lines.on('line', (line) => {
    const w = waiting.shift();
    if (w) w.resolve(line);
  });
  const fail = (why) => {
    exited = why;
    for (const w of waiting.splice(0)) w.reject(new Error(why));
  };
  child.on('error', (e) => fail(`cannot run ${python}: ${e.message}`));
  child.on('exit', (code, signal) => {
    const tail = stderr.trim().split('\n').slice(-3).join(' / ');
    fail(`${python} exited (${signal ?? code})${tail ? `: ${tail}` : ''}`);
  });

  function request(cmd) {
    if (exited) return Promise.reject(new Error(exited));
    return new Promise((resolve, reject) => {
      waiting.push({ resolve, reject });
      child.stdin.write(JSON.stringify(cmd) + '\n');
    }).then((line) => {
      const answer = JSON.parse(line);
      if (answer.error) throw new Error(`PyTorch: ${answer.error}`);
      return answer;
    });
  }

  let info;
  try {
    info = (await request({ cmd: 'info' })).info;
  } catch (e) {
    child.kill();
    return { skip: e.message.replace(/^PyTorch: /, '') };
  }
  child.stdin.on('error', () => {}); // a dead child is reported by request()
  return {
    info: {
      ...info,
      python,
      waitPolicy: env.OMP_WAIT_POLICY ?? 'default',
      // OpenBLAS picks its kernels by CPU unless told (Haswell = AVX2, SkylakeX = AVX-512).
      openblasCoretype: env.OPENBLAS_CORETYPE ?? null,
    },
    run: async (spec, threads, warmup, reps) =>
      (await request({ cmd: 'run', spec, threads, warmup, reps })).times,
    // { maxAbsDiff, maxAbsRef } of the workload's output against a float32 raw file
    check: (spec, ref, steps = 0) => request({ cmd: 'check', spec, ref, steps }),
    close() {
      if (!exited) {
        child.stdin.end(JSON.stringify({ cmd: 'quit' }) + '\n');
        setTimeout(() => child.kill(), 2000).unref();
      }
    },
  };
}
