import type { McpServer } from '@modelcontextprotocol/server';
import { z } from 'zod';

const MAX_COUNTDOWN_SECONDS = 3_600;

// Built once: the setup runs for every session and every 2026-07-28 request.
const ECHO_INPUT = z.object({ text: z.string().describe('Text to echo back') });
const ADD_INPUT = z.object({ a: z.number(), b: z.number() });
const ADD_OUTPUT = z.object({ sum: z.number() });
const COUNTDOWN_INPUT = z.object({
  seconds: z.number().int().min(0).max(MAX_COUNTDOWN_SECONDS).describe('How many seconds to count down'),
});

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * The tools served when no `--tools` module is given: `echo`, `add`,
 * `server_time`, and `countdown`, a long call that reports progress every
 * second and stops when cancelled.
 *
 * @example
 * const server = new McpServer({ name: 'demo', version: '1.0.0' });
 * registerDemoTools(server);
 */
export function registerDemoTools(server: McpServer): void {
  server.registerTool(
    'echo',
    {
      description: 'Returns the text it is given.',
      inputSchema: ECHO_INPUT,
    },
    async ({ text }) => ({ content: [{ type: 'text', text }] }),
  );

  server.registerTool(
    'add',
    {
      description: 'Adds two numbers.',
      inputSchema: ADD_INPUT,
      outputSchema: ADD_OUTPUT,
    },
    async ({ a, b }) => ({
      content: [{ type: 'text', text: String(a + b) }],
      structuredContent: { sum: a + b },
    }),
  );

  server.registerTool('server_time', { description: "The server's current time (ISO 8601)." }, async () => ({
    content: [{ type: 'text', text: new Date().toISOString() }],
  }));

  server.registerTool(
    'countdown',
    {
      description: 'Counts down one step per second, sending a progress notification at each step.',
      inputSchema: COUNTDOWN_INPUT,
    },
    async ({ seconds }, ctx) => {
      const token = ctx.mcpReq._meta?.progressToken;
      for (let done = 0; done < seconds; done++) {
        await sleep(1_000, ctx.mcpReq.signal);
        if (token !== undefined) {
          await ctx.mcpReq.notify({
            method: 'notifications/progress',
            params: {
              progressToken: token,
              progress: done + 1,
              total: seconds,
              message: `${seconds - done - 1}s left`,
            },
          });
        }
      }
      return { content: [{ type: 'text', text: `Countdown of ${seconds}s finished` }] };
    },
  );
}
