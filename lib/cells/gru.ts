// The GRU cell of docs/cells.md: PyTorch's / cuDNN's form (reset after the recurrent product) or
// Cho et al.'s. Everything the TypeScript side knows of the GRU.
import type { OptionReader } from '../options';
import type { CellSpec, RecurrentConfig, RecurrentOptions, UnitParameter } from './common';

/** GRU options. */
export interface GRUOptions extends RecurrentOptions {
  /** Accepted so that a `config` can be passed back; must be 'gru'. */
  cell?: 'gru' | undefined;
  /** n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)) (PyTorch, cuDNN); false: Cho et al. Default true. */
  resetAfter?: boolean | undefined;
}

/** A GRU's resolved options. */
export interface GRUConfig extends RecurrentConfig {
  cell: 'gru';
  resetAfter: boolean;
}

/** The GRU's registry entry: blocks r, z, n. */
export const gru: CellSpec<GRUConfig> = {
  name: 'gru',
  title: 'GRU',
  keys: ['resetAfter'],
  resolve(r: OptionReader, common: RecurrentConfig): GRUConfig {
    return { ...common, cell: 'gru', resetAfter: r.bool('resetAfter', true) };
  },
  nativeKeys: ['resetAfter'],
  initKeys: [],
  cellState: false,
  stateSize: (c) => c.hiddenSize,
  maxBlocks: 3,
  unitParameters(c: GRUConfig, input: number): UnitParameter[] {
    const GH = 3 * c.hiddenSize;
    return [
      { name: 'weight_ih', shape: [GH, input] },
      { name: 'weight_hh', shape: [GH, c.hiddenSize] },
      { name: 'bias_ih', shape: [GH] },
      { name: 'bias_hh', shape: [GH] },
    ];
  },
  summary: () => [],
  pytorch: { blocks: 3, projection: false, infer: () => ({}), guesses: () => [] },
  onnx: {
    op: 'GRU',
    slots: 3,
    activations: 2,
    peepholes: 0,
    options(node) {
      const acts = node.activations;
      if (acts && !(acts[0] === 'sigmoid' && acts[1] === 'tanh')) throw node.badActivations();
      return { resetAfter: node.int('linear_before_reset', 0) === 1 };
    },
    // ONNX z, r, h ← cellstate r, z, n
    gateSlots: () => [
      { block: 1, negate: false },
      { block: 0, negate: false },
      { block: 2, negate: false },
    ],
    peepholeSlots: () => [],
    attributes: (c) => [{ name: 'linear_before_reset', int: c.resetAfter ? 1 : 0 }],
    unexportable: () => null,
  },
};
