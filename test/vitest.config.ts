import { defineConfig } from 'vitest/config';

// GPU tests share one software adapter that already uses every core: run
// files one at a time, each in its own process (one Dawn instance each).
export default defineConfig({
  test: {
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 60_000,
  },
});
