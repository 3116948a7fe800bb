// Runs one reference fixture (test/fixtures, float64) through an installed cellstate, as a
// user's code would: new layer, setParameters, forward with h0 / c0 / lengths, backward.
// Used by consumer.cjs and consumer.mjs, which scripts/check-package.sh copies into an empty
// project that installed the packed tarball.
'use strict';
const { readFileSync } = require('node:fs');

// Tolerances as test/parity/fixtures.test.ts: float32 against float64 references, relative
// norm error; forward results 1e-5, gradients (accumulated over T steps) 1e-4.
const OUTPUT_REL_NORM = 1e-5;
const GRAD_REL_NORM = 1e-4;

function relativeError(got, want) {
  if (got.length !== want.length) return Infinity;
  let d = 0;
  let n = 0;
  for (let i = 0; i < want.length; ++i) {
    d += (got[i] - want[i]) ** 2;
    n += want[i] ** 2;
  }
  return n === 0 ? Math.sqrt(d) : Math.sqrt(d / n);
}

/** Throws when the installed package computes the fixture wrongly; returns the errors. */
function checkFixture(cellstate, file) {
  const f = JSON.parse(readFileSync(file, 'utf8'));
  const { Tensor } = cellstate;
  const t = (x) => (x ? new Tensor(Float32Array.from(x.data), x.shape) : undefined);
  const Cell = { lstm: cellstate.LSTM, gru: cellstate.GRU, rnn: cellstate.RNN }[f.cell];
  const layer = new Cell({ ...f.config, seed: 1 });
  const params = {};
  for (const [name, p] of Object.entries(f.params)) params[name] = t(p);
  layer.setParameters(params);
  const out = layer.forward(t(f.inputs.x), {
    h0: t(f.inputs.h0),
    c0: t(f.inputs.c0),
    lengths: f.lengths ?? undefined,
    train: true,
  });
  const grads = layer.backward({
    output: t(f.upstream.dOutput),
    h: t(f.upstream.dhN),
    c: t(f.upstream.dcN),
  });
  const errors = {
    output: relativeError(out.output.data, f.outputs.output.data),
    h: relativeError(out.h.data, f.outputs.hN.data),
    dx: relativeError(grads.x.data, f.grads.dx.data),
  };
  if (f.outputs.cN) errors.c = relativeError(out.c.data, f.outputs.cN.data);
  for (const [what, e] of Object.entries(errors)) {
    const limit = what === 'dx' ? GRAD_REL_NORM : OUTPUT_REL_NORM;
    if (!(e <= limit))
      throw new Error(`${f.name}: ${what} relative norm error ${e} exceeds ${limit}`);
  }
  return { name: f.name, errors };
}

module.exports = { checkFixture };
