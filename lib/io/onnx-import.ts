// ONNX import: a graph that is a chain of LSTM / GRU / RNN nodes (with the Squeeze, Transpose
// and Reshape that join them), an optional Embedding (Gather) in front and Dense heads behind
// (MatMul + Add or Gemm, then Softmax / Sigmoid / Tanh / Relu) becomes a cellstate model. The
// nodes that only compute zero initial states from the input's shape (Shape, Gather, Unsqueeze,
// Concat, ConstantOfShape, Slice, Expand, as PyTorch's exporter writes them) are followed
// symbolically. Anything else is refused with the node's name and op type.
//
// The inverse of onnx-export.ts's mapping (docs/onnx.md): ONNX LSTM blocks i, o, f, c
// → cellstate's i, f, g, o (docs/cells.md); peepholes [p_i, p_o, p_f] → [p_i, p_f, p_o]; GRU
// z, r, h → r, z, n; input_forget = 1 → coupled, with cellstate's f block = −(ONNX's i slot) and
// p_f = −P_i (ONNX Runtime computes i from the i slot and f = 1 − i; the f slot is never read).
import { CellstateError, CellstateTypeError, ErrorCode, describe } from '../errors';
import {
  type CellSpec,
  cellOf,
  cellOfOnnxOp,
  cellOfQuantizedOnnxOp,
  findCell,
  initKeys,
  resolveCell,
} from '../cells';
import type { Recurrent } from '../layers/recurrent';
import { Sequential, type SequentialLayer } from '../model/sequential';
import { Tensor } from '../tensor';
import { ONNX_CONFIG_KEY } from './onnx-export';
import { stateInputNames } from './onnx-state';
import {
  type AttributeMsg,
  AttributeType,
  DataType,
  type GraphMsg,
  type ModelMsg,
  type NodeMsg,
  type TensorMsg,
  modelProto,
} from './onnx-schema';
import {
  type LoadedModel,
  type Model,
  type ModelClass,
  checkLoaded,
  checkStoredConfig,
  layerFromConfig,
  readExpect,
  setModelParameters,
} from './registry';
import { readRegularFile } from './read';
import {
  MS_DOMAIN,
  type NodeReporter,
  dequantizeLstmWeights,
  readRecurrentNode,
} from './onnx-recurrent';
import { OnnxGraph, OnnxGraphModel, type OnnxRunnable, type SharedLayer } from './onnx-graph';
import { OptionReader } from '../options';
import { halfToFloat } from './safetensors';

/** Options of importOnnx and fromOnnx. */
export interface OnnxImportOptions {
  /** The class the model must be (as load's `expect`); the result is typed by it. Default: any. */
  expect?: ModelClass | undefined;
}

const WHERE = 'importOnnx';

function invalid(message: string): CellstateError {
  return new CellstateError(ErrorCode.ONNX_INVALID, `${WHERE}: ${message}`);
}

function unsupported(message: string): CellstateError {
  return new CellstateError(ErrorCode.ONNX_UNSUPPORTED, `${WHERE}: ${message}`);
}

/**
 * A model from an ONNX file (a path or its bytes). A path must name a regular file of at most
 * MAX_FILE_BYTES (a FIFO or a device is refused with ERR_CELLSTATE_FILE_NOT_REGULAR).
 */
export async function importOnnx<M extends LoadedModel>(
  source: string | Uint8Array | ArrayBuffer,
  opts: OnnxImportOptions & { expect: ModelClass<M> },
): Promise<M & OnnxRunnable>;
export async function importOnnx(
  source: string | Uint8Array | ArrayBuffer,
  opts?: OnnxImportOptions,
): Promise<LoadedModel & OnnxRunnable>;
export async function importOnnx(
  source: string | Uint8Array | ArrayBuffer,
  opts?: OnnxImportOptions,
): Promise<LoadedModel & OnnxRunnable> {
  new OptionReader(opts, WHERE, ['expect'], ErrorCode.INVALID_ARG);
  let bytes: Uint8Array;
  if (source instanceof Uint8Array) bytes = source;
  else if (source instanceof ArrayBuffer) bytes = new Uint8Array(source);
  else if (typeof source === 'string' && source.length > 0)
    bytes = await readRegularFile(source, WHERE);
  else
    throw new CellstateTypeError(
      ErrorCode.INVALID_ARG,
      `${WHERE}: source must be a path or the bytes of an ONNX file (Uint8Array, Buffer, ArrayBuffer), got ${describe(source)}`,
    );
  return fromOnnx(bytes, opts);
}

/** importOnnx on bytes, synchronously. */
export function fromOnnx<M extends LoadedModel>(
  bytes: Uint8Array,
  opts: OnnxImportOptions & { expect: ModelClass<M> },
): M & OnnxRunnable;
export function fromOnnx(bytes: Uint8Array, opts?: OnnxImportOptions): LoadedModel & OnnxRunnable;
export function fromOnnx(bytes: Uint8Array, opts?: OnnxImportOptions): LoadedModel & OnnxRunnable {
  const expect = readExpect(
    WHERE,
    new OptionReader(opts, WHERE, ['expect'], ErrorCode.INVALID_ARG).raw('expect'),
  );
  const { graph, opset, meta } = decodeModel(bytes);
  // the graph runner (every graph of the supported operators) and, where the graph is a plain
  // chain of layers, the model with forward / predict / stream
  let runner: OnnxGraph | null = null;
  let runnerError: CellstateError | null = null;
  try {
    runner = new OnnxGraph(graph, opset);
  } catch (e) {
    if (!(e instanceof CellstateError)) throw e;
    runnerError = e;
  }
  let model: Model;
  const importer = new Importer(graph);
  try {
    model = importer.run(meta);
  } catch (e) {
    if (!(e instanceof CellstateError) || e.code !== ErrorCode.ONNX_UNSUPPORTED) throw e;
    if (!runner || expect) throw runnerError ?? e;
    return new OnnxGraphModel(runner, e) as unknown as LoadedModel & OnnxRunnable;
  }
  checkLoaded(WHERE, model, expect);
  // run on the model's own recurrent layers, not copies
  runner?.share(importer.shared);
  return attachRunner(model, runner, runnerError) as unknown as LoadedModel & OnnxRunnable;
}

/** The model, with run / runAsync (which throw `error` when the runner refused the graph). */
function attachRunner(model: Model, runner: OnnxGraph | null, error: CellstateError | null): Model {
  const fail = () => {
    throw error;
  };
  const dispose = model.dispose.bind(model);
  Object.defineProperties(model, {
    run: { value: runner ? runner.run.bind(runner) : fail, configurable: true },
    runAsync: {
      value: runner ? runner.runAsync.bind(runner) : () => Promise.reject(error),
      configurable: true,
    },
    onnxInputs: { get: () => (runner ? runner.onnxInputs : fail()), configurable: true },
    onnxOutputs: { get: () => (runner ? runner.onnxOutputs : fail()), configurable: true },
    dispose: {
      value: () => {
        runner?.dispose(); // first: it refuses (BUSY) while a runAsync is in flight
        dispose();
      },
      configurable: true,
    },
  });
  return model;
}

function decodeModel(bytes: Uint8Array): {
  graph: GraphMsg;
  opset: number;
  meta: string | undefined;
} {
  const T = modelProto();
  let msg: ModelMsg;
  try {
    msg = T.toObject(T.decode(bytes), { longs: Number, defaults: false, arrays: true }) as ModelMsg;
  } catch (e) {
    throw invalid(`the bytes are not an ONNX model (${(e as Error).message})`);
  }
  const graph = msg.graph;
  if (!graph || !graph.node || graph.node.length === 0)
    throw invalid('the model has no graph, or its graph has no nodes');
  for (const op of msg.opset_import ?? [])
    if ((op.domain ?? '') === '' && op.version !== undefined && op.version < 7)
      throw unsupported(
        `opset ${op.version} is older than 7, the first with today's LSTM, GRU and RNN`,
      );
  const meta = (msg.metadata_props ?? []).find((p) => p.key === ONNX_CONFIG_KEY)?.value;
  // the default domain's opset (operators changed form at 10, 13); absent: the newest forms
  const versions = (msg.opset_import ?? [])
    .filter((op) => (op.domain ?? '') === '' || op.domain === 'ai.onnx')
    .map((op) => Number(op.version ?? 0));
  const opset = versions.length ? Math.max(...versions) : 22;
  return { graph, opset, meta };
}

// ---- values ---------------------------------------------------------------------------------

type Layout = 'TBF' | 'BTF' | null; // null: the graph input's, not known until its first use
type Form =
  | { f: 'seq'; layout: Layout; F: number }
  | { f: 'tokens'; layout: Layout }
  | { f: 'Y'; D: number; H: number } // a recurrent node's Y [T, D, B, H]
  | { f: 'Yt'; D: number; H: number } // Y transposed to [T, B, D, H]
  | { f: 'rows'; F: number }; // [B, F]: the last step

type Value =
  | { kind: 'const'; dims: number[]; data: Float64Array; isInt: boolean }
  | { kind: 'shape'; values: (number | string)[]; scalar: boolean }
  | { kind: 'zeros' }
  | { kind: 'data'; form: Form; id: number }
  | { kind: 'state'; parts: { unit: number; D: number }[] } // Y_h / Y_c, concatenated along axis 0
  | { kind: 'lengths' }
  // a graph state input [rows, B, H] (rows: its declared first dimension, 0 if not fixed), or
  // rows [from, to) of one (a Slice on axis 0)
  | { kind: 'stateIn'; name: string; rows: number; from: number; to: number }
  | { kind: 'lastIndex'; column: boolean }; // lengths − 1 (int64), as a column [B, 1] once unsqueezed

interface RecurrentUnit {
  kind: 'recurrent';
  node: string;
  /** The node itself (the graph runner runs it on the layer made of it). */
  msg: NodeMsg;
  /** The cell's registry name (lib/cells). */
  cell: string;
  I: number;
  H: number;
  D: number;
  options: Record<string, unknown>;
  /** Parameters of one layer, named as layer 0 (`weight_ih_l0`, `..._reverse`). */
  params: Record<string, Tensor>;
  /** initial_h / initial_c read from a graph state input (stateInputNames), if they are. */
  init: { h?: StateRows; c?: StateRows };
  /** A DynamicQuantizeLSTM: the layer runs int8 (quantized by cellstate on the dequantized weights). */
  quantized: boolean;
}
type StateRows = Extract<Value, { kind: 'stateIn' }>;
interface DenseUnit {
  kind: 'dense';
  node: string;
  I: number;
  O: number;
  weight: Float32Array; // [O, I]
  bias: Float32Array; // [O]
  activation: 'linear' | 'tanh' | 'sigmoid' | 'relu' | 'softmax';
  lastStep: boolean;
}
interface EmbeddingUnit {
  kind: 'embedding';
  node: string;
  weight: Tensor;
}
type Unit = RecurrentUnit | DenseUnit | EmbeddingUnit;

function tensorValue(t: TensorMsg, what: string): Value {
  if (t.data_location === 1 || (t.external_data && t.external_data.length > 0))
    throw unsupported(
      `${what} keeps its data outside the file (external data); save the model with every tensor inside it`,
    );
  const dims = (t.dims ?? []).map(Number);
  if (dims.some((d) => !Number.isSafeInteger(d) || d < 0))
    throw invalid(`${what} has dims [${dims.join(', ')}]`);
  const count = dims.reduce((a, b) => a * b, 1);
  const type = t.data_type ?? 0;
  const raw = t.raw_data && t.raw_data.length > 0 ? t.raw_data : null;
  const size: Record<number, number> = {
    [DataType.FLOAT]: 4,
    [DataType.DOUBLE]: 8,
    [DataType.INT64]: 8,
    [DataType.INT32]: 4,
    [DataType.FLOAT16]: 2,
    [DataType.INT8]: 1,
    [DataType.UINT8]: 1,
  };
  const item = size[type];
  if (item === undefined)
    throw unsupported(
      `${what} has data type ${type}; cellstate reads float, double, float16, int8, uint8, int32 and int64 tensors`,
    );
  // check the declared size against the bytes present before allocating
  const available = raw
    ? raw.length / item
    : type === DataType.FLOAT
      ? (t.float_data?.length ?? 0)
      : type === DataType.DOUBLE
        ? (t.double_data?.length ?? 0)
        : type === DataType.INT64
          ? (t.int64_data?.length ?? 0)
          : (t.int32_data?.length ?? 0);
  if (available !== count)
    throw invalid(`${what} has dims [${dims.join(', ')}] (${count} values) but holds ${available}`);
  const data = new Float64Array(count);
  if (raw) {
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    for (let i = 0; i < count; ++i) {
      switch (type) {
        case DataType.FLOAT:
          data[i] = view.getFloat32(4 * i, true);
          break;
        case DataType.DOUBLE:
          data[i] = view.getFloat64(8 * i, true);
          break;
        case DataType.INT64:
          data[i] = Number(view.getBigInt64(8 * i, true));
          break;
        case DataType.INT32:
          data[i] = view.getInt32(4 * i, true);
          break;
        case DataType.FLOAT16:
          data[i] = halfToFloat(view.getUint16(2 * i, true));
          break;
        case DataType.INT8:
          data[i] = view.getInt8(i);
          break;
        case DataType.UINT8:
          data[i] = view.getUint8(i);
          break;
      }
    }
  } else {
    const src =
      type === DataType.FLOAT
        ? t.float_data
        : type === DataType.DOUBLE
          ? t.double_data
          : type === DataType.INT64
            ? t.int64_data
            : t.int32_data;
    if (type === DataType.FLOAT16)
      for (let i = 0; i < count; ++i) data[i] = halfToFloat((src ?? [])[i]);
    else for (let i = 0; i < count; ++i) data[i] = Number((src ?? [])[i]);
  }
  const isInt =
    type === DataType.INT64 ||
    type === DataType.INT32 ||
    type === DataType.INT8 ||
    type === DataType.UINT8;
  return { kind: 'const', dims, data, isInt };
}

/** The ONNX type of every attribute the importer reads (one per name across the ops it reads). */
const ATTRIBUTE_TYPES: Readonly<Record<string, number>> = {
  direction: AttributeType.STRING,
  hidden_size: AttributeType.INT,
  layout: AttributeType.INT,
  input_forget: AttributeType.INT,
  linear_before_reset: AttributeType.INT,
  activations: AttributeType.STRINGS,
  activation_alpha: AttributeType.FLOATS,
  activation_beta: AttributeType.FLOATS,
  clip: AttributeType.FLOAT,
  start: AttributeType.INT,
  end: AttributeType.INT,
  axis: AttributeType.INT,
  axes: AttributeType.INTS,
  perm: AttributeType.INTS,
  batch_dims: AttributeType.INT,
  transA: AttributeType.INT,
  transB: AttributeType.INT,
  alpha: AttributeType.FLOAT,
  beta: AttributeType.FLOAT,
  value: AttributeType.TENSOR,
  value_int: AttributeType.INT,
  value_ints: AttributeType.INTS,
  value_float: AttributeType.FLOAT,
};

const TYPE_NAMES: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries(AttributeType).map(([k, v]) => [v, k]),
);

/** The field that holds a value of each attribute type. */
const TYPE_FIELDS: Readonly<Record<number, keyof AttributeMsg>> = {
  [AttributeType.FLOAT]: 'f',
  [AttributeType.INT]: 'i',
  [AttributeType.STRING]: 's',
  [AttributeType.TENSOR]: 't',
  [AttributeType.FLOATS]: 'floats',
  [AttributeType.INTS]: 'ints',
  [AttributeType.STRINGS]: 'strings',
};

/**
 * The node's attributes by name, each one the importer reads checked to be of its ONNX type:
 * `direction` given as an INT or `activations` as INTS is refused, not read as a default.
 */
function attrs(node: NodeMsg): Map<string, AttributeMsg> {
  const out = new Map<string, AttributeMsg>();
  for (const a of node.attribute ?? []) {
    const name = a.name ?? '';
    const want = ATTRIBUTE_TYPES[name];
    if (want !== undefined) {
      // the declared type, or (an old file without one) the kind of value it holds
      const fields = Object.entries(TYPE_FIELDS).filter(
        ([, f]) => a[f] !== undefined && !(Array.isArray(a[f]) && (a[f] as unknown[]).length === 0),
      );
      const declared = a.type ? a.type : fields.length === 1 ? Number(fields[0][0]) : want;
      const foreign = fields.some(([t]) => Number(t) !== want);
      if (declared !== want || foreign)
        throw invalid(
          `node '${node.name ?? ''}' (${node.op_type ?? ''}): attribute '${name}' must be of type ${TYPE_NAMES[want]}, got ${TYPE_NAMES[declared] ?? `type ${declared}`}${foreign && declared === want ? ' holding another kind of value' : ''}`,
        );
    }
    out.set(name, a);
  }
  return out;
}

function attrInt(a: Map<string, AttributeMsg>, name: string, fallback: number): number {
  const v = a.get(name);
  return v === undefined ? fallback : Number(v.i ?? 0);
}

function attrString(a: Map<string, AttributeMsg>, name: string, fallback: string): string {
  const v = a.get(name);
  return v?.s ? new TextDecoder().decode(v.s) : fallback;
}

function attrInts(a: Map<string, AttributeMsg>, name: string): number[] | null {
  const v = a.get(name);
  return v ? (v.ints ?? []).map(Number) : null;
}

/** The reader of a recurrent node's attributes (lib/io/onnx-recurrent), naming the node. */
export function nodeReporter(node: NodeMsg, a: Map<string, AttributeMsg>): NodeReporter {
  const what = `node '${node.name ?? ''}' (${node.op_type ?? ''})`;
  return {
    refuse: (why) => unsupported(`${what} ${why}`),
    invalid: (why) => invalid(`${what}: ${why}`),
    int: (name, fallback) => attrInt(a, name, fallback),
    string: (name, fallback) => attrString(a, name, fallback),
    strings: (name) => (a.get(name)?.strings ?? []).map((s) => new TextDecoder().decode(s)),
    floats: (name) => [...(a.get(name)?.floats ?? [])],
    float: (name) => (a.has(name) ? (a.get(name)?.f ?? 0) : undefined),
  };
}

const f32 = (a: Float64Array) => Float32Array.from(a);

// ---- the importer ---------------------------------------------------------------------------

class Importer {
  /** The recurrent layers of the built model and the nodes each was made of (for the runner). */
  readonly shared: SharedLayer[] = [];
  private readonly values = new Map<string, Value>();
  private readonly units: Unit[] = [];
  private nextId = 0;
  private headId = -1; // the data value at the end of the chain
  private inputLayout: Layout = null;
  private pendingDense: DenseUnit | null = null; // a Dense that may still get a bias or activation
  private recurrentOutput = -1; // the id of the last recurrent node's output Y (or its reshaped form)
  private denseStage = 0; // 1: after MatMul/Gemm, 2: after the bias, 3: after the activation

  constructor(private readonly graph: GraphMsg) {}

  run(meta: string | undefined): Model {
    const g = this.graph;
    for (const t of g.initializer ?? [])
      this.values.set(t.name ?? '', tensorValue(t, `initializer '${t.name}'`));
    let dataInputs = 0;
    const stateInputs = stateInputNames(g);
    for (const input of g.input ?? []) {
      const name = input.name ?? '';
      if (this.values.has(name)) continue; // an initializer listed as input (IR < 4)
      const tt = input.type?.tensor_type;
      const dims = tt?.shape?.dim ?? [];
      const elem = tt?.elem_type;
      if (stateInputs.has(name)) {
        if (elem !== DataType.FLOAT || dims.length !== 3)
          throw unsupported(
            `graph input '${name}' feeds an initial state but is not a float tensor [L·D, B, H]`,
          );
        const rows = Number(dims[0].dim_value ?? 0);
        this.values.set(name, { kind: 'stateIn', name, rows, from: 0, to: rows });
      } else if (elem === DataType.FLOAT && dims.length === 3) {
        const F = Number(dims[2].dim_value ?? 0);
        if (!(F > 0))
          throw unsupported(`graph input '${name}' [T, B, F] needs a fixed feature size F`);
        this.values.set(name, this.data({ f: 'seq', layout: null, F }));
        dataInputs++;
      } else if ((elem === DataType.INT64 || elem === DataType.INT32) && dims.length === 2) {
        this.values.set(name, this.data({ f: 'tokens', layout: null }));
        dataInputs++;
      } else if ((elem === DataType.INT64 || elem === DataType.INT32) && dims.length === 1) {
        this.values.set(name, { kind: 'lengths' });
      } else {
        throw unsupported(
          `graph input '${name}' (element type ${elem}, rank ${dims.length}) is neither a float sequence [T, B, F], token ids [T, B], nor sequence lengths [B]`,
        );
      }
    }
    if (dataInputs !== 1)
      throw unsupported(
        `the graph has ${dataInputs} data inputs; cellstate imports models with one input sequence`,
      );

    for (const node of g.node ?? []) this.visit(node);
    this.closeDense();

    // The outputs: the end of the chain, and states (which forward returns anyway).
    let head: Form | null = null;
    for (const out of g.output ?? []) {
      const v = this.values.get(out.name ?? '');
      if (!v) throw invalid(`graph output '${out.name}' is not computed by any node`);
      if (v.kind === 'data') {
        if (v.id !== this.headId)
          throw unsupported(
            `graph output '${out.name}' is not the end of the chain of layers (the graph branches)`,
          );
        head = v.form;
      } else if (v.kind !== 'state') {
        throw unsupported(`graph output '${out.name}' is not computed from the input`);
      }
    }
    if (!head) throw unsupported('no graph output is the end of the chain of layers');
    if (head.f === 'Y' || head.f === 'Yt' || head.f === 'tokens')
      throw unsupported(
        `the graph output has the raw layout of a recurrent node (${head.f}); cellstate's output is [T, B, D·H]`,
      );
    const batchFirst = this.inputLayout === 'BTF';
    if (head.f === 'seq' && (head.layout ?? 'TBF') !== (this.inputLayout ?? 'TBF'))
      throw unsupported(
        'the output is not in the layout of the input (one is batch-first, the other time-major)',
      );
    if (this.units.length === 0)
      throw unsupported('the graph has no LSTM, GRU, RNN, Gemm or MatMul node');
    return this.build(meta, batchFirst);
  }

  private data(form: Form): Value {
    const v: Value = { kind: 'data', form, id: this.nextId++ };
    this.headId = v.id;
    return v;
  }

  /** A reshaped form of `x`, still the last recurrent node's output if `x` was. */
  private derive(x: Extract<Value, { kind: 'data' }>, form: Form): Value {
    const carry = x.id === this.recurrentOutput;
    const v = this.data(form);
    if (carry) this.recurrentOutput = this.headId;
    return v;
  }

  private get(node: NodeMsg, i: number): Value | null {
    const name = (node.input ?? [])[i];
    if (name === undefined || name === '') return null;
    const v = this.values.get(name);
    if (!v)
      throw invalid(
        `node '${node.name}' (${node.op_type}) reads '${name}', which no earlier node, input or initializer defines`,
      );
    return v;
  }

  private set(node: NodeMsg, i: number, v: Value): void {
    const name = (node.output ?? [])[i];
    if (name) this.values.set(name, v);
  }

  private refuse(node: NodeMsg, why?: string): CellstateError {
    const what = `node '${node.name ?? ''}' (${node.op_type})`;
    if (why) return unsupported(`${what} ${why}`);
    return unsupported(
      `${what} is not supported here; cellstate imports chains of LSTM, GRU and RNN nodes with Squeeze / Transpose / Reshape between them, a Gather embedding in front and MatMul / Gemm / Add / Softmax / Sigmoid / Tanh / Relu heads`,
    );
  }

  /** The node's data input, which must be the end of the chain. */
  private head(node: NodeMsg, v: Value): Form {
    const d = v as Extract<Value, { kind: 'data' }>;
    if (d.id !== this.headId)
      throw this.refuse(
        node,
        'reads a value that is not the end of the chain of layers (the graph branches)',
      );
    if (
      this.pendingDense &&
      !['Add', 'Softmax', 'Sigmoid', 'Tanh', 'Relu', 'Identity', 'Dropout'].includes(
        node.op_type ?? '',
      )
    )
      this.closeDense();
    return d.form;
  }

  /** Resolves the layout of a value still in the graph input's (unknown) layout. */
  private layoutOf(form: { layout: Layout }, swapped: boolean): 'TBF' | 'BTF' {
    if (form.layout !== null) return form.layout;
    this.inputLayout ??= swapped ? 'BTF' : 'TBF';
    return this.inputLayout;
  }

  /**
   * h_n[k] (Gather on axis 0, or Squeeze of a one-row state): the final state of the last
   * layer's forward direction is its output at the last step, which a last-step Dense reads.
   */
  private finalState(
    node: NodeMsg,
    v: Extract<Value, { kind: 'state' }>,
    index: number,
    squeeze = false,
  ): Value {
    const rows: { unit: number; dir: number }[] = v.parts.flatMap((p) =>
      Array.from({ length: p.D }, (_, dir) => ({ unit: p.unit, dir })),
    );
    if (squeeze && rows.length !== 1)
      throw this.refuse(node, 'squeezes a state of more than one row');
    const pick = rows[index < 0 ? index + rows.length : index];
    if (!pick) throw invalid(`node '${node.name}' (${node.op_type}) indexes a state out of range`);
    const unit = this.units[pick.unit] as RecurrentUnit;
    if (pick.unit !== this.units.length - 1 || this.recurrentOutput !== this.headId)
      throw this.refuse(node, "reads the final state of a layer that is not the chain's last");
    if (pick.dir !== 0 || unit.D !== 1)
      throw this.refuse(
        node,
        "reads the final state of a bidirectional layer (the reverse direction's is no output step cellstate can take)",
      );
    return this.data({ f: 'rows', F: unit.H });
  }

  private closeDense(): void {
    this.pendingDense = null;
    this.denseStage = 0;
  }

  private visit(node: NodeMsg): void {
    const op = node.op_type ?? '';
    const quantized = node.domain === MS_DOMAIN && cellOfQuantizedOnnxOp(op) !== undefined;
    if ((node.domain ?? '') !== '' && node.domain !== 'ai.onnx' && !quantized)
      throw this.refuse(node, `is in domain '${node.domain}'`);
    const a = attrs(node);
    const ins = (node.input ?? []).map((_, i) => this.get(node, i));
    const x = ins[0];
    const dataIn = ins.find((v) => v?.kind === 'data') as
      Extract<Value, { kind: 'data' }> | undefined;

    if (quantized) return this.recurrent(node, a, ins, true);
    if (cellOfOnnxOp(op)) return this.recurrent(node, a, ins);
    switch (op) {
      case 'Constant': {
        const t = a.get('value');
        if (t?.t) return this.set(node, 0, tensorValue(t.t, `node '${node.name}' (Constant)`));
        const ints = a.get('value_ints');
        if (ints)
          return this.set(
            node,
            0,
            constOf([ints.ints?.length ?? 0], (ints.ints ?? []).map(Number), true),
          );
        const int = a.get('value_int');
        if (int) return this.set(node, 0, constOf([], [Number(int.i ?? 0)], true));
        const fl = a.get('value_float');
        if (fl) return this.set(node, 0, constOf([], [fl.f ?? 0], false));
        throw this.refuse(node, 'has no tensor, int or float value');
      }
      case 'Identity':
      case 'Dropout':
        if (!x) throw invalid(`node '${node.name}' (${op}) has no input`);
        if (x.kind === 'data') {
          this.head(node, x);
          return this.set(node, 0, { ...x });
        }
        return this.set(node, 0, x);
      case 'Cast':
        if (x && x.kind !== 'data' && x.kind !== 'lengths') return this.set(node, 0, x);
        break;
      case 'Shape': {
        if (!x || x.kind !== 'data') break;
        const f = x.form;
        let dims: (number | string)[];
        if (f.f === 'seq')
          dims = this.layoutOf(f, false) === 'TBF' ? ['T', 'B', f.F] : ['B', 'T', f.F];
        else if (f.f === 'tokens')
          dims = this.layoutOf(f, false) === 'TBF' ? ['T', 'B'] : ['B', 'T'];
        else if (f.f === 'rows') dims = ['B', f.F];
        else if (f.f === 'Y') dims = ['T', f.D, 'B', f.H];
        else dims = ['T', 'B', f.D, f.H];
        const start = attrInt(a, 'start', 0);
        const end = a.has('end') ? attrInt(a, 'end', dims.length) : dims.length;
        return this.set(node, 0, {
          kind: 'shape',
          values: sliceDims(dims, start, end),
          scalar: false,
        });
      }
      case 'ConstantOfShape': {
        const v = a.get('value')?.t;
        const fill = v ? tensorValue(v, `node '${node.name}' value`) : null;
        if (fill && fill.kind === 'const' && fill.data.some((d) => d !== 0)) break;
        if (x && (x.kind === 'shape' || x.kind === 'const'))
          return this.set(node, 0, { kind: 'zeros' });
        break;
      }
      case 'Expand':
      case 'Slice':
      case 'Tile':
        if (
          x &&
          (x.kind === 'zeros' ||
            (x.kind === 'const' && x.data.every((d) => d === 0) && op !== 'Slice'))
        )
          return this.set(node, 0, { kind: 'zeros' });
        if (op === 'Slice' && x?.kind === 'stateIn')
          return this.set(node, 0, sliceState(node, x, ins));
        if (
          op === 'Slice' &&
          x &&
          (x.kind === 'const' || x.kind === 'shape') &&
          ins.slice(1).every((v) => v === null || v.kind === 'const')
        )
          return this.set(node, 0, this.foldSlice(node, x, ins as (Value | null)[]));
        break;
      case 'Gather': {
        const axis = attrInt(a, 'axis', 0);
        const idx = ins[1];
        if (x && x.kind === 'shape' && idx?.kind === 'const') {
          const pick = Array.from(idx.data, (i) => x.values[i < 0 ? i + x.values.length : i]);
          if (pick.some((p) => p === undefined))
            throw invalid(`node '${node.name}' (Gather) indexes out of range`);
          return this.set(node, 0, { kind: 'shape', values: pick, scalar: idx.dims.length === 0 });
        }
        if (x && x.kind === 'state' && idx?.kind === 'const' && idx.dims.length === 0 && axis === 0)
          return this.set(node, 0, this.finalState(node, x, idx.data[0]));
        if (x && x.kind === 'const' && idx?.kind === 'const' && x.dims.length <= 1 && axis === 0) {
          const pick = Array.from(idx.data, (i) => x.data[i < 0 ? i + x.data.length : i]);
          return this.set(node, 0, constOf(idx.dims, pick, x.isInt));
        }
        if (
          x &&
          x.kind === 'const' &&
          !x.isInt &&
          x.dims.length === 2 &&
          axis === 0 &&
          idx?.kind === 'data' &&
          idx.form.f === 'tokens'
        ) {
          // an Embedding: weight [N, D] indexed by token ids
          this.head(node, idx);
          if (this.units.length > 0) throw this.refuse(node, 'is an embedding after other layers');
          const weight = new Tensor(f32(x.data), x.dims);
          this.units.push({ kind: 'embedding', node: node.name ?? '', weight });
          return this.set(node, 0, this.data({ f: 'seq', layout: idx.form.layout, F: x.dims[1] }));
        }
        if (
          x &&
          x.kind === 'data' &&
          idx?.kind === 'const' &&
          idx.dims.length === 0 &&
          idx.data[0] === -1
        ) {
          // the last time step: y[-1] (time-major) or y[:, -1] (batch-first)
          const f = this.head(node, x);
          if (f.f === 'seq') {
            const layout = this.layoutOf(f, false);
            if ((layout === 'TBF' && axis === 0) || (layout === 'BTF' && axis === 1))
              return this.set(node, 0, this.data({ f: 'rows', F: f.F }));
          }
        }
        break;
      }
      case 'Unsqueeze':
      case 'Squeeze': {
        const axes =
          attrInts(a, 'axes') ?? (ins[1]?.kind === 'const' ? Array.from(ins[1].data) : null);
        if (x && x.kind === 'shape') {
          if (op === 'Unsqueeze' && x.scalar) return this.set(node, 0, { ...x, scalar: false });
          if (op === 'Squeeze' && x.values.length === 1)
            return this.set(node, 0, { ...x, scalar: true });
        }
        if (x && x.kind === 'const')
          return this.set(node, 0, { ...x, dims: reshapeDims(op, x.dims, axes ?? []) });
        if (x && x.kind === 'zeros') return this.set(node, 0, x);
        if (
          x &&
          x.kind === 'lastIndex' &&
          !x.column &&
          op === 'Unsqueeze' &&
          axes &&
          axes.length === 1 &&
          (axes[0] === 1 || axes[0] === -1)
        )
          return this.set(node, 0, { kind: 'lastIndex', column: true });
        if (
          x &&
          x.kind === 'state' &&
          op === 'Squeeze' &&
          axes &&
          axes.length === 1 &&
          axes[0] === 0
        )
          return this.set(node, 0, this.finalState(node, x, 0, true));
        if (x && x.kind === 'data' && op === 'Squeeze') {
          const f = this.head(node, x);
          if (
            f.f === 'Y' &&
            f.D === 1 &&
            axes &&
            axes.length === 1 &&
            (axes[0] === 1 || axes[0] === -3)
          )
            return this.set(node, 0, this.derive(x, { f: 'seq', layout: 'TBF', F: f.H }));
        }
        break;
      }
      case 'Concat': {
        if (
          ins.every(
            (v) => v?.kind === 'shape' || (v?.kind === 'const' && v.isInt && v.dims.length <= 1),
          )
        ) {
          const values: (number | string)[] = [];
          for (const v of ins)
            values.push(
              ...(v!.kind === 'shape' ? v!.values : Array.from((v as { data: Float64Array }).data)),
            );
          return this.set(node, 0, { kind: 'shape', values, scalar: false });
        }
        if (ins.every((v) => v?.kind === 'state') && attrInt(a, 'axis', 0) === 0)
          return this.set(node, 0, {
            kind: 'state',
            parts: ins.flatMap((v) => (v as Extract<Value, { kind: 'state' }>).parts),
          });
        if (ins.every((v) => v?.kind === 'zeros')) return this.set(node, 0, { kind: 'zeros' });
        break;
      }
      case 'Transpose': {
        const perm = attrInts(a, 'perm');
        if (x && x.kind === 'data' && perm) {
          const f = this.head(node, x);
          if (f.f === 'seq' && same(perm, [1, 0, 2])) {
            const layout = this.layoutOf(f, true);
            return this.set(
              node,
              0,
              this.data({ f: 'seq', layout: layout === 'TBF' ? 'BTF' : 'TBF', F: f.F }),
            );
          }
          if (f.f === 'tokens' && same(perm, [1, 0])) {
            // token ids [B, T] ⇄ [T, B] (a batch-first model with an Embedding)
            const layout = this.layoutOf(f, true);
            return this.set(
              node,
              0,
              this.data({ f: 'tokens', layout: layout === 'TBF' ? 'BTF' : 'TBF' }),
            );
          }
          if (f.f === 'Y' && same(perm, [0, 2, 1, 3]))
            return this.set(node, 0, this.derive(x, { f: 'Yt', D: f.D, H: f.H }));
        }
        if (x && x.kind === 'const' && x.dims.length === 2 && (!perm || same(perm, [1, 0]))) {
          const [r, c] = x.dims;
          const out = new Float64Array(r * c);
          for (let i = 0; i < r; ++i)
            for (let j = 0; j < c; ++j) out[j * r + i] = x.data[i * c + j];
          return this.set(node, 0, { ...x, dims: [c, r], data: out });
        }
        break;
      }
      case 'Reshape': {
        const shape = ins[1];
        if (x && x.kind === 'data' && shape && (shape.kind === 'const' || shape.kind === 'shape')) {
          const f = this.head(node, x);
          const s = shape.kind === 'const' ? Array.from(shape.data) : shape.values;
          if (f.f === 'Yt' && s.length === 3) {
            const ok0 = s[0] === 0 || s[0] === 'T';
            const ok1 = s[1] === 0 || s[1] === 'B';
            const ok2 = s[2] === -1 || s[2] === f.D * f.H;
            if (ok0 && ok1 && ok2)
              return this.set(node, 0, this.derive(x, { f: 'seq', layout: 'TBF', F: f.D * f.H }));
          }
        }
        if (x && x.kind === 'const' && shape?.kind === 'const') {
          const dims = Array.from(shape.data);
          const known = dims.reduce((p, d, i) => p * (d === -1 ? 1 : d === 0 ? x.dims[i] : d), 1);
          const out = dims.map((d, i) =>
            d === -1 ? x.data.length / known : d === 0 ? x.dims[i] : d,
          );
          return this.set(node, 0, { ...x, dims: out });
        }
        break;
      }
      case 'MatMul':
      case 'Gemm':
        return this.dense(node, a, ins);
      case 'Sub': {
        const one = ins[1];
        if (
          x?.kind === 'lengths' &&
          one?.kind === 'const' &&
          one.data.length === 1 &&
          one.data[0] === 1
        )
          return this.set(node, 0, { kind: 'lastIndex', column: false });
        break;
      }
      case 'GatherND': {
        const idx = ins[1];
        if (
          x &&
          x.kind === 'data' &&
          idx?.kind === 'lastIndex' &&
          idx.column &&
          attrInt(a, 'batch_dims', 0) === 1
        ) {
          // each sequence's step lengths[b] − 1 of a batch-major [B, T, F]
          const f = this.head(node, x);
          if (f.f === 'seq' && this.layoutOf(f, false) === 'BTF')
            return this.set(node, 0, this.data({ f: 'rows', F: f.F }));
        }
        break;
      }
      case 'Add': {
        const dense = this.pendingDense;
        const c = ins.find((v) => v?.kind === 'const') as
          Extract<Value, { kind: 'const' }> | undefined;
        if (
          dataIn &&
          c &&
          dense &&
          dataIn.id === this.headId &&
          this.denseStage === 1 &&
          c.data.length === dense.O &&
          ins.length === 2
        ) {
          for (let o = 0; o < dense.O; ++o) dense.bias[o] += c.data[o];
          this.denseStage = 2;
          return this.set(node, 0, this.data({ ...(dataIn.form as Form) }));
        }
        break;
      }
      case 'Softmax':
      case 'Sigmoid':
      case 'Tanh':
      case 'Relu': {
        const dense = this.pendingDense;
        if (x && x.kind === 'data' && dense && x.id === this.headId && this.denseStage < 3) {
          if (op === 'Softmax') {
            const rank = x.form.f === 'rows' ? 2 : 3;
            const axis = attrInt(a, 'axis', -1);
            if (axis !== -1 && axis !== rank - 1)
              throw this.refuse(node, `applies softmax over axis ${axis}, not the features`);
          }
          dense.activation = op.toLowerCase() as DenseUnit['activation'];
          this.denseStage = 3;
          return this.set(node, 0, this.data({ ...x.form }));
        }
        break;
      }
    }
    throw this.refuse(node);
  }

  private foldSlice(node: NodeMsg, x: Value, ins: (Value | null)[]): Value {
    const num = (v: Value | null | undefined, fallback: number) =>
      v && v.kind === 'const' ? v.data[0] : fallback;
    const vals = x.kind === 'shape' ? x.values : Array.from((x as { data: Float64Array }).data);
    if (x.kind === 'const' && x.dims.length > 1)
      throw this.refuse(node, 'slices a constant of rank > 1');
    const start = num(ins[1], 0);
    const end = num(ins[2], vals.length);
    if (ins[4] && num(ins[4], 1) !== 1) throw this.refuse(node, 'slices with a step other than 1');
    const out = sliceDims(vals, start, end);
    return x.kind === 'shape'
      ? { kind: 'shape', values: out, scalar: false }
      : constOf([out.length], out as number[], (x as { isInt: boolean }).isInt);
  }

  private recurrent(
    node: NodeMsg,
    a: Map<string, AttributeMsg>,
    ins: (Value | null)[],
    quantized = false,
  ): void {
    const spec = (
      quantized ? cellOfQuantizedOnnxOp(node.op_type) : cellOfOnnxOp(node.op_type)
    ) as CellSpec;
    const op = spec.onnx.op;
    const cell = spec.name;
    const name = `node '${node.name ?? ''}' (${op})`;
    const x = ins[0];
    if (!x || x.kind !== 'data') throw this.refuse(node, 'does not read the chain of layers');
    const f = this.head(node, x);
    this.closeDense();
    if (attrInt(a, 'layout', 0) !== 0)
      throw this.refuse(node, 'has layout 1 (batch-first inside the operator)');
    if (f.f !== 'seq' || this.layoutOf(f, false) !== 'TBF')
      throw this.refuse(node, 'reads an input that is not [T, B, F]');
    let W = ins[1];
    let R = ins[2];
    const B = ins[3] ?? null;
    if (W?.kind !== 'const' || R?.kind !== 'const')
      throw this.refuse(node, 'has weights W and R that are not constant');
    if (quantized) {
      // int8 / uint8 W [D, I, G·H] and R [D, H, G·H] with scales and zero points (inputs 8–11)
      const q = (k: number, what: string) => {
        const v = ins[k] ?? null;
        if (v && v.kind !== 'const') throw invalid(`${name}: ${what} must be a constant`);
        return v as Extract<Value, { kind: 'const' }> | null;
      };
      if (!W.isInt || !R.isInt) throw invalid(`${name}: W and R must be int8 or uint8`);
      const deq = dequantizeLstmWeights(
        { invalid: (why) => invalid(`${name}: ${why}`) },
        spec.onnx.slots,
        W,
        R,
        q(8, 'W_scale'),
        q(9, 'W_zero_point'),
        q(10, 'R_scale'),
        q(11, 'R_zero_point'),
      );
      W = {
        kind: 'const',
        dims: [...deq.W.dims],
        data: Float64Array.from(deq.W.data),
        isInt: false,
      };
      R = {
        kind: 'const',
        dims: [...deq.R.dims],
        data: Float64Array.from(deq.R.data),
        isInt: false,
      };
    }
    if (B && B.kind !== 'const') throw invalid(`${name}: B must be a constant`);
    const K = spec.onnx.peepholes;
    const P = K > 0 ? (ins[7] ?? null) : null;
    if (P && P.kind !== 'const') throw invalid(`${name}: P must be a constant`);
    const read = readRecurrentNode(
      op,
      nodeReporter(node, a),
      W,
      R,
      B as Extract<Value, { kind: 'const' }> | null,
      P as Extract<Value, { kind: 'const' }> | null,
    );
    const { I, H, D } = read;
    if (read.layers.length !== 1)
      throw this.refuse(node, 'has different activations per direction');
    const { options: nodeOptions, params, direction } = read.layers[0];
    const options = direction === 'reverse' ? { ...nodeOptions, direction } : nodeOptions;
    if (I !== f.F)
      throw invalid(`${name}: W has input size ${I}, but its input has ${f.F} features`);
    const lens = ins[4] ?? null;
    if (lens && lens.kind !== 'lengths')
      throw this.refuse(
        node,
        'has sequence_lens that are not a graph input [B] (the lengths forward takes)',
      );
    const init: RecurrentUnit['init'] = {};
    for (const [k, label] of [
      [5, 'initial_h'],
      [6, 'initial_c'],
    ] as const) {
      let s = ins[k] ?? null;
      // a whole state input whose first dimension is not fixed: the D rows the node reads
      if (s?.kind === 'stateIn' && s.rows === 0 && s.to === 0) s = { ...s, to: D };
      if (s?.kind === 'stateIn') {
        // a graph state input: forward's h0 / c0 (checked against the layers in build)
        if (s.to - s.from !== D)
          throw this.refuse(
            node,
            `reads ${label} from graph input '${s.name}' with ${s.to - s.from || 'an unknown number of'} rows, expected ${D} (slice it on axis 0)`,
          );
        if (k === 6 && !spec.cellState)
          throw invalid(`${name}: only a cell with a cell state has initial_c`);
        init[k === 5 ? 'h' : 'c'] = s;
      } else if (s && !(s.kind === 'zeros' || (s.kind === 'const' && s.data.every((v) => v === 0))))
        throw this.refuse(
          node,
          `has an ${label} that is not zero and not a graph input; cellstate imports models that start from the zero state or from state inputs (give h0 / c0 to forward)`,
        );
    }
    this.units.push({
      kind: 'recurrent',
      node: node.name ?? '',
      msg: node,
      cell,
      I,
      H,
      D,
      options,
      params,
      init,
      quantized,
    });
    this.set(node, 0, this.data({ f: 'Y', D, H }));
    const unit = this.units.length - 1;
    this.set(node, 1, { kind: 'state', parts: [{ unit, D }] });
    this.set(node, 2, { kind: 'state', parts: [{ unit, D }] });
    this.recurrentOutput = this.headId;
  }

  private dense(node: NodeMsg, a: Map<string, AttributeMsg>, ins: (Value | null)[]): void {
    const op = node.op_type as 'MatMul' | 'Gemm';
    const x = ins[0];
    const w = ins[1];
    if (!x || x.kind !== 'data' || !w || w.kind !== 'const' || w.dims.length !== 2)
      throw this.refuse(node, 'is not the chain of layers times a constant weight matrix');
    const f = this.head(node, x);
    this.closeDense();
    let rowsIn: boolean;
    if (f.f === 'rows') rowsIn = true;
    else if (f.f === 'seq' && op === 'MatMul' && this.layoutOf(f, false) === 'TBF') rowsIn = false;
    else
      throw this.refuse(
        node,
        op === 'Gemm'
          ? 'reads a value of rank 3 (Gemm is for the last step [B, F])'
          : 'reads a value that is not [T, B, F]',
      );
    let weight: Float32Array; // [O, I]
    let I: number;
    let O: number;
    let bias: Float32Array;
    if (op === 'Gemm') {
      if (attrInt(a, 'transA', 0) !== 0) throw this.refuse(node, 'has transA');
      const alpha = a.get('alpha')?.f ?? 1;
      const beta = a.get('beta')?.f ?? 1;
      if (alpha !== 1 || beta !== 1)
        throw this.refuse(
          node,
          `has alpha ${alpha} and beta ${beta} (cellstate's Dense is alpha 1, beta 1)`,
        );
      const transB = attrInt(a, 'transB', 0) === 1;
      [O, I] = transB ? w.dims : [w.dims[1], w.dims[0]];
      weight = transB ? f32(w.data) : transpose(w.data, w.dims[0], w.dims[1]);
      bias = new Float32Array(O);
      const c = ins[2] ?? null;
      if (c) {
        if (c.kind !== 'const' || (c.data.length !== O && c.data.length !== 1))
          throw this.refuse(node, 'has a bias C that is not a constant of the output size');
        for (let o = 0; o < O; ++o) bias[o] = c.data.length === 1 ? c.data[0] : c.data[o];
      }
    } else {
      [I, O] = w.dims;
      weight = transpose(w.data, I, O);
      bias = new Float32Array(O);
    }
    if (I !== (f as { F: number }).F)
      throw invalid(
        `node '${node.name}' (${op}): the weight has ${I} input features, its input has ${(f as { F: number }).F}`,
      );
    const unit: DenseUnit = {
      kind: 'dense',
      node: node.name ?? '',
      I,
      O,
      weight,
      bias,
      activation: 'linear',
      lastStep: rowsIn,
    };
    this.units.push(unit);
    this.pendingDense = unit;
    this.denseStage = op === 'Gemm' && ins[2] ? 2 : 1;
    this.set(node, 0, this.data(rowsIn ? { f: 'rows', F: O } : { f: 'seq', layout: 'TBF', F: O }));
  }

  // ---- the model ----------------------------------------------------------------------------

  private build(meta: string | undefined, batchFirst: boolean): Model {
    const units = this.units;
    for (let i = 1; i < units.length; ++i) {
      const u = units[i];
      if (
        u.kind === 'recurrent' &&
        units[i - 1].kind === 'dense' &&
        (units[i - 1] as DenseUnit).lastStep
      )
        throw unsupported(
          `node '${u.node}' (${cellOf(u).onnx.op}) comes after a last-step Dense, which leaves no time steps`,
        );
    }
    let configs: Record<string, unknown>[] | null = null;
    let single = false;
    if (meta !== undefined) {
      let c: unknown;
      try {
        c = JSON.parse(meta);
      } catch (e) {
        throw invalid(
          `the '${ONNX_CONFIG_KEY}' metadata is not valid JSON (${(e as Error).message})`,
        );
      }
      checkStoredConfig(WHERE, `the '${ONNX_CONFIG_KEY}' metadata`, c, ErrorCode.ONNX_INVALID);
      const layers = (c as { layers?: unknown } | null)?.layers;
      configs = (Array.isArray(layers) ? layers : [c]) as Record<string, unknown>[];
      single = !Array.isArray(layers);
    }
    // A Sequential carries the layout (its layers stay time-major); a lone layer carries its own.
    const plan = configs
      ? this.planFromConfig(configs, single ? batchFirst : false)
      : this.planInferred(batchFirst);
    if (!plan)
      throw invalid(`the '${ONNX_CONFIG_KEY}' metadata does not describe this graph's layers`);
    checkStateInputs(plan.map((p) => p.units));
    const layers: SequentialLayer[] = [];
    for (const p of plan) {
      let layer: SequentialLayer;
      try {
        layer = layerFromConfig(p.config);
      } catch (e) {
        throw invalid(
          `the layer made of node${p.units.length > 1 ? 's' : ''} ${p.units.map((u) => `'${u.node}'`).join(', ')} is invalid: ${(e as Error).message}`,
        );
      }
      setModelParameters(WHERE, layer, new Map(Object.entries(paramsOf(p.units))));
      // DynamicQuantizeLSTM nodes: cellstate's int8 on their dequantized weights
      const q = p.units.filter((u) => u.kind === 'recurrent' && u.quantized);
      if (q.length > 0) {
        if (q.length !== p.units.length)
          throw unsupported(
            `nodes ${p.units.map((u) => `'${u.node}'`).join(', ')} make one layer, but only some of them are DynamicQuantizeLSTM`,
          );
        (layer as Recurrent).quantize();
      }
      const rs = p.units.filter((u): u is RecurrentUnit => u.kind === 'recurrent');
      if (rs.length > 0)
        this.shared.push({
          layer: layer as Recurrent,
          nodes: rs.map((u) => u.msg),
          // an initial state not read from a state input is zero (checked in recurrent())
          zeros: rs.map((u) => [...(u.init.h ? [] : [5]), ...(u.init.c ? [] : [6])]),
        });
      layers.push(layer);
    }
    if (layers.length === 1 && (single || !configs)) return layers[0];
    // a Sequential's layout: from the exporter's metadata, else from the graph's input
    let seqBatchFirst: boolean | undefined = batchFirst ? true : undefined;
    if (configs && !single) {
      const b = (JSON.parse(meta as string) as { batchFirst?: unknown }).batchFirst;
      seqBatchFirst = typeof b === 'boolean' ? b : undefined;
      if ((seqBatchFirst === true) !== batchFirst)
        throw invalid(
          `the '${ONNX_CONFIG_KEY}' metadata says batchFirst: ${JSON.stringify(b ?? null)} for the Sequential, but the graph takes its input ${batchFirst ? 'batch-first' : 'time-major'}; the graph decides, so the file is refused as inconsistent`,
        );
    }
    try {
      return new Sequential(
        layers,
        seqBatchFirst === undefined ? undefined : { batchFirst: seqBatchFirst },
      );
    } catch (e) {
      throw unsupported(`the layers do not make a Sequential: ${(e as Error).message}`);
    }
  }

  /** Layers from the graph alone: chained recurrent nodes of one kind make one stack. */
  private planInferred(batchFirst: boolean): { config: Record<string, unknown>; units: Unit[] }[] {
    const plan: { config: Record<string, unknown>; units: Unit[] }[] = [];
    for (const u of this.units) {
      const last = plan[plan.length - 1];
      if (u.kind === 'recurrent') {
        const prev = last?.units[last.units.length - 1];
        if (
          prev?.kind === 'recurrent' &&
          prev.cell === u.cell &&
          prev.H === u.H &&
          prev.D === u.D &&
          prev.init.h?.name === u.init.h?.name &&
          prev.init.c?.name === u.init.c?.name &&
          prev.quantized === u.quantized &&
          same(Object.entries(prev.options).flat(), Object.entries(u.options).flat())
        ) {
          last.units.push(u);
          last.config.numLayers = last.units.length;
          continue;
        }
        plan.push({
          config: {
            cell: u.cell,
            inputSize: u.I,
            hiddenSize: u.H,
            numLayers: 1,
            bidirectional: u.D === 2,
            ...u.options,
          },
          units: [u],
        });
      } else if (u.kind === 'dense') {
        plan.push({
          config: {
            type: 'dense',
            inputSize: u.I,
            outputSize: u.O,
            activation: u.activation,
            lastStep: u.lastStep,
          },
          units: [u],
        });
      } else {
        plan.push({
          config: {
            type: 'embedding',
            numEmbeddings: u.weight.shape[0],
            embeddingDim: u.weight.shape[1],
          },
          units: [u],
        });
      }
    }
    // a batch-first graph: one recurrent layer with batchFirst, else a Sequential with
    // batchFirst (build)
    if (batchFirst && plan.length === 1) {
      if (plan[0].units[0].kind !== 'recurrent')
        throw unsupported('a batch-first graph of one layer imports as a recurrent layer only');
      plan[0].config.batchFirst = true;
    }
    return plan;
  }

  /**
   * Layers as the exporter's metadata says, checked against the graph: null if their sizes
   * disagree; refused, naming the option, if an option the graph expresses (an activation, a
   * gate, peepholes, the layout, a Dense's activation or lastStep) disagrees. The metadata only
   * adds what the graph cannot hold: seeds, dropout, forgetBias.
   */
  private planFromConfig(
    configs: Record<string, unknown>[],
    batchFirst: boolean,
  ): { config: Record<string, unknown>; units: Unit[] }[] | null {
    const plan: { config: Record<string, unknown>; units: Unit[] }[] = [];
    let k = 0;
    for (const c of configs) {
      if (c === null || typeof c !== 'object' || Array.isArray(c)) return null;
      if (c.type === 'dropout') {
        plan.push({ config: c, units: [] });
        continue;
      }
      // every size of the config must be the graph's (nothing is allocated from the metadata)
      if ('cell' in c) {
        const n = Number(c.numLayers ?? 1);
        const us = this.units.slice(k, k + n) as RecurrentUnit[];
        if (!Number.isSafeInteger(n) || n < 1 || us.length !== n) return null;
        const D = c.bidirectional === true ? 2 : 1;
        const ok = us.every(
          (u, l) =>
            u.kind === 'recurrent' &&
            u.cell === c.cell &&
            u.H === c.hiddenSize &&
            u.D === D &&
            (l > 0 || u.I === c.inputSize),
        );
        // an ONNX operator's h is hiddenSize wide: a config whose state is narrower (a projection) is not the graph's
        const spec = findCell(c.cell);
        if (!ok || !spec || spec.stateSize(c as never) !== c.hiddenSize) return null;
        agreeRecurrent(c, us, batchFirst);
        plan.push({ config: c, units: us });
        k += n;
      } else {
        const u = this.units[k++];
        if (!u || u.kind !== c.type) return null;
        if (u.kind === 'dense' && (c.inputSize !== u.I || c.outputSize !== u.O)) return null;
        if (u.kind === 'dense') {
          const graph = { activation: u.activation, lastStep: u.lastStep };
          const stored = { activation: c.activation ?? 'linear', lastStep: c.lastStep ?? false };
          for (const key of ['activation', 'lastStep'] as const)
            if (stored[key] !== graph[key]) throw disagree([u], key, stored[key], graph[key]);
        }
        if (
          u.kind === 'embedding' &&
          (c.numEmbeddings !== u.weight.shape[0] || c.embeddingDim !== u.weight.shape[1])
        )
          return null;
        plan.push({ config: c, units: [u] });
      }
    }
    return k === this.units.length ? plan : null;
  }
}

/** The refusal of metadata whose `key` is not what the graph computes. */
function disagree(units: Unit[], key: string, stored: unknown, graph: unknown): CellstateError {
  const nodes = units.map((u) => `'${u.node}'`).join(', ');
  return invalid(
    `the '${ONNX_CONFIG_KEY}' metadata says ${key}: ${JSON.stringify(stored)} for the layer of node${units.length > 1 ? 's' : ''} ${nodes}, but the graph computes ${key}: ${JSON.stringify(graph)}; the graph decides, so the file is refused as inconsistent`,
  );
}

/**
 * Refuses a recurrent layer's metadata config that disagrees with what its nodes compute: every
 * resolved option but those a graph cannot express (lib/cells initKeys) must be the one the
 * graph's nodes give.
 */
function agreeRecurrent(
  c: Record<string, unknown>,
  units: RecurrentUnit[],
  batchFirst: boolean,
): void {
  const first = units[0];
  for (const u of units.slice(1))
    if (JSON.stringify(u.options) !== JSON.stringify(first.options))
      throw unsupported(
        `nodes '${first.node}' and '${u.node}' have different options but the metadata makes them one layer`,
      );
  const spec = findCell(c.cell) as CellSpec;
  const resolve = (options: Record<string, unknown>) => resolveCell(spec, options);
  // options a graph cannot express: the metadata gives them (initialisation and training only)
  const metadataOnly = new Set(initKeys({ cell: spec.name }));
  let stored: Record<string, unknown>;
  try {
    stored = resolve({ ...c, seed: 0 }) as unknown as Record<string, unknown>;
  } catch (e) {
    throw invalid(
      `the '${ONNX_CONFIG_KEY}' metadata of the layer of node '${first.node}' is invalid: ${(e as Error).message}`,
    );
  }
  const graph = resolve({
    cell: c.cell,
    inputSize: first.I,
    hiddenSize: first.H,
    numLayers: units.length,
    bidirectional: first.D === 2,
    batchFirst,
    ...first.options,
    seed: 0,
  }) as unknown as Record<string, unknown>;
  for (const key of new Set([...Object.keys(graph), ...Object.keys(stored)]))
    if (!metadataOnly.has(key) && !sameInFloat32(stored[key], graph[key]))
      throw disagree(units, key, stored[key], graph[key]);
}

/** Equal options, numbers compared as float32 (ONNX's attributes are float32: an activation's
 * α 0.2 comes back as 0.2f), objects field by field. */
function sameInFloat32(a: unknown, b: unknown): boolean {
  if (typeof a === 'number' && typeof b === 'number') return Math.fround(a) === Math.fround(b);
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    return (
      ka.length === kb.length &&
      ka.every((k) =>
        sameInFloat32((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]),
      )
    );
  }
  return a === b;
}

/** The parameters of a planned layer, named as the layer names them. */
function paramsOf(units: Unit[]): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  units.forEach((u, l) => {
    if (u.kind === 'recurrent') {
      for (const [name, t] of Object.entries(u.params)) out[name.replace('_l0', `_l${l}`)] = t;
    } else if (u.kind === 'dense') {
      out.weight = new Tensor(u.weight, [u.O, u.I]);
      out.bias = new Tensor(Float32Array.from(u.bias), [u.O]);
    } else {
      out.weight = u.weight;
    }
  });
  return out;
}

/** Rows [start, end) on axis 0 of a graph state input (a Slice with constant inputs). */
function sliceState(node: NodeMsg, x: StateRows, ins: (Value | null)[]): Value {
  const what = `node '${node.name ?? ''}' (Slice)`;
  const one = (v: Value | null | undefined, fallback: number | null) => {
    if (!v) return fallback;
    if (v.kind !== 'const' || v.data.length !== 1)
      throw unsupported(
        `${what} slices state input '${x.name}' by a non-constant or multi-axis range`,
      );
    return v.data[0];
  };
  if (x.from !== 0 || x.to !== x.rows)
    throw unsupported(`${what} slices state input '${x.name}' twice`);
  const axis = one(ins[3], 0);
  const step = one(ins[4], 1);
  if (axis !== 0 || step !== 1)
    throw unsupported(`${what} slices state input '${x.name}' other than on axis 0 with step 1`);
  const n = x.rows;
  const clamp = (v: number) => (n > 0 ? Math.max(0, Math.min(n, v < 0 ? v + n : v)) : v);
  const from = clamp(one(ins[1], null) ?? 0);
  const end = one(ins[2], null);
  if (end === null) throw unsupported(`${what} has no end`);
  const to = clamp(end);
  if (n === 0 && (from < 0 || end < 0 || end > 2 ** 31))
    throw unsupported(
      `${what} slices rows [${from}, ${end}) of state input '${x.name}', whose first dimension is not fixed`,
    );
  if (to <= from) throw unsupported(`${what} slices no rows of state input '${x.name}'`);
  return { ...x, from, to };
}

/**
 * Graph state inputs must be forward's h0 / c0 of the imported layers: each one feeds exactly one
 * layer, its L nodes reading rows [l·D, (l + 1)·D) in order, and has L·D rows.
 */
function checkStateInputs(layers: Unit[][]): void {
  const owner = new Set<string>();
  layers.forEach((units) => {
    const rs = units.filter((u): u is RecurrentUnit => u.kind === 'recurrent');
    for (const key of ['h', 'c'] as const) {
      const used = rs.map((u) => u.init[key]);
      if (used.every((s) => s === undefined)) continue;
      const first = used.find((s) => s !== undefined)!;
      const label = key === 'h' ? 'initial_h' : 'initial_c';
      const D = rs[0].D;
      const nodes = rs.map((u) => `'${u.node}'`).join(', ');
      const ok =
        used.every((s, l) => s?.name === first.name && s.from === l * D && s.to === (l + 1) * D) &&
        (first.rows === 0 || first.rows === rs.length * D);
      if (!ok)
        throw unsupported(
          `the ${label} of nodes ${nodes} (one layer) are not rows [l·D, (l + 1)·D) of one state input of ${rs.length * D} rows in order, which is what forward's ${key}0 is`,
        );
      if (owner.has(first.name))
        throw unsupported(
          `state input '${first.name}' feeds more than one layer's initial state (or both h and c)`,
        );
      owner.add(first.name);
    }
  });
}

function constOf(dims: number[], values: number[], isInt: boolean): Value {
  return { kind: 'const', dims, data: Float64Array.from(values), isInt };
}

function same(a: readonly unknown[], b: readonly unknown[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

function sliceDims<T>(values: T[], start: number, end: number): T[] {
  const n = values.length;
  const s = Math.max(0, Math.min(n, start < 0 ? start + n : start));
  const e = Math.max(0, Math.min(n, end < 0 ? end + n : end));
  return values.slice(s, e);
}

function reshapeDims(op: string, dims: number[], axes: number[]): number[] {
  if (op === 'Squeeze') {
    const rank = dims.length;
    const drop = new Set(
      axes.length
        ? axes.map((x) => (x < 0 ? x + rank : x))
        : dims.flatMap((d, i) => (d === 1 ? [i] : [])),
    );
    return dims.filter((_, i) => !drop.has(i));
  }
  const out = [...dims];
  const rank = dims.length + axes.length;
  for (const ax of axes.map((x) => (x < 0 ? x + rank : x)).sort((p, q) => p - q))
    out.splice(ax, 0, 1);
  return out;
}

function transpose(m: Float64Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < rows; ++i) for (let j = 0; j < cols; ++j) out[j * rows + i] = m[i * cols + j];
  return out;
}
