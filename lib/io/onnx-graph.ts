// The ONNX graph runner: runs an imported graph as the graph says, like onnxruntime's
// session.run. Feeds by graph input name, every graph output by name, shaped as the graph
// declares. LSTM / GRU / RNN nodes (every form of opsets 7–22) run on cellstate's native layers
// built from the node's attributes (lib/io/onnx-recurrent.ts); the glue around them runs in
// lib/io/onnx-ops.ts. Nodes whose inputs are all constant are computed once at import; nodes no
// graph output needs are skipped. What the runner cannot compute is refused at import, naming
// the node, its op type and the reason.
import {
  BusyError,
  CellstateError,
  CellstateRangeError,
  CellstateTypeError,
  ErrorCode,
  describe,
} from '../errors';
import { type CellSpec, cellOfOnnxOp, cellOfQuantizedOnnxOp } from '../cells';
import type { Recurrent, ForwardOptions, ForwardResult } from '../layers/recurrent';
import { Tensor, toTensor } from '../tensor';
import type { GraphMsg, NodeMsg } from './onnx-schema';
import {
  ELEM_TYPES,
  type ElemType,
  OPS,
  OpContext,
  type OnnxValue,
  castTarget,
  makeValue,
  size,
  tensorToValue,
  transposeValue,
} from './onnx-ops';
import {
  type ConstInput,
  MS_DOMAIN,
  type QuantInput,
  type RecurrentNode,
  dequantizeLstmWeights,
  readRecurrentNode,
} from './onnx-recurrent';
import { layerFromConfig, setModelParameters } from './registry';

/** An integer (or boolean) tensor: what run takes for an integer input and returns for one. */
export interface OnnxIntTensor {
  /** int64: BigInt64Array; int32: Int32Array; bool: Uint8Array (run also takes number[]). */
  readonly data: BigInt64Array | Int32Array | Uint8Array;
  readonly shape: readonly number[];
}

/**
 * One feed of run: a `Tensor` (or nested arrays) for a float input; for an integer input an
 * `Int32Array` or `BigInt64Array` (1-D), or `{ data, shape }` (data an Int32Array,
 * BigInt64Array or number[]).
 */
export type OnnxFeed =
  | Tensor
  | readonly unknown[]
  | Int32Array
  | BigInt64Array
  | {
      readonly data: Int32Array | BigInt64Array | Uint8Array | readonly number[];
      readonly shape: readonly number[];
    };

/** What run returns for an output: a `Tensor` for float, `{ data, shape }` for integers. */
export type OnnxOutput = Tensor | OnnxIntTensor;

/** A graph input or output as the graph declares it. */
export interface OnnxValueInfo {
  readonly name: string;
  /** The element type. */
  readonly type: 'float32' | 'int64' | 'int32' | 'bool';
  /** Dimensions: a size, a symbolic name (dynamic), or null (unnamed dynamic); null if the rank is not declared. */
  readonly shape: readonly (number | string | null)[] | null;
}

/** The graph runner of an imported model (see importOnnx): `run` and `runAsync`. */
export interface OnnxRunnable {
  /**
   * Runs the graph on `feeds` (by graph input name) and returns every graph output by name,
   * shaped as the graph declares (a recurrent node's `Y` is `[T, D, B, H]`, or `[B, T, D, H]`
   * with `layout: 1`; `Y_h` / `Y_c` `[D, B, H]` or `[B, D, H]`). A missing feed, one of the
   * wrong type or shape: a TypeError / RangeError naming the input; a failed run changes nothing.
   */
  run(feeds: Readonly<Record<string, OnnxFeed>>): Record<string, OnnxOutput>;
  /** run with the recurrent nodes off the event loop (forwardAsync); the same results. */
  runAsync(feeds: Readonly<Record<string, OnnxFeed>>): Promise<Record<string, OnnxOutput>>;
  /** The graph's inputs (those run needs a feed for). */
  readonly onnxInputs: readonly OnnxValueInfo[];
  /** The graph's outputs, in the graph's order. */
  readonly onnxOutputs: readonly OnnxValueInfo[];
}

interface Step {
  node: NodeMsg;
  ctx: OpContext;
  recurrent: RecurrentNode | null;
  /** A DynamicQuantizeLSTM: its layers run quantized (int8). */
  quantized?: boolean;
  /** The chain model's layer this node runs on (layer `index` of its stack), not a copy. */
  shared?: { layer: Recurrent; index: number };
  /** A stack's nodes in layer order, run as one call of their shared layer (this step stands for them). */
  group?: Step[];
  /** Inputs not read (initial states the chain importer proved zero): absent, i.e. zeros. */
  zeros?: readonly number[];
}

/** A layer of a chain model and the recurrent nodes it was made of, in layer order. */
export interface SharedLayer {
  readonly layer: Recurrent;
  readonly nodes: readonly NodeMsg[];
  /**
   * Per node, the inputs (5 initial_h, 6 initial_c) the chain importer proved to be zeros
   * (computed from shapes, as PyTorch writes them), which the runner then does not compute.
   */
  readonly zeros: readonly (readonly number[])[];
}

/** The cell of a recurrent node (LSTM / GRU / RNN, or onnxruntime's DynamicQuantizeLSTM), or null. */
function recurrentCell(node: NodeMsg): { spec: CellSpec; quantized: boolean } | null {
  const domain = node.domain ?? '';
  if (domain === '' || domain === 'ai.onnx') {
    const spec = cellOfOnnxOp(node.op_type);
    return spec ? { spec, quantized: false } : null;
  }
  if (domain !== MS_DOMAIN) return null;
  const spec = cellOfQuantizedOnnxOp(node.op_type);
  return spec ? { spec, quantized: true } : null;
}

/** A layer call the executor asks its driver to make (sync forward or forwardAsync). */
interface LayerCall {
  layer: Recurrent;
  x: Tensor;
  opts: ForwardOptions;
}

function unsupported(message: string): CellstateError {
  return new CellstateError(ErrorCode.ONNX_UNSUPPORTED, `importOnnx: ${message}`);
}
function invalid(message: string): CellstateError {
  return new CellstateError(ErrorCode.ONNX_INVALID, `importOnnx: ${message}`);
}

/** The runner of one graph. */
export class OnnxGraph implements OnnxRunnable {
  readonly onnxInputs: readonly OnnxValueInfo[];
  readonly onnxOutputs: readonly OnnxValueInfo[];
  private readonly constants = new Map<string, OnnxValue>();
  private readonly steps: Step[] = [];
  /** The native layers of each recurrent step (built on the first run), by node index. */
  private layers: Map<Step, Recurrent[]> | null = null;
  private isDisposed = false;
  /** runAsync calls started and not settled. */
  private inFlight = 0;
  /** Settles when the last runAsync has finished. */
  private tail: Promise<void> = Promise.resolve();

  constructor(graph: GraphMsg, opset: number) {
    for (const t of graph.initializer ?? [])
      this.constants.set(t.name ?? '', tensorToValue(t, `initializer '${t.name ?? ''}'`));
    const inputs: OnnxValueInfo[] = [];
    for (const v of graph.input ?? []) {
      const name = v.name ?? '';
      if (this.constants.has(name)) continue; // an initializer listed as an input (IR < 4)
      inputs.push(valueInfo(v, 'input'));
    }
    this.onnxInputs = inputs;
    this.onnxOutputs = (graph.output ?? []).map((v) => valueInfo(v, 'output'));

    // topological order of the nodes the outputs need
    const nodes = graph.node ?? [];
    const producer = new Map<string, number>();
    nodes.forEach((n, i) =>
      (n.output ?? []).forEach((o) => {
        if (!o) return;
        if (producer.has(o) || this.constants.has(o) || inputs.some((x) => x.name === o))
          throw invalid(`value '${o}' is defined twice (node '${n.name ?? ''}')`);
        producer.set(o, i);
      }),
    );
    const known = (name: string) =>
      this.constants.has(name) || producer.has(name) || inputs.some((x) => x.name === name);
    const order: number[] = [];
    const state = new Uint8Array(nodes.length); // 0 new, 1 visiting, 2 done
    // depth-first, with an explicit stack (a graph may be deeper than the call stack)
    const visit = (root: number) => {
      const stack: { i: number; next: number }[] = [{ i: root, next: 0 }];
      while (stack.length > 0) {
        const top = stack[stack.length - 1];
        const n = nodes[top.i];
        if (top.next === 0) {
          if (state[top.i] === 2) {
            stack.pop();
            continue;
          }
          state[top.i] = 1;
        }
        const ins = n.input ?? [];
        if (top.next < ins.length) {
          const name = ins[top.next++];
          if (!name) continue;
          if (!known(name))
            throw invalid(
              `node '${n.name ?? ''}' (${n.op_type ?? ''}) reads '${name}', which no node, input or initializer defines`,
            );
          const p = producer.get(name);
          if (p === undefined || state[p] === 2) continue;
          if (state[p] === 1)
            throw invalid(`the graph has a cycle through node '${nodes[p].name ?? ''}'`);
          stack.push({ i: p, next: 0 });
          continue;
        }
        state[top.i] = 2;
        order.push(top.i);
        stack.pop();
      }
    };
    for (const out of this.onnxOutputs) {
      if (!known(out.name)) throw invalid(`graph output '${out.name}' is not computed by any node`);
      const p = producer.get(out.name);
      if (p !== undefined) visit(p);
    }

    for (const i of order) {
      const node = nodes[i];
      const op = node.op_type ?? '';
      const ctx = new OpContext(node, opset);
      const cell = recurrentCell(node);
      if (cell) {
        const recurrent = this.readRecurrent(node, ctx, cell.spec, cell.quantized);
        this.steps.push({ node, ctx, recurrent, quantized: cell.quantized });
        continue;
      }
      if ((node.domain ?? '') !== '' && node.domain !== 'ai.onnx')
        throw unsupported(
          `${ctx.label} is in domain '${node.domain}', which the runner does not compute (of onnxruntime's ${MS_DOMAIN} operators it runs DynamicQuantizeLSTM)`,
        );
      const fn = OPS[op];
      if (!fn)
        throw unsupported(
          `${ctx.label} is not supported: the graph runner computes LSTM, GRU, RNN and the operators docs/onnx.md lists (OnnxGraph's operator table)`,
        );
      if (op === 'Cast') castTarget(ctx);
      const ins = (node.input ?? []).map((n) => (n ? this.constants.get(n) : null));
      if (ins.every((v) => v !== undefined)) {
        // every input constant: computed once, now
        const outs = fn(ctx, ins as (OnnxValue | null)[]);
        (node.output ?? []).forEach((o, k) => {
          if (o && outs[k]) this.constants.set(o, outs[k]);
        });
        continue;
      }
      this.steps.push({ node, ctx, recurrent: null });
    }
  }

  private readRecurrent(
    node: NodeMsg,
    ctx: OpContext,
    spec: CellSpec,
    quantized: boolean,
  ): RecurrentNode {
    const op = spec.onnx.op;
    const input = (k: number) => {
      const name = (node.input ?? [])[k];
      return name ? name : null;
    };
    const constant = (k: number, what: string) => {
      const name = input(k);
      if (name === null) return null;
      const v = this.constants.get(name);
      if (!v || v.type !== 'float32')
        throw unsupported(
          `${ctx.label} has ${what} '${name}' that is not a float constant (an initializer, or computed from them); cellstate builds the layer from it at import`,
        );
      return v;
    };
    // a DynamicQuantizeLSTM's int8 / uint8 W, R and zero points (read as int32 values)
    const integer = (k: number, what: string): QuantInput | null => {
      const name = input(k);
      if (name === null) return null;
      const v = this.constants.get(name);
      if (!v || v.type !== 'int32')
        throw unsupported(
          `${ctx.label} has ${what} '${name}' that is not an int8 or uint8 constant (an initializer)`,
        );
      return v;
    };
    let W: ConstInput | null;
    let R: ConstInput | null;
    if (quantized) {
      const Wq = integer(1, 'weights W');
      const Rq = integer(2, 'weights R');
      if (!Wq || !Rq) throw invalid(`${ctx.label} has no W or R`);
      ({ W, R } = dequantizeLstmWeights(
        { invalid: (why) => invalid(`${ctx.label}: ${why}`) },
        spec.onnx.slots,
        Wq,
        Rq,
        constant(8, 'W_scale'),
        integer(9, 'W_zero_point'),
        constant(10, 'R_scale'),
        integer(11, 'R_zero_point'),
      ));
    } else {
      W = constant(1, 'weights W');
      R = constant(2, 'weights R');
    }
    if (!W || !R) throw invalid(`${ctx.label} has no W or R`);
    const B = constant(3, 'bias B');
    const P = spec.onnx.peepholes > 0 ? constant(7, 'peepholes P') : null;
    const strings = (name: string) =>
      (ctx.raw(name)?.strings ?? []).map((s) => new TextDecoder().decode(s));
    return readRecurrentNode(
      op,
      {
        refuse: (why) => unsupported(`${ctx.label} ${why}`),
        invalid: (why) => invalid(`${ctx.label}: ${why}`),
        int: (name, fallback) => ctx.int(name, fallback),
        string: (name, fallback) => {
          const s = ctx.raw(name)?.s;
          return s && s.length ? new TextDecoder().decode(s) : fallback;
        },
        strings,
        floats: (name) => ctx.floats(name) ?? [],
        float: (name) => (ctx.has(name) ? ctx.float(name, 0) : undefined),
      },
      W,
      R,
      B,
      P,
    );
  }

  /**
   * Runs the recurrent nodes on the chain model's own layers instead of copies: each node on the
   * layer made of it, the nodes of a stack (numLayers > 1) as one call of their layer. The glue
   * between a stack's nodes (Squeeze, Transpose, Reshape of Y) is then not run: it only feeds the
   * next node, which the stack computes itself. A stack whose nodes read anything computed from
   * an inner Y other than as their input X, or read different sequence_lens, keeps its nodes'
   * own layers (built on the first run, freed by dispose). Called once, before any run.
   */
  share(layers: readonly SharedLayer[]): void {
    const stepOf = new Map(this.steps.map((st) => [st.node, st]));
    for (const { layer, nodes, zeros } of layers) {
      const members = nodes.map((n) => stepOf.get(n));
      if (members.some((m) => !m || !m.recurrent || m.recurrent.layers.length !== 1)) continue;
      const steps = members as Step[];
      if (steps.length === 1) {
        steps[0].shared = { layer, index: 0 };
        continue;
      }
      steps.forEach((st, k) => (st.zeros = zeros[k]));
      const order = this.groupOrder(steps);
      if (!order) {
        steps.forEach((st) => delete st.zeros);
        continue;
      }
      steps.forEach((st, k) => (st.shared = { layer, index: k }));
      this.steps.splice(0, this.steps.length, ...order);
    }
  }

  /**
   * The steps with a stack's nodes as one step (placed where all their inputs are ready) and the
   * glue between them dropped, or null when the stack cannot run as one call.
   */
  private groupOrder(members: Step[]): Step[] | null {
    const inMembers = new Set(members);
    const lens = (st: Step) => (st.node.input ?? [])[4] ?? '';
    if (members.some((m) => lens(m) !== lens(members[0]))) return null;
    // values computed from the Y of a node below the top (inner values) and the steps that
    // compute them: dropped, provided they only feed the next node's X
    const inner = new Set<string>();
    members.slice(0, -1).forEach((m) => {
      const y = (m.node.output ?? [])[0];
      if (y) inner.add(y);
    });
    // a step's inputs and outputs (an earlier stack's step: those of all its nodes)
    const insOf = (u: Step) => (u.group ?? [u]).flatMap((m) => m.node.input ?? []);
    const outsOf = (u: Step) => (u.group ?? [u]).flatMap((m) => m.node.output ?? []);
    const dropped = new Set<Step>();
    for (const st of this.steps) {
      if (inMembers.has(st)) {
        const ins = st.node.input ?? [];
        if (ins.some((n, k) => k > 0 && n && inner.has(n) && !st.zeros?.includes(k))) return null;
        continue;
      }
      if (!insOf(st).some((n) => n && inner.has(n))) continue;
      if (st.group) return null;
      dropped.add(st);
      for (const o of st.node.output ?? []) if (o) inner.add(o);
    }
    // the X of each node above the first is inner; nothing else (no graph output) may be
    if (members.slice(1).some((m) => !inner.has((m.node.input ?? [])[0] ?? ''))) return null;
    if (this.onnxOutputs.some((o) => inner.has(o.name))) return null;
    // one step for the stack, its inputs those of every node but the inner X
    const group: Step = { ...members[0], group: members };
    const units = this.steps.filter((st) => !dropped.has(st) && !inMembers.has(st));
    const at = this.steps.indexOf(members[members.length - 1]);
    const all = [...units, group];
    const rank = new Map<Step, number>(this.steps.map((u, i) => [u, i]));
    rank.set(group, at);
    const producer = new Map<string, Step>();
    for (const u of units) for (const o of outsOf(u)) if (o) producer.set(o, u);
    for (const m of members) for (const o of m.node.output ?? []) if (o) producer.set(o, group);
    // what a step reads: a stack's inputs but its inner X and its proven-zero states
    const needs = (u: Step) =>
      (u.group ?? [u]).flatMap((m, j) =>
        (m.node.input ?? []).filter((n, k) => n && !(j > 0 && k === 0) && !m.zeros?.includes(k)),
      );
    // Kahn's order, the earliest original position first
    const deps = new Map<Step, Set<Step>>();
    const users = new Map<Step, Step[]>();
    for (const u of all) {
      const d = new Set<Step>();
      for (const n of needs(u)) {
        const p = producer.get(n);
        if (p && p !== u) d.add(p);
      }
      deps.set(u, d);
      for (const p of d) users.set(p, [...(users.get(p) ?? []), u]);
    }
    const ready = all.filter((u) => deps.get(u)!.size === 0);
    const out: Step[] = [];
    while (ready.length > 0) {
      ready.sort((a, b) => rank.get(a)! - rank.get(b)!);
      const u = ready.shift()!;
      out.push(u);
      for (const v of users.get(u) ?? []) {
        const d = deps.get(v)!;
        d.delete(u);
        if (d.size === 0) ready.push(v);
      }
    }
    return out.length === all.length ? out : null;
  }

  /** The float initializers of the graph by name (copies). */
  initializers(): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    for (const [name, v] of this.constants)
      if (v.type === 'float32') out[name] = new Tensor(Float32Array.from(v.data), [...v.dims]);
    return out;
  }

  /** Whether dispose() has freed the runner's layers. */
  get disposed(): boolean {
    return this.isDisposed;
  }

  /**
   * Frees the native layers the runner made for its recurrent nodes (not the chain model's, which
   * its dispose frees); a later run throws ERR_CELLSTATE_DISPOSED.
   */
  dispose(): void {
    const all = this.layers ? [...this.layers.values()].flat() : [];
    // nothing is freed while a runAsync is in flight
    if (this.inFlight > 0)
      throw new BusyError('dispose: a runAsync of this model is in flight; await it first');
    for (const l of all) l.dispose();
    this.layers = null;
    this.isDisposed = true;
  }

  run(feeds: Readonly<Record<string, OnnxFeed>>): Record<string, OnnxOutput> {
    const env = this.start('run', feeds);
    const it = this.execute(env);
    let r = it.next();
    while (!r.done) r = it.next(r.value.layer.forward(r.value.x, r.value.opts));
    return this.finish(env);
  }

  async runAsync(feeds: Readonly<Record<string, OnnxFeed>>): Promise<Record<string, OnnxOutput>> {
    const env = this.start('runAsync', feeds);
    // runAsync calls take turns (the layers run one forward at a time)
    const before = this.tail;
    let release!: () => void;
    this.tail = new Promise<void>((resolve) => (release = resolve));
    this.inFlight++;
    try {
      await before;
      const it = this.execute(env);
      let r = it.next();
      while (!r.done) r = it.next(await r.value.layer.forwardAsync(r.value.x, r.value.opts));
      return this.finish(env);
    } finally {
      this.inFlight--;
      release();
    }
  }

  /** The values of a run: the constants and the checked feeds. */
  private start(where: string, feeds: unknown): Map<string, OnnxValue> {
    if (this.isDisposed)
      throw new CellstateError(ErrorCode.DISPOSED, `${where}: the model has been disposed`);
    if (feeds === null || typeof feeds !== 'object' || Array.isArray(feeds))
      throw new CellstateTypeError(
        ErrorCode.INVALID_ARG,
        `${where}: feeds must be an object of the graph's inputs by name (${this.onnxInputs.map((i) => `'${i.name}'`).join(', ')}), got ${describe(feeds)}`,
      );
    const f = feeds as Record<string, unknown>;
    for (const key of Object.keys(f))
      if (!this.onnxInputs.some((i) => i.name === key))
        throw new CellstateTypeError(
          ErrorCode.INVALID_ARG,
          `${where}: feeds.${key} is not an input of the graph (its inputs: ${this.onnxInputs.map((i) => `'${i.name}'`).join(', ')})`,
        );
    const env = new Map(this.constants);
    const symbols = new Map<string, { size: number; input: string }>();
    for (const input of this.onnxInputs) {
      const value = readFeed(where, input, f[input.name]);
      const shape = input.shape;
      const label = `feeds.${input.name}`;
      if (shape) {
        const declared = `[${shape.map((d) => d ?? '?').join(', ')}]`;
        if (value.dims.length !== shape.length)
          throw new CellstateRangeError(
            ErrorCode.INVALID_ARG,
            `${where}: ${label} has shape [${value.dims.join(', ')}], the graph declares ${declared}`,
          );
        shape.forEach((d, i) => {
          const got = value.dims[i];
          if (typeof d === 'number' && d !== got)
            throw new CellstateRangeError(
              ErrorCode.INVALID_ARG,
              `${where}: ${label} has shape [${value.dims.join(', ')}], the graph declares ${declared}`,
            );
          if (typeof d === 'string') {
            const seen = symbols.get(d);
            if (seen && seen.size !== got)
              throw new CellstateRangeError(
                ErrorCode.INVALID_ARG,
                `${where}: ${label} has ${d} = ${got} (dimension ${i}), but feeds.${seen.input} has ${d} = ${seen.size}`,
              );
            symbols.set(d, { size: got, input: input.name });
          }
        });
      }
      env.set(input.name, value);
    }
    if (!this.layers) {
      // the native layers, once
      const layers = new Map<Step, Recurrent[]>();
      for (const step of this.steps) {
        const r = step.recurrent;
        if (!r || step.shared || step.group) continue;
        const layout = step.ctx.int('layout', 0);
        layers.set(
          step,
          r.layers.map((l) => {
            const layer = layerFromConfig({
              cell: r.spec.name,
              inputSize: r.I,
              hiddenSize: r.H,
              direction: l.direction,
              batchFirst: layout === 1,
              ...l.options,
              seed: 0,
            }) as Recurrent;
            setModelParameters('importOnnx', layer, new Map(Object.entries(l.params)));
            // a DynamicQuantizeLSTM: cellstate's int8 on the dequantized weights (the file's
            // int8 values and scales when they are as cellstate quantizes)
            if (step.quantized) layer.quantize();
            return layer;
          }),
        );
      }
      this.layers = layers;
    }
    return env;
  }

  /** Runs the steps on `env`, yielding each recurrent layer call to the driver. */
  private *execute(env: Map<string, OnnxValue>): Generator<LayerCall, void, ForwardResult> {
    const read = (step: Step, skipX: boolean) =>
      (step.node.input ?? []).map((n, k) => {
        if (!n || (skipX && k === 0) || step.zeros?.includes(k)) return null;
        const v = env.get(n);
        if (!v) throw new Error(`internal: '${n}' is not computed`);
        return v;
      });
    const store = (step: Step, outs: (OnnxValue | null)[]) =>
      (step.node.output ?? []).forEach((o, k) => {
        const v = outs[k];
        if (o && v) env.set(o, v);
      });
    for (const step of this.steps) {
      const members = step.group ?? [step];
      if (step.recurrent) {
        const outs = yield* this.recurrent(
          members,
          members.map((m, k) => read(m, k > 0)),
        );
        members.forEach((m, k) => store(m, outs[k]));
      } else store(step, OPS[step.node.op_type ?? ''](step.ctx, read(step, false)));
    }
  }

  /**
   * Runs one recurrent node, or a stack's nodes (`steps`, in layer order) on their shared layer in
   * one call; `inputs` are each node's inputs (a stacked node's X, computed inside, is null).
   * Returns each node's outputs Y, Y_h (, Y_c).
   */
  private *recurrent(
    steps: Step[],
    inputs: (OnnxValue | null)[][],
  ): Generator<LayerCall, (OnnxValue | null)[][], ForwardResult> {
    const step = steps[0];
    const ins = inputs[0];
    const r = step.recurrent as RecurrentNode;
    const ctx = step.ctx;
    const layers = step.shared ? [step.shared.layer] : this.layers!.get(step)!;
    const layout = ctx.int('layout', 0);
    const bad = (c: OpContext, why: string) =>
      new CellstateError(ErrorCode.ONNX_INVALID, `${c.label}: ${why}`);
    const X = ins[0];
    if (!X) throw bad(ctx, 'has no input X');
    const names = ['X', 'W', 'R', 'B', 'sequence_lens', 'initial_h', 'initial_c', 'P'];
    const named = (st: Step, k: number) => `${names[k]} ('${(st.node.input ?? [])[k]}')`;
    if (X.type !== 'float32' || X.dims.length !== 3 || X.dims[2] !== r.I)
      throw bad(
        ctx,
        `${named(step, 0)} is ${X.type} [${X.dims.join(', ')}], expected float ${layout === 0 ? '[T, B, I]' : '[B, T, I]'} with I = ${r.I}`,
      );
    const [T, B] = layout === 0 ? [X.dims[0], X.dims[1]] : [X.dims[1], X.dims[0]];
    if (T < 1 || B < 1)
      throw new CellstateRangeError(
        ErrorCode.INVALID_ARG,
        `run: ${ctx.label} reads ${named(step, 0)} with ${T} steps and batch ${B}; cellstate runs T ≥ 1 and B ≥ 1`,
      );
    const { D, H } = r;
    const L = steps.length;
    // each node's states as [D, B, H]
    const state = (j: number, k: number): Float32Array | undefined => {
      const v = inputs[j][k];
      if (!v) return undefined;
      const want = layout === 0 ? [D, B, H] : [B, D, H];
      if (v.type !== 'float32' || !sameDims(v.dims, want))
        throw bad(
          steps[j].ctx,
          `${named(steps[j], k)} is ${v.type} [${v.dims.join(', ')}], expected float [${want.join(', ')}]`,
        );
      return (layout === 0 ? v : transposeValue(v, [1, 0, 2])).data as Float32Array;
    };
    const h0s = steps.map((_, j) => state(j, 5));
    const c0s = steps.map((_, j) => (r.spec.cellState ? state(j, 6) : undefined));
    steps.forEach((st, j) => {
      if (!r.spec.cellState && inputs[j][6])
        throw bad(st.ctx, 'has initial_c, which only an LSTM has');
    });
    let lengths: Int32Array | undefined;
    const lens = ins[4];
    if (lens) {
      if (lens.type === 'float32' || lens.dims.length !== 1 || lens.dims[0] !== B)
        throw bad(
          ctx,
          `${named(step, 4)} is ${lens.type} [${lens.dims.join(', ')}], expected int32 [${B}]`,
        );
      // checked before the conversion to int32, which would wrap int64 values
      const values = Array.from(lens.data);
      const i = values.findIndex((v) => !(Number.isInteger(v) && v >= 0 && v <= T));
      if (i >= 0)
        throw new CellstateRangeError(
          ErrorCode.INVALID_ARG,
          `run: ${ctx.label} reads ${named(step, 4)} with sequence_lens[${i}] = ${values[i]}; each must be in [0, T = ${T}]`,
        );
      lengths = Int32Array.from(values);
    }
    // the layer's own layout: a shared batch-first layer reads [B, T, I]
    const layerBF = layers[0].config.batchFirst === true;
    const nodeBF = layout === 1;
    const xIn =
      layerBF === nodeBF ? X : transposeValue(X as OnnxValue & { type: 'float32' }, [1, 0, 2]);
    const x = new Tensor(xIn.data as Float32Array, [...xIn.dims]);
    // the states of every node (zeros for a node without one), [L·D, B, H]
    const stacked = (parts: (Float32Array | undefined)[]) => {
      if (parts.every((p) => !p)) return undefined;
      if (L === 1) return parts[0];
      const out = new Float32Array(L * D * B * H);
      parts.forEach((p, j) => p && out.set(p, j * D * B * H));
      return out;
    };
    const h0 = stacked(h0s);
    const c0 = stacked(c0s);
    const rows = (s: Float32Array | undefined, d: number) =>
      s && layers.length > 1
        ? new Tensor(s.subarray(d * B * H, (d + 1) * B * H), [1, B, H])
        : s && new Tensor(s, [L * D, B, H]);
    const results: ForwardResult[] = [];
    for (let j = 0; j < layers.length; ++j) {
      const opts: ForwardOptions = {};
      const h = rows(h0, j);
      const c = rows(c0, j);
      if (h) opts.h0 = h;
      if (c) opts.c0 = c;
      if (lengths) opts.lengths = lengths;
      results.push(yield { layer: layers[j], x, opts });
    }
    // output [T, B, D·H] (layout 0) or [B, T, D·H] (layout 1); states [D, B, H]
    const joinLast = (parts: Float32Array[], rowsN: number) => {
      if (parts.length === 1) return parts[0];
      const out = new Float32Array(rowsN * D * H);
      for (let i = 0; i < rowsN; ++i)
        parts.forEach((p, d) => out.set(p.subarray(i * H, (i + 1) * H), (i * D + d) * H));
      return out;
    };
    const joinFirst = (parts: Float32Array[]) => {
      if (parts.length === 1) return parts[0];
      const out = new Float32Array(D * B * H);
      parts.forEach((p, d) => out.set(p, d * B * H));
      return out;
    };
    let y = joinLast(
      results.map((res) => res.output.data),
      T * B,
    );
    if (layerBF !== nodeBF)
      y = transposeValue(
        { type: 'float32', dims: layerBF ? [B, T, D * H] : [T, B, D * H], data: y },
        [1, 0, 2],
      ).data as Float32Array;
    const Y: OnnxValue =
      layout === 0
        ? transposeValue({ type: 'float32', dims: [T, B, D, H], data: y }, [0, 2, 1, 3])
        : { type: 'float32', dims: [B, T, D, H], data: y };
    // an empty sequence (sequence_lens 0): cellstate's state passes through (h_n = h0), where
    // onnxruntime returns zeros in Y_h and Y_c; the runner gives onnxruntime's
    const empty = lengths ? Array.from(lengths.keys()).filter((b) => lengths[b] === 0) : [];
    // node j's rows of the states [D, B, H]
    const stateOut = (parts: (Float32Array | undefined)[], j: number): OnnxValue => {
      let data = joinFirst(parts as Float32Array[]);
      if (L > 1) data = data.slice(j * D * B * H, (j + 1) * D * B * H);
      else if (empty.length > 0 && parts.length === 1) data = Float32Array.from(data);
      for (let d = 0; d < D; ++d)
        for (const b of empty) data.fill(0, (d * B + b) * H, (d * B + b + 1) * H);
      const s: OnnxValue = { type: 'float32', dims: [D, B, H], data };
      return layout === 0 ? s : transposeValue(s, [1, 0, 2]);
    };
    return steps.map((_, j) => {
      const outs: (OnnxValue | null)[] = [
        j === L - 1 ? Y : null,
        stateOut(
          results.map((res) => res.h.data),
          j,
        ),
      ];
      if (r.spec.cellState)
        outs.push(
          stateOut(
            results.map((res) => res.c?.data),
            j,
          ),
        );
      return outs;
    });
  }

  /** The graph outputs of a finished run. */
  private finish(env: Map<string, OnnxValue>): Record<string, OnnxOutput> {
    const out: Record<string, OnnxOutput> = {};
    for (const o of this.onnxOutputs) {
      const v = env.get(o.name);
      if (!v) throw new Error(`internal: graph output '${o.name}' is not computed`);
      out[o.name] = toOutput(v);
    }
    return out;
  }
}

function sameDims(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function valueInfo(
  v: NonNullable<GraphMsg['input']>[number],
  what: 'input' | 'output',
): OnnxValueInfo {
  const name = v.name ?? '';
  const tt = v.type?.tensor_type;
  const code = tt?.elem_type ?? 0;
  const type = ELEM_TYPES[code];
  if (!type)
    throw unsupported(
      `graph ${what} '${name}' has element type ${code}; the runner reads and writes float, int32, int64 and bool tensors`,
    );
  const shape = tt?.shape
    ? (tt.shape.dim ?? []).map((d) =>
        d.dim_value !== undefined && d.dim_value !== null && Number(d.dim_value) > 0
          ? Number(d.dim_value)
          : d.dim_param
            ? d.dim_param
            : null,
      )
    : null;
  return { name, type, shape };
}

const INT_RANGE: Record<string, [number, number]> = {
  int32: [-(2 ** 31), 2 ** 31 - 1],
  int64: [-(2 ** 63), 2 ** 63],
  bool: [0, 1],
};

/** A feed as a runner value, checked against the input's element type. */
function readFeed(where: string, input: OnnxValueInfo, value: unknown): OnnxValue {
  const label = `feeds.${input.name}`;
  if (value === undefined)
    throw new CellstateTypeError(
      ErrorCode.INVALID_ARG,
      `${where}: ${label} is missing (a ${input.type === 'float32' ? 'Tensor' : `${input.type} tensor`} for graph input '${input.name}')`,
    );
  if (input.type === 'float32') {
    if (
      value instanceof Int32Array ||
      value instanceof BigInt64Array ||
      (value !== null &&
        typeof value === 'object' &&
        !(value instanceof Tensor) &&
        !Array.isArray(value))
    )
      throw new CellstateTypeError(
        ErrorCode.INVALID_ARG,
        `${where}: ${label} must be a Tensor (graph input '${input.name}' is float), got ${describe(value)}`,
      );
    const t = toTensor(value, where, label);
    return { type: 'float32', dims: [...t.shape], data: t.data };
  }
  let data: unknown = value;
  let shape: readonly number[] | undefined;
  if (value instanceof Int32Array || value instanceof BigInt64Array) shape = [value.length];
  else if (
    value !== null &&
    typeof value === 'object' &&
    !Array.isArray(value) &&
    !(value instanceof Tensor) &&
    'data' in value &&
    'shape' in value
  ) {
    data = (value as { data: unknown }).data;
    shape = (value as { shape: unknown }).shape as readonly number[];
    if (!Array.isArray(shape) || shape.some((d) => !Number.isSafeInteger(d) || (d as number) < 0))
      throw new CellstateTypeError(
        ErrorCode.INVALID_ARG,
        `${where}: ${label}.shape must be an array of non-negative integers, got ${describe(shape)}`,
      );
  } else
    throw new CellstateTypeError(
      ErrorCode.INVALID_ARG,
      `${where}: ${label} must be an Int32Array, a BigInt64Array or { data, shape } (graph input '${input.name}' is ${input.type}), got ${describe(value)}`,
    );
  const ok =
    data instanceof Int32Array ||
    data instanceof BigInt64Array ||
    (input.type === 'bool' && data instanceof Uint8Array) ||
    (Array.isArray(data) && data.every((v) => Number.isSafeInteger(v)));
  if (!ok)
    throw new CellstateTypeError(
      ErrorCode.INVALID_ARG,
      `${where}: ${label}.data must be an Int32Array, a BigInt64Array or integers (graph input '${input.name}' is ${input.type}), got ${describe(data)}`,
    );
  const arr = data as ArrayLike<number | bigint>;
  if (arr.length !== size(shape!))
    throw new CellstateRangeError(
      ErrorCode.INVALID_ARG,
      `${where}: ${label} has ${arr.length} values for shape [${shape!.join(', ')}]`,
    );
  const out = makeValue(input.type, shape!);
  const [lo, hi] = INT_RANGE[input.type];
  for (let i = 0; i < arr.length; ++i) {
    const v = Number(arr[i]);
    if (!(v >= lo && v <= hi))
      throw new CellstateRangeError(
        ErrorCode.INVALID_ARG,
        `${where}: ${label}[${i}] = ${String(arr[i])} is out of range for ${input.type}`,
      );
    out.data[i] = v;
  }
  return out;
}

function toOutput(v: OnnxValue): OnnxOutput {
  if (v.type === 'float32') return new Tensor(Float32Array.from(v.data), [...v.dims]);
  const shape = Object.freeze([...v.dims]);
  if (v.type === 'int32') return { data: Int32Array.from(v.data), shape };
  if (v.type === 'bool') return { data: Uint8Array.from(v.data), shape };
  const data = new BigInt64Array(v.data.length);
  const max = 2n ** 63n - 1n;
  for (let i = 0; i < data.length; ++i) {
    const b = BigInt(Math.trunc(v.data[i]));
    data[i] = b > max ? max : b;
  }
  return { data, shape };
}

/**
 * What importOnnx returns for a graph that is not a plain chain of layers (outputs of a
 * recurrent node's own layout, several inputs, states as outputs only, …): the graph runner.
 * `run` / `runAsync` run it; forward, predict, stream and config need a chain of layers and throw
 * ERR_CELLSTATE_ONNX_UNSUPPORTED saying why this graph is not one.
 */
export class OnnxGraphModel implements OnnxRunnable {
  constructor(
    private readonly graph: OnnxGraph,
    /** Why the graph is not a chain of layers. */
    private readonly notChain: CellstateError,
  ) {}

  private refuse(what: string): CellstateError {
    const why = this.notChain.message.replace(/^importOnnx: /, '');
    return new CellstateError(
      ErrorCode.ONNX_UNSUPPORTED,
      `${what}: the ONNX graph is not a plain chain of layers (${why}); run(feeds) runs it as the graph says`,
    );
  }

  get onnxInputs(): readonly OnnxValueInfo[] {
    return this.graph.onnxInputs;
  }

  get onnxOutputs(): readonly OnnxValueInfo[] {
    return this.graph.onnxOutputs;
  }

  run(feeds: Readonly<Record<string, OnnxFeed>>): Record<string, OnnxOutput> {
    return this.graph.run(feeds);
  }

  runAsync(feeds: Readonly<Record<string, OnnxFeed>>): Promise<Record<string, OnnxOutput>> {
    return this.graph.runAsync(feeds);
  }

  /** Throws: a graph has no cellstate config (use run). */
  get config(): never {
    throw this.refuse('config');
  }

  /** The last dimension of the first graph output (0 when it is not fixed). */
  get outputSize(): number {
    const s = this.graph.onnxOutputs[0]?.shape;
    const d = s?.[s.length - 1];
    return typeof d === 'number' ? d : 0;
  }

  /** The graph's float initializers by name (copies). */
  parameters(): Record<string, Tensor> {
    return this.graph.initializers();
  }

  forward(): never {
    throw this.refuse('forward');
  }

  predict(): never {
    throw this.refuse('predict');
  }

  stream(): never {
    throw this.refuse('stream');
  }

  /** Whether dispose() has freed the runner's native layers. */
  get disposed(): boolean {
    return this.graph.disposed;
  }

  /** Frees the native layers; a later run throws ERR_CELLSTATE_DISPOSED. */
  dispose(): void {
    this.graph.dispose();
  }
}
