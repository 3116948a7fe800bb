// Locates and loads the native addon (cellstate.node).
//
// Search order:
//   1. CELLSTATE_BINARY: path to a .node file, used as is (for testing a particular build).
//   2. node-gyp-build on the package root: build/Release, build/Debug, then
//      prebuilds/<platform>-<arch>/ (CELLSTATE_PREBUILD may name another package-like folder).
import path from 'node:path';

// node-gyp-build ships no types; this is the one function it exports.
type NodeGypBuild = (dir: string) => unknown;
// The package root: lib/ (sources under vitest) and dist/ (the build) both sit directly in it.
const packageRoot = path.join(__dirname, '..');

let cached: any;

function buildHint(): string {
  return (
    `The cellstate native addon could not be loaded for platform ${process.platform}, ` +
    `arch ${process.arch} (Node ${process.versions.node}, Node-API ${process.versions.napi}). ` +
    `Build it from source: run \`npm run build:native\` ` +
    `in ${packageRoot} (needs cmake >= 3.19 and a C++17 compiler), or set CELLSTATE_BINARY to ` +
    `the path of a cellstate.node file.`
  );
}

/** The addon's exports, loaded once per instance of this module. Throws an Error that says how to build the addon. */
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
    const detail = cause instanceof Error ? cause.message : String(cause);
    const what = override ? `CELLSTATE_BINARY=${override}: ` : '';
    throw new Error(`${what}${buildHint()}\nCause: ${detail}`, { cause });
  }
  return cached;
}
