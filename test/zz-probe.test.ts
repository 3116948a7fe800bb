import { it, expect } from 'vitest';
import { Dense, Dropout, Embedding, LSTM, GRU, Sequential, StreamWorker } from '../lib/index';

it('exchange', async () => {
  const m = new Sequential([new Embedding({ numEmbeddings: 7, embeddingDim: 3, seed: 1 }), new Dropout({ rate: 0.3 }), new LSTM({ inputSize: 3, hiddenSize: 4, seed: 2 }), new Dense({ inputSize: 4, outputSize: 2, seed: 3 })], { batchFirst: true });
  const s = m.stream();
  const pool = m.streamPool({ capacity: 1 });
  const a = pool.open();
  const b = pool.open();
  const ids = [1, 4, 2, 6];
  let ys: number[][] = [];
  for (const id of ids) ys.push(Array.from(s.step(new Int32Array([id]))));
  let ya: number[][] = [];
  for (const id of ids) { b.write(new Int32Array([0])); a.write(new Int32Array([id])); pool.step(); ya.push(Array.from(a.output)); }
  console.log(JSON.stringify(ys), JSON.stringify(ya));
  const snap = s.snapshot();
  b.restore(snap);
  const snapA = a.snapshot();
  s.restore(snapA);
  const y1 = Array.from(s.step(new Int32Array([3])));
  const y2 = Array.from(b.step(new Int32Array([3])));
  console.log(y1, y2);
  const w = await StreamWorker.create(m);
  let yw: number[][] = [];
  for (const id of ids) yw.push(Array.from(await w.step(new Int32Array([id]))));
  console.log('worker', JSON.stringify(yw));
  await w.close();
});
