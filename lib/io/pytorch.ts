// PyTorch state_dicts saved with safetensors (`save_file(model.state_dict(), path)`):
// nn.LSTM / nn.GRU / nn.RNN alone (bare names `weight_ih_l0`, ...), or a module holding such
// layers and nn.Linear / nn.Embedding (`lstm.weight_ih_l0`, `fc.weight`, `fc.bias`, ...).
//
// The configuration comes from the shapes where they tell it:
//   inputSize      weight_ih_l0's columns
//   hiddenSize     weight_hh_l0's columns (weight_hr_l0's with a projection)
//   projSize       weight_hr_l0's rows
//   numLayers      the l of weight_ih_l{l}; bidirectional: a `_reverse` tensor
//   cell           gate blocks G = rows of weight_hh_l0 / H: 4 LSTM, 3 GRU, 1 RNN (the only
//                  counts PyTorch's modules make; anything else needs config.cell)
//   Linear         weight [O, I] and bias [O] → Dense; Embedding: weight [N, D] alone
// and not from the shapes: an RNN's nonlinearity (tanh unless config says 'relu'), a Dense's
// activation ('linear') and lastStep (false), and the order of several modules (the one order
// in which their sizes chain, or the numeric order of nn.Sequential's `0.`, `1.`, ...). Nor
// does a state_dict record batch_first: the model is time-major (PyTorch's default) unless
// config says batchFirst. When an RNN's nonlinearity or the layout had to be assumed, a
// warning (code CELLSTATE_PYTORCH_GUESS) names what was assumed and the option that settles it.
import { CELLS, findCell } from '../cells';
import { ErrorCode, describe } from '../errors';
import { Dense } from '../layers/dense';
import { Sequential, type SequentialLayer } from '../model/sequential';
import { Tensor } from '../tensor';
import {
  ALLOCATION_SLACK,
  configError,
  layerFromConfig,
  type Model,
  parameterCountOf,
  setModelParameters,
} from './registry';
import { type SafetensorsContent, fileError } from './safetensors';

// Recurrent parameters: PyTorch's, and the ln_{ih,hh,c}_{weight,bias} of cellstate's
// layer-normalized LSTM (lib/cells/lstm.ts; no PyTorch module has them).
const RECURRENT_NAME =
  /^(?:(.*)\.)?((?:(?:weight|bias)_(?:ih|hh|hr|ph)|ln_(?:ih|hh|c)_(?:weight|bias))_l(\d+)(?:_reverse)?)$/;
const PLAIN_NAME = /^(?:(.*)\.)?(weight|bias)$/;
/** Most modules whose order is searched among all permutations. */
const MAX_SEARCH = 7;

interface Module {
  /** The PyTorch prefix ('' for a bare nn.LSTM). */
  prefix: string;
  kind: 'recurrent' | 'plain';
  /** Parameters by name without the prefix. */
  tensors: Map<string, Tensor>;
  /** The layer config inferred (and completed by the user's options). */
  config: Record<string, unknown>;
  /** Features in (null for an Embedding: token ids) and out. */
  inputSize: number | null;
  outputSize: number;
}

/** A model from a PyTorch state_dict; `config` completes or overrides what the shapes tell. */
export function fromStateDict(
  where: string,
  content: SafetensorsContent,
  config: Record<string, unknown> | undefined,
): Model {
  const err = (code: ErrorCode, message: string) => fileError(code, where, message);
  if (content.tensors.size === 0)
    throw err(
      ErrorCode.FILE_MISSING_TENSOR,
      'the file holds no tensors (and no cellstate metadata)',
    );

  // Group the tensors by module prefix.
  const groups = new Map<string, { kind: Module['kind']; tensors: Map<string, Tensor> }>();
  for (const [name, t] of content.tensors) {
    const r = RECURRENT_NAME.exec(name);
    const p = r ? null : PLAIN_NAME.exec(name);
    if (!r && !p)
      throw err(
        ErrorCode.FILE_UNKNOWN_TENSOR,
        `tensor '${name}' is not a parameter cellstate knows: neither a recurrent layer's (weight_ih_l0, bias_hh_l1_reverse, …) nor a Linear's or Embedding's (weight, bias)`,
      );
    const prefix = (r ?? p)![1] ?? '';
    const kind = r ? 'recurrent' : 'plain';
    const g = groups.get(prefix) ?? { kind, tensors: new Map<string, Tensor>() };
    if (g.kind !== kind)
      throw err(
        ErrorCode.FILE_UNKNOWN_TENSOR,
        `module '${prefix}' mixes recurrent parameters with '${name}'`,
      );
    g.tensors.set((r ?? p)![2], t);
    groups.set(prefix, g);
  }

  // The user's options per module.
  const prefixes = [...groups.keys()];
  const given = new Map<string, Record<string, unknown>>();
  let order: string[] | null = null;
  let modelBatchFirst: boolean | undefined;
  if (config && 'layers' in config) {
    const layers = config.layers;
    const extra = Object.keys(config).filter((k) => k !== 'layers' && k !== 'batchFirst');
    if (!Array.isArray(layers) || extra.length > 0)
      throw err(
        ErrorCode.FILE_CONFIG,
        `config for a module of several layers must be { layers: [{ module: '<prefix>', ...options }, ...], batchFirst? } in the order the model applies them, got ${Array.isArray(layers) ? `also ${extra.map((k) => `'${k}'`).join(', ')}` : describe(layers)}`,
      );
    if ('batchFirst' in config) {
      if (typeof config.batchFirst !== 'boolean')
        throw err(
          ErrorCode.FILE_CONFIG,
          `config.batchFirst must be a boolean, got ${describe(config.batchFirst)}`,
        );
      modelBatchFirst = config.batchFirst;
    }
    order = [];
    for (const [i, entry] of layers.entries()) {
      const module = (entry as { module?: unknown } | null)?.module;
      if (typeof module !== 'string' || !groups.has(module))
        throw err(
          ErrorCode.FILE_CONFIG,
          `config.layers[${i}].module must name a module of the file (${prefixes.map((p) => `'${p}'`).join(', ')}), got ${describe(module)}`,
        );
      if (given.has(module))
        throw err(ErrorCode.FILE_CONFIG, `config.layers names module '${module}' twice`);
      const { module: _m, ...options } = entry as Record<string, unknown>;
      given.set(module, options);
      order.push(module);
    }
    const left = prefixes.filter((p) => !given.has(p));
    if (left.length > 0)
      throw err(
        ErrorCode.FILE_UNKNOWN_TENSOR,
        `the file holds module${left.length > 1 ? 's' : ''} ${left.map((p) => `'${p}'`).join(', ')}, which config.layers does not list`,
      );
  } else if (config) {
    if (prefixes.length > 1)
      throw err(
        ErrorCode.FILE_CONFIG,
        `the file holds ${prefixes.length} modules (${prefixes.map((p) => `'${p}'`).join(', ')}); give config as { layers: [{ module: '${prefixes[0]}', ...options }, ...] }`,
      );
    given.set(prefixes[0], config);
  }

  const modules = new Map<string, Module>();
  for (const [prefix, g] of groups) {
    const options = given.get(prefix) ?? {};
    const m =
      g.kind === 'recurrent'
        ? recurrentModule(where, prefix, g.tensors, options)
        : plainModule(where, prefix, g.tensors, options);
    modules.set(prefix, m);
  }

  const ordered = (order ?? inferOrder(where, [...modules.values()])).map(
    (p) => modules.get(p) as Module,
  );
  const layers: SequentialLayer[] = ordered.map((m) => {
    // nothing is allocated from options that ask for more than the file holds
    let have = 0;
    for (const t of m.tensors.values()) have += t.size;
    if (m.config.type === 'dense' && !m.tensors.has('bias')) have += m.outputSize;
    const need = parameterCountOf(m.config);
    if (need > have + ALLOCATION_SLACK)
      throw fileError(
        ErrorCode.FILE_SHAPE,
        where,
        `the configuration of module '${m.prefix || '(top level)'}' describes ${need} parameters, but its tensors hold ${have} values`,
      );
    try {
      return layerFromConfig(m.config);
    } catch (e) {
      throw configError(
        where,
        `the configuration of module '${m.prefix || '(top level)'}' (${JSON.stringify(m.config)})`,
        e,
      );
    }
  });
  let model: Model;
  if (layers.length === 1) {
    model = layers[0];
  } else {
    try {
      model = new Sequential(
        layers,
        modelBatchFirst === undefined ? undefined : { batchFirst: modelBatchFirst },
      );
    } catch (e) {
      throw configError(
        where,
        `the model made of modules ${ordered.map((m) => `'${m.prefix}'`).join(', ')}`,
        e,
      );
    }
  }
  ordered.forEach((m, i) => {
    const layer = layers[i];
    const tensors = new Map(m.tensors);
    // a Linear without bias: Dense with a zero bias
    if (layer instanceof Dense && !tensors.has('bias'))
      tensors.set('bias', new Tensor(new Float32Array(layer.outputSize), [layer.outputSize]));
    setModelParameters(m.prefix ? `${where}: module '${m.prefix}'` : where, layer, tensors);
  });
  warnGuesses(where, ordered, given, layers.length > 1 ? modelBatchFirst : undefined);
  return model;
}

const warned = new Set<string>();

/**
 * Warns (once per distinct message, code CELLSTATE_PYTORCH_GUESS) when the import assumed what a state_dict
 * does not record: an RNN's nonlinearity ('tanh') or the layout (time-major, batch_first=False).
 */
function warnGuesses(
  where: string,
  ordered: Module[],
  given: Map<string, Record<string, unknown>>,
  modelBatchFirst: boolean | undefined,
): void {
  const guesses: string[] = [];
  const name = (m: Module) => (m.prefix ? `module '${m.prefix}'` : 'the layer');
  for (const m of ordered) {
    const options = given.get(m.prefix) ?? {};
    if (m.kind === 'recurrent')
      guesses.push(...(findCell(m.config.cell)?.pytorch.guesses(options, name(m)) ?? []));
  }
  const recurrent = ordered.filter((m) => m.kind === 'recurrent');
  if (ordered.length === 1 && recurrent.length === 1) {
    if ((given.get(recurrent[0].prefix) ?? {}).batchFirst === undefined)
      guesses.push(
        "batch_first is not in the file: time-major [T, B, I] assumed, PyTorch's default (give batchFirst: true for batch_first=True)",
      );
  } else if (ordered.length > 1 && recurrent.length > 0 && modelBatchFirst === undefined) {
    guesses.push(
      "batch_first is not in the file: the model's forward takes time-major [T, B, I], PyTorch's default (give { layers, batchFirst: true } for batch_first=True, or batchFirst: false to confirm)",
    );
  }
  const message = `${where}: PyTorch state_dict: ${guesses.join('; ')}`;
  // once per distinct message and process (a program loading many such files is told once)
  if (guesses.length === 0 || warned.has(message)) return;
  warned.add(message);
  process.emitWarning(message, {
    type: 'CellstateWarning',
    code: 'CELLSTATE_PYTORCH_GUESS',
  });
}

function recurrentModule(
  where: string,
  prefix: string,
  tensors: Map<string, Tensor>,
  options: Record<string, unknown>,
): Module {
  const err = (code: ErrorCode, message: string) => fileError(code, where, message);
  const named = (n: string) => (prefix ? `${prefix}.${n}` : n);
  const need = (n: string): Tensor => {
    const t = tensors.get(n);
    if (!t) throw err(ErrorCode.FILE_MISSING_TENSOR, `tensor '${named(n)}' is missing`);
    return t;
  };
  const ih = need('weight_ih_l0');
  const hh = need('weight_hh_l0');
  const hr = tensors.get('weight_hr_l0');
  if (ih.shape.length !== 2 || hh.shape.length !== 2 || (hr && hr.shape.length !== 2))
    throw err(
      ErrorCode.FILE_SHAPE,
      `'${named('weight_ih_l0')}' [${ih.shape.join(', ')}], '${named('weight_hh_l0')}' [${hh.shape.join(', ')}]${hr ? ` and '${named('weight_hr_l0')}' [${hr.shape.join(', ')}]` : ''} must be matrices`,
    );
  const R = hh.shape[1];
  const H = hr ? hr.shape[1] : R;
  const rows = hh.shape[0];
  if (H < 1 || rows % H !== 0)
    throw err(
      ErrorCode.FILE_SHAPE,
      `'${named('weight_hh_l0')}' has ${rows} rows, not a multiple of the hidden size ${H}`,
    );
  const G = rows / H;
  let numLayers = 0;
  while (tensors.has(`weight_ih_l${numLayers}`)) numLayers++;
  const bidirectional = tensors.has('weight_ih_l0_reverse');
  let cell = options.cell;
  if (cell === undefined) {
    const found = CELLS.find((c) => c.pytorch.blocks === G);
    if (found === undefined) {
      const list = (xs: string[]) => `${xs.slice(0, -1).join(', ')} and ${xs[xs.length - 1]}`;
      throw err(
        ErrorCode.FILE_CONFIG,
        `cannot tell the cell of module '${prefix || '(top level)'}': '${named('weight_hh_l0')}' has ${G} gate blocks of H=${H} rows, and PyTorch's ${list(CELLS.map((c) => c.title))} have ${list(CELLS.map((c) => String(c.pytorch.blocks)))}; give config.cell (and the cell's variant options)`,
      );
    }
    if (hr && !found.pytorch.projection)
      throw err(
        ErrorCode.FILE_CONFIG,
        `module '${prefix || '(top level)'}' has a projection (weight_hr_l0) but ${G} gate blocks; give config.cell`,
      );
    cell = found.name;
  }
  const spec = findCell(cell);
  const config: Record<string, unknown> = {
    cell,
    inputSize: ih.shape[1],
    hiddenSize: H,
    numLayers,
    bidirectional,
    ...spec?.pytorch.infer((name) => tensors.get(name)),
  };
  Object.assign(config, options);
  // PyTorch's nn.LSTM / nn.GRU / nn.RNN compute the default functions without clip: a state dict
  // holds no other cell (docs/cells.md, "Activation functions and clipping").
  for (const key of ['gateActivation', 'cellActivation', 'hiddenActivation', 'clip'])
    if (config[key] !== undefined)
      throw fileError(
        ErrorCode.FILE_CONFIG,
        where,
        `module '${prefix || '(top level)'}': ${key} is not a PyTorch option (nn.${spec?.title ?? cell} computes the default functions without clip)`,
      );
  if (
    config.nonlinearity !== undefined &&
    config.nonlinearity !== 'tanh' &&
    config.nonlinearity !== 'relu'
  )
    throw fileError(
      ErrorCode.FILE_CONFIG,
      where,
      `module '${prefix || '(top level)'}': PyTorch's nn.RNN has nonlinearity 'tanh' or 'relu' only`,
    );
  const D = config.bidirectional === true ? 2 : 1;
  const stateSize = spec ? spec.stateSize({ ...config, hiddenSize: H } as never) : H;
  return {
    prefix,
    kind: 'recurrent',
    tensors,
    config,
    inputSize: typeof config.inputSize === 'number' ? config.inputSize : ih.shape[1],
    outputSize: D * stateSize,
  };
}

function plainModule(
  where: string,
  prefix: string,
  tensors: Map<string, Tensor>,
  options: Record<string, unknown>,
): Module {
  const err = (code: ErrorCode, message: string) => fileError(code, where, message);
  const named = (n: string) => (prefix ? `${prefix}.${n}` : n);
  const weight = tensors.get('weight');
  const bias = tensors.get('bias');
  if (!weight)
    throw err(
      ErrorCode.FILE_MISSING_TENSOR,
      `tensor '${named('weight')}' is missing (a bias alone is no layer)`,
    );
  if (weight.shape.length !== 2)
    throw err(
      ErrorCode.FILE_SHAPE,
      `'${named('weight')}' has shape [${weight.shape.join(', ')}]; a Linear's or Embedding's weight is a matrix`,
    );
  const type = options.type ?? (bias ? 'dense' : 'embedding');
  if (type === 'dense') {
    const [O, I] = weight.shape;
    if (bias && (bias.shape.length !== 1 || bias.shape[0] !== O))
      throw err(
        ErrorCode.FILE_SHAPE,
        `'${named('bias')}' has shape [${bias.shape.join(', ')}], but '${named('weight')}' [${O}, ${I}] needs [${O}]`,
      );
    const config = { type, inputSize: I, outputSize: O, ...options };
    return { prefix, kind: 'plain', tensors, config, inputSize: I, outputSize: O };
  }
  if (type === 'embedding') {
    if (bias)
      throw err(ErrorCode.FILE_UNKNOWN_TENSOR, `'${named('bias')}': an Embedding has no bias`);
    const [N, D] = weight.shape;
    const config = { type, numEmbeddings: N, embeddingDim: D, ...options };
    return { prefix, kind: 'plain', tensors, config, inputSize: null, outputSize: D };
  }
  throw err(
    ErrorCode.FILE_CONFIG,
    `module '${prefix || '(top level)'}' holds weight${bias ? ' and bias' : ''}: its type must be 'dense' or 'embedding', got ${describe(type)}`,
  );
}

/** The order of the modules: numeric prefixes in order, else the one order whose sizes chain. */
function inferOrder(where: string, modules: Module[]): string[] {
  if (modules.length === 1) return [modules[0].prefix];
  if (modules.every((m) => /^\d+$/.test(m.prefix)))
    return modules.map((m) => m.prefix).sort((a, b) => Number(a) - Number(b));
  const hint = `give config { layers: [{ module: '${modules[0].prefix}', ...options }, ...] } in the order the model applies them`;
  if (modules.length > MAX_SEARCH)
    throw fileError(
      ErrorCode.FILE_CONFIG,
      where,
      `the file holds ${modules.length} modules, too many to infer their order from their sizes; ${hint}`,
    );
  const found: Module[][] = [];
  const path: Module[] = [];
  const used = new Set<Module>();
  const search = (): void => {
    if (found.length > 1) return;
    if (path.length === modules.length) {
      found.push([...path]);
      return;
    }
    const prev = path[path.length - 1];
    for (const m of modules) {
      if (used.has(m)) continue;
      if (prev ? m.inputSize !== prev.outputSize : false) continue;
      if (prev && m.inputSize === null) continue; // an Embedding comes first
      path.push(m);
      used.add(m);
      search();
      path.pop();
      used.delete(m);
    }
  };
  search();
  const names = (ms: Module[]) => ms.map((m) => `'${m.prefix}'`).join(' → ');
  if (found.length === 0)
    throw fileError(
      ErrorCode.FILE_CONFIG,
      where,
      `the sizes of modules ${modules.map((m) => `'${m.prefix}' (${m.inputSize ?? 'tokens'} → ${m.outputSize})`).join(', ')} chain in no order; ${hint}`,
    );
  if (found.length > 1)
    throw fileError(
      ErrorCode.FILE_CONFIG,
      where,
      `the order of the modules is ambiguous: ${names(found[0])} and ${names(found[1])} both chain; ${hint}`,
    );
  return found[0].map((m) => m.prefix);
}
