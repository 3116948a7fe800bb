// Node.js integration of streams: a Transform (frames in, outputs out, with backpressure) and an
// async iterator over a source of frames. Both work on any LayerStream (a layer's, Sequential's).
import { Transform, type TransformCallback } from 'node:stream';

import { CellstateRangeError, CellstateTypeError, ErrorCode, describe } from '../errors';
import { OptionReader } from '../options';
import { Tensor } from '../tensor';
import type { LayerStream } from './types';

/** Options of `stream.transform()`. */
export interface TransformOptions {
  /**
   * true: each chunk written is one frame, a Float32Array of B·I values or a Tensor `[B, I]`,
   * and each chunk read is one output frame, a new Float32Array of B·O values.
   * false: bytes in, bytes out — the written bytes are float32 values in the machine's byte
   * order (little-endian on every platform Node runs on), cut into frames of B·I values
   * whatever the chunking; each chunk read is a Buffer holding one output frame.
   * Default true.
   */
  objectMode?: boolean | undefined;
  /**
   * Frames (objectMode) or bytes buffered on each side before backpressure applies. Default:
   * Node's (16 frames, or 16 KiB).
   */
  highWaterMark?: number | undefined;
}

/** Options of `stream.over()`. */
export interface OverOptions {
  /**
   * Yield a copy of each output (true), or the stream's output buffer itself, which the next
   * step overwrites (false: no allocation per step; use each value before asking for the
   * next). Default true.
   */
  copy?: boolean | undefined;
}

/** A frame as the Float32Array that LayerStream.step reads (a Tensor's data). */
function frameOf(where: string, chunk: unknown): Float32Array {
  if (chunk instanceof Float32Array) return chunk;
  if (chunk instanceof Tensor) return chunk.data;
  throw new CellstateTypeError(
    ErrorCode.INVALID_ARG,
    `${where}: each frame must be a Float32Array or a Tensor, got ${describe(chunk)}`,
  );
}

/**
 * A Transform stream that steps `s` once per frame. Backpressure is Node's: when the reader
 * falls behind, writes wait. An error from a step (a frame of the wrong size) destroys the
 * Transform with that error. Each output is a copy (a Node stream may buffer it).
 */
export function transform(s: LayerStream, options?: TransformOptions): Transform {
  const where = 'transform';
  const r = new OptionReader(
    options,
    where,
    ['objectMode', 'highWaterMark'],
    ErrorCode.INVALID_ARG,
  );
  const objectMode = r.bool('objectMode', true);
  const highWaterMark =
    r.raw('highWaterMark') === undefined
      ? undefined
      : r.int('highWaterMark', 1, Number.MAX_SAFE_INTEGER);
  const hwm = highWaterMark === undefined ? {} : { highWaterMark };
  if (objectMode)
    return new Transform({
      objectMode: true,
      ...hwm,
      transform(chunk: unknown, _encoding: BufferEncoding, done: TransformCallback) {
        try {
          done(null, s.step(frameOf(where, chunk)).slice());
        } catch (error) {
          done(error as Error);
        }
      },
    });

  // Bytes: assemble whole frames whatever the chunking.
  const frame = new Float32Array(s.batch * s.inputSize);
  const frameBytes = new Uint8Array(frame.buffer);
  let filled = 0;
  return new Transform({
    ...hwm,
    transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback) {
      try {
        let at = 0;
        while (at < chunk.length) {
          const n = Math.min(frameBytes.length - filled, chunk.length - at);
          frameBytes.set(chunk.subarray(at, at + n), filled);
          filled += n;
          at += n;
          if (filled === frameBytes.length) {
            filled = 0;
            const y = s.step(frame);
            this.push(Buffer.from(new Uint8Array(y.buffer, y.byteOffset, y.byteLength)));
          }
        }
        done();
      } catch (error) {
        done(error as Error);
      }
    },
    flush(done: TransformCallback) {
      if (filled === 0) done();
      else
        done(
          new CellstateRangeError(
            ErrorCode.SHAPE,
            `${where}: the input ended inside a frame: ${filled} trailing bytes, a frame is ` +
              `${frameBytes.length} bytes (B·I = ${frame.length} float32 values)`,
          ),
        );
    },
  });
}

function isIterable(x: unknown): boolean {
  return (
    x !== null &&
    (typeof x === 'object' || typeof x === 'function') &&
    (typeof (x as Iterable<unknown>)[Symbol.iterator] === 'function' ||
      typeof (x as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function')
  );
}

/**
 * Steps `s` through the frames of `source` (an iterable or async iterable of Float32Arrays or
 * Tensors), yielding each output: `for await (const y of s.over(frames)) ...`.
 */
export function over(
  s: LayerStream,
  source: Iterable<Float32Array | Tensor> | AsyncIterable<Float32Array | Tensor>,
  options?: OverOptions,
): AsyncGenerator<Float32Array, void, undefined> {
  const where = 'over';
  if (!isIterable(source))
    throw new CellstateTypeError(
      ErrorCode.INVALID_ARG,
      `${where}: source must be an iterable or async iterable of frames, got ${describe(source)}`,
    );
  const copy = new OptionReader(options, where, ['copy'], ErrorCode.INVALID_ARG).bool('copy', true);
  return (async function* steps() {
    for await (const x of source) {
      const y = s.step(frameOf(where, x));
      yield copy ? y.slice() : y;
    }
  })();
}
