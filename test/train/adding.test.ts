// The adding problem at T = 100 (Hochreiter and Schmidhuber's long-time-lag test): with a fixed
// seed, an LSTM and a GRU learn it (validation MSE < 0.01) within a budget of updates while a tanh
// RNN, with the same budget, stays near the baseline of always answering 1.0 (MSE 1/6 ≈ 0.167).
// Asserted on the loss only; training draws fresh data every 100 updates. The generous per-test
// time limits are for slow machines, not expectations.
import { describe, expect, it } from 'vitest';

import { Adam, Dense, GRU, LSTM, RNN, Sequential, addingProblem } from '../../lib/index';

const T = 100;
const HIDDEN = 32;
const BATCH = 32;
/** Updates each cell gets at most. To MSE < 0.005, LSTM needed 1000–1500 and GRU 400 over 4 seeds. */
const BUDGET = 3000;
const ROUND = 100; // updates per fit call, each on fresh data

const val = addingProblem({ n: 500, T, seed: 999 });

async function train(cell: 'lstm' | 'gru' | 'rnn', stopBelow: number | null) {
  const Cell = { lstm: LSTM, gru: GRU, rnn: RNN }[cell];
  const model = new Sequential([
    new Cell({ inputSize: 2, hiddenSize: HIDDEN, seed: 1 }),
    new Dense({ inputSize: HIDDEN, outputSize: 1, lastStep: true, seed: 2 }),
  ]);
  const optimizer = new Adam({ lr: 0.01 });
  let steps = 0;
  let mse = model.evaluate(val, { loss: 'mse' });
  for (let round = 0; steps < BUDGET; ++round) {
    const data = addingProblem({ n: ROUND * BATCH, T, seed: round + 1 });
    const h = await model.fit(data, {
      loss: 'mse',
      optimizer,
      batchSize: BATCH,
      seed: round,
      verbose: 0,
    });
    steps += h.steps;
    mse = model.evaluate(val, { loss: 'mse' });
    if (stopBelow !== null && mse < stopBelow) break;
  }
  return { steps, mse };
}

describe('the adding problem at T = 100', () => {
  it('the baseline of answering 1.0 scores about 1/6', () => {
    let s = 0;
    for (const v of val.y.data) s += (v - 1) ** 2;
    expect(s / val.y.data.length).toBeGreaterThan(0.14); // 500 samples: sd of the estimate ≈ 0.007
    expect(s / val.y.data.length).toBeLessThan(0.19);
  });

  it(`an LSTM learns it: validation MSE < 0.01 within ${BUDGET} updates`, async () => {
    const { steps, mse } = await train('lstm', 0.005);
    expect(mse).toBeLessThan(0.01);
    expect(steps).toBeLessThanOrEqual(BUDGET);
  }, 600_000);

  it(`a GRU learns it: validation MSE < 0.01 within ${BUDGET} updates`, async () => {
    const { steps, mse } = await train('gru', 0.005);
    expect(mse).toBeLessThan(0.01);
    expect(steps).toBeLessThanOrEqual(BUDGET);
  }, 600_000);

  it(`a tanh RNN does not: validation MSE stays > 0.1 after the same ${BUDGET} updates`, async () => {
    const { steps, mse } = await train('rnn', null);
    expect(steps).toBe(BUDGET);
    expect(mse).toBeGreaterThan(0.1);
  }, 600_000);
});
