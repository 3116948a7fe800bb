// Locates and loads the native addon (cellstate.node). There is no install script: the npm
// package carries prebuilt binaries, found at run time.
//
// Search order:
//   1. CELLSTATE_BINARY: path to a .node file, used as is (a build made elsewhere, or a
//      particular build under test).
//   2. node-gyp-build on the package root: build/Release, build/Debug (a build from source),
//      then prebuilds/<platform>-<arch>/cellstate.napi.glibc.node (the published binaries;
//      CELLSTATE_PREBUILD may name another package-like folder).
//
// When nothing loads, the Error thrown has code ERR_CELLSTATE_NO_BINARY and says what was tried:
// platform, arch, libc, Node and Node-API versions, the prebuilt binaries present, and how to
// build from source.
import { readdirSync } from 'node:fs';
import path from 'node:path';

import { CellstateError, ErrorCode } from './errors';

// node-gyp-build ships no types; this is the one function it exports.
type NodeGypBuild = (dir: string) => unknown;
// The package root: lib/ (sources under vitest) and dist/ (the build) both sit directly in it.
const packageRoot = path.join(__dirname, '..');

let cached: any;

/** "glibc 2.36", "musl or another libc" on Linux; "" elsewhere. Only called on failure. */
function libc(): string {
  if (process.platform !== 'linux') return '';
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } })
    ?.header;
  return header?.glibcVersionRuntime ? `glibc ${header.glibcVersionRuntime}` : 'not glibc';
}

/**
 * The <platform>-<arch> folders under prebuilds/ where node-gyp-build looked (the package, or
 * CELLSTATE_PREBUILD), e.g. "linux-arm64 (glibc >= 2.17), linux-x64 (glibc >= 2.17), win32-x64".
 */
function shipped(): string {
  try {
    const root = process.env.CELLSTATE_PREBUILD || packageRoot;
    const dirs = readdirSync(path.join(root, 'prebuilds')).sort();
    const named = dirs.map((d) => (d.startsWith('linux-') ? `${d} (glibc >= 2.17)` : d));
    return named.length > 0 ? named.join(', ') : 'none';
  } catch {
    return 'none';
  }
}

function buildHint(override: string | undefined): string {
  const c = libc();
  const from = override ? ` from CELLSTATE_BINARY=${override}` : '';
  return (
    `cellstate: cannot load the native addon${from} for platform ${process.platform}, ` +
    `arch ${process.arch}${c ? ` (${c})` : ''}, Node ${process.versions.node}, ` +
    `Node-API ${process.versions.napi}. Prebuilt binaries in this package: ${shipped()}. ` +
    `Build it from source with\n` +
    `    node ${JSON.stringify(path.join(packageRoot, 'scripts', 'build-native.mjs'))}\n` +
    `(needs CMake >= 3.19 and a C++17 compiler), or set CELLSTATE_BINARY to the path of a ` +
    `cellstate.node built elsewhere.`
  );
}

/**
 * The addon's exports, loaded once per instance of this module. Throws a CellstateError with code
 * `ERR_CELLSTATE_NO_BINARY` that names the prebuilt binaries present and says how to build the
 * addon; its `cause` is the loader's error.
 */
export function loadNative(): any {
  if (cached !== undefined) return cached;
  const override = process.env.CELLSTATE_BINARY;
  try {
    if (override) {
      cached = require(path.resolve(override));
    } else {
      const nodeGypBuild = require('node-gyp-build') as NodeGypBuild;
      cached = nodeGypBuild(packageRoot);
    }
  } catch (cause) {
    const detail = cause instanceof Error ? cause.message.trim() : String(cause);
    throw new CellstateError(ErrorCode.NO_BINARY, `${buildHint(override)}\nCause: ${detail}`, {
      cause,
    });
  }
  return cached;
}
