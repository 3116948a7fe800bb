// The Stream API: state, snapshots, shared weights, refusals and bad input.
import { describe, expect, it } from 'vitest';

import {
  ErrorCode,
  GRU,
  LSTM,
  RNN,
  StreamSnapshot,
  Tensor,
  UnsupportedError,
} from '../../lib/index';
import { Lcg, firstDifference } from './helpers';

describe('Stream state', () => {
  it('reset returns to the zero state', () => {
    const layer = new LSTM({ inputSize: 3, hiddenSize: 4, numLayers: 2, seed: 1 });
    const s = layer.stream({ batch: 2 });
    const x = new Float32Array([1, 2, 3, -1, -2, -3]);
    const first = s.step(x).slice();
    s.step(x);
    s.reset();
    expect(Array.from(s.getState().h.data).every((v) => v === 0)).toBe(true);
    expect(Array.from(s.getState().c!.data).every((v) => v === 0)).toBe(true);
    expect(Array.from(s.step(x))).toEqual(Array.from(first));
  });

  it("getState has forward's layout, and setState continues a forward", () => {
    const rng = new Lcg(3);
    const layer = new LSTM({ inputSize: 3, hiddenSize: 5, projSize: 2, numLayers: 2, seed: 1 });
    const x = rng.floats(4 * 2 * 3);
    const whole = layer.forward(new Tensor(x, [4, 2, 3]));
    const head = layer.forward(new Tensor(x.slice(0, 2 * 2 * 3), [2, 2, 3]));
    const s = layer.stream({ batch: 2 });
    s.setState({ h: head.h, c: head.c });
    s.step(x.subarray(12, 18));
    const y = s.step(x.subarray(18, 24));
    expect(firstDifference(y, whole.output.data.subarray(12, 16))).toBe(-1);
    const state = s.getState();
    expect(state.h.shape).toEqual([2, 2, 2]);
    expect(state.c!.shape).toEqual([2, 2, 5]);
    expect(firstDifference(state.h.data, whole.h.data)).toBe(-1);
    expect(firstDifference(state.c!.data, whole.c!.data)).toBe(-1);
  });

  it('setState takes Float32Arrays and nested arrays; an LSTM without c gets c = 0', () => {
    const layer = new LSTM({ inputSize: 1, hiddenSize: 2, seed: 1 });
    const s = layer.stream();
    s.setState({ h: new Float32Array([1, 2]), c: [[[3, 4]]] });
    expect(Array.from(s.getState().c!.data)).toEqual([3, 4]);
    s.setState({ h: [[[5, 6]]] });
    expect(Array.from(s.getState().h.data)).toEqual([5, 6]);
    expect(Array.from(s.getState().c!.data)).toEqual([0, 0]);
  });

  it('snapshots branch and restore (beam search), reusing memory with into', () => {
    const rng = new Lcg(11);
    const layer = new GRU({ inputSize: 4, hiddenSize: 6, numLayers: 2, seed: 5 });
    const s = layer.stream({ batch: 3 });
    for (let t = 0; t < 3; ++t) s.step(rng.floats(12));
    const root = s.snapshot();
    expect(root).toBeInstanceOf(StreamSnapshot);
    expect(root.rows).toBe(3);
    const xa = rng.floats(12);
    const xb = rng.floats(12);
    const a = s.step(xa).slice();
    s.restore(root);
    const b = s.step(xb).slice();
    s.restore(root);
    expect(Array.from(s.step(xa))).toEqual(Array.from(a));
    // into: the same object comes back, overwritten.
    const again = s.snapshot(root);
    expect(again).toBe(root);
    s.restore(root);
    s.restore(root);
    expect(Array.from(s.step(xb))).not.toEqual(Array.from(b)); // a different state now
  });

  it("streams are independent and share the layer's weights, also after setParameters", () => {
    const layer = new RNN({ inputSize: 2, hiddenSize: 3, seed: 1 });
    const a = layer.stream();
    const b = layer.stream();
    const x = new Float32Array([0.5, -0.5]);
    a.step(x);
    a.step(x);
    const y1 = b.step(x).slice();
    const fresh = layer.stream();
    expect(Array.from(fresh.step(x))).toEqual(Array.from(y1));
    // New weights reach existing streams from their next step.
    const p = layer.parameters();
    layer.setParameters({ ...p, bias_ih_l0: new Tensor(new Float32Array([1, 1, 1]), [3]) });
    b.reset();
    const y2 = b.step(x).slice();
    const want = layer.forward(new Tensor(x, [1, 1, 2])).output.data;
    expect(Array.from(y2)).toEqual(Array.from(want));
    expect(Array.from(y2)).not.toEqual(Array.from(y1));
  });

  it('steps while the layer runs forwardAsync (reads only the packed weights)', async () => {
    const layer = new LSTM({ inputSize: 16, hiddenSize: 32, seed: 2 });
    const x = new Tensor(new Float32Array(50 * 8 * 16).fill(0.25), [50, 8, 16]);
    const solo = layer.stream();
    const frame = new Float32Array(16).fill(0.5);
    const want = Array.from({ length: 5 }, () => solo.step(frame).slice());
    const s = layer.stream();
    const pending = layer.forwardAsync(x);
    const got = Array.from({ length: 5 }, () => s.step(frame).slice());
    await pending;
    expect(got).toEqual(want);
  });

  it('step returns the same preallocated buffer every time', () => {
    const layer = new GRU({ inputSize: 2, hiddenSize: 2, seed: 1 });
    const s = layer.stream();
    const y1 = s.step(new Float32Array(2));
    const y2 = s.step(new Float32Array(2));
    expect(y1).toBe(y2);
    expect(y1).toBe(s.output);
    expect(s.batch).toBe(1);
    expect(s.inputSize).toBe(2);
    expect(s.outputSize).toBe(2);
  });
});

describe('Stream refusals and bad input', () => {
  it('a bidirectional layer refuses stream() with ERR_CELLSTATE_UNSUPPORTED', () => {
    for (const layer of [
      new LSTM({ inputSize: 2, hiddenSize: 3, bidirectional: true }),
      new GRU({ inputSize: 2, hiddenSize: 3, bidirectional: true, numLayers: 2 }),
      new RNN({ inputSize: 2, hiddenSize: 3, bidirectional: true }),
    ]) {
      let error: unknown;
      try {
        layer.stream();
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(UnsupportedError);
      expect((error as UnsupportedError).code).toBe(ErrorCode.UNSUPPORTED);
      expect((error as Error).message).toMatch(/bidirectional .* cannot stream/);
    }
  });

  it('a wrong frame size is a RangeError naming the expected and actual size', () => {
    const s = new LSTM({ inputSize: 4, hiddenSize: 3, seed: 1 }).stream({ batch: 2 });
    const attempt = (x: unknown) => () => s.step(x as Float32Array);
    expect(attempt(new Float32Array(7))).toThrow(RangeError);
    expect(attempt(new Float32Array(7))).toThrow(
      'step: x must have shape [B=2, I=4] (a Float32Array of 8 elements), got [7]',
    );
    expect(attempt(new Tensor(new Float32Array(8), [4, 2]))).toThrow(
      'step: x must have shape [B=2, I=4], got [4, 2]',
    );
    expect(attempt(new Float32Array(0))).toThrow(RangeError);
    try {
      s.step(new Float32Array(9));
    } catch (e) {
      expect((e as { code: string }).code).toBe(ErrorCode.SHAPE);
    }
    // Tensors [B, I] and nested arrays are accepted.
    expect(s.step(new Tensor(new Float32Array(8), [2, 4])).length).toBe(6);
    expect(
      s.step([
        [1, 2, 3, 4],
        [5, 6, 7, 8],
      ] as never).length,
    ).toBe(6);
  });

  it('wrong kinds of input are TypeErrors', () => {
    const s = new GRU({ inputSize: 2, hiddenSize: 3, seed: 1 }).stream();
    for (const bad of [null, undefined, 5, 'x', new Float64Array(2), {}])
      expect(() => s.step(bad as never)).toThrow(TypeError);
    expect(() => s.setState(null as never)).toThrow(TypeError);
    expect(() => s.setState({ h: [[[1, 2, 3]]], c: [[[1, 2, 3]]] } as never)).toThrow(
      'c is a cell state, which only an LSTM has',
    );
    expect(() => s.setState({ h: [[[1, 2]]] })).toThrow(
      'setState: h must have shape [L=1, B=1, R=3], got [1, 1, 2]',
    );
    expect(() => s.setState({ h: new Float32Array(4) })).toThrow(RangeError);
    expect(() => s.restore({} as never)).toThrow(TypeError);
    expect(() => s.snapshot({} as never)).toThrow(TypeError);
  });

  it('bad options are refused', () => {
    const layer = new LSTM({ inputSize: 2, hiddenSize: 3, seed: 1 });
    expect(() => layer.stream({ batch: 0 })).toThrow(RangeError);
    expect(() => layer.stream({ batch: 1.5 })).toThrow(RangeError);
    expect(() => layer.stream({ batch: '2' } as never)).toThrow(TypeError);
    expect(() => layer.stream({ batchSize: 2 } as never)).toThrow(/unknown option 'batchSize'/);
    expect(() => layer.streamPool({ capacity: -1 })).toThrow(RangeError);
  });

  it('snapshots of another configuration or batch are refused', () => {
    const a = new LSTM({ inputSize: 2, hiddenSize: 3, seed: 1 }).stream({ batch: 2 });
    const b = new LSTM({ inputSize: 2, hiddenSize: 4, seed: 1 }).stream({ batch: 2 });
    const c = new LSTM({ inputSize: 2, hiddenSize: 3, seed: 1 }).stream({ batch: 1 });
    expect(() => b.restore(a.snapshot())).toThrow(/another configuration/);
    expect(() => c.restore(a.snapshot())).toThrow(
      'restore: snapshot must hold the state of 1 sequence, got 2',
    );
    expect(() => a.restore(new StreamSnapshot(undefined as never))).toThrow();
  });
});
