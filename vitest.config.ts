import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    pool: 'forks',
    // One file per core, not vitest's default of one fewer: the heavy files wait on real-time streams, child
    // processes and servers for much of their time (the five live-stream files, one at a time, kept 0.94 of 2 cores
    // busy; two at a time they took 164 s instead of 248 s).
    maxWorkers: availableParallelism(),
    reporters: ['default'],
  },
});
