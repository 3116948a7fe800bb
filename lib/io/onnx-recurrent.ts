// One ONNX LSTM / GRU / RNN node as cellstate layers: its attributes as the cell's options
// (lib/cells: activations with α / β in onnxruntime's order, clip, input_forget,
// linear_before_reset, peepholes), its W, R, B, P as the layer's parameters. Shared by the chain
// importer (onnx-import.ts) and the graph runner (onnx-graph.ts).
//
// ONNX LSTM blocks i, o, f, c → cellstate's i, f, g, o (docs/cells.md); peepholes
// [p_i, p_o, p_f] → [p_i, p_f, p_o]; GRU z, r, h → r, z, n; input_forget = 1 → coupled, with
// cellstate's f block = −(ONNX's i slot) and p_f = −P_i (ONNX Runtime computes i from the i slot
// and f = 1 − i; the f slot is never read).
import type { CellstateError } from '../errors';
import {
  type CellSpec,
  type Direction,
  type OnnxNodeView,
  type RecurrentConfig,
  cellOfOnnxOp,
  parseOnnxActivations,
  resolveCell,
} from '../cells';
import { Tensor } from '../tensor';

/** A constant input of the node (W, R, B, P): its dims and values. */
export interface ConstInput {
  readonly dims: readonly number[];
  readonly data: ArrayLike<number> & { subarray(a: number, b: number): ArrayLike<number> };
}

/** One cellstate layer of a node: a direction (or both) with its options and parameters. */
export interface NodeLayer {
  /** 'forward', 'reverse' or 'bidirectional'. */
  readonly direction: Direction;
  /** The cell's options the node's attributes give (without sizes and direction). */
  readonly options: Record<string, unknown>;
  /** The layer's parameters, named as layer 0 (`weight_ih_l0`, `…_reverse` when bidirectional). */
  readonly params: Record<string, Tensor>;
}

/** What a recurrent node computes, as cellstate layers. */
export interface RecurrentNode {
  readonly spec: CellSpec;
  /** Input features, hidden size, directions (1 or 2). */
  readonly I: number;
  readonly H: number;
  readonly D: number;
  /** The node's `direction` attribute. */
  readonly direction: Direction;
  /** One layer (every direction with the same options), or for a bidirectional node whose
   * directions have different activations, a forward and a reverse layer. */
  readonly layers: readonly NodeLayer[];
}

/** How the reader reports: `refuse` (unsupported) and `invalid` (malformed), each naming the node. */
export interface NodeReporter {
  refuse(why: string): CellstateError;
  invalid(why: string): CellstateError;
  int(name: string, fallback: number): number;
  string(name: string, fallback: string): string;
  strings(name: string): string[];
  floats(name: string): number[];
  float(name: string): number | undefined;
}

/**
 * Reads a recurrent node: W `[D, G·H, I]`, R `[D, G·H, H]`, B `[D, 2·G·H]` (or null), P
 * `[D, 3·H]` (LSTM, or null). `I` (if known) is the features of its input.
 */
export function readRecurrentNode(
  op: string,
  r: NodeReporter,
  W: ConstInput,
  R: ConstInput,
  B: ConstInput | null,
  P: ConstInput | null,
): RecurrentNode {
  const spec = cellOfOnnxOp(op) as CellSpec;
  const clip = r.float('clip');
  if (clip !== undefined && !(clip > 0 && Number.isFinite(clip)))
    throw r.invalid(`clip must be a finite number > 0, got ${clip}`);
  const direction = r.string('direction', 'forward');
  if (direction !== 'forward' && direction !== 'reverse' && direction !== 'bidirectional')
    throw r.invalid(
      `direction must be 'forward', 'reverse' or 'bidirectional', got '${direction}'`,
    );
  const D = direction === 'bidirectional' ? 2 : 1;
  const G = spec.onnx.slots;
  if (W.dims.length !== 3 || W.dims[0] !== D || W.dims[1] % G !== 0 || W.dims[1] === 0)
    throw r.invalid(`W has shape [${W.dims.join(', ')}], expected [${D}, ${G}·H, I]`);
  const H = W.dims[1] / G;
  const I = W.dims[2];
  if (r.int('hidden_size', H) !== H)
    throw r.invalid(
      `hidden_size ${r.int('hidden_size', 0)} disagrees with W [${W.dims.join(', ')}]`,
    );
  if (!same(R.dims, [D, G * H, H]))
    throw r.invalid(`R has shape [${R.dims.join(', ')}], expected [${D}, ${G * H}, ${H}]`);
  if (B && !same(B.dims, [D, 2 * G * H]))
    throw r.invalid(`B has shape [${B.dims.join(', ')}], expected [${D}, ${2 * G * H}]`);
  const K = spec.onnx.peepholes;
  if (P && K === 0) throw r.invalid('has a peephole input P, which only an LSTM has');
  if (P && !same(P.dims, [D, K * H]))
    throw r.invalid(`P has shape [${P.dims.join(', ')}], expected [${D}, ${K * H}]`);
  const layout = r.int('layout', 0);
  if (layout !== 0 && layout !== 1) throw r.invalid(`layout must be 0 or 1, got ${layout}`);

  // activations with α / β as onnxruntime reads them (consumed in order over both directions)
  const acts = r.strings('activations').map((s) => s.toLowerCase());
  const per = spec.onnx.activations;
  if (acts.length !== 0 && acts.length !== per * D)
    throw r.invalid(`${acts.length} activations, expected ${per * D}`);
  const badActs = () =>
    r.refuse(
      `has activations [${acts.join(', ')}], which cellstate's ${op} options do not express`,
    );
  const resolved =
    acts.length === 0
      ? null
      : parseOnnxActivations(acts, r.floats('activation_alpha'), r.floats('activation_beta'));
  if (acts.length !== 0 && !resolved) throw badActs();
  const optionsOf = (d: number) => {
    const view: OnnxNodeView = {
      activations: acts.length === 0 ? null : acts.slice(d * per, (d + 1) * per),
      int: (attr, fallback) => r.int(attr, fallback),
      peephole: P !== null,
      refuse: (message) => r.refuse(message),
      badActivations: badActs,
      resolvedActivations: resolved ? resolved.slice(d * per, (d + 1) * per) : null,
      clip,
    };
    return spec.onnx.options(view);
  };
  const perDirection = Array.from({ length: D }, (_, d) => optionsOf(d));
  const split = D === 2 && JSON.stringify(perDirection[0]) !== JSON.stringify(perDirection[1]);

  const layerOf = (dirs: number[], dir: Direction, options: Record<string, unknown>): NodeLayer => {
    let config: RecurrentConfig;
    try {
      config = resolveCell(spec, {
        cell: spec.name,
        inputSize: I,
        hiddenSize: H,
        direction: dir,
        ...options,
        seed: 0,
      });
    } catch (e) {
      throw r.invalid((e as Error).message);
    }
    const firstSlots = (slots: readonly { block: number; negate: boolean }[]) => {
      const order: { k: number; negate: boolean }[] = [];
      slots.forEach((s, k) => {
        if (s.block >= 0 && !order[s.block]) order[s.block] = { k, negate: s.negate };
      });
      return order;
    };
    const order = firstSlots(spec.onnx.gateSlots(config));
    const pOrder = firstSlots(spec.onnx.peepholeSlots(config));
    const params: Record<string, Tensor> = {};
    dirs.forEach((d, j) => {
      const sfx = j === 0 ? '' : '_reverse';
      const w = W.data.subarray(d * G * H * I, (d + 1) * G * H * I);
      const rr = R.data.subarray(d * G * H * H, (d + 1) * G * H * H);
      const b = B
        ? B.data.subarray(d * 2 * G * H, (d + 1) * 2 * G * H)
        : new Float64Array(2 * G * H);
      const gather = (m: ArrayLike<number>, cols: number, from = order, offset = 0) => {
        const out = new Float32Array(from.length * H * cols);
        from.forEach((o, k) => {
          const at = offset + o.k * H * cols;
          for (let i = 0; i < H * cols; ++i)
            out[k * H * cols + i] = o.negate ? -m[at + i] : m[at + i];
        });
        return out;
      };
      const n = order.length * H;
      params[`weight_ih_l0${sfx}`] = new Tensor(gather(w, I), [n, I]);
      params[`weight_hh_l0${sfx}`] = new Tensor(gather(rr, H), [n, H]);
      params[`bias_ih_l0${sfx}`] = new Tensor(gather(b, 1), [n]);
      params[`bias_hh_l0${sfx}`] = new Tensor(gather(b, 1, order, G * H), [n]);
      if (P) {
        const ph = gather(P.data.subarray(d * K * H, (d + 1) * K * H), 1, pOrder);
        params[`weight_ph_l0${sfx}`] = new Tensor(ph, [ph.length]);
      }
    });
    return { direction: dir, options, params };
  };
  const layers = split
    ? [layerOf([0], 'forward', perDirection[0]), layerOf([1], 'reverse', perDirection[1])]
    : [layerOf(D === 2 ? [0, 1] : [0], direction, perDirection[0])];
  return { spec, I, H, D, direction, layers };
}

function same(a: readonly unknown[], b: readonly unknown[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** onnxruntime's dynamically quantized LSTM operator (domain `com.microsoft`). */
export const QUANTIZED_LSTM = 'DynamicQuantizeLSTM';
/** The domain of onnxruntime's contrib operators. */
export const MS_DOMAIN = 'com.microsoft';

/** An int8 / uint8 input of a DynamicQuantizeLSTM node (or a scale / zero point): dims and values. */
export interface QuantInput {
  readonly dims: readonly number[];
  readonly data: ArrayLike<number>;
}

/**
 * The float `W` `[D, G·H, I]` and `R` `[D, G·H, H]` a DynamicQuantizeLSTM node's int8 weights
 * stand for: its `W` `[D, I, G·H]` and `R` `[D, H, G·H]` (int8 or uint8, transposed against LSTM's)
 * dequantized as onnxruntime reads them, `fround((q − zero_point) · scale)` with a scale and zero
 * point per direction (`[D]`) or per gate row (`[D, G·H]`). The layer made from them is then
 * quantized by cellstate (one symmetric scale per row): when the file's weights are as cellstate
 * quantizes (zero points 0, every gate row's largest |q| 127 or the row all 0, as cellstate's own
 * exports are) its int8 weights and scales are the file's, bit for bit; otherwise they are
 * cellstate's per-row quantization of the dequantized weights (within half a step of them).
 */
export function dequantizeLstmWeights(
  r: Pick<NodeReporter, 'invalid'>,
  G: number,
  W: QuantInput,
  R: QuantInput,
  Wscale: QuantInput | null,
  Wzero: QuantInput | null,
  Rscale: QuantInput | null,
  Rzero: QuantInput | null,
): { W: ConstInput; R: ConstInput } {
  if (W.dims.length !== 3 || W.dims[2] % G !== 0 || W.dims[2] === 0 || W.dims[0] < 1)
    throw r.invalid(`W has shape [${W.dims.join(', ')}], expected [D, I, ${G}·H] (int8)`);
  const [D, I, N] = W.dims;
  const H = N / G;
  if (!same(R.dims, [D, H, N]))
    throw r.invalid(`R has shape [${R.dims.join(', ')}], expected [${D}, ${H}, ${N}] (int8)`);
  const one = (
    q: QuantInput,
    K: number,
    scale: QuantInput | null,
    zero: QuantInput | null,
    name: string,
  ): ConstInput => {
    if (!scale) throw r.invalid(`has no ${name}_scale`);
    // per gate row [D, G·H], or per direction [D] (the shapes onnxruntime takes)
    const perRow = same(scale.dims, [D, N]);
    if (!perRow && !same(scale.dims, [D]))
      throw r.invalid(
        `${name}_scale has shape [${scale.dims.join(', ')}], expected [${D}] or [${D}, ${N}]`,
      );
    if (zero && !same(zero.dims, scale.dims))
      throw r.invalid(
        `${name}_zero_point has shape [${zero.dims.join(', ')}], expected that of ${name}_scale [${scale.dims.join(', ')}]`,
      );
    for (let i = 0; i < scale.data.length; ++i)
      if (!(scale.data[i] > 0 && Number.isFinite(scale.data[i])))
        throw r.invalid(`${name}_scale[${i}] is ${scale.data[i]}, not a finite number > 0`);
    const out = new Float32Array(D * N * K);
    for (let d = 0; d < D; ++d)
      for (let n = 0; n < N; ++n) {
        const at = perRow ? d * N + n : d;
        const s = scale.data[at];
        const z = zero ? zero.data[at] : 0;
        for (let k = 0; k < K; ++k)
          out[(d * N + n) * K + k] = Math.fround((q.data[(d * K + k) * N + n] - z) * s);
      }
    return { dims: [D, N, K], data: out };
  };
  return { W: one(W, I, Wscale, Wzero, 'W'), R: one(R, H, Rscale, Rzero, 'R') };
}
