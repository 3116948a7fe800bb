// Loading the addon (lib/native.ts): CELLSTATE_BINARY picks the file, and when no binary can be
// loaded the error names the platform, the architecture and the command that builds from source.
// Each case runs in a child process loading the built package (dist/): the addon is loaded once
// per process.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

import { repoRoot } from '../helpers/fixtures';

const packageDir = path.join(repoRoot, 'dist');
const built = path.join(repoRoot, 'build', 'Release', 'cellstate.node');

function load(env: Record<string, string>): {
  status: number | null;
  stdout: string;
  stderr: string;
} {
  const code = `const c = require(${JSON.stringify(packageDir)}); console.log(c.info().version);`;
  const r = spawnSync(process.execPath, ['-e', code], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function expectBuildHint(stderr: string): void {
  expect(stderr).toContain(`cannot load the native addon`);
  expect(stderr).toContain(`platform ${process.platform}`);
  expect(stderr).toContain(`arch ${process.arch}`);
  expect(stderr).toContain(
    `node ${JSON.stringify(path.join(repoRoot, 'scripts', 'build-native.mjs'))}`,
  );
  expect(stderr).toContain('CELLSTATE_BINARY');
  expect(stderr).toContain('Cause:');
}

describe('loading the addon', () => {
  it('loads the file CELLSTATE_BINARY names', () => {
    const r = load({ CELLSTATE_BINARY: built });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('says how to build when CELLSTATE_BINARY is not a binary', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'cellstate-loader-'));
    try {
      const bogus = path.join(dir, 'cellstate.node');
      writeFileSync(bogus, 'not an ELF file');
      const r = load({ CELLSTATE_BINARY: bogus });
      expect(r.status).not.toBe(0);
      expect(r.stderr).toContain(`from CELLSTATE_BINARY=${bogus}`);
      expectBuildHint(r.stderr);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the failure is a CellstateError with code ERR_CELLSTATE_NO_BINARY naming the prebuilds present', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'cellstate-loader-'));
    try {
      const code =
        `const c = require(${JSON.stringify(packageDir)});` +
        'try { c.info(); } catch (e) {' +
        ' console.log(JSON.stringify({ code: e.code, base: e instanceof c.CellstateError, name: e.name, message: e.message })); }';
      const r = spawnSync(process.execPath, ['-e', code], {
        env: { ...process.env, CELLSTATE_PREBUILD: dir, CELLSTATE_BINARY: '' },
        encoding: 'utf8',
      });
      expect(r.status).toBe(0);
      const e = JSON.parse(r.stdout) as {
        code: string;
        base: boolean;
        name: string;
        message: string;
      };
      expect(e.code).toBe('ERR_CELLSTATE_NO_BINARY');
      expect(e.base).toBe(true);
      expect(e.name).toBe('Error');
      expect(e.message).toContain('Prebuilt binaries in this package:');
      expect(e.message).toContain('build-native.mjs');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('names platform, arch and the build command when no binary is found', () => {
    // node-gyp-build searches CELLSTATE_PREBUILD instead of the package: an empty folder.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'cellstate-loader-'));
    try {
      const r = load({ CELLSTATE_PREBUILD: dir, CELLSTATE_BINARY: '' });
      expect(r.status).not.toBe(0);
      expectBuildHint(r.stderr);
      expect(r.stderr).toContain('No native build was found');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('throws ERR_CELLSTATE_NO_BINARY naming the prebuilds present when none fits', () => {
    // A package-like folder with binaries for other platforms only (files that are never
    // loaded: node-gyp-build picks by folder name first).
    const dir = mkdtempSync(path.join(os.tmpdir(), 'cellstate-loader-'));
    try {
      const others = ['win32-x64', 'linux-arm64', 'linux-x64'].filter(
        (t) => t !== `${process.platform}-${process.arch}`,
      );
      for (const t of others) {
        mkdirSync(path.join(dir, 'prebuilds', t), { recursive: true });
        writeFileSync(path.join(dir, 'prebuilds', t, 'cellstate.napi.node'), 'not loaded');
      }
      const code =
        `try { require(${JSON.stringify(packageDir)}).info(); }` +
        ` catch (e) { console.log(JSON.stringify({ name: e.name, code: e.code, message: e.message,` +
        ` cause: e.cause instanceof Error })); }`;
      const r = spawnSync(process.execPath, ['-e', code], {
        env: { ...process.env, CELLSTATE_PREBUILD: dir, CELLSTATE_BINARY: '' },
        encoding: 'utf8',
      });
      expect(r.status).toBe(0);
      const e = JSON.parse(r.stdout);
      expect(e.code).toBe('ERR_CELLSTATE_NO_BINARY');
      expect(e.name).toBe('Error');
      expect(e.cause).toBe(true);
      const present = [...others]
        .sort()
        .map((t) => (t.startsWith('linux-') ? `${t} (glibc >= 2.17)` : t))
        .join(', ');
      expect(e.message).toContain(`Prebuilt binaries in this package: ${present}.`);
      expectBuildHint(e.message + '\nCause:');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
