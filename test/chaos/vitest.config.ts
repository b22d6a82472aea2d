import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const SUMMARY = 'test/chaos/99-summary.test.ts';

// `npm run test:chaos`: one file at a time, since every file measures a server
// process and timing on a 2-core machine. The scenarios run in any order; the
// summary, which reads what they recorded, is its own project in a later group.
export default defineConfig({
  root: fileURLToPath(new URL('../..', import.meta.url)),
  test: {
    globalSetup: ['test/chaos/global-setup.ts'],
    fileParallelism: false,
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 30_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'chaos',
          include: ['test/chaos/**/*.test.ts'],
          exclude: [SUMMARY],
          sequence: { groupOrder: 0 },
        },
      },
      { extends: true, test: { name: 'chaos-summary', include: [SUMMARY], sequence: { groupOrder: 1 } } },
    ],
  },
});
