#!/usr/bin/env node
// `npm run bench:setup`: installs the benchmark's baselines outside cellstate's own dependencies
// and says what `npm run bench` will be able to compare against.
//   - onnxruntime-node into bench/baselines/ort/node_modules (its own package.json and lock),
//     with --ignore-scripts: the package ships its CPU binaries for linux-x64/arm64, darwin-arm64
//     and win32-x64/arm64; its install script would only fetch CUDA providers from outside npm.
//   - PyTorch is not installed here (root and apt): Debian's python3-torch, plus
//     libopenblas0-openmp so that torch does not run on the reference BLAS.
//   - oneDNN is not installed here either (apt-get install libdnnl-dev); when it is, its harness
//     (bench/baselines/onednn/onednn_bench.cc) is built into build/bench/onednn_bench, as
//     `npm run bench` would do on demand.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const ortDir = path.join(here, 'baselines', 'ort');

function npm(args) {
  // Under `npm run`, npm_execpath is npm's own CLI script: run it with this node.
  const cli = process.env.npm_execpath;
  const [cmd, cmdArgs] =
    cli && cli.endsWith('.js') ? [process.execPath, [cli, ...args]] : ['npm', args];
  console.log(`> (in ${path.relative(process.cwd(), ortDir) || '.'}) npm ${args.join(' ')}`);
  return spawnSync(cmd, cmdArgs, {
    cwd: ortDir,
    stdio: 'inherit',
    shell: process.platform === 'win32',
  });
}

let ok = true;
const hasLock = existsSync(path.join(ortDir, 'package-lock.json'));
const r = npm([hasLock ? 'ci' : 'install', '--ignore-scripts', '--no-audit', '--no-fund']);
if (r.status !== 0) {
  console.error('bench:setup: installing onnxruntime-node failed');
  ok = false;
} else {
  const binRoot = path.join(ortDir, 'node_modules', 'onnxruntime-node', 'bin');
  const found = existsSync(binRoot)
    ? readdirSync(binRoot)
        .map((napi) => path.join(binRoot, napi, process.platform, process.arch))
        .filter((dir) => existsSync(path.join(dir, 'onnxruntime_binding.node')))
    : [];
  if (!found.length) {
    console.log(
      `onnxruntime-node: the npm package has no binary for ${process.platform}-${process.arch}; ` +
        'the bench will skip it',
    );
  } else {
    console.log(`onnxruntime-node: binary for ${process.platform}-${process.arch} in ${found[0]}`);
    const check = spawnSync(
      process.execPath,
      ['-e', "const o=require('onnxruntime-node');console.log(o.env.versions.node)"],
      { cwd: ortDir, encoding: 'utf8' },
    );
    if (check.status === 0) console.log(`onnxruntime-node ${check.stdout.trim()} loads`);
    else {
      console.log(`onnxruntime-node does not load: ${check.stderr.trim().split('\n')[0]}`);
      ok = false;
    }
  }
}

const python =
  process.env.CELLSTATE_BENCH_PYTHON ??
  (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
const torch = spawnSync(python, ['-c', 'import torch; print(torch.__version__)'], {
  encoding: 'utf8',
});
if (torch.status === 0) console.log(`PyTorch ${torch.stdout.trim()} (${python})`);
else
  console.log(
    `PyTorch: not available to ${python}; the bench will skip it ` +
      '(Debian: apt-get install python3-torch libopenblas0-openmp)',
  );
const triplet = { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu' }[process.arch];
if (process.platform === 'linux' && triplet && torch.status === 0) {
  if (existsSync(`/usr/lib/${triplet}/openblas-openmp/libblas.so.3`))
    console.log(`OpenBLAS (OpenMP): /usr/lib/${triplet}/openblas-openmp, used for PyTorch`);
  else
    console.log(
      'OpenBLAS (OpenMP) not installed: PyTorch uses the system libblas.so.3 ' +
        '(apt-get install libopenblas0-openmp for a fair baseline)',
    );
}
const { buildOnednnHarness } = await import('./baselines/onednn.mjs');
const onednn = buildOnednnHarness({ log: (line) => console.log(line), force: true });
if (onednn.skip) console.log(`oneDNN: ${onednn.skip}; the bench will skip it`);
else {
  const info = spawnSync(onednn.binary, [], { input: 'info\n', encoding: 'utf8' });
  const v = info.status === 0 ? JSON.parse(info.stdout.split('\n')[0]).info : null;
  if (v)
    console.log(
      `oneDNN ${v.version} (${v.cpu_runtime} runtime, isa ${v.isa}): ${path.relative(process.cwd(), onednn.binary)}`,
    );
  else {
    console.log(`oneDNN harness does not run: ${info.stderr || info.error?.message}`);
    ok = false;
  }
}
process.exit(ok ? 0 : 1);
