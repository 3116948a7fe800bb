// The published types, as a strict consumer meets them: test/types/ (strict,
// exactOptionalPropertyTypes, module nodenext, no skipLibCheck) imports 'cellstate' through the
// package's "exports" (the built dist/ and its .d.ts files) and holds the README's examples and
// expectTypeOf tests; tsc --noEmit must accept it. The declarations must not show @internal
// members (stripInternal).
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

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
