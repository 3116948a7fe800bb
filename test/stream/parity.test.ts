// Stepping through a sequence equals forward on it: for every cell and option that can stream,
// random sizes, several batch sizes and layers, with and without an initial state, on one and
// on two threads, for a stream of the whole batch and for a pool with one session per sequence;
// and the fixtures' one-direction cases against their float64 references.
import { afterAll, describe, expect, it } from 'vitest';

import { Tensor, info, setNumThreads } from '../../lib/index';
import { fixtureFiles, loadFixture, layerFor, relativeError, tensor } from '../helpers/fixtures';
import { type AnyConfig, Lcg, firstDifference, frame, makeLayer, stateRows } from './helpers';

// Every streaming option of docs/cells.md, each on its own and in combinations.
const LSTM_VARIANTS: Record<string, unknown>[] = [
  {},
  { projSize: 1 },
  { peephole: true },
  { coupled: true },
  { inputGate: false },
  { forgetGate: false },
  { outputGate: false },
  { inputActivation: false },
  { outputActivation: false },
  { peephole: true, coupled: true },
  { peephole: true, inputGate: false, outputGate: false },
  { peephole: true, forgetGate: false, projSize: 1 },
  { inputActivation: false, outputActivation: false, projSize: 1 },
  { inputGate: false, forgetGate: false, outputGate: false },
  {
    peephole: true,
    coupled: true,
    inputActivation: false,
    outputActivation: false,
    projSize: 1,
  },
];
const GRU_VARIANTS: Record<string, unknown>[] = [{ resetAfter: true }, { resetAfter: false }];
const RNN_VARIANTS: Record<string, unknown>[] = [
  { nonlinearity: 'tanh' },
  { nonlinearity: 'relu' },
];

function randomConfig(rng: Lcg, cell: AnyConfig['cell'], variant: Record<string, unknown>) {
  const hiddenSize = rng.pick([1, 2, 3, 7, 8, 9, 16, 17, 33]);
  const config: AnyConfig = {
    cell,
    inputSize: rng.pick([1, 3, 7, 8, 9, 15]),
    hiddenSize: Math.max(hiddenSize, variant.projSize ? 2 : 1),
    numLayers: rng.int(1, 3),
    seed: rng.int(0, 1e6),
    ...variant,
  };
  if (variant.projSize) config.projSize = rng.int(1, (config.hiddenSize as number) - 1);
  return config;
}

interface Case {
  name: string;
  config: AnyConfig;
  T: number;
  B: number;
  initial: boolean;
}

function cases(): Case[] {
  const rng = new Lcg(20240611);
  const out: Case[] = [];
  const add = (cell: AnyConfig['cell'], variants: Record<string, unknown>[]) => {
    for (const variant of variants)
      for (let rep = 0; rep < 2; ++rep) {
        const config = randomConfig(rng, cell, variant);
        const label = Object.entries(variant)
          .map(([k, v]) => `${k}=${v}`)
          .join(',');
        out.push({
          name: `${cell}{${label}} I=${config.inputSize} H=${config.hiddenSize} L=${config.numLayers}${config.projSize ? ` P=${config.projSize}` : ''}`,
          config,
          T: rng.int(1, 9),
          B: rng.int(1, 5),
          initial: rep === 1,
        });
      }
  };
  add('lstm', LSTM_VARIANTS);
  add('gru', GRU_VARIANTS);
  add('rnn', RNN_VARIANTS);
  return out;
}

/** Steps a stream of the case's batch over x and compares with forward, bit for bit. */
function checkCase(c: Case, rng: Lcg): void {
  const layer = makeLayer(c.config);
  const { T, B } = c;
  const I = c.config.inputSize;
  const R = layer.outputSize;
  const L = (c.config.numLayers as number | undefined) ?? 1;
  const H = c.config.hiddenSize;
  const lstm = c.config.cell === 'lstm';
  const x = rng.floats(T * B * I, 2);
  const h0 = c.initial ? new Tensor(rng.floats(L * B * R), [L, B, R]) : undefined;
  const c0 = c.initial && lstm ? new Tensor(rng.floats(L * B * H), [L, B, H]) : undefined;
  const want = layer.forward(new Tensor(x, [T, B, I]), { h0, c0 });

  const s = layer.stream({ batch: B });
  if (h0) s.setState({ h: h0, c: c0 });
  const got = new Float32Array(T * B * R);
  for (let t = 0; t < T; ++t) got.set(s.step(frame(x, T, B, I, t, 0, B)), t * B * R);
  // Tolerance: none. Step runs the same GEMM and post-GEMM code on the same rows as forward,
  // and each row's sums are in the same order whatever the number of rows.
  expect(firstDifference(got, want.output.data), 'output').toBe(-1);
  const state = s.getState();
  expect(firstDifference(state.h.data, want.h.data), 'h').toBe(-1);
  if (lstm) expect(firstDifference(state.c!.data, want.c!.data), 'c').toBe(-1);
  else expect(state.c).toBeUndefined();

  // The same sequences as the sessions of a pool, each given its frame, one batched step per t.
  const pool = layer.streamPool({ capacity: 1 });
  const sessions = Array.from({ length: B }, () => pool.open());
  if (h0)
    sessions.forEach((session, b) =>
      session.setState({ h: stateRows(h0, b, 1), c: c0 ? stateRows(c0, b, 1) : undefined }),
    );
  for (let t = 0; t < T; ++t) {
    sessions.forEach((session, b) => session.write(frame(x, T, B, I, t, b, 1)));
    expect(pool.step()).toBe(B);
    sessions.forEach((session, b) => {
      const at = (t * B + b) * R;
      expect(
        firstDifference(session.output, want.output.data.subarray(at, at + R)),
        `pool row ${b} at ${t}`,
      ).toBe(-1);
    });
  }
  sessions.forEach((session, b) => {
    const st = session.getState();
    expect(firstDifference(st.h.data, stateRows(want.h, b, 1).data), `pool h of ${b}`).toBe(-1);
    if (lstm) expect(firstDifference(st.c!.data, stateRows(want.c!, b, 1).data)).toBe(-1);
  });
}

describe('stream.step equals forward', () => {
  const all = cases();
  afterAll(() => setNumThreads(info().threads));

  it.each(all.map((c) => [c.name + ` T=${c.T} B=${c.B}${c.initial ? ' h0' : ''}`, c] as const))(
    '%s',
    (_name, c) => {
      checkCase(c, new Lcg(c.T * 131 + c.B));
    },
  );

  it('holds on two threads for sizes that run in parallel', () => {
    setNumThreads(2);
    const rng = new Lcg(7);
    for (const [cell, variant] of [
      ['lstm', { projSize: 100, peephole: true }],
      ['gru', { resetAfter: false }],
      ['gru', { resetAfter: true }],
      ['rnn', { nonlinearity: 'relu' }],
    ] as const) {
      // 2·B·G·H·(I + R) well above the kernel's parallel threshold of 4e5 flops per step.
      const config: AnyConfig = {
        cell,
        inputSize: 64,
        hiddenSize: 256,
        numLayers: 2,
        seed: 3,
        ...variant,
      };
      checkCase({ name: cell, config, T: 4, B: 5, initial: true }, rng);
    }
  });

  it('a batch-1 stream per sequence equals forward on the batch', () => {
    const rng = new Lcg(99);
    const layer = makeLayer({
      cell: 'lstm',
      inputSize: 5,
      hiddenSize: 6,
      numLayers: 2,
      seed: 4,
      peephole: true,
    });
    const T = 6;
    const B = 4;
    const x = rng.floats(T * B * 5);
    const want = layer.forward(new Tensor(x, [T, B, 5]));
    for (let b = 0; b < B; ++b) {
      const s = layer.stream();
      for (let t = 0; t < T; ++t) {
        const y = s.step(frame(x, T, B, 5, t, b, 1));
        const at = (t * B + b) * 6;
        expect(firstDifference(y, want.output.data.subarray(at, at + 6))).toBe(-1);
      }
      const h = s.getState().h;
      expect(firstDifference(h.data, stateRows(want.h, b, 1).data)).toBe(-1);
    }
  });
});

describe("stream.step on the fixtures' one-direction cases", () => {
  const files = fixtureFiles().filter((f) => !loadFixture(f).config.bidirectional);

  it('has one-direction fixtures', () => {
    expect(files.length).toBeGreaterThan(20);
  });

  it.each(files)('%s', (file) => {
    const f = loadFixture(file);
    const layer = layerFor(f);
    const { seqLen: T, batch: B } = f;
    const I = f.config.inputSize as number;
    const R = layer.outputSize;
    const x = Float32Array.from(f.inputs.x.data);
    const wantOut = f.outputs.output.data;
    const bf = f.config.batchFirst;
    const h0 = f.inputs.h0 ? tensor(f.inputs.h0) : null;
    const c0 = f.inputs.c0 ? tensor(f.inputs.c0) : null;
    const hN = tensor(f.outputs.hN);
    const cN = f.outputs.cN ? tensor(f.outputs.cN) : null;
    // One batch-1 stream per sequence, stepped for its length (padded steps are not steps).
    for (let b = 0; b < B; ++b) {
      const len = f.lengths ? f.lengths[b] : T;
      const s = layer.stream();
      if (h0) s.setState({ h: stateRows(h0, b, 1), c: c0 ? stateRows(c0, b, 1) : undefined });
      const got: number[] = [];
      const want: number[] = [];
      for (let t = 0; t < len; ++t) {
        got.push(...s.step(frame(x, T, B, I, t, b, 1, bf)));
        const at = bf ? (b * T + t) * R : (t * B + b) * R;
        want.push(...wantOut.slice(at, at + R));
      }
      // Tolerance: as the parity tests (float32 against the float64 reference).
      expect(relativeError(got, want), `output of sequence ${b}`).toBeLessThanOrEqual(1e-5);
      const state = s.getState();
      expect(
        relativeError(state.h.data, stateRows(hN, b, 1).data),
        `h of ${b}`,
      ).toBeLessThanOrEqual(1e-5);
      if (cN)
        expect(
          relativeError(state.c!.data, stateRows(cN, b, 1).data),
          `c of ${b}`,
        ).toBeLessThanOrEqual(1e-5);
    }
  });
});
