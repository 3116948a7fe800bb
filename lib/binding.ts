// The native addon's interface (cpp/binding), typed. Only lib/ talks to it, after validating.
import { loadNative } from './native';

/** One parameter inside the flat parameter buffer (docs/cells.md name, PyTorch order). */
export interface ParamEntry {
  name: string;
  shape: number[];
  offset: number;
  size: number;
}

/**
 * The configuration the native layer is built from: a flat object of option keys, those of the
 * resolved config that lib/cells says go native (the common ones and the cell's `nativeKeys`).
 */
export interface NativeConfig {
  readonly cell: string;
  readonly inputSize: number;
  readonly hiddenSize: number;
  readonly numLayers: number;
  readonly bidirectional: boolean;
  readonly dropout: number;
  readonly [key: string]: string | number | boolean;
}

/** Inputs and JS-allocated outputs of one forward call. */
export interface NativeForwardArgs {
  T: number;
  B: number;
  batchFirst: boolean;
  train: boolean;
  dropoutSeed: bigint;
  x: Float32Array;
  h0?: Float32Array;
  c0?: Float32Array;
  lengths?: Int32Array;
  output: Float32Array;
  hN: Float32Array;
  cN?: Float32Array;
}

/** Upstream gradients and JS-allocated input gradients of one backward call. */
export interface NativeBackwardArgs {
  dOutput?: Float32Array;
  dhN?: Float32Array;
  dcN?: Float32Array;
  dx: Float32Array;
  dh0: Float32Array;
  dc0?: Float32Array;
}

export interface NativeLayer {
  paramTable(): ParamEntry[];
  readonly paramCount: number;
  /** Which async work is in flight, if any. */
  readonly busy: 'forward' | 'backward' | null;
  /** Whether a training forward awaits its backward. */
  readonly pendingBackward: boolean;
  /** Whether dispose() freed the kernel layer. */
  readonly disposed: boolean;
  /** Whether the layer runs int8 inference (quantize(true)). */
  readonly quantized: boolean;
  /** The native bytes the layer reports to V8 as external memory now. */
  readonly externalBytes: number;
  /** int8 inference on (the current weights quantized) or off; refused (nothing changed) when a weight is NaN or infinite. */
  quantize(on: boolean): void;
  readParams(out: Float32Array): void;
  writeParams(src: Float32Array): void;
  readGrads(out: Float32Array): void;
  zeroGrad(): void;
  forward(args: NativeForwardArgs): void;
  backward(args: NativeBackwardArgs): void;
  forwardAsync(args: NativeForwardArgs): Promise<void>;
  backwardAsync(args: NativeBackwardArgs): Promise<void>;
  /** Frees the kernel layer now (ERR_CELLSTATE_BUSY while async work runs; twice: no-op). */
  dispose(): void;
}

/** What the kernel reports about itself. */
export interface RuntimeInfo {
  /** The kernels' ISA: 'avx512', 'avx2', 'neon' or 'scalar' (CELLSTATE_ISA overrides). */
  isa: string;
  /** Threads a call may use (1 without OpenMP). */
  threads: number;
  /** The largest thread count setNumThreads accepts here: 8 per hardware thread, at most 256. */
  maxThreads: number;
  /** Whether the kernel was built with OpenMP. */
  openmp: boolean;
  /** The kernel's version. */
  version: string;
  /** The instruction sets this CPU can run, best first. */
  isas: string[];
}

export interface NativeAddon {
  info(): RuntimeInfo;
  setNumThreads(n: number): void;
  NativeLayer: new (config: NativeConfig) => NativeLayer;
}

/** The addon, loaded on first use. */
export function native(): NativeAddon {
  return loadNative() as NativeAddon;
}
