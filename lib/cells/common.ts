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
  /** `x`, `output` and their gradients are `[B, T, ·]` instead of `[T, B, ·]`. Default false. */
  batchFirst?: boolean | undefined;
  /** Dropout probability on the input of layers l > 0, training only; in [0, 1). Default 0. */
  dropout?: number | undefined;
  /** Seed of the initialisation and of the dropout masks, an unsigned 32-bit integer. Default: random (recorded in `config`). */
  seed?: number | undefined;
}

/** Resolved options common to every cell, plain JSON. */
export interface RecurrentConfig {
  /** The cell's registry name (lib/cells). */
  cell: string;
  inputSize: number;
  hiddenSize: number;
  numLayers: number;
  bidirectional: boolean;
  batchFirst: boolean;
  dropout: number;
  seed: number;
}

/** The option keys every cell accepts, in the order of `config`. */
export const COMMON_KEYS = [
  'cell',
  'inputSize',
  'hiddenSize',
  'numLayers',
  'bidirectional',
  'batchFirst',
  'dropout',
  'seed',
] as const;

/** The common keys the native kernel takes (batchFirst and seed stay in TypeScript). */
export const COMMON_NATIVE_KEYS = [
  'cell',
  'inputSize',
  'hiddenSize',
  'numLayers',
  'bidirectional',
  'dropout',
] as const;

/** Keys that do not change what a layer computes (training and initialisation only). */
export const COMMON_INIT_KEYS = ['seed', 'dropout'] as const;

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
  const bidirectional = r.bool('bidirectional', false);
  const batchFirst = r.bool('batchFirst', false);
  const dropout = r.number('dropout', 0, 1, 0);
  if (Math.fround(dropout) >= 1)
    throw new CellstateRangeError(
      ErrorCode.INVALID_OPTION,
      `${where}: dropout must be a number in [0, 1), got ${dropout} (1 in float32)`,
    );
  const seed = r.int('seed', 0, 0xffffffff, -1);
  return { cell, inputSize, hiddenSize, numLayers, bidirectional, batchFirst, dropout, seed };
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
  | { readonly name: string; readonly floats: readonly number[] };

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
}
