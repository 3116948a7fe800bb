// A chain model's run(feeds) runs on the model's own recurrent layers (a stack's nodes as one
// call of their layer), not on copies: after setParameters, quantize() or fit, run computes with
// the model's current weights, agreeing with forward; the runner allocates no layers of its own,
// and dispose frees the model's layers once.
import { readFileSync } from 'node:fs';
import path from 'node:path';

import { describe, expect, it } from 'vitest';

import { GRU, LSTM, Sequential, Tensor, fromOnnx, toOnnx } from '../../lib/index';
import type { Recurrent } from '../../lib/layers/recurrent';
import { rng } from './onnx-builder';

const CORPUS = path.join(__dirname, '..', 'fixtures', 'onnx-corpus');

function bits(a: ArrayLike<number>): number[] {
  return Array.from(new Uint32Array(Float32Array.from(a).buffer));
}

/** Every parameter scaled by `k` (a different model, same shapes). */
function scaled(layer: Recurrent, k: number): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const [name, t] of Object.entries(layer.parameters()))
    out[name] = new Tensor(
      Float32Array.from(t.data, (v) => v * k),
      [...t.shape],
    );
  return out;
}

const T = 4;
const B = 2;

describe('run on a chain model shares its layers', () => {
  it.each([
    ['one layer', () => new LSTM({ inputSize: 3, hiddenSize: 5, seed: 1 })],
    [
      'a bidirectional stack of three',
      () => new LSTM({ inputSize: 3, hiddenSize: 4, numLayers: 3, bidirectional: true, seed: 2 }),
    ],
    [
      'a batch-first GRU stack',
      () => new GRU({ inputSize: 3, hiddenSize: 4, numLayers: 2, batchFirst: true, seed: 3 }),
    ],
  ] as const)('%s: setParameters and quantize change what run computes', (_name, make) => {
    const original = make();
    const m = fromOnnx(toOnnx(original)) as unknown as Recurrent & {
      run(f: Record<string, Tensor>): Record<string, Tensor>;
    };
    original.dispose();
    const bf = m.config.batchFirst === true;
    const x = new Tensor(rng(4)(T * B * 3, -2, 2), bf ? [B, T, 3] : [T, B, 3]);
    const first = m.run({ input: x }).output;
    expect(bits(first.data)).toEqual(bits(m.forward(x).output.data));
    // the model's weights change: run follows (a copy made on the first run would not)
    m.setParameters(scaled(m, 0.5));
    const second = m.run({ input: x }).output;
    expect(bits(second.data)).toEqual(bits(m.forward(x).output.data));
    expect(bits(second.data)).not.toEqual(bits(first.data));
    m.quantize();
    const third = m.run({ input: x }).output;
    expect(bits(third.data)).toEqual(bits(m.forward(x).output.data));
    expect(bits(third.data)).not.toEqual(bits(second.data));
    m.dispose();
    expect(() => m.run({ input: x })).toThrow(
      expect.objectContaining({ code: 'ERR_CELLSTATE_DISPOSED' }),
    );
  });

  it('a Sequential trained by fit: run uses the trained recurrent layer', async () => {
    const s = new Sequential([new LSTM({ inputSize: 3, hiddenSize: 4, numLayers: 2, seed: 5 })], {
      batchFirst: false,
    });
    const m = fromOnnx(toOnnx(s), { expect: Sequential }) as Sequential & {
      run(f: Record<string, Tensor>): Record<string, Tensor>;
    };
    s.dispose();
    const x = new Tensor(rng(6)(T * B * 3, -2, 2), [T, B, 3]);
    const before = m.run({ input: x }).output;
    await m.fit({ x, y: new Tensor(rng(7)(T * B * 4), [T, B, 4]) }, { loss: 'mse', epochs: 3 });
    const after = m.run({ input: x }).output;
    expect(bits(after.data)).toEqual(bits(m.predict(x).data));
    expect(bits(after.data)).not.toEqual(bits(before.data));
    m.dispose();
  });

  it('two stacks in one Sequential, each run on its layer', () => {
    const s = new Sequential(
      [
        new LSTM({ inputSize: 3, hiddenSize: 4, numLayers: 2, seed: 8 }),
        new GRU({ inputSize: 4, hiddenSize: 3, numLayers: 2, bidirectional: true, seed: 9 }),
      ],
      { batchFirst: false },
    );
    const m = fromOnnx(toOnnx(s), { expect: Sequential }) as Sequential & {
      run(f: Record<string, Tensor>): Record<string, Tensor>;
    };
    s.dispose();
    const x = new Tensor(rng(10)(T * B * 3, -2, 2), [T, B, 3]);
    let last = m.run({ input: x }).output;
    expect(bits(last.data)).toEqual(bits(m.predict(x).data));
    for (const layer of m.layers as Recurrent[]) {
      layer.setParameters(scaled(layer, 0.7));
      const now = m.run({ input: x }).output;
      expect(bits(now.data)).toEqual(bits(m.predict(x).data));
      expect(bits(now.data)).not.toEqual(bits(last.data));
      last = now;
    }
    m.dispose();
  });

  it.each([
    'pytorch/lstm_2layers.opset14.onnx',
    'pytorch/lstm_2layers_bidir_batch_first.opset17.onnx',
    'pytorch/gru_bidirectional_2layers.opset17.onnx',
    'pytorch/gru_stateful.opset17.onnx',
  ])('PyTorch’s %s: run follows the model’s weights', (file) => {
    const manifest = JSON.parse(readFileSync(path.join(CORPUS, 'manifest.json'), 'utf8')) as {
      files: {
        file: string;
        feeds: Record<string, { dims: number[]; data: number[] }>;
        outputs: string[];
      }[];
    };
    const entry = manifest.files.find((f) => f.file === file)!;
    const m = fromOnnx(readFileSync(path.join(CORPUS, file))) as unknown as {
      run(f: Record<string, Tensor>): Record<string, Tensor>;
      layers?: Recurrent[];
      dispose(): void;
    } & Recurrent;
    const feeds: Record<string, Tensor> = {};
    for (const [k, v] of Object.entries(entry.feeds))
      feeds[k] = new Tensor(Float32Array.from(v.data), v.dims);
    const out = entry.outputs[0];
    const first = m.run(feeds)[out];
    const layer = (m.layers ? m.layers.find((l) => 'quantize' in l) : m) as Recurrent;
    layer.setParameters(scaled(layer, 0.5));
    const second = m.run(feeds)[out];
    expect(bits(second.data)).not.toEqual(bits(first.data));
    // and the original weights back: the first result again, bit for bit
    layer.setParameters(scaled(layer, 2));
    expect(bits(m.run(feeds)[out].data)).toEqual(bits(first.data));
    m.dispose();
  });
});
