// Sequential.summary(): Keras's table (layers, output shapes with B / T, parameter counts,
// totals) as exact text, its object form, and totals equal to the sizes of parameters().
import { describe, expect, it } from 'vitest';

import { Dense, Dropout, Embedding, ErrorCode, GRU, LSTM, Sequential } from '../../lib/index';

function lstmModel(): Sequential {
  return new Sequential(
    [
      new LSTM({ inputSize: 2, hiddenSize: 8, seed: 1 }),
      new Dropout({ rate: 0.2, seed: 2 }),
      new Dense({ inputSize: 8, outputSize: 1, seed: 3 }),
    ],
    { batchFirst: true },
  );
}

function tokenModel(batchFirst?: boolean): Sequential {
  return new Sequential(
    [
      new Embedding({ numEmbeddings: 50, embeddingDim: 8, seed: 1 }),
      new GRU({ inputSize: 8, hiddenSize: 16, numLayers: 2, bidirectional: true, seed: 2 }),
      new Dense({ inputSize: 32, outputSize: 5, activation: 'softmax', lastStep: true, seed: 3 }),
    ],
    batchFirst === undefined ? undefined : { batchFirst },
  );
}

function parameterCount(m: Sequential): number {
  return Object.values(m.parameters()).reduce((n, t) => n + t.data.length, 0);
}

describe('Sequential.summary', () => {
  it('LSTM → Dropout → Dense: the exact text', () => {
    expect(lstmModel().summary()).toBe(
      [
        'Sequential (batchFirst: true), input [B, T, 2]',
        '______________________________________________',
        ' Layer (type)           Output shape   Param #',
        '==============================================',
        ' 0 LSTM                 [B, T, 8]          384',
        ' 1 Dropout (rate 0.2)   [B, T, 8]            0',
        ' 2 Dense                [B, T, 1]            9',
        '==============================================',
        'Total params: 393',
        'Trainable params: 393',
        'Non-trainable params: 0',
        '______________________________________________',
      ].join('\n'),
    );
  });

  it('Embedding → GRU (bidirectional, 2 layers) → Dense lastStep: the exact text, time-major', () => {
    expect(tokenModel(false).summary()).toBe(
      [
        'Sequential (batchFirst: false), input [T, B] token ids',
        '_________________________________________________________',
        ' Layer (type)                      Output shape   Param #',
        '=========================================================',
        ' 0 Embedding (50 ids)              [T, B, 8]          400',
        ' 1 GRU (2 layers, bidirectional)   [T, B, 32]       7,296',
        ' 2 Dense (softmax, lastStep)       [B, 5]             165',
        '=========================================================',
        'Total params: 7,861',
        'Trainable params: 7,861',
        'Non-trainable params: 0',
        '_________________________________________________________',
      ].join('\n'),
    );
    // without batchFirst: the forward layout (time-major), said in the title
    expect(tokenModel().summary().split('\n')[0]).toBe(
      'Sequential (batchFirst not given), input [T, B] token ids',
    );
  });

  it('the object form; totals equal the sizes of parameters(), per layer too', () => {
    for (const m of [lstmModel(), tokenModel(true), tokenModel()]) {
      const s = m.summary({ format: 'object' });
      expect(s.totalParams).toBe(parameterCount(m));
      expect(s.trainableParams).toBe(s.totalParams);
      expect(s.nonTrainableParams).toBe(0);
      s.layers.forEach((l, i) => {
        const own = Object.values(m.layers[i].parameters()).reduce((n, t) => n + t.data.length, 0);
        expect(l.params, `layer ${i}`).toBe(own);
        expect(l.index).toBe(i);
      });
      expect(m.summary({ format: 'text' })).toBe(m.summary());
    }
    const s = tokenModel(true).summary({ format: 'object' });
    expect(s.inputShape).toEqual(['B', 'T']);
    expect(s.batchFirst).toBe(true);
    expect(s.layers.map((l) => [l.type, l.details, l.outputShape])).toEqual([
      ['Embedding', '50 ids', ['B', 'T', 8]],
      ['GRU', '2 layers, bidirectional', ['B', 'T', 32]],
      ['Dense', 'softmax, lastStep', ['B', 5]],
    ]);
  });

  it('a large model groups thousands; an LSTM with projSize and dropout says so', () => {
    const m = new Sequential(
      [
        new LSTM({ inputSize: 300, hiddenSize: 512, numLayers: 3, projSize: 128, dropout: 0.1 }),
        new Dense({ inputSize: 128, outputSize: 10000 }),
      ],
      { batchFirst: true },
    );
    const s = m.summary({ format: 'object' });
    expect(s.totalParams).toBe(parameterCount(m));
    expect(s.layers[0].details).toBe('3 layers, projSize 128, dropout 0.1');
    expect(s.layers[0].outputShape).toEqual(['B', 'T', 128]);
    const total = s.totalParams.toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
    expect(total).toMatch(/,\d{3},\d{3}$/);
    expect(m.summary()).toContain(`Total params: ${total}\n`);
  });

  it('refuses a bad format, and a disposed model', () => {
    const m = lstmModel();
    expect(() => m.summary({ format: 'json' } as never)).toThrow(TypeError);
    expect(() => m.summary({ fromat: 'text' } as never)).toThrow(/summary/);
    m.dispose();
    expect(() => m.summary()).toThrow(expect.objectContaining({ code: ErrorCode.DISPOSED }));
  });
});
