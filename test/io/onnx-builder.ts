// A small ONNX model builder for tests: nodes, initializers, typed graph inputs and outputs,
// encoded with the project's schema (lib/io/onnx-schema.ts).
import * as ort from 'onnxruntime-web';
import { expect } from 'vitest';

import {
  type AttributeMsg,
  AttributeType,
  DataType,
  type NodeMsg,
  type TensorMsg,
  type ValueInfoMsg,
  modelProto,
} from '../../lib/io/onnx-schema';

export { maxDiff } from '../helpers/compare';

export const aInt = (name: string, i: number): AttributeMsg => ({
  name,
  type: AttributeType.INT,
  i,
});
export const aFloat = (name: string, f: number): AttributeMsg => ({
  name,
  type: AttributeType.FLOAT,
  f,
});
export const aInts = (name: string, ints: number[]): AttributeMsg => ({
  name,
  type: AttributeType.INTS,
  ints,
});
export const aFloats = (name: string, floats: number[]): AttributeMsg => ({
  name,
  type: AttributeType.FLOATS,
  floats,
});
export const aStr = (name: string, s: string): AttributeMsg => ({
  name,
  type: AttributeType.STRING,
  s: new TextEncoder().encode(s),
});
export const aStrs = (name: string, strings: string[]): AttributeMsg => ({
  name,
  type: AttributeType.STRINGS,
  strings: strings.map((s) => new TextEncoder().encode(s)),
});
export const aTensor = (name: string, t: TensorMsg): AttributeMsg => ({
  name,
  type: AttributeType.TENSOR,
  t,
});

let nodeCount = 0;
export function node(
  op: string,
  input: string[],
  output: string[],
  attribute: AttributeMsg[] = [],
  name = `${op.toLowerCase()}_${nodeCount++}`,
): NodeMsg {
  return { name, op_type: op, input, output, attribute };
}

export type Elem = 'float' | 'int64' | 'int32' | 'bool';
const CODES: Record<Elem, number> = {
  float: DataType.FLOAT,
  int64: DataType.INT64,
  int32: DataType.INT32,
  bool: 9,
};

export function tensor(
  name: string,
  dims: number[],
  data: ArrayLike<number>,
  elem: Elem = 'float',
): TensorMsg {
  const n = data.length;
  const item = elem === 'int64' ? 8 : elem === 'bool' ? 1 : 4;
  const raw = new Uint8Array(n * item);
  const v = new DataView(raw.buffer);
  for (let i = 0; i < n; ++i) {
    if (elem === 'float') v.setFloat32(4 * i, data[i], true);
    else if (elem === 'int64') v.setBigInt64(8 * i, BigInt(data[i]), true);
    else if (elem === 'int32') v.setInt32(4 * i, data[i], true);
    else v.setUint8(i, data[i]);
  }
  return { name, dims, data_type: CODES[elem], raw_data: raw };
}

export function vi(name: string, elem: Elem, dims: (number | string)[] | null): ValueInfoMsg {
  return {
    name,
    type: {
      tensor_type: {
        elem_type: CODES[elem],
        ...(dims
          ? {
              shape: {
                dim: dims.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })),
              },
            }
          : {}),
      },
    },
  };
}

export interface GraphSpec {
  nodes: NodeMsg[];
  inputs: ValueInfoMsg[];
  outputs: ValueInfoMsg[];
  initializers?: TensorMsg[];
  opset?: number;
}

export function model(g: GraphSpec): Uint8Array {
  const T = modelProto();
  return T.encode(
    T.fromObject({
      ir_version: 8,
      opset_import: [{ domain: '', version: g.opset ?? 17 }],
      producer_name: 'test',
      graph: {
        name: 'g',
        node: g.nodes,
        initializer: g.initializers ?? [],
        input: g.inputs,
        output: g.outputs,
      },
    }),
  ).finish();
}

/** A seeded generator of uniform values in [lo, hi). */
export function rng(seed: number) {
  let s = seed >>> 0 || 1;
  const next = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
  return (n: number, lo = -1, hi = 1) =>
    Float32Array.from({ length: n }, () => lo + (hi - lo) * next());
}

export async function runOrt(
  bytes: Uint8Array,
  feeds: Record<string, ort.Tensor>,
): Promise<ort.InferenceSession.OnnxValueMapType> {
  const session = await ort.InferenceSession.create(bytes);
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}
