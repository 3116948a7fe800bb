#!/usr/bin/env bash
# The install story, checked as a user meets it: `npm pack`, then the tarball installed into an
# empty project with install scripts disabled and with no compiler, make or cmake on the PATH
# (PATH holds only node and npm). There:
#   1. require('cellstate') and import 'cellstate' both work and compute reference fixtures
#      (test/package/consumer.*) from the prebuilt binary of this platform;
#   2. CELLSTATE_ISA=scalar (standing in for a CPU without AVX2) computes them too;
#   3. with this platform's prebuild removed, loading fails with an error naming the platform,
#      the architecture and the command that builds from source, and CELLSTATE_BINARY pointing
#      at a binary elsewhere makes it work again;
#   4. the one command that error names builds the addon from the installed sources (compiler
#      and cmake back on the PATH), and the package then loads it;
#   5. on x86-64 with qemu-x86_64-static: Node on an emulated CPU without AVX (-cpu Nehalem)
#      picks the scalar kernels by itself (qemu does not refuse AVX instructions, so this checks
#      the dispatch; scripts/check-binary.mjs --build-dir checks that no AVX instruction lies
#      outside the AVX2 kernels);
#   6. package hygiene: require.resolve('cellstate/worker') names the worker script and
#      StreamWorker runs it; protobufjs is not loaded until the first ONNX call; every source
#      map carries its sources; the cellstate-demo bin runs (--quick); a strict nodenext
#      TypeScript consumer (test/types/readme.mts, require.cts) compiles against the package;
#   7. with an arm64 Node sysroot (scripts/arm64-node-sysroot.sh) and qemu-aarch64-static, the
#      same project runs under arm64 Node on an emulated Cortex-A53 (ARMv8.0-A: qemu refuses
#      later instructions) and loads prebuilds/linux-arm64.
#
#   scripts/check-package.sh [--arm64-node DIR] [--no-source-build]
#                                             (needs npm run build and npm run prebuilds first)
#
# Fixtures: $CELLSTATE_FIXTURES, else the repository's test/fixtures. npm may fetch the
# dependencies (node-gyp-build, node-addon-api) from its cache or the registry.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
arm64_node=""
source_build=1
while [ $# -gt 0 ]; do
  case "$1" in
    --arm64-node) arm64_node="$(cd "$2" && pwd)"; shift ;;
    --no-source-build) source_build=0 ;;
    -h|--help) sed -n '2,29p' "$0"; exit 0 ;;
    *) echo "check-package.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
fixtures="${CELLSTATE_FIXTURES:-$root/test/fixtures}"
[ -d "$fixtures" ] || { echo "check-package.sh: fixtures not found at $fixtures" >&2; exit 1; }
cases=("$fixtures/lstm_basic.json" "$fixtures/gru_bidir_2layers_lengths.json" "$fixtures/rnn_tanh.json")

fail() { echo "check-package.sh: FAIL: $*" >&2; exit 1; }
work="$(mktemp -d "${TMPDIR:-/tmp}/cellstate-package.XXXXXX")"
trap 'rm -rf "$work"' EXIT
host="$(node -p 'process.platform + "-" + process.arch')"

echo "== npm pack (prepack: scripts/check-binary.mjs --package)"
(cd "$root" && npm pack --silent --pack-destination "$work" > "$work/pack.txt")
tarball="$work/$(tail -n 1 "$work/pack.txt")"
[ -f "$tarball" ] || fail "npm pack wrote no tarball (output: $(cat "$work/pack.txt"))"
tar -tzf "$tarball" > "$work/contents.txt"
for want in package/dist/index.js package/dist/index.mjs package/dist/index.d.ts \
            package/dist/stream/worker-main.js package/examples/main.mjs \
            package/examples/data/alice.txt \
            package/prebuilds/linux-x64/cellstate.napi.glibc.node \
            package/prebuilds/linux-arm64/cellstate.napi.glibc.node \
            package/prebuilds/win32-x64/cellstate.napi.node \
            package/scripts/build-native.mjs package/CMakeLists.txt; do
  grep -qx "$want" "$work/contents.txt" || fail "$want is not in the tarball"
done
if grep -E '^package/(build|build-[^/]*|test|node_modules)/' "$work/contents.txt"; then
  fail "the tarball carries build output, tests or node_modules (above)"
fi
node -e '
  const p = require(process.argv[1]);
  const s = p.scripts || {};
  for (const k of ["preinstall", "install", "postinstall"])
    if (s[k]) { console.error(`package.json has an ${k} script`); process.exit(1); }
' "$root/package.json" || fail "the package must have no install scripts"
echo "$(basename "$tarball"): $(du -k "$tarball" | cut -f1) KiB, $(wc -l < "$work/contents.txt") files"

# A PATH with node and npm only.
bin="$work/bin"
mkdir -p "$bin"
ln -s "$(readlink -f "$(command -v node)")" "$bin/node"
ln -s "$(readlink -f "$(command -v npm)")" "$bin/npm"
for tool in cc gcc g++ c++ clang make cmake python3 node-gyp; do
  if env PATH="$bin" /bin/sh -c "command -v $tool" >/dev/null 2>&1; then
    fail "$tool is on the restricted PATH"
  fi
done
run() { env -i HOME="$HOME" PATH="$bin" "$@"; }
# Emulated runs get 10 minutes each (they take seconds).
timeout=("$(command -v timeout)" 600)

echo "== npm install --ignore-scripts <tarball> into an empty project, PATH=node+npm only"
app="$work/app"
mkdir -p "$app"
echo '{ "name": "app", "version": "1.0.0", "private": true }' > "$app/package.json"
cp "$root"/test/package/consumer.cjs "$root"/test/package/consumer.mjs \
   "$root"/test/package/fixture-check.cjs "$app/"
(cd "$app" && run npm install --ignore-scripts --no-audit --no-fund --prefer-offline \
   --loglevel=error "$tarball")
[ -d "$app/node_modules/cellstate/prebuilds/$host" ] || fail "no prebuilds/$host installed"
[ ! -e "$app/node_modules/cellstate/build" ] || fail "the install created node_modules/cellstate/build"

check_json() {  # check_json <json> <expected isa> <expected binary folder or ''>
  node -e '
    const [json, isa, folder] = process.argv.slice(1);
    const r = JSON.parse(json);
    const names = r.results.map((x) => x.name).join(", ");
    if (r.info.isa !== isa) throw new Error(`isa ${r.info.isa}, expected ${isa}`);
    if (folder && !r.binary.includes(`/prebuilds/${folder}/`))
      throw new Error(`loaded ${r.binary}, expected prebuilds/${folder}`);
    const worst = Math.max(...r.results.flatMap((x) => Object.values(x.errors)));
    console.log(`  ${r.loader} on ${r.arch}: isa ${r.info.isa}, ${names} OK (largest relative error ${worst.toExponential(1)})`);
  ' "$@"
}
native_isa="$(cd "$app" && run node -p 'require("cellstate").info().isas[0]')"

echo "== require and import, $host"
out="$(cd "$app" && run node consumer.cjs "${cases[@]}")" || fail "require('cellstate') failed"
check_json "$out" "$native_isa" "$host"
out="$(cd "$app" && run node consumer.mjs "${cases[@]}")" || fail "import 'cellstate' failed"
check_json "$out" "$native_isa" ""

echo "== package hygiene: cellstate/worker, ONNX on first use, source maps, the demo bin, types"
(cd "$app" && run node -e '
  const loaded = () => Object.keys(require.cache).some((k) => k.includes("protobufjs"));
  const script = require.resolve("cellstate/worker");
  const c = require("cellstate");
  if (loaded()) throw new Error("protobufjs is loaded with cellstate");
  c.fromOnnx(c.toOnnx(new c.Dense({ inputSize: 2, outputSize: 1 })));
  if (!loaded()) throw new Error("protobufjs is not loaded by the ONNX calls");
  const fs = require("node:fs"), path = require("node:path");
  const dist = path.dirname(require.resolve("cellstate"));
  for (const f of fs.readdirSync(dist, { recursive: true }).filter((f) => f.endsWith(".js.map"))) {
    const m = JSON.parse(fs.readFileSync(path.join(dist, f), "utf8"));
    if (!m.sourcesContent || m.sourcesContent.length !== m.sources.length || m.sourcesContent.some((s) => typeof s !== "string"))
      throw new Error(`${f}: the source map does not carry its sources`);
  }
  (async () => {
    const w = await c.StreamWorker.create(new c.LSTM({ inputSize: 2, hiddenSize: 3 }), { script });
    await w.step(Float32Array.of(1, 2));
    await w.close();
    console.log(`  cellstate/worker: ${path.relative(process.cwd(), script)} runs; protobufjs loaded on first ONNX call; source maps carry their sources`);
  })();
') || fail "package hygiene (above)"
(cd "$app" && run node_modules/.bin/cellstate-demo --quick --out "$work/demo" > "$work/demo.log" 2>&1) ||
  { tail -20 "$work/demo.log" >&2; fail "node_modules/.bin/cellstate-demo --quick failed"; }
[ -f "$work/demo/curves.svg" ] || fail "cellstate-demo wrote no curves.svg"
echo "  cellstate-demo --quick: OK ($(grep -c . "$work/demo.log") lines)"
types="$app/types-check"
mkdir -p "$types" "$app/node_modules/@types"
cp "$root/test/types/readme.mts" "$root/test/types/require.cts" "$types/"
ln -s "$root/node_modules/@types/node" "$app/node_modules/@types/node"
node -e '
  const c = { compilerOptions: { target: "ES2022", lib: ["ES2022"], module: "nodenext",
    moduleResolution: "nodenext", strict: true, exactOptionalPropertyTypes: true,
    noUncheckedIndexedAccess: true, noEmit: true, skipLibCheck: false, types: ["node"] },
    include: ["*.mts", "*.cts"] };
  require("node:fs").writeFileSync(process.argv[1], JSON.stringify(c));
' "$types/tsconfig.json"
(cd "$types" && run node "$root/node_modules/typescript/bin/tsc" -p .) ||
  fail "a strict TypeScript consumer does not compile against the package (above)"
echo "  strict nodenext TypeScript consumer (README examples, require('cellstate')): OK"

echo "== CELLSTATE_ISA=scalar"
out="$(cd "$app" && run CELLSTATE_ISA=scalar node consumer.cjs "${cases[@]}")" ||
  fail "CELLSTATE_ISA=scalar failed"
check_json "$out" scalar "$host"

echo "== no prebuild for this platform: the error, then CELLSTATE_BINARY"
bare="$work/bare"
mkdir -p "$bare" "$work/elsewhere"
cp -r "$app/node_modules" "$app/package.json" "$app"/consumer.* "$app/fixture-check.cjs" "$bare/"
mv "$bare/node_modules/cellstate/prebuilds/$host/cellstate.napi.glibc.node" "$work/elsewhere/cellstate.node"
rm -r "$bare/node_modules/cellstate/prebuilds/$host"
if (cd "$bare" && run node consumer.cjs "${cases[0]}") > "$work/err.txt" 2>&1; then
  fail "loading without a prebuild succeeded"
fi
platform="${host%%-*}" arch="${host#*-}"
for want in "platform $platform" "arch $arch" "scripts/build-native.mjs" "CELLSTATE_BINARY"; do
  grep -qF "$want" "$work/err.txt" || { cat "$work/err.txt" >&2; fail "the load error does not name '$want'"; }
done
sed -n '/cannot load/,/^Cause:/p' "$work/err.txt" | sed 's/^/  | /'
out="$(cd "$bare" && run CELLSTATE_BINARY="$work/elsewhere/cellstate.node" node consumer.cjs "${cases[@]}")" ||
  fail "CELLSTATE_BINARY=$work/elsewhere/cellstate.node failed"
echo "  CELLSTATE_BINARY=<elsewhere>/cellstate.node:"
check_json "$out" "$native_isa" ""

if [ "$source_build" = 1 ]; then
  echo "== build from source with the command of that error (normal PATH)"
  command="$(sed -n 's/^ *node "\(.*build-native.mjs\)"$/\1/p' "$work/err.txt")"
  [ -n "$command" ] || fail "no 'node \"...build-native.mjs\"' line in the load error"
  (cd "$bare" && node "$command" > "$work/source-build.log" 2>&1) ||
    { tail -30 "$work/source-build.log" >&2; fail "node $command failed"; }
  echo "  node $command: OK ($(grep -c 'Building CXX' "$work/source-build.log") files compiled)"
  out="$(cd "$bare" && run node consumer.cjs "${cases[@]}")" || fail "the source build does not load"
  node -e 'if (!JSON.parse(process.argv[1]).binary.includes("/build/Release/")) process.exit(1)' "$out" ||
    fail "the package did not load its build/Release after the source build"
  check_json "$out" "$native_isa" ""
fi

if [ "$host" = linux-x64 ] && command -v qemu-x86_64-static >/dev/null; then
  echo "== x86-64 CPU without AVX (qemu-x86_64-static -cpu Nehalem)"
  qemu_x64="$(readlink -f "$(command -v qemu-x86_64-static)")"
  out="$(cd "$app" && run "${timeout[@]}" "$qemu_x64" -cpu Nehalem "$bin/node" consumer.cjs "${cases[@]}")" ||
    fail "Node on an emulated Nehalem failed"
  check_json "$out" scalar linux-x64
fi

if [ -n "$arm64_node" ]; then
  echo "== arm64 Node under qemu-aarch64-static -cpu cortex-a53"
  command -v qemu-aarch64-static >/dev/null || fail "qemu-aarch64-static not found"
  [ -x "$arm64_node/usr/bin/node" ] || fail "no usr/bin/node in $arm64_node"
  qemu="$(readlink -f "$(command -v qemu-aarch64-static)")"
  # A time limit turns a hang under emulation into a failure: qemu 7.2 on x86-64 hosts appears
  # not to keep an ARM store-release before a later load-acquire, which can lose a wakeup of the
  # kernel's thread pool (an explicit fence there cures it).
  arm_node=("${timeout[@]}" "$qemu" -cpu cortex-a53 -L "$arm64_node" "$arm64_node/usr/bin/node")
  out="$(cd "$app" && run "${arm_node[@]}" consumer.cjs "${cases[@]}")" ||
    fail "arm64: require('cellstate') failed"
  check_json "$out" neon linux-arm64
  out="$(cd "$app" && run "${arm_node[@]}" consumer.mjs "${cases[0]}")" ||
    fail "arm64: import 'cellstate' failed"
  check_json "$out" neon ""
  out="$(cd "$app" && run CELLSTATE_ISA=scalar "${arm_node[@]}" consumer.cjs "${cases[0]}")" ||
    fail "arm64: CELLSTATE_ISA=scalar failed"
  check_json "$out" scalar linux-arm64
fi
echo "check-package.sh: OK"
