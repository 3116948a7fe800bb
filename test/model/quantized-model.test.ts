// A Sequential with a quantized LSTM (layer.quantize(), issue 17): predict runs int8 within the
// quantization error of float; fit is refused with ERR_CELLSTATE_UNSUPPORTED and changes no
// parameter.
import { describe, expect, it } from 'vitest';

import { Dense, ErrorCode, LSTM, Sequential, Tensor } from '../../lib/index';

const N = 6;
const T = 5;
const I = 3;

function random(n: number, seed: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 7.1 + i * 0.53));
}

describe('a Sequential with a quantized LSTM', () => {
  it('predicts in int8 and refuses fit', async () => {
    const lstm = new LSTM({ inputSize: I, hiddenSize: 16, seed: 1 });
    const model = new Sequential([lstm, new Dense({ inputSize: 16, outputSize: 2, seed: 2 })], {
      batchFirst: true,
    });
    const x = new Tensor(random(N * T * I, 1), [N, T, I]);
    const y = new Tensor(random(N * T * 2, 2), [N, T, 2]);
    const float = model.predict(x).data.slice();
    lstm.quantize();
    const int8 = model.predict(x).data;
    let d = 0;
    for (let i = 0; i < float.length; ++i) d = Math.max(d, Math.abs(int8[i] - float[i]));
    expect(d).toBeGreaterThan(0);
    expect(d).toBeLessThan(2e-2); // the bound of test/api/quantize.test.ts
    const before = lstm.parameters().weight_hh_l0.data.slice();
    await expect(
      model.fit({ x, y }, { loss: 'mse', epochs: 1, batchSize: 3, seed: 1, verbose: 0 }),
    ).rejects.toMatchObject({ code: ErrorCode.UNSUPPORTED });
    expect(Array.from(lstm.parameters().weight_hh_l0.data)).toEqual(Array.from(before));
    expect(lstm.quantized).toBe(true);
  });
});
