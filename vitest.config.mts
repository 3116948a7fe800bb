import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Child processes rather than worker threads: the addon is loaded the way users load it,
    // and a crash in native code takes down one test file, not the runner.
    pool: 'forks',
    // Some tests train small models; the generous limits are for slow (emulated, sanitized)
    // machines, not expectations.
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
