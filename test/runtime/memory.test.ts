// Native memory that V8 sees and users can free (issue 11, items 12 and 13). The RSS checks
// run in a fresh child process each (no --expose-gc: nothing calls gc()), and print their
// figures.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

import { repoRoot } from '../helpers/fixtures';

const script = path.join(__dirname, 'scripts', 'memory-child.cjs');
const packageDir = path.join(repoRoot, 'dist');

interface Report {
  count: number;
  kept: number;
  startMB: number;
  peakMB: number;
  endMB?: number;
}

function run(mode: string): Report {
  const child = spawnSync(process.execPath, [script, packageDir, mode], {
    encoding: 'utf8',
    timeout: 240_000,
  });
  expect(child.status, child.stderr).toBe(0);
  const report = JSON.parse(child.stdout.trim().split('\n').pop() ?? '{}') as Report;
  console.log(`memory (${mode}):`, JSON.stringify(report));
  return report;
}

describe('native memory', () => {
  it('is reported to V8: 400 dropped 8 MB snapshots stay under 1.2 GB RSS', () => {
    // A snapshot's memory is native only; before it was reported, V8 saw none of it and this
    // reached 3.3 GB (400 × 8 MB) before any collection.
    const r = run('snapshots');
    expect(r.count).toBe(400);
    expect(r.peakMB).toBeLessThan(1200);
  }, 300_000);

  it('400 dropped LSTM(512) layers stay under 900 MB RSS with no explicit gc', () => {
    const r = run('dropped');
    expect(r.count).toBe(400);
    // Before: 9.7 GB (V8 never saw the 25 MB of each layer, and Node-API runs finalizers only
    // when the loop yields).
    expect(r.peakMB).toBeLessThan(900);
  }, 300_000);

  it('100 disposed LSTM(512) layers, still referenced, leave RSS within 150 MB of the start', () => {
    const r = run('disposed');
    expect(r.kept).toBe(100);
    expect(r.peakMB - r.startMB).toBeLessThan(150);
    expect((r.endMB ?? Infinity) - r.startMB).toBeLessThan(150);
  }, 300_000);
});
