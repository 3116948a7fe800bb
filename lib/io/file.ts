// The cellstate file: a safetensors file whose __metadata__ holds
//   checksum "crc32:<8 hex digits>": the CRC-32 of every byte of the file, the 8 digits read as
//            "00000000" (see fileChecksum); it is the first key of __metadata__, which is the
//            first key of the header, so it sits at a fixed offset (CHECKSUM_AT)
//   format   "cellstate"
//   version  "2.0" (major.minor; a reader refuses a major it does not know)
//   config   the model's config as JSON (a layer's `config`, or a Sequential's { layers })
//   optimizer (optional) JSON { type, options, step } of the optimizer saved with the model
// and whose tensors are the model's parameters under their docs/cells.md names (`weight_ih_l0`;
// `0.weight_ih_l0` in a Sequential), float32, followed by the optimizer's buffers as
// `optimizer.<parameter>.<buffer>` (`optimizer.0.weight_ih_l0.exp_avg`).
//
// Format 1.x (cellstate 0.1) had the same layout, but its checksum covered only the data section,
// the config and the optimizer metadata (not the tensor names, shapes or offsets): such files
// are still read, checked with that checksum (legacyChecksum); saving them again writes 2.0.
//
// A safetensors file without cellstate's metadata is read as a PyTorch state_dict (pytorch.ts).
import { randomBytes } from 'node:crypto';
import { lstat, open, rename, unlink } from 'node:fs/promises';
import path from 'node:path';

import { CellstateRangeError, CellstateTypeError, ErrorCode, describe } from '../errors';
import { MAX_CONFIG_DEPTH, jsonDepth } from '../limits';
import { OptionReader } from '../options';
import { Tensor } from '../tensor';
import {
  OPTIMIZER_BUFFERS,
  Optimizer,
  type OptimizerName,
  type OptimizerState,
  bufferProblem,
  stepProblem,
} from '../train/optimizers';
import { CRC32_INIT, crc32Final, crc32Hex, crc32Update, hex8 } from './crc32';
import { fromStateDict } from './pytorch';
import {
  checkModel,
  checkStoredConfig,
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
  type SafetensorsHeader,
  decodeSafetensors,
  encodeSafetensors,
  fileError,
} from './safetensors';
import { readSafetensorsFile } from './read';
import {
  QUANTIZATION,
  applyQuantized,
  quantizedTensors,
  readQuantizedTensors,
} from './quantized-file';

/** The format name in `__metadata__.format`. */
export const FORMAT = 'cellstate';
/** The format version written. Files of major version 1 and 2 are read; any other is refused. */
export const FORMAT_VERSION = '2.0';
/** The format version of a quantized model's file (int8 weights: I8 tensors and their scales). */
export const QUANTIZED_FORMAT_VERSION = '2.1';
const MAJOR = 2;
/** The oldest major version read (1.x: the checksum covers data, config and optimizer only). */
const OLDEST_MAJOR = 1;
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

/**
 * Writes the cellstate file atomically (see writeAtomic): a reader sees the old file or the new
 * one, never a mix, whatever fails and however many saves run at once.
 */
export async function save(model: Model, file: string, opts?: SaveOptions): Promise<void> {
  if (typeof file !== 'string' || file.length === 0)
    throw new CellstateTypeError(
      ErrorCode.INVALID_ARG,
      `save: path must be a non-empty string, got ${describe(file)}`,
    );
  const bytes = encodeModel('save', model, opts);
  await writeAtomic(file, bytes, 'save');
}

/**
 * Writes `bytes` to `file` atomically: into a new temporary file beside it (same directory),
 * fsynced, renamed onto `file`, then the directory fsynced, so that after the promise resolves
 * the new file survives a crash or power loss, and at every moment `file` is the old file or
 * the new one. Concurrent writes to one path each stay whole (the last rename wins).
 *
 * - An existing regular file is replaced and its permission bits are kept (not its owner).
 * - A symbolic link is replaced by the new file; the link's target is left as it was (the write
 *   never follows a link, so it never lands outside the directory named by `file`).
 * - A directory, FIFO, device or socket at `file` is refused with
 *   ERR_CELLSTATE_FILE_NOT_REGULAR and left as it was.
 * - On failure the temporary file is removed and `file` is untouched.
 */
export async function writeAtomic(file: string, bytes: Uint8Array, where = 'save'): Promise<void> {
  let mode: number | undefined;
  try {
    const st = await lstat(file);
    if (st.isFile()) mode = st.mode & 0o777;
    else if (!st.isSymbolicLink())
      throw fileError(
        ErrorCode.FILE_NOT_REGULAR,
        where,
        `${JSON.stringify(file)} exists and is not a regular file or a symbolic link; it is left as it is`,
      );
  } catch (e) {
    if ((e as { code?: unknown }).code !== 'ENOENT') throw e;
  }
  const dir = path.dirname(file);
  const tmp = path.join(
    dir,
    `.${path.basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`,
  );
  const handle = await open(tmp, 'wx');
  try {
    try {
      if (mode !== undefined) await handle.chmod(mode);
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
  await syncDirectory(dir);
}

/** fsyncs a directory, so that a rename in it is durable (a no-op where directories cannot be synced). */
async function syncDirectory(dir: string): Promise<void> {
  if (process.platform === 'win32') return; // no directory handles to sync on Windows
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } catch (e) {
    // file systems that cannot sync a directory say so; anything else is a real failure
    const code = (e as { code?: unknown }).code;
    if (code !== 'EINVAL' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw e;
  } finally {
    await handle.close();
  }
}

/**
 * A model from a cellstate file, or from a PyTorch state_dict saved with safetensors. `source`
 * is a path or the file's bytes. A new model is created; nothing else changes on failure.
 *
 * A path must name a regular file (a FIFO, a device such as /dev/zero, a directory or a socket
 * is refused with ERR_CELLSTATE_FILE_NOT_REGULAR, checked on the opened descriptor) of at most
 * MAX_FILE_BYTES; its header length is read and checked, then its header, then exactly the data
 * the header declares, so no file makes load read or allocate more than its declared sizes.
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
  const bytes = asBytes(source);
  if (bytes) return decodeModel(where, bytes, opts);
  if (typeof source !== 'string' || source.length === 0)
    throw new CellstateTypeError(
      ErrorCode.INVALID_ARG,
      `${where}: source must be a path or the bytes of a file (Uint8Array, Buffer, ArrayBuffer), got ${describe(source)}`,
    );
  checkLoadOptions(where, opts);
  const file = await readSafetensorsFile(source, where);
  return decodeModel(where, file.bytes, opts, file.header);
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
  const { tensors, quantized } = quantizedTensors(model, params);
  const config = JSON.stringify(modelConfig(model));
  // checksum first (at CHECKSUM_AT), a placeholder until the bytes are known
  const metadata: Record<string, string> = {
    checksum: CHECKSUM_PLACEHOLDER,
    format: FORMAT,
    version: quantized ? QUANTIZED_FORMAT_VERSION : FORMAT_VERSION,
    config,
  };
  if (quantized) metadata.quantization = QUANTIZATION;
  if (optimizer) {
    const state = optimizer.state();
    metadata.optimizer = JSON.stringify({
      type: state.type,
      options: state.options,
      step: state.step,
    });
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
  const bytes = encodeSafetensors(tensors, metadata);
  if (!hasChecksumSlot(bytes))
    throw new Error(`${where}: internal error: the checksum is not at the start of the header`);
  bytes.set(new TextEncoder().encode(fileChecksum(bytes)), CHECKSUM_AT - CHECKSUM_PREFIX.length);
  return bytes;
}

/** How every format 2 header begins: `{"__metadata__":{"checksum":"crc32:`, then 8 hex digits. */
const CHECKSUM_START = new TextEncoder().encode('{"__metadata__":{"checksum":"crc32:');
/** The prefix of the checksum's value. */
const CHECKSUM_PREFIX = 'crc32:';
/** The 8 hex digits' offset in a format 2 file: after the header length and CHECKSUM_START. */
export const CHECKSUM_AT = 8 + CHECKSUM_START.length;
const CHECKSUM_PLACEHOLDER = `${CHECKSUM_PREFIX}00000000`;
const ZEROS = new TextEncoder().encode('00000000');

/** Whether `bytes` has the checksum where format 2 puts it (8 hex digits and a closing quote). */
function hasChecksumSlot(bytes: Uint8Array): boolean {
  if (bytes.length < CHECKSUM_AT + 9) return false;
  for (let i = 0; i < CHECKSUM_START.length; ++i)
    if (bytes[8 + i] !== CHECKSUM_START[i]) return false;
  for (let i = CHECKSUM_AT; i < CHECKSUM_AT + 8; ++i) {
    const c = bytes[i];
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return false;
  }
  return bytes[CHECKSUM_AT + 8] === 0x22; // "
}

/**
 * The checksum of a format 2 cellstate file: `crc32:` and the CRC-32 (IEEE) of all its bytes —
 * header length, header, data — with the 8 hex digits of the checksum itself (at CHECKSUM_AT)
 * read as "00000000". Every byte but those 8 is covered: tensor names, shapes, offsets,
 * metadata, padding and data.
 */
export function fileChecksum(bytes: Uint8Array): string {
  let c = crc32Update(CRC32_INIT, bytes.subarray(0, CHECKSUM_AT));
  c = crc32Update(c, ZEROS);
  c = crc32Update(c, bytes.subarray(CHECKSUM_AT + 8));
  return `${CHECKSUM_PREFIX}${hex8(crc32Final(c))}`;
}

/**
 * The checksum of a format 1 file (cellstate 0.1): CRC-32 of the data section, the config,
 * '\\n' and the optimizer metadata. It does not cover tensor names, shapes or offsets.
 */
export function legacyChecksum(data: Uint8Array, config: string, optimizer: string): string {
  const text = new TextEncoder().encode(`${config}\n${optimizer}`);
  const all = new Uint8Array(data.length + text.length);
  all.set(data);
  all.set(text, data.length);
  return `crc32:${crc32Hex(all)}`;
}

// ---- reading -------------------------------------------------------------------------------

/** The options of load / fromBuffer, checked. */
function checkLoadOptions(
  where: string,
  opts: unknown,
): {
  config: Record<string, unknown> | undefined;
  optimizer: Optimizer | undefined;
  expect: ModelClass | undefined;
} {
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
  if (config !== undefined && jsonDepth(config) < 0)
    throw new CellstateRangeError(
      ErrorCode.INVALID_ARG,
      `${where}: config is nested more than ${MAX_CONFIG_DEPTH} levels deep (MAX_CONFIG_DEPTH)`,
    );
  const optimizer = o.raw('optimizer');
  if (optimizer !== undefined && !(optimizer instanceof Optimizer))
    throw new CellstateTypeError(
      ErrorCode.INVALID_ARG,
      `${where}: optimizer must be an Optimizer to restore the saved state into, got ${describe(optimizer)}`,
    );
  return {
    config: config as Record<string, unknown> | undefined,
    optimizer: optimizer as Optimizer | undefined,
    expect,
  };
}

function decodeModel(
  where: string,
  bytes: Uint8Array,
  opts: unknown,
  header?: SafetensorsHeader,
): LoadedModel {
  const { config, optimizer, expect } = checkLoadOptions(where, opts);
  const content = decodeSafetensors(bytes, where, header);
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
    for (const [name, dtype] of content.dtypes)
      if (dtype === 'I8')
        throw fileError(
          ErrorCode.FILE_DTYPE,
          where,
          `tensor '${name}' has dtype I8, which cellstate reads only in its own quantized files`,
        );
    const model = fromStateDict(where, content, config);
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
    bytes,
    content,
    meta as Record<string, string>,
    optimizer,
    expect,
  ) as LoadedModel;
}

function decodeCellstate(
  where: string,
  bytes: Uint8Array,
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
  const major = Number(m[1]);
  if (major > MAJOR || major < OLDEST_MAJOR)
    throw err(
      ErrorCode.FILE_VERSION,
      major > MAJOR
        ? `the file has cellstate format version ${version}, newer than this cellstate reads (${OLDEST_MAJOR}.x to ${MAJOR}.x); update cellstate to load it`
        : `the file has cellstate format version ${version}, older than this cellstate reads (${OLDEST_MAJOR}.x to ${MAJOR}.x)`,
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
  if (major >= 2) {
    // The checksum must sit where the writer puts it, and be the one JSON.parse read (a
    // second "checksum" key would otherwise hide the covered one).
    if (
      !hasChecksumSlot(bytes) ||
      new TextDecoder().decode(
        bytes.subarray(CHECKSUM_AT - CHECKSUM_PREFIX.length, CHECKSUM_AT + 8),
      ) !== meta.checksum
    )
      throw err(
        ErrorCode.FILE_CHECKSUM,
        `the header does not begin with __metadata__.checksum, as every cellstate file of format ${MAJOR}.x does: the file is corrupt or was rewritten by another program`,
      );
    const actual = fileChecksum(bytes);
    if (actual !== meta.checksum)
      throw err(
        ErrorCode.FILE_CHECKSUM,
        `the file's bytes do not match the checksum recorded when it was saved (${meta.checksum}, computed ${actual}): the file is corrupt`,
      );
  } else {
    const actual = legacyChecksum(content.data, configText, optimizerText);
    if (actual !== meta.checksum)
      throw err(
        ErrorCode.FILE_CHECKSUM,
        `the data and configuration do not match the checksum recorded when the file was saved (${JSON.stringify(meta.checksum.slice(0, 40))}, computed ${actual}): the file is corrupt`,
      );
  }

  let configValue: unknown;
  try {
    configValue = JSON.parse(configText);
  } catch (e) {
    throw err(
      ErrorCode.FILE_CONFIG,
      `__metadata__.config is not valid JSON (${(e as Error).message})`,
    );
  }
  checkStoredConfig(where, '__metadata__.config', configValue);
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
      Array.isArray(saved) ||
      typeof saved.type !== 'string'
    )
      throw err(ErrorCode.FILE_CONFIG, '__metadata__.optimizer must be { type, options, step }');
    if (!Object.hasOwn(OPTIMIZER_BUFFERS, saved.type))
      throw err(
        ErrorCode.FILE_CONFIG,
        `__metadata__.optimizer.type must be one of ${Object.keys(OPTIMIZER_BUFFERS)
          .map((k) => `'${k}'`)
          .join(', ')}, got ${describe(saved.type)}`,
      );
    const badStep = stepProblem(saved.step);
    if (badStep) throw err(ErrorCode.FILE_VALUE, `__metadata__.optimizer: ${badStep}`);
    const options: unknown = saved.options;
    if (
      options === null ||
      typeof options !== 'object' ||
      Array.isArray(options) ||
      !Object.values(options).every(
        (v) => typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v)),
      )
    )
      throw err(
        ErrorCode.FILE_CONFIG,
        '__metadata__.optimizer.options must be an object of finite numbers and booleans',
      );
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

  // int8 weights (a quantized model): dequantized floats to set, the int8 bytes to quantize on.
  const { floats, int8 } = readQuantizedTensors(where, content, params, meta.quantization);

  // A config asking for far more than the file holds is refused before anything is allocated.
  const need = parameterCountOf(configValue);
  let have = 0;
  for (const t of floats.values()) have += t.size;
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
  setModelParameters(where, model, floats);
  applyQuantized(where, model, int8);

  const state = saved && optimizerState(where, saved, optTensors, model);
  if (optimizer && state) optimizer.loadState(state);
  return model;
}

/**
 * The optimizer state the file holds, checked as parameters are: every tensor names a parameter
 * of the model and a buffer its optimizer keeps, has the parameter's shape, holds finite values
 * (running averages of squares ≥ 0), and every parameter has every buffer name the file uses.
 */
function optimizerState(
  where: string,
  saved: { type: string; options: Record<string, unknown>; step: number },
  tensors: Map<string, Tensor>,
  model: Model,
): OptimizerState {
  const type = saved.type as OptimizerName;
  const params = model.parameters();
  const buffers: OptimizerState['buffers'] = {};
  const names = new Set<string>();
  for (const [key, t] of tensors) {
    const tensor = `tensor '${OPTIMIZER_PREFIX}${key.length > 80 ? `${key.slice(0, 80)}…` : key}'`;
    const dot = key.lastIndexOf('.');
    const name = key.slice(0, dot);
    const buf = key.slice(dot + 1);
    const p = dot > 0 && Object.hasOwn(params, name) ? params[name] : undefined;
    if (!p)
      throw fileError(
        ErrorCode.FILE_UNKNOWN_TENSOR,
        where,
        `${tensor} names no parameter of the model`,
      );
    if (!OPTIMIZER_BUFFERS[type].includes(buf))
      throw fileError(
        ErrorCode.FILE_UNKNOWN_TENSOR,
        where,
        `${tensor}: ${bufferProblem(type, buf, t.data)}`,
      );
    if (t.shape.length !== p.shape.length || t.shape.some((d, i) => d !== p.shape[i]))
      throw fileError(
        ErrorCode.FILE_SHAPE,
        where,
        `${tensor} has shape [${t.shape.join(', ')}], but parameter '${name}' is [${p.shape.join(', ')}]`,
      );
    const bad = bufferProblem(type, buf, t.data);
    if (bad) throw fileError(ErrorCode.FILE_VALUE, where, `${tensor}: ${bad}`);
    (buffers[name] ??= {})[buf] = t.data;
    names.add(buf);
  }
  // like parameters: a buffer the file keeps for one parameter, it keeps for all
  for (const buf of names)
    for (const name of Object.keys(params))
      if (!buffers[name]?.[buf])
        throw fileError(
          ErrorCode.FILE_MISSING_TENSOR,
          where,
          `the optimizer state has '${buf}' buffers but none for parameter '${name}' (tensor '${OPTIMIZER_PREFIX}${name}.${buf}' is missing)`,
        );
  return {
    type,
    options: saved.options as OptimizerState['options'],
    step: saved.step,
    buffers,
  };
}
