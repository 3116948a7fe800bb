// TF.js import: models built and run with @tensorflow/tfjs (its pure-JS CPU backend) are saved
// (through a save handler, or as model.json + weight shards the way `model.save('file://…')`
// writes them), imported, and predict what TF.js predicts; what cellstate cannot compute is
// refused by layer name.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { Sequential, Tensor, fromTfjs, importTfjs, type TfjsArtifacts } from '../../lib/index';
import { randomData, randomTensor, thrown } from './helpers';
import { maxDiff } from '../helpers/compare';

// TF.js computes in float32 with its own sigmoid / tanh and summation order; the issue's bound
// is 2e-5 absolute (observed: ≤ 1e-6).
const TOL = 1e-5;

const dir = mkdtempSync(path.join(tmpdir(), 'cellstate-tfjs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** Deterministic weights, scaled so that the gates leave their linear range. */
function setWeights(model: tf.LayersModel, seed: number, scale = 1.5): void {
  const ws = model.getWeights().map((w, i) => {
    const data = randomData(w.size, seed + i).map((v) => v * scale);
    return tf.tensor(data, w.shape);
  });
  model.setWeights(ws);
  ws.forEach((w) => w.dispose());
}

async function artifactsOf(model: tf.LayersModel): Promise<TfjsArtifacts> {
  let saved: tf.io.ModelArtifacts | null = null;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      saved = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  const a = saved as unknown as tf.io.ModelArtifacts;
  return {
    modelTopology: a.modelTopology,
    weightSpecs: a.weightSpecs!,
    weightData: a.weightData as ArrayBuffer,
  };
}

function tfPredict(model: tf.LayersModel, x: Tensor | number[][], tokens = false): Float32Array {
  const input =
    x instanceof Tensor
      ? tf.tensor(x.data, x.shape)
      : tf.tensor2d(x, undefined, tokens ? 'float32' : undefined);
  const y = model.predict(input) as tf.Tensor;
  const out = y.dataSync() as Float32Array;
  input.dispose();
  y.dispose();
  return out;
}

/** Builds, saves, imports; checks predict against TF.js on x; returns both. */
async function agree(model: tf.LayersModel, x: Tensor | number[][], seed = 1) {
  setWeights(model, seed);
  const want = tfPredict(model, x);
  const got = fromTfjs(await artifactsOf(model));
  const y = got.predict(x);
  const B = x instanceof Tensor ? x.shape[0] : x.length;
  expect(y.shape).toEqual(model.outputs[0].shape.map((d) => d ?? B));
  expect(maxDiff(y.data, want)).toBeLessThan(TOL);
  return { got, want, y };
}

const sig = { recurrentActivation: 'sigmoid' } as const;

describe('importTfjs: TF.js models predict what TF.js predicts', () => {
  it('LSTM (returnSequences), GRU (reset before), SimpleRNN relu, softmax Dense', async () => {
    const m = tf.sequential();
    m.add(tf.layers.lstm({ units: 5, returnSequences: true, inputShape: [6, 3], ...sig }));
    m.add(tf.layers.gru({ units: 4, returnSequences: true, ...sig }));
    m.add(tf.layers.simpleRNN({ units: 3, activation: 'relu' }));
    m.add(tf.layers.dropout({ rate: 0.4 }));
    m.add(tf.layers.dense({ units: 2, activation: 'softmax' }));
    const { got } = await agree(m, randomTensor([4, 6, 3], 1));
    // streamable: a Sequential with a last-step Dense
    expect(got.sequential).toBeInstanceOf(Sequential);
    got.dispose();
  });

  it('Bidirectional: concat with returnSequences, then sum, mul and ave at the last step', async () => {
    for (const mergeMode of ['sum', 'mul', 'ave', 'concat'] as const) {
      const m = tf.sequential();
      m.add(
        tf.layers.bidirectional({
          layer: tf.layers.lstm({ units: 4, returnSequences: true, ...sig }) as tf.RNN,
          mergeMode: 'concat',
          inputShape: [5, 3],
        }),
      );
      m.add(
        tf.layers.bidirectional({
          layer: tf.layers.gru({ units: 3, ...sig }) as tf.RNN,
          mergeMode,
        }),
      );
      m.add(tf.layers.dense({ units: 2, activation: 'tanh' }));
      const { got } = await agree(m, randomTensor([3, 5, 3], 2), 10);
      expect(got.sequential).toBeNull();
      got.dispose();
    }
    // merged sequences
    for (const mergeMode of ['sum', 'mul', 'ave'] as const) {
      const m = tf.sequential();
      m.add(
        tf.layers.bidirectional({
          layer: tf.layers.simpleRNN({ units: 4, returnSequences: true }) as tf.RNN,
          mergeMode,
          inputShape: [5, 2],
        }),
      );
      (await agree(m, randomTensor([2, 5, 2], 3), 20)).got.dispose();
    }
  });

  it('goBackwards: outputs in reversed order (returnSequences) and the last of them', async () => {
    const m = tf.sequential();
    m.add(
      tf.layers.lstm({
        units: 4,
        returnSequences: true,
        goBackwards: true,
        inputShape: [6, 2],
        ...sig,
      }),
    );
    m.add(tf.layers.timeDistributed({ layer: tf.layers.dense({ units: 3 }) }));
    m.add(tf.layers.gru({ units: 3, goBackwards: true, ...sig }));
    const { got } = await agree(m, randomTensor([3, 6, 2], 4), 30);
    expect(got.sequential).toBeNull(); // goBackwards needs the whole sequence
    expect(thrown(() => got.stream()).code).toBe('ERR_CELLSTATE_UNSUPPORTED');
    got.dispose();
  });

  it('Embedding → LSTM → Dense (token ids), and a stream that equals it step by step', async () => {
    const m = tf.sequential();
    m.add(tf.layers.embedding({ inputDim: 10, outputDim: 4, inputLength: 5 }));
    m.add(tf.layers.lstm({ units: 6, returnSequences: true, unitForgetBias: true, ...sig }));
    m.add(tf.layers.dense({ units: 3, activation: 'sigmoid' }));
    const ids = [
      [1, 2, 3, 4, 5],
      [9, 0, 0, 7, 1],
    ];
    const { got, want } = await agree(m, ids, 40);
    expect(got.takesTokens).toBe(true);
    const s = got.stream();
    for (let t = 0; t < 5; ++t) {
      const out = s.step(new Int32Array([ids[1][t]]));
      const at = (1 * 5 + t) * 3;
      expect(maxDiff(out, want.subarray(at, at + 3))).toBeLessThan(TOL);
    }
    got.dispose();
  });

  it('a stream of a returnSequences: false model ends with the last output', async () => {
    const m = tf.sequential();
    m.add(tf.layers.simpleRNN({ units: 4, inputShape: [5, 2] }));
    const x = randomTensor([1, 5, 2], 5);
    const { got, want } = await agree(m, x, 50);
    const s = got.stream();
    let out = new Float32Array(0);
    for (let t = 0; t < 5; ++t) out = s.step(x.data.subarray(2 * t, 2 * t + 2));
    expect(maxDiff(out, want)).toBeLessThan(TOL);
    got.dispose();
  });

  it('recurrentDropout and dropout (training only) are kept as recurrentDropout and inputDropout', async () => {
    const m = tf.sequential();
    m.add(
      tf.layers.lstm({
        units: 4,
        returnSequences: true,
        inputShape: [5, 3],
        recurrentDropout: 0.25,
        dropout: 0.1,
        ...sig,
      }),
    );
    m.add(tf.layers.gru({ units: 3, recurrentDropout: 0.5, ...sig }));
    const { got } = await agree(m, randomTensor([2, 5, 3], 7), 70); // inference ignores them
    const [lstm, gru] = got.sequential!.layers as unknown as {
      config: { recurrentDropout: number; inputDropout: number };
    }[];
    expect(lstm.config.recurrentDropout).toBe(0.25);
    expect(lstm.config.inputDropout).toBe(0.1);
    expect(gru.config.recurrentDropout).toBe(0.5);
    expect(gru.config.inputDropout).toBe(0);
    got.dispose();
  });

  it('useBias false, LSTM activation linear, a Dense before the recurrent layer', async () => {
    const m = tf.sequential();
    m.add(tf.layers.dense({ units: 4, activation: 'relu', inputShape: [5, 3] }));
    m.add(tf.layers.lstm({ units: 3, useBias: false, returnSequences: true, ...sig }));
    m.add(tf.layers.lstm({ units: 3, activation: 'linear', ...sig }));
    m.add(tf.layers.dense({ units: 2, useBias: false }));
    (await agree(m, randomTensor([2, 5, 3], 6), 60)).got.dispose();
  });

  it('a functional model (a chain from tf.input)', async () => {
    const input = tf.input({ shape: [4, 3] });
    let h = tf.layers
      .gru({ units: 5, returnSequences: true, ...sig })
      .apply(input) as tf.SymbolicTensor;
    h = tf.layers
      .bidirectional({ layer: tf.layers.lstm({ units: 3, ...sig }) as tf.RNN, mergeMode: 'ave' })
      .apply(h) as tf.SymbolicTensor;
    const out = tf.layers.dense({ units: 2 }).apply(h) as tf.SymbolicTensor;
    const m = tf.model({ inputs: input, outputs: out });
    (await agree(m, randomTensor([3, 4, 3], 7), 70)).got.dispose();
  });

  it('Masking with trailing padding: lengths, and TF.js values at the masked steps', async () => {
    const m = tf.sequential();
    m.add(tf.layers.masking({ maskValue: 0, inputShape: [6, 2] }));
    m.add(tf.layers.lstm({ units: 4, returnSequences: true, ...sig }));
    m.add(
      tf.layers.bidirectional({
        layer: tf.layers.gru({ units: 3, returnSequences: true, ...sig }) as tf.RNN,
        mergeMode: 'concat',
      }),
    );
    m.add(tf.layers.timeDistributed({ layer: tf.layers.dense({ units: 2 }) }));
    const x = randomTensor([3, 6, 2], 8);
    const lengths = [6, 3, 1];
    lengths.forEach((n, b) => x.data.fill(0, (b * 6 + n) * 2, (b + 1) * 6 * 2));
    const { got } = await agree(m, x, 80);
    // a mask that is not trailing padding is refused, naming the layer
    const holes = new Tensor(x.data.slice(), x.shape);
    holes.data.fill(0, 2, 4); // step 1 of sequence 0
    const e = thrown(() => got.predict(holes));
    expect(e.code).toBe('ERR_CELLSTATE_TFJS_UNSUPPORTED');
    expect(e.message).toMatch(/masking/i);
    got.dispose();

    // returnSequences false after a mask: the output of each sequence's last step
    const m2 = tf.sequential();
    m2.add(tf.layers.masking({ maskValue: 0, inputShape: [6, 2] }));
    m2.add(
      tf.layers.bidirectional({
        layer: tf.layers.lstm({ units: 3, ...sig }) as tf.RNN,
        mergeMode: 'concat',
      }),
    );
    (await agree(m2, x, 90)).got.dispose();
  });

  it('Embedding maskZero: trailing zero ids are padding', async () => {
    const m = tf.sequential();
    m.add(tf.layers.embedding({ inputDim: 7, outputDim: 3, inputLength: 5, maskZero: true }));
    m.add(tf.layers.simpleRNN({ units: 4, returnSequences: true }));
    m.add(tf.layers.lstm({ units: 2, ...sig }));
    const ids = [
      [1, 2, 3, 0, 0],
      [4, 5, 6, 1, 2],
      [3, 0, 0, 0, 0],
    ];
    (await agree(m, ids, 100)).got.dispose();
  });

  it('model.json and two weight shards on disk, as model.save("file://…") writes them', async () => {
    const m = tf.sequential();
    m.add(tf.layers.gru({ units: 4, inputShape: [5, 3], ...sig }));
    m.add(tf.layers.dense({ units: 2 }));
    setWeights(m, 110);
    const a = await artifactsOf(m);
    const bytes = new Uint8Array(a.weightData as ArrayBuffer);
    const cut = 40;
    writeFileSync(path.join(dir, 'group1-shard1of2.bin'), bytes.subarray(0, cut));
    writeFileSync(path.join(dir, 'group1-shard2of2.bin'), bytes.subarray(cut));
    writeFileSync(
      path.join(dir, 'model.json'),
      JSON.stringify({
        modelTopology: a.modelTopology,
        format: 'layers-model',
        generatedBy: 'TensorFlow.js tfjs-layers v4.22.0',
        convertedBy: null,
        weightsManifest: [
          { paths: ['group1-shard1of2.bin', 'group1-shard2of2.bin'], weights: a.weightSpecs },
        ],
      }),
    );
    const x = randomTensor([2, 5, 3], 9);
    const want = tfPredict(m, x);
    for (const source of [path.join(dir, 'model.json'), dir]) {
      const got = await importTfjs(source);
      expect(maxDiff(got.predict(x).data, want)).toBeLessThan(TOL);
      got.dispose();
    }
  });
});

// TF.js's default recurrentActivation is 'hardSigmoid' = clip(0.2·x + 0.5, 0, 1); the weights
// (scale 1.5) drive many gate pre-activations past ±2.5, so both clipped ends are exercised.
describe('importTfjs: default-constructed layers (hardSigmoid gates) and the other activations', () => {
  it('LSTM, GRU and SimpleRNN as TF.js builds them by default, with Dropout and a softmax Dense', async () => {
    const m = tf.sequential();
    m.add(tf.layers.lstm({ units: 5, returnSequences: true, inputShape: [6, 3] }));
    m.add(tf.layers.gru({ units: 4, returnSequences: true }));
    m.add(tf.layers.simpleRNN({ units: 3 }));
    m.add(tf.layers.dropout({ rate: 0.4 }));
    m.add(tf.layers.dense({ units: 2, activation: 'softmax' }));
    const x = randomTensor([4, 6, 3], 201);
    const { got } = await agree(m, x, 201);
    expect(got.sequential).toBeInstanceOf(Sequential);
    // the imported layers carry the gate function
    const lstm = got.sequential!.layers[0] as unknown as { config: Record<string, unknown> };
    expect(lstm.config.gateActivation).toEqual({ name: 'hardSigmoid', alpha: 0.2, beta: 0.5 });
    got.dispose();
  });

  it('Bidirectional (every merge mode), goBackwards, TimeDistributed(Dense)', async () => {
    for (const mergeMode of ['concat', 'sum', 'mul', 'ave'] as const) {
      const m = tf.sequential();
      m.add(
        tf.layers.bidirectional({
          layer: tf.layers.lstm({ units: 4, returnSequences: true }) as tf.RNN,
          mergeMode,
          inputShape: [5, 3],
        }),
      );
      m.add(tf.layers.timeDistributed({ layer: tf.layers.dense({ units: 3 }) }));
      m.add(tf.layers.bidirectional({ layer: tf.layers.gru({ units: 3 }) as tf.RNN, mergeMode }));
      (await agree(m, randomTensor([3, 5, 3], 210), 210)).got.dispose();
    }
    const back = tf.sequential();
    back.add(
      tf.layers.lstm({ units: 4, returnSequences: true, goBackwards: true, inputShape: [6, 2] }),
    );
    back.add(tf.layers.gru({ units: 3, goBackwards: true }));
    (await agree(back, randomTensor([3, 6, 2], 211), 211)).got.dispose();
  });

  it('Embedding → LSTM (unitForgetBias) → Dense streams step by step; useBias false; Masking', async () => {
    const m = tf.sequential();
    m.add(tf.layers.embedding({ inputDim: 10, outputDim: 4, inputLength: 5 }));
    m.add(tf.layers.lstm({ units: 6, returnSequences: true, unitForgetBias: true }));
    m.add(tf.layers.gru({ units: 3, returnSequences: true, useBias: false }));
    m.add(tf.layers.dense({ units: 3, activation: 'sigmoid' }));
    const ids = [
      [1, 2, 3, 4, 5],
      [9, 0, 0, 7, 1],
    ];
    const { got, want } = await agree(m, ids, 220);
    const s = got.stream();
    for (let t = 0; t < 5; ++t) {
      const out = s.step(new Int32Array([ids[1][t]]));
      const at = (1 * 5 + t) * 3;
      expect(maxDiff(out, want.subarray(at, at + 3))).toBeLessThan(TOL);
    }
    got.dispose();

    const masked = tf.sequential();
    masked.add(tf.layers.masking({ maskValue: 0, inputShape: [6, 2] }));
    masked.add(tf.layers.lstm({ units: 4, returnSequences: true }));
    masked.add(
      tf.layers.bidirectional({
        layer: tf.layers.gru({ units: 3 }) as tf.RNN,
        mergeMode: 'concat',
      }),
    );
    const x = randomTensor([3, 6, 2], 221);
    [6, 3, 1].forEach((n, b) => x.data.fill(0, (b * 6 + n) * 2, (b + 1) * 6 * 2));
    (await agree(masked, x, 221)).got.dispose();
  });

  it('a functional model and Embedding maskZero, default layers', async () => {
    const input = tf.input({ shape: [4, 3] });
    let h = tf.layers.gru({ units: 5, returnSequences: true }).apply(input) as tf.SymbolicTensor;
    h = tf.layers
      .bidirectional({ layer: tf.layers.lstm({ units: 3 }) as tf.RNN, mergeMode: 'ave' })
      .apply(h) as tf.SymbolicTensor;
    const out = tf.layers.dense({ units: 2 }).apply(h) as tf.SymbolicTensor;
    (
      await agree(tf.model({ inputs: input, outputs: out }), randomTensor([3, 4, 3], 240), 240)
    ).got.dispose();

    const m = tf.sequential();
    m.add(tf.layers.embedding({ inputDim: 7, outputDim: 3, inputLength: 5, maskZero: true }));
    m.add(tf.layers.lstm({ units: 4, returnSequences: true }));
    m.add(tf.layers.gru({ units: 2 }));
    const ids = [
      [1, 2, 3, 0, 0],
      [4, 5, 6, 1, 2],
      [3, 0, 0, 0, 0],
    ];
    (await agree(m, ids, 241)).got.dispose();
  });

  it('every activation a cell computes, as activation and as recurrentActivation', async () => {
    // TF.js names; each as the cells' activation (LSTM: candidate and output; GRU: candidate;
    // SimpleRNN: its one function) and as the gates' recurrentActivation
    const names = [
      'tanh',
      'sigmoid',
      'hardSigmoid',
      'relu',
      'linear',
      'elu',
      'softsign',
      'softplus',
    ] as const;
    let seed = 230;
    for (const activation of names) {
      const m = tf.sequential();
      m.add(
        tf.layers.lstm({
          units: 4,
          returnSequences: true,
          inputShape: [5, 3],
          activation,
          recurrentActivation: activation,
        }),
      );
      m.add(
        tf.layers.gru({
          units: 3,
          returnSequences: true,
          activation,
          recurrentActivation: activation,
        }),
      );
      m.add(tf.layers.simpleRNN({ units: 3, returnSequences: true, activation }));
      // a smaller scale keeps relu / linear / elu recurrences from growing past float32's
      // relative precision, which would make the 1e-5 absolute bound meaningless
      setWeights(m, seed, 0.6);
      const x = randomTensor([2, 5, 3], seed++);
      const want = tfPredict(m, x);
      const got = fromTfjs(await artifactsOf(m));
      const scale = Math.max(1, ...Array.from(want, Math.abs));
      expect(maxDiff(got.predict(x).data, want) / scale, activation).toBeLessThan(TOL);
      got.dispose();
    }
  });
});

describe("importTfjs: the Python converter's form", () => {
  it('model_config inside modelTopology, Keras weight names (lstm/lstm_cell/kernel, forward_lstm/…)', async () => {
    const m = tf.sequential();
    m.add(
      tf.layers.lstm({ units: 3, returnSequences: true, inputShape: [4, 2], name: 'lstm', ...sig }),
    );
    m.add(
      tf.layers.bidirectional({
        layer: tf.layers.gru({ units: 2, name: 'gru', ...sig }) as tf.RNN,
        name: 'bidirectional',
      }),
    );
    m.add(tf.layers.dense({ units: 2, name: 'dense' }));
    setWeights(m, 120);
    const a = await artifactsOf(m);
    const keras = {
      modelTopology: {
        keras_version: '2.15.0',
        backend: 'tensorflow',
        model_config: a.modelTopology,
      },
      weightSpecs: a.weightSpecs.map((w) => ({
        ...w,
        name: w.name
          .replace(/^lstm\//, 'lstm/lstm_cell/')
          .replace(/forward_gru\//, 'forward_gru/gru_cell/')
          .replace(/backward_gru\//, 'backward_gru/gru_cell/'),
      })),
      weightData: a.weightData,
    };
    expect(keras.weightSpecs.map((w) => w.name)).toContain('lstm/lstm_cell/kernel');
    expect(keras.weightSpecs.map((w) => w.name)).toContain(
      'bidirectional/backward_gru/gru_cell/recurrent_kernel',
    );
    const x = randomTensor([2, 4, 2], 11);
    const got = fromTfjs(keras);
    expect(maxDiff(got.predict(x).data, tfPredict(m, x))).toBeLessThan(TOL);
    got.dispose();
  });
});

// Keras's reset_after=True GRU (bias [2, 3H]), which TF.js cannot build: checked against the
// equations of Keras's GRUCell in float64.
describe('importTfjs: a Keras GRU with reset_after true', () => {
  it.each([
    ['sigmoid', (v: number) => 1 / (1 + Math.exp(-v))],
    ['hardSigmoid', (v: number) => Math.min(1, Math.max(0, 0.2 * v + 0.5))],
  ] as const)('bias [2, 3H] = input and recurrent biases, %s gates', async (gate, sigm) => {
    const m = tf.sequential();
    m.add(
      tf.layers.gru({
        units: 3,
        returnSequences: true,
        inputShape: [4, 2],
        recurrentActivation: gate,
      }),
    );
    const a = await artifactsOf(m);
    const I = 2;
    const H = 3;
    const kernel = randomData(I * 3 * H, 1).map((v) => 1.5 * v);
    const rec = randomData(H * 3 * H, 2).map((v) => 1.5 * v);
    const bias = randomData(2 * 3 * H, 3);
    const topo = JSON.parse(JSON.stringify(a.modelTopology));
    topo.config.layers[0].config.reset_after = true;
    const specs = a.weightSpecs.map((s) =>
      s.name.endsWith('/bias') ? { ...s, shape: [2, 3 * H] } : s,
    );
    const data = new Float32Array([...kernel, ...rec, ...bias]);
    const got = fromTfjs({ modelTopology: topo, weightSpecs: specs, weightData: data.buffer });
    const x = randomTensor([2, 4, I], 4);
    const y = got.predict(x);
    // Keras: z, r, hh blocks of kernel [I, 3H] / recurrent [H, 3H]; x·W + b_in, h·U + b_rec
    for (let b = 0; b < 2; ++b) {
      let h = [0, 0, 0];
      for (let t = 0; t < 4; ++t) {
        const xt = Array.from(x.data.subarray((b * 4 + t) * I, (b * 4 + t + 1) * I));
        const mx = (k: number) => xt.reduce((s, v, i) => s + v * kernel[i * 3 * H + k], bias[k]);
        const mh = (k: number) =>
          h.reduce((s, v, i) => s + v * rec[i * 3 * H + k], bias[3 * H + k]);
        const next = h.map((hj, j) => {
          const z = sigm(mx(j) + mh(j));
          const r = sigm(mx(H + j) + mh(H + j));
          const hh = Math.tanh(mx(2 * H + j) + r * mh(2 * H + j));
          return z * hj + (1 - z) * hh;
        });
        h = next;
        const at = (b * 4 + t) * H;
        expect(maxDiff(y.data.subarray(at, at + H), h)).toBeLessThan(1e-5);
      }
    }
    got.dispose();
  });
});

describe('importTfjs: refusals', () => {
  it('activations no cell computes, by layer and activation', async () => {
    const e = thrown(() => fromTfjs(null as never));
    expect(e).toBeInstanceOf(TypeError);
    const cases: [tf.layers.Layer, RegExp][] = [
      [
        tf.layers.lstm({
          units: 2,
          inputShape: [3, 2],
          name: 'my_lstm',
          recurrentActivation: 'selu',
        }),
        /layer 'my_lstm' \(LSTM\) has recurrentActivation 'selu'; cellstate's LSTM computes 'sigmoid'/,
      ],
      [
        tf.layers.lstm({ units: 2, inputShape: [3, 2], name: 'l6', activation: 'relu6' }),
        /layer 'l6' \(LSTM\) has activation 'relu6'/,
      ],
      [
        tf.layers.gru({ units: 2, inputShape: [3, 2], name: 'g', recurrentActivation: 'swish' }),
        /layer 'g' \(GRU\) has recurrentActivation 'swish'/,
      ],
      [
        tf.layers.gru({ units: 2, inputShape: [3, 2], name: 'g2', activation: 'gelu' }),
        /layer 'g2' \(GRU\) has activation 'gelu'/,
      ],
      [
        tf.layers.simpleRNN({ units: 2, inputShape: [3, 2], name: 'r', activation: 'softmax' }),
        /layer 'r' \(SimpleRNN\) has activation 'softmax'/,
      ],
    ];
    for (const [layer, message] of cases) {
      const m = tf.sequential();
      m.add(layer);
      const e2 = thrown(() => fromTfjs(artifactsOfSync(m)));
      expect(e2.code).toBe('ERR_CELLSTATE_TFJS_UNSUPPORTED');
      expect(e2.message).toMatch(message);
    }
  });

  it('unsupported layers by name, null merge, go_backwards with a mask', async () => {
    const conv = tf.sequential();
    conv.add(tf.layers.conv1d({ filters: 2, kernelSize: 2, inputShape: [5, 3], name: 'c1' }));
    expect(thrown(() => fromTfjs(artifactsOfSync(conv))).message).toMatch(
      /layer 'c1' \(Conv1D\) is not supported/,
    );
    const relu = tf.sequential();
    relu.add(tf.layers.dense({ units: 2, activation: 'elu', inputShape: [4, 3], name: 'd' }));
    expect(thrown(() => fromTfjs(artifactsOfSync(relu))).message).toMatch(
      /layer 'd' \(Dense\) has activation 'elu'/,
    );
    const flat = tf.sequential();
    flat.add(tf.layers.dense({ units: 2, inputShape: [3], name: 'flat' }));
    expect(thrown(() => fromTfjs(artifactsOfSync(flat))).message).toMatch(
      /layer 'flat' \(Dense\) takes input \[null, 3\]; cellstate imports models of sequences/,
    );
    const rows = tf.input({ shape: [3] });
    const flatModel = tf.model({
      inputs: rows,
      outputs: tf.layers.dense({ units: 2, name: 'f2' }).apply(rows) as tf.SymbolicTensor,
    });
    expect(thrown(() => fromTfjs(artifactsOfSync(flatModel))).message).toMatch(
      /layer 'f2' \(Dense\) reads the model's input \[B, F\]/,
    );
    const bi = tf.sequential();
    bi.add(
      tf.layers.bidirectional({
        layer: tf.layers.gru({ units: 2, ...sig }) as tf.RNN,
        inputShape: [3, 2],
        name: 'bi',
      }),
    );
    const a = artifactsOfSync(bi);
    (a.modelTopology as any).config.layers[0].config.merge_mode = null;
    expect(thrown(() => fromTfjs(a)).message).toMatch(
      /layer 'bi' \(Bidirectional\) has merge_mode null/,
    );
    const masked = tf.sequential();
    masked.add(tf.layers.masking({ inputShape: [4, 2] }));
    masked.add(tf.layers.simpleRNN({ units: 2, goBackwards: true, name: 'back' }));
    expect(thrown(() => fromTfjs(artifactsOfSync(masked))).code).toBe(
      'ERR_CELLSTATE_TFJS_UNSUPPORTED',
    );
  });

  it('weights that do not fit: too few bytes, a missing weight, a quantized weight', async () => {
    const m = tf.sequential();
    m.add(tf.layers.simpleRNN({ units: 2, inputShape: [3, 2] }));
    const a = await artifactsOf(m);
    const short = { ...a, weightData: (a.weightData as ArrayBuffer).slice(0, 8) };
    expect(thrown(() => fromTfjs(short)).code).toBe('ERR_CELLSTATE_TFJS_INVALID');
    const data = new Uint8Array(a.weightData as ArrayBuffer);
    const missing = {
      ...a,
      weightSpecs: a.weightSpecs.slice(0, 2),
      weightData: data.slice(0, 4 * (4 + 4)),
    };
    expect(thrown(() => fromTfjs(missing)).message).toMatch(/0 'bias' weights, expected 1/);
    const quant = {
      ...a,
      weightSpecs: a.weightSpecs.map((s, i) =>
        i === 0 ? { ...s, quantization: { dtype: 'uint8' } } : s,
      ),
    };
    expect(thrown(() => fromTfjs(quant)).message).toMatch(/quantized/);
  });
});

describe('importTfjs: bad arguments and graphs that are not chains', () => {
  it('argument types, a shard outside the directory, a branching functional model', async () => {
    await expect(importTfjs('')).rejects.toMatchObject({ code: 'ERR_CELLSTATE_INVALID_ARG' });
    expect(thrown(() => fromTfjs(42 as never))).toBeInstanceOf(TypeError);
    const m = tf.sequential();
    m.add(tf.layers.simpleRNN({ units: 2, inputShape: [3, 2] }));
    const a = await artifactsOf(m);
    expect(thrown(() => fromTfjs({ ...a, weightData: 'x' as never }))).toBeInstanceOf(TypeError);
    const outside = path.join(dir, 'outside');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(outside, { recursive: true });
    writeFileSync(
      path.join(outside, 'model.json'),
      JSON.stringify({
        modelTopology: a.modelTopology,
        weightsManifest: [{ paths: ['../secret.bin'], weights: a.weightSpecs }],
      }),
    );
    await expect(importTfjs(outside)).rejects.toMatchObject({
      code: 'ERR_CELLSTATE_TFJS_INVALID',
      message: expect.stringMatching(/outside the model's directory/),
    });

    const input = tf.input({ shape: [3, 2] });
    const r = tf.layers
      .simpleRNN({ units: 2, returnSequences: true })
      .apply(input) as tf.SymbolicTensor;
    const d1 = tf.layers.dense({ units: 2 }).apply(r) as tf.SymbolicTensor;
    const d2 = tf.layers.dense({ units: 2 }).apply(r) as tf.SymbolicTensor;
    const sum = tf.layers.add().apply([d1, d2]) as tf.SymbolicTensor;
    const branching = tf.model({ inputs: input, outputs: sum });
    const e = thrown(() => fromTfjs(artifactsOfSync(branching)));
    expect(e.code).toBe('ERR_CELLSTATE_TFJS_UNSUPPORTED');
    expect(e.message).toMatch(/chain/);
  });

  it('predict refuses a wrong input shape and a disposed model', async () => {
    const m = tf.sequential();
    m.add(tf.layers.simpleRNN({ units: 2, inputShape: [3, 2] }));
    const got = fromTfjs(await artifactsOf(m));
    expect(thrown(() => got.predict(randomTensor([2, 3], 1))).code).toBe('ERR_CELLSTATE_SHAPE');
    expect(thrown(() => got.predict(randomTensor([1, 3, 5], 1)))).toBeInstanceOf(RangeError);
    got.dispose();
    expect(thrown(() => got.predict(randomTensor([1, 3, 2], 1))).code).toBe(
      'ERR_CELLSTATE_DISPOSED',
    );
  });
});

/** Artifacts without running a save (the topology and the weights as getWeights gives them). */
function artifactsOfSync(model: tf.LayersModel): TfjsArtifacts {
  const ws = model.weights;
  const values = model.getWeights();
  const data = new Float32Array(values.reduce((n, v) => n + v.size, 0));
  let at = 0;
  for (const v of values) {
    data.set(v.dataSync(), at);
    at += v.size;
  }
  return {
    modelTopology: model.toJSON(null, false),
    weightSpecs: ws.map((w, i) => ({
      name: w.originalName,
      shape: values[i].shape,
      dtype: 'float32',
    })),
    weightData: data.buffer,
  };
}
