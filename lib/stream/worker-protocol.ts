// What lib/stream/worker.ts (the main side) and lib/stream/worker-main.ts (the worker) agree on.
//
// One SharedArrayBuffer per worker: a control block of Int32 slots, then the input frame
// [B, I] and the output frame [B, O] as float32. A request: the main side writes the frame and
// the command, then bumps REQUEST and notifies; the worker (blocked in Atomics.wait) runs it,
// sets STATUS, bumps DONE to the request's number and notifies; the main side waits for DONE
// with Atomics.waitAsync, so its thread stays free. Errors travel as a message before DONE.
//
// Request numbers are int32 and wrap: after 2^31 - 1 comes -2^31, after -1 comes 0 (`(n + 1) | 0`).
// One request is in flight at a time (the main side queues the rest), so a number is never
// reused while an earlier use of it is pending; both sides compare numbers only for equality.

/** Int32 slots of the control block. */
export const Slot = {
  /** Number of the latest request (main → worker), an int32 that wraps. */
  REQUEST: 0,
  /** Number of the latest request done (worker → main). */
  DONE: 1,
  /** The command of the latest request. */
  COMMAND: 2,
  /** 0: the request succeeded; 1: it failed (the error was posted as a message). */
  STATUS: 3,
} as const;

/** Bytes of the control block (the frames follow, 16-byte aligned). */
export const CONTROL_BYTES = 16;

export const Command = {
  STEP: 1,
  RESET: 2,
  CLOSE: 3,
} as const;

/** A model the worker can rebuild: a layer's config and parameters by name. */
export interface LayerDescription {
  kind: 'layer';
  config: Record<string, unknown>;
  params: Record<string, Float32Array>;
  /** The int8 weights of a quantized layer (its quantizedParameters()); absent: float. */
  quantized?: Record<string, { values: Int8Array; scale: Float32Array; shape: number[] }>;
}

/** A Sequential of layers (rebuilt with `new Sequential(layers)`). */
export interface SequentialDescription {
  kind: 'sequential';
  layers: LayerDescription[];
}

/** A model serialized by the package's toBuffer (rebuilt with fromBuffer). */
export interface BufferDescription {
  kind: 'buffer';
  bytes: Uint8Array;
}

export type ModelDescription = LayerDescription | SequentialDescription | BufferDescription;

/** workerData of the worker. */
export interface WorkerInit {
  model: ModelDescription;
  batch: number;
  threads: number;
  /** Number of the request before the first one (REQUEST and DONE start at it); 0 unless a test sets it. */
  firstRequest: number;
}

/** The request number after `n`: int32 arithmetic, so 2^31 - 1 is followed by -2^31. */
export function nextRequest(n: number): number {
  return (n + 1) | 0;
}

/** Messages from the worker. */
export type WorkerMessage =
  | { type: 'ready'; inputSize: number; outputSize: number; buffer: SharedArrayBuffer }
  | { type: 'error'; request: number; name: string; message: string; code?: string };
