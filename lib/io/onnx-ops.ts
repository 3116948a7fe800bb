// The ONNX operators around the recurrent nodes that exporters write (PyTorch, tf2onnx,
// keras2onnx), run by lib/io/onnx-graph.ts on plain typed arrays: shape glue (Transpose,
// Squeeze, Unsqueeze, Reshape, Slice, Gather, GatherND, Concat, Shape, ConstantOfShape, Expand,
// Identity, Cast, Constant, …) on float and integer tensors, and the heads (MatMul, Gemm,
// element-wise arithmetic with broadcasting, activations, Softmax). Each operator is one function
// of its inputs and attributes, as the ONNX operator documentation defines it for the opsets
// 7–22; a malformed input (a shape that does not broadcast, an index out of range) throws
// ERR_CELLSTATE_ONNX_INVALID naming the node.
import { CellstateError, ErrorCode } from '../errors';
import { MAX_ELEMENTS } from '../limits';
import { AttributeType, DataType, type AttributeMsg, type NodeMsg } from './onnx-schema';

/** The element types the graph runner computes in. */
export type ElemType = 'float32' | 'int64' | 'int32' | 'bool';

/**
 * A tensor of the runner: float32 data in a Float32Array, integers and booleans (exact up to
 * 2^53) in a Float64Array; row-major.
 */
export interface OnnxValue {
  readonly type: ElemType;
  readonly dims: readonly number[];
  readonly data: Float32Array | Float64Array;
}

/** The ONNX data types the runner reads, by their TensorProto number. */
export const ELEM_TYPES: Readonly<Record<number, ElemType>> = {
  [DataType.FLOAT]: 'float32',
  [DataType.INT64]: 'int64',
  [DataType.INT32]: 'int32',
  9: 'bool',
};

/** The values of `dims`, refused beyond MAX_ELEMENTS (before anything that size is allocated). */
function checkedSize(dims: readonly number[]): number {
  const n = size(dims);
  if (dims.some((d) => !(Number.isSafeInteger(d) && d >= 0)))
    throw new CellstateError(
      ErrorCode.ONNX_INVALID,
      `a tensor of shape [${dims.join(', ')}]: every dimension must be a non-negative integer`,
    );
  if (!(n <= MAX_ELEMENTS))
    throw new CellstateError(
      ErrorCode.ONNX_UNSUPPORTED,
      `a tensor of shape [${dims.join(', ')}] (${n} values) exceeds the limit of ${MAX_ELEMENTS} values (MAX_ELEMENTS) for one value of an ONNX graph`,
    );
  return n;
}

/** A new value of `dims` (zeros, or `data`); more than MAX_ELEMENTS values is refused. */
export function makeValue(type: ElemType, dims: readonly number[], data?: ArrayLike<number>) {
  const n = checkedSize(dims);
  const out = type === 'float32' ? new Float32Array(n) : new Float64Array(n);
  if (data) out.set(data as ArrayLike<number>);
  return { type, dims: [...dims], data: out } as OnnxValue;
}

export function size(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

function strides(dims: readonly number[]): number[] {
  const s = new Array<number>(dims.length);
  let k = 1;
  for (let i = dims.length - 1; i >= 0; --i) {
    s[i] = k;
    k *= dims[i];
  }
  return s;
}

/** What an operator function sees of its node. */
export class OpContext {
  private readonly attributes = new Map<string, AttributeMsg>();
  constructor(
    readonly node: NodeMsg,
    /** The default domain's opset the model imports. */
    readonly opset: number,
  ) {
    for (const a of node.attribute ?? []) this.attributes.set(a.name ?? '', a);
  }

  get label(): string {
    return `node '${this.node.name ?? ''}' (${this.node.op_type ?? ''})`;
  }

  /** ERR_CELLSTATE_ONNX_INVALID: the node's inputs or attributes are not what its operator takes. */
  invalid(why: string): CellstateError {
    return new CellstateError(ErrorCode.ONNX_INVALID, `${this.label}: ${why}`);
  }

  /** ERR_CELLSTATE_ONNX_UNSUPPORTED: valid ONNX the runner does not compute. */
  unsupported(why: string): CellstateError {
    return new CellstateError(ErrorCode.ONNX_UNSUPPORTED, `${this.label} ${why}`);
  }

  has(name: string): boolean {
    return this.attributes.has(name);
  }

  /** The attribute, checked to be of `type`; a zero value (0, 0.0) is absent from the decoded
   * message (protobuf's default) and reads as 0. */
  private typed(name: string, type: number): AttributeMsg | undefined {
    const a = this.attributes.get(name);
    if (!a) return undefined;
    if (a.type !== undefined && a.type !== 0 && a.type !== type)
      throw this.invalid(`attribute '${name}' has type ${a.type}, expected ${type}`);
    return a;
  }

  int(name: string, fallback: number): number {
    const a = this.typed(name, AttributeType.INT);
    return a ? Number(a.i ?? 0) : fallback;
  }

  float(name: string, fallback: number): number {
    const a = this.typed(name, AttributeType.FLOAT);
    return a ? (a.f ?? 0) : fallback;
  }

  ints(name: string): number[] | null {
    const a = this.typed(name, AttributeType.INTS);
    return a ? (a.ints ?? []).map(Number) : null;
  }

  floats(name: string): number[] | null {
    const a = this.typed(name, AttributeType.FLOATS);
    return a ? [...(a.floats ?? [])] : null;
  }

  raw(name: string): AttributeMsg | undefined {
    return this.attributes.get(name);
  }

  /** A normalized axis of a tensor of rank `rank` (negative counts from the end). */
  axis(axis: number, rank: number, what = 'axis'): number {
    const a = axis < 0 ? axis + rank : axis;
    if (!Number.isInteger(a) || a < 0 || a >= rank)
      throw this.invalid(`${what} ${axis} is out of range for a tensor of rank ${rank}`);
    return a;
  }
}

/** An operator: the node's outputs from its inputs (null for an absent optional input). */
export type OpFunction = (ctx: OpContext, inputs: readonly (OnnxValue | null)[]) => OnnxValue[];

function need(ctx: OpContext, inputs: readonly (OnnxValue | null)[], i: number): OnnxValue {
  const v = inputs[i];
  if (!v) throw ctx.invalid(`input ${i} is missing`);
  return v;
}

function needFloat(ctx: OpContext, v: OnnxValue, what = 'its input'): void {
  if (v.type !== 'float32')
    throw ctx.unsupported(`reads ${what} of type ${v.type}; it computes on float`);
}

/** Integer values of a 0-D or 1-D tensor (shapes, axes, indices). */
function intList(ctx: OpContext, v: OnnxValue, what: string): number[] {
  if (v.type === 'float32') throw ctx.invalid(`${what} must be an integer tensor, got float`);
  if (v.dims.length > 1)
    throw ctx.invalid(`${what} must be 0-D or 1-D, got [${v.dims.join(', ')}]`);
  return Array.from(v.data);
}

// ---- element-wise with broadcasting ---------------------------------------------------------

/** The multidirectional (numpy) broadcast of shapes; throws if they do not broadcast. */
export function broadcastDims(ctx: OpContext, shapes: readonly (readonly number[])[]): number[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes)
    for (let i = 0; i < s.length; ++i) {
      const j = rank - s.length + i;
      const d = s[i];
      if (out[j] === 1) out[j] = d;
      else if (d !== 1 && d !== out[j])
        throw ctx.invalid(
          `shapes ${shapes.map((x) => `[${x.join(', ')}]`).join(' and ')} do not broadcast`,
        );
    }
  return out;
}

/** For each element of `out`, the element of `v` that broadcasts to it. */
function broadcastIndex(v: readonly number[], out: readonly number[]): Int32Array {
  const n = checkedSize(out);
  const idx = new Int32Array(n);
  const rank = out.length;
  const vs = strides(v);
  const st = new Array<number>(rank).fill(0);
  for (let i = 0; i < v.length; ++i) {
    const j = rank - v.length + i;
    st[j] = v[i] === 1 ? 0 : vs[i];
  }
  const counter = new Array<number>(rank).fill(0);
  let at = 0;
  for (let k = 0; k < n; ++k) {
    idx[k] = at;
    for (let d = rank - 1; d >= 0; --d) {
      if (++counter[d] < out[d]) {
        at += st[d];
        break;
      }
      at -= st[d] * (out[d] - 1);
      counter[d] = 0;
    }
  }
  return idx;
}

function binary(
  fn: (a: number, b: number) => number,
  intFn: (a: number, b: number) => number = fn,
): OpFunction {
  return (ctx, inputs) => {
    const a = need(ctx, inputs, 0);
    const b = need(ctx, inputs, 1);
    if (a.type !== b.type) throw ctx.invalid(`combines types ${a.type} and ${b.type}`);
    const dims = broadcastDims(ctx, [a.dims, b.dims]);
    const out = makeValue(a.type, dims);
    const ia = broadcastIndex(a.dims, dims);
    const ib = broadcastIndex(b.dims, dims);
    const f = a.type === 'float32' ? fn : intFn;
    for (let k = 0; k < out.data.length; ++k) out.data[k] = f(a.data[ia[k]], b.data[ib[k]]);
    return [out];
  };
}

function unary(fn: (x: number, ctx: OpContext) => number, floatOnly = true): OpFunction {
  return (ctx, inputs) => {
    const x = need(ctx, inputs, 0);
    if (floatOnly) needFloat(ctx, x);
    const out = makeValue(x.type, x.dims);
    for (let k = 0; k < x.data.length; ++k) out.data[k] = fn(x.data[k], ctx);
    return [out];
  };
}

const truncDiv = (a: number, b: number) => {
  if (b === 0) return 0;
  return Math.trunc(a / b);
};

// ---- matrix products ------------------------------------------------------------------------

const matMul: OpFunction = (ctx, inputs) => {
  const a0 = need(ctx, inputs, 0);
  const b0 = need(ctx, inputs, 1);
  needFloat(ctx, a0);
  needFloat(ctx, b0);
  if (a0.dims.length === 0 || b0.dims.length === 0) throw ctx.invalid('multiplies a scalar');
  const a = a0.dims.length === 1 ? [1, a0.dims[0]] : [...a0.dims];
  const b = b0.dims.length === 1 ? [b0.dims[0], 1] : [...b0.dims];
  const M = a[a.length - 2];
  const K = a[a.length - 1];
  const N = b[b.length - 1];
  if (b[b.length - 2] !== K)
    throw ctx.invalid(`multiplies [${a0.dims.join(', ')}] by [${b0.dims.join(', ')}]`);
  const batch = broadcastDims(ctx, [a.slice(0, -2), b.slice(0, -2)]);
  const ia = broadcastIndex(a.slice(0, -2), batch);
  const ib = broadcastIndex(b.slice(0, -2), batch);
  const outDims = [...batch, M, N];
  const out = new Float32Array(checkedSize(outDims));
  const acc = new Float64Array(N);
  for (let p = 0; p < ia.length; ++p) {
    const ao = ia[p] * M * K;
    const bo = ib[p] * K * N;
    const oo = p * M * N;
    for (let i = 0; i < M; ++i) {
      acc.fill(0);
      for (let k = 0; k < K; ++k) {
        const av = a0.data[ao + i * K + k];
        if (av === 0) continue;
        const row = bo + k * N;
        for (let j = 0; j < N; ++j) acc[j] += av * b0.data[row + j];
      }
      for (let j = 0; j < N; ++j) out[oo + i * N + j] = acc[j];
    }
  }
  let dims = outDims;
  if (a0.dims.length === 1) dims = [...dims.slice(0, -2), N];
  if (b0.dims.length === 1) dims = a0.dims.length === 1 ? dims.slice(0, -1) : dims.slice(0, -1);
  return [{ type: 'float32', dims, data: out }];
};

const gemm: OpFunction = (ctx, inputs) => {
  const A = need(ctx, inputs, 0);
  const Bm = need(ctx, inputs, 1);
  needFloat(ctx, A);
  needFloat(ctx, Bm);
  if (A.dims.length !== 2 || Bm.dims.length !== 2)
    throw ctx.invalid(
      `A and B must be matrices, got [${A.dims.join(', ')}] and [${Bm.dims.join(', ')}]`,
    );
  const tA = ctx.int('transA', 0) === 1;
  const tB = ctx.int('transB', 0) === 1;
  const alpha = ctx.float('alpha', 1);
  const beta = ctx.float('beta', 1);
  const [M, K] = tA ? [A.dims[1], A.dims[0]] : [A.dims[0], A.dims[1]];
  const [K2, N] = tB ? [Bm.dims[1], Bm.dims[0]] : [Bm.dims[0], Bm.dims[1]];
  if (K !== K2) throw ctx.invalid(`multiplies [${M}, ${K}] by [${K2}, ${N}]`);
  const out = new Float32Array(checkedSize([M, N]));
  const C = inputs[2] ?? null;
  let ic: Int32Array | null = null;
  if (C) {
    needFloat(ctx, C, 'C');
    if (size(broadcastDims(ctx, [C.dims, [M, N]])) !== M * N || C.dims.length > 2)
      throw ctx.invalid(`C [${C.dims.join(', ')}] does not broadcast to [${M}, ${N}]`);
    ic = broadcastIndex(C.dims, [M, N]);
  }
  for (let i = 0; i < M; ++i)
    for (let j = 0; j < N; ++j) {
      let s = 0;
      for (let k = 0; k < K; ++k)
        s += A.data[tA ? k * M + i : i * K + k] * Bm.data[tB ? j * K + k : k * N + j];
      out[i * N + j] = alpha * s + (C && ic ? beta * C.data[ic[i * N + j]] : 0);
    }
  return [{ type: 'float32', dims: [M, N], data: out }];
};

// ---- softmax ----------------------------------------------------------------------------------

function softmaxOp(log: boolean): OpFunction {
  return (ctx, inputs) => {
    const x = need(ctx, inputs, 0);
    needFloat(ctx, x);
    const rank = x.dims.length;
    const out = makeValue('float32', x.dims);
    // opset < 13: the input coerced to 2-D at `axis` (default 1); from 13: along `axis` (default −1)
    const old = ctx.opset < 13;
    const axis = ctx.axis(ctx.int('axis', old ? 1 : -1), Math.max(rank, 1));
    const outer = size(x.dims.slice(0, axis));
    const len = old ? size(x.dims.slice(axis)) : (x.dims[axis] ?? 1);
    const inner = old ? 1 : size(x.dims.slice(axis + 1));
    for (let o = 0; o < outer; ++o)
      for (let i = 0; i < inner; ++i) {
        const at = (k: number) => o * len * inner + k * inner + i;
        let m = -Infinity;
        for (let k = 0; k < len; ++k) m = Math.max(m, x.data[at(k)]);
        let s = 0;
        for (let k = 0; k < len; ++k) s += Math.exp(x.data[at(k)] - m);
        for (let k = 0; k < len; ++k)
          out.data[at(k)] = log ? x.data[at(k)] - m - Math.log(s) : Math.exp(x.data[at(k)] - m) / s;
      }
    return [out];
  };
}

// ---- shape glue -----------------------------------------------------------------------------

function transposeValue(x: OnnxValue, perm: readonly number[]): OnnxValue {
  const rank = x.dims.length;
  const dims = perm.map((p) => x.dims[p]);
  const out = makeValue(x.type, dims);
  const inStrides = strides(x.dims);
  const st = perm.map((p) => inStrides[p]);
  const n = out.data.length;
  const counter = new Array<number>(rank).fill(0);
  let at = 0;
  for (let k = 0; k < n; ++k) {
    out.data[k] = x.data[at];
    for (let d = rank - 1; d >= 0; --d) {
      if (++counter[d] < dims[d]) {
        at += st[d];
        break;
      }
      at -= st[d] * (dims[d] - 1);
      counter[d] = 0;
    }
  }
  return out;
}

export { transposeValue };

const transpose: OpFunction = (ctx, inputs) => {
  const x = need(ctx, inputs, 0);
  const rank = x.dims.length;
  const perm = ctx.ints('perm') ?? Array.from({ length: rank }, (_, i) => rank - 1 - i);
  const seen = new Set(perm);
  if (perm.length !== rank || seen.size !== rank || perm.some((p) => !(p >= 0 && p < rank)))
    throw ctx.invalid(`perm [${perm.join(', ')}] is not a permutation of ${rank} axes`);
  return [transposeValue(x, perm)];
};

function reshaped(x: OnnxValue, dims: number[]): OnnxValue {
  return { type: x.type, dims, data: x.data };
}

/** Axes of Squeeze / Unsqueeze / ReduceX: the attribute (opset < 13) or input 1 (from 13). */
function axesOf(ctx: OpContext, inputs: readonly (OnnxValue | null)[]): number[] | null {
  const attr = ctx.ints('axes');
  if (attr) return attr;
  const v = inputs[1] ?? null;
  return v ? intList(ctx, v, 'axes') : null;
}

const squeeze: OpFunction = (ctx, inputs) => {
  const x = need(ctx, inputs, 0);
  const rank = x.dims.length;
  const axes = axesOf(ctx, inputs);
  const drop = new Set(
    axes ? axes.map((a) => ctx.axis(a, rank)) : x.dims.flatMap((d, i) => (d === 1 ? [i] : [])),
  );
  for (const a of drop)
    if (x.dims[a] !== 1) throw ctx.invalid(`squeezes axis ${a} of size ${x.dims[a]}`);
  return [
    reshaped(
      x,
      x.dims.filter((_, i) => !drop.has(i)),
    ),
  ];
};

const unsqueeze: OpFunction = (ctx, inputs) => {
  const x = need(ctx, inputs, 0);
  const axes = axesOf(ctx, inputs);
  if (!axes) throw ctx.invalid('has no axes');
  const rank = x.dims.length + axes.length;
  const at = axes.map((a) => ctx.axis(a, rank)).sort((p, q) => p - q);
  if (new Set(at).size !== at.length) throw ctx.invalid('repeats an axis');
  const dims = [...x.dims];
  for (const a of at) dims.splice(a, 0, 1);
  return [reshaped(x, dims)];
};

const reshape: OpFunction = (ctx, inputs) => {
  const x = need(ctx, inputs, 0);
  const shapeV = inputs[1] ?? null;
  const shape = shapeV ? intList(ctx, shapeV, 'shape') : ctx.ints('shape');
  if (!shape) throw ctx.invalid('has no shape');
  const allowZero = ctx.int('allowzero', 0) === 1;
  const dims = shape.map((d, i) => {
    if (d === 0 && !allowZero) {
      if (i >= x.dims.length) throw ctx.invalid(`copies dimension ${i}, which the input has not`);
      return x.dims[i];
    }
    return d;
  });
  const unknown = dims.filter((d) => d === -1).length;
  if (unknown > 1 || dims.some((d) => d < -1)) throw ctx.invalid(`has shape [${shape.join(', ')}]`);
  const n = size(x.dims);
  if (unknown === 1) {
    const known = size(dims.filter((d) => d !== -1));
    if (known === 0 || n % known !== 0)
      throw ctx.invalid(`cannot reshape [${x.dims.join(', ')}] to [${shape.join(', ')}]`);
    dims[dims.indexOf(-1)] = n / known;
  }
  if (size(dims) !== n)
    throw ctx.invalid(
      `cannot reshape [${x.dims.join(', ')}] (${n} values) to [${dims.join(', ')}]`,
    );
  return [reshaped(x, dims)];
};

const flatten: OpFunction = (ctx, inputs) => {
  const x = need(ctx, inputs, 0);
  const rank = x.dims.length;
  let axis = ctx.int('axis', 1);
  if (axis < 0) axis += rank;
  if (axis < 0 || axis > rank) throw ctx.invalid(`axis ${axis} is out of range`);
  return [reshaped(x, [size(x.dims.slice(0, axis)), size(x.dims.slice(axis))])];
};

const slice: OpFunction = (ctx, inputs) => {
  const x = need(ctx, inputs, 0);
  const rank = x.dims.length;
  let starts: number[];
  let ends: number[];
  let axes: number[] | null;
  let steps: number[] | null = null;
  if (ctx.opset < 10) {
    starts = ctx.ints('starts') ?? [];
    ends = ctx.ints('ends') ?? [];
    axes = ctx.ints('axes');
  } else {
    starts = intList(ctx, need(ctx, inputs, 1), 'starts');
    ends = intList(ctx, need(ctx, inputs, 2), 'ends');
    axes = inputs[3] ? intList(ctx, inputs[3], 'axes') : null;
    steps = inputs[4] ? intList(ctx, inputs[4], 'steps') : null;
  }
  if (starts.length !== ends.length) throw ctx.invalid('has starts and ends of different lengths');
  const ax = (axes ?? starts.map((_, i) => i)).map((a) => ctx.axis(a, rank));
  if (ax.length !== starts.length || (steps && steps.length !== starts.length))
    throw ctx.invalid('has starts, ends, axes and steps of different lengths');
  if (new Set(ax).size !== ax.length) throw ctx.invalid('repeats an axis');
  const from = x.dims.map(() => 0);
  const step = x.dims.map(() => 1);
  const count = [...x.dims];
  ax.forEach((a, i) => {
    const d = x.dims[a];
    const s = steps ? steps[i] : 1;
    if (s === 0) throw ctx.invalid('has a step of 0');
    from[a] = 0;
    step[a] = s;
    if (d === 0) {
      // an empty axis stays empty whatever the bounds (clamping would give [0, −1] backwards)
      count[a] = 0;
      return;
    }
    let b = starts[i];
    let e = ends[i];
    if (b < 0) b += d;
    if (e < 0) e += d;
    if (s > 0) {
      b = Math.max(0, Math.min(d, b));
      e = Math.max(0, Math.min(d, e));
      count[a] = Math.max(0, Math.ceil((e - b) / s));
    } else {
      // backward: starts clamped to [0, d − 1], ends to [−1, d − 1] (the operator's text)
      b = Math.max(0, Math.min(d - 1, b));
      e = Math.max(-1, Math.min(d - 1, e));
      count[a] = Math.max(0, Math.ceil((e - b) / s));
    }
    from[a] = b;
    step[a] = s;
  });
  const out = makeValue(x.type, count);
  const st = strides(x.dims);
  const n = out.data.length;
  const counter = new Array<number>(rank).fill(0);
  for (let k = 0; k < n; ++k) {
    let at = 0;
    for (let d = 0; d < rank; ++d) at += (from[d] + counter[d] * step[d]) * st[d];
    out.data[k] = x.data[at];
    for (let d = rank - 1; d >= 0; --d) {
      if (++counter[d] < count[d]) break;
      counter[d] = 0;
    }
  }
  return [out];
};

const gather: OpFunction = (ctx, inputs) => {
  const x = need(ctx, inputs, 0);
  const idx = need(ctx, inputs, 1);
  if (idx.type === 'float32' || idx.type === 'bool') throw ctx.invalid('has non-integer indices');
  const axis = ctx.axis(ctx.int('axis', 0), x.dims.length);
  const d = x.dims[axis];
  const outer = size(x.dims.slice(0, axis));
  const inner = size(x.dims.slice(axis + 1));
  const dims = [...x.dims.slice(0, axis), ...idx.dims, ...x.dims.slice(axis + 1)];
  const out = makeValue(x.type, dims);
  const m = idx.data.length;
  for (let j = 0; j < m; ++j) {
    let i = idx.data[j];
    if (i < 0) i += d;
    if (!(i >= 0 && i < d))
      throw ctx.invalid(`index ${idx.data[j]} is out of range for axis ${axis} of size ${d}`);
    for (let o = 0; o < outer; ++o)
      out.data.set(
        x.data.subarray((o * d + i) * inner, (o * d + i + 1) * inner),
        (o * m + j) * inner,
      );
  }
  return [out];
};

const gatherND: OpFunction = (ctx, inputs) => {
  const x = need(ctx, inputs, 0);
  const idx = need(ctx, inputs, 1);
  if (idx.type === 'float32' || idx.type === 'bool') throw ctx.invalid('has non-integer indices');
  const b = ctx.int('batch_dims', 0);
  const q = idx.dims.length;
  const r = x.dims.length;
  const k = idx.dims[q - 1];
  if (q < 1 || b < 0 || b >= Math.min(q, r) || !(k >= 1 && k <= r - b))
    throw ctx.invalid(`indices [${idx.dims.join(', ')}] do not index data [${x.dims.join(', ')}]`);
  for (let i = 0; i < b; ++i)
    if (idx.dims[i] !== x.dims[i]) throw ctx.invalid('has batch dimensions that differ');
  const batch = size(x.dims.slice(0, b));
  const perBatch = size(idx.dims.slice(b, q - 1));
  const inner = size(x.dims.slice(b + k));
  const xBatch = size(x.dims.slice(b));
  const xs = strides(x.dims.slice(b));
  const dims = [...idx.dims.slice(0, q - 1), ...x.dims.slice(b + k)];
  const out = makeValue(x.type, dims);
  for (let bb = 0; bb < batch; ++bb)
    for (let p = 0; p < perBatch; ++p) {
      const row = (bb * perBatch + p) * k;
      let at = bb * xBatch;
      for (let j = 0; j < k; ++j) {
        let i = idx.data[row + j];
        const d = x.dims[b + j];
        if (i < 0) i += d;
        if (!(i >= 0 && i < d)) throw ctx.invalid(`index ${idx.data[row + j]} is out of range`);
        at += i * xs[j];
      }
      out.data.set(x.data.subarray(at, at + inner), (bb * perBatch + p) * inner);
    }
  return [out];
};

const concat: OpFunction = (ctx, inputs) => {
  const xs = inputs.filter((v): v is OnnxValue => v !== null);
  if (xs.length === 0) throw ctx.invalid('has no inputs');
  const rank = xs[0].dims.length;
  const axis = ctx.axis(ctx.int('axis', ctx.opset < 4 ? 1 : 0), rank);
  for (const v of xs)
    if (
      v.type !== xs[0].type ||
      v.dims.length !== rank ||
      v.dims.some((d, i) => i !== axis && d !== xs[0].dims[i])
    )
      throw ctx.invalid(
        `joins ${xs.map((v) => `${v.type} [${v.dims.join(', ')}]`).join(', ')} on axis ${axis}`,
      );
  const dims = [...xs[0].dims];
  dims[axis] = xs.reduce((s, v) => s + v.dims[axis], 0);
  const out = makeValue(xs[0].type, dims);
  const outer = size(dims.slice(0, axis));
  const inner = size(dims.slice(axis + 1));
  let offset = 0;
  for (const v of xs) {
    const w = v.dims[axis] * inner;
    for (let o = 0; o < outer; ++o)
      out.data.set(v.data.subarray(o * w, (o + 1) * w), o * dims[axis] * inner + offset);
    offset += w;
  }
  return [out];
};

const shape: OpFunction = (ctx, inputs) => {
  const x = need(ctx, inputs, 0);
  const rank = x.dims.length;
  const clamp = (v: number) => Math.max(0, Math.min(rank, v < 0 ? v + rank : v));
  const s = clamp(ctx.int('start', 0));
  const e = ctx.has('end') ? clamp(ctx.int('end', rank)) : rank;
  const dims = x.dims.slice(s, Math.max(s, e));
  return [makeValue('int64', [dims.length], dims)];
};

const size1: OpFunction = (ctx, inputs) => [
  makeValue('int64', [], [size(need(ctx, inputs, 0).dims)]),
];

const constantOfShape: OpFunction = (ctx, inputs) => {
  const s = intList(ctx, need(ctx, inputs, 0), 'shape');
  if (s.some((d) => !(Number.isSafeInteger(d) && d >= 0)))
    throw ctx.invalid(`has shape [${s.join(', ')}]`);
  const t = ctx.raw('value')?.t;
  const fill = t ? tensorToValue(t, `${ctx.label} value`) : makeValue('float32', [1], [0]);
  if (fill.data.length !== 1) throw ctx.invalid('has a value of more than one element');
  const out = makeValue(fill.type, s);
  out.data.fill(fill.data[0]);
  return [out];
};

const expand: OpFunction = (ctx, inputs) => {
  const x = need(ctx, inputs, 0);
  const s = intList(ctx, need(ctx, inputs, 1), 'shape');
  if (s.some((d) => !(Number.isSafeInteger(d) && d >= 0)))
    throw ctx.invalid(`has shape [${s.join(', ')}]`);
  const dims = broadcastDims(ctx, [x.dims, s]);
  const idx = broadcastIndex(x.dims, dims);
  const out = makeValue(x.type, dims);
  for (let k = 0; k < idx.length; ++k) out.data[k] = x.data[idx[k]];
  return [out];
};

const tile: OpFunction = (ctx, inputs) => {
  const x = need(ctx, inputs, 0);
  const reps = intList(ctx, need(ctx, inputs, 1), 'repeats');
  if (reps.length !== x.dims.length || reps.some((r) => r < 0))
    throw ctx.invalid(`repeats [${reps.join(', ')}] do not fit rank ${x.dims.length}`);
  const dims = x.dims.map((d, i) => d * reps[i]);
  const out = makeValue(x.type, dims);
  const st = strides(x.dims);
  const rank = dims.length;
  const counter = new Array<number>(rank).fill(0);
  for (let k = 0; k < out.data.length; ++k) {
    let at = 0;
    for (let d = 0; d < rank; ++d) at += (counter[d] % x.dims[d]) * st[d];
    out.data[k] = x.data[at];
    for (let d = rank - 1; d >= 0; --d) {
      if (++counter[d] < dims[d]) break;
      counter[d] = 0;
    }
  }
  return [out];
};

const identity: OpFunction = (ctx, inputs) => [need(ctx, inputs, 0)];

const dropout: OpFunction = (ctx, inputs) => {
  const x = need(ctx, inputs, 0);
  // inference: the identity, and an all-true mask
  const mask = makeValue('bool', x.dims);
  mask.data.fill(1);
  return [x, mask];
};

/** Cast's `to`: the ONNX element type, which must be one the runner computes in. */
export function castTarget(ctx: OpContext): ElemType {
  const to = ctx.int('to', -1);
  const t = ELEM_TYPES[to];
  if (!t)
    throw ctx.unsupported(
      `casts to data type ${to}; the runner computes in float, int32, int64 and bool`,
    );
  return t;
}

function castData(v: number, to: ElemType): number {
  if (to === 'float32') return v;
  if (to === 'bool') return v !== 0 ? 1 : 0;
  if (Number.isNaN(v)) return 0;
  const t = Math.trunc(v);
  return to === 'int32' ? t | 0 : t;
}

const cast: OpFunction = (ctx, inputs) => {
  const x = need(ctx, inputs, 0);
  const to = castTarget(ctx);
  if (to === x.type) return [x];
  const out = makeValue(to, x.dims);
  for (let k = 0; k < x.data.length; ++k) out.data[k] = castData(x.data[k], to);
  return [out];
};

const constant: OpFunction = (ctx) => {
  const t = ctx.raw('value')?.t;
  if (t) return [tensorToValue(t, ctx.label)];
  const ints = ctx.ints('value_ints');
  if (ints) return [makeValue('int64', [ints.length], ints)];
  if (ctx.has('value_int')) return [makeValue('int64', [], [ctx.int('value_int', 0)])];
  const fl = ctx.floats('value_floats');
  if (fl) return [makeValue('float32', [fl.length], fl)];
  if (ctx.has('value_float')) return [makeValue('float32', [], [ctx.float('value_float', 0)])];
  throw ctx.unsupported('has no tensor, int(s) or float(s) value');
};

const range: OpFunction = (ctx, inputs) => {
  const [s, l, d] = [0, 1, 2].map((i) => need(ctx, inputs, i));
  if (s.data.length !== 1 || l.data.length !== 1 || d.data.length !== 1 || d.data[0] === 0)
    throw ctx.invalid('takes scalar start, limit and a non-zero delta');
  const n = Math.max(0, Math.ceil((l.data[0] - s.data[0]) / d.data[0]));
  const out = makeValue(s.type, [n]);
  for (let k = 0; k < n; ++k) out.data[k] = s.data[0] + k * d.data[0];
  return [out];
};

const where: OpFunction = (ctx, inputs) => {
  const [c, a, b] = [0, 1, 2].map((i) => need(ctx, inputs, i));
  if (a.type !== b.type) throw ctx.invalid(`selects between types ${a.type} and ${b.type}`);
  const dims = broadcastDims(ctx, [c.dims, a.dims, b.dims]);
  const [ic, ia, ib] = [c, a, b].map((v) => broadcastIndex(v.dims, dims));
  const out = makeValue(a.type, dims);
  for (let k = 0; k < out.data.length; ++k)
    out.data[k] = c.data[ic[k]] ? a.data[ia[k]] : b.data[ib[k]];
  return [out];
};

function compare(fn: (a: number, b: number) => boolean): OpFunction {
  return (ctx, inputs) => {
    const a = need(ctx, inputs, 0);
    const b = need(ctx, inputs, 1);
    const dims = broadcastDims(ctx, [a.dims, b.dims]);
    const ia = broadcastIndex(a.dims, dims);
    const ib = broadcastIndex(b.dims, dims);
    const out = makeValue('bool', dims);
    for (let k = 0; k < out.data.length; ++k)
      out.data[k] = fn(a.data[ia[k]], b.data[ib[k]]) ? 1 : 0;
    return [out];
  };
}

const sigmoid = (x: number) => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));

/** The operators of the default domain the runner computes, by op_type. */
export const OPS: Readonly<Record<string, OpFunction>> = {
  Identity: identity,
  Dropout: dropout,
  Cast: cast,
  Constant: constant,
  Shape: shape,
  Size: size1,
  ConstantOfShape: constantOfShape,
  Expand: expand,
  Tile: tile,
  Transpose: transpose,
  Squeeze: squeeze,
  Unsqueeze: unsqueeze,
  Reshape: reshape,
  Flatten: flatten,
  Slice: slice,
  Gather: gather,
  GatherND: gatherND,
  Concat: concat,
  Range: range,
  Where: where,
  Equal: compare((a, b) => a === b),
  Less: compare((a, b) => a < b),
  Greater: compare((a, b) => a > b),
  Not: unary((x) => (x ? 0 : 1), false),
  MatMul: matMul,
  Gemm: gemm,
  Add: binary((a, b) => a + b),
  Sub: binary((a, b) => a - b),
  Mul: binary((a, b) => a * b),
  Div: binary((a, b) => a / b, truncDiv),
  Max: binary(Math.max),
  Min: binary(Math.min),
  Pow: binary(Math.pow),
  Neg: unary((x) => -x, false),
  Abs: unary(Math.abs, false),
  Exp: unary(Math.exp),
  Log: unary(Math.log),
  Sqrt: unary(Math.sqrt),
  Reciprocal: unary((x) => 1 / x),
  Sigmoid: unary(sigmoid),
  Tanh: unary(Math.tanh),
  Relu: unary((x) => (x > 0 ? x : 0)),
  LeakyRelu: unary((x, c) => (x >= 0 ? x : c.float('alpha', 0.01) * x)),
  Elu: unary((x, c) => (x >= 0 ? x : c.float('alpha', 1) * (Math.exp(x) - 1))),
  HardSigmoid: unary((x, c) =>
    Math.max(0, Math.min(1, c.float('alpha', 0.2) * x + c.float('beta', 0.5))),
  ),
  Softsign: unary((x) => x / (1 + Math.abs(x))),
  Softplus: unary((x) => (x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x)))),
  Softmax: softmaxOp(false),
  LogSoftmax: softmaxOp(true),
};

// ---- tensors of the file ----------------------------------------------------------------------

/** A TensorProto (initializer, Constant value) as a runner value; `what` names it in errors. */
export function tensorToValue(t: import('./onnx-schema').TensorMsg, what: string): OnnxValue {
  if (t.data_location === 1 || (t.external_data && t.external_data.length > 0))
    throw new CellstateError(
      ErrorCode.ONNX_UNSUPPORTED,
      `importOnnx: ${what} keeps its data outside the file (external data); save the model with every tensor inside it`,
    );
  const dims = (t.dims ?? []).map(Number);
  if (dims.some((d) => !Number.isSafeInteger(d) || d < 0))
    throw new CellstateError(
      ErrorCode.ONNX_INVALID,
      `importOnnx: ${what} has dims [${dims.join(', ')}]`,
    );
  const code = t.data_type ?? 0;
  // int8 / uint8 (DynamicQuantizeLSTM's weights and zero points) are read as int32 values
  const small = code === DataType.INT8 || code === DataType.UINT8;
  const type =
    code === DataType.DOUBLE || code === DataType.FLOAT16
      ? 'float32'
      : small
        ? 'int32'
        : ELEM_TYPES[code];
  if (!type)
    throw new CellstateError(
      ErrorCode.ONNX_UNSUPPORTED,
      `importOnnx: ${what} has data type ${code}; the runner reads float, double, float16, int8, uint8, int32, int64 and bool tensors`,
    );
  const count = size(dims);
  const item: Record<number, number> = {
    [DataType.FLOAT]: 4,
    [DataType.DOUBLE]: 8,
    [DataType.INT64]: 8,
    [DataType.INT32]: 4,
    [DataType.FLOAT16]: 2,
    [DataType.INT8]: 1,
    [DataType.UINT8]: 1,
    9: 1,
  };
  const raw = t.raw_data && t.raw_data.length > 0 ? t.raw_data : null;
  const src: ArrayLike<number> | undefined =
    code === DataType.FLOAT
      ? t.float_data
      : code === DataType.DOUBLE
        ? t.double_data
        : code === DataType.INT64
          ? t.int64_data
          : t.int32_data; // int32, bool and float16 (its bits) are stored in int32_data
  const available = raw ? raw.length / item[code] : (src?.length ?? 0);
  if (available !== count)
    throw new CellstateError(
      ErrorCode.ONNX_INVALID,
      `importOnnx: ${what} has dims [${dims.join(', ')}] (${count} values) but holds ${available}`,
    );
  const out = makeValue(type, dims);
  if (raw) {
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    for (let i = 0; i < count; ++i)
      out.data[i] =
        code === DataType.FLOAT
          ? view.getFloat32(4 * i, true)
          : code === DataType.DOUBLE
            ? view.getFloat64(8 * i, true)
            : code === DataType.INT64
              ? Number(view.getBigInt64(8 * i, true))
              : code === DataType.INT32
                ? view.getInt32(4 * i, true)
                : code === DataType.FLOAT16
                  ? halfBits(view.getUint16(2 * i, true))
                  : code === DataType.INT8
                    ? view.getInt8(i)
                    : view.getUint8(i);
  } else {
    for (let i = 0; i < count; ++i) {
      const v = Number(src![i]);
      // int32_data holds int8 values sign-extended, uint8 values as they are
      out.data[i] = code === DataType.FLOAT16 ? halfBits(v) : v;
    }
  }
  return out;
}

function halfBits(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}
