// Every code block of the documentation runs, so none can rot.
//
// The blocks of README.md, CONTRIBUTING.md and docs/*.md tagged js / mjs / ts (also
// javascript / typescript) are each run as a standalone ES module in a child process: TypeScript
// goes through `typescript`'s transpileModule (no type check; types are tested elsewhere), and
// `cellstate` resolves to this repository through a `node_modules/cellstate` link in a temporary
// directory, so the package's own `exports` (the built dist/) answer the import, as for a user.
// Each block runs in its own empty directory (files it saves land there). A block fails the test
// when it throws, rejects, exits non-zero or runs past its time limit.
//
// A block that cannot run alone is tagged `no-run` with its reason in the info string,
// ```ts no-run: <reason>, and must appear in NO_RUN below, so exceptions stay few and visible.
// Blocks in other languages (text, sh, python, …) are shown, not run; a tag outside LANGUAGES
// fails the test, so a typo (```tsx, ```JS) cannot silently skip a block.
import { spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = path.resolve(__dirname, '..', '..');

/** Languages that run. */
const RUN = new Set(['js', 'mjs', 'javascript', 'ts', 'typescript']);
/** Languages that are shown only. */
const SHOW = new Set(['text', 'sh', 'shell', 'console', 'python', 'json', 'cpp', 'c++', 'math']);

/**
 * The blocks allowed not to run, as `file: first line of the block`. Each has its reason in its
 * info string; the test fails when this list and the documents disagree either way.
 */
const NO_RUN = [
  'docs/streaming.md: const pool = lstm.streamPool({ capacity: 64 }); // grows by doubling when full',
];

export interface Block {
  file: string;
  line: number;
  lang: string;
  info: string;
  code: string;
}

/** The fenced blocks of a Markdown text (``` or ~~~ fences, any length ≥ 3). */
export function extractBlocks(file: string, text: string): Block[] {
  const blocks: Block[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; ++i) {
    const open = /^(\s*)(`{3,}|~{3,})(.*)$/.exec(lines[i]);
    if (!open) continue;
    const fence = open[2];
    const info = open[3].trim();
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length; ++j) {
      if (lines[j].trim().startsWith(fence) && lines[j].trim().replace(/[`~]/g, '') === '') break;
      body.push(lines[j]);
    }
    if (j === lines.length) throw new Error(`${file}:${i + 1}: unclosed code fence`);
    blocks.push({
      file,
      line: i + 1,
      lang: (info.split(/\s+/)[0] ?? '').toLowerCase(),
      info,
      code: body.join('\n'),
    });
    i = j;
  }
  return blocks;
}

function documents(): string[] {
  const docs = existsSync(path.join(root, 'docs'))
    ? readdirSync(path.join(root, 'docs'))
        .filter((f) => f.endsWith('.md'))
        .sort()
        .map((f) => `docs/${f}`)
    : [];
  return ['README.md', 'CONTRIBUTING.md', ...docs].filter((f) => existsSync(path.join(root, f)));
}

const allBlocks = documents().flatMap((f) =>
  extractBlocks(f, readFileSync(path.join(root, f), 'utf8')),
);
const noRun = (b: Block) => /(^|\s)no-run(\s|:|$)/.test(b.info);
const runnable = allBlocks.filter((b) => RUN.has(b.lang) && !noRun(b));
const key = (b: Block) => `${b.file}: ${b.code.split('\n')[0]}`;

/** A block as an ES module: TypeScript transpiled, JavaScript as is. */
export function toModule(b: Block): string {
  if (b.lang === 'ts' || b.lang === 'typescript') {
    return ts.transpileModule(b.code, {
      fileName: 'snippet.ts',
      reportDiagnostics: false,
      compilerOptions: {
        module: ts.ModuleKind.ESNext,
        target: ts.ScriptTarget.ES2022,
        verbatimModuleSyntax: false,
      },
    }).outputText;
  }
  return b.code;
}

function run(
  file: string,
  cwd: string,
  timeoutMs: number,
): Promise<{ code: number | null; signal: string | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [file], {
      cwd,
      // One thread per snippet: the runner's other forks share the cores.
      env: { ...process.env, OMP_NUM_THREADS: '1', NODE_OPTIONS: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, out });
    });
  });
}

/** At most two snippets at a time: each child loads the addon and some train a small model. */
let slots = 2;
const waiting: (() => void)[] = [];
async function limited<T>(f: () => Promise<T>): Promise<T> {
  if (slots === 0) await new Promise<void>((r) => waiting.push(r));
  else --slots;
  try {
    return await f();
  } finally {
    const next = waiting.shift();
    if (next) next();
    else ++slots;
  }
}

let tmp = '';
beforeAll(() => {
  if (!existsSync(path.join(root, 'dist', 'index.mjs')))
    throw new Error('dist/ is missing: run `npm run build` first');
  tmp = mkdtempSync(path.join(os.tmpdir(), 'cellstate-snippets-'));
  mkdirSync(path.join(tmp, 'node_modules'));
  symlinkSync(root, path.join(tmp, 'node_modules', 'cellstate'), 'dir');
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('documentation code blocks', () => {
  it('finds the documents and their blocks', () => {
    expect(documents()).toContain('README.md');
    expect(runnable.length).toBeGreaterThan(10);
  });

  it('tags every block with a known language', () => {
    const unknown = allBlocks
      .filter((b) => !RUN.has(b.lang) && !SHOW.has(b.lang))
      .map((b) => `${b.file}:${b.line}: \`\`\`${b.info}`);
    expect(unknown).toEqual([]);
  });

  it('lists every no-run block, each with a reason', () => {
    const marked = allBlocks.filter(noRun);
    expect(marked.map(key).sort()).toEqual([...NO_RUN].sort());
    for (const b of marked) expect(b.info, `${b.file}:${b.line}`).toMatch(/no-run:\s*\S.{8,}/);
  });

  it('fails on a block that throws, so the runner cannot pass everything', async () => {
    const dir = mkdtempSync(path.join(tmp, 'self-'));
    const bad: Block = {
      file: 'self',
      line: 1,
      lang: 'ts',
      info: 'ts',
      code: "import { Tensor } from 'cellstate';\nconst n: number = 1;\nnew Tensor(new Float32Array(3), [2, 2]);",
    };
    writeFileSync(path.join(dir, 'snippet.mjs'), toModule(bad));
    const r = await run('snippet.mjs', dir, 30_000);
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(/Error/);
    writeFileSync(path.join(dir, 'reject.mjs'), 'await Promise.reject(new Error("late"));');
    expect((await run('reject.mjs', dir, 30_000)).code).not.toBe(0);
  });

  describe.concurrent.each(runnable.map((b) => [`${b.file}:${b.line}`, b] as const))(
    '%s',
    (name, b) => {
      it('runs', async () => {
        const dir = path.join(tmp, name.replace(/[^A-Za-z0-9]+/g, '-'));
        mkdirSync(dir);
        writeFileSync(path.join(dir, 'snippet.mjs'), toModule(b));
        const r = await limited(() => run('snippet.mjs', dir, 60_000));
        if (r.code !== 0)
          throw new Error(
            `${name} exited with ${r.code ?? r.signal}:\n${r.out}\n--- the block ---\n${b.code}`,
          );
        // SNIPPETS_LOG=1 shows what each block printed (to check the comments in the docs).
        if (process.env.SNIPPETS_LOG) console.log(`--- ${name}\n${r.out}`);
      }, 600_000); // waits for a slot first; each child has its own limit of 60 s
    },
  );
});
