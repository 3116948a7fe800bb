// Terminating a worker_thread never takes the process down, whatever cellstate call the worker
// is in (issue 11, item 1). The storm runs in a child process, so an abort (the old
// `terminate called after throwing an instance of 'Napi::Error'`, exit 134) fails this test
// instead of killing the runner.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

import { repoRoot } from '../helpers/fixtures';

const script = path.join(__dirname, 'scripts', 'storm-parent.cjs');
const packageDir = path.join(repoRoot, 'dist');

describe('worker termination storm', () => {
  it('survives dozens of terminations at random moments of every kind of call', () => {
    const count = 48;
    const seed = (Date.now() % 100000) + 1; // printed on failure to replay the run
    const run = spawnSync(process.execPath, [script, packageDir, String(count), String(seed)], {
      encoding: 'utf8',
      timeout: 240_000,
    });
    const detail = `seed ${seed}, status ${run.status}, signal ${run.signal}\n${run.stderr}`;
    expect(run.signal, detail).toBeNull();
    expect(run.status, detail).toBe(0);
    const report = JSON.parse(run.stdout.trim().split('\n').pop() ?? '{}');
    expect(report).toEqual({ terminated: count, finite: true });
  }, 300_000);
});
