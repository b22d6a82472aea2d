import type { McpServer } from '@modelcontextprotocol/server';
import { z } from 'zod';
import type { SetupFn } from '../../../src/index.js';
import { fetchText, messageOf, parseFrames } from './sse.js';

export const LEGACY_VERSION = '2025-11-25';
export const MODERN_VERSION = '2026-07-28';
export const ACCEPT_BOTH = 'application/json, text/event-stream';

/** Headers for every request of an initialized 2025-era session. */
export function sessionHeaders(sessionId: string): Record<string, string> {
  return { accept: ACCEPT_BOTH, 'mcp-session-id': sessionId, 'mcp-protocol-version': LEGACY_VERSION };
}

/** Headers for an SSE GET on a 2025-era session. */
export function getHeaders(sessionId: string, lastEventId?: string): Record<string, string> {
  return {
    accept: 'text/event-stream',
    'mcp-session-id': sessionId,
    'mcp-protocol-version': LEGACY_VERSION,
    ...(lastEventId === undefined ? {} : { 'last-event-id': lastEventId }),
  };
}

/** Runs initialize + notifications/initialized over raw HTTP; resolves to the session id. */
export async function initSession(mcpUrl: URL): Promise<string> {
  const init = await fetchText(mcpUrl, {
    headers: { accept: ACCEPT_BOTH },
    body: {
      jsonrpc: '2.0',
      id: 'init',
      method: 'initialize',
      params: {
        protocolVersion: LEGACY_VERSION,
        capabilities: {},
        clientInfo: { name: 'lifecycle-test', version: '1.0.0' },
      },
    },
  });
  const sessionId = init.headers['mcp-session-id'];
  if (init.status !== 200 || typeof sessionId !== 'string') {
    throw new Error(`initialize failed: ${init.status} ${init.text}`);
  }
  const result = parseFrames(init.text)
    .map(messageOf)
    .find((m) => m?.id === 'init');
  if (!result?.result) throw new Error(`initialize returned no result: ${init.text}`);
  const ack = await fetchText(mcpUrl, {
    headers: sessionHeaders(sessionId),
    body: { jsonrpc: '2.0', method: 'notifications/initialized' },
  });
  if (ack.status !== 202) throw new Error(`notifications/initialized answered ${ack.status}`);
  return sessionId;
}

/** A JSON-RPC tools/call request, with a progress token when given. */
export function toolCall(
  id: string | number,
  name: string,
  args: Record<string, unknown>,
  progressToken?: string,
): Record<string, unknown> {
  return {
    jsonrpc: '2.0',
    id,
    method: 'tools/call',
    params: { name, arguments: args, ...(progressToken === undefined ? {} : { _meta: { progressToken } }) },
  };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
}

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
