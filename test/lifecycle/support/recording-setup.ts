/**
 * The lifecycle suites' setup: `echo` and a recording `countdown`, so a test
 * can tell when (and whether) a call's AbortSignal fired.
 */
import type { McpServer } from '@modelcontextprotocol/server';
import { z } from 'zod';
import type { SetupFn } from '../../../src/index.js';
import { sleep } from '../../support/process.js';
import { modernRequest } from '../../support/rpc.js';

/** What the recording countdown saw of one call. */
export interface CountdownRun {
  era: 'legacy' | 'modern';
  seconds: number;
  startedAt: number;
  /** `performance.now()` when the handler's AbortSignal fired. */
  abortedAt: number | undefined;
  /** Steps completed. */
  steps: number;
  finished: boolean;
}

/**
 * A setup with `echo` and a `countdown {seconds, stepMs?}` that behaves like the
 * demo tool (progress each step, honours its AbortSignal) and records every
 * call in `runs`, including when its AbortSignal fired.
 *
 * @example
 * const recorder = recordingSetup();
 * const t = await startTether({ setup: recorder.setup });
 * // ... recorder.runs[0].abortedAt
 */
export function recordingSetup(): { setup: SetupFn; runs: CountdownRun[] } {
  const runs: CountdownRun[] = [];
  const setup: SetupFn = (server: McpServer, { era }) => {
    server.registerTool('echo', { inputSchema: z.object({ text: z.string() }) }, async ({ text }) => ({
      content: [{ type: 'text', text }],
    }));
    server.registerTool(
      'countdown',
      {
        inputSchema: z.object({
          seconds: z.number().int().min(0),
          stepMs: z.number().int().min(1).optional(),
        }),
      },
      async ({ seconds, stepMs = 1_000 }, ctx) => {
        const signal = ctx.mcpReq.signal;
        const run: CountdownRun = {
          era,
          seconds,
          startedAt: performance.now(),
          abortedAt: undefined,
          steps: 0,
          finished: false,
        };
        runs.push(run);
        // Only an abort while the call runs counts; the SDK may abort a finished call's signal later.
        signal.addEventListener(
          'abort',
          () => {
            if (!run.finished) run.abortedAt = performance.now();
          },
          { once: true },
        );
        const token = ctx.mcpReq._meta?.progressToken;
        for (let step = 1; step <= seconds; step++) {
          await sleep(stepMs, signal);
          run.steps = step;
          if (token !== undefined) {
            await ctx.mcpReq.notify({
              method: 'notifications/progress',
              params: { progressToken: token, progress: step, total: seconds },
            });
          }
        }
        run.finished = true;
        return { content: [{ type: 'text', text: `Countdown of ${seconds} finished` }] };
      },
    );
  };
  return { setup, runs };
}

/** A raw 2026-07-28 tools/call of the recording countdown (id `modern`, progress token `m`). */
export function modernCountdown(seconds: number, stepMs: number) {
  return modernRequest(
    'modern',
    'tools/call',
    { name: 'countdown', arguments: { seconds, stepMs } },
    { progressToken: 'm' },
  );
}
