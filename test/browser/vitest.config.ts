import { defineConfig } from 'vitest/config';

/**
 * The browser suite: the test page driven in Debian's Chromium by
 * playwright-core. Run alone with `npm run test:browser` (it builds the
 * page script first); the default config leaves `test/browser/**` out.
 */
export default defineConfig({
  test: {
    include: ['test/browser/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // One Chromium at a time: the suites measure what a page sees, not how many fit.
    fileParallelism: false,
  },
});
