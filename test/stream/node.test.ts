// Node.js integration: the Transform (object mode and bytes, in a pipeline, with backpressure)
// and the async iterator over a source of frames.
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';

import { ErrorCode, GRU, LSTM, Tensor, over, transform } from '../../lib/index';
import { Lcg } from './helpers';

function frames(n: number, size: number, seed: number): Float32Array[] {
  const rng = new Lcg(seed);
  return Array.from({ length: n }, () => rng.floats(size));
}

/** The outputs of stepping a fresh stream of `layer` over `xs` (copies). */
function reference(layer: LSTM | GRU, xs: Float32Array[], batch = 1): Float32Array[] {
  const s = layer.stream({ batch });
  return xs.map((x) => s.step(x).slice());
}

describe('stream.transform()', () => {
  it('maps frames to outputs in a pipeline (object mode)', async () => {
    const layer = new LSTM({ inputSize: 3, hiddenSize: 4, numLayers: 2, seed: 1 });
    const xs = frames(50, 3, 1);
    const got: Float32Array[] = [];
    await pipeline(
      Readable.from(xs),
      layer.stream().transform(),
      new Writable({
        objectMode: true,
        write(y: Float32Array, _e, done) {
          got.push(y);
          done();
        },
      }),
    );
    const want = reference(layer, xs);
    expect(got.length).toBe(50);
    // Each output is its own copy (a Node stream may buffer them).
    expect(new Set(got).size).toBe(50);
    expect(got.map((y) => Array.from(y))).toEqual(want.map((y) => Array.from(y)));
  });

  it('accepts Tensor frames', async () => {
    const layer = new GRU({ inputSize: 2, hiddenSize: 3, seed: 1 });
    const xs = frames(5, 4, 2);
    const got: Float32Array[] = [];
    for await (const y of Readable.from(xs.map((x) => new Tensor(x, [2, 2]))).pipe(
      layer.stream({ batch: 2 }).transform(),
    ))
      got.push(y as Float32Array);
    expect(got.map((y) => Array.from(y))).toEqual(
      reference(layer, xs, 2).map((y) => Array.from(y)),
    );
  });

  it('cuts bytes into frames whatever the chunking (binary mode)', async () => {
    const layer = new LSTM({ inputSize: 3, hiddenSize: 2, seed: 4 });
    const xs = frames(20, 3, 3);
    const bytes = Buffer.concat(xs.map((x) => Buffer.from(x.buffer, x.byteOffset, x.byteLength)));
    // Chunks of 5 bytes: frames (12 bytes) straddle chunk boundaries.
    const chunks: Buffer[] = [];
    for (let i = 0; i < bytes.length; i += 5) chunks.push(bytes.subarray(i, i + 5));
    const out: Buffer[] = [];
    await pipeline(
      Readable.from(chunks, { objectMode: false }),
      layer.stream().transform({ objectMode: false }),
      new Writable({
        write(chunk: Buffer, _e, done) {
          out.push(chunk);
          done();
        },
      }),
    );
    const all = Buffer.concat(out);
    const got = new Float32Array(all.buffer.slice(all.byteOffset, all.byteOffset + all.length));
    const want = reference(layer, xs).flatMap((y) => Array.from(y));
    expect(Array.from(got)).toEqual(want);
  });

  it('rejects a trailing partial frame and a wrong frame size', async () => {
    const layer = new LSTM({ inputSize: 3, hiddenSize: 2, seed: 4 });
    await expect(
      pipeline(
        Readable.from([Buffer.alloc(14)], { objectMode: false }),
        layer.stream().transform({ objectMode: false }),
        new Writable({ write: (_c, _e, done) => done() }),
      ),
    ).rejects.toThrow(/2 trailing bytes, a frame is 12 bytes/);
    await expect(
      pipeline(
        Readable.from([new Float32Array(3), new Float32Array(4)]),
        layer.stream().transform(),
        new Writable({ objectMode: true, write: (_c, _e, done) => done() }),
      ),
    ).rejects.toThrow(RangeError);
    await expect(
      pipeline(
        Readable.from(['not a frame']),
        layer.stream().transform(),
        new Writable({ objectMode: true, write: (_c, _e, done) => done() }),
      ),
    ).rejects.toThrow(TypeError);
  });

  it('applies backpressure: a slow reader holds the writer back', async () => {
    const layer = new GRU({ inputSize: 2, hiddenSize: 2, seed: 1 });
    const t = layer.stream().transform({ highWaterMark: 2 });
    let accepted = 0;
    // Write until write() says stop, with nobody reading.
    while (t.write(new Float32Array(2))) ++accepted;
    // Both sides buffer at most highWaterMark frames (2 + 2) before write() returns false.
    expect(accepted).toBeLessThanOrEqual(4);
    const drained = new Promise((resolve) => t.once('drain', resolve));
    let read = 0;
    t.on('data', () => ++read);
    await drained;
    expect(read).toBeGreaterThan(0);
    t.end();
    await new Promise((resolve) => t.once('end', resolve));
    expect(read).toBe(accepted + 1);
  });

  it('validates its options', () => {
    const s = new GRU({ inputSize: 2, hiddenSize: 2, seed: 1 }).stream();
    expect(() => s.transform({ objectMode: 1 } as never)).toThrow(TypeError);
    expect(() => s.transform({ highWaterMark: 0 })).toThrow(RangeError);
    expect(() => transform(s, { frames: 1 } as never)).toThrow(/unknown option/);
  });
});

describe('stream.over()', () => {
  it('yields the output of each frame of an async source', async () => {
    const layer = new LSTM({ inputSize: 2, hiddenSize: 3, seed: 2 });
    const xs = frames(10, 2, 5);
    async function* source() {
      for (const x of xs) {
        await new Promise((r) => setImmediate(r));
        yield x;
      }
    }
    const got: Float32Array[] = [];
    for await (const y of layer.stream().over(source())) got.push(y);
    expect(got.map((y) => Array.from(y))).toEqual(reference(layer, xs).map((y) => Array.from(y)));
  });

  it('copies by default; { copy: false } yields the reused output buffer', async () => {
    const layer = new GRU({ inputSize: 2, hiddenSize: 3, seed: 2 });
    const xs = frames(3, 2, 6);
    const s = layer.stream();
    const copies: Float32Array[] = [];
    for await (const y of s.over(xs)) copies.push(y);
    expect(new Set(copies).size).toBe(3);
    const views: Float32Array[] = [];
    for await (const y of over(s, xs, { copy: false })) views.push(y);
    expect(new Set(views).size).toBe(1);
    expect(views[0]).toBe(s.output);
  });

  it('refuses a source that is not iterable, and bad frames', async () => {
    const s = new GRU({ inputSize: 2, hiddenSize: 3, seed: 2 }).stream();
    expect(() => s.over(5 as never)).toThrow(TypeError);
    const it1 = s.over([new Float32Array(5)]);
    await expect(it1.next()).rejects.toThrow(RangeError);
    const it2 = s.over([null as never]);
    await expect(it2.next()).rejects.toMatchObject({ code: ErrorCode.INVALID_ARG });
  });
});
