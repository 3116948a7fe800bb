// The documentation holds together: relative links reach files and headings of this repository
// (nothing outside it), every error code the code can throw is listed in docs/errors.md, and
// the README's first screen takes a user from install to a running example.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(__dirname, '..', '..');

/**
 * Pages that other work adds (the cell definitions and the ONNX mapping); a link to them may
 * point at nothing until they land. Once they exist, their links are checked like any other.
 */
const PENDING = new Set(['docs/cells.md', 'docs/onnx.md']);

function documents(): string[] {
  const docs = readdirSync(path.join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`);
  return ['README.md', 'CONTRIBUTING.md', ...docs].sort();
}

/** The text outside fenced code blocks. */
function prose(text: string): string {
  return text.replace(/^(\s*)(`{3,}|~{3,})[^\n]*\n[\s\S]*?^\s*\2\s*$/gm, '');
}

/** GitHub's anchor for a heading. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[`*_]/g, '')
    .replace(/[^\p{L}\p{N}\- ]/gu, '')
    .replace(/ /g, '-');
}

function anchors(file: string): Set<string> {
  const text = prose(readFileSync(path.join(root, file), 'utf8'));
  return new Set([...text.matchAll(/^#{1,6}\s+(.+)$/gm)].map((m) => slug(m[1])));
}

describe('documentation links', () => {
  it('every relative link reaches a file (and heading) inside the repository', () => {
    const bad: string[] = [];
    for (const file of documents()) {
      const text = prose(readFileSync(path.join(root, file), 'utf8'));
      for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = m[1];
        if (/^[a-z]+:/i.test(target)) continue; // https:, mailto:
        const [rel, anchor] = target.split('#');
        const resolved = rel
          ? path.relative(root, path.resolve(path.dirname(path.join(root, file)), rel))
          : file;
        if (resolved.startsWith('..')) {
          bad.push(`${file}: ${target} leaves the repository`);
          continue;
        }
        if (!existsSync(path.join(root, resolved))) {
          if (!PENDING.has(resolved)) bad.push(`${file}: ${target} does not exist`);
          continue;
        }
        if (anchor && resolved.endsWith('.md') && !anchors(resolved).has(anchor))
          bad.push(`${file}: ${target}: no heading '${anchor}' in ${resolved}`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('the slug function follows GitHub on this repository’s headings', () => {
    expect(slug('Continuing a sequence, reusing results')).toBe(
      'continuing-a-sequence-reusing-results',
    );
    expect(slug('In a server: one session per connection, one batched step')).toBe(
      'in-a-server-one-session-per-connection-one-batched-step',
    );
  });
});

describe('documented error codes', () => {
  it('docs/errors.md lists every ERR_CELLSTATE_* code of lib/ and cpp/binding/', () => {
    const codes = new Set<string>();
    const scan = (dir: string) => {
      for (const e of readdirSync(path.join(root, dir), { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) scan(p);
        else if (/\.(ts|cc|h)$/.test(e.name))
          for (const m of readFileSync(path.join(root, p), 'utf8').matchAll(
            /ERR_CELLSTATE_[A-Z0-9_]+/g,
          ))
            codes.add(m[0]);
      }
    };
    scan('lib');
    scan('cpp/binding');
    expect(codes.size).toBeGreaterThan(10);
    const errorsPage = readFileSync(path.join(root, 'docs/errors.md'), 'utf8');
    expect([...codes].filter((c) => !errorsPage.includes(`\`${c}\``)).sort()).toEqual([]);
  });
});

describe('the README', () => {
  const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
  // The first screen: what fits in a window without scrolling, about 50 lines.
  const firstScreen = readme.split('\n').slice(0, 50).join('\n');

  it('shows install, one example and the learners’ page on its first screen', () => {
    expect(firstScreen).toContain('npm install cellstate');
    expect(firstScreen).toMatch(/```js\n[\s\S]*fit\([\s\S]*predict\([\s\S]*save\([\s\S]*stream\(/);
    expect(firstScreen).toContain('](docs/how-it-works.md)');
  });

  it('keeps the two-command developer quick start', () => {
    expect(readme).toContain('npm install && npm run demo');
    expect(readme).toMatch(/^npm test\b/m);
  });
});

describe('docs/how-it-works.md', () => {
  // The page points at code by function name and quoted source rather than line numbers; these
  // checks keep the quotes true when the code changes.
  const page = readFileSync(path.join(root, 'docs/how-it-works.md'), 'utf8');
  // The reference cells and the time loop: cpp/src/ref/ and cpp/src/cell/ (driver and cells).
  const sources = ['cpp/src/ref', 'cpp/src/cell']
    .flatMap((dir) =>
      readdirSync(path.join(root, dir))
        .filter((f) => /\.(cc|h)$/.test(f))
        .sort()
        .map((f) => readFileSync(path.join(root, dir, f), 'utf8')),
    )
    .join('\n');
  const norm = (s: string) => s.replace(/\s+/g, ' ');
  const code = norm(sources);

  it('names functions that exist', () => {
    const names = [
      ...new Set(
        [
          ...page.matchAll(/`((?:Lstm|Gru|Rnn)(?:Fwd|Bwd)\w*|\w+Unit|StepForward|TransposeCols)`/g),
        ].map((m) => m[1]),
      ),
    ];
    expect(names.length).toBeGreaterThan(8);
    expect(names.filter((n) => !new RegExp(`\\b${n}\\(`).test(sources))).toEqual([]);
  });

  it('quotes code that exists', () => {
    const quotes = new Set<string>();
    // Inline quotes that are statements: `const T dao = dm[j] * tc * o * (1 - o);`
    for (const m of page.matchAll(/`([^`\n]*;)`/g)) quotes.add(m[1]);
    // In the ```text and ```cpp blocks: GEMM calls, and code in the right-hand column after the equation.
    for (const block of page.matchAll(/```(?:text|cpp)\n([\s\S]*?)```/g))
      for (const line of block[1].split('\n')) {
        const t = line.trim();
        if (/^(ss\.|s\.Gemm|k\.|r\.k\.|kern->)/.test(t)) quotes.add(t.replace(/\s*\/\/.*$/, ''));
        else {
          const right = /\s{2,}((?:const |T |d\w+\[|ss\.)[^/]*;)/.exec(line);
          if (right) quotes.add(right[1]);
        }
      }
    expect(quotes.size).toBeGreaterThan(25);
    const missing = [...quotes].filter((q) =>
      q
        .split('...')
        .map((p) => norm(p).trim())
        .some((p) => p && !code.includes(p)),
    );
    expect(missing).toEqual([]);
  });
});
