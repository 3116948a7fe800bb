// The architecture's promises about lib/, checked on the sources: nothing outside lib/cells names
// a cell (so adding a cell or an option touches the cell's own file), and lib/ has no import cycle.
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

import { CELLS } from '../../lib/cells';
import { repoRoot } from '../helpers/fixtures';

const lib = path.join(repoRoot, 'lib');

function sources(): string[] {
  return readdirSync(lib, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => path.join(e.parentPath, e.name));
}

/** A source split into code (strings and comments blanked) and its string literals' contents. */
function split(src: string): { code: string; strings: string[] } {
  let code = '';
  const strings: string[] = [];
  for (let i = 0; i < src.length;) {
    const c = src[i];
    if (c === '/' && src[i + 1] === '/') {
      const end = src.indexOf('\n', i);
      i = end < 0 ? src.length : end;
    } else if (c === '/' && src[i + 1] === '*') {
      const end = src.indexOf('*/', i + 2);
      i = end < 0 ? src.length : end + 2;
      code += ' ';
    } else if (c === "'" || c === '"' || c === '`') {
      let j = i + 1;
      while (j < src.length && src[j] !== c) j += src[j] === '\\' ? 2 : 1;
      strings.push(src.slice(i + 1, j));
      code += c + c;
      i = j + 1;
    } else {
      code += c;
      i++;
    }
  }
  return { code, strings };
}

// Files outside lib/cells that may name a cell, and why: the public classes LSTM, GRU and RNN
// are declared (and map to their cell) in lib/layers/recurrent.ts and exported by lib/index.ts.
const CLASS_FILES = new Set(['layers/recurrent.ts', 'index.ts']);
// The summary's public `type` union lists the layer types ('LSTM' | 'GRU' | ... | 'Dense').
const TITLE_STRING_FILES = new Set(['model/summary.ts']);

describe('nothing outside lib/cells names a cell', () => {
  const names = CELLS.map((c) => c.name);
  const titles = CELLS.map((c) => c.title);

  it('the registry has the cells this test knows how to look for', () => {
    expect(names.length).toBeGreaterThanOrEqual(3);
    for (const c of CELLS) expect(c.name).toBe(c.name.toLowerCase());
  });

  it('no cell name as a string, no branch on a cell, no cell class outside its declaration', () => {
    const found: string[] = [];
    for (const file of sources()) {
      const rel = path.relative(lib, file).split(path.sep).join('/');
      if (rel.startsWith('cells/')) continue;
      const { code, strings } = split(readFileSync(file, 'utf8'));
      for (const s of strings) {
        if (names.includes(s)) found.push(`${rel}: the string '${s}'`);
        if (titles.includes(s) && !TITLE_STRING_FILES.has(rel))
          found.push(`${rel}: the string '${s}'`);
      }
      if (/\bcell\s*[!=]==?\s*['"`]/.test(code)) found.push(`${rel}: compares a cell to a literal`);
      if (/switch\s*\([^)]*\bcell\b[^)]*\)/.test(code)) found.push(`${rel}: switches on a cell`);
      if (!CLASS_FILES.has(rel))
        for (const word of [...names, ...titles])
          if (new RegExp(`\\b${word}\\b`).test(code)) found.push(`${rel}: the identifier ${word}`);
    }
    expect(found).toEqual([]);
  });

  it('the checks catch what they look for', () => {
    const bad = split("if (c.cell === 'lstm') x = 1; // 'gru' in a comment is fine");
    expect(bad.strings).toEqual(['lstm']);
    expect(/\bcell\s*[!=]==?\s*['"`]/.test(bad.code)).toBe(true);
    expect(split("const s = `a ${1}`; /* 'rnn' */").strings).toEqual(['a ${1}']);
  });
});

/** The imports of each lib/ file (`import` / `export ... from` / `require`, types included). */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  const files = new Set(sources());
  const re =
    /\b(?:import|export)\b[^'";]*?\bfrom\s*'(\.[^']*)'|\brequire\('(\.[^']*)'\)|\bimport\s*'(\.[^']*)'/g;
  for (const file of files) {
    const deps: string[] = [];
    for (const m of readFileSync(file, 'utf8').matchAll(re)) {
      const target = path.resolve(path.dirname(file), m[1] ?? m[2] ?? m[3]);
      for (const candidate of [`${target}.ts`, path.join(target, 'index.ts')])
        if (files.has(candidate)) {
          deps.push(candidate);
          break;
        }
    }
    graph.set(file, deps);
  }
  return graph;
}

/** Every cycle found by a depth-first walk, as lists of paths relative to lib/. */
function cycles(graph: Map<string, string[]>): string[][] {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const out: string[][] = [];
  const walk = (n: string): void => {
    state.set(n, 'open');
    stack.push(n);
    for (const d of graph.get(n) ?? []) {
      if (state.get(d) === 'open')
        out.push([...stack.slice(stack.indexOf(d)), d].map((p) => path.relative(lib, p)));
      else if (!state.has(d)) walk(d);
    }
    stack.pop();
    state.set(n, 'done');
  };
  for (const n of graph.keys()) if (!state.has(n)) walk(n);
  return out;
}

describe('lib/ has no import cycle', () => {
  it('the import graph (type imports included) is acyclic', () => {
    const graph = importGraph();
    expect(graph.get(path.join(lib, 'index.ts'))?.length).toBeGreaterThan(10);
    expect(cycles(graph)).toEqual([]);
  });

  it('the walk finds a cycle when there is one', () => {
    const g = new Map([
      ['/a', ['/b']],
      ['/b', ['/c']],
      ['/c', ['/a']],
      ['/d', []],
    ]);
    expect(cycles(g).length).toBe(1);
  });
});
