// Sequential.summary(): each layer's type, output shape and parameter count, and the totals, as
// Keras's model.summary() prints them (as text, plain ASCII) or as an object. Shapes follow the
// model's forward layout, with 'B' (batch) and 'T' (time steps) where Keras prints None.
import type { Layer } from '../layers/layer';

/** A dimension of a summary's shape: a size, or 'B' (batch) / 'T' (time steps), unknown until a batch comes. */
export type SummaryDim = number | 'B' | 'T';

/** One layer of a ModelSummary. */
export interface LayerSummary {
  /** Index in `model.layers` (the prefix of its parameter names). */
  index: number;
  /** 'LSTM', 'GRU', 'RNN', 'Dense', 'Embedding' or 'Dropout'. */
  type: 'LSTM' | 'GRU' | 'RNN' | 'Dense' | 'Embedding' | 'Dropout';
  /** The options that shape the layer, e.g. '2 layers, bidirectional', 'softmax, lastStep'; may be ''. */
  details: string;
  /** The shape of its output in the model's forward layout, e.g. `['B', 'T', 32]` or `['B', 5]`. */
  outputShape: SummaryDim[];
  /** Parameter values (elements of its `parameters()`). */
  params: number;
}

/** What `summary({ format: 'object' })` returns. */
export interface ModelSummary {
  /** The model's `batchFirst` (undefined when not given). */
  batchFirst: boolean | undefined;
  /** The shape of what forward takes, e.g. `['B', 'T', 2]`, or `['B', 'T']` for token ids. */
  inputShape: SummaryDim[];
  layers: LayerSummary[];
  /** Σ params. */
  totalParams: number;
  /** Parameters fit updates: every parameter (cellstate has no frozen layers). */
  trainableParams: number;
  /** totalParams − trainableParams: 0. */
  nonTrainableParams: number;
}

/** Options of Sequential.summary. */
export interface SummaryOptions {
  /** 'text' (the table as a string) or 'object' (a ModelSummary). Default 'text'. */
  format?: 'text' | 'object' | undefined;
}

/** @internal The summary of a Sequential's layers. */
export function summarize(
  layers: readonly Layer[],
  batchFirst: boolean | undefined,
  inputSize: number,
  tokenInput: boolean,
): ModelSummary {
  const seq = (f: number | null): SummaryDim[] => {
    const bt: SummaryDim[] = batchFirst === true ? ['B', 'T'] : ['T', 'B'];
    return f === null ? bt : [...bt, f];
  };
  const inputShape = seq(tokenInput ? null : inputSize);
  let shape = inputShape;
  const out: LayerSummary[] = layers.map((layer, index) => {
    if (layer.outputSize !== null)
      shape = layer.keepsTime ? seq(layer.outputSize) : ['B', layer.outputSize];
    return {
      index,
      type: layer.layerType as LayerSummary['type'],
      details: layer.summaryDetails(),
      outputShape: [...shape],
      params: layer.parameterCount,
    };
  });
  const total = out.reduce((n, l) => n + l.params, 0);
  return {
    batchFirst,
    inputShape,
    layers: out,
    totalParams: total,
    trainableParams: total,
    nonTrainableParams: 0,
  };
}

/** 1234567 → '1,234,567' (not locale-dependent). */
function grouped(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

function shapeText(s: readonly SummaryDim[]): string {
  return `[${s.join(', ')}]`;
}

/** @internal The text form of a ModelSummary. */
export function summaryText(s: ModelSummary): string {
  const layout =
    s.batchFirst === undefined ? 'batchFirst not given' : `batchFirst: ${s.batchFirst}`;
  const rows = s.layers.map((l) => [
    `${l.index} ${l.type}${l.details ? ` (${l.details})` : ''}`,
    shapeText(l.outputShape),
    grouped(l.params),
  ]);
  const head = ['Layer (type)', 'Output shape', 'Param #'];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) =>
    ` ${r[0].padEnd(w[0])}   ${r[1].padEnd(w[1])}   ${r[2].padStart(w[2])}`;
  const width = w[0] + w[1] + w[2] + 7;
  return [
    `Sequential (${layout}), input ${shapeText(s.inputShape)}${s.inputShape.length === 2 ? ' token ids' : ''}`,
    '_'.repeat(width),
    line(head),
    '='.repeat(width),
    ...rows.map(line),
    '='.repeat(width),
    `Total params: ${grouped(s.totalParams)}`,
    `Trainable params: ${grouped(s.trainableParams)}`,
    `Non-trainable params: ${grouped(s.nonTrainableParams)}`,
    '_'.repeat(width),
  ].join('\n');
}
