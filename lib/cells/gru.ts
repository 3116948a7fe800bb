// The GRU cell of docs/cells.md: PyTorch's / cuDNN's form (reset after the recurrent product) or
// Cho et al.'s. Everything the TypeScript side knows of the GRU.
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

/** GRU options. */
export interface GRUOptions extends RecurrentOptions {
  /** Accepted so that a `config` can be passed back; must be 'gru'. */
  cell?: 'gru' | undefined;
  /** n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)) (PyTorch, cuDNN); false: Cho et al. Default true. */
  resetAfter?: boolean | undefined;
  /** The function of the gates r, z (docs/cells.md, "Activation functions and clipping").
   * Default 'sigmoid'. */
  gateActivation?: CellActivation | undefined;
  /** The function of the candidate n. Default 'tanh'. */
  cellActivation?: CellActivation | undefined;
  /** Clamps the pre-activations of r, z and n (n's after r ⊙ (...)) to [−clip, clip]. A finite
   * number > 0. Default: none. */
  clip?: number | undefined;
}

/** A GRU's resolved options. */
export interface GRUConfig extends RecurrentConfig {
  cell: 'gru';
  resetAfter: boolean;
  /** Present only when not 'sigmoid'. */
  gateActivation?: ResolvedActivation;
  /** Present only when not 'tanh'. */
  cellActivation?: ResolvedActivation;
  /** Present only when set. */
  clip?: number;
}

/** The GRU's registry entry: blocks r, z, n. */
export const gru: CellSpec<GRUConfig> = {
  name: 'gru',
  title: 'GRU',
  keys: ['resetAfter', 'gateActivation', 'cellActivation', 'clip'],
  resolve(r: OptionReader, common: RecurrentConfig, where: string): GRUConfig {
    const config: GRUConfig = { ...common, cell: 'gru', resetAfter: r.bool('resetAfter', true) };
    const gate = readActivation(r, 'gateActivation', where);
    if (gate !== undefined && gate !== 'sigmoid') config.gateActivation = gate;
    const cand = readActivation(r, 'cellActivation', where);
    if (cand !== undefined && cand !== 'tanh') config.cellActivation = cand;
    const clip = readClip(r, where);
    if (clip !== undefined) config.clip = clip;
    return config;
  },
  nativeKeys: ['resetAfter', 'gateActivation', 'cellActivation', 'clip'],
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
  keras: {
    className: 'GRU',
    blocks: 3,
    order: [1, 0, 2], // Keras z, r, h → r, z, n
    options(get) {
      const act = String(get('activation') ?? 'tanh');
      const gateName = String(get('recurrent_activation') ?? 'hard_sigmoid'); // TF.js's default
      const gate = kerasActivation(gateName);
      if (!gate)
        return {
          refuse: `recurrentActivation '${gateName}'; cellstate's GRU computes ${KERAS_ACTIVATION_NAMES}`,
        };
      const fn = kerasActivation(act);
      if (!fn)
        return {
          refuse: `activation '${act}'; cellstate's GRU computes ${KERAS_ACTIVATION_NAMES}`,
        };
      const options: Record<string, unknown> = {};
      if (gate !== 'sigmoid') options.gateActivation = gate;
      if (fn !== 'tanh') options.cellActivation = fn;
      // reset_after (Keras; TF.js has only false) is resetAfter, with a bias [2, 3H]
      const resetAfter = get('reset_after') === true;
      return { options: { ...options, resetAfter }, biasRows: resetAfter ? 2 : 1 };
    },
  },
  onnx: {
    op: 'GRU',
    slots: 3,
    activations: 2,
    peepholes: 0,
    options(node) {
      const options: Record<string, unknown> = {
        resetAfter: node.int('linear_before_reset', 0) === 1,
      };
      const acts = node.resolvedActivations;
      if (acts && acts[0] !== 'sigmoid') options.gateActivation = acts[0];
      if (acts && acts[1] !== 'tanh') options.cellActivation = acts[1];
      if (node.clip !== undefined) options.clip = node.clip;
      return options;
    },
    // ONNX z, r, h ← cellstate r, z, n
    gateSlots: () => [
      { block: 1, negate: false },
      { block: 0, negate: false },
      { block: 2, negate: false },
    ],
    peepholeSlots: () => [],
    attributes: (c, directions) => [
      { name: 'linear_before_reset', int: c.resetAfter ? 1 : 0 },
      ...(c.gateActivation || c.cellActivation || c.clip !== undefined
        ? onnxActivationAttributes(
            [c.gateActivation ?? 'sigmoid', c.cellActivation ?? 'tanh'],
            directions,
            c.clip,
          )
        : []),
    ],
    unexportable: () => null,
  },
};
