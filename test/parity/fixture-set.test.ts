// The repository's own fixture set (test/fixtures): the files scripts/fixtures/generate.py
// declares are all there, each names itself, and the tests read them by default, so a clone
// with nothing beside it runs every fixture test.
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';

import { describe, expect, it } from 'vitest';

import { repoRoot } from '../helpers/fixtures';

const dir = path.join(repoRoot, 'test', 'fixtures');
const generator = readFileSync(path.join(repoRoot, 'scripts', 'fixtures', 'generate.py'), 'utf8');

/** Case names of generate.py's CASES table (or, ln, of its LN_CASES table), in its order. */
function generatorCases(ln = false): string[] {
  const at = generator.indexOf('\nLN_CASES = [');
  const text = ln ? generator.slice(at) : generator.slice(0, at < 0 ? undefined : at);
  return [...text.matchAll(/^\s+case\('([a-z0-9_]+)'/gm)].map((m) => m[1]);
}

describe('test/fixtures', () => {
  it('holds exactly the cases of scripts/fixtures/generate.py', () => {
    const cases = generatorCases();
    expect(cases.length).toBeGreaterThanOrEqual(40);
    const files = readdirSync(dir)
      .filter((f) => f.endsWith('.json'))
      .sort();
    expect(files).toEqual(cases.map((c) => `${c}.json`).sort());
  });

  it('has files that name themselves and a README that lists each one', () => {
    const readme = readFileSync(path.join(dir, 'README.md'), 'utf8');
    for (const name of generatorCases()) {
      const f = JSON.parse(readFileSync(path.join(dir, `${name}.json`), 'utf8')) as {
        name: string;
        cell: string;
      };
      expect(f.name).toBe(name);
      expect(['lstm', 'gru', 'rnn']).toContain(f.cell);
      expect(readme).toContain(`\`${name}.json\``);
    }
  });

  it("has the layer-normalized LSTM's set in layernorm/ (generate.py --set layernorm)", () => {
    const cases = generatorCases(true);
    expect(cases.length).toBeGreaterThanOrEqual(6);
    const ln = path.join(dir, 'layernorm');
    const files = readdirSync(ln)
      .filter((f) => f.endsWith('.json'))
      .sort();
    expect(files).toEqual(cases.map((c) => `${c}.json`).sort());
    const readme = readFileSync(path.join(ln, 'README.md'), 'utf8');
    for (const name of cases) {
      const f = JSON.parse(readFileSync(path.join(ln, `${name}.json`), 'utf8')) as {
        name: string;
        config: { layerNorm?: boolean };
      };
      expect(f.name).toBe(name);
      expect(f.config.layerNorm).toBe(true);
      expect(readme).toContain(`\`${name}.json\``);
    }
  });

  it('is where the fixture tests read by default', async () => {
    const saved = process.env.CELLSTATE_FIXTURES;
    delete process.env.CELLSTATE_FIXTURES;
    try {
      const { vi } = await import('vitest');
      vi.resetModules();
      const fresh = await import('../helpers/fixtures');
      expect(fresh.fixturesDir).toBe(dir);
    } finally {
      if (saved !== undefined) process.env.CELLSTATE_FIXTURES = saved;
    }
  });

  it('is what the C++ tests read by default (CMake passes its path)', () => {
    const cmake = readFileSync(path.join(repoRoot, 'CMakeLists.txt'), 'utf8');
    expect(cmake).toContain(
      'set(CELLSTATE_FIXTURES_DIR "${CMAKE_CURRENT_SOURCE_DIR}/test/fixtures"',
    );
  });
});
