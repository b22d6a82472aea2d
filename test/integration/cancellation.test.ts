import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { Client as V1Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as V1Transport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
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

describe('cancelling a call through the official clients (2025-era sessions)', () => {
  /**
   * The SDK clients resume a stream that ends without a result: cancelling a call used to answer
   * that resumption with an empty stream that ended at once, after which the client opened a plain
   * GET, got 409 (its standalone stream was open) and gave up with an error.
   */
  async function cancelAndWatch(
    connect: (
      url: URL,
      onError: (e: Error) => void,
    ) => Promise<{
      call(signal: AbortSignal): Promise<unknown>;
      echo(): Promise<unknown>;
      close(): Promise<void>;
    }>,
  ) {
    const log: HoldLog = { started: [], aborted: [], finished: [] };
    t = await startTether({ setup: holdSetup(log), retryMs: 100, shutdownGraceMs: 500 });
    const errors: Error[] = [];
    const client = await connect(t.mcpUrl, (e) => errors.push(e));
    closers.push(() => client.close());
    const aborter = new AbortController();
    const call = client.call(aborter.signal).catch((err: unknown) => err);
    await waitFor(() => log.started.length === 1, 3_000, 'the call to start');
    aborter.abort('user');
    await call;
    await waitFor(() => log.aborted.length === 1, 2_000, 'the handler signal to abort');
    await waitFor(() => t!.logsOf('request.cancelled').length === 1, 2_000, 'request.cancelled');
    // The client resumes the ended stream (at the server's 100 ms retry hint) and is told it ended;
    // waiting for that, not for a fixed time, so a busy machine cannot pass this before it happened.
    await waitFor(
      () => t!.logsOf('stream.refused').some((l) => l.code === 'TETHER_ERR_SESSION_STREAM_ENDED'),
      5_000,
      'the resumption of the cancelled stream',
    );
    // Then several more retry intervals, in which a client still looping would open a plain GET.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(errors.map((e) => e.message)).toEqual([]);
    expect(t.logsOf('stream.refused').map((l) => l.code)).not.toContain('TETHER_ERR_SESSION_STREAM_CONFLICT');
    expect(t.logsOf('request.cancelled')[0]).toMatchObject({ method: 'tools/call' });
    await client.echo();
  }

  it('SDK 1.x StreamableHTTPClientTransport: no client error, no refused stream but the ended one', async () => {
    await cancelAndWatch(async (url, onError) => {
      const client = new V1Client({ name: 'cancel-v1', version: '1' });
      const transport = new V1Transport(url);
      await client.connect(transport);
      transport.onerror = onError;
      client.onerror = onError;
      return {
        call: (signal) =>
          client.callTool({ name: 'hold', arguments: { tag: 'v1', ms: 10_000 } }, undefined, { signal }),
        echo: () => client.callTool({ name: 'echo', arguments: { text: 'after' } }),
        close: () => client.close(),
      };
    });
  });

  it('SDK v2 client in its 2025 mode: no client error', async () => {
    await cancelAndWatch(async (url, onError) => {
      const client = new Client(
        { name: 'cancel-v2', version: '1' },
        { versionNegotiation: { mode: 'legacy' } },
      );
      const transport = new StreamableHTTPClientTransport(url);
      await client.connect(transport);
      const chained = transport.onerror;
      transport.onerror = (e) => {
        onError(e);
        chained?.(e);
      };
      client.onerror = onError;
      return {
        call: (signal) => client.callTool({ name: 'hold', arguments: { tag: 'v2', ms: 10_000 } }, { signal }),
        echo: () => client.callTool({ name: 'echo', arguments: { text: 'after' } }),
        close: () => client.close(),
      };
    });
  });
});
