// What can be saved, and how a model is rebuilt from its `config`: every layer kind has a plain
// JSON config (recurrent layers tell theirs by `cell`, the others by `type`) that its
// constructor accepts back, and a Sequential's config is `{ layers: [config, ...] }`.
import {
  CellstateError,
  CellstateRangeError,
  CellstateTypeError,
  ErrorCode,
  describe,
} from '../errors';
import { Dense } from '../layers/dense';
import { Dropout } from '../layers/dropout';
import { Embedding } from '../layers/embedding';
import {
  type RecurrentConfig,
  article,
  cellNames,
  findCell,
  parameterCount,
  resolveCell,
} from '../cells';
import { isLayer } from '../layers/layer';
import { Recurrent, recurrentFromConfig } from '../layers/recurrent';
import { MAX_CONFIG_DEPTH, MAX_MODEL_LAYERS, jsonDepth } from '../limits';
import type { TokensLike } from '../layers/batch';
import { Sequential, type SequentialLayer, type SequentialLayerConfig } from '../model/sequential';
import { Tensor, type TensorLike } from '../tensor';
import { fileError } from './safetensors';

/** What save, toBuffer and exportOnnx take: a Sequential or one layer (not a Dropout alone). */
export type Model = Sequential | SequentialLayer;

/** The config of a model: a Sequential's `{ layers, batchFirst? }` or one layer's config. */
export type ModelConfig =
  { layers: SequentialLayerConfig[]; batchFirst?: boolean } | Readonly<SequentialLayerConfig>;

/**
 * What load, fromBuffer and importOnnx return: the members every model they can return has
 * (a Sequential, an LSTM, GRU, RNN, Dense or Embedding). Narrow it with `instanceof`, or pass
 * `expect: LSTM` (any of those classes) to have the class checked and the result typed by it.
 */
export interface LoadedModel {
  /** The resolved options, plain JSON; `modelFromConfig(config)` rebuilds the model (new weights). */
  readonly config: ModelConfig;
  /** Features of the output. */
  readonly outputSize: number;
  /** Every parameter by name: copies. */
  parameters(): Record<string, Tensor>;
  /** One batch in the model's layout (see each class); `output` is the model's output. */
  forward(
    x: TensorLike | TokensLike,
    opts?: { lengths?: number[] | Int32Array | undefined },
  ): { output: Tensor };
  /** The output at inference (no dropout), in the model's layout. */
  predict(
    x: TensorLike | TokensLike,
    opts?: { lengths?: number[] | Int32Array | undefined },
  ): Tensor;
  /** Frees the model's native memory now; every later call throws ERR_CELLSTATE_DISPOSED. */
  dispose(): void;
}

/** A class load may be asked for (`expect`): Sequential, LSTM, GRU, RNN, Recurrent, Dense, Embedding. */
export type ModelClass<M extends LoadedModel = LoadedModel> = abstract new (...args: never[]) => M;

const LOADABLE = [Sequential, Recurrent, Dense, Embedding] as const;

/** Reads the `expect` option of load / fromBuffer / importOnnx: a model class, or undefined. */
export function readExpect(where: string, value: unknown): ModelClass | undefined {
  if (value === undefined) return undefined;
  if (
    typeof value === 'function' &&
    LOADABLE.some((c) => c === value || c.prototype.isPrototypeOf(value.prototype))
  )
    return value as ModelClass;
  throw new CellstateTypeError(
    ErrorCode.INVALID_ARG,
    `${where}: expect must be a model class (Sequential, LSTM, GRU, RNN, Dense or Embedding), got ${describe(value)}`,
  );
}

/**
 * The model read from a file, checked before anything else happens: a Dropout alone is not a
 * model (it has no parameters and no size), and with `expect` the model must be of that class
 * (both ERR_CELLSTATE_FILE_CONFIG).
 */
export function checkLoaded(where: string, model: Model, expect: ModelClass | undefined): void {
  const name = model.constructor.name;
  const kind = `${article(name)} ${name}`;
  if (model.outputSize === null)
    throw fileError(
      ErrorCode.FILE_CONFIG,
      where,
      'the file holds a Dropout layer alone, which is not a model (no parameters, no size)',
    );
  if (expect && !(model instanceof expect))
    throw fileError(
      ErrorCode.FILE_CONFIG,
      where,
      `the file holds ${kind}, not the ${expect.name} given as expect`,
    );
}

/** The cells' names for messages: `'lstm', 'gru', 'rnn'`. */
const CELL_LIST = cellNames().replace(' or ', ', ');

/** A layer from its config (`layer.config`); the constructor's own errors pass through. */
export function layerFromConfig(config: unknown): SequentialLayer {
  if (config === null || typeof config !== 'object' || Array.isArray(config))
    throw new CellstateTypeError(
      ErrorCode.INVALID_ARG,
      `layerFromConfig: config must be a layer's config object, got ${describe(config)}`,
    );
  const c = config as Record<string, unknown>;
  if ('cell' in c) {
    const layer = recurrentFromConfig(c);
    if (layer) return layer;
    throw new CellstateTypeError(
      ErrorCode.INVALID_OPTION,
      `layerFromConfig: cell must be ${cellNames()}, got ${describe(c.cell)}`,
    );
  }
  switch (c.type) {
    case 'dense':
      return new Dense(c as never);
    case 'embedding':
      return new Embedding(c as never);
    case 'dropout':
      return new Dropout(c as never);
  }
  throw new CellstateTypeError(
    ErrorCode.INVALID_OPTION,
    `layerFromConfig: a layer config needs cell (${CELL_LIST}) or type ('dense', 'embedding', 'dropout'), got ${'type' in c ? `type ${describe(c.type)}` : 'neither'}`,
  );
}

/**
 * A model from its config: `{ layers: [...] }` makes a Sequential (of at most MAX_MODEL_LAYERS
 * layers), anything else one layer.
 */
export function modelFromConfig(config: unknown): Model {
  if (config !== null && typeof config === 'object' && 'layers' in config) {
    const { layers, batchFirst } = config as { layers: unknown; batchFirst?: unknown };
    const keys = Object.keys(config);
    if (keys.some((k) => k !== 'layers' && k !== 'batchFirst'))
      throw new CellstateTypeError(
        ErrorCode.INVALID_OPTION,
        `modelFromConfig: a Sequential config has only 'layers' and 'batchFirst', got ${keys.map((k) => `'${k}'`).join(', ')}`,
      );
    if (!Array.isArray(layers))
      throw new CellstateTypeError(
        ErrorCode.INVALID_OPTION,
        `modelFromConfig: layers must be an array of layer configs, got ${describe(layers)}`,
      );
    if (layers.length > MAX_MODEL_LAYERS)
      throw new CellstateRangeError(
        ErrorCode.INVALID_OPTION,
        `modelFromConfig: layers has ${layers.length} layer configs, more than the limit of ${MAX_MODEL_LAYERS} (MAX_MODEL_LAYERS)`,
      );
    const built = layers.map((l) => layerFromConfig(l));
    return 'batchFirst' in config
      ? new Sequential(built, { batchFirst: batchFirst as boolean })
      : new Sequential(built);
  }
  return layerFromConfig(config);
}

/**
 * How many values a config may ask for beyond those a file holds before it is refused unbuilt:
 * small mismatches are then named precisely (missing tensor, shape) by the built model's
 * check, large ones never allocate.
 */
export const ALLOCATION_SLACK = 1 << 20;

/**
 * The parameter count a config describes, computed in doubles without building anything (so
 * that a file's config can be checked against the values the file really holds before a
 * model is allocated). A config its constructor would refuse counts 0 here: building it then
 * reports the real error.
 */
export function parameterCountOf(config: unknown): number {
  if (config === null || typeof config !== 'object') return 0;
  const c = config as Record<string, unknown>;
  // a Sequential's layers are layers, never Sequentials: one level, no recursion
  if (Array.isArray(c.layers))
    return c.layers.reduce(
      (n: number, l) =>
        n + (l !== null && typeof l === 'object' && !('layers' in l) ? parameterCountOf(l) : 0),
      0,
    );
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : 0);
  if (c.type === 'dense') return num(c.outputSize) * (num(c.inputSize) + 1);
  if (c.type === 'embedding') return num(c.numEmbeddings) * num(c.embeddingDim);
  const spec = findCell(c.cell);
  if (!spec) return 0;
  let r: RecurrentConfig;
  try {
    r = resolveCell(spec, { ...c, seed: 0 });
  } catch {
    return 0;
  }
  return parameterCount(r);
}

/**
 * Refuses a stored config (parsed JSON) nested deeper than MAX_CONFIG_DEPTH or describing more
 * than MAX_MODEL_LAYERS layers, before anything else reads it: `what` names it in the message.
 */
export function checkStoredConfig(
  where: string,
  what: string,
  config: unknown,
  code: ErrorCode = ErrorCode.FILE_CONFIG,
): void {
  const layers =
    config !== null && typeof config === 'object' ? (config as { layers?: unknown }).layers : null;
  if (Array.isArray(layers) && layers.length > MAX_MODEL_LAYERS)
    throw fileError(
      code,
      where,
      `${what} describes ${layers.length} layers, more than the limit of ${MAX_MODEL_LAYERS} (MAX_MODEL_LAYERS)`,
    );
  if (jsonDepth(config) < 0)
    throw fileError(
      code,
      where,
      `${what} is nested more than ${MAX_CONFIG_DEPTH} levels deep (MAX_CONFIG_DEPTH); a model's config nests 3`,
    );
}

/**
 * Whether `value` is a model this module can save; refuses anything else, naming `arg`. A Dropout
 * alone is refused: it has no parameters and no size (save the Sequential that holds it).
 */
export function checkModel(value: unknown, where: string, arg = 'model'): Model {
  // a layer without a size (a Dropout) passes its input through: no model alone
  if (value instanceof Sequential || (isLayer(value) && value.outputSize !== null))
    return value as Model;
  throw new CellstateTypeError(
    ErrorCode.INVALID_ARG,
    `${where}: ${arg} must be a Sequential, LSTM, GRU, RNN, Dense or Embedding, got ${describe(value)}` +
      (isLayer(value)
        ? ` (a ${value.layerType} alone has no parameters and no size: save the Sequential that holds it)`
        : ''),
  );
}

/** The model's config as plain JSON (a deep copy). */
export function modelConfig(model: Model): unknown {
  return JSON.parse(JSON.stringify(model.config));
}

/** Wraps a constructor's refusal of a stored config as a FILE_CONFIG error. */
export function configError(where: string, what: string, error: unknown): CellstateError {
  const message = error instanceof Error ? error.message : String(error);
  const e = new CellstateError(ErrorCode.FILE_CONFIG, `${where}: ${what} is invalid: ${message}`);
  (e as { cause?: unknown }).cause = error;
  return e;
}

/**
 * Checks `tensors` against the model's parameters (missing, unknown, shape) with FILE_* codes,
 * then sets them.
 */
export function setModelParameters(
  where: string,
  model: Model,
  tensors: Map<string, Tensor>,
): void {
  const expected = model.parameters();
  const missing = Object.keys(expected).filter((k) => !tensors.has(k));
  if (missing.length > 0)
    throw fileError(
      ErrorCode.FILE_MISSING_TENSOR,
      where,
      `the model needs ${listNames(missing)}, which the file does not hold`,
    );
  const unknown = [...tensors.keys()].filter((k) => !Object.hasOwn(expected, k));
  if (unknown.length > 0)
    throw fileError(
      ErrorCode.FILE_UNKNOWN_TENSOR,
      where,
      `the file holds ${listNames(unknown)}, which the model has no parameter for (it has ${listNames(Object.keys(expected))})`,
    );
  const record: Record<string, Tensor> = {};
  for (const [name, want] of Object.entries(expected)) {
    const t = tensors.get(name) as Tensor;
    if (t.shape.length !== want.shape.length || t.shape.some((d, i) => d !== want.shape[i]))
      throw fileError(
        ErrorCode.FILE_SHAPE,
        where,
        `tensor '${name}' has shape [${t.shape.join(', ')}], but the model's parameter is [${want.shape.join(', ')}]`,
      );
    record[name] = t;
  }
  model.setParameters(record);
}

function listNames(names: string[]): string {
  const shown = names.slice(0, 8).map((n) => `'${n.length > 60 ? `${n.slice(0, 60)}…` : n}'`);
  return (
    (names.length > 1 ? 'tensors ' : 'tensor ') +
    shown.join(', ') +
    (names.length > 8 ? ` and ${names.length - 8} more` : '')
  );
}
