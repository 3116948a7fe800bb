// What every recurrent cell shares, and the shape of a cell's registry entry (CellSpec). A cell
// (lstm.ts, gru.ts, rnn.ts) is one file that says everything cellstate's TypeScript side knows
// about it: its options and their resolution, its parameter table and initialisation, its state,
// which options go to the native kernel, and its PyTorch and ONNX mappings. Nothing outside
// lib/cells names a cell; everything reads this registry (lib/cells/index.ts).
import { CellstateRangeError, CellstateTypeError, ErrorCode, describe } from '../errors';
import type { OptionReader } from '../options';
import { randomSeed } from '../random';

/** Largest inputSize, hiddenSize and projSize (the kernel's limit). */
export const MAX_SIZE = 1 << 20;
/** Largest numLayers (the kernel's limit). */
export const MAX_LAYERS = 1024;

/** Options of every recurrent layer. */
export interface RecurrentOptions {
  /** Features of the input at each time step, `I`. Required; an integer in [1, 2^20]. */
  inputSize: number;
  /** Hidden units of each layer and direction, `H`. Required; an integer in [1, 2^20]. */
  hiddenSize: number;
  /** Stacked layers, `L`; layer l > 0 reads layer l − 1's output. Default 1. */
  numLayers?: number | undefined;
  /** Run a second, reverse direction and concatenate its output (`D = 2`). Default false. */
  bidirectional?: boolean | undefined;
  /**
   * The directions (ONNX's `direction`): `'forward'`, `'reverse'` (one direction that runs
   * `t = len_b − 1 … 0`, `D = 1`; its parameters are named without `_reverse`; it cannot stream)
   * or `'bidirectional'` (the same as `bidirectional: true`). Default `'forward'`, or
   * `'bidirectional'` with `bidirectional: true`; the two options must agree when both are given.
   */
  direction?: Direction | undefined;
  /** `x`, `output` and their gradients are `[B, T, ·]` instead of `[T, B, ·]`. Default false. */
  batchFirst?: boolean | undefined;
  /** Dropout probability on the input of layers l > 0, training only; in [0, 1). Default 0. */
  dropout?: number | undefined;
  /**
   * Recurrent dropout (Keras's `recurrent_dropout`, Gal & Ghahramani 2016), training only: the
   * probability in [0, 1) of zeroing each element of `h_{t−1}` where it enters the recurrent
   * product(s) `W_hh·h_{t−1}` (with `resetAfter: false`, a GRU's `W_hn·(r ⊙ h_{t−1})` too), the
   * others scaled by 1/(1 − p). One mask per sequence and per layer and direction, the same at
   * every time step, a new one per training call (drawn from `seed` and the call count); the
   * state carried to the next step (an LSTM's `c`, a GRU's `z ⊙ h`) is not masked. With a
   * projection the mask is on the `projSize` state. Inference (`forward` without `train`,
   * `predict`, streams) ignores it. Default 0.
   */
  recurrentDropout?: number | undefined;
  /**
   * Input dropout (Keras's `dropout` on a recurrent layer), training only: the probability in
   * [0, 1) of zeroing each feature of the layer's input `x_t` (of its first layer when
   * `numLayers > 1`), the others scaled by 1/(1 − p), with one mask per sequence that is the same
   * at every time step (unlike `dropout`, which is between stacked layers, PyTorch's, and draws
   * new values at every step). Inference ignores it. Default 0.
   */
  inputDropout?: number | undefined;
  /** Seed of the initialisation and of the dropout masks, an unsigned 32-bit integer. Default: random (recorded in `config`). */
  seed?: number | undefined;
}

/** The directions of a recurrent layer (ONNX's `direction` attribute). */
export type Direction = 'forward' | 'reverse' | 'bidirectional';
/** The values of {@link Direction}. */
export const DIRECTIONS: readonly Direction[] = ['forward', 'reverse', 'bidirectional'];

/** Resolved options common to every cell, plain JSON. */
export interface RecurrentConfig {
  /** The cell's registry name (lib/cells). */
  cell: string;
  inputSize: number;
  hiddenSize: number;
  numLayers: number;
  bidirectional: boolean;
  /** `'bidirectional'` exactly when `bidirectional` is true. */
  direction: Direction;
  batchFirst: boolean;
  dropout: number;
  recurrentDropout: number;
  inputDropout: number;
  seed: number;
}

/** The option keys every cell accepts, in the order of `config`. */
export const COMMON_KEYS = [
  'cell',
  'inputSize',
  'hiddenSize',
  'numLayers',
  'bidirectional',
  'direction',
  'batchFirst',
  'dropout',
  'recurrentDropout',
  'inputDropout',
  'seed',
] as const;

/** The common keys the native kernel takes (batchFirst and seed stay in TypeScript). */
export const COMMON_NATIVE_KEYS = [
  'cell',
  'inputSize',
  'hiddenSize',
  'numLayers',
  'bidirectional',
  'direction',
  'dropout',
  'recurrentDropout',
  'inputDropout',
] as const;

/** Keys that do not change what a layer computes (training and initialisation only). */
export const COMMON_INIT_KEYS = ['seed', 'dropout', 'recurrentDropout', 'inputDropout'] as const;

/** Reads the common options (seed -1 when absent: {@link withSeed} draws it). */
export function readCommon(r: OptionReader, cell: string, where: string): RecurrentConfig {
  const given = r.raw('cell');
  if (given !== undefined && given !== cell)
    throw new CellstateTypeError(
      ErrorCode.INVALID_OPTION,
      `${where}: cell must be '${cell}' when given, got ${describe(given)}`,
    );
  const inputSize = r.int('inputSize', 1, MAX_SIZE);
  const hiddenSize = r.int('hiddenSize', 1, MAX_SIZE);
  const numLayers = r.int('numLayers', 1, MAX_LAYERS, 1);
  const givenBidirectional = r.bool('bidirectional', false);
  const direction = r.choice(
    'direction',
    DIRECTIONS,
    givenBidirectional ? 'bidirectional' : 'forward',
  );
  if (
    r.raw('bidirectional') !== undefined &&
    givenBidirectional !== (direction === 'bidirectional')
  )
    throw new CellstateTypeError(
      ErrorCode.INVALID_OPTION,
      `${where}: direction '${direction}' contradicts bidirectional: ${givenBidirectional}`,
    );
  const bidirectional = direction === 'bidirectional';
  const batchFirst = r.bool('batchFirst', false);
  // Probabilities in [0, 1) that stay below 1 in float32 (the kernel's type).
  const probability = (key: string): number => {
    const p = r.number(key, 0, 1, 0);
    if (Math.fround(p) >= 1)
      throw new CellstateRangeError(
        ErrorCode.INVALID_OPTION,
        `${where}: ${key} must be a number in [0, 1), got ${p} (1 in float32)`,
      );
    return p;
  };
  const dropout = probability('dropout');
  const recurrentDropout = probability('recurrentDropout');
  const inputDropout = probability('inputDropout');
  const seed = r.int('seed', 0, 0xffffffff, -1);
  return {
    cell,
    inputSize,
    hiddenSize,
    numLayers,
    bidirectional,
    direction,
    batchFirst,
    dropout,
    recurrentDropout,
    inputDropout,
    seed,
  };
}

/** The config with a random seed drawn when none was given. */
export function withSeed<C extends RecurrentConfig>(config: C): C {
  return config.seed === -1 ? { ...config, seed: randomSeed() } : config;
}

/** Directions `D` of a config. */
export function directionsOf(c: Pick<RecurrentConfig, 'bidirectional'>): number {
  return c.bidirectional ? 2 : 1;
}

/** The parameter-name suffix of each direction, in the kernel's order (`''`, `'_reverse'`). */
export function directionSuffixes(c: Pick<RecurrentConfig, 'bidirectional'>): string[] {
  return c.bidirectional ? ['', '_reverse'] : [''];
}

/** One parameter of one layer and direction: its name without `_l<k>[_reverse]`, and shape. */
export interface UnitParameter {
  readonly name: string;
  readonly shape: readonly number[];
}

/** One entry of a layer stack's parameter table (offsets into the flat buffer). */
export interface TableEntry {
  readonly name: string;
  readonly shape: readonly number[];
  readonly offset: number;
  readonly size: number;
}

/** A permutation between cellstate's gate blocks and an ONNX operator's slots. */
export interface OnnxSlot {
  /** Index of cellstate's block (or peephole vector) this ONNX slot holds. */
  readonly block: number;
  /** The ONNX slot holds the negated block (CIFG: ONNX couples f = 1 − i, cellstate i = 1 − f). */
  readonly negate: boolean;
}

/** One attribute of an exported ONNX node, format-neutral (lib/io/onnx-export writes it). */
export type OnnxAttribute =
  | { readonly name: string; readonly int: number }
  | { readonly name: string; readonly strings: readonly string[] }
  | { readonly name: string; readonly floats: readonly number[] }
  | { readonly name: string; readonly float: number };

/** What lib/io/onnx-import tells a cell about one of its nodes. */
export interface OnnxNodeView {
  /** The activations of one direction (lowercase; the directions agree), or null (defaults). */
  readonly activations: readonly string[] | null;
  /** An integer attribute, `fallback` when absent. */
  int(name: string, fallback: number): number;
  /** Whether the node has a peephole input P. */
  readonly peephole: boolean;
  /** The refusal of the node, `message` saying why (throw it). */
  refuse(message: string): Error;
  /** The refusal of activations the cell's options do not express (throw it). */
  badActivations(): Error;
  /** The activations of one direction with their α / β (onnxruntime's reading), or null. */
  readonly resolvedActivations: readonly ResolvedActivation[] | null;
  /** The `clip` attribute, undefined when absent. */
  readonly clip: number | undefined;
}

/** A cell's ONNX mapping (the operator of the same name, opset 14). */
export interface OnnxMapping<C extends RecurrentConfig> {
  /** The operator: 'LSTM', 'GRU', 'RNN'. */
  readonly op: string;
  /** Gate slots of the operator's W, R and B (4, 3, 1). */
  readonly slots: number;
  /** Activations per direction of the operator's `activations` attribute. */
  readonly activations: number;
  /** Slots of the operator's peephole input P (3 for an LSTM), 0 when it has none. */
  readonly peepholes: number;
  /** Options a node's attributes give (throwing node.refuse / badActivations for what the cell cannot compute). */
  options(node: OnnxNodeView): Record<string, unknown>;
  /** For each ONNX gate slot, the block it holds: export writes it, import reads each block from its first slot. */
  gateSlots(c: C): readonly OnnxSlot[];
  /** As gateSlots for the peephole vectors (P), when the config has them. */
  peepholeSlots(c: C): readonly OnnxSlot[];
  /** The attributes of the exported node besides hidden_size and direction. */
  attributes(c: C, directions: number): OnnxAttribute[];
  /** Why ONNX cannot express this config (e.g. `projSize: 3 cannot be exported: ...`), or null. */
  unexportable(c: C): string | null;
}

/** What a Keras / TF.js recurrent layer of a cell becomes (lib/io/tfjs.ts). */
export interface KerasMapping {
  /** The Keras layer class: 'LSTM', 'GRU', 'SimpleRNN'. */
  readonly className: string;
  /** Gate blocks of the kernels `[I, blocks·H]` (4, 3, 1). */
  readonly blocks: number;
  /** For each of cellstate's blocks, in order, the Keras block it is (LSTM i, f, c, o = i, f, g, o). */
  readonly order: readonly number[];
  /**
   * The cell's options for a layer config (read by snake_case key, `null` when absent), and the
   * rows of its bias (1: `[blocks·H]`, the input bias; 2: `[2, blocks·H]`, input and recurrent);
   * or why the cell cannot compute it (`activation 'elu'; …`).
   */
  options(
    get: (key: string) => unknown,
  ): { options: Record<string, unknown>; biasRows: 1 | 2 } | { refuse: string };
}

/** A cell's PyTorch mapping (`nn.LSTM` / `nn.GRU` / `nn.RNN` state_dicts; the names are the same). */
export interface PyTorchMapping {
  /** Gate blocks of PyTorch's weight_hh_l0 (4, 3, 1): how a file's cell is told without config. */
  readonly blocks: number;
  /** Whether the cell may have a projection (weight_hr_l0, which then sets hiddenSize). */
  readonly projection: boolean;
  /** Options the tensors of layer 0 tell (e.g. projSize from weight_hr_l0). */
  infer(
    tensor: (name: string) => { readonly shape: readonly number[] } | undefined,
  ): Record<string, unknown>;
  /** What the import assumed because a state_dict does not record it (warned), given the user's options. */
  guesses(given: Record<string, unknown>, module: string): string[];
}

/**
 * One cell's registry entry: everything the TypeScript side knows about it. `C` is its resolved
 * config. See lib/cells/lstm.ts for a complete example and CONTRIBUTING.md for adding a cell.
 */
export interface CellSpec<C extends RecurrentConfig = RecurrentConfig> {
  /** The `cell` of configs and files: 'lstm'. */
  readonly name: string;
  /** Its name in messages and class names: 'LSTM'. */
  readonly title: string;
  /** The cell's own option keys (after COMMON_KEYS), in the order of `config`. */
  readonly keys: readonly string[];
  /**
   * Reads and validates the cell's own options from `r` (which refuses unknown keys) and returns
   * the complete config: `{ ...common, <the cell's keys> }`. `where` prefixes messages.
   */
  resolve(r: OptionReader, common: RecurrentConfig, where: string): C;
  /** The cell's keys (beyond COMMON_NATIVE_KEYS) that the native kernel takes. */
  readonly nativeKeys: readonly string[];
  /** The cell's keys that do not change what the layer computes (initialisation only). */
  readonly initKeys: readonly string[];
  /** Whether the state holds a cell state `c` `[L·D, B, H]` beside `h` (LSTM). */
  readonly cellState: boolean;
  /** Size `R` of h (and of each direction's output); tolerates an unresolved config. */
  stateSize(c: Partial<C> & Pick<RecurrentConfig, 'hiddenSize'>): number;
  /** Gate blocks of the full cell (4, 3, 1): the stream workspace's pre-activations per unit. */
  readonly maxBlocks: number;
  /** The parameters of one layer and direction reading `input` features, in the kernel's order. */
  unitParameters(c: C, input: number): UnitParameter[];
  /** The cell's options that shape the layer, for summary() (an LSTM's `projSize 3`). */
  summary(c: C): string[];
  /** Changes the initial parameters (PyTorch's uniform init, already drawn) in place. */
  initialize?(c: C, params: Float32Array, table: readonly TableEntry[]): void;
  readonly pytorch: PyTorchMapping;
  readonly onnx: OnnxMapping<C>;
  readonly keras: KerasMapping;
}

// ---- activation functions and clip (docs/cells.md, "Activation functions and clipping") ----

/** The activation functions, ONNX's list. */
export const ACTIVATION_NAMES = [
  'sigmoid',
  'tanh',
  'relu',
  'hardSigmoid',
  'leakyRelu',
  'thresholdedRelu',
  'scaledTanh',
  'affine',
  'elu',
  'softsign',
  'softplus',
] as const;

/** The name of an activation function of docs/cells.md. */
export type ActivationName = (typeof ACTIVATION_NAMES)[number];

/**
 * An activation function: its name, or its name with the parameters it takes (`hardSigmoid`
 * α 0.2, β 0.5; `leakyRelu` α 0.01; `thresholdedRelu` α 1; `scaledTanh` α 1, β 1; `affine`
 * α 1, β 0; `elu` α 1; the others take none).
 */
export type CellActivation =
  | ActivationName
  | { readonly name: ActivationName; readonly alpha?: number; readonly beta?: number };

/** An activation as `config` holds it: the name alone for the functions without parameters,
 * else the name with every parameter the function takes. */
export type ResolvedActivation =
  | ActivationName
  | { readonly name: ActivationName; readonly alpha: number; readonly beta?: number };

/** The parameters each function takes and their defaults ([α, β]; undefined: not taken). */
const ACTIVATION_PARAMS: Record<ActivationName, readonly [number?, number?]> = {
  sigmoid: [],
  tanh: [],
  relu: [],
  hardSigmoid: [0.2, 0.5],
  leakyRelu: [0.01],
  thresholdedRelu: [1],
  scaledTanh: [1, 1],
  affine: [1, 0],
  elu: [1],
  softsign: [],
  softplus: [],
};

/** ONNX's names of the functions. */
export const ONNX_ACTIVATION_NAMES: Record<ActivationName, string> = {
  sigmoid: 'Sigmoid',
  tanh: 'Tanh',
  relu: 'Relu',
  hardSigmoid: 'HardSigmoid',
  leakyRelu: 'LeakyRelu',
  thresholdedRelu: 'ThresholdedRelu',
  scaledTanh: 'ScaledTanh',
  affine: 'Affine',
  elu: 'Elu',
  softsign: 'Softsign',
  softplus: 'Softplus',
};

/** The name of a resolved activation. */
export function activationName(a: ResolvedActivation): ActivationName {
  return typeof a === 'string' ? a : a.name;
}

/** The activation's α and β (defaults filled in; 0 for a parameter it does not take). */
export function activationParams(a: ResolvedActivation): [number, number] {
  if (typeof a === 'string') return [0, 0];
  return [a.alpha, a.beta ?? 0];
}

/** Whether a is affine with α 1 and β 0 (the identity: NIAF / NOAF). */
export function isIdentity(a: ResolvedActivation): boolean {
  return typeof a !== 'string' && a.name === 'affine' && a.alpha === 1 && a.beta === 0;
}

/** The activation built from a name and (for the functions that take them) α and β. */
export function makeActivation(
  name: ActivationName,
  alpha?: number,
  beta?: number,
): ResolvedActivation {
  const [da, db] = ACTIVATION_PARAMS[name];
  if (da === undefined) return name;
  const out: { name: ActivationName; alpha: number; beta?: number } = {
    name,
    alpha: alpha ?? da,
  };
  if (db !== undefined) out.beta = beta ?? db;
  return out;
}

/** Reads an activation option (`undefined` when absent). A name or `{ name, alpha?, beta? }`;
 * a parameter the function does not take, another field, a non-finite value: refused. */
export function readActivation(
  r: OptionReader,
  key: string,
  where: string,
): ResolvedActivation | undefined {
  const v = r.raw(key);
  if (v === undefined) return undefined;
  const names = ACTIVATION_NAMES.map((n) => `'${n}'`).join(', ');
  const type = (what: string) =>
    new CellstateTypeError(ErrorCode.INVALID_OPTION, `${where}: ${key} ${what}`);
  const range = (what: string) =>
    new CellstateRangeError(ErrorCode.INVALID_OPTION, `${where}: ${key} ${what}`);
  const known = (n: unknown): n is ActivationName =>
    typeof n === 'string' && (ACTIVATION_NAMES as readonly string[]).includes(n);
  if (typeof v === 'string') {
    if (!known(v)) throw type(`must be one of ${names}, got ${describe(v)}`);
    return makeActivation(v);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v))
    throw type(`must be an activation name or { name, alpha?, beta? }, got ${describe(v)}`);
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o))
    if (!['name', 'alpha', 'beta'].includes(k))
      throw type(`has an unknown field '${k}' (an activation is { name, alpha?, beta? })`);
  if (!known(o.name)) throw type(`.name must be one of ${names}, got ${describe(o.name)}`);
  const [da, db] = ACTIVATION_PARAMS[o.name];
  for (const [field, taken] of [
    ['alpha', da !== undefined],
    ['beta', db !== undefined],
  ] as const) {
    const p = o[field];
    if (p === undefined) continue;
    if (!taken) throw type(`: ${o.name} takes no ${field}`);
    if (typeof p !== 'number') throw type(`.${field} must be a number, got ${describe(p)}`);
    if (!Number.isFinite(p) || !Number.isFinite(Math.fround(p)))
      throw range(`.${field} must be a finite number, got ${describe(p)}`);
  }
  return makeActivation(o.name, o.alpha as number | undefined, o.beta as number | undefined);
}

/** Reads `clip` (undefined when absent): a finite number > 0. */
export function readClip(r: OptionReader, where: string): number | undefined {
  const v = r.raw('clip');
  if (v === undefined) return undefined;
  if (typeof v !== 'number')
    throw new CellstateTypeError(
      ErrorCode.INVALID_OPTION,
      `${where}: clip must be a number, got ${describe(v)}`,
    );
  if (!(v > 0) || !Number.isFinite(Math.fround(v)))
    throw new CellstateRangeError(
      ErrorCode.INVALID_OPTION,
      `${where}: clip must be a finite number > 0, got ${describe(v)}`,
    );
  return v;
}

/**
 * ONNX's `activations` with `activation_alpha` / `activation_beta` as onnxruntime reads them:
 * each function that takes α (then β) consumes the next value in order; when the values run out,
 * onnxruntime's defaults (LeakyRelu 0.01, HardSigmoid 0.2 / 0.5, Elu 1, else 0). Names are
 * matched ignoring case; null for an unknown name.
 */
export function parseOnnxActivations(
  names: readonly string[],
  alphas: readonly number[],
  betas: readonly number[],
): ResolvedActivation[] | null {
  const ortDefault: Partial<Record<ActivationName, [number, number]>> = {
    leakyRelu: [0.01, 0],
    hardSigmoid: [0.2, 0.5],
    elu: [1, 0],
  };
  let ia = 0;
  let ib = 0;
  const out: ResolvedActivation[] = [];
  for (const raw of names) {
    const name = ACTIVATION_NAMES.find((n) => n.toLowerCase() === raw.toLowerCase());
    if (!name) return null;
    const [da, db] = ACTIVATION_PARAMS[name];
    const [oa, ob] = ortDefault[name] ?? [0, 0];
    const alpha = da === undefined ? undefined : ia < alphas.length ? alphas[ia++] : oa;
    const beta = db === undefined ? undefined : ib < betas.length ? betas[ib++] : ob;
    out.push(makeActivation(name, alpha, beta));
  }
  return out;
}

/** ONNX attributes for the activations of every direction (onnxruntime's order of α / β). */
export function onnxActivationAttributes(
  perDirection: readonly ResolvedActivation[],
  directions: number,
  clip: number | undefined,
): OnnxAttribute[] {
  const all = new Array(directions).fill(perDirection).flat() as ResolvedActivation[];
  const alphas: number[] = [];
  const betas: number[] = [];
  for (const a of all) {
    if (typeof a === 'string') continue;
    alphas.push(a.alpha);
    if (a.beta !== undefined) betas.push(a.beta);
  }
  const attrs: OnnxAttribute[] = [
    { name: 'activations', strings: all.map((a) => ONNX_ACTIVATION_NAMES[activationName(a)]) },
  ];
  if (alphas.length) attrs.push({ name: 'activation_alpha', floats: alphas });
  if (betas.length) attrs.push({ name: 'activation_beta', floats: betas });
  if (clip !== undefined) attrs.push({ name: 'clip', float: clip });
  return attrs;
}

/**
 * Keras / TF.js activation names (snake_case, as lib/io/tfjs.ts reads them) and the functions
 * they are: TF.js 4.x computes `hard_sigmoid` as clip(0.2·x + 0.5, 0, 1) (ONNX's HardSigmoid
 * α 0.2, β 0.5; Keras 3's x/6 + 0.5 is not this), `linear` as x (affine α 1, β 0), `elu` with
 * α 1. Others (selu, relu6, gelu, swish, mish, softmax) have no cell function.
 */
const KERAS_ACTIVATIONS: Record<string, ResolvedActivation> = {
  sigmoid: 'sigmoid',
  tanh: 'tanh',
  relu: 'relu',
  hard_sigmoid: makeActivation('hardSigmoid', 0.2, 0.5),
  linear: makeActivation('affine', 1, 0),
  elu: makeActivation('elu', 1),
  softsign: 'softsign',
  softplus: 'softplus',
};

/** The Keras activation names a recurrent cell computes, for messages. */
export const KERAS_ACTIVATION_NAMES = Object.keys(KERAS_ACTIVATIONS)
  .map((n) => `'${n}'`)
  .join(', ');

/** The cell function of a Keras activation name (`hard_sigmoid`), or null when there is none. */
export function kerasActivation(name: unknown): ResolvedActivation | null {
  return typeof name === 'string' && Object.hasOwn(KERAS_ACTIVATIONS, name)
    ? KERAS_ACTIVATIONS[name]
    : null;
}

/** The keys a `config` holds only when they are not at their default (the activation roles and
 * `clip`); every other key of a cell is always present. */
export const OPTIONAL_KEYS: readonly string[] = [
  'gateActivation',
  'cellActivation',
  'hiddenActivation',
  'clip',
];
