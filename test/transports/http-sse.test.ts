import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import express from 'express';
import { describe, expect, it } from 'vitest';
import { createTether } from '../../src/index.js';
import { gate, waitFor, within } from '../support/process.js';
import { json, type SseReader as Reader, SseReader } from '../support/sse.js';
import { tetherPerTest } from '../support/tether.js';
import { call, holdSetup } from './support/tools.js';

const { start, defer } = tetherPerTest();

/** A legacy session opened with plain fetch: the stream and the endpoint it announced. */
interface RawLegacy {
  reader: Reader;
  endpoint: string;
  sessionId: string;
  abort(): void;
}

async function openLegacy(base: string, path = '/sse'): Promise<RawLegacy> {
  const controller = new AbortController();
  const res = await fetch(`${base}${path}`, {
    headers: { accept: 'text/event-stream' },
    signal: controller.signal,
  });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('text/event-stream');
  const reader = new SseReader(res.body!);
  const first = await reader.next();
  expect(first?.event).toBe('endpoint');
  const endpoint = first!.data!;
  const sessionId = new URL(endpoint, base).searchParams.get('sessionId') ?? '';
  const abort = () => controller.abort();
  defer(abort);
  return { reader, endpoint, sessionId, abort };
}

function postMessage(base: string, endpoint: string, body: unknown, contentType = 'application/json') {
  return fetch(new URL(endpoint, base), {
    method: 'POST',
    headers: { 'content-type': contentType },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** initialize + notifications/initialized over the raw session. */
async function handshake(base: string, s: RawLegacy): Promise<void> {
  const init = await postMessage(base, s.endpoint, {
    jsonrpc: '2.0',
    id: 0,
    method: 'initialize',
    params: { protocolVersion: '2024-11-05', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
  });
  expect(init.status).toBe(202);
  expect(await init.text()).toBe('Accepted');
  let reply = json(await s.reader.nextEvent('message'));
  // A liveness ping may come first on a slow run; answer it like a client would.
  while (typeof reply.id === 'string' && reply.id.startsWith('tether-ping-')) {
    await postMessage(base, s.endpoint, { jsonrpc: '2.0', id: reply.id, result: {} });
    reply = json(await s.reader.nextEvent('message'));
  }
  expect(reply).toMatchObject({ id: 0, result: { protocolVersion: '2024-11-05' } });
  const ack = await postMessage(base, s.endpoint, { jsonrpc: '2.0', method: 'notifications/initialized' });
  expect(ack.status).toBe(202);
}

async function sdkClient(url: URL): Promise<Client> {
  const client = new Client({ name: 'legacy-test', version: '1.0.0' });
  await client.connect(new SSEClientTransport(url));
  defer(() => client.close().catch(() => {}));
  return client;
}

describe('HTTP+SSE with the v1 SDK SSEClientTransport', () => {
  it('connects, lists and calls tools, streams progress, and frees the session when the client closes', async () => {
    const tt = await start();
    const client = await sdkClient(new URL(`${tt.url}/sse`));
    const { tools } = await client.listTools();
    expect(tools.map((x) => x.name)).toEqual(['echo', 'add', 'server_time', 'countdown']);
    const echoed = await client.callTool({ name: 'echo', arguments: { text: 'over legacy sse' } });
    expect(echoed.content).toEqual([{ type: 'text', text: 'over legacy sse' }]);

    const progress: number[] = [];
    const done = await client.callTool({ name: 'countdown', arguments: { seconds: 3 } }, undefined, {
      onprogress: (p) => progress.push(p.progress),
    });
    expect(done.content).toEqual([{ type: 'text', text: 'Countdown of 3s finished' }]);
    // The v1 client runs progress handlers a microtask late and drops them once
    // the response is in, so the last step (sent just before the result) may be lost.
    expect(progress.slice(0, 2)).toEqual([1, 2]);

    const [connection] = [...tt.tether.registry.values()];
    expect(connection?.transport).toBe('http-sse');
    await client.close();
    await waitFor(() => tt.tether.registry.size === 0, 5_000, 'stream released');
    const closed = tt.logsOf('connection.closed');
    expect(closed).toEqual([
      expect.objectContaining({
        transport: 'http-sse',
        reason: 'client_disconnect',
        session_id: connection?.sessionId,
      }),
    ]);
    const late = await postMessage(tt.url, `/messages?sessionId=${connection?.sessionId}`, {
      jsonrpc: '2.0',
      id: 1,
      method: 'ping',
    });
    expect(late.status).toBe(404);
  });
});

describe('HTTP+SSE: liveness with the v1 SDK client', () => {
  it('answers the JSON-RPC liveness pings by itself, so an idle client is never timed out', async () => {
    const tt = await start({ pingIntervalMs: 100, maxPingFailures: 2 });
    const client = await sdkClient(new URL(`${tt.url}/sse`));
    const [connection] = [...tt.tether.registry.values()];
    await waitFor(() => (connection?.pingsSent ?? 0) >= 6, 5_000, 'six liveness pings');
    expect(tt.logsOf('connection.closed')).toEqual([]);
    expect(connection?.consecutiveFailures).toBe(0);
    const result = await client.callTool({ name: 'echo', arguments: { text: 'alive' } });
    expect(result.content).toEqual([{ type: 'text', text: 'alive' }]);
  });
});

describe('HTTP+SSE over raw fetch', () => {
  it('announces the endpoint, accepts messages with 202 and answers on the stream', async () => {
    const tt = await start();
    const s = await openLegacy(tt.url);
    expect(s.endpoint).toMatch(/^\/messages\?sessionId=[A-Za-z0-9_-]{22,}$/);
    expect(tt.tether.registry.get([...tt.tether.registry.values()][0]!.id)?.sessionId).toBe(s.sessionId);
    await handshake(tt.url, s);

    const res = await postMessage(tt.url, s.endpoint, call(5, 'echo', { text: 'raw' }));
    expect(res.status).toBe(202);
    expect(json(await s.reader.nextEvent('message'))).toEqual({
      jsonrpc: '2.0',
      id: 5,
      result: { content: [{ type: 'text', text: 'raw' }] },
    });

    // A batch is delivered message by message.
    const batch = await postMessage(tt.url, s.endpoint, [
      call(6, 'add', { a: 1, b: 2 }),
      call(7, 'echo', { text: 'b' }),
    ]);
    expect(batch.status).toBe(202);
    const ids = [json(await s.reader.nextEvent('message')).id, json(await s.reader.nextEvent('message')).id];
    expect(ids.sort()).toEqual([6, 7]);
  });

  it('keeps an idle stream alive with a JSON-RPC ping every interval; answered, the stream stays open', async () => {
    const tt = await start({ pingIntervalMs: 100, maxPingFailures: 2 });
    const s = await openLegacy(tt.url);
    await handshake(tt.url, s);
    // Six intervals, more than maxPingFailures, each ping answered as the SDK clients do.
    for (let i = 1; i <= 6; i++) {
      const frame = await s.reader.next(2_000);
      expect(frame?.event).toBe('message');
      const ping = json<{ id: string; method: string }>(frame!);
      expect(ping).toEqual({ jsonrpc: '2.0', id: expect.stringMatching(/^tether-ping-/), method: 'ping' });
      const reply = await postMessage(tt.url, s.endpoint, { jsonrpc: '2.0', id: ping.id, result: {} });
      expect(reply.status).toBe(202);
    }
    expect(tt.tether.registry.size).toBe(1);
    expect(tt.logsOf('connection.closed')).toEqual([]);
  });

  it('closes a stream whose client never answers the pings with ping_timeout, freeing the session', async () => {
    const tt = await start({ pingIntervalMs: 100, maxPingFailures: 2 });
    const s = await openLegacy(tt.url);
    await waitFor(() => tt.logsOf('connection.closed').length === 1, 5_000, 'stream closed');
    expect(tt.logsOf('connection.closed')[0]).toMatchObject({
      reason: 'ping_timeout',
      transport: 'http-sse',
    });
    expect((await postMessage(tt.url, s.endpoint, call(1, 'echo', { text: 'x' }))).status).toBe(404);
    expect(tt.tether.registry.size).toBe(0);
  });

  it('frees the session the moment its stream closes, aborting the call in flight', async () => {
    const { setup, record } = holdSetup();
    const tt = await start({ setup });
    const s = await openLegacy(tt.url);
    await handshake(tt.url, s);
    expect((await postMessage(tt.url, s.endpoint, call(1, 'hold', { tag: 'legacy' }))).status).toBe(202);
    await waitFor(() => record.started.length === 1, 5_000, 'hold call started');

    s.abort();
    await waitFor(() => tt.logsOf('connection.closed').length === 1, 5_000, 'stream closed');
    // Right after the close, not after a sweep: the session is already gone.
    const late = await postMessage(tt.url, s.endpoint, call(2, 'echo', { text: 'late' }));
    expect(late.status).toBe(404);
    expect(tt.tether.registry.size).toBe(0);
    expect(tt.logsOf('connection.closed')[0]).toMatchObject({
      reason: 'client_disconnect',
      transport: 'http-sse',
    });
    await waitFor(() => record.aborted.length === 1, 5_000, 'hold call aborted');
    expect(record.servers.at(-1)!.isConnected()).toBe(false);
  });

  it('ends a stream closed by the server with a retry hint and frees its session', async () => {
    const tt = await start({ retryMs: 1_234 });
    const s = await openLegacy(tt.url);
    const id = [...tt.tether.registry.values()][0]!.id;
    tt.tether.registry.get(id)?.close('manual');
    const rest = await s.reader.rest(5_000);
    expect(rest).toEqual([expect.objectContaining({ retry: 1_234 })]);
    expect((await postMessage(tt.url, s.endpoint, call(1, 'echo', { text: 'x' }))).status).toBe(404);
    expect(tt.logsOf('connection.closed')[0]).toMatchObject({ reason: 'manual' });
  });

  it('frees a stream whose client left while its server was still being built', async () => {
    const setupGate = gate();
    defer(() => setupGate.open());
    let built = 0;
    const tt = await start({
      setup: async (server, ctx) => {
        built++;
        await setupGate.promise;
        holdSetup().setup(server, ctx);
      },
    });
    const controller = new AbortController();
    const pending = fetch(`${tt.url}/sse`, {
      headers: { accept: 'text/event-stream' },
      signal: controller.signal,
    });
    pending.catch(() => {});
    await waitFor(() => built === 1, 5_000, 'setup entered');
    controller.abort();
    await new Promise((r) => setTimeout(r, 100));
    setupGate.open();
    await waitFor(() => tt.tether.registry.size === 0, 2_000, 'no stream left behind');
    await new Promise((r) => setTimeout(r, 100));
    expect(tt.tether.registry.size).toBe(0);
    const opened = tt.logsOf('connection.opened').length;
    expect(tt.logsOf('connection.closed')).toHaveLength(opened);
  });

  it('ends the stream with reason error when the setup throws', async () => {
    const tt = await start({
      retryMs: 4_321,
      setup: () => {
        throw new Error('setup exploded');
      },
    });
    const res = await fetch(`${tt.url}/sse`, { headers: { accept: 'text/event-stream' } });
    expect(res.status).toBe(200);
    const frames = await new SseReader(res.body!).rest(5_000);
    expect(frames).toEqual([expect.objectContaining({ retry: 4_321 })]);
    expect(tt.logsOf('connection.closed')).toEqual([
      expect.objectContaining({ transport: 'http-sse', reason: 'error' }),
    ]);
    expect(tt.tether.registry.size).toBe(0);
  });

  it('answers bad requests with the right status and never opens a stream for them', async () => {
    const tt = await start({ maxBodyBytes: 1_024 });
    const s = await openLegacy(tt.url);
    const unknown = await postMessage(
      tt.url,
      '/messages?sessionId=not-a-session',
      call(1, 'echo', { text: 'x' }),
    );
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ error: { data: { code: 'TETHER_ERR_SESSION_NOT_FOUND' } } });
    expect((await postMessage(tt.url, '/messages', call(1, 'echo'))).status).toBe(400);
    expect((await postMessage(tt.url, s.endpoint, 'x', 'text/plain')).status).toBe(415);
    const parse = await postMessage(tt.url, s.endpoint, '{"jsonrpc":');
    expect(parse.status).toBe(400);
    expect(await parse.json()).toMatchObject({ error: { code: -32700 } });
    const invalid = await postMessage(tt.url, s.endpoint, { hello: 1 });
    expect(invalid.status).toBe(400);
    expect(await invalid.json()).toMatchObject({ error: { code: -32600 } });
    expect((await postMessage(tt.url, s.endpoint, call(1, 'echo', { text: 'x'.repeat(4_096) }))).status).toBe(
      413,
    );
    expect((await fetch(`${tt.url}/sse`, { method: 'POST' })).status).toBe(405);
    expect((await fetch(`${tt.url}/messages`)).status).toBe(405);
    const json406 = await fetch(`${tt.url}/sse`, { headers: { accept: 'application/json' } });
    expect(json406.status).toBe(406);
    // Only the one good stream is open, and it still works.
    expect(tt.tether.registry.size).toBe(1);
    await handshake(tt.url, s);
  });
});

describe('HTTP+SSE mounted under Express', () => {
  it('announces the endpoint under the mount path and serves the SDK client there', async () => {
    const tether = createTether({ logLevel: 'silent' });
    const app = express();
    app.use('/tools', tether.handler);
    const server: Server = await new Promise((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    defer(async () => {
      await tether.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    const raw = await openLegacy(base, '/tools/sse');
    expect(raw.endpoint).toMatch(/^\/tools\/messages\?sessionId=/);
    await handshake(base, raw);

    const client = await sdkClient(new URL(`${base}/tools/sse`));
    const result = await within(
      client.callTool({ name: 'echo', arguments: { text: 'mounted' } }),
      5_000,
      'echo under /tools',
    );
    expect(result.content).toEqual([{ type: 'text', text: 'mounted' }]);
    expect(tether.registry.size).toBe(2);
  });
});
