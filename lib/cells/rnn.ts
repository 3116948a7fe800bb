// The Elman RNN of docs/cells.md: h = tanh or relu(W_ih x + b_ih + W_hh h + b_hh). Everything the
// TypeScript side knows of the RNN.
import type { OptionReader } from '../options';
import {
  type CellActivation,
  type CellSpec,
  type RecurrentConfig,
  type RecurrentOptions,
  type ResolvedActivation,
  type UnitParameter,
  KERAS_ACTIVATION_NAMES,
  kerasActivation,
  onnxActivationAttributes,
  readActivation,
  readClip,
} from './common';

/** Simple RNN options. */
export interface RNNOptions extends RecurrentOptions {
  /** Accepted so that a `config` can be passed back; must be 'rnn'. */
  cell?: 'rnn' | undefined;
  /** The activation: 'tanh', 'relu' or any function of docs/cells.md ("Activation functions
   * and clipping"). Default 'tanh'. */
  nonlinearity?: CellActivation | undefined;
  /** Clamps the pre-activation to [−clip, clip]. A finite number > 0. Default: none. */
  clip?: number | undefined;
}

/** An RNN's resolved options. */
export interface RNNConfig extends RecurrentConfig {
  cell: 'rnn';
  nonlinearity: ResolvedActivation;
  /** Present only when set. */
  clip?: number;
}

/** The RNN's registry entry: one block. */
export const rnn: CellSpec<RNNConfig> = {
  name: 'rnn',
  title: 'RNN',
  keys: ['nonlinearity', 'clip'],
  resolve(r: OptionReader, common: RecurrentConfig, where: string): RNNConfig {
    const nonlinearity = readActivation(r, 'nonlinearity', where) ?? 'tanh';
    const config: RNNConfig = { ...common, cell: 'rnn', nonlinearity };
    const clip = readClip(r, where);
    if (clip !== undefined) config.clip = clip;
    return config;
  },
  nativeKeys: ['nonlinearity', 'clip'],
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
  keras: {
    className: 'SimpleRNN',
    blocks: 1,
    order: [0],
    options(get) {
      const act = String(get('activation') ?? 'tanh');
      const fn = kerasActivation(act);
      if (!fn)
        return {
          refuse: `activation '${act}'; cellstate's RNN computes ${KERAS_ACTIVATION_NAMES}`,
        };
      return { options: { nonlinearity: fn }, biasRows: 1 };
    },
  },
  onnx: {
    op: 'RNN',
    slots: 1,
    activations: 1,
    peepholes: 0,
    options(node) {
      const acts = node.resolvedActivations;
      const options: Record<string, unknown> = { nonlinearity: acts ? acts[0] : 'tanh' };
      if (node.clip !== undefined) options.clip = node.clip;
      return options;
    },
    gateSlots: () => [{ block: 0, negate: false }],
    peepholeSlots: () => [],
    attributes: (c, directions) =>
      typeof c.nonlinearity === 'string' &&
      ['tanh', 'relu'].includes(c.nonlinearity) &&
      c.clip === undefined
        ? [
            {
              name: 'activations',
              strings: new Array<string>(directions).fill(
                c.nonlinearity === 'relu' ? 'Relu' : 'Tanh',
              ),
            },
          ]
        : onnxActivationAttributes([c.nonlinearity], directions, c.clip),
    unexportable: () => null,
  },
};
