// An ES module user of the installed package: named and default imports of 'cellstate', then
// the fixtures named on the command line. Prints one JSON line; exits 1 on any failure.
import { createRequire } from 'node:module';
import cellstateDefault, { GRU, LSTM, RNN, Tensor, info } from 'cellstate';

const require = createRequire(import.meta.url);
const { checkFixture } = require('./fixture-check.cjs');

const named = { LSTM, GRU, RNN, Tensor, info };
for (const [name, value] of Object.entries(named)) {
  if (typeof value !== 'function') throw new Error(`import { ${name} } from 'cellstate' missing`);
  if (cellstateDefault[name] !== value) throw new Error(`default export's ${name} differs`);
}
const results = process.argv.slice(2).map((file) => checkFixture(named, file));
console.log(JSON.stringify({ loader: 'import', arch: process.arch, info: info(), results }));
