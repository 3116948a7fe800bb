// Reading the float64 reference fixtures of test/fixtures (schema and how to regenerate them in its
// README.md) and comparing float32 results against them. CELLSTATE_FIXTURES=<dir> reads another
// set with the same schema instead.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';

import { GRU, LSTM, RNN, Tensor } from '../../lib/index';
import type { Recurrent } from '../../lib/layers/recurrent';

export const repoRoot = path.resolve(__dirname, '../..');
export const fixturesDir = process.env.CELLSTATE_FIXTURES
  ? path.resolve(process.env.CELLSTATE_FIXTURES)
  : path.resolve(repoRoot, 'test/fixtures');

export interface FixtureTensor {
  shape: number[];
  data: number[];
}

export interface Fixture {
  name: string;
  cell: 'lstm' | 'gru' | 'rnn';
  config: Record<string, unknown> & { batchFirst: boolean };
  seqLen: number;
  batch: number;
  lengths: number[] | null;
  inputs: { x: FixtureTensor; h0: FixtureTensor | null; c0: FixtureTensor | null };
  params: Record<string, FixtureTensor>;
  outputs: { output: FixtureTensor; hN: FixtureTensor; cN: FixtureTensor | null };
  upstream: { dOutput: FixtureTensor; dhN: FixtureTensor; dcN: FixtureTensor | null };
  grads: {
    dx: FixtureTensor;
    dh0: FixtureTensor;
    dc0: FixtureTensor | null;
    params: Record<string, FixtureTensor>;
  };
}

/**
 * Every fixture file name (sorted), then those of the sub-folders `layernorm/` (the
 * layer-normalized LSTM) and `activations/` (activation functions and clip, docs/cells.md) as
 * `<folder>/<name>.json`, when the set has them.
 */
export function fixtureFiles(): string[] {
  const json = (dir: string) =>
    readdirSync(dir)
      .filter((f) => f.endsWith('.json'))
      .sort();
  const sub = (name: string) => {
    const dir = path.join(fixturesDir, name);
    return existsSync(dir) ? json(dir).map((f) => `${name}/${f}`) : [];
  };
  return [...json(fixturesDir), ...sub('layernorm'), ...sub('activations')];
}

export function loadFixture(file: string): Fixture {
  const name = file.endsWith('.json') ? file : `${file}.json`;
  return JSON.parse(readFileSync(path.join(fixturesDir, name), 'utf8')) as Fixture;
}

/** The fixture tensor rounded to float32. */
export function tensor(t: FixtureTensor): Tensor {
  return new Tensor(Float32Array.from(t.data), t.shape);
}

/** A layer with the fixture's configuration and parameters. */
export function layerFor(f: Fixture): Recurrent {
  const options = { ...f.config, seed: 1 } as never;
  const layer =
    f.cell === 'lstm' ? new LSTM(options) : f.cell === 'gru' ? new GRU(options) : new RNN(options);
  const params: Record<string, Tensor> = {};
  for (const [name, t] of Object.entries(f.params)) params[name] = tensor(t);
  layer.setParameters(params);
  return layer;
}

/** forward options of the fixture: h0 / c0 / lengths as given, training. */
export function forwardOptions(f: Fixture) {
  return {
    h0: f.inputs.h0 ? tensor(f.inputs.h0) : undefined,
    c0: f.inputs.c0 ? tensor(f.inputs.c0) : undefined,
    lengths: f.lengths ?? undefined,
    train: true,
  };
}

/** backward's upstream gradients of the fixture. */
export function upstream(f: Fixture) {
  return {
    output: tensor(f.upstream.dOutput),
    h: tensor(f.upstream.dhN),
    c: f.upstream.dcN ? tensor(f.upstream.dcN) : undefined,
  };
}

function norm(v: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < v.length; ++i) s += v[i] * v[i];
  return Math.sqrt(s);
}

/** ‖got − want‖ / ‖want‖ (‖got − want‖ when want is 0). */
export function relativeError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  const diff = Array.from(want, (w, i) => got[i] - w);
  const n = norm(want);
  return n === 0 ? norm(diff) : norm(diff) / n;
}

/** The first index where |got − want| > abs + rel·|want|, or -1. */
export function firstMismatch(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  abs: number,
  rel: number,
): number {
  for (let i = 0; i < want.length; ++i)
    if (!(Math.abs(got[i] - want[i]) <= abs + rel * Math.abs(want[i]))) return i;
  return -1;
}
