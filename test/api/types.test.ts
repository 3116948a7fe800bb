// The published types, as a strict consumer meets them: test/types/ (strict,
// exactOptionalPropertyTypes, module nodenext, no skipLibCheck) imports 'cellstate' through the
// package's "exports" (the built dist/ and its .d.ts files) and holds the README's examples and
// expectTypeOf tests; tsc --noEmit must accept it. The declarations must not show @internal
// members (stripInternal).
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

import { Dense, LSTM, Sequential, Tensor, fromBuffer, toBuffer } from '../../lib/index';
import { repoRoot } from '../helpers/fixtures';

const tsc = path.join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');

function declarations(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.d.ts'))
    .map((e) => path.join(e.parentPath, e.name));
}

describe('published types', () => {
  it('a strict nodenext consumer compiles the README examples and the type tests', () => {
    const r = spawnSync(process.execPath, [tsc, '-p', path.join(repoRoot, 'test', 'types')], {
      cwd: repoRoot,
      encoding: 'utf8',
    });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('the declarations hold no @internal member', () => {
    const files = declarations(path.join(repoRoot, 'dist'));
    expect(files.length).toBeGreaterThan(20);
    for (const f of files) expect(readFileSync(f, 'utf8'), f).not.toContain('@internal');
    const sequential = readFileSync(
      path.join(repoRoot, 'dist', 'model', 'sequential.d.ts'),
      'utf8',
    );
    expect(sequential).not.toMatch(/\bforwardGen\b|\blastOutputs\b|\btokenInput\b/);
  });
});

// Types declared in dist/ that are internal (between modules of lib/, never in a public
// signature): every other declared interface, type or class must be exported by the index.
const INTERNAL_TYPES = new Set(
  (
    'NativeConfig NativeForwardArgs NativeBackwardArgs NativeLayer NativeAddon Dim OptionReader ' +
    'Random TensorMsg AttributeMsg NodeMsg DimMsg ValueInfoMsg GraphMsg ModelMsg ' +
    'SafetensorsContent NativePackedMatrix FlatParameters Activation TokenBatch BatchContext ' +
    'NativeSnapshot NativeStream WorkerInit WorkerMessage ProgressBar Entry SafetensorsHeader JsLayer Int8JsLayer ' +
    // the cell registry (lib/cells), read by lib/ only
    'CellSpec UnitParameter TableEntry OnnxSlot OnnxAttribute OnnxNodeView OnnxMapping PyTorchMapping ' +
    'KerasMapping ' +
    // the ONNX graph runner's internals (lib/io/onnx-graph, onnx-ops, onnx-recurrent)
    'OnnxGraph ElemType OnnxValue OpContext OpFunction ConstInput NodeLayer RecurrentNode NodeReporter ' +
    'SharedLayer QuantInput ' +
    // what lib/model and lib/train share of a Sequential's internals
    'BatchLayer TrainableModel ForwardCall BackwardCall ' +
    // int8 plumbing (lib/layers/quant.ts, lib/io/safetensors.ts)
    'Int8Entry NativeQuantizedMatrix QuantizableLayer'
  ).split(' '),
);

describe('every public type is exported', () => {
  it('each interface, type and class of the declarations is exported by the index, or internal', () => {
    const index = readFileSync(path.join(repoRoot, 'dist', 'index.d.ts'), 'utf8');
    const exported = new Set([...index.matchAll(/\b(\w+)\b/g)].map((m) => m[1]));
    const missing: string[] = [];
    for (const file of declarations(path.join(repoRoot, 'dist'))) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(
        /^export (?:declare )?(?:abstract )?(?:interface|type|class) (\w+)/gm,
      ))
        if (!exported.has(m[1]) && !INTERNAL_TYPES.has(m[1]))
          missing.push(`${m[1]} (${path.relative(repoRoot, file)})`);
    }
    expect(missing).toEqual([]);
    for (const name of INTERNAL_TYPES) expect(exported.has(name), name).toBe(false);
  });
});

describe('options given as undefined are absent, as their types say (| undefined)', () => {
  it('constructors, forward, fit, predict and load', async () => {
    const u = undefined;
    const lstm = new LSTM({ inputSize: 2, hiddenSize: 3, seed: 1, numLayers: u, dropout: u });
    expect(lstm.config.numLayers).toBe(1);
    const x = new Tensor(new Float32Array(2 * 3 * 2).fill(0.5), [2, 3, 2]);
    const r = lstm.forward(x, { lengths: u, h0: u, c0: u, train: u, into: u });
    expect(r.output.data).toEqual(lstm.forward(x).output.data);
    const m = new Sequential(
      [lstm, new Dense({ inputSize: 3, outputSize: 1, lastStep: u, activation: u, seed: 2 })],
      { batchFirst: u },
    );
    expect(m.batchFirst).toBeUndefined();
    const h = await m.fit(
      { x, y: new Tensor(new Float32Array(2 * 3), [2, 3, 1]), lengths: u },
      { loss: 'mse', epochs: u, clipNorm: u, verbose: 0, seed: 1, schedule: u, signal: u },
    );
    expect(h.loss).toHaveLength(1);
    expect(m.predict(x, { lengths: u, batchSize: u }).shape).toEqual([2, 3, 1]);
    expect(
      fromBuffer(toBuffer(m, { optimizer: u }), { config: u, optimizer: u, expect: u }),
    ).toBeInstanceOf(Sequential);
  });
});
