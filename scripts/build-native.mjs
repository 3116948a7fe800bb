#!/usr/bin/env node
// Builds the addon from source into build/Release/cellstate.node (where node-gyp-build and
// lib/native.ts look) by running CMake directly. Needs cmake >= 3.19 and a C++17 compiler;
// never downloads anything: Node-API headers come from this node's own include/node (or the
// node-api-headers package when present), napi.h from the node-addon-api dependency.
//
//   node scripts/build-native.mjs [--debug] [--build-dir=DIR] [-DNAME=VALUE ...]
//
// --build-dir: the CMake build folder (default build/; the addon lands in DIR/Release).
// scripts/prebuild.mjs uses it with -DCMAKE_TOOLCHAIN_FILE=... to cross-compile.
//
// Environment: CELLSTATE_NODE_API_INCLUDE (folder of node_api.h), CMAKE_BUILD_PARALLEL_LEVEL.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(path.join(root, 'package.json'));
const args = process.argv.slice(2);
const config = args.includes('--debug') ? 'Debug' : 'Release';
const extra = args.filter((a) => a.startsWith('-D'));
const buildDirArg = args.find((a) => a.startsWith('--build-dir='));
const buildDir = buildDirArg
  ? path.resolve(buildDirArg.slice('--build-dir='.length))
  : path.join(root, 'build');

function fail(message) {
  console.error(`cellstate: ${message}`);
  process.exit(1);
}

function run(cmd, cmdArgs) {
  console.log(`> ${cmd} ${cmdArgs.join(' ')}`);
  const r = spawnSync(cmd, cmdArgs, { stdio: 'inherit', cwd: root });
  if (r.error) fail(`cannot run ${cmd}: ${r.error.message} (is it installed?)`);
  if (r.status !== 0) process.exit(r.status ?? 1);
}

if (process.platform === 'win32') {
  // MSVC also needs node.lib, which cmake-js generates; use it there.
  let cli;
  try {
    cli = require.resolve('cmake-js/bin/cmake-js');
  } catch {
    fail('on Windows the addon is built with cmake-js: npm install --no-save cmake-js');
  }
  run(process.execPath, [cli, 'compile', config === 'Debug' ? '--debug' : '--release']);
  process.exit(0);
}

function nodeApiInclude() {
  const candidates = [
    process.env.CELLSTATE_NODE_API_INCLUDE,
    path.join(path.dirname(process.execPath), '..', 'include', 'node'),
  ];
  try {
    candidates.push(require('node-api-headers').include_dir);
  } catch {
    // optional
  }
  for (const dir of candidates) {
    if (dir && existsSync(path.join(dir, 'node_api.h'))) return path.resolve(dir);
  }
  fail(
    `node_api.h not found (looked in ${candidates.filter(Boolean).join(', ')}); ` +
      'set CELLSTATE_NODE_API_INCLUDE to the folder holding it, or npm install node-api-headers',
  );
}

const addonApiInclude = path.dirname(require.resolve('node-addon-api/napi.h'));
// Windows builds with MinGW-w64 (scripts/prebuild.mjs --target=win32-x64) link against import
// libraries made from node-api-headers' def files.
let defDir = [];
try {
  defDir = [
    `-DCELLSTATE_NODE_API_DEF_DIR=${path.dirname(require('node-api-headers').def_paths.node_api_def)}`,
  ];
} catch {
  // optional: only MinGW builds need it
}
// Outside a git checkout (a user building the published package with an unknown compiler)
// warnings stay warnings.
const werror = existsSync(path.join(root, '.git')) ? 'ON' : 'OFF';

run('cmake', [
  '-S',
  root,
  '-B',
  buildDir,
  `-DCMAKE_BUILD_TYPE=${config}`,
  '-DCELLSTATE_ADDON=ON',
  '-DCELLSTATE_TESTS=OFF',
  `-DCELLSTATE_WERROR=${werror}`,
  `-DCELLSTATE_NODE_API_INCLUDE=${nodeApiInclude()}`,
  `-DCELLSTATE_NODE_ADDON_API_INCLUDE=${addonApiInclude}`,
  ...defDir,
  ...extra,
]);
const jobs =
  process.env.CMAKE_BUILD_PARALLEL_LEVEL || String(os.availableParallelism?.() ?? os.cpus().length);
run('cmake', [
  '--build',
  buildDir,
  '--config',
  config,
  '--target',
  'cellstate',
  '--parallel',
  jobs,
]);
console.log(`cellstate: built ${path.join(buildDir, config, 'cellstate.node')}`);
