// Package hygiene (issue 15 item 5), on the build in dist/ as the package ships it: the worker
// script's subpath export, ONNX support (protobufjs) loaded on first use, source maps that
// carry their sources, and the demo runnable as the package's bin. scripts/check-package.sh
// checks the same from the packed tarball.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

import { repoRoot } from '../helpers/fixtures';

const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8'));

function node(code: string): string {
  const r = spawnSync(process.execPath, ['-e', code], { cwd: repoRoot, encoding: 'utf8' });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return r.stdout.trim();
}

describe('package hygiene', () => {
  it("require.resolve('cellstate/worker') names the worker script, which StreamWorker runs", () => {
    expect(pkg.exports['./worker']).toBe('./dist/stream/worker-main.js');
    // a package resolves its own name through "exports" (as an installed one does)
    const out = node(`
      const script = require.resolve('cellstate/worker');
      const c = require('cellstate');
      (async () => {
        const lstm = new c.LSTM({ inputSize: 2, hiddenSize: 3, seed: 1 });
        const w = await c.StreamWorker.create(lstm, { script });
        const y = await w.step(Float32Array.of(1, 2));
        const want = lstm.stream().step(Float32Array.of(1, 2));
        await w.close();
        console.log(JSON.stringify({ script, same: y.every((v, i) => v === want[i]) }));
      })();
    `);
    const r = JSON.parse(out);
    expect(r.script).toBe(path.join(repoRoot, 'dist', 'stream', 'worker-main.js'));
    expect(r.same).toBe(true);
  });

  it('protobufjs is loaded on the first ONNX call, not with cellstate', () => {
    const out = node(`
      const loaded = () => Object.keys(require.cache).some((k) => k.includes('protobufjs'));
      const c = require('cellstate');
      const before = loaded();
      c.fromOnnx(c.toOnnx(new c.Dense({ inputSize: 2, outputSize: 1 })));
      console.log(JSON.stringify({ before, after: loaded() }));
    `);
    expect(JSON.parse(out)).toEqual({ before: false, after: true });
  });

  it('every source map in dist/ carries the sources it names', () => {
    const maps = readdirSync(path.join(repoRoot, 'dist'), { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile() && e.name.endsWith('.js.map'))
      .map((e) => path.join(e.parentPath, e.name));
    expect(maps.length).toBeGreaterThan(20);
    for (const file of maps) {
      const map = JSON.parse(readFileSync(file, 'utf8'));
      expect(map.sources.length, file).toBeGreaterThan(0);
      expect(map.sourcesContent?.length, file).toBe(map.sources.length);
      for (const content of map.sourcesContent) expect(typeof content, file).toBe('string');
      // and each .js names its map
      const js = readFileSync(file.slice(0, -'.map'.length), 'utf8');
      expect(js, file).toContain(`//# sourceMappingURL=${path.basename(file)}`);
    }
  });

  it('the demo is the bin cellstate-demo, shipped with its data, and runs', () => {
    expect(pkg.bin).toEqual({ 'cellstate-demo': 'examples/main.mjs' });
    expect(pkg.files).toEqual(expect.arrayContaining(['examples/main.mjs', 'examples/data/']));
    const main = path.join(repoRoot, 'examples', 'main.mjs');
    expect(readFileSync(main, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
    expect(statSync(main).mode & 0o111).not.toBe(0);
    const out = mkdtempSync(path.join(os.tmpdir(), 'cellstate-demo-'));
    try {
      const r = spawnSync(process.execPath, [main, '--quick', '--out', out], {
        cwd: repoRoot,
        encoding: 'utf8',
      });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.stdout).toContain('Summary');
      expect(existsSync(path.join(out, 'curves.svg'))).toBe(true);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
