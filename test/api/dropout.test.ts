// Dropout between layers, training only: masks are drawn per training forward from the layer's
// seed and a call counter, so they are reproducible and differ from call to call.
import { describe, expect, it } from 'vitest';

import { GRU, LSTM, Tensor } from '../../lib/index';

function filled(shape: number[]): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; ++i) data[i] = Math.sin(i * 0.7);
  return new Tensor(data, shape);
}

const bits = (t: Tensor) => Array.from(t.data);

describe('dropout', () => {
  const options = { inputSize: 4, hiddenSize: 16, numLayers: 3, dropout: 0.5, seed: 99 };
  const x = filled([5, 3, 4]);

  it('applies only in training, with masks reproducible from the seed', () => {
    const a = new LSTM(options);
    const b = new LSTM(options);
    const plain = new LSTM({ ...options, dropout: 0 });
    const inference = a.forward(x).output;
    expect(bits(inference)).toEqual(bits(plain.forward(x).output));
    const a1 = a.forward(x, { train: true }).output;
    const a2 = a.forward(x, { train: true }).output;
    expect(bits(a1)).not.toEqual(bits(inference));
    expect(bits(a2)).not.toEqual(bits(a1));
    // Another layer with the same seed and the same sequence of calls draws the same masks.
    expect(bits(b.forward(x, { train: true }).output)).toEqual(bits(a1));
    expect(bits(b.forward(x, { train: true }).output)).toEqual(bits(a2));
  });

  it('has backward go through the same masks', () => {
    const layer = new GRU(options);
    const grad = filled([5, 3, 16]);
    layer.forward(x, { train: true });
    const g1 = layer.backward({ output: grad }).x;
    const again = new GRU(options);
    again.forward(x, { train: true });
    expect(bits(again.backward({ output: grad }).x)).toEqual(bits(g1));
    const plain = new GRU({ ...options, dropout: 0 });
    plain.forward(x, { train: true });
    expect(bits(plain.backward({ output: grad }).x)).not.toEqual(bits(g1));
  });
});
