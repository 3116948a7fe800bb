#!/usr/bin/env node
// Checks that the builds of cellstate.node are portable. Linux (ELF) ones with readelf (binutils):
//   - dynamic dependencies only libc, libm, libpthread, libdl and the dynamic loader (libstdc++
//     and libgcc are linked in statically, there is no OpenMP runtime);
//   - no GLIBC_ symbol version above the floor (2.17 unless --max-glibc=X.Y) and no GLIBCXX_,
//     CXXABI_ or GCC_ versions at all;
//   - Node-API only: every other undefined symbol is napi_* / node_api_* (no V8, libuv or
//     node:: symbols), and no external ArrayBuffers or Buffers (Electron refuses them);
//   - exports only the module entry points; no text relocations;
//   - under prebuilds/<platform>-<arch>/: the ELF machine matches <arch> and the file is stripped;
//   - with --build-dir=DIR (an x86-64 CMake build of the addon, unstripped): every function of
//     DIR/Release/cellstate.node holding an AVX instruction comes from a *-avx2.cc or
//     *-avx512.cc object (AVX-512 ones from *-avx512.cc only), and no inline function is defined
//     in objects of two ISAs (the linker could keep the AVX copy for everyone), so a CPU without
//     AVX2 meets no AVX instruction outside the dispatched kernels.
//
// Windows (PE, cross-built with MinGW-w64) ones with objdump -p (binutils) and a reading of the
// delay-import descriptors, which objdump does not list:
//   - a PE32+ x86-64 DLL, stripped (no COFF symbol table);
//   - imports only Windows system DLLs (KERNEL32, the C runtime: msvcrt or the UCRT's
//     api-ms-win-crt-*); libstdc++, libgcc and winpthreads are linked in statically;
//   - node.exe delay-loaded (so cpp/compat/win-delay-load-hook.cc can hand back the running
//     executable: Electron, a renamed node.exe), and from it only Node-API functions, no
//     external ArrayBuffers or Buffers;
//   - exports only the module entry points.
//
//   node scripts/check-binary.mjs [--max-glibc=2.17] [--build-dir=DIR] [file.node ...]
//                                 (default files: prebuilds/linux-*/*.node, prebuilds/win32-*/*.node)
//   node scripts/check-binary.mjs --package    also requires dist/ and prebuilds for linux-x64,
//                                              linux-arm64 and win32-x64 (npm runs it before
//                                              `npm pack`)
// Exits 1 and names every problem when a check fails.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const packageMode = args.includes('--package');
const maxArg = args.find((a) => a.startsWith('--max-glibc='));
const maxGlibc = maxArg ? maxArg.slice('--max-glibc='.length) : '2.17';
const buildDirArg = args.find((a) => a.startsWith('--build-dir='));
const unknown = args.filter(
  (a) => a.startsWith('--') && a !== '--package' && a !== maxArg && a !== buildDirArg,
);
if (unknown.length > 0) {
  console.error(`check-binary: unknown option ${unknown[0]}`);
  process.exit(2);
}

const PACKAGE_TARGETS = ['linux-x64', 'linux-arm64', 'win32-x64'];
// DLLs a Windows build may import (case-insensitive): the kernel and the C runtime.
const ALLOWED_DLLS = /^(kernel32|msvcrt|ucrtbase|api-ms-win-(crt|core)-[a-z0-9-]+)\.dll$/i;
// The MinGW runtime DLLs, which must be linked in statically.
const MINGW_RUNTIME = /^(libstdc\+\+|libgcc|libwinpthread)/i;
const ALLOWED_NEEDED = new Set([
  'libc.so.6',
  'libm.so.6',
  'libpthread.so.0',
  'libdl.so.2',
  'ld-linux-x86-64.so.2',
  'ld-linux-aarch64.so.1',
]);
const EXPORTS = new Set(['napi_register_module_v1', 'node_api_module_get_api_version_v1']);
// Weak, unversioned references every GCC-built shared object carries (transactional memory
// and profiling hooks); they resolve to nothing.
const WEAK_HOOKS = /^(_ITM_\w+|__gmon_start__|_ZGT\w+|__cxa_finalize)$/;
const FORBIDDEN_NAPI = new Set(['napi_create_external_arraybuffer', 'napi_create_external_buffer']);
const MACHINES = { x64: 'Advanced Micro Devices X86-64', arm64: 'AArch64' };

function compareVersions(a, b) {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); ++i) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

function tool(name, toolArgs) {
  try {
    return execFileSync(name, toolArgs, { encoding: 'utf8', maxBuffer: 1 << 30 });
  } catch (e) {
    console.error(`check-binary: ${name} ${toolArgs.join(' ')} failed: ${e.message}`);
    console.error(`check-binary: ${name} comes with binutils (apt-get install binutils)`);
    process.exit(2);
  }
}

function readelf(flags, file) {
  return tool('readelf', [...flags, '-W', file]);
}

function objectFiles(dir) {
  const out = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...objectFiles(p));
    else if (e.name.endsWith('.o') || e.name.endsWith('.obj')) out.push(p);
  }
  return out;
}

/** The AVX containment check of an x86-64 build folder; returns { problems, summary }. */
function checkIsaContainment(buildDir) {
  const problems = [];
  const node = path.join(buildDir, 'Release', 'cellstate.node');
  if (!existsSync(node)) return { problems: [`${node} not found`], summary: '' };
  // Objects by ISA: "avx2" for *-avx2.cc, "avx512" for *-avx512.cc, "baseline" for the rest.
  const isaOf = (o) => /-(avx[0-9a-z]*)\.cc\.o(bj)?$/.exec(o)?.[1] ?? 'baseline';
  const objects = objectFiles(path.join(buildDir, 'CMakeFiles'));
  const definedIn = new Map(); // symbol -> Set of ISAs defining it
  const weakIn = new Map(); // inline/template symbol -> Set of ISAs defining it
  for (const o of objects) {
    const isa = isaOf(o);
    for (const line of tool('nm', ['--defined-only', o]).split('\n')) {
      const [, kind, name] = line.trim().split(/\s+/);
      if (!name) continue;
      for (const [map, keep] of [
        [definedIn, true],
        [weakIn, /^[WVu]$/.test(kind)],
      ]) {
        if (!keep) continue;
        if (!map.has(name)) map.set(name, new Set());
        map.get(name).add(isa);
      }
    }
  }
  for (const [name, isas] of weakIn)
    if (isas.size > 1)
      problems.push(
        `${name} is an inline/template function of objects compiled for ${[...isas].join(' and ')}`,
      );
  // Functions of the linked addon with VEX/EVEX instructions: a v-prefixed mnemonic or a ymm
  // register (AVX), a zmm or mask register (AVX-512).
  let fn = '';
  const level = new Map();
  for (const line of tool('objdump', ['-d', '--no-show-raw-insn', node]).split('\n')) {
    const head = /^[0-9a-f]+ <(.+)>:$/.exec(line);
    if (head) fn = head[1];
    else if (/%zmm|%k[0-7]\b/.test(line)) level.set(fn, 'avx512');
    else if ((/^\s+[0-9a-f]+:\s+v[a-z0-9]+\b/.test(line) || /%ymm/.test(line)) && !level.has(fn))
      level.set(fn, 'avx');
  }
  for (const [f, need] of level) {
    const base = f.replace(/\.(constprop|part|isra|cold|lto_priv)[.\d]*$/g, '').split('.')[0];
    const isas = definedIn.get(base) ?? definedIn.get(f) ?? new Set(['unknown']);
    // A local name (anonymous namespace) may exist in several objects, one copy each: some
    // object of the right ISA must define it. Shared inline copies are the weakIn check above.
    const ok = [...isas].some((isa) =>
      need === 'avx512' ? isa.startsWith('avx512') : isa.startsWith('avx'),
    );
    if (!ok)
      problems.push(
        `${f} holds ${need === 'avx512' ? 'AVX-512' : 'AVX'} instructions but comes from ` +
          `${[...isas].join(', ')} code`,
      );
  }
  const isaObjects = objects.filter((o) => isaOf(o) !== 'baseline');
  const summary =
    `${level.size} functions with AVX or AVX-512 instructions; ISA objects: ` +
    `${isaObjects.map((o) => path.basename(o).replace(/\.cc\.o(bj)?$/, '')).join(', ')}`;
  return { problems, summary };
}

/**
 * The delay-load imports of a PE32+ file: [{ dll, functions }]. GNU ld leaves the Delay Import
 * data directory empty for dlltool's delay libraries, so the descriptors (ImgDelayDescr: attributes
 * 1 = RVAs, then the RVAs of the DLL name, module handle, IAT and name table) are found by
 * scanning the sections for them; a candidate must point at a DLL-like name and at name-table
 * entries inside the image.
 */
function peDelayImports(buf) {
  const pe = buf.readUInt32LE(0x3c);
  const sections = buf.readUInt16LE(pe + 6);
  const optSize = buf.readUInt16LE(pe + 20);
  const opt = pe + 24;
  const imageSize = buf.readUInt32LE(opt + 56);
  const table = [];
  for (let i = 0; i < sections; ++i) {
    const h = opt + optSize + 40 * i;
    table.push({
      va: buf.readUInt32LE(h + 12),
      rawSize: buf.readUInt32LE(h + 16),
      raw: buf.readUInt32LE(h + 20),
    });
  }
  const offset = (rva) => {
    const sec = table.find((t) => rva >= t.va && rva < t.va + t.rawSize);
    return sec ? sec.raw + (rva - sec.va) : -1;
  };
  const cString = (rva) => {
    const o = offset(rva);
    if (o < 0) return '';
    const end = buf.indexOf(0, o);
    return end < 0 || end - o > 256 ? '' : buf.toString('latin1', o, end);
  };
  const inImage = (rva) => rva > 0 && rva < imageSize;
  const found = [];
  for (const sec of table) {
    for (let o = sec.raw; o + 32 <= sec.raw + sec.rawSize; o += 4) {
      if (buf.readUInt32LE(o) !== 1) continue;
      const [name, hmod, iat, int] = [4, 8, 12, 16].map((d) => buf.readUInt32LE(o + d));
      if (![name, hmod, iat, int].every(inImage)) continue;
      const dll = cString(name);
      if (!/^[\w.-]+\.(dll|exe)$/i.test(dll)) continue;
      const functions = [];
      for (let e = offset(int); e >= 0 && e + 8 <= buf.length; e += 8) {
        const lo = buf.readUInt32LE(e);
        const hi = buf.readUInt32LE(e + 4);
        if (lo === 0 && hi === 0) break;
        functions.push(hi & 0x80000000 ? `#${lo & 0xffff}` : cString(lo + 2));
      }
      if (functions.length > 0 && functions.every(Boolean)) found.push({ dll, functions });
    }
  }
  return found;
}

/** Checks one Windows (PE) file; returns { problems, summary }. */
function checkPe(file) {
  const problems = [];
  const dump = tool('objdump', ['-p', file]);
  const format = /file format (\S+)/.exec(dump)?.[1] ?? '?';
  if (format !== 'pei-x86-64') problems.push(`format ${format}, expected pei-x86-64 (PE32+ x64)`);
  if (!/^\s+DLL$/m.test(dump)) problems.push('not a DLL');
  const dlls = [...dump.matchAll(/^\s*DLL Name: (\S+)/gm)].map((m) => m[1]);
  for (const dll of dlls) {
    if (/^node\.exe$/i.test(dll))
      problems.push('imports node.exe directly: it must be delay-loaded (Electron, renamed hosts)');
    else if (MINGW_RUNTIME.test(dll))
      problems.push(`imports ${dll}: the MinGW runtime must be linked statically`);
    else if (!ALLOWED_DLLS.test(dll))
      problems.push(`imports ${dll} (allowed: KERNEL32, msvcrt, the UCRT, node.exe delay-loaded)`);
  }
  const buf = readFileSync(file);
  const delayed = peDelayImports(buf);
  const fromNode = delayed.filter((d) => /^node\.exe$/i.test(d.dll));
  for (const d of delayed)
    if (!/^node\.exe$/i.test(d.dll)) problems.push(`delay-loads ${d.dll} (only node.exe may be)`);
  if (fromNode.length === 0) problems.push('no delay-load import of node.exe found');
  const napi = fromNode.flatMap((d) => d.functions);
  for (const fn of napi) {
    if (FORBIDDEN_NAPI.has(fn))
      problems.push(`imports ${fn}: no external ArrayBuffers (Electron refuses them)`);
    else if (!/^(napi|node_api)_\w+$/.test(fn)) problems.push(`imports ${fn} from node.exe`);
  }
  // The export name table: "[   0] name" lines after "[Ordinal/Name Pointer] Table".
  const names = dump.split('[Ordinal/Name Pointer] Table')[1] ?? '';
  const exported = [];
  for (const line of names.split('\n').slice(1)) {
    const m = /^\s*\[\s*\d+\]\s+(\S+)$/.exec(line);
    if (!m) break;
    exported.push(m[1]);
  }
  for (const name of exported)
    if (!EXPORTS.has(name)) problems.push(`exports ${name} (only the module entry points may be)`);
  if (!exported.includes('napi_register_module_v1'))
    problems.push('does not export napi_register_module_v1 (not a Node-API module)');
  const tuple = /prebuilds[\\/]([a-z0-9]+)-([a-z0-9]+)[\\/][^\\/]+$/.exec(path.resolve(file));
  const symtab = buf.readUInt32LE(buf.readUInt32LE(0x3c) + 12);
  if (tuple && symtab !== 0) problems.push('not stripped (has a COFF symbol table)');
  const kib = Math.round(statSync(file).size / 1024);
  const summary =
    `${format}, ${kib} KiB, imports ${dlls.join(' ')}, delay-loads ` +
    `${fromNode.map((d) => d.dll).join(' ') || 'nothing'} (${napi.length} Node-API functions); ` +
    `exports ${exported.sort().join(', ')}`;
  return { problems, summary };
}

/** Checks one file; returns { problems, summary }. */
function check(file) {
  const magic = readFileSync(file).subarray(0, 2).toString('latin1');
  if (magic === 'MZ') return checkPe(file);
  const problems = [];
  const header = readelf(['-h'], file);
  const machine = /Machine:\s+(.+)/.exec(header)?.[1].trim() ?? '?';
  const type = /Type:\s+(\S+)/.exec(header)?.[1] ?? '?';
  if (type !== 'DYN') problems.push(`ELF type ${type}, expected DYN (a shared object)`);

  const tuple = /prebuilds[\\/]([a-z0-9]+)-([a-z0-9]+)[\\/][^\\/]+$/.exec(path.resolve(file));
  if (tuple && MACHINES[tuple[2]] && machine !== MACHINES[tuple[2]])
    problems.push(
      `ELF machine ${machine}, expected ${MACHINES[tuple[2]]} for ${tuple[1]}-${tuple[2]}`,
    );

  const dynamic = readelf(['-d'], file);
  const needed = [...dynamic.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map(
    (m) => m[1],
  );
  for (const lib of needed)
    if (!ALLOWED_NEEDED.has(lib))
      problems.push(`depends on ${lib} (allowed: libc, libm, libpthread, libdl)`);
  if (/\(TEXTREL\)/.test(dynamic) || /FLAGS.*TEXTREL/.test(dynamic))
    problems.push('has text relocations (not built as PIC)');

  // Versions required from each library (.gnu.version_r).
  const versions = readelf(['-V'], file);
  const required = [...versions.matchAll(/Name:\s+(\S+)\s+Flags:/g)].map((m) => m[1]);
  const glibc = required.filter((v) => v.startsWith('GLIBC_') && /^GLIBC_[\d.]+$/.test(v));
  const floor =
    glibc
      .map((v) => v.slice('GLIBC_'.length))
      .sort(compareVersions)
      .pop() ?? 'none';
  for (const v of glibc)
    if (compareVersions(v.slice('GLIBC_'.length), maxGlibc) > 0)
      problems.push(`needs ${v}, above the floor GLIBC_${maxGlibc}`);
  for (const v of required)
    if (/^(GLIBCXX_|CXXABI_|GCC_)/.test(v))
      problems.push(`needs ${v}: libstdc++/libgcc must be linked statically`);

  // Dynamic symbols: "Num: Value Size Type Bind Vis Ndx Name".
  const syms = readelf(['--dyn-syms'], file)
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter((f) => f.length >= 8 && /^\d+:$/.test(f[0]))
    .map(([, , , symType, bind, vis, ndx, name]) => ({ symType, bind, vis, ndx, name }));
  const exported = [];
  for (const s of syms) {
    if (!s.name || s.symType === 'SECTION' || s.symType === 'FILE') continue;
    const [base, version] = s.name.split('@');
    if (s.ndx === 'UND') {
      if (version) continue; // a versioned libc/libm symbol: covered by the version check
      if (FORBIDDEN_NAPI.has(base))
        problems.push(`imports ${base}: no external ArrayBuffers (Electron refuses them)`);
      else if (/^(napi|node_api)_/.test(base)) continue;
      else if (s.bind === 'WEAK' && WEAK_HOOKS.test(base)) continue;
      else problems.push(`imports ${base}, neither Node-API nor versioned libc`);
    } else if (s.bind !== 'LOCAL' && s.vis === 'DEFAULT') {
      exported.push(base);
      if (!EXPORTS.has(base))
        problems.push(`exports ${base} (only the module entry points may be)`);
    }
  }
  if (!exported.includes('napi_register_module_v1'))
    problems.push('does not export napi_register_module_v1 (not a Node-API module)');

  if (tuple && /\s\.symtab\s/.test(readelf(['-S'], file)))
    problems.push('not stripped (has .symtab)');

  const kib = Math.round(statSync(file).size / 1024);
  const summary =
    `${machine}, ${kib} KiB, needs ${needed.join(' ')}; highest symbol version GLIBC_${floor}` +
    ` (floor allowed: ${maxGlibc}); exports ${exported.sort().join(', ')}`;
  return { problems, summary };
}

let files = args.filter((a) => !a.startsWith('--'));
const missing = [];
if (packageMode) {
  for (const f of ['dist/index.js', 'dist/index.mjs', 'dist/index.d.ts'])
    if (!existsSync(path.join(root, f))) missing.push(`${f} (run npm run build)`);
  for (const t of PACKAGE_TARGETS) {
    const dir = path.join(root, 'prebuilds', t);
    const nodes = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.node')) : [];
    if (nodes.length !== 1)
      missing.push(
        `exactly one .node file in prebuilds/${t}/, found ${nodes.length} (run npm run prebuilds)`,
      );
  }
}
if (files.length === 0) {
  const dir = path.join(root, 'prebuilds');
  for (const t of existsSync(dir) ? readdirSync(dir) : []) {
    if (!t.startsWith('linux-') && !t.startsWith('win32-')) continue;
    for (const f of readdirSync(path.join(dir, t)))
      if (f.endsWith('.node')) files.push(path.join(dir, t, f));
  }
  if (files.length === 0 && !packageMode && !buildDirArg) {
    console.error('check-binary: no prebuilds/*/*.node found (run npm run prebuilds)');
    process.exit(1);
  }
}

let failed = missing.length > 0;
for (const m of missing) console.error(`check-binary: missing ${m}`);
if (buildDirArg) {
  const dir = path.resolve(buildDirArg.slice('--build-dir='.length));
  const { problems, summary } = checkIsaContainment(dir);
  if (problems.length === 0) {
    console.log(
      `check-binary: OK ISA containment in ${path.relative(process.cwd(), dir)}: ${summary}`,
    );
  } else {
    failed = true;
    console.error(`check-binary: FAIL ISA containment in ${dir}: ${summary}`);
    for (const p of problems) console.error(`  - ${p}`);
  }
}
for (const file of files) {
  const { problems, summary } = check(file);
  const name = path.relative(process.cwd(), file);
  if (problems.length === 0) {
    console.log(`check-binary: OK ${name}: ${summary}`);
  } else {
    failed = true;
    console.error(`check-binary: FAIL ${name}: ${summary}`);
    for (const p of problems) console.error(`  - ${p}`);
  }
}
process.exit(failed ? 1 : 0);
