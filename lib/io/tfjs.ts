// TF.js import: what `model.save('file://…')` writes (model.json, with the topology and a
// weightsManifest naming the weight shards) or the artifacts a save handler receives, for
// Sequential and functional models that are linear chains of LSTM, GRU, SimpleRNN,
// Bidirectional, Dense, TimeDistributed(Dense), Embedding, Dropout, Masking and InputLayer.
//
// Mapping facts (docs/tfjs.md):
//   - Keras kernels are [I, G·H] (x·W); cellstate's weight_ih is [G·H, I]: transposed.
//   - LSTM blocks i, f, c, o are cellstate's i, f, g, o. GRU blocks z, r, h → r, z, n.
//   - GRU reset_after false (TF.js's only form) has one bias [3H] = cellstate's bias_ih (bias_hh
//     0) with resetAfter: false; reset_after true (Keras) has [2, 3H] = [bias_ih; bias_hh].
//   - An LSTM's `activation: 'linear'` is inputActivation and outputActivation false.
//   - Activations (lib/cells' keras options): recurrentActivation is gateActivation, an LSTM's
//     activation is cellActivation and hiddenActivation, a GRU's cellActivation, a SimpleRNN's
//     nonlinearity; TF.js's default 'hardSigmoid' is clip(0.2·x + 0.5, 0, 1) (ONNX HardSigmoid).
//   - Bidirectional's backward layer runs over the reversed sequence and its outputs are reversed
//     back: cellstate's reverse direction. Its last output (returnSequences false) is the reverse
//     direction's output at step 0.
//   - goBackwards on a lone layer: Keras reverses the input and returns the outputs in that
//     (reversed) order: the model reverses the time axis and runs the layer forward.
//   - A mask (Masking, or Embedding maskZero) whose masked steps are trailing padding becomes
//     `lengths`; at masked steps TF.js repeats the last output of a forward direction and gives 0
//     for a backward one, which the model reproduces. Other masks are refused at predict.
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';

import { CellstateError, CellstateTypeError, ErrorCode, describe } from '../errors';
import { Dense } from '../layers/dense';
import { Embedding } from '../layers/embedding';
import { CELLS, type CellSpec } from '../cells';
import { type Recurrent, recurrentFromConfig } from '../layers/recurrent';
import { readTokens } from '../layers/batch';
import { Sequential, type SequentialLayer } from '../model/sequential';
import type { ComposedStream } from '../stream/compose';
import type { LayerStreamOptions } from '../stream/types';
import { Tensor, type TensorLike, toTensor } from '../tensor';
import { readRegularFile } from './read';

const WHERE = 'importTfjs';

function invalid(message: string): CellstateError {
  return new CellstateError(ErrorCode.TFJS_INVALID, `${WHERE}: ${message}`);
}

function unsupported(message: string): CellstateError {
  return new CellstateError(ErrorCode.TFJS_UNSUPPORTED, `${WHERE}: ${message}`);
}

/** One entry of a TF.js weights manifest: a weight's name, shape and dtype. */
export interface TfjsWeightSpec {
  name: string;
  shape: number[];
  dtype: string;
  /** Quantized weights are refused (ERR_CELLSTATE_TFJS_UNSUPPORTED). */
  quantization?: unknown;
}

/** What a TF.js save handler receives (`tf.io.withSaveHandler`), or model.json read with its shards. */
export interface TfjsArtifacts {
  /** The model's topology: `{ class_name, config }` (or Keras's `{ model_config }` around it). */
  modelTopology: unknown;
  /** The weights, in the order of their bytes in `weightData`. */
  weightSpecs: TfjsWeightSpec[];
  /** The weights' bytes (little-endian float32), one buffer or the shards in order. */
  weightData: ArrayBuffer | ArrayBuffer[] | Uint8Array;
}

// ---- reading ---------------------------------------------------------------------------------

/**
 * A model from a TF.js model: the path of the model.json that `model.save('file://dir')` writes
 * (or of its directory), whose weight shards are read from beside it, or the artifacts a save
 * handler receives. The result predicts what TF.js predicts, sample-first (`[B, T, F]`, token
 * ids `[B, T]`). Refused: layers, options and activations cellstate cannot compute, with
 * ERR_CELLSTATE_TFJS_UNSUPPORTED naming the layer; malformed files with ERR_CELLSTATE_TFJS_INVALID.
 */
export async function importTfjs(source: string | TfjsArtifacts): Promise<TfjsModel> {
  if (typeof source !== 'string') return fromTfjs(source);
  if (source.length === 0)
    throw new CellstateTypeError(
      ErrorCode.INVALID_ARG,
      `${WHERE}: source must be a non-empty path or TF.js artifacts, got ''`,
    );
  let file = source;
  try {
    if ((await stat(file)).isDirectory()) file = path.join(file, 'model.json');
  } catch {
    // not there: readRegularFile reports it
  }
  const json = parseJson(await readRegularFile(file, WHERE), file);
  if (json === null || typeof json !== 'object')
    throw invalid(`${file} is not a TF.js model.json (not a JSON object)`);
  const { modelTopology, weightsManifest } = json as Record<string, unknown>;
  if (modelTopology === undefined) throw invalid(`${file} has no modelTopology`);
  const groups = weightsManifest ?? [];
  if (!Array.isArray(groups)) throw invalid(`${file}: weightsManifest must be an array`);
  const specs: TfjsWeightSpec[] = [];
  const shards: ArrayBuffer[] = [];
  const dir = path.dirname(path.resolve(file));
  for (const g of groups) {
    const { paths, weights } = (g ?? {}) as { paths?: unknown; weights?: unknown };
    if (!Array.isArray(paths) || !Array.isArray(weights))
      throw invalid(`${file}: every weightsManifest group needs paths and weights arrays`);
    specs.push(...(weights as TfjsWeightSpec[]));
    for (const p of paths) {
      if (typeof p !== 'string' || p.length === 0)
        throw invalid(`${file}: a weight shard path is not a string`);
      const full = path.resolve(dir, p);
      if (path.relative(dir, full).startsWith('..') || path.isAbsolute(p))
        throw invalid(`${file}: weight shard '${p}' is outside the model's directory`);
      const bytes = await readFile(full);
      shards.push(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    }
  }
  return fromTfjs({ modelTopology, weightSpecs: specs, weightData: shards });
}

function parseJson(bytes: Uint8Array, file: string): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw invalid(`${file} is not JSON (${(e as Error).message})`);
  }
}

const DTYPE_BYTES: Readonly<Record<string, number>> = { float32: 4, int32: 4, bool: 1 };

/** The float32 weights by name, checked against the bytes. */
function readWeights(a: TfjsArtifacts): Map<string, Tensor> {
  if (!Array.isArray(a.weightSpecs)) throw invalid('weightSpecs must be an array');
  const parts =
    a.weightData instanceof Uint8Array
      ? [a.weightData]
      : (Array.isArray(a.weightData) ? a.weightData : [a.weightData]).map((b) => {
          if (!(b instanceof ArrayBuffer))
            throw new CellstateTypeError(
              ErrorCode.INVALID_ARG,
              `${WHERE}: weightData must be an ArrayBuffer, an array of them or a Uint8Array, got ${describe(b)}`,
            );
          return new Uint8Array(b);
        });
  const total = parts.reduce((n, p) => n + p.length, 0);
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    bytes.set(p, at);
    at += p.length;
  }
  const view = new DataView(bytes.buffer);
  const out = new Map<string, Tensor>();
  let offset = 0;
  for (const s of a.weightSpecs) {
    const name = typeof s?.name === 'string' ? s.name : null;
    if (!name || !Array.isArray(s.shape) || typeof s.dtype !== 'string')
      throw invalid(`weight spec ${JSON.stringify(s)} needs a name, a shape and a dtype`);
    if (s.quantization !== undefined && s.quantization !== null)
      throw unsupported(`weight '${name}' is quantized; save the model with float32 weights`);
    const item = DTYPE_BYTES[s.dtype];
    if (item === undefined)
      throw unsupported(`weight '${name}' has dtype '${s.dtype}'; cellstate reads float32 weights`);
    if (s.shape.some((d) => !Number.isSafeInteger(d) || d < 0))
      throw invalid(`weight '${name}' has shape [${s.shape.join(', ')}]`);
    const count = s.shape.reduce((x, y) => x * y, 1);
    if (offset + count * item > total)
      throw invalid(
        `weight '${name}' [${s.shape.join(', ')}] ends at byte ${offset + count * item}, past the ${total} bytes of weight data`,
      );
    if (s.dtype === 'float32') {
      const data = new Float32Array(count);
      for (let i = 0; i < count; ++i) data[i] = view.getFloat32(offset + 4 * i, true);
      const key = name.replace(/:0$/, '');
      if (out.has(key)) throw invalid(`weight '${name}' appears twice`);
      out.set(key, new Tensor(data, s.shape));
    }
    offset += count * item;
  }
  if (offset !== total)
    throw invalid(`the weight specs cover ${offset} bytes, the weight data has ${total}`);
  return out;
}

// ---- the topology ----------------------------------------------------------------------------

interface KerasLayer {
  class_name: string;
  config: Record<string, unknown>;
  name: string;
}

/** The layers of a Sequential, or of a functional model that is a chain, in order. */
function chainOf(topology: unknown): KerasLayer[] {
  let t = topology as Record<string, unknown> | null;
  if (t && typeof t === 'object' && 'model_config' in t)
    t = t.model_config as Record<string, unknown>;
  if (!t || typeof t !== 'object' || typeof t.class_name !== 'string')
    throw invalid('modelTopology has no class_name');
  const config = t.config as Record<string, unknown> | unknown[] | undefined;
  const layerList = (Array.isArray(config) ? config : config?.layers) as unknown;
  if (!Array.isArray(layerList)) throw invalid(`the ${t.class_name}'s config has no layers`);
  const layers = layerList.map((l, i) => {
    const o = l as Record<string, unknown>;
    if (!o || typeof o.class_name !== 'string' || !o.config || typeof o.config !== 'object')
      throw invalid(`layer ${i} has no class_name or config`);
    const c = o.config as Record<string, unknown>;
    const name = typeof o.name === 'string' ? o.name : typeof c.name === 'string' ? c.name : '';
    return { class_name: o.class_name, config: c, name, raw: o };
  });
  if (t.class_name === 'Sequential') return layers;
  if (t.class_name !== 'Model' && t.class_name !== 'Functional')
    throw unsupported(
      `modelTopology is a '${t.class_name}'; cellstate imports Sequential and functional models`,
    );
  // a functional model: follow the chain from its one input to its one output
  const c = config as Record<string, unknown>;
  const ends = (key: string) => {
    const v = c[key] as unknown[];
    if (!Array.isArray(v) || v.length !== 1)
      throw unsupported(
        `the model has ${Array.isArray(v) ? v.length : 'no'} ${key.replace('_layers', 's')}; cellstate imports chains with one input and one output`,
      );
    return String((v[0] as unknown[])[0]);
  };
  const input = ends('input_layers');
  const output = ends('output_layers');
  const byName = new Map(layers.map((l) => [l.name, l]));
  const next = new Map<string, string>();
  for (const l of layers) {
    const nodes = (l.raw.inbound_nodes ?? []) as unknown[];
    if (nodes.length === 0) continue;
    const inbound = nodes[0] as unknown[];
    if (nodes.length !== 1 || !Array.isArray(inbound) || inbound.length !== 1)
      throw unsupported(
        `layer '${l.name}' (${l.class_name}) has ${nodes.length === 1 && Array.isArray(inbound) ? inbound.length : nodes.length} inputs or is called more than once; cellstate imports chains`,
      );
    const from = String((inbound[0] as unknown[])[0]);
    if (next.has(from))
      throw unsupported(`layer '${from}' feeds two layers; cellstate imports chains`);
    next.set(from, l.name);
  }
  const chain: KerasLayer[] = [];
  for (let name: string | undefined = input; name !== undefined; name = next.get(name)) {
    const l = byName.get(name);
    if (!l) throw invalid(`the chain names layer '${name}', which the model does not have`);
    chain.push(l);
    if (name === output) break;
  }
  if (chain[chain.length - 1].name !== output || chain.length !== layers.length)
    throw unsupported('the layers are not one chain from the input to the output');
  return chain;
}

// ---- the model -------------------------------------------------------------------------------

type Stage =
  | { kind: 'embedding'; name: string; layer: Embedding; maskZero: boolean }
  | { kind: 'masking'; name: string; value: number }
  | { kind: 'dense'; name: string; layer: Dense }
  | {
      kind: 'recurrent';
      name: string;
      layer: Recurrent;
      returnSequences: boolean;
      goBackwards: boolean;
      merge: 'concat' | 'sum' | 'mul' | 'ave';
    };

/** The cell whose Keras layer class is `name`. */
function kerasCell(name: unknown): CellSpec | undefined {
  return CELLS.find((c) => c.keras.className === name);
}

function kerasCellNames(): string {
  return CELLS.map((c) => c.keras.className).join(', ');
}

const DENSE_ACTIVATIONS = new Set(['linear', 'relu', 'sigmoid', 'tanh', 'softmax']);

/** A string option of a Keras config (its snake_case or camelCase key), or the fallback. */
function opt<T>(c: Record<string, unknown>, key: string, fallback: T): T | unknown {
  const camel = key.replace(/_([a-z])/g, (_, ch: string) => ch.toUpperCase());
  const v = c[key] ?? c[camel];
  return v === undefined || v === null ? fallback : v;
}

/** A Keras activation's name ('hard_sigmoid' for TF.js's 'hardSigmoid'). */
function activationName(v: unknown): string {
  const name =
    typeof v === 'string'
      ? v
      : v && typeof v === 'object' && typeof (v as { class_name?: unknown }).class_name === 'string'
        ? (v as { class_name: string }).class_name
        : String(v);
  return name.replace(/([a-z])([A-Z])/g, '$1_$2').toLowerCase();
}

function transpose(t: Tensor): Float32Array {
  const [r, c] = t.shape;
  const out = new Float32Array(r * c);
  for (let i = 0; i < r; ++i) for (let j = 0; j < c; ++j) out[j * r + i] = t.data[i * c + j];
  return out;
}

/** Rows of blocks of H (each `cols` wide), reordered: block k of the result is `order[k]`. */
function blocks(m: Float32Array, H: number, cols: number, order: number[]): Float32Array {
  const out = new Float32Array(m.length);
  order.forEach((k, j) => out.set(m.subarray(k * H * cols, (k + 1) * H * cols), j * H * cols));
  return out;
}

class Builder {
  readonly stages: Stage[] = [];
  private readonly used = new Set<string>();
  private seed = 1;
  /** What flows: token ids, a sequence [B, T, F], or rows [B, F]. */
  private flow: 'tokens' | 'seq' | 'rows' | null = null;
  private F = 0;
  private masked = false;
  /** The rank of an InputLayer's batch shape, 0 without one. */
  private inputRank = 0;

  constructor(private readonly weights: Map<string, Tensor>) {}

  /** The weights of layer `name`, by their path below it (`kernel`, `forward_x/bias`, …). */
  private weightsOf(name: string): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const [k, t] of this.weights)
      if (k.startsWith(`${name}/`)) {
        out.set(k.slice(name.length + 1), t);
        this.used.add(k);
      }
    return out;
  }

  private need(
    layer: KerasLayer,
    w: Map<string, Tensor>,
    role: string,
    shape: number[] | null,
    dir?: 'forward' | 'backward',
  ): Tensor {
    const hits = [...w].filter(([k]) => {
      const parts = k.split('/');
      if (parts[parts.length - 1] !== role) return false;
      if (!dir) return true;
      return parts.some((p) => p.startsWith(`${dir}_`));
    });
    if (hits.length !== 1)
      throw invalid(
        `layer '${layer.name}' (${layer.class_name}) has ${hits.length} ${dir ? `${dir} ` : ''}'${role}' weights, expected 1`,
      );
    const t = hits[0][1];
    if (shape && (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])))
      throw invalid(
        `layer '${layer.name}' (${layer.class_name}): weight '${hits[0][0]}' has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}]`,
      );
    return t;
  }

  add(layer: KerasLayer): void {
    const c = layer.config;
    const what = `layer '${layer.name}' (${layer.class_name})`;
    // the model's input: sequences [B, T, F] (token ids [B, T] for an Embedding)
    const shape = opt(c, 'batch_input_shape', null) ?? opt(c, 'batch_shape', null);
    if (this.flow === null && layer.class_name !== 'InputLayer' && this.inputRank === 2) {
      if (layer.class_name !== 'Embedding')
        throw unsupported(
          `${what} reads the model's input [B, F]; cellstate imports models of sequences [B, T, F] (or token ids [B, T] into an Embedding)`,
        );
    }
    if (this.flow === null && Array.isArray(shape)) {
      if (layer.class_name === 'InputLayer') this.inputRank = shape.length;
      const want = layer.class_name === 'Embedding' ? 2 : 3;
      if (shape.length === 2 && want === 3 && layer.class_name !== 'InputLayer')
        throw unsupported(
          `${what} takes input [${shape.map((d) => d ?? 'null').join(', ')}]; cellstate imports models of sequences [B, T, F] (or token ids [B, T])`,
        );
      if (shape.length !== 2 && shape.length !== 3)
        throw unsupported(
          `the model takes input [${shape.map((d) => d ?? 'null').join(', ')}]; cellstate imports models of sequences [B, T, F] (or token ids [B, T])`,
        );
    }
    switch (layer.class_name) {
      case 'InputLayer':
        return;
      case 'Dropout':
      case 'SpatialDropout1D':
      case 'GaussianNoise':
      case 'GaussianDropout':
      case 'AlphaDropout':
        return; // the identity at inference
      case 'Masking': {
        if (this.flow !== null && this.flow !== 'seq')
          throw unsupported(`${what} masks a value that is not a sequence [B, T, F]`);
        this.flow ??= 'seq';
        this.masked = true;
        const value = Number(opt(c, 'mask_value', 0));
        this.stages.push({ kind: 'masking', name: layer.name, value });
        return;
      }
      case 'Embedding': {
        if (this.flow !== null) throw unsupported(`${what} must be the first layer`);
        const w = this.weightsOf(layer.name);
        const emb = this.need(layer, w, 'embeddings', null);
        if (emb.shape.length !== 2 || w.size !== 1)
          throw invalid(`${what}: expected one weight, embeddings [N, D]`);
        const e = new Embedding({
          numEmbeddings: emb.shape[0],
          embeddingDim: emb.shape[1],
          seed: this.seed++,
        });
        e.setParameters({ weight: emb });
        const maskZero = opt(c, 'mask_zero', false) === true;
        this.masked = maskZero;
        this.stages.push({ kind: 'embedding', name: layer.name, layer: e, maskZero });
        this.flow = 'seq';
        this.F = emb.shape[1];
        return;
      }
      case 'Dense':
      case 'TimeDistributed': {
        let inner = layer;
        if (layer.class_name === 'TimeDistributed') {
          const l = c.layer as { class_name?: string; config?: Record<string, unknown> };
          if (l?.class_name !== 'Dense')
            throw unsupported(`${what} wraps a ${l?.class_name ?? 'layer'}; cellstate wraps Dense`);
          if (this.flow === 'rows') throw unsupported(`${what} reads a value without a time axis`);
          inner = { class_name: 'Dense', config: l.config ?? {}, name: layer.name };
        }
        const w = this.weightsOf(layer.name);
        const kernel = this.need(inner, w, 'kernel', null);
        if (kernel.shape.length !== 2) throw invalid(`${what}: kernel must be [I, O]`);
        const [I, O] = kernel.shape;
        this.checkInput(what, I);
        const act = activationName(opt(inner.config, 'activation', 'linear'));
        if (!DENSE_ACTIVATIONS.has(act))
          throw unsupported(
            `${what} has activation '${act}'; cellstate's Dense has linear, relu, sigmoid, tanh and softmax`,
          );
        const useBias = opt(inner.config, 'use_bias', true) !== false;
        const bias = useBias ? this.need(inner, w, 'bias', [O]).data : new Float32Array(O);
        if (w.size !== (useBias ? 2 : 1))
          throw invalid(`${what} has ${w.size} weights, expected ${useBias ? 2 : 1}`);
        const d = new Dense({
          inputSize: I,
          outputSize: O,
          activation: act as 'linear',
          seed: this.seed++,
        });
        d.setParameters({ weight: new Tensor(transpose(kernel), [O, I]), bias });
        this.stages.push({ kind: 'dense', name: layer.name, layer: d });
        this.flow ??= 'seq';
        this.F = O;
        return;
      }
      case 'Bidirectional': {
        const inner = c.layer as { class_name?: string; config?: Record<string, unknown> };
        if (!inner || !kerasCell(inner.class_name))
          throw unsupported(
            `${what} wraps a ${inner?.class_name ?? 'layer'}; cellstate wraps ${kerasCellNames()}`,
          );
        const merge = opt(c, 'merge_mode', null);
        if (!['concat', 'sum', 'mul', 'ave'].includes(merge as string))
          throw unsupported(
            `${what} has merge_mode ${JSON.stringify(merge)}; cellstate merges with concat, sum, mul and ave (a null merge gives two outputs, not a chain)`,
          );
        return this.recurrent(
          layer,
          { class_name: inner.class_name!, config: inner.config ?? {}, name: layer.name },
          merge as 'concat',
        );
      }
      default:
        if (kerasCell(layer.class_name)) return this.recurrent(layer, layer, null);
        throw unsupported(
          `${what} is not supported; cellstate imports InputLayer, Embedding, Masking, ${kerasCellNames()}, Bidirectional, Dense, TimeDistributed(Dense) and Dropout`,
        );
    }
  }

  private checkInput(what: string, I: number): void {
    if (this.flow === 'tokens')
      throw unsupported(`${what} reads token ids; an Embedding must come first`);
    if (this.flow !== null && this.F > 0 && this.F !== I)
      throw invalid(`${what} takes ${I} features, the layer before it gives ${this.F}`);
  }

  private recurrent(
    outer: KerasLayer,
    layer: KerasLayer,
    merge: 'concat' | 'sum' | 'mul' | 'ave' | null,
  ): void {
    const c = layer.config;
    const what = `layer '${outer.name}' (${outer.class_name === 'Bidirectional' ? `Bidirectional(${layer.class_name})` : layer.class_name})`;
    if (this.flow === 'rows')
      throw unsupported(
        `${what} reads a value without a time axis (returnSequences false before it)`,
      );
    for (const key of ['stateful', 'return_state', 'time_major'])
      if (opt(c, key, false) === true)
        throw unsupported(`${what} has ${key} true, which cellstate's import does not support`);
    const goBackwards = opt(c, 'go_backwards', false) === true;
    if (goBackwards && merge) throw unsupported(`${what} wraps a layer with go_backwards true`);
    if (goBackwards && this.masked)
      throw unsupported(
        `${what} has go_backwards true after a mask (Masking or mask_zero), whose TF.js outputs are reversed against the mask`,
      );
    const spec = kerasCell(layer.class_name)!;
    const G = spec.keras.blocks;
    const units = Number(opt(c, 'units', 0));
    const mapped = spec.keras.options((key) => {
      const v = opt(c, key, null);
      return v !== null && key.endsWith('activation') ? activationName(v) : v;
    });
    if ('refuse' in mapped)
      throw unsupported(`${what} has ${mapped.refuse} (build the TF.js layer with those)`);
    const { options, biasRows } = mapped;
    const useBias = opt(c, 'use_bias', true) !== false;

    const w = this.weightsOf(outer.name);
    const dirs: ('forward' | 'backward' | undefined)[] = merge
      ? ['forward', 'backward']
      : [undefined];
    const first = this.need(outer, w, 'kernel', null, dirs[0]);
    if (first.shape.length !== 2 || first.shape[1] % G !== 0)
      throw invalid(
        `${what}: kernel has shape [${first.shape.join(', ')}], expected [I, ${G}·units]`,
      );
    const I = first.shape[0];
    const H = first.shape[1] / G;
    if (units && units !== H) throw invalid(`${what}: units is ${units} but the kernel has ${H}`);
    this.checkInput(what, I);
    const order = spec.keras.order as number[];
    const params: Record<string, Tensor> = {};
    dirs.forEach((dir, d) => {
      const sfx = d === 0 ? '' : '_reverse';
      const kernel = this.need(outer, w, 'kernel', [I, G * H], dir);
      const rec = this.need(outer, w, 'recurrent_kernel', [H, G * H], dir);
      params[`weight_ih_l0${sfx}`] = new Tensor(blocks(transpose(kernel), H, I, order), [G * H, I]);
      params[`weight_hh_l0${sfx}`] = new Tensor(blocks(transpose(rec), H, H, order), [G * H, H]);
      let bih: Float32Array = new Float32Array(G * H);
      let bhh: Float32Array = new Float32Array(G * H);
      if (useBias) {
        const b = this.need(outer, w, 'bias', biasRows === 2 ? [2, G * H] : [G * H], dir);
        bih = blocks(b.data.slice(0, G * H), H, 1, order);
        if (biasRows === 2) bhh = blocks(b.data.slice(G * H), H, 1, order);
      }
      params[`bias_ih_l0${sfx}`] = new Tensor(bih, [G * H]);
      params[`bias_hh_l0${sfx}`] = new Tensor(bhh, [G * H]);
    });
    if (w.size !== (useBias ? 3 : 2) * dirs.length)
      throw invalid(`${what} has ${w.size} weights, expected ${(useBias ? 3 : 2) * dirs.length}`);
    const r = recurrentFromConfig({
      cell: spec.name,
      inputSize: I,
      hiddenSize: H,
      bidirectional: merge !== null,
      seed: this.seed++,
      // Training-only options, kept so that fitting the imported model regularizes as in Keras.
      recurrentDropout: Number(opt(c, 'recurrent_dropout', 0)),
      inputDropout: Number(opt(c, 'dropout', 0)),
      ...options,
    })!;
    try {
      r.setParameters(params);
    } catch (e) {
      r.dispose();
      throw e;
    }
    const returnSequences = opt(c, 'return_sequences', false) === true;
    this.stages.push({
      kind: 'recurrent',
      name: outer.name,
      layer: r,
      returnSequences,
      goBackwards,
      merge: merge ?? 'concat',
    });
    this.flow = returnSequences ? 'seq' : 'rows';
    this.F = merge === 'concat' ? 2 * H : H;
    if (!returnSequences) this.masked = false;
  }

  finish(): void {
    const left = [...this.weights.keys()].filter((k) => !this.used.has(k));
    if (left.length > 0) throw invalid(`weight '${left[0]}' belongs to no layer of the model`);
    if (!this.stages.some((s) => s.kind !== 'masking'))
      throw unsupported('the model has no layer with weights');
  }
}

/** A TF.js model with its TF.js artifacts' weights, run by cellstate's layers. */
export function fromTfjs(artifacts: TfjsArtifacts): TfjsModel {
  if (artifacts === null || typeof artifacts !== 'object' || Array.isArray(artifacts))
    throw new CellstateTypeError(
      ErrorCode.INVALID_ARG,
      `${WHERE}: source must be a path or { modelTopology, weightSpecs, weightData }, got ${describe(artifacts)}`,
    );
  const weights = readWeights(artifacts);
  const chain = chainOf(artifacts.modelTopology);
  const b = new Builder(weights);
  try {
    for (const l of chain) b.add(l);
    b.finish();
  } catch (e) {
    for (const s of b.stages) if (s.kind !== 'masking') s.layer.dispose();
    throw e;
  }
  return new TfjsModel(b.stages);
}

/**
 * A TF.js model imported by importTfjs: cellstate's layers (one per TF.js layer with weights),
 * run as TF.js runs them. `predict` takes what the TF.js model's `predict` takes, sample-first
 * (`[B, T, F]`, or token ids `[B, T]` when it starts with an Embedding) and returns what it
 * returns (`[B, T, O]`, or `[B, O]` after a layer with returnSequences false).
 */
export class TfjsModel {
  /** The cellstate Sequential (batchFirst) computing the same, when one does (see `stream`). */
  readonly sequential: Sequential | null;
  private readonly stages: readonly Stage[];
  private disposedFlag = false;

  /** @internal */
  constructor(stages: Stage[]) {
    this.stages = stages;
    this.sequential = asSequential(stages);
  }

  /** The cellstate layers, in order (an extra last-step Dense of `sequential` not included). */
  get layers(): SequentialLayer[] {
    return this.stages.flatMap((s) => (s.kind === 'masking' ? [] : [s.layer]));
  }

  /** Whether the model takes token ids (it starts with an Embedding). */
  get takesTokens(): boolean {
    return this.stages[0].kind === 'embedding';
  }

  /** What TF.js's predict gives for `x`, computed by cellstate's layers. */
  predict(x: TensorLike | number[][]): Tensor {
    if (this.disposedFlag)
      throw new CellstateError(ErrorCode.DISPOSED, 'predict: the model has been disposed');
    // inside, everything is time-major ([T, B, ·], as the layers take it)
    let lengths: Int32Array | null = null;
    let B: number;
    let T: number;
    let cur: Tensor; // [T, B, F] or [B, F]
    const first = this.stages[0];
    let k = 0;
    if (first.kind === 'embedding') {
      const ids = readTokens(x, 'predict', 'x', ['B', 'T']);
      [B, T] = ids.shape;
      if (first.maskZero)
        lengths = maskLengths(first.name, B, T, (b, t) => ids.data[b * T + t] !== 0);
      const tb = new Int32Array(T * B);
      for (let b = 0; b < B; ++b) for (let t = 0; t < T; ++t) tb[t * B + b] = ids.data[b * T + t];
      cur = first.layer.forward({ data: tb, shape: [T, B] }).output;
      k = 1;
    } else {
      const t = toTensor(x, 'predict', 'x');
      if (t.shape.length !== 3)
        throw new CellstateError(
          ErrorCode.SHAPE,
          `predict: x must be [B, T, F] (sample-first, as TF.js), got [${t.shape.join(', ')}]`,
        );
      [B, T] = t.shape;
      cur = swap01(t);
    }
    for (; k < this.stages.length; ++k) {
      const s = this.stages[k];
      if (s.kind === 'masking') {
        const F = cur.shape[2];
        const d = cur.data;
        const row = (b: number, t: number) => d.subarray((t * B + b) * F, (t * B + b + 1) * F);
        lengths = maskLengths(s.name, B, T, (b, t) => row(b, t).some((v) => v !== s.value));
        const out = d.slice();
        for (let b = 0; b < B; ++b)
          for (let t = lengths[b]; t < T; ++t) out.fill(0, (t * B + b) * F, (t * B + b + 1) * F);
        cur = new Tensor(out, cur.shape);
      } else if (s.kind === 'dense' || s.kind === 'embedding') {
        cur = (s.layer as Dense).forward(cur).output; // per step or per row
      } else {
        cur = runRecurrent(s, cur, lengths);
        if (!s.returnSequences) lengths = null;
      }
    }
    return cur.shape.length === 3 ? swap01(cur) : cur;
  }

  /**
   * A stream of the model (batch 1, one time step per `step`), when a cellstate Sequential computes
   * it: no Masking, no Bidirectional, no goBackwards, and returnSequences false only on the last
   * recurrent layer (whose output then is that of the last step written). Otherwise
   * ERR_CELLSTATE_UNSUPPORTED.
   */
  stream(opts?: LayerStreamOptions): ComposedStream {
    if (!this.sequential)
      throw new CellstateError(
        ErrorCode.UNSUPPORTED,
        'stream: this TF.js model needs the whole sequence (a Masking, a Bidirectional layer, goBackwards, or returnSequences false before another recurrent layer); use predict',
      );
    return this.sequential.stream(opts);
  }

  /** Whether dispose() was called. */
  get disposed(): boolean {
    return this.disposedFlag;
  }

  /** Frees the layers' native memory; later calls throw ERR_CELLSTATE_DISPOSED. */
  dispose(): void {
    if (this.disposedFlag) return;
    this.disposedFlag = true;
    if (this.sequential) this.sequential.dispose();
    else for (const l of this.layers) l.dispose();
  }
}

/** Lengths of a trailing-padding mask; any other mask is refused, naming the layer. */
function maskLengths(
  layer: string,
  B: number,
  T: number,
  kept: (b: number, t: number) => boolean,
): Int32Array {
  const lengths = new Int32Array(B);
  for (let b = 0; b < B; ++b) {
    let n = 0;
    while (n < T && kept(b, n)) ++n;
    for (let t = n; t < T; ++t)
      if (kept(b, t))
        throw new CellstateError(
          ErrorCode.TFJS_UNSUPPORTED,
          `predict: the mask of layer '${layer}' masks step ${n} of sequence ${b} but not step ${t}; cellstate computes masks that pad the end of a sequence`,
        );
    if (n === 0)
      throw new CellstateError(
        ErrorCode.TFJS_UNSUPPORTED,
        `predict: the mask of layer '${layer}' masks every step of sequence ${b}; cellstate needs at least one step`,
      );
    lengths[b] = n;
  }
  return lengths;
}

/** [A, B, F] → [B, A, F]. */
function swap01(x: Tensor): Tensor {
  const [A, B, F] = x.shape;
  const out = new Float32Array(x.data.length);
  for (let a = 0; a < A; ++a)
    for (let b = 0; b < B; ++b)
      out.set(x.data.subarray((a * B + b) * F, (a * B + b + 1) * F), (b * A + a) * F);
  return new Tensor(out, [B, A, F]);
}

/** A recurrent stage over [T, B, F], as TF.js computes it (masks, goBackwards, merges). */
function runRecurrent(
  s: Extract<Stage, { kind: 'recurrent' }>,
  x: Tensor,
  lengths: Int32Array | null,
): Tensor {
  const [T, B, F] = x.shape;
  let input = x;
  if (s.goBackwards) {
    // Keras reverses the time axis and keeps the outputs in that order
    const d = new Float32Array(x.data.length);
    for (let t = 0; t < T; ++t)
      d.set(x.data.subarray(t * B * F, (t + 1) * B * F), (T - 1 - t) * B * F);
    input = new Tensor(d, x.shape);
  }
  const y = s.layer.forward(input, lengths ? { lengths } : undefined).output; // [T, B, D·H]
  const bidir = s.layer.config.bidirectional;
  const H = s.layer.config.hiddenSize;
  const W = bidir ? 2 * H : H;
  const len = (b: number) => (lengths ? lengths[b] : T);
  const at = (b: number, t: number) => y.data.subarray((t * B + b) * W, (t * B + b + 1) * W);
  // TF.js at masked steps: the last output of a forward direction (a backward one gives 0)
  if (lengths && s.returnSequences)
    for (let b = 0; b < B; ++b)
      for (let t = len(b); t < T; ++t)
        y.data.set(at(b, len(b) - 1).subarray(0, H), (t * B + b) * W);
  let out: Float32Array; // [T, B, W], or [B, W] without returnSequences
  if (s.returnSequences) out = y.data;
  else {
    out = new Float32Array(B * W);
    for (let b = 0; b < B; ++b) {
      out.set(at(b, len(b) - 1).subarray(0, H), b * W);
      if (bidir) out.set(at(b, 0).subarray(H), b * W + H); // the backward direction ends at step 0
    }
  }
  const rows = out.length / W;
  let result = out;
  let O = W;
  if (bidir && s.merge !== 'concat') {
    O = H;
    result = new Float32Array(rows * H);
    for (let i = 0; i < rows; ++i)
      for (let j = 0; j < H; ++j) {
        const a = out[i * W + j];
        const c = out[i * W + H + j];
        // float32 arithmetic, as TF.js: ave is (a + b) · 0.5
        result[i * H + j] =
          s.merge === 'sum' ? a + c : s.merge === 'mul' ? a * c : Math.fround(a + c) * 0.5;
      }
  }
  return new Tensor(result, s.returnSequences ? [T, B, O] : [B, O]);
}

/** The cellstate Sequential computing the same model, if one does (the streamable ones). */
function asSequential(stages: Stage[]): Sequential | null {
  const layers: SequentialLayer[] = [];
  let lastStep = false; // a recurrent layer with returnSequences false came before
  for (const s of stages) {
    if (s.kind === 'masking' || (s.kind === 'embedding' && s.maskZero)) return null;
    if (s.kind === 'recurrent') {
      if (lastStep || s.goBackwards || s.layer.config.bidirectional) return null;
      if (!s.returnSequences) lastStep = true;
      layers.push(s.layer);
    } else if (s.kind === 'dense' && lastStep && !layers.some(isLastStepDense)) {
      // the first Dense after it reads the last step; rebuild it with lastStep (same weights)
      const d = new Dense({ ...s.layer.config, lastStep: true });
      d.setParameters(s.layer.parameters());
      s.layer.dispose();
      (s as { layer: Dense }).layer = d;
      layers.push(d);
    } else layers.push(s.layer);
  }
  if (lastStep && !layers.some(isLastStepDense)) {
    // the model ends with the recurrent layer's last output: an identity Dense reads it (exact:
    // one product by 1 and additions of 0 per output)
    const H = (layers[layers.length - 1] as Recurrent).outputSize;
    const eye = new Float32Array(H * H);
    for (let i = 0; i < H; ++i) eye[i * H + i] = 1;
    const d = new Dense({ inputSize: H, outputSize: H, lastStep: true, seed: 1 });
    d.setParameters({ weight: new Tensor(eye, [H, H]), bias: new Float32Array(H) });
    layers.push(d);
  }
  return new Sequential(layers, { batchFirst: true });
}

function isLastStepDense(l: SequentialLayer): boolean {
  return l instanceof Dense && l.config.lastStep;
}
