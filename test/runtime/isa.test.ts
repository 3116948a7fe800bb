// Every ISA forced with CELLSTATE_ISA: the portable path (scalar, what a CPU without AVX2 runs)
// and each SIMD path this CPU runs (avx512, avx2, neon) compute every reference fixture, forward
// and all gradients, in a child process loading the built package (dist/); a known ISA this CPU
// lacks is refused. An unusable CELLSTATE_ISA is refused with a coded error and the process goes
// on (a C++ exception thrown and caught inside the addon: the unwinder works in the shipped build).
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

import {
  type FixtureTensor,
  firstMismatch,
  fixtureFiles,
  fixturesDir,
  loadFixture,
  relativeError,
  repoRoot,
} from '../helpers/fixtures';
import { info } from '../../lib/index';

const script = path.join(__dirname, 'scripts', 'isa-fixtures.cjs');
const packageDir = path.join(repoRoot, 'dist');

type Plain = { shape: number[]; data: number[] } | null;
interface Computed {
  output: Plain;
  h: Plain;
  c: Plain;
  dx: Plain;
  dh0: Plain;
  dc0: Plain;
  grads: Record<string, Plain>;
}

function runChild(isa: string, files: string[]): any {
  const stdout = execFileSync(process.execPath, [script, packageDir, ...files], {
    env: { ...process.env, CELLSTATE_ISA: isa },
    encoding: 'utf8',
    maxBuffer: 1 << 28,
  });
  return JSON.parse(stdout);
}

// Tolerances as test/parity/fixtures.test.ts: the float32 reference lands within 3.7e-7 of the
// float64 values; another summation order may be a few times further. Forward: relative norm
// 1e-5 and |got − want| ≤ 1e-5 + 1e-4·|want| per element; gradients: relative norm 1e-4.
function expectOutputClose(what: string, got: Plain, want: FixtureTensor): void {
  expect(got, what).not.toBeNull();
  expect(got!.shape, `${what} shape`).toEqual(want.shape);
  expect(relativeError(got!.data, want.data), `${what}: relative norm error`).toBeLessThanOrEqual(
    1e-5,
  );
  const i = firstMismatch(got!.data, want.data, 1e-5, 1e-4);
  expect(i, `${what}[${i}] = ${got!.data[i]}, want ${want.data[i]}`).toBe(-1);
}

function expectGradClose(what: string, got: Plain, want: FixtureTensor): void {
  expect(got, what).not.toBeNull();
  expect(got!.shape, `${what} shape`).toEqual(want.shape);
  expect(relativeError(got!.data, want.data), `${what}: relative norm error`).toBeLessThanOrEqual(
    1e-4,
  );
}

function describeIsa(isa: string): void {
  describe(`CELLSTATE_ISA=${isa}, every fixture`, () => {
    const files = fixtureFiles();
    // One child computes them all; the cases below only compare.
    let run:
      { info: { isa: string; isas: string[] }; results: Record<string, Computed> } | undefined;
    const computed = () =>
      (run ??= runChild(
        isa,
        files.map((f) => path.join(fixturesDir, f)),
      ));

    it(`runs the ${isa} kernels`, () => {
      expect(files.length).toBeGreaterThan(0);
      expect(computed().info.isa).toBe(isa);
      expect(computed().info.isas).toContain(isa);
    });

    for (const file of files) {
      it(file, () => {
        const f = loadFixture(file);
        const r = computed().results[path.basename(file)];
        expectOutputClose('output', r.output, f.outputs.output);
        expectOutputClose('h', r.h, f.outputs.hN);
        if (f.outputs.cN) expectOutputClose('c', r.c, f.outputs.cN);
        else expect(r.c).toBeNull();
        expectGradClose('dx', r.dx, f.grads.dx);
        expectGradClose('dh0', r.dh0, f.grads.dh0);
        if (f.grads.dc0) expectGradClose('dc0', r.dc0, f.grads.dc0);
        expect(Object.keys(r.grads).sort()).toEqual(Object.keys(f.grads.params).sort());
        for (const [name, want] of Object.entries(f.grads.params))
          expectGradClose(`grad ${name}`, r.grads[name], want);
      });
    }
  });
}

// Every ISA a build knows of (cpp/src/dispatch/engine.cc). The ones this CPU runs compute the
// fixtures; the others must be refused, not silently replaced by another path.
const knownIsas = ['avx512', 'avx2', 'neon', 'scalar'];
const availableIsas = info().isas;
for (const isa of knownIsas) if (availableIsas.includes(isa)) describeIsa(isa);

describe('a known ISA this CPU does not run', () => {
  const missing = knownIsas.filter((isa) => !availableIsas.includes(isa));
  it('info().isas lists known ISAs only, scalar always', () => {
    expect(availableIsas).toContain('scalar');
    expect(availableIsas.every((isa) => knownIsas.includes(isa))).toBe(true);
    // x86-64 has no NEON, aarch64 no AVX: at least one known ISA is always missing.
    expect(missing.length).toBeGreaterThan(0);
  });
  for (const isa of missing) {
    it(`CELLSTATE_ISA=${isa} is refused with a coded error`, () => {
      const r = runChild(isa, []);
      expect(r.error).toBeDefined();
      expect(r.error.code).toBe('ERR_CELLSTATE_UNSUPPORTED');
      expect(r.error.message).toContain(`'${isa}'`);
    });
  }
});

describe('an unusable CELLSTATE_ISA', () => {
  it('is refused by info() with a coded error naming the usable ISAs', () => {
    const r = runChild('no-such-isa', []);
    expect(r.error).toBeDefined();
    expect(r.error.code).toBe('ERR_CELLSTATE_UNSUPPORTED');
    expect(r.error.message).toContain("'no-such-isa'");
    expect(r.error.message).toContain('scalar');
  });
});
