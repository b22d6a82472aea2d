import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import type { McpServer } from '@modelcontextprotocol/server';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { SetupFn } from '../../src/index.js';
import { waitFor } from '../support/process.js';
import { openRawSession, post, rpc } from '../support/rpc.js';
import { SseReader } from '../support/sse.js';
import { startTether, type TestTether } from '../support/tether.js';
import { fixtureSetup, within } from './fixtures.js';

/** What each `hold` call saw: started, then either aborted (with the signal's reason) or finished. */
interface HoldLog {
  started: string[];
  aborted: string[];
  finished: string[];
}

/** The fixture tools plus `hold {tag, ms}`: waits `ms` unless its AbortSignal fires first. */
function holdSetup(log: HoldLog): SetupFn {
  return async (server: McpServer, context) => {
    await fixtureSetup(server, context);
    server.registerTool(
      'hold',
      {
        description: 'Waits, recording whether it was aborted.',
        inputSchema: z.object({ tag: z.string(), ms: z.number() }),
      },
      async ({ tag, ms }, ctx) => {
        log.started.push(tag);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            log.finished.push(tag);
            resolve();
          }, ms);
          ctx.mcpReq.signal.addEventListener(
            'abort',
            () => {
              clearTimeout(timer);
              log.aborted.push(tag);
              resolve();
            },
            { once: true },
          );
        });
        return { content: [{ type: 'text', text: `held ${tag}` }] };
      },
    );
  };
}

let t: TestTether | undefined;
const closers: Array<() => Promise<unknown>> = [];

afterEach(async () => {
  for (const c of closers.splice(0)) await c().catch(() => {});
  await t?.close();
  t = undefined;
});

describe('cancellation', () => {
  it('2026-07-28: dropping the response stream aborts the tool call at once', async () => {
    const log: HoldLog = { started: [], aborted: [], finished: [] };
    t = await startTether({ setup: holdSetup(log) });
    const client = new Client(
      { name: 'cancel-modern', version: '1.0.0' },
      { versionNegotiation: { mode: { pin: '2026-07-28' } } },
    );
    closers.push(() => client.close());
    await within(client.connect(new StreamableHTTPClientTransport(t.mcpUrl)), 5_000, 'connect');

    const aborter = new AbortController();
    const call = client.callTool(
      { name: 'hold', arguments: { tag: 'm1', ms: 10_000 } },
      { signal: aborter.signal },
    );
    call.catch(() => {});
    await waitFor(() => log.started.includes('m1'), 3_000, 'the call to start');
    const before = Date.now();
    aborter.abort();
    await expect(call).rejects.toThrow();
    await waitFor(() => log.aborted.includes('m1'), 2_000, 'the handler signal to abort');
    expect(Date.now() - before).toBeLessThan(2_000);
    expect(log.finished).toEqual([]);
    await waitFor(() => t!.tether.registry.size === 0, 2_000, 'the response stream to be released');
  });

  it('2025-11-25: a dropped POST stream is not a cancellation, the call runs to its end', async () => {
    const log: HoldLog = { started: [], aborted: [], finished: [] };
    t = await startTether({ setup: holdSetup(log) });
    const session = await openRawSession(t.mcpUrl);
    const aborter = new AbortController();
    const res = await post(
      t.mcpUrl,
      rpc(1, 'tools/call', { name: 'hold', arguments: { tag: 'l1', ms: 500 } }),
      session.headers,
      aborter.signal,
    );
    expect(res.status).toBe(200);
    await waitFor(() => log.started.includes('l1'), 3_000, 'the call to start');
    aborter.abort();
    await waitFor(() => log.finished.includes('l1'), 3_000, 'the call to finish');
    expect(log.aborted).toEqual([]);
    expect(t.tether.sessions.get(session.sessionId)).toBeDefined();
  });

  it('2025-11-25: notifications/cancelled aborts the tool call and the server ends its stream', async () => {
    const log: HoldLog = { started: [], aborted: [], finished: [] };
    // A cancelled request never gets a response, and the request meter still counts it in flight,
    // so close() would wait the whole shutdown grace period (10 s by default); keep it short here.
    t = await startTether({ setup: holdSetup(log), shutdownGraceMs: 500 });
    const session = await openRawSession(t.mcpUrl);
    const res = await post(
      t.mcpUrl,
      rpc(11, 'tools/call', { name: 'hold', arguments: { tag: 'l2', ms: 10_000 } }),
      session.headers,
    );
    const sse = new SseReader(res.body!);
    closers.push(() => sse.cancel());
    await waitFor(() => log.started.includes('l2'), 3_000, 'the call to start');
    const cancel = await post(
      t.mcpUrl,
      { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 11, reason: 'user' } },
      session.headers,
    );
    expect(cancel.status).toBe(202);
    await waitFor(() => log.aborted.includes('l2'), 2_000, 'the handler signal to abort');
    expect(log.finished).toEqual([]);
    // No response follows a cancellation, so the server ends the request's stream itself.
    const rest = await sse.rest(2_000);
    expect(rest.filter((f) => f.data !== undefined && f.data !== '')).toEqual([]);
    expect(
      t
        .logsOf('connection.closed')
        .filter((l) => l.stream === 'response')
        .at(-1),
    ).toMatchObject({
      session_id: session.sessionId,
      reason: 'completed',
    });
    // The session is still usable.
    const echo = await post(
      t.mcpUrl,
      rpc(12, 'tools/call', { name: 'echo', arguments: { text: 'on' } }),
      session.headers,
    );
    expect((await new SseReader(echo.body!).nextMessage())?.message.result).toEqual({
      content: [{ type: 'text', text: 'on' }],
    });
  });
});
