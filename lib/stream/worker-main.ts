// The worker_thread side of StreamWorker (lib/stream/worker.ts): rebuilds the model, opens a
// stream on it, then serves requests from the shared buffer until told to close. It blocks in
// Atomics.wait between requests: this thread does nothing else. Compiled to
// dist/stream/worker-main.js, which must be a real file on disk (not inside an asar archive).
import { parentPort, workerData } from 'node:worker_threads';

import type { LayerStream } from './types';
import {
  CONTROL_BYTES,
  Command,
  Slot,
  type LayerDescription,
  type ModelDescription,
  type WorkerInit,
  type WorkerMessage,
} from './worker-protocol';

interface Streamable {
  stream(opts: { batch: number }): LayerStream;
  setParameters?(p: Record<string, Float32Array>): void;
  setQuantizedParameters?(p: NonNullable<LayerDescription['quantized']>): void;
}

type Constructor = new (arg: unknown) => Streamable;

// Only the modules a model needs are loaded (a worker compiles every module it loads, on each
// start): the recurrent layers need lib/layers/recurrent and nothing of training or files.
/* eslint-disable @typescript-eslint/no-require-imports */
function layerClass(kind: string): Constructor | undefined {
  switch (kind) {
    case 'dense':
      return require('../layers/dense').Dense;
    case 'embedding':
      return require('../layers/embedding').Embedding;
    case 'dropout':
      return require('../layers/dropout').Dropout;
    default:
      return undefined;
  }
}

function build(model: ModelDescription): Streamable {
  if (model.kind === 'buffer') return require('../index').fromBuffer(model.bytes);
  if (model.kind === 'sequential') {
    const Sequential = require('../model/sequential').Sequential as Constructor;
    return new Sequential(model.layers.map((layer) => build(layer)));
  }
  const kind = String(model.config.cell ?? model.config.type ?? '');
  // a recurrent layer by its cell (lib/cells), the others by their type
  const layer: Streamable | undefined =
    model.config.cell !== undefined
      ? require('../layers/recurrent').recurrentFromConfig(model.config)
      : (() => {
          const Class = layerClass(kind);
          return Class && new Class(model.config);
        })();
  if (!layer) throw new Error(`cannot rebuild a layer of kind '${kind}'`);
  if (Object.keys(model.params).length > 0) layer.setParameters?.(model.params);
  // a quantized layer runs quantized here too, on the very int8 weights it has
  if (model.quantized) layer.setQuantizedParameters?.(model.quantized);
  return layer;
}
/* eslint-enable @typescript-eslint/no-require-imports */

function post(message: WorkerMessage): void {
  parentPort!.postMessage(message);
}

function describeError(error: unknown): { name: string; message: string; code?: string } {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return {
      name: error.name,
      message: error.message,
      code: typeof code === 'string' ? code : undefined,
    };
  }
  return { name: 'Error', message: String(error) };
}

function main(): void {
  const init = workerData as WorkerInit;
  let stream: LayerStream;
  let buffer: SharedArrayBuffer;
  let control: Int32Array;
  let x: Float32Array;
  let out: Float32Array;
  try {
    require('../runtime').setNumThreads(init.threads); // eslint-disable-line
    stream = build(init.model).stream({ batch: init.batch });
    const inputs = stream.batch * stream.inputSize;
    const outputs = stream.batch * stream.outputSize;
    buffer = new SharedArrayBuffer(CONTROL_BYTES + 4 * (inputs + outputs));
    control = new Int32Array(buffer, 0, CONTROL_BYTES / 4);
    x = new Float32Array(buffer, CONTROL_BYTES, inputs);
    out = new Float32Array(buffer, CONTROL_BYTES + 4 * inputs, outputs);
    Atomics.store(control, Slot.REQUEST, init.firstRequest);
    Atomics.store(control, Slot.DONE, init.firstRequest);
  } catch (error) {
    post({ type: 'error', request: 0, ...describeError(error) });
    return;
  }
  post({ type: 'ready', inputSize: stream.inputSize, outputSize: stream.outputSize, buffer });

  let seen = init.firstRequest;
  for (;;) {
    Atomics.wait(control, Slot.REQUEST, seen);
    seen = Atomics.load(control, Slot.REQUEST);
    const command = Atomics.load(control, Slot.COMMAND);
    let status = 0;
    try {
      if (command === Command.STEP) out.set(stream.step(x));
      else if (command === Command.RESET) stream.reset();
    } catch (error) {
      post({ type: 'error', request: seen, ...describeError(error) });
      status = 1;
    }
    Atomics.store(control, Slot.STATUS, status);
    Atomics.store(control, Slot.DONE, seen);
    Atomics.notify(control, Slot.DONE);
    if (command === Command.CLOSE) return; // the thread ends: nothing else keeps it alive
  }
}

// Only as a worker's script (importing this file elsewhere does nothing).
if (parentPort) main();
