// importOnnx: the graph decides. The `cellstate.config` metadata may only add what a graph
// cannot hold (seeds, dropout, forgetBias); metadata that says another activation, gate,
// peephole or Dense head than the graph computes is refused, and so is an attribute of the
// wrong ONNX type (`direction` as an INT, `activations` as INTS) instead of being read as its
// default.
import { describe, expect, it } from 'vitest';

import { Dense, GRU, LSTM, RNN, Sequential, Tensor, fromOnnx, toOnnx } from '../../lib/index';
import { ONNX_CONFIG_KEY } from '../../lib/io/onnx-export';
import { AttributeType, modelProto } from '../../lib/io/onnx-schema';
import { bits, randomTensor, thrown } from './helpers';

const T = modelProto();
const decode = (bytes: Uint8Array) => T.toObject(T.decode(bytes), { longs: Number }) as any;
const encode = (m: any) => T.encode(T.fromObject(m)).finish();

/** The exported model with its metadata config changed by `fn`. */
function withMetadata(model: Parameters<typeof toOnnx>[0], fn: (config: any) => void): Uint8Array {
  const m = decode(toOnnx(model));
  const prop = m.metadata_props.find((p: any) => p.key === ONNX_CONFIG_KEY);
  const config = JSON.parse(prop.value);
  fn(config);
  prop.value = JSON.stringify(config);
  return encode(m);
}

function refused(bytes: Uint8Array, message: RegExp): void {
  const e = thrown(() => fromOnnx(bytes));
  expect(e.code).toBe('ERR_CELLSTATE_ONNX_INVALID');
  expect(e.message).toMatch(message);
}

describe('metadata that disagrees with the graph is refused', () => {
  it("an RNN's nonlinearity changed from tanh to relu in the metadata only", () => {
    const rnn = new RNN({ inputSize: 3, hiddenSize: 4, seed: 1 });
    refused(
      withMetadata(rnn, (c) => (c.nonlinearity = 'relu')),
      /metadata says nonlinearity: "relu" for the layer of node '.*', but the graph computes nonlinearity: "tanh"/,
    );
  });

  it.each([
    ['peephole', (c: any) => (c.peephole = true)],
    ['coupled', (c: any) => (c.coupled = true)],
    ['inputActivation', (c: any) => (c.inputActivation = false)],
    ['outputGate', (c: any) => (c.outputGate = false)],
  ])('an LSTM whose metadata says another %s', (key, fn) => {
    const lstm = new LSTM({ inputSize: 3, hiddenSize: 4, numLayers: 2, seed: 2 });
    refused(withMetadata(lstm, fn), new RegExp(`metadata says ${key}: `));
  });

  it("a GRU's resetAfter, a batch-first layer, and a Dense's activation or lastStep", () => {
    const gru = new GRU({ inputSize: 3, hiddenSize: 4, seed: 3 });
    refused(
      withMetadata(gru, (c) => (c.resetAfter = !c.resetAfter)),
      /says resetAfter: /,
    );
    refused(
      withMetadata(gru, (c) => (c.batchFirst = true)),
      /says batchFirst: true/,
    );
    const model = new Sequential([
      new LSTM({ inputSize: 3, hiddenSize: 4, seed: 4 }),
      new Dense({ inputSize: 4, outputSize: 2, activation: 'softmax', lastStep: true, seed: 5 }),
    ]);
    refused(
      withMetadata(model, (c) => (c.layers[1].activation = 'tanh')),
      /says activation: "tanh" .* but the graph computes activation: "softmax"/,
    );
    refused(
      withMetadata(model, (c) => (c.layers[1].lastStep = false)),
      /says lastStep: false/,
    );
  });

  it("a Sequential's layout: the metadata's batchFirst must be the graph's", () => {
    const layers = () => [
      new LSTM({ inputSize: 3, hiddenSize: 4, seed: 4 }),
      new Dense({ inputSize: 4, outputSize: 2, seed: 5 }),
    ];
    const bf = new Sequential(layers(), { batchFirst: true });
    const back = fromOnnx(toOnnx(bf)) as Sequential;
    expect(back.batchFirst).toBe(true);
    refused(
      withMetadata(bf, (c) => (c.batchFirst = false)),
      /says batchFirst: false for the Sequential, but the graph takes its input batch-first/,
    );
    refused(
      withMetadata(bf, (c) => delete c.batchFirst),
      /says batchFirst: null for the Sequential, but the graph takes its input batch-first/,
    );
    const tm = new Sequential(layers(), { batchFirst: false });
    refused(
      withMetadata(tm, (c) => (c.batchFirst = true)),
      /says batchFirst: true for the Sequential, but the graph takes its input time-major/,
    );
  });

  it('what only the metadata holds (seed, dropout, forgetBias) is taken from it', () => {
    const lstm = new LSTM({ inputSize: 3, hiddenSize: 4, numLayers: 2, seed: 6 });
    const back = fromOnnx(
      withMetadata(lstm, (c) => {
        c.seed = 99;
        c.dropout = 0.25;
        c.forgetBias = 2;
      }),
    ) as LSTM;
    expect(back.config).toMatchObject({ seed: 99, dropout: 0.25, forgetBias: 2 });
    const x = randomTensor([5, 2, 3], 7);
    expect(bits(back.forward(x).output)).toEqual(bits(lstm.forward(x).output));
  });

  it('metadata that is not JSON, or nested past MAX_CONFIG_DEPTH, is refused', () => {
    const rnn = new RNN({ inputSize: 2, hiddenSize: 2, seed: 8 });
    const m = decode(toOnnx(rnn));
    m.metadata_props.find((p: any) => p.key === ONNX_CONFIG_KEY).value = '{"cell":';
    refused(encode(m), /metadata is not valid JSON/);
    const deep = '['.repeat(50_000) + ']'.repeat(50_000);
    m.metadata_props.find((p: any) => p.key === ONNX_CONFIG_KEY).value = `{"layers":${deep}}`;
    refused(encode(m), /nested more than 32 levels deep/);
  });
});

describe('attributes of the wrong ONNX type are refused', () => {
  const lstm = new LSTM({ inputSize: 3, hiddenSize: 4, bidirectional: true, seed: 9 });
  const node = (m: any) => m.graph.node.find((n: any) => n.op_type === 'LSTM');
  const attr = (m: any, name: string) => node(m).attribute.find((a: any) => a.name === name);

  it('direction as an INT', () => {
    const m = decode(toOnnx(lstm));
    const a = attr(m, 'direction');
    delete a.s;
    a.type = AttributeType.INT;
    a.i = 1;
    refused(encode(m), /attribute 'direction' must be of type STRING, got INT/);
  });

  it('activations as INTS, hidden_size as a FLOAT', () => {
    const m = decode(toOnnx(lstm));
    node(m).attribute.push({ name: 'activations', type: AttributeType.INTS, ints: [1, 2, 3] });
    refused(encode(m), /attribute 'activations' must be of type STRINGS, got INTS/);
    const m2 = decode(toOnnx(lstm));
    node(m2).attribute.push({ name: 'hidden_size', type: AttributeType.FLOAT, f: 4 });
    refused(encode(m2), /attribute 'hidden_size' must be of type INT, got FLOAT/);
  });

  it('a declared type that does not match the value it holds', () => {
    const m = decode(toOnnx(lstm));
    attr(m, 'direction').i = 3; // type STRING, but an int beside the string
    refused(encode(m), /attribute 'direction' must be of type STRING, got STRING holding another/);
  });

  it('an attribute without a declared type is judged by the value it holds', () => {
    const m = decode(toOnnx(new RNN({ inputSize: 2, hiddenSize: 3, seed: 10 })));
    const n = m.graph.node.find((x: any) => x.op_type === 'RNN');
    for (const a of n.attribute) delete a.type;
    // still a STRING value: loads as before
    const back = fromOnnx(encode(m)) as RNN;
    expect(back.config.hiddenSize).toBe(3);
    n.attribute.push({ name: 'activations', ints: [5] });
    refused(encode(m), /attribute 'activations' must be of type STRINGS, got INTS/);
  });

  it('the exported model itself imports (every attribute of its type)', () => {
    const back = fromOnnx(toOnnx(lstm)) as LSTM;
    const x = new Tensor(randomTensor([4, 2, 3], 11).data, [4, 2, 3]);
    expect(bits(back.forward(x).output)).toEqual(bits(lstm.forward(x).output));
  });
});
