// The cellstate file: a safetensors file whose __metadata__ holds
//   format   "cellstate"
//   version  "1.0" (major.minor; a reader refuses a newer major)
//   config   the model's config as JSON (a layer's `config`, or a Sequential's { layers })
//   checksum "crc32:<8 hex digits>" of the data section, then config, then optimizer (UTF-8)
//   optimizer (optional) JSON { type, options, step } of the optimizer saved with the model
// and whose tensors are the model's parameters under their CELLS.md names (`weight_ih_l0`;
// `0.weight_ih_l0` in a Sequential), float32, followed by the optimizer's buffers as
// `optimizer.<parameter>.<buffer>` (`optimizer.0.weight_ih_l0.exp_avg`).
//
// A safetensors file without cellstate's metadata is read as a PyTorch state_dict (pytorch.ts).
import { randomBytes } from 'node:crypto';
import { open, readFile, rename, unlink } from 'node:fs/promises';
import path from 'node:path';

import { CellstateTypeError, ErrorCode, describe } from '../errors';
import { OptionReader } from '../options';
import { Tensor } from '../tensor';
import { Optimizer, type OptimizerState } from '../train/optimizers';
import { crc32Hex } from './crc32';
import { fromStateDict } from './pytorch';
import {
  checkModel,
  checkLoaded,
  configError,
  type LoadedModel,
  type Model,
  type ModelClass,
  readExpect,
  modelConfig,
  ALLOCATION_SLACK,
  modelFromConfig,
  parameterCountOf,
  setModelParameters,
} from './registry';
import {
  type SafetensorsContent,
  decodeSafetensors,
  encodeSafetensors,
  fileError,
} from './safetensors';

/** The format name in `__metadata__.format`. */
export const FORMAT = 'cellstate';
/** The format version written; a file whose major version is higher is refused. */
export const FORMAT_VERSION = '1.0';
const MAJOR = 1;
/** Prefix of the optimizer's tensors. */
const OPTIMIZER_PREFIX = 'optimizer.';

/** Options of save and toBuffer. */
export interface SaveOptions {
  /** Also store this optimizer's state (step count and buffers), so that training resumes exactly. Default: none. */
  optimizer?: Optimizer | undefined;
}

/** Options of load and fromBuffer. */
export interface LoadOptions {
  /**
   * For a PyTorch state_dict (a safetensors file without cellstate metadata): layer options
   * that complete or override what the shapes tell (`{ cell: 'rnn', nonlinearity: 'relu' }`),
   * or for a module of several layers `{ layers: [{ module: 'lstm', ... }, ...] }`. Refused
   * for a cellstate file, which carries its own configuration.
   */
  config?: Record<string, unknown> | undefined;
  /** Restore the optimizer state stored in the file into this optimizer (of the same type). */
  optimizer?: Optimizer | undefined;
  /**
   * The class the model must be (Sequential, LSTM, GRU, RNN, Dense, Embedding): another is
   * refused with ERR_CELLSTATE_FILE_CONFIG before anything else changes, and the result is typed
   * by it. Default: any.
   */
  expect?: ModelClass | undefined;
}

/** The bytes of a source given as a Buffer, Uint8Array or ArrayBuffer; null for anything else. */
function asBytes(value: unknown): Uint8Array | null {
  if (value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  return null;
}

/** The model (and optionally its optimizer) as the bytes of a cellstate file. */
export function toBuffer(model: Model, opts?: SaveOptions): Uint8Array {
  return encodeModel('toBuffer', model, opts);
}

/** Writes the cellstate file atomically: a temporary file beside `file`, synced, then renamed onto it. */
export async function save(model: Model, file: string, opts?: SaveOptions): Promise<void> {
  if (typeof file !== 'string' || file.length === 0)
    throw new CellstateTypeError(
      ErrorCode.INVALID_ARG,
      `save: path must be a non-empty string, got ${describe(file)}`,
    );
  const bytes = encodeModel('save', model, opts);
  await writeAtomic(file, bytes);
}

/** Writes `bytes` to `file` through a temporary file in the same directory and a rename. */
export async function writeAtomic(file: string, bytes: Uint8Array): Promise<void> {
  const tmp = path.join(
    path.dirname(file),
    `.${path.basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`,
  );
  const handle = await open(tmp, 'wx');
  try {
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, file);
  } catch (error) {
    await unlink(tmp).catch(() => undefined);
    throw error;
  }
}

/**
 * A model from a cellstate file, or from a PyTorch state_dict saved with safetensors. `source`
 * is a path or the file's bytes. A new model is created; nothing else changes on failure.
 */
export async function load<M extends LoadedModel>(
  source: string | Uint8Array | ArrayBuffer,
  opts: LoadOptions & { expect: ModelClass<M> },
): Promise<M>;
export async function load(
  source: string | Uint8Array | ArrayBuffer,
  opts?: LoadOptions,
): Promise<LoadedModel>;
export async function load(
  source: string | Uint8Array | ArrayBuffer,
  opts?: LoadOptions,
): Promise<LoadedModel> {
  const where = 'load';
  let bytes = asBytes(source);
  if (!bytes) {
    if (typeof source !== 'string' || source.length === 0)
      throw new CellstateTypeError(
        ErrorCode.INVALID_ARG,
        `${where}: source must be a path or the bytes of a file (Uint8Array, Buffer, ArrayBuffer), got ${describe(source)}`,
      );
    bytes = await readFile(source);
  }
  return decodeModel(where, bytes, opts);
}

/** The model in the bytes of a cellstate file or PyTorch safetensors state_dict (load, synchronously). */
export function fromBuffer<M extends LoadedModel>(
  bytes: Uint8Array | ArrayBuffer,
  opts: LoadOptions & { expect: ModelClass<M> },
): M;
export function fromBuffer(bytes: Uint8Array | ArrayBuffer, opts?: LoadOptions): LoadedModel;
export function fromBuffer(bytes: Uint8Array | ArrayBuffer, opts?: LoadOptions): LoadedModel {
  const b = asBytes(bytes);
  if (!b)
    throw new CellstateTypeError(
      ErrorCode.INVALID_ARG,
      `fromBuffer: bytes must be a Uint8Array, Buffer or ArrayBuffer, got ${describe(bytes)}`,
    );
  return decodeModel('fromBuffer', b, opts);
}

// ---- writing -------------------------------------------------------------------------------

function encodeModel(where: string, value: unknown, opts: unknown): Uint8Array {
  const model = checkModel(value, where);
  const o = new OptionReader(opts, where, ['optimizer'], ErrorCode.INVALID_ARG);
  const optimizer = o.raw('optimizer');
  if (optimizer !== undefined && !(optimizer instanceof Optimizer))
    throw new CellstateTypeError(
      ErrorCode.INVALID_ARG,
      `${where}: optimizer must be an Optimizer (new Adam(), ...), got ${describe(optimizer)}`,
    );
  const params = model.parameters();
  const tensors: [string, Tensor][] = Object.entries(params);
  const config = JSON.stringify(modelConfig(model));
  const metadata: Record<string, string> = { format: FORMAT, version: FORMAT_VERSION, config };
  let optimizerMeta = '';
  if (optimizer) {
    const state = optimizer.state();
    optimizerMeta = JSON.stringify({ type: state.type, options: state.options, step: state.step });
    metadata.optimizer = optimizerMeta;
    for (const [name, buffers] of Object.entries(state.buffers)) {
      const shape = Object.hasOwn(params, name) ? params[name].shape : undefined;
      for (const [buf, data] of Object.entries(buffers))
        tensors.push([
          `${OPTIMIZER_PREFIX}${name}.${buf}`,
          new Tensor(
            data,
            shape && shape.reduce((a, b) => a * b, 1) === data.length ? shape : [data.length],
          ),
        ]);
    }
  }
  // The checksum covers the data section (whose layout encodeSafetensors fixes from the
  // tensors alone), so it is computed on a first encoding and the header written once more.
  const draft = encodeSafetensors(tensors, metadata);
  metadata.checksum = checksum(dataSection(draft), config, optimizerMeta);
  return encodeSafetensors(tensors, metadata);
}

function dataSection(bytes: Uint8Array): Uint8Array {
  const n = new DataView(bytes.buffer, bytes.byteOffset, 8).getUint32(0, true);
  return bytes.subarray(8 + n);
}

/** The checksum of a cellstate file: CRC-32 of the data section, the config, '\\n' and the optimizer metadata. */
export function checksum(data: Uint8Array, config: string, optimizer: string): string {
  const text = new TextEncoder().encode(`${config}\n${optimizer}`);
  const all = new Uint8Array(data.length + text.length);
  all.set(data);
  all.set(text, data.length);
  return `crc32:${crc32Hex(all)}`;
}

// ---- reading -------------------------------------------------------------------------------

function decodeModel(where: string, bytes: Uint8Array, opts: unknown): LoadedModel {
  const o = new OptionReader(opts, where, ['config', 'optimizer', 'expect'], ErrorCode.INVALID_ARG);
  const expect = readExpect(where, o.raw('expect'));
  const config = o.raw('config');
  if (
    config !== undefined &&
    (config === null || typeof config !== 'object' || Array.isArray(config))
  )
    throw new CellstateTypeError(
      ErrorCode.INVALID_ARG,
      `${where}: config must be an object of layer options, got ${describe(config)}`,
    );
  const optimizer = o.raw('optimizer');
  if (optimizer !== undefined && !(optimizer instanceof Optimizer))
    throw new CellstateTypeError(
      ErrorCode.INVALID_ARG,
      `${where}: optimizer must be an Optimizer to restore the saved state into, got ${describe(optimizer)}`,
    );

  const content = decodeSafetensors(bytes, where);
  const meta = content.metadata;
  const format = meta?.format;
  if (format !== FORMAT) {
    if (meta && ('config' in meta || 'checksum' in meta || 'version' in meta))
      throw fileError(
        ErrorCode.FILE_HEADER,
        where,
        `__metadata__ has cellstate's keys but format ${format === undefined ? 'is missing' : JSON.stringify(format.slice(0, 40))} instead of "cellstate" (a corrupt file)`,
      );
    if (format !== undefined && format !== 'pt')
      throw fileError(
        ErrorCode.FILE_CONFIG,
        where,
        `__metadata__.format is ${JSON.stringify(format.slice(0, 40))}: neither a cellstate file nor a PyTorch state_dict ("pt")`,
      );
    if (optimizer)
      throw fileError(
        ErrorCode.FILE_MISSING_TENSOR,
        where,
        'a PyTorch state_dict holds no optimizer state to restore',
      );
    const model = fromStateDict(where, content, config as Record<string, unknown> | undefined);
    checkLoaded(where, model, expect);
    return model as LoadedModel;
  }
  if (config !== undefined)
    throw new CellstateTypeError(
      ErrorCode.INVALID_ARG,
      `${where}: config applies to PyTorch state_dicts; this is a cellstate file, which carries its own configuration`,
    );
  return decodeCellstate(
    where,
    content,
    meta as Record<string, string>,
    optimizer as Optimizer | undefined,
    expect,
  ) as LoadedModel;
}

function decodeCellstate(
  where: string,
  content: SafetensorsContent,
  meta: Record<string, string>,
  optimizer: Optimizer | undefined,
  expect: ModelClass | undefined,
): Model {
  const err = (code: ErrorCode, message: string) => fileError(code, where, message);
  const version = meta.version;
  const m = typeof version === 'string' ? /^(\d{1,6})\.(\d{1,6})$/.exec(version) : null;
  if (!m)
    throw err(
      ErrorCode.FILE_HEADER,
      `__metadata__.version must be "major.minor", got ${version === undefined ? 'nothing' : JSON.stringify(version.slice(0, 40))}`,
    );
  if (Number(m[1]) !== MAJOR)
    throw err(
      ErrorCode.FILE_VERSION,
      Number(m[1]) > MAJOR
        ? `the file has cellstate format version ${version}, newer than this cellstate reads (${MAJOR}.x); update cellstate to load it`
        : `the file has cellstate format version ${version}, older than this cellstate reads (${MAJOR}.x)`,
    );
  const configText = meta.config;
  if (typeof configText !== 'string')
    throw err(ErrorCode.FILE_CONFIG, '__metadata__.config is missing');
  const optimizerText = meta.optimizer ?? '';
  if (meta.checksum === undefined)
    throw err(
      ErrorCode.FILE_CHECKSUM,
      '__metadata__ has no checksum, which every cellstate file carries: the file is corrupt or was not written by cellstate',
    );
  const actual = checksum(content.data, configText, optimizerText);
  if (actual !== meta.checksum)
    throw err(
      ErrorCode.FILE_CHECKSUM,
      `the data and configuration do not match the checksum recorded when the file was saved (${JSON.stringify(meta.checksum.slice(0, 40))}, computed ${actual}): the file is corrupt`,
    );

  let configValue: unknown;
  try {
    configValue = JSON.parse(configText);
  } catch (e) {
    throw err(
      ErrorCode.FILE_CONFIG,
      `__metadata__.config is not valid JSON (${(e as Error).message})`,
    );
  }
  let saved: { type: string; options: Record<string, unknown>; step: number } | null = null;
  if (optimizerText !== '') {
    try {
      saved = JSON.parse(optimizerText);
    } catch (e) {
      throw err(
        ErrorCode.FILE_CONFIG,
        `__metadata__.optimizer is not valid JSON (${(e as Error).message})`,
      );
    }
    if (
      saved === null ||
      typeof saved !== 'object' ||
      typeof saved.type !== 'string' ||
      !Number.isSafeInteger(saved.step) ||
      saved.step < 0
    )
      throw err(ErrorCode.FILE_CONFIG, '__metadata__.optimizer must be { type, options, step }');
  }
  if (optimizer) {
    if (!saved)
      throw err(
        ErrorCode.FILE_MISSING_TENSOR,
        'the file holds no optimizer state (it was saved without { optimizer })',
      );
    if (saved.type !== optimizer.type)
      throw err(
        ErrorCode.FILE_CONFIG,
        `the file holds the state of a '${saved.type}' optimizer, but the optimizer given is '${optimizer.type}'`,
      );
  }

  // Split the optimizer's tensors from the parameters before building the model.
  const params = new Map<string, Tensor>();
  const optTensors = new Map<string, Tensor>();
  for (const [name, t] of content.tensors) {
    if (name.startsWith(OPTIMIZER_PREFIX)) {
      if (!saved)
        throw err(
          ErrorCode.FILE_UNKNOWN_TENSOR,
          `tensor '${name}' is optimizer state, but __metadata__ has no optimizer`,
        );
      optTensors.set(name.slice(OPTIMIZER_PREFIX.length), t);
    } else params.set(name, t);
  }

  // A config asking for far more than the file holds is refused before anything is allocated.
  const need = parameterCountOf(configValue);
  let have = 0;
  for (const t of params.values()) have += t.size;
  if (need > have + ALLOCATION_SLACK)
    throw err(
      ErrorCode.FILE_SHAPE,
      `the stored config describes a model of ${need} parameters, but the file's tensors hold ${have} values`,
    );
  let model: Model;
  try {
    model = modelFromConfig(configValue);
  } catch (e) {
    throw configError(where, 'the stored config', e);
  }
  checkLoaded(where, model, expect);
  setModelParameters(where, model, params);

  const state = saved && optimizerState(where, saved, optTensors, model);
  if (optimizer && state) optimizer.loadState(state);
  return model;
}

function optimizerState(
  where: string,
  saved: { type: string; options: Record<string, unknown>; step: number },
  tensors: Map<string, Tensor>,
  model: Model,
): OptimizerState {
  const params = model.parameters();
  const buffers: OptimizerState['buffers'] = {};
  for (const [key, t] of tensors) {
    const dot = key.lastIndexOf('.');
    const name = key.slice(0, dot);
    const buf = key.slice(dot + 1);
    const p = dot > 0 && Object.hasOwn(params, name) ? params[name] : undefined;
    if (!p || buf.length === 0)
      throw fileError(
        ErrorCode.FILE_UNKNOWN_TENSOR,
        where,
        `tensor '${OPTIMIZER_PREFIX}${key}' names no parameter of the model`,
      );
    if (t.size !== p.size)
      throw fileError(
        ErrorCode.FILE_SHAPE,
        where,
        `tensor '${OPTIMIZER_PREFIX}${key}' has ${t.size} elements, but parameter '${name}' has ${p.size}`,
      );
    (buffers[name] ??= {})[buf] = t.data;
  }
  return {
    type: saved.type as OptimizerState['type'],
    options: saved.options as OptimizerState['options'],
    step: saved.step,
    buffers,
  };
}
