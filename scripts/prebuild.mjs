#!/usr/bin/env node
// Builds the addon for this machine and stores it where node-gyp-build looks in a published
// package: prebuilds/<platform>-<arch>/cellstate.napi[.<libc>].node (Node-API, so one binary
// serves every Node version). prebuildify is not used: it drives node-gyp only and fetches
// Node headers, while this project builds with CMake from local headers.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const built = spawnSync(process.execPath, [path.join(root, 'scripts', 'build-native.mjs')], {
  stdio: 'inherit',
});
if (built.status !== 0) process.exit(built.status ?? 1);

const tags = ['cellstate', 'napi'];
if (process.platform === 'linux') {
  tags.push(process.report.getReport().header.glibcVersionRuntime ? 'glibc' : 'musl');
}
const dir = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
const file = path.join(dir, `${tags.join('.')}.node`);
mkdirSync(dir, { recursive: true });
copyFileSync(path.join(root, 'build', 'Release', 'cellstate.node'), file);
if (process.platform !== 'win32') {
  const strip = spawnSync('strip', ['--strip-unneeded', file], { stdio: 'inherit' });
  if (strip.error) console.warn(`cellstate: strip not run (${strip.error.message})`);
}
console.log(`cellstate: wrote ${path.relative(root, file)}`);
