// A CommonJS TypeScript consumer: require('cellstate') and the worker script's path.
import cellstate = require('cellstate');

const layer: cellstate.LSTM = new cellstate.LSTM({ inputSize: 1, hiddenSize: 2 });
const result: cellstate.LSTMForwardResult = layer.forward([[[1]]]);
const c: cellstate.Tensor<3> = result.c;
const script: string = require.resolve('cellstate/worker');
console.log(c.shape, script);
