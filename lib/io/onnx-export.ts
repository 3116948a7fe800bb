// ONNX export: recurrent layers become ONNX LSTM / GRU / RNN nodes (one per layer of a stack,
// chained), Dense a MatMul + Add (a Gemm on the last step), Embedding a Gather, Dropout nothing
// (it is the identity at inference). Mapping facts (docs/onnx.md):
//   - LSTM blocks: cellstate's i, f, g, o → ONNX i, o, f, c; peepholes [p_i, p_f, p_o] →
//     [p_i, p_o, p_f]; B = [bias_ih; bias_hh] with the same permutation. GRU r, z, n → z, r, h.
//   - coupled (CIFG) → input_forget = 1, and ONNX Runtime computes i from the i slot and
//     f = 1 − i: the i slot holds −(the f block) for W, R, both biases and P_i = −p_f, which
//     makes i = 1 − f and f = f. The f slot holds the f block itself, so a runtime that reads
//     the f slot and sets i = 1 − f computes the same.
//   - GRU resetAfter → linear_before_reset (1 = true). RNN relu → activations ['Relu'].
//   - inputActivation / outputActivation false (NIAF / NOAF) → the operator's activations
//     [f, g, h] with g / h = Affine (alpha 1, beta 0), which ONNX Runtime runs.
// Refused, naming the option: projSize (ONNX's LSTM has no projection) and inputGate /
// forgetGate / outputGate false (the operator always computes all three gates).
import { CellstateError, CellstateTypeError, ErrorCode, describe } from '../errors';
import { OptionReader } from '../options';
import type { Dense } from '../layers/dense';
import { type OnnxAttribute, type OnnxSlot, article, cellOf } from '../cells';
import { type QuantizedTensor, dequantizeMatrix, isQuantizable } from '../layers/quant';
import { Tensor } from '../tensor';
import type { Recurrent } from '../layers/recurrent';
import { Sequential, type SequentialLayer } from '../model/sequential';
import { writeAtomic } from './file';
import {
  type AttributeMsg,
  AttributeType,
  DataType,
  type ModelMsg,
  type NodeMsg,
  type TensorMsg,
  type ValueInfoMsg,
  modelProto,
} from './onnx-schema';
import { stateNames } from './onnx-state';
import { type Model, checkModel, modelConfig } from './registry';

/** The opset the exported files import (the LSTM, GRU and RNN operators of opset 14). */
export const ONNX_OPSET = 17;
/** onnxruntime's contrib operator domain (DynamicQuantizeLSTM) and the version imported. */
export const MS_DOMAIN = 'com.microsoft';
const MS_OPSET = 1;
/** Metadata key holding the cellstate config, which importOnnx uses to rebuild the same model. */
export const ONNX_CONFIG_KEY = 'cellstate.config';

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function unsupported(message: string): CellstateError {
  return new CellstateError(ErrorCode.ONNX_UNSUPPORTED, `exportOnnx: ${message}`);
}

/** Builds a graph: unique value names, initializers, nodes. */
class GraphBuilder {
  readonly nodes: NodeMsg[] = [];
  readonly initializers: TensorMsg[] = [];
  private readonly used = new Set<string>();

  unique(base: string): string {
    let name = base;
    for (let k = 1; this.used.has(name); ++k) name = `${base}_${k}`;
    this.used.add(name);
    return name;
  }

  floats(base: string, dims: number[], data: Float32Array): string {
    const name = this.unique(base);
    this.initializers.push({ name, dims, data_type: DataType.FLOAT, raw_data: floatBytes(data) });
    return name;
  }

  int8s(base: string, dims: number[], data: Int8Array): string {
    const name = this.unique(base);
    const raw = new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
    this.initializers.push({ name, dims, data_type: DataType.INT8, raw_data: raw });
    return name;
  }

  /** Whether a node of the com.microsoft domain was added (the file then imports it). */
  microsoft = false;

  int32s(base: string, dims: number[], values: number[]): string {
    const name = this.unique(base);
    const raw = new Uint8Array(values.length * 4);
    const view = new DataView(raw.buffer);
    values.forEach((v, i) => view.setInt32(4 * i, v, true));
    this.initializers.push({ name, dims, data_type: DataType.INT32, raw_data: raw });
    return name;
  }

  int64s(base: string, dims: number[], values: number[]): string {
    const name = this.unique(base);
    const raw = new Uint8Array(values.length * 8);
    const view = new DataView(raw.buffer);
    values.forEach((v, i) => view.setBigInt64(8 * i, BigInt(v), true));
    this.initializers.push({ name, dims, data_type: DataType.INT64, raw_data: raw });
    return name;
  }

  /** Adds a node; returns its output names (`outputs` of them, named after the node). */
  node(
    op: string,
    base: string,
    inputs: string[],
    outputs: number,
    attribute: AttributeMsg[] = [],
    domain = '',
  ): string[] {
    const name = this.unique(base);
    const out = Array.from({ length: outputs }, (_, i) =>
      this.unique(outputs === 1 ? `${name}_out` : `${name}_out${i}`),
    );
    this.nodes.push({ name, op_type: op, input: inputs, output: out, attribute, domain });
    if (domain === MS_DOMAIN) this.microsoft = true;
    return out;
  }
}

function floatBytes(data: Float32Array): Uint8Array {
  if (littleEndian)
    return new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
  const out = new Uint8Array(data.length * 4);
  const view = new DataView(out.buffer);
  data.forEach((v, i) => view.setFloat32(4 * i, v, true));
  return out;
}

const attrInt = (name: string, i: number): AttributeMsg => ({ name, type: AttributeType.INT, i });
const attrInts = (name: string, ints: number[]): AttributeMsg => ({
  name,
  type: AttributeType.INTS,
  ints,
});
const attrString = (name: string, s: string): AttributeMsg => ({
  name,
  type: AttributeType.STRING,
  s: new TextEncoder().encode(s),
});
const attrStrings = (name: string, strings: string[]): AttributeMsg => ({
  name,
  type: AttributeType.STRINGS,
  strings: strings.map((s) => new TextEncoder().encode(s)),
});

type Dim = number | string;
function valueInfo(name: string, elemType: number, dims: Dim[]): ValueInfoMsg {
  return {
    name,
    type: {
      tensor_type: {
        elem_type: elemType,
        shape: {
          dim: dims.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })),
        },
      },
    },
  };
}

/** Rows [from, from + count) of a row-major matrix with `cols` columns. */
function rows(t: Float32Array, cols: number, from: number, count: number): Float32Array {
  return t.subarray(from * cols, (from + count) * cols);
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function negate(a: Float32Array): Float32Array {
  return a.map((v) => -v);
}

/** Refuses the variants ONNX cannot express, naming the option. */
function checkExportable(layer: Recurrent, index: string): void {
  const spec = cellOf(layer.config);
  const why = spec.onnx.unexportable(layer.config as never);
  if (why) throw unsupported(`${index}${article(spec.title)} ${spec.title} with ${why}`);
}

/** A format-neutral attribute of lib/cells as an ONNX attribute. */
function attribute(a: OnnxAttribute): AttributeMsg {
  if ('int' in a) return attrInt(a.name, a.int);
  if ('strings' in a) return attrStrings(a.name, [...a.strings]);
  if ('float' in a) return { name: a.name, type: AttributeType.FLOAT, f: a.float };
  return { name: a.name, type: AttributeType.FLOATS, floats: [...a.floats] };
}

interface Flow {
  /** The current value: [T, B, F] (time-major), or [B, F] after a lastStep Dense. */
  name: string;
  F: number;
  perStep: boolean;
}

/** Emits the nodes of one recurrent stack; returns the output [T, B, D·H] and the states. */
function emitRecurrent(
  g: GraphBuilder,
  layer: Recurrent,
  x: string,
  prefix: string,
  lengths: string | null,
  init: { h: string; c: string | null } | null = null,
  index = '',
): { y: string; h: string[]; c: string[] } {
  const c = layer.config;
  const spec = cellOf(c);
  const params = layer.parameters();
  const H = c.hiddenSize;
  const D = c.bidirectional ? 2 : 1;
  const sfx = ['', '_reverse'];
  const op = spec.onnx.op;
  const G = spec.onnx.slots;
  // each ONNX slot holds one of the config's blocks (negated for CIFG's coupled gate)
  const gates = spec.onnx.gateSlots(c as never);
  const peepholes = spec.onnx.peepholeSlots(c as never);
  const gather = (m: Float32Array, cols: number, slots: readonly OnnxSlot[]) =>
    concat(
      slots.map((s) => {
        const block = rows(m, cols, s.block * H, H);
        return s.negate ? negate(block) : block;
      }),
    );
  // a quantized LSTM: onnxruntime's DynamicQuantizeLSTM on the layer's own int8 weights
  const int8 = quantizedWeights(layer, spec.onnx.quantizedOp, index);
  const hs: string[] = [];
  const cs: string[] = [];
  let input = x;
  for (let l = 0; l < c.numLayers; ++l) {
    const I = l === 0 ? c.inputSize : D * H;
    const W: Float32Array[] = [];
    const R: Float32Array[] = [];
    const B: Float32Array[] = [];
    const P: Float32Array[] = [];
    const Wq: Int8Array[] = [];
    const Rq: Int8Array[] = [];
    const Ws: Float32Array[] = [];
    const Rs: Float32Array[] = [];
    for (let d = 0; d < D; ++d) {
      const p = (n: string) => params[`${n}_l${l}${sfx[d]}`]?.data;
      const [wih, whh, bih, bhh] = ['weight_ih', 'weight_hh', 'bias_ih', 'bias_hh'].map(
        (n) => p(n) as Float32Array,
      );
      if (int8) {
        const qi = int8[`weight_ih_l${l}${sfx[d]}`];
        const qh = int8[`weight_hh_l${l}${sfx[d]}`];
        Wq.push(transposedSlots(qi.values, I, H, gates));
        Rq.push(transposedSlots(qh.values, H, H, gates));
        Ws.push(
          gather(
            qi.scale,
            1,
            gates.map((s) => ({ ...s, negate: false })),
          ),
        );
        Rs.push(
          gather(
            qh.scale,
            1,
            gates.map((s) => ({ ...s, negate: false })),
          ),
        );
      } else {
        W.push(gather(wih, I, gates));
        R.push(gather(whh, H, gates));
      }
      B.push(concat([gather(bih, 1, gates), gather(bhh, 1, gates)]));
      const ph = p('weight_ph');
      if (ph && peepholes.length > 0) P.push(gather(ph, 1, peepholes));
    }
    const base = `${prefix}l${l}`;
    const inputs = int8
      ? [
          input,
          g.int8s(`${base}_W_int8`, [D, I, G * H], concatInt8(Wq)),
          g.int8s(`${base}_R_int8`, [D, H, G * H], concatInt8(Rq)),
          g.floats(`${base}_B`, [D, 2 * G * H], concat(B)),
        ]
      : [
          input,
          g.floats(`${base}_W`, [D, G * H, I], concat(W)),
          g.floats(`${base}_R`, [D, G * H, H], concat(R)),
          g.floats(`${base}_B`, [D, 2 * G * H], concat(B)),
        ];
    // optional inputs 4–7: sequence_lens, initial_h, initial_c, P (trailing empty ones left out)
    const rowsOf = (state: string) =>
      c.numLayers === 1
        ? state
        : g.node(
            'Slice',
            `${base}_${state}`,
            [
              state,
              g.int64s(`${base}_${state}_start`, [1], [l * D]),
              g.int64s(`${base}_${state}_end`, [1], [(l + 1) * D]),
              g.int64s(`${base}_${state}_axes`, [1], [0]),
            ],
            1,
          )[0];
    const optional = [
      lengths ?? '',
      init ? rowsOf(init.h) : '',
      init?.c ? rowsOf(init.c) : '',
      P.length > 0 ? g.floats(`${base}_P`, [D, spec.onnx.peepholes * H], concat(P)) : '',
    ];
    if (int8) {
      // inputs 8–11: per-channel (gate row) scales, zero points 0 (symmetric)
      const zeros = new Int8Array(D * G * H);
      optional.push(
        g.floats(`${base}_W_scale`, [D, G * H], concat(Ws)),
        g.int8s(`${base}_W_zero_point`, [D, G * H], zeros),
        g.floats(`${base}_R_scale`, [D, G * H], concat(Rs)),
        g.int8s(`${base}_R_zero_point`, [D, G * H], zeros),
      );
    }
    while (optional.length > 0 && optional[optional.length - 1] === '') optional.pop();
    inputs.push(...optional);
    const attrs: AttributeMsg[] = [
      attrInt('hidden_size', H),
      // 'forward', 'reverse' (one direction, its parameters without the _reverse suffix) or 'bidirectional'
      attrString('direction', c.direction),
      ...spec.onnx.attributes(c as never, D).map(attribute),
    ];
    const outs = int8
      ? g.node(
          spec.onnx.quantizedOp!,
          `${base}_${spec.onnx.quantizedOp}`,
          inputs,
          3,
          attrs,
          MS_DOMAIN,
        )
      : g.node(op, base + `_${op}`, inputs, spec.cellState ? 3 : 2, attrs);
    hs.push(outs[1]);
    if (spec.cellState) cs.push(outs[2]);
    // Y [T, D, B, H] → [T, B, D·H]
    if (D === 1) {
      input = g.node(
        'Squeeze',
        `${base}_squeeze`,
        [outs[0], g.int64s(`${base}_axes`, [1], [1])],
        1,
      )[0];
    } else {
      const t = g.node('Transpose', `${base}_transpose`, [outs[0]], 1, [
        attrInts('perm', [0, 2, 1, 3]),
      ])[0];
      input = g.node(
        'Reshape',
        `${base}_reshape`,
        [t, g.int64s(`${base}_shape`, [3], [0, 0, -1])],
        1,
      )[0];
    }
  }
  return { y: input, h: hs, c: cs };
}

/**
 * The int8 weights of a quantized recurrent layer, or null for a float one. onnxruntime's
 * DynamicQuantizeLSTM expresses a quantized LSTM (per gate row scales, zero points 0); another
 * quantized cell, or a layer whose quantized weights it cannot hold, is refused.
 */
function quantizedWeights(
  layer: Recurrent,
  quantizedOp: string | undefined,
  index: string,
): Record<string, QuantizedTensor> | null {
  if (!layer.quantized) return null;
  if (!quantizedOp)
    throw unsupported(
      `${index}the ${layer.layerType} is quantized (int8), and ONNX has no dynamically quantized ${layer.layerType} (onnxruntime's DynamicQuantizeLSTM covers LSTMs only); export the float model`,
    );
  const q = layer.quantizedParameters();
  const c = layer.config as { numLayers: number; bidirectional: boolean };
  for (let l = 0; l < c.numLayers; ++l)
    for (const sfx of c.bidirectional ? ['', '_reverse'] : [''])
      for (const w of ['weight_ih', 'weight_hh'])
        if (!q[`${w}_l${l}${sfx}`])
          throw unsupported(
            `${index}the quantized LSTM keeps ${w}_l${l}${sfx} in float, which DynamicQuantizeLSTM cannot express`,
          );
  return q;
}

/** The gate blocks of an int8 [G·H, K] matrix in ONNX slot order, transposed to [K, G·H]. */
function transposedSlots(
  m: Int8Array,
  K: number,
  H: number,
  slots: readonly OnnxSlot[],
): Int8Array {
  const N = slots.length * H;
  const out = new Int8Array(K * N);
  slots.forEach((s, j) => {
    for (let r = 0; r < H; ++r) {
      const src = (s.block * H + r) * K;
      const col = j * H + r;
      for (let k = 0; k < K; ++k) out[k * N + col] = s.negate ? -m[src + k] : m[src + k];
    }
  });
  return out;
}

/** An int8 table dequantized (`fround(q · scale)`), as Embedding's lookups read it. */
function quantizedTable(q: QuantizedTensor): Tensor {
  return new Tensor(dequantizeMatrix(q), [...q.shape]);
}

function concatInt8(parts: Int8Array[]): Int8Array {
  const out = new Int8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function emitDense(
  g: GraphBuilder,
  layer: Dense,
  flow: Flow,
  prefix: string,
  lengths: string | null,
): Flow {
  const { inputSize: I, outputSize: O, activation, lastStep } = layer.config;
  const p = layer.parameters();
  let x = flow.name;
  let perStep = flow.perStep;
  let y: string;
  if (lastStep && perStep && lengths) {
    // step lengths[b] − 1 of each sequence: GatherND over [B, T, F] with indices [B, 1]
    const bt = g.node('Transpose', `${prefix}batch_major`, [x], 1, [
      attrInts('perm', [1, 0, 2]),
    ])[0];
    const one = g.int32s(`${prefix}one`, [1], [1]);
    const last = g.node('Sub', `${prefix}last_index`, [lengths, one], 1)[0];
    const wide = g.node('Cast', `${prefix}last_index_int64`, [last], 1, [
      attrInt('to', DataType.INT64),
    ])[0];
    const idx = g.node(
      'Unsqueeze',
      `${prefix}last_index_column`,
      [wide, g.int64s(`${prefix}axis1`, [1], [1])],
      1,
    )[0];
    x = g.node('GatherND', `${prefix}last_step`, [bt, idx], 1, [attrInt('batch_dims', 1)])[0];
    perStep = false;
  } else if (lastStep && perStep) {
    x = g.node('Gather', `${prefix}last_step`, [x, g.int64s(`${prefix}last`, [], [-1])], 1, [
      attrInt('axis', 0),
    ])[0];
    perStep = false;
  }
  if (layer.quantized) {
    // onnxruntime's DynamicQuantizeMatMul: the layer's int8 weight [I, O] with its per-column
    // (output row) scales, zero points 0; the input quantized on the fly (per tensor there)
    const q = layer.quantizedParameters().weight;
    const wt = new Int8Array(I * O);
    for (let o = 0; o < O; ++o) for (let i = 0; i < I; ++i) wt[i * O + o] = q.values[o * I + i];
    y = g.node(
      'DynamicQuantizeMatMul',
      `${prefix}dynamic_quantize_matmul`,
      [
        x,
        g.int8s(`${prefix}weight_int8`, [I, O], wt),
        g.floats(`${prefix}weight_scale`, [O], q.scale),
        g.int8s(`${prefix}weight_zero_point`, [O], new Int8Array(O)),
        g.floats(`${prefix}bias`, [O], p.bias.data),
      ],
      1,
      [],
      MS_DOMAIN,
    )[0];
  } else if (!perStep) {
    const w = g.floats(`${prefix}weight`, [O, I], p.weight.data);
    const b = g.floats(`${prefix}bias`, [O], p.bias.data);
    y = g.node('Gemm', `${prefix}gemm`, [x, w, b], 1, [attrInt('transB', 1)])[0];
  } else {
    const wt = new Float32Array(I * O);
    for (let o = 0; o < O; ++o)
      for (let i = 0; i < I; ++i) wt[i * O + o] = p.weight.data[o * I + i];
    const m = g.node(
      'MatMul',
      `${prefix}matmul`,
      [x, g.floats(`${prefix}weight_t`, [I, O], wt)],
      1,
    )[0];
    y = g.node('Add', `${prefix}add`, [m, g.floats(`${prefix}bias`, [O], p.bias.data)], 1)[0];
  }
  const act = { linear: null, tanh: 'Tanh', sigmoid: 'Sigmoid', relu: 'Relu', softmax: 'Softmax' }[
    activation
  ];
  if (act)
    y = g.node(
      act,
      `${prefix}${activation}`,
      [y],
      1,
      act === 'Softmax' ? [attrInt('axis', -1)] : [],
    )[0];
  return { name: y, F: O, perStep };
}

/** Options of exportOnnx and toOnnx. */
export interface OnnxExportOptions {
  /**
   * Add an input `lengths` (int32 `[B]`, each in [0, T]) feeding every recurrent node's
   * `sequence_lens`, as forward's `lengths`; a last-step Dense then reads step lengths[b] − 1.
   * A per-step Dense's output at padded steps is then act(bias) where cellstate gives 0.
   * Default false.
   */
  lengths?: boolean | undefined;
  /**
   * Add each recurrent layer's initial state as graph inputs and its final state as graph
   * outputs, so that onnxruntime can run a long sequence chunk by chunk, feeding each chunk's
   * final state to the next. Recurrent layer r (counted from 0 over the model's recurrent layers)
   * reads `h0` (and an LSTM's `c0`) and writes `h` (and `c`) for r = 0, and `h0_r`, `c0_r`, `h_r`,
   * `c_r` otherwise; each is float `[L·D, B, H]`, the batch dimension `B` dynamic, rows
   * layer-major and forward before reverse, as forward's `h0` / `c0` / `h` / `c`. Default false
   * (no state inputs, all-zero initial states; a lone recurrent layer still outputs `h`, `c`).
   */
  state?: boolean | undefined;
}

/** The model as the bytes of an ONNX file (see exportOnnx). */
export function toOnnx(value: Model, opts?: OnnxExportOptions): Uint8Array {
  const model = checkModel(value, 'exportOnnx');
  const o = new OptionReader(opts, 'exportOnnx', ['lengths', 'state'], ErrorCode.INVALID_ARG);
  const withLengths = o.bool('lengths', false);
  const withState = o.bool('state', false);
  const layers: SequentialLayer[] = model instanceof Sequential ? [...model.layers] : [model];
  layers.forEach((l, i) => {
    if (l.reads === 'sequence')
      checkExportable(l as Recurrent, model instanceof Sequential ? `layers[${i}] is ` : '');
  });
  const g = new GraphBuilder();
  const inputs: ValueInfoMsg[] = [];
  const outputs: ValueInfoMsg[] = [];
  const first = layers[0];
  // The graph's layout is the model's: a Sequential's batchFirst, or a layer's.
  const batchFirst =
    model instanceof Sequential
      ? model.batchFirst === true
      : (first.config as { batchFirst?: unknown }).batchFirst === true;
  const inputName = g.unique('input');
  let flow: Flow;
  if (first.reads === 'tokens') {
    inputs.push(valueInfo(inputName, DataType.INT64, batchFirst ? ['B', 'T'] : ['T', 'B']));
    flow = { name: inputName, F: 1, perStep: true };
    if (batchFirst)
      flow.name = g.node('Transpose', 'batch_first_in', [inputName], 1, [
        attrInts('perm', [1, 0]),
      ])[0];
  } else if (first.inputSize === null) {
    throw unsupported(
      'a model that starts with Dropout has no input size; start with the layer after it',
    );
  } else {
    const I = first.inputSize;
    inputs.push(valueInfo(inputName, DataType.FLOAT, batchFirst ? ['B', 'T', I] : ['T', 'B', I]));
    flow = { name: inputName, F: I, perStep: true };
    if (batchFirst)
      flow.name = g.node('Transpose', 'batch_first_in', [inputName], 1, [
        attrInts('perm', [1, 0, 2]),
      ])[0];
  }
  let lengths: string | null = null;
  if (withLengths) {
    lengths = g.unique('lengths');
    inputs.push(valueInfo(lengths, DataType.INT32, ['B']));
  }
  // the state inputs, and the names of the state outputs reserved
  const recurrentLayers = layers.filter((l) => l.reads === 'sequence') as Recurrent[];
  const stateIn = recurrentLayers.map((layer, r) => {
    const names = stateNames(r);
    const hasCellState = cellOf(layer.config).cellState;
    if (!withState) return null;
    const LD = layer.config.numLayers * (layer.config.bidirectional ? 2 : 1);
    const H = layer.config.hiddenSize;
    for (const n of [names.h0, ...(hasCellState ? [names.c0] : [])]) {
      if (g.unique(n) !== n) throw new Error(`exportOnnx: internal: the name ${n} is taken`);
      inputs.push(valueInfo(n, DataType.FLOAT, [LD, 'B', H]));
    }
    return { h: names.h0, c: hasCellState ? names.c0 : null };
  });
  for (let r = 0; r < recurrentLayers.length; ++r) {
    const names = stateNames(r);
    g.unique(names.h);
    g.unique(names.c);
  }
  const finals: { layer: Recurrent; h: string[]; c: string[] }[] = [];
  layers.forEach((layer, i) => {
    const prefix = model instanceof Sequential ? `${i}_` : '';
    // by what each layer reads: token ids (Embedding), sequences (the recurrent layers) or
    // features (Dense; a Dropout, without a size, is the identity at inference)
    if (layer.reads === 'tokens') {
      // a quantized table is looked up dequantized, as cellstate does
      const w =
        isQuantizable(layer) && layer.quantized
          ? quantizedTable(layer.quantizedParameters().weight)
          : layer.parameters().weight;
      const y = g.node(
        'Gather',
        `${prefix}embedding`,
        [g.floats(`${prefix}weight`, [...w.shape], w.data), flow.name],
        1,
        [attrInt('axis', 0)],
      )[0];
      flow = { name: y, F: layer.outputSize as number, perStep: true };
    } else if (layer.reads === 'sequence') {
      const rl = layer as Recurrent;
      const r = emitRecurrent(
        g,
        rl,
        flow.name,
        prefix,
        lengths,
        stateIn[finals.length],
        model instanceof Sequential ? `layer ${i}: ` : '',
      );
      flow = { name: r.y, F: rl.outputSize, perStep: true };
      finals.push({ layer: rl, ...r });
    } else if (layer.outputSize !== null) {
      flow = emitDense(g, layer as Dense, flow, prefix, lengths);
    }
  });
  let out = flow.name;
  if (batchFirst && flow.perStep)
    out = g.node('Transpose', 'batch_first_out', [out], 1, [attrInts('perm', [1, 0, 2])])[0];
  const outputName = 'output';
  g.nodes.push({
    name: g.unique('output_identity'),
    op_type: 'Identity',
    input: [out],
    output: [outputName],
    attribute: [],
  });
  outputs.push(
    valueInfo(
      outputName,
      DataType.FLOAT,
      flow.perStep ? (batchFirst ? ['B', 'T', flow.F] : ['T', 'B', flow.F]) : ['B', flow.F],
    ),
  );
  // The final states: of every recurrent layer with `state`; a lone recurrent layer gives its
  // own anyway, as forward does.
  const stateOut = (names: string[], out: string, layer: Recurrent) => {
    g.nodes.push({
      name: g.unique(`${out}_${names.length === 1 ? 'identity' : 'concat'}`),
      op_type: names.length === 1 ? 'Identity' : 'Concat',
      input: names,
      output: [out],
      attribute: names.length === 1 ? [] : [attrInt('axis', 0)],
    });
    const LD = layer.config.numLayers * (layer.config.bidirectional ? 2 : 1);
    outputs.push(valueInfo(out, DataType.FLOAT, [LD, 'B', layer.config.hiddenSize]));
  };
  if (withState || (first.reads === 'sequence' && layers.length === 1))
    finals.forEach((s, r) => {
      const names = stateNames(r);
      stateOut(s.h, names.h, s.layer);
      if (s.c.length > 0) stateOut(s.c, names.c, s.layer);
    });
  const msg: ModelMsg = {
    ir_version: 8,
    opset_import: [
      { domain: '', version: ONNX_OPSET },
      ...(g.microsoft ? [{ domain: MS_DOMAIN, version: MS_OPSET }] : []),
    ],
    producer_name: 'cellstate',
    graph: {
      name: 'cellstate',
      node: g.nodes,
      initializer: g.initializers,
      input: inputs,
      output: outputs,
    },
    metadata_props: [{ key: ONNX_CONFIG_KEY, value: JSON.stringify(modelConfig(model)) }],
  };
  const T = modelProto();
  return T.encode(T.fromObject(msg)).finish();
}

/** Writes the model as an ONNX file (atomically, as save). */
export async function exportOnnx(
  model: Model,
  file: string,
  opts?: OnnxExportOptions,
): Promise<void> {
  if (typeof file !== 'string' || file.length === 0)
    throw new CellstateTypeError(
      ErrorCode.INVALID_ARG,
      `exportOnnx: path must be a non-empty string, got ${describe(file)}`,
    );
  const bytes = toOnnx(model, opts);
  await writeAtomic(file, bytes, 'exportOnnx');
}
