// Every reference fixture (float64, test/fixtures or $CELLSTATE_FIXTURES) through the public API in float32:
// forward with the fixture's h0 / c0 / lengths / layout, then backward with its upstream
// gradients; outputs, states and every gradient are compared.
import { describe, expect, it } from 'vitest';

import type { Tensor } from '../../lib/index';
import {
  type Fixture,
  type FixtureTensor,
  firstMismatch,
  fixtureFiles,
  fixturesDir,
  forwardOptions,
  layerFor,
  loadFixture,
  relativeError,
  tensor,
  upstream,
} from '../helpers/fixtures';

// Forward results: the float32 reference lands within 3.7e-7 of these float64 values
// (test/fixtures/README.md); a different summation order may be a few times further. A wrong gate, block order or
// time index shows up as 1e-2 or more.
const OUTPUT_REL_NORM = 1e-5;
const OUTPUT_ABS = 1e-5;
const OUTPUT_REL = 1e-4;
// Gradients accumulate over T steps and layers: relative norm error.
const GRAD_REL_NORM = 1e-4;

function expectOutputClose(what: string, got: Tensor | undefined, want: FixtureTensor): void {
  expect(got, what).toBeDefined();
  expect(got!.shape, `${what} shape`).toEqual(want.shape);
  const rel = relativeError(got!.data, want.data);
  expect(rel, `${what}: relative norm error`).toBeLessThanOrEqual(OUTPUT_REL_NORM);
  const i = firstMismatch(got!.data, want.data, OUTPUT_ABS, OUTPUT_REL);
  expect(i, `${what}[${i}] = ${got!.data[i]}, want ${want.data[i]}`).toBe(-1);
}

function expectGradClose(what: string, got: Tensor | undefined, want: FixtureTensor): void {
  expect(got, what).toBeDefined();
  expect(got!.shape, `${what} shape`).toEqual(want.shape);
  const rel = relativeError(got!.data, want.data);
  expect(rel, `${what}: relative norm error`).toBeLessThanOrEqual(GRAD_REL_NORM);
}

/** Positions (flat indices of the time-major or batch-first [T, B, F] tensor) past a length. */
function paddedIndices(f: Fixture, width: number): number[] {
  const out: number[] = [];
  if (!f.lengths) return out;
  const T = f.seqLen;
  const B = f.batch;
  for (let t = 0; t < T; ++t)
    for (let b = 0; b < B; ++b) {
      if (t < f.lengths[b]) continue;
      const row = f.config.batchFirst ? b * T + t : t * B + b;
      for (let k = 0; k < width; ++k) out.push(row * width + k);
    }
  return out;
}

function run(f: Fixture) {
  const layer = layerFor(f);
  layer.zeroGrad();
  const fwd = layer.forward(tensor(f.inputs.x), forwardOptions(f));
  const bwd = layer.backward(upstream(f));
  return { layer, fwd, bwd, grads: layer.gradients() };
}

async function runAsync(f: Fixture) {
  const layer = layerFor(f);
  layer.zeroGrad();
  const fwd = await layer.forwardAsync(tensor(f.inputs.x), forwardOptions(f));
  const bwd = await layer.backwardAsync(upstream(f));
  return { layer, fwd, bwd, grads: layer.gradients() };
}

const files = fixtureFiles();

describe('reference fixtures', () => {
  it(`finds the fixtures in ${fixturesDir}`, () => {
    expect(files.length).toBeGreaterThan(0);
  });

  for (const file of files) {
    it(file, () => {
      const f = loadFixture(file);
      const { layer, fwd, bwd, grads } = run(f);

      expectOutputClose('output', fwd.output, f.outputs.output);
      expectOutputClose('h', fwd.h, f.outputs.hN);
      if (f.outputs.cN) expectOutputClose('c', fwd.c, f.outputs.cN);
      else expect(fwd.c).toBeUndefined();

      expectGradClose('dx', bwd.x, f.grads.dx);
      expectGradClose('dh0', bwd.h0, f.grads.dh0);
      if (f.grads.dc0) expectGradClose('dc0', bwd.c0, f.grads.dc0);
      else expect(bwd.c0).toBeUndefined();

      expect(Object.keys(grads).sort()).toEqual(Object.keys(f.grads.params).sort());
      for (const [name, want] of Object.entries(f.grads.params))
        expectGradClose(`grad ${name}`, grads[name], want);

      // Padded steps: the output is 0 and no gradient reaches x there.
      const padX = paddedIndices(f, f.inputs.x.shape[2]);
      for (const i of padX) expect(bwd.x.data[i], `dx[${i}] (padded)`).toBe(0);
      const padOut = paddedIndices(f, layer.outputSize);
      for (const i of padOut) expect(fwd.output.data[i], `output[${i}] (padded)`).toBe(0);
    });
  }
});

describe('async gives the bits of sync', () => {
  const cases = [
    'lstm_everything.json',
    'gru_bidir_2layers_lengths.json',
    'rnn_relu_bidir_2layers_lengths.json',
    'lstm_medium_peephole_lengths.json',
  ].filter((c) => files.includes(c));

  it('has its cases', () => expect(cases.length).toBe(4));

  for (const file of cases) {
    it(file, async () => {
      const f = loadFixture(file);
      const a = run(f);
      const b = await runAsync(f);
      const pairs: [string, Tensor | undefined, Tensor | undefined][] = [
        ['output', a.fwd.output, b.fwd.output],
        ['h', a.fwd.h, b.fwd.h],
        ['c', a.fwd.c, b.fwd.c],
        ['dx', a.bwd.x, b.bwd.x],
        ['dh0', a.bwd.h0, b.bwd.h0],
        ['dc0', a.bwd.c0, b.bwd.c0],
        ...Object.keys(a.grads).map(
          (k) => [`grad ${k}`, a.grads[k], b.grads[k]] as [string, Tensor, Tensor],
        ),
      ];
      for (const [what, x, y] of pairs) {
        expect(y?.shape, what).toEqual(x?.shape);
        if (x && y)
          expect(Buffer.from(y.data.buffer).equals(Buffer.from(x.data.buffer)), what).toBe(true);
      }
    });
  }
});
