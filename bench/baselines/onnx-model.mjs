// A tiny ONNX writer for the onnxruntime-node baseline of `npm run bench`: LSTM models (opset 14)
// built in memory from a cellstate layer's parameters, so both compute the same function and
// the benchmark can check that they agree. No dependencies: protobuf encoded by hand (only the
// fields of onnx.proto used here).
//
//   lstmSequenceModel(params, { T, B, I, H })   F1: X [T,B,I] -> Y [T,1,B,H], zero initial state
//   lstmStepModel(params, { L, I, H })           S1–S3: one step of an L-layer stack, batch 1:
//       inputs x [1,1,I], h0..h{L-1}, c0..c{L-1} [1,1,H]; outputs hn0.., cn0.. [1,1,H]
// params: cellstate's parameters() (docs/cells.md / PyTorch names and layouts, gate order i,f,g,o);
// ONNX orders the gate blocks i,o,f,c and stacks both biases in B [1, 8H].

const WIRE_VARINT = 0;
const WIRE_BYTES = 2;
const FLOAT = 1; // TensorProto.DataType
const ATTR_INT = 2; // AttributeProto.AttributeType

const utf8 = new TextEncoder();

class Writer {
  constructor() {
    this.parts = [];
  }
  varint(v) {
    let n = BigInt(v);
    const out = [];
    do {
      let byte = Number(n & 0x7fn);
      n >>= 7n;
      if (n > 0n) byte |= 0x80;
      out.push(byte);
    } while (n > 0n);
    this.parts.push(Uint8Array.from(out));
    return this;
  }
  key(field, wire) {
    return this.varint((field << 3) | wire);
  }
  int(field, v) {
    return this.key(field, WIRE_VARINT).varint(v);
  }
  bytes(field, b) {
    this.key(field, WIRE_BYTES).varint(b.length);
    this.parts.push(b);
    return this;
  }
  string(field, s) {
    return this.bytes(field, utf8.encode(s));
  }
  message(field, build) {
    const w = new Writer();
    build(w);
    return this.bytes(field, w.finish());
  }
  finish() {
    let size = 0;
    for (const p of this.parts) size += p.length;
    const out = new Uint8Array(size);
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
}

// TensorProto: dims = 1, data_type = 2, name = 8, raw_data = 9 (little-endian floats).
function tensor(w, name, dims, data) {
  for (const d of dims) w.int(1, d);
  w.int(2, FLOAT);
  w.string(8, name);
  const raw = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  w.bytes(9, raw.slice()); // a copy: the platform is little-endian (x64, arm64), as ONNX wants
}

// ValueInfoProto { name = 1, type = 2: TypeProto { tensor_type = 1: { elem_type = 1,
// shape = 2: { dim = 1: { dim_value = 1 } } } } }
function valueInfo(w, name, dims) {
  w.string(1, name);
  w.message(2, (t) =>
    t.message(1, (tt) => {
      tt.int(1, FLOAT);
      tt.message(2, (s) => {
        for (const d of dims) s.message(1, (dim) => dim.int(1, d));
      });
    }),
  );
}

// NodeProto: input = 1, output = 2, name = 3, op_type = 4, attribute = 5
// (AttributeProto: name = 1, i = 3, type = 20).
function lstmNode(w, name, inputs, outputs, H) {
  for (const i of inputs) w.string(1, i);
  for (const o of outputs) w.string(2, o);
  w.string(3, name);
  w.string(4, 'LSTM');
  w.message(5, (a) => {
    a.string(1, 'hidden_size');
    a.int(3, H);
    a.int(20, ATTR_INT);
  });
}

function data(t) {
  return t instanceof Float32Array ? t : t.data;
}

// PyTorch blocks i,f,g,o -> ONNX blocks i,o,f,c.
const ONNX_FROM_TORCH = [0, 3, 1, 2];

function reorderGates(src, H, cols) {
  const block = H * cols;
  const out = new Float32Array(4 * block);
  ONNX_FROM_TORCH.forEach((from, to) =>
    out.set(src.subarray(from * block, (from + 1) * block), to * block),
  );
  return out;
}

// W [1,4H,I], R [1,4H,H], B [1,8H] of layer l.
function layerWeights(params, l, I, H) {
  const get = (n) => {
    const t = params[`${n}_l${l}`];
    if (!t) throw new Error(`onnx-model: missing parameter ${n}_l${l}`);
    return data(t);
  };
  const B = new Float32Array(8 * H);
  B.set(reorderGates(get('bias_ih'), H, 1), 0);
  B.set(reorderGates(get('bias_hh'), H, 1), 4 * H);
  return { W: reorderGates(get('weight_ih'), H, I), R: reorderGates(get('weight_hh'), H, H), B };
}

function model(buildGraph) {
  const w = new Writer();
  w.int(1, 8); // ir_version
  w.string(2, 'cellstate-bench'); // producer_name
  w.message(7, buildGraph); // graph
  w.message(8, (o) => {
    o.string(1, '');
    o.int(2, 14);
  }); // opset_import
  return w.finish();
}

// GraphProto.initializer (field 5): one TensorProto each for W, R and B of layer l.
function initializers(g, l, In, H, weights) {
  g.message(5, (t) => tensor(t, `W${l}`, [1, 4 * H, In], weights.W));
  g.message(5, (t) => tensor(t, `R${l}`, [1, 4 * H, H], weights.R));
  g.message(5, (t) => tensor(t, `B${l}`, [1, 8 * H], weights.B));
}

/** F1-style inference over a whole sequence (zero initial state): X [T,B,I] -> Y [T,1,B,H]. */
export function lstmSequenceModel(params, { T, B, I, H }) {
  const weights = layerWeights(params, 0, I, H);
  // GraphProto: node = 1, name = 2, initializer = 5, input = 11, output = 12.
  return model((g) => {
    g.message(1, (n) => lstmNode(n, 'lstm0', ['X', 'W0', 'R0', 'B0'], ['Y'], H));
    g.string(2, 'lstm_sequence');
    initializers(g, 0, I, H, weights);
    g.message(11, (v) => valueInfo(v, 'X', [T, B, I]));
    g.message(12, (v) => valueInfo(v, 'Y', [T, 1, B, H]));
  });
}

/** One streaming step of an L-layer LSTM stack, batch 1, state in and out. */
export function lstmStepModel(params, { L, I, H }) {
  const weights = [];
  for (let l = 0; l < L; ++l) weights.push(layerWeights(params, l, l === 0 ? I : H, H));
  return model((g) => {
    for (let l = 0; l < L; ++l) {
      // A one-step Y_h [1,1,H] is also the next layer's X [T=1,B=1,H].
      const input = l === 0 ? 'x' : `hn${l - 1}`;
      const inputs = [input, `W${l}`, `R${l}`, `B${l}`, '', `h${l}`, `c${l}`];
      g.message(1, (n) => lstmNode(n, `lstm${l}`, inputs, ['', `hn${l}`, `cn${l}`], H));
    }
    g.string(2, 'lstm_step');
    for (let l = 0; l < L; ++l) initializers(g, l, l === 0 ? I : H, H, weights[l]);
    g.message(11, (v) => valueInfo(v, 'x', [1, 1, I]));
    for (let l = 0; l < L; ++l) {
      g.message(11, (v) => valueInfo(v, `h${l}`, [1, 1, H]));
      g.message(11, (v) => valueInfo(v, `c${l}`, [1, 1, H]));
    }
    for (let l = 0; l < L; ++l) {
      g.message(12, (v) => valueInfo(v, `hn${l}`, [1, 1, H]));
      g.message(12, (v) => valueInfo(v, `cn${l}`, [1, 1, H]));
    }
  });
}
