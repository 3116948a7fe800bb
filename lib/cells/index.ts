// The cell registry: every recurrent cell cellstate has, by name, and what is computed from a
// cell's entry for any config (resolution, the parameter table and count, the native config).
// lib/layers/recurrent, lib/io, lib/stream and the worker read it; nothing else names a cell.
//
// Adding an option to a cell touches only that cell's file: its key in the options and config
// interfaces, `keys`, `resolve`, and (as they apply) `nativeKeys`, `initKeys`, `unitParameters`,
// `initialize`, `pytorch`, `onnx` and `keras`. Adding a cell: a new file beside lstm.ts, its entry in
// CELLS below, its class in lib/layers/recurrent.ts and its export in lib/index.ts.
import type { NativeConfig } from '../binding';
import { CellstateTypeError, ErrorCode, describe } from '../errors';
import { OptionReader } from '../options';
import {
  COMMON_INIT_KEYS,
  COMMON_KEYS,
  COMMON_NATIVE_KEYS,
  type CellSpec,
  type RecurrentConfig,
  type TableEntry,
  directionSuffixes,
  directionsOf,
  readCommon,
  withSeed,
} from './common';
import { gru } from './gru';
import { lstm } from './lstm';
import { rnn } from './rnn';

export * from './common';
export { type GRUConfig, type GRUOptions, gru } from './gru';
export { type LSTMConfig, type LSTMOptions, lstm } from './lstm';
export { type RNNConfig, type RNNOptions, rnn } from './rnn';

/** Every cell, in the order messages list them. */
export const CELLS: readonly CellSpec[] = Object.freeze([
  lstm as unknown as CellSpec,
  gru as unknown as CellSpec,
  rnn as unknown as CellSpec,
]);

/** The cell named `name` (a config's `cell`), or undefined. */
export function findCell(name: unknown): CellSpec | undefined {
  return CELLS.find((c) => c.name === name);
}

/** The cell whose ONNX operator is `op`, or undefined. */
export function cellOfOnnxOp(op: unknown): CellSpec | undefined {
  return CELLS.find((c) => c.onnx.op === op);
}

/** The cell whose dynamically quantized ONNX operator (onnxruntime's, `quantizedOp`) is `op`. */
export function cellOfQuantizedOnnxOp(op: unknown): CellSpec | undefined {
  return CELLS.find((c) => c.onnx.quantizedOp !== undefined && c.onnx.quantizedOp === op);
}

/** The cell of a config (already resolved, so known). */
export function cellOf(config: Pick<RecurrentConfig, 'cell'>): CellSpec {
  const spec = findCell(config.cell);
  if (!spec) throw new Error(`cellstate: no cell named ${describe(config.cell)}`);
  return spec;
}

/** The cells' names quoted, for messages: `'lstm', 'gru' or 'rnn'`. */
export function cellNames(): string {
  const q = CELLS.map((c) => `'${c.name}'`);
  return q.length > 1 ? `${q.slice(0, -1).join(', ')} or ${q[q.length - 1]}` : q[0];
}

/**
 * Resolves and validates a cell's options (its refusals included), drawing a seed when none is
 * given. `where` prefixes messages (default: the cell's title).
 */
export function resolveCell<C extends RecurrentConfig>(
  spec: CellSpec<C>,
  options: unknown,
  where = spec.title,
): C {
  const r = new OptionReader(options, where, [...COMMON_KEYS, ...spec.keys]);
  return withSeed(spec.resolve(r, readCommon(r, spec.name, where), where));
}

/**
 * Resolves a config by its `cell` (e.g. a stored one); throws a TypeError naming `where` when
 * `cell` is no cell's name.
 */
export function resolveConfig(config: unknown, where: string): RecurrentConfig {
  const cell = (config as { cell?: unknown } | null)?.cell;
  const spec = findCell(cell);
  if (!spec)
    throw new CellstateTypeError(
      ErrorCode.INVALID_OPTION,
      `${where}: cell must be ${cellNames()}, got ${describe(cell)}`,
    );
  return resolveCell(spec, config);
}

/** Size `R` of h (and of each direction's output). */
export function stateSize(c: RecurrentConfig): number {
  return cellOf(c).stateSize(c as never);
}

/** Features per step of the output, `D·R`. */
export function outputSize(c: RecurrentConfig): number {
  return directionsOf(c) * stateSize(c);
}

/**
 * The parameter table of a layer stack, in the kernel's order: per layer, per direction, the
 * cell's unit parameters named `<name>_l<layer>[_reverse]`, with offsets into the flat buffer.
 * Offsets and sizes are computed in doubles (exact far beyond any allowed count).
 */
export function parameterTable(c: RecurrentConfig): TableEntry[] {
  const spec = cellOf(c);
  const suffixes = directionSuffixes(c);
  const out: TableEntry[] = [];
  let offset = 0;
  for (let layer = 0; layer < c.numLayers; ++layer) {
    const input = layer === 0 ? c.inputSize : suffixes.length * spec.stateSize(c as never);
    for (const sfx of suffixes)
      for (const p of spec.unitParameters(c, input)) {
        const size = p.shape.reduce((a, b) => a * b, 1);
        out.push({ name: `${p.name}_l${layer}${sfx}`, shape: p.shape, offset, size });
        offset += size;
      }
  }
  return out;
}

/** The parameter count of a config, without building the table (a refused config may be huge). */
export function parameterCount(c: RecurrentConfig): number {
  const spec = cellOf(c);
  const D = directionsOf(c);
  const size = (input: number) =>
    spec.unitParameters(c, input).reduce((n, p) => n + p.shape.reduce((a, b) => a * b, 1), 0);
  // every layer after the first reads D·R features: one unit's count serves them all
  const rest = c.numLayers > 1 ? size(D * spec.stateSize(c as never)) : 0;
  return D * (size(c.inputSize) + (c.numLayers - 1) * rest);
}

/** The flat config the native layer is built from: the common native keys and the cell's. */
export function nativeConfig(c: RecurrentConfig): NativeConfig {
  const out: Record<string, string | number | boolean> = {};
  const src = c as unknown as Record<string, string | number | boolean>;
  // Optional keys (activations, clip) are in a config only when given.
  for (const key of [...COMMON_NATIVE_KEYS, ...cellOf(c).nativeKeys])
    if (src[key] !== undefined) out[key] = src[key];
  return out as unknown as NativeConfig;
}

/** The config keys that do not change what the layer computes (seed, dropout, forgetBias...). */
export function initKeys(c: Pick<RecurrentConfig, 'cell'>): string[] {
  return [...COMMON_INIT_KEYS, ...(findCell(c.cell)?.initKeys ?? [])];
}

/** `a` or `an` before a class name: an LSTM, a GRU, an RNN (letters), an Embedding, a Dense. */
export function article(name: string): string {
  const letters = /^[A-Z]+$/.test(name);
  return (letters ? /^[AEFHILMNORSX]/ : /^[AEIOU]/).test(name) ? 'an' : 'a';
}
