// The cell registry (lib/cells) against the native kernel and against itself: each cell's
// parameter table is the kernel's, its keys are its config's, and its ONNX permutations are
// inverses of each other.
import { describe, expect, it } from 'vitest';

import {
  CELLS,
  COMMON_KEYS,
  COMMON_NATIVE_KEYS,
  OPTIONAL_KEYS,
  type RecurrentConfig,
  findCell,
  nativeConfig,
  parameterCount,
  parameterTable,
  resolveConfig,
} from '../../lib/cells';
import { recurrentFromConfig } from '../../lib/layers/recurrent';

const base = { inputSize: 3, hiddenSize: 5, seed: 1 };
const shapes = [
  {},
  { numLayers: 2 },
  { bidirectional: true },
  { numLayers: 3, bidirectional: true },
];
const variants: Record<string, Record<string, unknown>[]> = {
  lstm: [
    {},
    { projSize: 2 },
    { peephole: true },
    { coupled: true },
    { coupled: true, peephole: true, projSize: 4 },
    { inputGate: false, peephole: true },
    { forgetGate: false },
    { outputGate: false, peephole: true },
    { inputGate: false, forgetGate: false, outputGate: false },
    { inputActivation: false, outputActivation: false },
    { gateActivation: 'hardSigmoid', hiddenActivation: 'softsign', clip: 2 },
  ],
  gru: [{}, { resetAfter: false }, { cellActivation: 'softsign', clip: 1 }],
  rnn: [{}, { nonlinearity: 'relu' }, { nonlinearity: { name: 'elu', alpha: 0.5 }, clip: 3 }],
};

function configs(): RecurrentConfig[] {
  const out: RecurrentConfig[] = [];
  for (const spec of CELLS)
    for (const v of variants[spec.name] ?? [{}])
      for (const s of shapes)
        out.push(resolveConfig({ cell: spec.name, ...base, ...s, ...v }, 'test'));
  return out;
}

describe('the cell registry', () => {
  it('knows every cell this test covers, and each cell is found by its name and ONNX operator', () => {
    expect(CELLS.map((c) => c.name).sort()).toEqual(Object.keys(variants).sort());
    for (const c of CELLS) expect(findCell(c.name)).toBe(c);
    expect(findCell('lstm ')).toBeUndefined();
  });

  it("each parameter table is the kernel's: names, shapes and order; the count is its sum", () => {
    for (const config of configs()) {
      const layer = recurrentFromConfig(config)!;
      try {
        const params = layer.parameters();
        const table = parameterTable(config);
        const what = JSON.stringify(config);
        expect(
          table.map((p) => p.name),
          what,
        ).toEqual(Object.keys(params));
        expect(
          table.map((p) => [...p.shape]),
          what,
        ).toEqual(Object.values(params).map((t) => [...t.shape]));
        let offset = 0;
        for (const p of table) {
          expect(p.offset).toBe(offset);
          offset += p.size;
        }
        expect(parameterCount(config), what).toBe(offset);
      } finally {
        layer.dispose();
      }
    }
  });

  it('a config holds exactly the common keys and the cell keys, in that order', () => {
    // The optional keys (activation roles, clip) only when not at their default.
    const present = (config: RecurrentConfig) => (k: string) =>
      !OPTIONAL_KEYS.includes(k) || k in config;
    for (const config of configs()) {
      const spec = findCell(config.cell)!;
      expect(Object.keys(config)).toEqual([...COMMON_KEYS, ...spec.keys].filter(present(config)));
      const n = nativeConfig(config);
      expect(Object.keys(n)).toEqual(
        [...COMMON_NATIVE_KEYS, ...spec.nativeKeys].filter(present(config)),
      );
      for (const k of spec.nativeKeys) expect(spec.keys).toContain(k);
      for (const k of spec.initKeys) expect(spec.keys).toContain(k);
    }
  });

  it('the state size is what forward returns', () => {
    for (const config of configs()) {
      const spec = findCell(config.cell)!;
      const layer = recurrentFromConfig(config)!;
      const x = [[[0.1, 0.2, 0.3]], [[0.3, 0.2, 0.1]]];
      const out = layer.forward(x);
      const D = config.bidirectional ? 2 : 1;
      expect(out.h.shape[2]).toBe(spec.stateSize(config as never));
      expect(out.output.shape[2]).toBe(D * spec.stateSize(config as never));
      expect(out.c !== undefined).toBe(spec.cellState);
      layer.dispose();
    }
  });

  it("ONNX: every block is read from a slot the export wrote, with the export's sign", () => {
    for (const config of configs()) {
      const spec = findCell(config.cell)!;
      if (spec.onnx.unexportable(config as never) !== null) continue;
      const slots = spec.onnx.gateSlots(config as never);
      expect(slots.length).toBe(spec.onnx.slots);
      const blocks = parameterTable(config)[0].shape[0] / config.hiddenSize;
      for (let b = 0; b < blocks; ++b) expect(slots.some((s) => s.block === b)).toBe(true);
      const p = spec.onnx.peepholeSlots(config as never);
      expect(p.length === 0 || p.length === spec.onnx.peepholes).toBe(true);
    }
  });

  it('refuses a config whose cell is no cell, naming the cells', () => {
    expect(() => resolveConfig({ cell: 'lstn', ...base }, 'where')).toThrow(
      /^where: cell must be 'lstm', 'gru' or 'rnn', got string "lstn"$/,
    );
  });
});
