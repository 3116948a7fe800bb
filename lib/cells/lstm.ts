// The LSTM cell of docs/cells.md: Greff et al.'s variants (peepholes, CIFG, removed gates and
// activations) and a projection (Sak et al.). Everything the TypeScript side knows of the LSTM.
import { CellstateRangeError, ErrorCode } from '../errors';
import type { OptionReader } from '../options';
import {
  type ActivationName,
  type CellActivation,
  type CellSpec,
  MAX_SIZE,
  type ResolvedActivation,
  activationName,
  isIdentity,
  KERAS_ACTIVATION_NAMES,
  kerasActivation,
  makeActivation,
  onnxActivationAttributes,
  readActivation,
  readClip,
  type OnnxSlot,
  type RecurrentConfig,
  type RecurrentOptions,
  type UnitParameter,
} from './common';

/**
 * Whether the gate function f has f(−a) = 1 − f(a) (sigmoid; hardSigmoid and affine with β 0.5):
 * then ONNX's input_forget (i from the i slot, f = 1 − i) is cellstate's CIFG (f from the f
 * block, i = 1 − f) with the i slot holding −f. Undefined is the default, sigmoid.
 */
function complementary(a: ResolvedActivation | undefined): boolean {
  if (a === undefined || a === 'sigmoid') return true;
  if (typeof a === 'string') return false;
  return (a.name === 'hardSigmoid' || a.name === 'affine') && a.beta === 0.5;
}

function describeActivation(a: ResolvedActivation): string {
  return typeof a === 'string' ? `'${a}'` : JSON.stringify(a);
}

/** LSTM options (docs/cells.md); a removed gate's block is left out of the parameters. */
export interface LSTMOptions extends RecurrentOptions {
  /** Accepted so that a `config` can be passed back; must be 'lstm'. */
  cell?: 'lstm' | undefined;
  /** Size `P` of the projection h = W_hr m; 0 (none) or 0 < P < hiddenSize. Default 0. */
  projSize?: number | undefined;
  /** Peephole connections from the cell state into the gates (`weight_ph`). Default false. */
  peephole?: boolean | undefined;
  /** CIFG: no input-gate block, i = 1 − f. Default false. */
  coupled?: boolean | undefined;
  /** The input gate; false (NIG) means i = 1. Default true. */
  inputGate?: boolean | undefined;
  /** The forget gate; false (NFG) means f = 1. Default true. */
  forgetGate?: boolean | undefined;
  /** The output gate; false (NOG) means o = 1. Default true. */
  outputGate?: boolean | undefined;
  /** g = tanh(a_g); false (NIAF) means g = a_g. Default true. */
  inputActivation?: boolean | undefined;
  /** m = o ⊙ tanh(c); false (NOAF) means m = o ⊙ c. Default true. */
  outputActivation?: boolean | undefined;
  /**
   * Layer normalization (Ba et al. 2016; docs/cells.md, "Layer-normalized LSTM"): W_ih x and
   * W_hh h are normalized on their own (biases added after), and c_t before the output
   * activation; adds six parameters per layer and direction (`ln_ih_weight`, `ln_ih_bias`,
   * `ln_hh_weight`, `ln_hh_bias` [G·H], `ln_c_weight`, `ln_c_bias` [H]), initialised to 1 and 0.
   * Combines with the activation options and clip: the gate and candidate functions (and clip)
   * act on the normalized pre-activations, `hiddenActivation` on LN(c_t).
   * Not exportable to ONNX. Default false.
   */
  layerNorm?: boolean | undefined;
  /** Initial value of bias_ih's forget block (bias_hh's starts at 0); finite. Default 1. */
  forgetBias?: number | undefined;
  /** The function of the gates i, f, o (docs/cells.md, "Activation functions and clipping").
   * Default 'sigmoid'; TF.js and Keras 2 models use 'hardSigmoid'. */
  gateActivation?: CellActivation | undefined;
  /** The function of the candidate g. Default 'tanh'; `inputActivation: false` is 'affine'
   * (giving both is refused). */
  cellActivation?: CellActivation | undefined;
  /** The function applied to c_t for m = o ⊙ h(c_t) (to LN(c_t) with layerNorm). Default 'tanh';
   * `outputActivation: false` is 'affine' (giving both is refused). */
  hiddenActivation?: CellActivation | undefined;
  /** Clamps the gate and candidate pre-activations (after the peephole terms) to
   * [−clip, clip]; c_t is not clamped. A finite number > 0. Default: none. */
  clip?: number | undefined;
}

/** An LSTM's resolved options (see LSTMOptions for each). */
export interface LSTMConfig extends RecurrentConfig {
  cell: 'lstm';
  projSize: number;
  peephole: boolean;
  coupled: boolean;
  inputGate: boolean;
  forgetGate: boolean;
  outputGate: boolean;
  inputActivation: boolean;
  outputActivation: boolean;
  layerNorm: boolean;
  forgetBias: number;
  /** Present only when not 'sigmoid'. */
  gateActivation?: ResolvedActivation;
  /** Present only when not 'tanh' nor the identity (which is `inputActivation: false`). */
  cellActivation?: ResolvedActivation;
  /** Present only when not 'tanh' nor the identity (which is `outputActivation: false`). */
  hiddenActivation?: ResolvedActivation;
  /** Present only when set. */
  clip?: number;
}

/** The LSTM's activations of one direction in ONNX's order (f, g, h). */
function activationsOf(c: LSTMConfig): ResolvedActivation[] {
  const identity = makeActivation('affine', 1, 0);
  return [
    c.gateActivation ?? 'sigmoid',
    c.inputActivation ? (c.cellActivation ?? 'tanh') : identity,
    c.outputActivation ? (c.hiddenActivation ?? 'tanh') : identity,
  ];
}

/** Sets a role of config from its resolved activation: absent for the default, the boolean for
 * the identity (NIAF / NOAF). */
function setRole(
  config: LSTMConfig,
  key: 'cellActivation' | 'hiddenActivation',
  flag: 'inputActivation' | 'outputActivation',
  a: ResolvedActivation | undefined,
  where: string,
): void {
  if (a === undefined) return;
  if (!config[flag])
    throw new CellstateRangeError(
      ErrorCode.INVALID_OPTION,
      `${where}: ${flag}: false and ${key} both set that function (${flag}: false is ${key}: 'affine'); give one`,
    );
  if (isIdentity(a)) config[flag] = false;
  else if (a !== 'tanh') config[key] = a;
}

/** The gate blocks of weight_ih / weight_hh / the biases, in order: i (unless CIFG / NIG), f, g, o. */
function blocks(c: LSTMConfig): string[] {
  const b: string[] = [];
  if (c.inputGate && !c.coupled) b.push('i');
  if (c.forgetGate) b.push('f');
  b.push('g');
  if (c.outputGate) b.push('o');
  return b;
}

/** The peephole vectors of weight_ph, in order: i (unless CIFG / NIG), f, o. */
function peepholes(c: LSTMConfig): string[] {
  return c.peephole ? blocks(c).filter((b) => b !== 'g') : [];
}

function stateSize(c: Partial<LSTMConfig> & Pick<RecurrentConfig, 'hiddenSize'>): number {
  return typeof c.projSize === 'number' && c.projSize > 0 ? c.projSize : c.hiddenSize;
}

/** The LSTM's registry entry. */
export const lstm: CellSpec<LSTMConfig> = {
  name: 'lstm',
  title: 'LSTM',
  keys: [
    'projSize',
    'peephole',
    'coupled',
    'inputGate',
    'forgetGate',
    'outputGate',
    'inputActivation',
    'outputActivation',
    'layerNorm',
    'forgetBias',
    'gateActivation',
    'cellActivation',
    'hiddenActivation',
    'clip',
  ],

  resolve(r: OptionReader, common: RecurrentConfig, where: string): LSTMConfig {
    const config: LSTMConfig = {
      ...common,
      cell: 'lstm',
      projSize: r.int('projSize', 0, MAX_SIZE, 0),
      peephole: r.bool('peephole', false),
      coupled: r.bool('coupled', false),
      inputGate: r.bool('inputGate', true),
      forgetGate: r.bool('forgetGate', true),
      outputGate: r.bool('outputGate', true),
      inputActivation: r.bool('inputActivation', true),
      outputActivation: r.bool('outputActivation', true),
      layerNorm: r.bool('layerNorm', false),
      forgetBias: r.finite('forgetBias', 1),
    };
    const gate = readActivation(r, 'gateActivation', where);
    if (gate !== undefined && gate !== 'sigmoid') config.gateActivation = gate;
    setRole(
      config,
      'cellActivation',
      'inputActivation',
      readActivation(r, 'cellActivation', where),
      where,
    );
    setRole(
      config,
      'hiddenActivation',
      'outputActivation',
      readActivation(r, 'hiddenActivation', where),
      where,
    );
    const clip = readClip(r, where);
    if (clip !== undefined) config.clip = clip;
    const range = (message: string) =>
      new CellstateRangeError(ErrorCode.INVALID_OPTION, `${where}: ${message}`);
    if (config.projSize > 0 && config.projSize >= config.hiddenSize)
      throw range(
        `projSize must satisfy 0 < projSize < hiddenSize (${config.hiddenSize}) or be 0, got ${config.projSize}`,
      );
    if (config.coupled && !config.inputGate)
      throw range('coupled: true contradicts inputGate: false (CIFG derives the input gate)');
    if (config.coupled && !config.forgetGate)
      throw range('coupled: true contradicts forgetGate: false (CIFG needs the forget gate)');
    if (config.peephole && !config.inputGate && !config.forgetGate && !config.outputGate)
      throw range(
        'peephole: true contradicts inputGate, forgetGate and outputGate all false (no gate to peep into)',
      );
    return config;
  },

  nativeKeys: [
    'projSize',
    'peephole',
    'coupled',
    'inputGate',
    'forgetGate',
    'outputGate',
    'inputActivation',
    'outputActivation',
    'layerNorm',
    'gateActivation',
    'cellActivation',
    'hiddenActivation',
    'clip',
  ],
  initKeys: ['forgetBias'],
  cellState: true,
  stateSize,
  maxBlocks: 4,

  unitParameters(c: LSTMConfig, input: number): UnitParameter[] {
    const H = c.hiddenSize;
    const R = stateSize(c);
    const GH = blocks(c).length * H;
    const out: UnitParameter[] = [
      { name: 'weight_ih', shape: [GH, input] },
      { name: 'weight_hh', shape: [GH, R] },
      { name: 'bias_ih', shape: [GH] },
      { name: 'bias_hh', shape: [GH] },
    ];
    if (c.projSize > 0) out.push({ name: 'weight_hr', shape: [c.projSize, H] });
    const K = peepholes(c).length;
    if (K > 0) out.push({ name: 'weight_ph', shape: [K * H] });
    if (c.layerNorm)
      out.push(
        { name: 'ln_ih_weight', shape: [GH] },
        { name: 'ln_ih_bias', shape: [GH] },
        { name: 'ln_hh_weight', shape: [GH] },
        { name: 'ln_hh_bias', shape: [GH] },
        { name: 'ln_c_weight', shape: [H] },
        { name: 'ln_c_bias', shape: [H] },
      );
    return out;
  },

  summary: (c) => (c.projSize > 0 ? [`projSize ${c.projSize}`] : []),

  /** bias_ih's forget block = forgetBias and bias_hh's = 0; layerNorm's gains 1 and shifts 0. */
  initialize(c, params, table) {
    if (c.layerNorm)
      for (const p of table)
        if (p.name.startsWith('ln_'))
          params.fill(/^ln_\w+_weight_/.test(p.name) ? 1 : 0, p.offset, p.offset + p.size);
    if (!c.forgetGate) return;
    const H = c.hiddenSize;
    const f = blocks(c).indexOf('f') * H; // the f block's first row
    for (const p of table) {
      if (p.name.startsWith('bias_ih_')) params.fill(c.forgetBias, p.offset + f, p.offset + f + H);
      if (p.name.startsWith('bias_hh_')) params.fill(0, p.offset + f, p.offset + f + H);
    }
  },

  pytorch: {
    blocks: 4,
    projection: true,
    infer(tensor) {
      const out: Record<string, unknown> = {};
      const hr = tensor('weight_hr_l0');
      if (hr) out.projSize = hr.shape[0];
      if (tensor('weight_ph_l0')) out.peephole = true;
      // No PyTorch module has these; cellstate's own state_dicts of a layerNorm LSTM do.
      if (tensor('ln_ih_weight_l0')) out.layerNorm = true;
      return out;
    },
    guesses: () => [],
  },

  keras: {
    className: 'LSTM',
    blocks: 4,
    order: [0, 1, 2, 3], // Keras i, f, c, o = i, f, g, o
    options(get) {
      const act = String(get('activation') ?? 'tanh');
      const gateName = String(get('recurrent_activation') ?? 'hard_sigmoid'); // TF.js's default
      const gate = kerasActivation(gateName);
      if (!gate)
        return {
          refuse: `recurrentActivation '${gateName}'; cellstate's LSTM computes ${KERAS_ACTIVATION_NAMES}`,
        };
      const options: Record<string, unknown> = {};
      if (gate !== 'sigmoid') options.gateActivation = gate;
      // 'linear' applies to g and to the output: NIAF and NOAF
      if (act === 'linear')
        return {
          options: { ...options, inputActivation: false, outputActivation: false },
          biasRows: 1,
        };
      const fn = kerasActivation(act);
      if (!fn)
        return {
          refuse: `activation '${act}'; cellstate's LSTM computes ${KERAS_ACTIVATION_NAMES}`,
        };
      // Keras's activation is both the candidate's and the one applied to c_t
      if (fn !== 'tanh') {
        options.cellActivation = fn;
        options.hiddenActivation = fn;
      }
      return { options, biasRows: 1 };
    },
  },
  onnx: {
    op: 'LSTM',
    slots: 4,
    activations: 3,
    peepholes: 3,
    options(node) {
      const options: Record<string, unknown> = {};
      const acts = node.resolvedActivations;
      if (acts) {
        if (acts[0] !== 'sigmoid') options.gateActivation = acts[0];
        if (acts[1] !== 'tanh') options.cellActivation = acts[1];
        if (acts[2] !== 'tanh') options.hiddenActivation = acts[2];
      }
      if (node.clip !== undefined) options.clip = node.clip;
      if (node.int('input_forget', 0) === 1) {
        if (!complementary(acts?.[0]))
          throw node.refuse(
            `has input_forget 1 with the gate activation ${describeActivation(acts![0])}, for which f(−a) ≠ 1 − f(a): cellstate's CIFG (i = 1 − f) expresses input_forget only with Sigmoid, or HardSigmoid / Affine with β 0.5`,
          );
        options.coupled = true;
      }
      if (node.peephole) options.peephole = true;
      return options;
    },
    // ONNX slots i, o, f, c; with input_forget ONNX derives f = 1 − i, cellstate i = 1 − f, so
    // ONNX's i slot holds −f (σ(−a) = 1 − σ(a))
    gateSlots(c): OnnxSlot[] {
      const b = blocks(c);
      return [
        c.coupled
          ? { block: b.indexOf('f'), negate: true }
          : { block: b.indexOf('i'), negate: false },
        { block: b.indexOf('o'), negate: false },
        { block: b.indexOf('f'), negate: false },
        { block: b.indexOf('g'), negate: false },
      ];
    },
    // ONNX P = [p_i, p_o, p_f]
    peepholeSlots(c): OnnxSlot[] {
      const p = peepholes(c);
      if (p.length === 0) return [];
      return [
        c.coupled
          ? { block: p.indexOf('f'), negate: true }
          : { block: p.indexOf('i'), negate: false },
        { block: p.indexOf('o'), negate: false },
        { block: p.indexOf('f'), negate: false },
      ];
    },
    attributes(c, directions) {
      const attrs = [];
      if (c.coupled) attrs.push({ name: 'input_forget', int: 1 });
      if (c.gateActivation || c.cellActivation || c.hiddenActivation || c.clip !== undefined) {
        // Any other function: activation_alpha / _beta handed out in order to the functions
        // that take them (onnxruntime's reading).
        attrs.push(...onnxActivationAttributes(activationsOf(c), directions, c.clip));
      } else if (!(c.inputActivation && c.outputActivation)) {
        // NIAF / NOAF: g or h = Affine(x) = 1·x + 0. activation_alpha / _beta get one value per
        // activation (Sigmoid and Tanh ignore theirs), which reads the same whether a runtime
        // aligns them with every activation or hands them out to the ones that take them.
        const acts = [
          'Sigmoid',
          c.inputActivation ? 'Tanh' : 'Affine',
          c.outputActivation ? 'Tanh' : 'Affine',
        ];
        const all = new Array(directions).fill(acts).flat() as string[];
        attrs.push({ name: 'activations', strings: all });
        attrs.push({ name: 'activation_alpha', floats: all.map(() => 1) });
        attrs.push({ name: 'activation_beta', floats: all.map(() => 0) });
      }
      return attrs;
    },
    unexportable(c) {
      if (c.projSize > 0)
        return `projSize: ${c.projSize} cannot be exported: ONNX's LSTM operator has no projection`;
      for (const opt of ['inputGate', 'forgetGate', 'outputGate'] as const)
        if (!c[opt])
          return `${opt}: false cannot be exported: ONNX's LSTM operator always computes that gate`;
      if (c.layerNorm)
        return "layerNorm: true cannot be exported: ONNX's LSTM operator has no layer normalization (save() keeps it)";
      if (c.coupled && !complementary(c.gateActivation))
        return `coupled: true with gateActivation ${describeActivation(c.gateActivation!)} cannot be exported: ONNX's input_forget computes f = 1 − i from the i slot, which equals cellstate's i = 1 − f only for a gate function with f(−a) = 1 − f(a) (sigmoid, or hardSigmoid / affine with β 0.5)`;
      return null;
    },
  },
};
