// A CommonJS user of the installed package: require('cellstate'), then compute the fixtures
// named on the command line. Prints one JSON line; exits 1 on any failure.
'use strict';
const { checkFixture } = require('./fixture-check.cjs');

const cellstate = require('cellstate');
for (const name of ['LSTM', 'GRU', 'RNN', 'Tensor', 'info'])
  if (typeof cellstate[name] !== 'function')
    throw new Error(`require('cellstate').${name} missing`);
const results = process.argv.slice(2).map((file) => checkFixture(cellstate, file));
const info = cellstate.info();
// The file loaded: CELLSTATE_BINARY when set, else what node-gyp-build picks in the package.
const binary =
  process.env.CELLSTATE_BINARY ||
  require('node-gyp-build').resolve(
    require('node:path').dirname(require.resolve('cellstate/package.json')),
  );
console.log(
  JSON.stringify({
    loader: 'require',
    arch: process.arch,
    node: process.version,
    binary,
    info,
    results,
  }),
);
