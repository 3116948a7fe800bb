// save() semantics: atomic replacement (concurrent saves to one path each stay whole), the
// replaced file's permission bits kept, a symbolic link replaced (its target untouched), a
// non-regular file refused, and the file and its directory fsynced before save resolves.
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  fstatSync,
  lstatSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';

import { GRU, RNN, exportOnnx, load, save, toBuffer } from '../../lib/index';
import { expectSameParameters } from './helpers';

const dir = mkdtempSync(path.join(tmpdir(), 'cellstate-save-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => vi.restoreAllMocks());

const posix = process.platform !== 'win32';

/** A FIFO at `file`; false where the platform has none (Windows). */
function mkfifo(file: string): boolean {
  if (!posix) return false;
  execFileSync('mkfifo', [file]);
  return true;
}

describe('save', () => {
  it('concurrent saves to one path: the file is one whole model, no temporary left', async () => {
    const file = path.join(dir, 'concurrent.cellstate');
    const layers = Array.from(
      { length: 24 },
      (_, i) => new GRU({ inputSize: 3, hiddenSize: 4 + (i % 3), seed: i + 1 }),
    );
    await Promise.all(layers.map((l) => save(l, file)));
    const bytes = new Uint8Array(readFileSync(file));
    const match = layers.findIndex((l) => {
      const b = toBuffer(l);
      return b.length === bytes.length && b.every((v, i) => v === bytes[i]);
    });
    expect(match).toBeGreaterThanOrEqual(0);
    expectSameParameters((await load(file)).parameters(), layers[match].parameters());
    expect(readdirSync(dir).filter((f) => f.includes('concurrent'))).toEqual([
      'concurrent.cellstate',
    ]);
  });

  it.runIf(posix)(
    'keeps the mode of the file it replaces; a new file gets the default',
    async () => {
      const file = path.join(dir, 'mode.cellstate');
      writeFileSync(file, 'old');
      chmodSync(file, 0o640);
      await save(new RNN({ inputSize: 1, hiddenSize: 2, seed: 1 }), file);
      expect(statSync(file).mode & 0o777).toBe(0o640);
      chmodSync(file, 0o600);
      await save(new RNN({ inputSize: 1, hiddenSize: 2, seed: 2 }), file);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const fresh = path.join(dir, 'fresh.cellstate');
      await save(new RNN({ inputSize: 1, hiddenSize: 2, seed: 3 }), fresh);
      const umask = process.umask();
      expect(statSync(fresh).mode & 0o777).toBe(0o666 & ~umask);
    },
  );

  it('replaces a symbolic link by the new file and leaves its target as it was', async () => {
    const target = path.join(dir, 'target.cellstate');
    const old = new RNN({ inputSize: 1, hiddenSize: 2, seed: 4 });
    writeFileSync(target, toBuffer(old));
    const link = path.join(dir, 'link.cellstate');
    symlinkSync(target, link);
    expect(readlinkSync(link)).toBe(target);
    const next = new RNN({ inputSize: 1, hiddenSize: 2, seed: 5 });
    await save(next, link);
    expect(lstatSync(link).isSymbolicLink()).toBe(false);
    expect(lstatSync(link).isFile()).toBe(true);
    expectSameParameters((await load(link)).parameters(), next.parameters());
    expectSameParameters((await load(target)).parameters(), old.parameters());
    // a dangling link is replaced too, and nothing is created where it pointed
    const dangling = path.join(dir, 'dangling.cellstate');
    symlinkSync(path.join(dir, 'nowhere', 'x'), dangling);
    await save(next, dangling);
    expect(lstatSync(dangling).isFile()).toBe(true);
  });

  it('refuses to replace a directory or a FIFO, leaving it as it was', async () => {
    const err = await save(new RNN({ inputSize: 1, hiddenSize: 1 }), dir).catch((e) => e);
    expect(err).toMatchObject({ code: 'ERR_CELLSTATE_FILE_NOT_REGULAR' });
    expect(statSync(dir).isDirectory()).toBe(true);
    const fifo = path.join(dir, 'pipe');
    if (mkfifo(fifo)) {
      const e = await exportOnnx(new RNN({ inputSize: 1, hiddenSize: 1 }), fifo).catch((x) => x);
      expect(e).toMatchObject({ code: 'ERR_CELLSTATE_FILE_NOT_REGULAR' });
      expect(lstatSync(fifo).isFIFO()).toBe(true);
    }
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it.runIf(posix)('fsyncs the new file and then its directory before resolving', async () => {
    // the FileHandle class, to watch every sync
    const probe = await open(path.join(dir, 'probe'), 'w');
    const proto = Object.getPrototypeOf(probe);
    await probe.close();
    const synced: boolean[] = []; // per sync: was it a directory?
    const original = proto.sync;
    vi.spyOn(proto, 'sync').mockImplementation(async function (this: { fd: number }) {
      synced.push(fstatSync(this.fd).isDirectory());
      return original.call(this);
    });
    await save(new RNN({ inputSize: 1, hiddenSize: 1, seed: 6 }), path.join(dir, 'synced'));
    expect(synced).toEqual([false, true]);
  });
});
