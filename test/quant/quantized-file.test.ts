// Files of quantized models (issue 17): int8 weights saved as I8 tensors with `<name>.scale`
// F32 row scales, `__metadata__.quantization` "int8", format 2.1; loading needs no float
// weights and predicts bit for bit as the saved model; the files of the demo's character model
// shape are at most 0.3× the float file; damaged or inconsistent int8 data is refused by code.
import { describe, expect, it } from 'vitest';

import {
  Dense,
  Embedding,
  LSTM,
  Sequential,
  Tensor,
  fromBuffer,
  load,
  quantize,
  save,
  toBuffer,
} from '../../lib/index';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { signedFile, splitFile, thrown } from '../io/helpers';

/** The demo's character model (examples/main.mjs): Embedding(56, 32) → LSTM(128) → Dense(56). */
function charModel(): Sequential {
  return new Sequential(
    [
      new Embedding({ numEmbeddings: 56, embeddingDim: 32, seed: 1 }),
      new LSTM({ inputSize: 32, hiddenSize: 128, seed: 2 }),
      new Dense({ inputSize: 128, outputSize: 56, seed: 3 }),
    ],
    { batchFirst: false },
  );
}

const tokens = {
  data: Int32Array.from({ length: 24 }, (_, i) => (i * 13 + 5) % 56),
  shape: [8, 3],
};

function bitsOf(a: Float32Array): number[] {
  return Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));
}

describe('a quantized model in a file', () => {
  it('stores I8 weights and F32 scales, and loads to the same predictions bit for bit', async () => {
    const model = quantize(charModel(), { dtype: 'int8' });
    const y = model.predict(tokens).data.slice();
    const bytes = toBuffer(model);
    const { header } = splitFile(bytes);
    expect(header.__metadata__).toMatchObject({ quantization: 'int8', version: '2.1' });
    for (const name of ['0.weight', '1.weight_ih_l0', '1.weight_hh_l0', '2.weight']) {
      expect(header[name].dtype, name).toBe('I8');
      expect(header[`${name}.scale`], name).toMatchObject({
        dtype: 'F32',
        shape: [header[name].shape[0]],
      });
    }
    for (const name of ['1.bias_ih_l0', '1.bias_hh_l0', '2.bias'])
      expect(header[name].dtype).toBe('F32');
    const loaded = fromBuffer(bytes, { expect: Sequential });
    expect(loaded.layers.map((l) => (l as { quantized: boolean }).quantized)).toEqual([
      true,
      true,
      true,
    ]);
    expect(bitsOf(loaded.predict(tokens).data)).toEqual(bitsOf(y));
    for (let i = 0; i < 3; ++i)
      expect((loaded.layers[i] as LSTM).quantizedParameters()).toEqual(
        (model.layers[i] as LSTM).quantizedParameters(),
      );
    // saving the loaded model again gives the same bytes
    expect(Array.from(toBuffer(loaded))).toEqual(Array.from(bytes));
    // streaming the loaded model equals its predict
    const stream = loaded.stream({ batch: 3 });
    const want = loaded.predict(tokens).data;
    for (let t = 0; t < 8; ++t)
      expect(
        bitsOf(stream.step(Float32Array.from(tokens.data.subarray(t * 3, t * 3 + 3)))),
      ).toEqual(bitsOf(want.subarray(t * 3 * 56, (t + 1) * 3 * 56)));
    // through save/load on disk too
    const dir = mkdtempSync(path.join(tmpdir(), 'cellstate-q-'));
    try {
      const file = path.join(dir, 'q.cellstate');
      await save(model, file);
      const again = await load(file, { expect: Sequential });
      expect(bitsOf(again.predict(tokens).data)).toEqual(bitsOf(y));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('is at most 0.3× the float file for the demo character model', () => {
    const float = charModel();
    const ratio = toBuffer(quantize(float, { dtype: 'int8' })).length / toBuffer(float).length;
    expect(ratio).toBeLessThanOrEqual(0.3);
    // a float model's file is unchanged: format 2.0, no quantization key, F32 only
    const { header } = splitFile(toBuffer(float));
    expect(header.__metadata__.version).toBe('2.0');
    expect(header.__metadata__.quantization).toBeUndefined();
  });

  it('a single quantized layer round-trips too', () => {
    const lstm = new LSTM({ inputSize: 5, hiddenSize: 12, numLayers: 2, seed: 4 }).quantize();
    const x = new Tensor(
      Float32Array.from({ length: 4 * 2 * 5 }, (_, i) => Math.cos(i)),
      [4, 2, 5],
    );
    const loaded = fromBuffer(toBuffer(lstm), { expect: LSTM });
    expect(loaded.quantized).toBe(true);
    expect(bitsOf(loaded.forward(x).output.data)).toEqual(bitsOf(lstm.forward(x).output.data));
  });

  describe('refuses damaged int8 data', () => {
    const model = quantize(charModel(), { dtype: 'int8' });
    const good = toBuffer(model);
    const { header, data } = splitFile(good);
    const edit = (fn: (h: Record<string, any>, d: Uint8Array) => void) => {
      const h = structuredClone(header);
      const d = data.slice();
      fn(h, d);
      return thrown(() => fromBuffer(signedFile(h, d)));
    };

    it('I8 tensors in a file not marked quantized', () => {
      expect(edit((h) => delete h.__metadata__.quantization)).toMatchObject({
        code: 'ERR_CELLSTATE_FILE_DTYPE',
        message: expect.stringContaining("'0.weight' has dtype I8"),
      });
    });

    it('an unknown quantization', () => {
      expect(edit((h) => (h.__metadata__.quantization = 'int4'))).toMatchObject({
        code: 'ERR_CELLSTATE_FILE_CONFIG',
      });
    });

    it('a missing scale tensor', () => {
      expect(
        edit((h) => {
          // the scale's bytes become an unnamed gap: rename it instead, so offsets stay valid
          h['2.weight.scale_x'] = h['2.weight.scale'];
          delete h['2.weight.scale'];
        }),
      ).toMatchObject({
        code: 'ERR_CELLSTATE_FILE_MISSING_TENSOR',
        message: expect.stringContaining("'2.weight.scale'"),
      });
    });

    it('-128 and a negative scale', () => {
      expect(edit((h, d) => (d[h['2.weight'].data_offsets[0]] = 0x80))).toMatchObject({
        code: 'ERR_CELLSTATE_FILE_VALUE',
        message: expect.stringContaining('-128'),
      });
      expect(
        edit((h, d) =>
          new DataView(d.buffer).setFloat32(h['2.weight.scale'].data_offsets[0], -1, true),
        ),
      ).toMatchObject({
        code: 'ERR_CELLSTATE_FILE_VALUE',
        message: expect.stringContaining('-1 at row 0'),
      });
    });

    it('recurrent int8 rows that are not as cellstate quantizes', () => {
      // row 0 of W_hh halved: its largest |value| is no longer 127
      const e = edit((h, d) => {
        const [begin] = h['1.weight_hh_l0'].data_offsets;
        const v = new Int8Array(d.buffer, d.byteOffset + begin, 128);
        for (let k = 0; k < 128; ++k) v[k] = v[k] >> 1;
      });
      expect(e).toMatchObject({
        code: 'ERR_CELLSTATE_FILE_VALUE',
        message: expect.stringContaining("'weight_hh_l0' is not as cellstate quantizes"),
      });
    });

    it('I8 tensors in a PyTorch state_dict', () => {
      const h: Record<string, any> = { weight: { ...header['2.weight'] } };
      const [b, e] = header['2.weight'].data_offsets;
      h.weight.data_offsets = [0, e - b];
      expect(thrown(() => fromBuffer(signedFile(h, data.slice(b, e))))).toMatchObject({
        code: 'ERR_CELLSTATE_FILE_DTYPE',
        message: expect.stringContaining('reads only in its own quantized files'),
      });
    });
  });
});
