import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

const SUMMARY = 'test/chaos/99-summary.test.ts';

/**
 * Leaves the scenarios in Vitest's own order (they share nothing but the
 * results directory) and runs the summary, which reads what they recorded,
 * after all of them. (`sequence.groupOrder` would say the same with two
 * projects, but Vitest 4.1 does not keep groups apart once files run one at
 * a time.)
 */
class SummaryLast extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const isSummary = (f: TestSpecification) => f.moduleId.endsWith(SUMMARY);
    return [...sorted.filter((f) => !isSummary(f)), ...sorted.filter(isSummary)];
  }
}

// `npm run test:chaos`: one file at a time, since every file measures a server
// process and timing on a 2-core machine.
export default defineConfig({
  root: fileURLToPath(new URL('../..', import.meta.url)),
  test: {
    include: ['test/chaos/**/*.test.ts'],
    globalSetup: ['test/chaos/global-setup.ts'],
    fileParallelism: false,
    sequence: { sequencer: SummaryLast },
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 30_000,
  },
});
