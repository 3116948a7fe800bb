// The addon loads and computes in worker_threads (per-environment state, no globals), several
// at once, and the main thread keeps working after a worker is terminated mid-computation.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';

import { fixturesDir, loadFixture, relativeError, repoRoot } from '../helpers/fixtures';
import { forwardOptions, layerFor, tensor, upstream } from '../helpers/fixtures';

const script = path.join(__dirname, 'scripts', 'fixture-worker.cjs');
const packageDir = path.join(repoRoot, 'dist');

interface Result {
  output: Float32Array;
  dx: Float32Array;
  info: { isa: string };
  spinning?: boolean;
}

function start(fixture: string, spin = false): { worker: Worker; first: Promise<Result> } {
  const worker = new Worker(script, {
    workerData: { packageDir, fixture: path.join(fixturesDir, fixture), spin },
  });
  const first = new Promise<Result>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`worker exited with code ${code}`)));
  });
  return { worker, first };
}

// Tolerance: as the parity tests (float32 against float64 references).
function expectMatches(r: Result, fixture: string): void {
  const f = loadFixture(fixture);
  expect(relativeError(r.output, f.outputs.output.data)).toBeLessThanOrEqual(1e-5);
  expect(relativeError(r.dx, f.grads.dx.data)).toBeLessThanOrEqual(1e-4);
}

describe('worker_threads', () => {
  it('has a build of the package to load', () => {
    expect(existsSync(path.join(packageDir, 'index.js')), 'run `npm run build` first').toBe(true);
  });

  it('loads the addon and computes a fixture case in a worker', async () => {
    const { worker, first } = start('lstm_everything.json');
    const r = await first;
    await worker.terminate();
    expectMatches(r, 'lstm_everything.json');
  });

  it('runs two workers at once', async () => {
    const a = start('gru_bidir_2layers_lengths.json');
    const b = start('lstm_medium_peephole_lengths.json');
    const [ra, rb] = await Promise.all([a.first, b.first]);
    await Promise.all([a.worker.terminate(), b.worker.terminate()]);
    expectMatches(ra, 'gru_bidir_2layers_lengths.json');
    expectMatches(rb, 'lstm_medium_peephole_lengths.json');
  });

  it('keeps the main thread computing after terminating a busy worker', async () => {
    const { worker, first } = start('rnn_relu_bidir_2layers_lengths.json', true);
    const r = await first;
    expect(r.spinning).toBe(true);
    // Let it get into a forwardAsync, then terminate it mid-flight.
    await new Promise((resolve) => setTimeout(resolve, 50));
    await worker.terminate();

    const fixture = 'rnn_relu_bidir_2layers_lengths.json';
    const f = loadFixture(fixture);
    const layer = layerFor(f);
    const out = layer.forward(tensor(f.inputs.x), forwardOptions(f));
    const grads = layer.backward(upstream(f));
    expectMatches({ output: out.output.data, dx: grads.x.data, info: r.info }, fixture);
  });
});
