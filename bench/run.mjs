// Benchmarks entry point (npm run bench).
console.log('no benchmarks yet');
