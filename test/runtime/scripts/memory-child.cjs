// Run as a child process by test/runtime/memory.test.ts (a fresh process, no --expose-gc, so
// nothing calls gc()). Prints one JSON line with RSS figures in MB.
//   dropped:  creates 400 LSTM(512, 512) layers in a synchronous loop and drops each at once
//   disposed: creates 100 of them, keeps every one referenced, and disposes each
//   snapshots: takes 400 snapshots of an 8 MB stream state and drops each (native memory only:
//              nothing but V8's count of external memory can make it collect them)
const [packageDir, mode] = process.argv.slice(2);
const cs = require(packageDir);

const mb = (bytes) => Math.round(bytes / 2 ** 20);
// One layer first, so the addon, the kernels and the thread pool are part of the baseline.
new cs.LSTM({ inputSize: 512, hiddenSize: 512, seed: 0 }).dispose();
if (mode === 'snapshots') {
  const layer = new cs.LSTM({ inputSize: 8, hiddenSize: 256, seed: 1 });
  const stream = layer.stream({ batch: 4096 }); // 4096 rows × (h + c) 512 floats = 8 MB
  stream.snapshot();
  const start = process.memoryUsage().rss;
  let peak = start;
  for (let i = 0; i < 400; ++i) {
    stream.snapshot();
    peak = Math.max(peak, process.memoryUsage().rss);
  }
  console.log(JSON.stringify({ mode, count: 400, kept: 0, startMB: mb(start), peakMB: mb(peak) }));
  process.exit(0);
}
const start = process.memoryUsage().rss;
let peak = start;
const kept = [];
const count = mode === 'dropped' ? 400 : 100;
for (let i = 0; i < count; ++i) {
  const layer = new cs.LSTM({ inputSize: 512, hiddenSize: 512, seed: i });
  if (mode === 'disposed') {
    kept.push(layer);
    layer.dispose();
  }
  peak = Math.max(peak, process.memoryUsage().rss);
}
const end = process.memoryUsage().rss;
console.log(
  JSON.stringify({
    mode,
    count,
    kept: kept.length,
    startMB: mb(start),
    peakMB: mb(peak),
    endMB: mb(end),
  }),
);
