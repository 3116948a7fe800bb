// The native side of streaming (cpp/binding/stream.h), typed. Only lib/stream talks to it, after
// validating.
import { native, type NativeLayer } from '../binding';

/** A copy of some rows' state (opaque; cpp/binding/stream.h). */
export interface NativeSnapshot {
  readonly rows: number;
  readonly rowSize: number;
  readonly disposed: boolean;
  dispose(): void;
}

/** The state of `rows` sequences stepped on one NativeLayer's packed weights. */
export interface NativeStream {
  readonly capacity: number;
  readonly rows: number;
  readonly inputSize: number;
  readonly outputSize: number;
  readonly hiddenSize: number;
  readonly numLayers: number;
  readonly cellState: boolean;
  step(x: Float32Array, out: Float32Array): void;
  stepRows(x: Float32Array, out: Float32Array, index: Int32Array, k: number): void;
  setRows(n: number): void;
  reserve(capacity: number): void;
  moveRow(from: number, to: number): void;
  reset(row0?: number, count?: number): void;
  readState(h: Float32Array, c: Float32Array | null, row0: number, count: number): void;
  writeState(h: Float32Array, c: Float32Array | null, row0: number, count: number): void;
  snapshot(row0: number, count: number, into: NativeSnapshot): void;
  restore(snapshot: NativeSnapshot, row0: number): void;
  /** Frees the state now; every later call is ERR_CELLSTATE_DISPOSED. */
  dispose(): void;
  /** Whether this stream, or the layer it steps on, was disposed. */
  readonly disposed: boolean;
}

interface StreamAddon {
  NativeStream: new (layer: NativeLayer, capacity: number, pooled: boolean) => NativeStream;
  NativeSnapshot: new () => NativeSnapshot;
}

/** A native stream of `capacity` rows on `layer` (pooled: rows and capacity can change). */
export function newNativeStream(
  layer: NativeLayer,
  capacity: number,
  pooled: boolean,
): NativeStream {
  return new (native() as unknown as StreamAddon).NativeStream(layer, capacity, pooled);
}

/** An empty native snapshot. */
export function newNativeSnapshot(): NativeSnapshot {
  return new (native() as unknown as StreamAddon).NativeSnapshot();
}
