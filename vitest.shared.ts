import { defineConfig } from 'vitest/config';

// GPU tests share one adapter that already uses every core (lavapipe on a
// CPU): run files one at a time, each in its own process, because Dawn wants
// one instance per process.
export default defineConfig({
  test: {
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 60_000,
  },
});
