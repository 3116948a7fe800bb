#!/usr/bin/env node
// Builds the prebuilt binaries that go into the npm package, where node-gyp-build finds them at
// run time: prebuilds/<platform>-<arch>/cellstate.napi.glibc.node (tags: Node-API, so one
// binary serves every Node and Electron version; glibc, so musl systems do not pick it).
//
//   node scripts/prebuild.mjs [--target=linux-x64|linux-arm64|win32-x64 ...]  (npm run prebuilds)
//
// On a linux-x64 host the default targets are linux-x64 (native), linux-arm64 (cross-compiled
// with Debian's g++-aarch64-linux-gnu through cmake/aarch64-toolchain.cmake, the toolchain that
// scripts/test-cpp.sh --aarch64 tests under qemu) and win32-x64 (cross-compiled with Debian's
// g++-mingw-w64-x86-64-posix through cmake/mingw-w64-toolchain.cmake; scripts/wine-test.sh runs
// it in Node for Windows under wine); elsewhere the host only. The Windows binary is
// prebuilds/win32-x64/cellstate.napi.node (no libc tag).
// Each target builds with CMake in build-prebuild/<target>/ (scripts/build-native.mjs: Release,
// static libstdc++/libgcc, the glibc compatibility shim, no -march), is stripped and then
// checked by scripts/check-binary.mjs (dependencies, glibc symbol versions, exports).
//
// prebuildify is not used: it drives node-gyp (and downloads Node headers), while this project
// builds with CMake from local headers; placing the CMake output under the names node-gyp-build
// expects is all prebuildify would add.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const host = `${process.platform}-${process.arch}`;

// How to cross-compile each target from a linux-x64 host: CMake definitions, strip, compiler.
const recipes = {
  'linux-x64': { cmake: [], strip: 'strip', compiler: 'g++' },
  'linux-arm64': {
    cmake: [`-DCMAKE_TOOLCHAIN_FILE=${path.join(root, 'cmake', 'aarch64-toolchain.cmake')}`],
    strip: 'aarch64-linux-gnu-strip',
    compiler: 'aarch64-linux-gnu-g++',
    apt: 'g++-aarch64-linux-gnu',
  },
  'win32-x64': {
    cmake: [`-DCMAKE_TOOLCHAIN_FILE=${path.join(root, 'cmake', 'mingw-w64-toolchain.cmake')}`],
    strip: 'x86_64-w64-mingw32-strip',
    compiler: 'x86_64-w64-mingw32-g++-posix',
    apt: 'g++-mingw-w64-x86-64-posix',
  },
};

function fail(message) {
  console.error(`cellstate prebuild: ${message}`);
  process.exit(1);
}

function run(cmd, args) {
  console.log(`> ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root });
  if (r.error) fail(`cannot run ${cmd}: ${r.error.message}`);
  if (r.status !== 0) fail(`${cmd} failed with status ${r.status}`);
}

function has(cmd) {
  return !spawnSync(cmd, ['--version'], { stdio: 'ignore' }).error;
}

const asked = process.argv
  .slice(2)
  .filter((a) => a.startsWith('--target='))
  .map((a) => a.slice('--target='.length));
const unknown = process.argv.slice(2).filter((a) => !a.startsWith('--target='));
if (unknown.length > 0) fail(`unknown argument ${unknown[0]} (use --target=<platform>-<arch>)`);
const targets = asked.length > 0 ? asked : host === 'linux-x64' ? Object.keys(recipes) : [host];

for (const target of targets) {
  const recipe = recipes[target];
  const native = target === host;
  if (!native && (!recipe || host !== 'linux-x64'))
    fail(`cannot build ${target} on ${host} (cross-compiling is set up for linux-x64 hosts only)`);
  if (!native && !has(recipe.compiler))
    fail(
      `${recipe.compiler} not found: install it (apt-get install ${recipe.apt}) ` +
        `or build the host only with --target=${host}`,
    );

  const buildDir = path.join(root, 'build-prebuild', target);
  run(process.execPath, [
    path.join(root, 'scripts', 'build-native.mjs'),
    `--build-dir=${buildDir}`,
    ...(native ? [] : recipe.cmake),
  ]);

  const dir = path.join(root, 'prebuilds', target);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const tags = ['cellstate', 'napi'];
  if (target.startsWith('linux-')) tags.push('glibc');
  const file = path.join(dir, `${tags.join('.')}.node`);
  copyFileSync(path.join(buildDir, 'Release', 'cellstate.node'), file);
  // PE: --strip-unneeded keeps a COFF symbol table of the import symbols, --strip-all does not.
  const stripMode = target.startsWith('win32-') ? '--strip-all' : '--strip-unneeded';
  if (process.platform === 'linux') run(native ? 'strip' : recipe.strip, [stripMode, file]);
  else if (process.platform === 'darwin') run('strip', ['-x', file]);
  // On x86-64 also: AVX instructions only inside the dispatched AVX2 kernels.
  const containment = target.endsWith('-x64') ? [`--build-dir=${buildDir}`] : [];
  if (process.platform === 'linux')
    run(process.execPath, [path.join(root, 'scripts', 'check-binary.mjs'), ...containment, file]);
  console.log(`cellstate prebuild: wrote ${path.relative(root, file)}`);
}
