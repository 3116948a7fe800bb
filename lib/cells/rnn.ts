// The Elman RNN of docs/cells.md: h = tanh or relu(W_ih x + b_ih + W_hh h + b_hh). Everything the
// TypeScript side knows of the RNN.
import type { OptionReader } from '../options';
import type { CellSpec, RecurrentConfig, RecurrentOptions, UnitParameter } from './common';

/** Simple RNN options. */
export interface RNNOptions extends RecurrentOptions {
  /** Accepted so that a `config` can be passed back; must be 'rnn'. */
  cell?: 'rnn' | undefined;
  /** The activation. Default 'tanh'. */
  nonlinearity?: 'tanh' | 'relu' | undefined;
}

/** An RNN's resolved options. */
export interface RNNConfig extends RecurrentConfig {
  cell: 'rnn';
  nonlinearity: 'tanh' | 'relu';
}

/** The RNN's registry entry: one block. */
export const rnn: CellSpec<RNNConfig> = {
  name: 'rnn',
  title: 'RNN',
  keys: ['nonlinearity'],
  resolve(r: OptionReader, common: RecurrentConfig): RNNConfig {
    const nonlinearity = r.choice('nonlinearity', ['tanh', 'relu'] as const, 'tanh');
    return { ...common, cell: 'rnn', nonlinearity };
  },
  nativeKeys: ['nonlinearity'],
  initKeys: [],
  cellState: false,
  stateSize: (c) => c.hiddenSize,
  maxBlocks: 1,
  unitParameters(c: RNNConfig, input: number): UnitParameter[] {
    const H = c.hiddenSize;
    return [
      { name: 'weight_ih', shape: [H, input] },
      { name: 'weight_hh', shape: [H, H] },
      { name: 'bias_ih', shape: [H] },
      { name: 'bias_hh', shape: [H] },
    ];
  },
  summary: () => [],
  pytorch: {
    blocks: 1,
    projection: false,
    infer: () => ({}),
    guesses: (given, module) =>
      given.nonlinearity === undefined
        ? [
            `${module} is an RNN whose nonlinearity is not in the file: 'tanh' assumed (give nonlinearity: 'relu' for nn.RNN(nonlinearity='relu'))`,
          ]
        : [],
  },
  onnx: {
    op: 'RNN',
    slots: 1,
    activations: 1,
    peepholes: 0,
    options(node) {
      const acts = node.activations;
      if (acts && !['tanh', 'relu'].includes(acts[0])) throw node.badActivations();
      return { nonlinearity: acts ? acts[0] : 'tanh' };
    },
    gateSlots: () => [{ block: 0, negate: false }],
    peepholeSlots: () => [],
    attributes: (c, directions) => [
      {
        name: 'activations',
        strings: new Array<string>(directions).fill(c.nonlinearity === 'relu' ? 'Relu' : 'Tanh'),
      },
    ],
    unexportable: () => null,
  },
};
