// Streaming off the main thread: a model rebuilt in a worker_thread, one stream on it, frames
// passed through a SharedArrayBuffer (lib/stream/worker-protocol.ts). The calling thread never
// blocks: it waits for each step with Atomics.waitAsync, so an Electron app or a busy server
// keeps its event loop free while the worker computes.
//
//   const w = await StreamWorker.create(lstm, { batch: 1 });
//   const y = await w.step(frame);     // a new Float32Array, or pass one to fill: w.step(frame, y)
//   await w.close();
import { existsSync } from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';

import {
  CellstateError,
  CellstateRangeError,
  CellstateTypeError,
  ErrorCode,
  describe,
  disposeSymbol,
  disposedError,
  shapeError,
} from '../errors';
import { OptionReader } from '../options';
import { maxThreads } from '../runtime';
import type { Tensor } from '../tensor';
import { MAX_STREAM_ROWS, checkStreamable, frameInput } from './stream';
import { isQuantizable } from '../layers/quant';
import {
  CONTROL_BYTES,
  Command,
  Slot,
  nextRequest,
  type LayerDescription,
  type ModelDescription,
  type WorkerInit,
  type WorkerMessage,
} from './worker-protocol';

export type { ModelDescription };

/** Options of StreamWorker.create. */
export interface StreamWorkerOptions {
  /** Independent sequences per step, `B`; an integer in [1, 2^24]. Default 1. */
  batch?: number;
  /** Threads of the worker's kernel (its setNumThreads); an integer in [1, maxThreads()] (8 per hardware thread, at most 256). Default 1. */
  threads?: number;
  /**
   * Path of the worker script. Default: `dist/stream/worker-main.js` of this package, which
   * must be a real file (in Electron, unpack the package from the asar archive).
   */
  script?: string;
  /**
   * @internal Test hook, not API: the number of the request before the first one, an int32
   * (default 0). Request numbers wrap from 2^31 - 1 to -2^31; tests start near the wrap.
   */
  firstRequest?: number;
}

/** A layer or model that can be rebuilt in a worker: it has `config` and `parameters()`. */
export interface WorkerModel {
  readonly config: object;
  parameters(): Record<string, { data: Float32Array }>;
}

/** A Sequential-like model: its `layers` each have `config` and `parameters()`. */
export interface WorkerSequential {
  readonly layers: readonly WorkerModel[];
}

function isObject(x: unknown): x is Record<string, unknown> {
  return x !== null && typeof x === 'object';
}

function describeLayer(where: string, layer: unknown, name: string): LayerDescription {
  if (!isObject(layer) || !isObject(layer.config) || typeof layer.parameters !== 'function')
    throw new CellstateTypeError(
      ErrorCode.INVALID_ARG,
      `${where}: ${name} must be a layer (with config and parameters()), got ${describe(layer)}`,
    );
  const config = layer.config as Record<string, unknown>;
  if (config.cell !== undefined) checkStreamable(layer as never, where);
  const params: Record<string, Float32Array> = {};
  const given = (layer as unknown as WorkerModel).parameters();
  for (const [key, t] of Object.entries(given)) params[key] = t.data;
  const description: LayerDescription = { kind: 'layer', config: { ...config }, params };
  if (isQuantizable(layer) && layer.quantized) {
    const quantized: NonNullable<LayerDescription['quantized']> = {};
    for (const [key, q] of Object.entries(layer.quantizedParameters()))
      quantized[key] = { values: q.values, scale: q.scale, shape: [...q.shape] };
    description.quantized = quantized;
  }
  return description;
}

/**
 * Whether the model reads token ids (starts with an Embedding). A model given as file bytes is
 * not decoded here: one input feature per row stands for a token id then.
 */
function readsTokens(d: ModelDescription, inputSize: number): boolean {
  if (d.kind === 'buffer') return inputSize === 1;
  const first = d.kind === 'sequential' ? d.layers[0] : d;
  return first?.config.type === 'embedding';
}

/** What the worker rebuilds `model` from. */
export function describeModel(where: string, model: unknown): ModelDescription {
  if (isObject(model) && typeof model.kind === 'string') {
    const kind = model.kind;
    if (kind === 'layer' || kind === 'sequential' || kind === 'buffer')
      return model as unknown as ModelDescription;
  }
  if (isObject(model) && Array.isArray(model.layers))
    return {
      kind: 'sequential',
      layers: model.layers.map((layer, i) => describeLayer(where, layer, `model.layers[${i}]`)),
    };
  return describeLayer(where, model, 'model');
}

/** The default worker script: next to this file in dist/, or dist/ from the sources. */
function defaultScript(): string {
  const candidates = [
    path.join(__dirname, 'worker-main.js'),
    path.join(__dirname, '..', '..', 'dist', 'stream', 'worker-main.js'),
  ];
  const found = candidates.find((p) => existsSync(p));
  if (!found)
    throw new CellstateError(
      ErrorCode.UNSUPPORTED,
      `StreamWorker: the worker script was not found (looked for ${candidates.join(', ')}); ` +
        'build the package (npm run build), and in Electron keep it outside the asar archive ' +
        '(asarUnpack), as worker threads cannot load scripts from inside one',
    );
  return found;
}

// Atomics.waitAsync (Node >= 16; not in TypeScript's ES2022 lib).
const waitAsync = (
  Atomics as unknown as {
    waitAsync(
      a: Int32Array,
      index: number,
      value: number,
    ): { async: false; value: string } | { async: true; value: Promise<string> };
  }
).waitAsync;

interface Failure {
  name: string;
  message: string;
  code?: string;
}

function errorFrom(f: Failure): Error {
  const message = `StreamWorker: ${f.message}`;
  const code = (f.code ?? ErrorCode.UNSUPPORTED) as ErrorCode;
  if (f.name === 'RangeError') return new CellstateRangeError(code, message);
  if (f.name === 'TypeError') return new CellstateTypeError(code, message);
  return new CellstateError(code, message);
}

/** A model streaming in a worker_thread; every method returns a promise. */
export class StreamWorker {
  /** Sequences per step, `B`. */
  readonly batch: number;
  /** Features per step of the input, `I`. */
  readonly inputSize: number;
  /** Features per step of the output, `O`. */
  readonly outputSize: number;
  /** The worker thread (for `threadId`, `unref()`, resource usage). */
  readonly worker: Worker;

  private readonly control: Int32Array;
  private readonly x: Float32Array;
  private readonly out: Float32Array;
  private readonly exit: Promise<number>;
  private readonly errors = new Map<number, Failure>();
  private readonly errorWaiters = new Map<number, (f: Failure) => void>();
  // Number of the latest request sent (an int32 that wraps; see worker-protocol.ts).
  private requests: number;
  private queue: Promise<unknown> = Promise.resolve();
  private queued = 0;
  private exitCode: number | null = null;
  private crash: Error | null = null;

  private constructor(
    worker: Worker,
    ready: Extract<WorkerMessage, { type: 'ready' }>,
    batch: number,
    private readonly tokens: boolean,
  ) {
    this.worker = worker;
    this.batch = batch;
    this.inputSize = ready.inputSize;
    this.outputSize = ready.outputSize;
    const inputs = batch * ready.inputSize;
    this.control = new Int32Array(ready.buffer, 0, CONTROL_BYTES / 4);
    this.x = new Float32Array(ready.buffer, CONTROL_BYTES, inputs);
    this.out = new Float32Array(ready.buffer, CONTROL_BYTES + 4 * inputs, batch * ready.outputSize);
    this.requests = Atomics.load(this.control, Slot.DONE);
    worker.on('message', (m: WorkerMessage) => {
      if (m.type !== 'error') return;
      const waiter = this.errorWaiters.get(m.request);
      if (waiter) {
        this.errorWaiters.delete(m.request);
        waiter(m);
      } else {
        this.errors.set(m.request, m);
      }
    });
    worker.on('error', (error) => {
      this.crash = error;
    });
    this.exit = new Promise((resolve) => {
      worker.once('exit', (code) => {
        this.exitCode = code;
        // Wake our own waiter on DONE (the worker will never bump it now).
        Atomics.notify(this.control, Slot.DONE);
        for (const waiter of this.errorWaiters.values())
          waiter({ name: 'Error', message: this.exitMessage(), code: ErrorCode.WORKER_EXITED });
        this.errorWaiters.clear();
        resolve(code);
      });
    });
  }

  /**
   * Starts a worker running `model` (an LSTM / GRU / RNN, a Dense or the like, a Sequential of
   * them, or a ModelDescription): it is rebuilt there from its config and a copy of its
   * parameters, so later changes to `model` do not reach the worker.
   */
  static async create(model: unknown, options?: StreamWorkerOptions): Promise<StreamWorker> {
    const where = 'StreamWorker.create';
    const o = new OptionReader(
      options,
      where,
      ['batch', 'threads', 'script', 'firstRequest'],
      ErrorCode.INVALID_ARG,
    );
    const batch = o.int('batch', 1, MAX_STREAM_ROWS, 1);
    const threads = o.int('threads', 1, maxThreads(), 1);
    const firstRequest = o.int('firstRequest', -(2 ** 31), 2 ** 31 - 1, 0);
    const given = o.raw('script');
    if (given !== undefined && typeof given !== 'string')
      throw new CellstateTypeError(
        ErrorCode.INVALID_ARG,
        `${where}: script must be a path, got ${describe(given)}`,
      );
    const description = describeModel(where, model);
    const script = given ?? defaultScript();
    const init: WorkerInit = { model: description, batch, threads, firstRequest };
    const worker = new Worker(script, { workerData: init });
    try {
      const ready = await new Promise<Extract<WorkerMessage, { type: 'ready' }>>(
        (resolve, reject) => {
          const settle = () => {
            worker.off('message', onMessage);
            worker.off('error', onError);
            worker.off('exit', onExit);
          };
          const onMessage = (m: WorkerMessage) => {
            settle();
            if (m.type === 'ready') resolve(m);
            else reject(errorFrom(m));
          };
          const onError = (error: Error) => {
            settle();
            reject(error);
          };
          const onExit = (code: number) => {
            settle();
            reject(
              new CellstateError(
                ErrorCode.WORKER_EXITED,
                `${where}: the worker exited with code ${code} before it was ready`,
              ),
            );
          };
          worker.on('message', onMessage);
          worker.on('error', onError);
          worker.on('exit', onExit);
        },
      );
      return new StreamWorker(worker, ready, batch, readsTokens(description, ready.inputSize));
    } catch (error) {
      await worker.terminate();
      throw error;
    }
  }

  /** Whether the worker has exited (closed, terminated or crashed). */
  get closed(): boolean {
    return this.exitCode !== null;
  }

  /**
   * One time step in the worker: `x` `[B, I]` (a Float32Array of B·I values or a Tensor; token
   * ids `[B]` also as an Int32Array for a model that starts with an Embedding) in;
   * resolves to the output `[B, O]`, written into `out` when given (a Float32Array of B·O
   * values), else into a new array. Calls are queued: each runs after the previous one. `x` is
   * read before step returns, so the caller may reuse it at once.
   */
  step(x: Float32Array | Int32Array | Tensor, out?: Float32Array): Promise<Float32Array> {
    let frame: Float32Array | Int32Array;
    try {
      this.live('step');
      frame = frameInput('step', x, this.batch, this.inputSize, this.tokens);
      if (out !== undefined) {
        if (!(out instanceof Float32Array))
          throw new CellstateTypeError(
            ErrorCode.INVALID_ARG,
            `step: out must be a Float32Array, got ${describe(out)}`,
          );
        if (out.length !== this.out.length)
          throw shapeError(
            'step',
            'out',
            [`B=${this.batch}`, `O=${this.outputSize}`],
            [out.length],
          );
      }
    } catch (error) {
      return Promise.reject(error);
    }
    // Idle: write the frame now; queued: keep a copy until its turn.
    const pending = this.queued > 0 ? frame.slice() : null;
    if (!pending) this.x.set(frame);
    return this.enqueue(async () => {
      if (pending) this.x.set(pending);
      await this.request(Command.STEP);
      const y = out ?? new Float32Array(this.out.length);
      y.set(this.out);
      return y;
    });
  }

  /** Zero state in the worker. */
  reset(): Promise<void> {
    if (this.disposedFlag) return Promise.reject(disposedError('reset', 'StreamWorker'));
    return this.enqueue(() => this.request(Command.RESET));
  }

  /**
   * Ends the worker cleanly after the queued calls: it leaves its loop and its thread exits.
   * Resolves when it has exited. Idempotent.
   */
  async close(): Promise<void> {
    if (this.exitCode === null) {
      await this.enqueue(() => this.request(Command.CLOSE)).catch(() => undefined);
    }
    await this.exit;
  }

  /** Stops the worker at once (queued calls reject with ERR_CELLSTATE_WORKER_EXITED). */
  async terminate(): Promise<void> {
    await this.worker.terminate();
    await this.exit;
  }

  private disposedFlag = false;

  /** Whether dispose() was called. */
  get disposed(): boolean {
    return this.disposedFlag;
  }

  /**
   * Terminates the worker thread now, which frees everything it holds (its layers, streams and
   * native memory go with its environment); queued calls reject with
   * ERR_CELLSTATE_WORKER_EXITED, and every later step / reset rejects with
   * ERR_CELLSTATE_DISPOSED (close / terminate resolve). A second dispose() does nothing. Await
   * `terminate()` instead to know when the thread has exited.
   */
  dispose(): void {
    if (this.disposedFlag) return;
    this.disposedFlag = true;
    this.worker.terminate().catch(() => undefined);
  }

  /** dispose(), for `using`. */
  [disposeSymbol](): void {
    this.dispose();
  }

  private live(where: string): void {
    if (this.disposedFlag) throw disposedError(where, 'StreamWorker');
  }

  private enqueue<T>(task: () => Promise<T>): Promise<T> {
    ++this.queued;
    const run = this.queue.then(task);
    const done = () => {
      --this.queued;
    };
    this.queue = run.then(done, done);
    return run;
  }

  private exitMessage(): string {
    const why = this.crash ? `: ${this.crash.message}` : '';
    return `the worker has exited (code ${this.exitCode})${why}`;
  }

  private exitedError(): CellstateError {
    return new CellstateError(ErrorCode.WORKER_EXITED, `StreamWorker: ${this.exitMessage()}`);
  }

  private async request(command: number): Promise<void> {
    if (this.exitCode !== null) throw this.exitedError();
    const previous = this.requests;
    const n = nextRequest(previous);
    this.requests = n;
    // A number comes back after 2^32 requests: no error of an earlier use may linger under it.
    this.errors.delete(n);
    const control = this.control;
    Atomics.store(control, Slot.COMMAND, command);
    Atomics.store(control, Slot.REQUEST, n);
    Atomics.notify(control, Slot.REQUEST);
    // A wake-up may be late: the worker's notify for the previous request can arrive after that
    // request was seen done without waiting. So wait until DONE says n, or the worker is gone
    // (its exit handler notifies DONE too).
    for (
      let done = Atomics.load(control, Slot.DONE);
      done !== n;
      done = Atomics.load(control, Slot.DONE)
    ) {
      if (this.exitCode !== null) throw this.exitedError();
      if (done !== previous)
        throw new CellstateError(
          ErrorCode.WORKER_EXITED,
          `StreamWorker: the worker answered request ${done} while request ${n} was expected`,
        );
      const wait = waitAsync(control, Slot.DONE, previous);
      if (wait.async) await wait.value;
    }
    if (Atomics.load(control, Slot.STATUS) !== 0) throw errorFrom(await this.failure(n));
  }

  private failure(n: number): Promise<Failure> {
    const known = this.errors.get(n);
    if (known) {
      this.errors.delete(n);
      return Promise.resolve(known);
    }
    if (this.exitCode !== null)
      return Promise.resolve({
        name: 'Error',
        message: this.exitMessage(),
        code: ErrorCode.WORKER_EXITED,
      });
    return new Promise((resolve) => this.errorWaiters.set(n, resolve));
  }
}
