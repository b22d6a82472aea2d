import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // The browser suite runs alone: `npm run test:browser` (test/browser/vitest.config.ts).
    // The chaos suite too, one file at a time: `npm run test:chaos` (test/chaos/vitest.config.ts).
    exclude: [...configDefaults.exclude, 'test/browser/**', 'test/chaos/**'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
  },
});
