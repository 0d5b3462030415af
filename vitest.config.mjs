import { defineConfig } from 'vitest/config';

const PROCESS_TESTS = ['cli', 'crash', 'lock', 'pg-cluster', 'postgres*', 'store-contract*'].map((f) => `test/receiver/${f}.test.ts`);

export default defineConfig({
  test: {
    projects: [
      {
        // In-process: no child process, cluster or browser (`npm run test:unit`).
        test: {
          name: 'receiver',
          include: ['test/receiver/**/*.test.ts'],
          exclude: PROCESS_TESTS,
          environment: 'node',
          testTimeout: 30_000,
        },
      },
      {
        // The built CLI as a child process (kill -9 included) and throwaway PostgreSQL clusters: a
        // cluster's start and stop take seconds on a busy disk, so hooks get a minute.
        test: {
          name: 'process',
          include: PROCESS_TESTS,
          environment: 'node',
          testTimeout: 120_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'browser',
          include: ['test/browser/**/*.test.ts'],
          environment: 'happy-dom',
        },
      },
      {
        // Real Chromium and child processes: one file at a time on a 2-core machine.
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          environment: 'node',
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        // kill -9, hostile bodies, floods against receiver child processes: one file at a time, and
        // each test bounds its own loops in count and time.
        test: {
          name: 'torture',
          include: ['test/torture/**/*.test.ts'],
          environment: 'node',
          fileParallelism: false,
          testTimeout: 180_000,
          hookTimeout: 60_000,
        },
      },
      {
        // npm pack + npm install into a fresh project outside the repository, then the README's Koa
        // snippet and tsc against the installed types: slow on a loaded machine, and one file.
        test: {
          name: 'pack',
          include: ['test/pack/**/*.test.ts'],
          environment: 'node',
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
