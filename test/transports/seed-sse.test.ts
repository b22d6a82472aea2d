import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { type IncomingMessage, request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { gate, waitFor, within } from '../support/process.js';
import { followUp, openSeed, rpc, SEED_HEADERS } from '../support/rpc.js';
import { json, SseReader } from '../support/sse.js';
import { type TestTether, tetherPerTest } from '../support/tether.js';
import { call, holdSetup } from './support/tools.js';

const { start, defer } = tetherPerTest();

const HAS_CURL = spawnSync('curl', ['--version']).status === 0;
if (!HAS_CURL) console.warn('curl not installed: the verbatim run of the seed curl example is skipped');

const WELCOME_DATA = (id: string) =>
  `{"jsonrpc":"2.0","result":{"status":"connected","connection_id":"${id}"},"id":"welcome"}`;

/** `connection.closed` log lines of one seed stream. */
function closedLines(tt: TestTether, id: string) {
  return tt.logsOf('connection.closed').filter((l) => l.connection_id === id);
}

/** POST /mcp/sse with node:http, to see the response head exactly as sent. */
function rawOpen(base: string, body: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}/mcp/sse`, { method: 'POST', headers: SEED_HEADERS }, resolve);
    req.once('error', reject);
    req.end(body);
  });
}

describe('POST /mcp/sse: opening a stream', () => {
  it('flushes the SSE headers and the welcome event before the server behind it is even built', async () => {
    const setupGate = gate();
    defer(() => setupGate.open());
    const tt = await start({
      setup: async (server) => {
        await setupGate.promise;
        holdSetup().setup(server, { era: 'legacy' });
      },
    });
    const res = await within(rawOpen(tt.url, ''), 5_000, 'response head while setup is blocked');
    defer(() => res.destroy());
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/event-stream');
    expect(res.headers['cache-control']).toBe('no-cache');
    expect(res.headers.connection).toBe('keep-alive');
    expect(res.headers['x-accel-buffering']).toBe('no');
    res.setEncoding('utf8');
    const [first] = (await within(once(res, 'data'), 5_000, 'welcome while setup is blocked')) as [string];
    const id = [...tt.tether.registry.values()][0]?.id ?? '';
    expect(first).toBe(`event: welcome\ndata: ${WELCOME_DATA(id)}\n\n`);
    setupGate.open();
  });

  it('greets with exactly the seed welcome carrying an unguessable mcp_sse_ id', async () => {
    const tt = await start();
    const ids = new Set<string>();
    for (let i = 0; i < 5; i++) {
      const s = await openSeed(tt.url);
      defer(() => s.abort());
      expect(s.connectionId).toMatch(/^mcp_sse_[A-Za-z0-9_-]{22,}$/);
      ids.add(s.connectionId);
    }
    expect(ids.size).toBe(5);
    // The id names the live stream in the registry and in the log.
    for (const id of ids) expect(tt.tether.registry.get(id)?.transport).toBe('seed-sse');
    const opened = tt.logsOf('connection.opened').map((l) => l.connection_id);
    expect(opened.sort()).toEqual([...ids].sort());

    const res = await fetch(`${tt.url}/mcp/sse`, { method: 'POST', headers: SEED_HEADERS, body: '' });
    const reader = new SseReader(res.body!);
    defer(() => reader.cancel());
    const welcome = await reader.next();
    expect(welcome?.event).toBe('welcome');
    const id = json<{ result: { connection_id: string } }>(welcome!).result.connection_id;
    expect(welcome?.data).toBe(WELCOME_DATA(id));
  });

  it.skipIf(!HAS_CURL)('answers the seed curl example verbatim: ping without initialize', async () => {
    const tt = await start();
    const curl: ChildProcess = spawn('curl', [
      '-N',
      '-H',
      'Accept: text/event-stream',
      '-H',
      'Content-Type: application/json',
      '-d',
      '{"jsonrpc":"2.0","method":"ping","params":{},"id":"test"}',
      `${tt.url}/mcp/sse`,
    ]);
    defer(() => {
      if (curl.pid !== undefined && curl.exitCode === null && curl.signalCode === null)
        process.kill(curl.pid, 'SIGKILL');
    });
    let out = '';
    curl.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
    });
    await waitFor(() => out.includes('event: response'), 5_000, 'the response event on curl stdout');
    const id = [...tt.tether.registry.values()][0]?.id ?? '';
    expect(out).toBe(
      `event: welcome\ndata: ${WELCOME_DATA(id)}\n\n` +
        'event: response\ndata: {"jsonrpc":"2.0","result":{},"id":"test"}\n\n',
    );
    // Stopping the client is noticed at once and logged with its reason.
    process.kill(curl.pid!, 'SIGTERM');
    await waitFor(() => closedLines(tt, id).length === 1, 5_000, 'connection.closed after curl exits');
    expect(closedLines(tt, id)[0]).toMatchObject({ transport: 'seed-sse', reason: 'client_disconnect' });
    expect(tt.tether.registry.size).toBe(0);
  });

  it('answers tools/list and tools/call in the body as `response`, errors as `error`, with the request id', async () => {
    const tt = await start();
    const list = await openSeed(tt.url, rpc('list-1', 'tools/list'));
    defer(() => list.abort());
    const listed = await list.reader.nextEvent('response');
    const tools = json<{ id: string; result: { tools: Array<{ name: string }> } }>(listed);
    expect(tools.id).toBe('list-1');
    expect(tools.result.tools.map((x) => x.name)).toEqual(['echo', 'add', 'server_time', 'countdown']);

    const echo = await openSeed(tt.url, call(42, 'echo', { text: 'hello seed' }));
    defer(() => echo.abort());
    const echoed = await echo.reader.nextEvent('response');
    expect(echoed.data).toBe(
      '{"jsonrpc":"2.0","result":{"content":[{"type":"text","text":"hello seed"}]},"id":42}',
    );

    const unknownTool = await openSeed(tt.url, call('c-2', 'no_such_tool'));
    defer(() => unknownTool.abort());
    const toolError = json<{ id: string; error: { code: number; message: string } }>(
      await unknownTool.reader.nextEvent('error'),
    );
    expect(toolError).toMatchObject({ jsonrpc: '2.0', id: 'c-2', error: { code: -32602 } });
    expect(toolError.error.message).toContain('no_such_tool');

    const unknownMethod = await openSeed(tt.url, rpc(7, 'no/such/method'));
    defer(() => unknownMethod.abort());
    const methodError = await unknownMethod.reader.nextEvent('error');
    expect(json(methodError)).toEqual({
      jsonrpc: '2.0',
      error: { code: -32601, message: 'Method not found' },
      id: 7,
    });
  });
});

describe('POST /mcp/sse?connection_id=: follow-ups', () => {
  it('answers 202 and delivers the reply on the open stream, in order', async () => {
    const tt = await start();
    const s = await openSeed(tt.url);
    defer(() => s.abort());
    const first = await followUp(tt.url, s.connectionId, call('f-1', 'add', { a: 2, b: 3 }));
    expect(first.status).toBe(202);
    await first.arrayBuffer();
    const second = await followUp(tt.url, s.connectionId, call('f-2', 'echo', { text: 'two' }));
    expect(second.status).toBe(202);
    await second.arrayBuffer();
    const a = json(await s.reader.nextEvent('response'));
    const b = json(await s.reader.nextEvent('response'));
    expect(a).toMatchObject({ id: 'f-1', result: { structuredContent: { sum: 5 } } });
    expect(b).toMatchObject({ id: 'f-2', result: { content: [{ type: 'text', text: 'two' }] } });
  });

  it('streams progress of a long call as `notification` events before its `response`', async () => {
    const tt = await start();
    const s = await openSeed(tt.url);
    defer(() => s.abort());
    const body = { ...call('cd', 'countdown', { seconds: 2 }) };
    (body.params as Record<string, unknown>)._meta = { progressToken: 'tok' };
    const res = await followUp(tt.url, s.connectionId, body);
    expect(res.status).toBe(202);
    const events: string[] = [];
    for (;;) {
      const frame = await s.reader.next(5_000);
      if (frame === undefined || frame.event === 'ping') continue;
      events.push(frame.event ?? '');
      if (frame.event === 'notification') {
        expect(json(frame)).toMatchObject({
          method: 'notifications/progress',
          params: { progressToken: 'tok' },
        });
      }
      if (frame.event === 'response') break;
    }
    expect(events).toEqual(['notification', 'notification', 'response']);
  });

  it('answers 404 for an unknown or already closed connection_id', async () => {
    const tt = await start();
    const unknown = await followUp(tt.url, 'mcp_sse_not-a-real-id', rpc(1, 'ping'));
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ error: { data: { code: 'TETHER_ERR_SESSION_NOT_FOUND' } } });

    const s = await openSeed(tt.url);
    s.abort();
    await waitFor(() => closedLines(tt, s.connectionId).length === 1, 5_000, 'stream closed');
    const late = await followUp(tt.url, s.connectionId, rpc(2, 'ping'));
    expect(late.status).toBe(404);
  });
});

describe('POST /mcp/sse: keepalive', () => {
  it('sends `event: ping` with timestamp, ping_count and uptime every ping interval', async () => {
    const tt = await start({ pingIntervalMs: 100 });
    const s = await openSeed(tt.url);
    defer(() => s.abort());
    const pings: Array<{ event: string; data: { timestamp: number; ping_count: number; uptime: number } }> =
      [];
    const arrivals: number[] = [];
    while (pings.length < 4) {
      const frame = await s.reader.nextEvent('ping', 2_000);
      pings.push(json(frame));
      arrivals.push(frame.receivedAt);
    }
    const nowS = Math.floor(Date.now() / 1000);
    pings.forEach((p, i) => {
      expect(Object.keys(p)).toEqual(['event', 'data']);
      expect(p.event).toBe('ping');
      expect(Object.keys(p.data)).toEqual(['timestamp', 'ping_count', 'uptime']);
      expect(p.data.ping_count).toBe(i + 1);
      expect(Number.isInteger(p.data.timestamp)).toBe(true);
      expect(Math.abs(p.data.timestamp - nowS)).toBeLessThanOrEqual(2);
      expect(Number.isInteger(p.data.uptime) && p.data.uptime >= 0).toBe(true);
    });
    // One per interval, not a burst: four pings span at least two intervals.
    expect(arrivals[3]! - arrivals[0]!).toBeGreaterThanOrEqual(200);
    expect(tt.tether.registry.get(s.connectionId)?.pingsSent).toBeGreaterThanOrEqual(4);
  });
});

describe('POST /mcp/sse: termination releases everything', () => {
  /** Opens a stream with a `hold` call in flight. */
  async function streamWithCallInFlight(tt: TestTether, record: ReturnType<typeof holdSetup>['record']) {
    const s = await openSeed(tt.url, call('h', 'hold', { tag: 'in-flight' }));
    defer(() => s.abort());
    await waitFor(() => record.started.includes('in-flight'), 5_000, 'hold call started');
    return s;
  }

  it.each([
    ['max_age', { maxConnectionAgeMs: 400, pingIntervalMs: 250 }, (_tt: TestTether, _id: string) => {}],
    ['manual', {}, (tt: TestTether, id: string) => tt.tether.registry.get(id)?.close('manual')],
    ['shutdown', { shutdownGraceMs: 200 }, (tt: TestTether) => void tt.tether.close()],
  ] as const)(
    'on %s: a final `close` event with the reason, then the stream ends, the call is aborted, the entry freed',
    async (reason, options, trigger) => {
      const { setup, record } = holdSetup();
      const tt = await start({ ...options, retryMs: 2_500, setup });
      const s = await streamWithCallInFlight(tt, record);
      trigger(tt, s.connectionId);
      const close = await s.reader.nextEvent('close', 5_000);
      expect(json(close)).toEqual({ reason });
      expect(close.retry).toBe(2_500);
      expect(await s.reader.rest(5_000)).toEqual([]);

      await waitFor(() => record.aborted.length === 1, 5_000, 'hold call aborted');
      expect(record.aborted[0]?.tag).toBe('in-flight');
      expect(tt.tether.registry.size).toBe(0);
      expect(closedLines(tt, s.connectionId)).toEqual([
        expect.objectContaining({ transport: 'seed-sse', reason, session_id: s.connectionId }),
      ]);
      const streamServer = record.servers.at(-1)!;
      expect(streamServer.isConnected()).toBe(false);
      if (reason !== 'shutdown') {
        const late = await followUp(tt.url, s.connectionId, rpc(1, 'ping'));
        expect(late.status).toBe(404);
      }
    },
  );

  it('on client disconnect: the in-flight call is aborted and the stream logged as client_disconnect', async () => {
    const { setup, record } = holdSetup();
    const tt = await start({ setup });
    const s = await streamWithCallInFlight(tt, record);
    s.abort();
    await waitFor(() => record.aborted.length === 1, 5_000, 'hold call aborted');
    expect(tt.tether.registry.size).toBe(0);
    expect(closedLines(tt, s.connectionId)).toEqual([
      expect.objectContaining({ transport: 'seed-sse', reason: 'client_disconnect' }),
    ]);
    expect(record.servers.at(-1)!.isConnected()).toBe(false);
    expect((await followUp(tt.url, s.connectionId, rpc(1, 'ping'))).status).toBe(404);
  });

  it('on a client that stops reading: ping failures, then slow_consumer, the call aborted', async () => {
    const { setup, record } = holdSetup();
    const tt = await start({ setup, pingIntervalMs: 100, maxPingFailures: 3 });
    const { port } = new URL(tt.url);
    const socket: Socket = connect(Number(port), '127.0.0.1');
    defer(() => socket.destroy());
    await once(socket, 'connect');
    socket.pause(); // never reads: the server's writes back up
    const body = JSON.stringify(call('h', 'hold', { tag: 'stalled' }));
    socket.write(
      `POST /mcp/sse HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAccept: text/event-stream\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    await waitFor(() => record.started.includes('stalled'), 5_000, 'hold call started');
    const id = [...tt.tether.registry.values()][0]!.id;
    // A reply far larger than the loopback socket buffers, to a client that never reads.
    const big = await followUp(tt.url, id, call('b', 'blob', { bytes: 16 * 1024 * 1024 }));
    expect(big.status).toBe(202);

    await waitFor(() => closedLines(tt, id).length === 1, 10_000, 'stream closed');
    expect(closedLines(tt, id)[0]).toMatchObject({ reason: 'slow_consumer', transport: 'seed-sse' });
    const failures = tt.logsOf('connection.ping_failed').filter((l) => l.connection_id === id);
    expect(failures.map((l) => l.consecutive_failures)).toEqual([1, 2, 3]);
    await waitFor(() => record.aborted.length === 1, 5_000, 'hold call aborted');
    expect(tt.tether.registry.size).toBe(0);
    expect((await followUp(tt.url, id, rpc(1, 'ping'))).status).toBe(404);
    const closed = once(socket, 'close');
    socket.resume();
    await within(closed, 5_000, 'server dropped the stalled socket');
  });

  it('on a setup that throws: a final `close` event with reason error, logged', async () => {
    const tt = await start({
      setup: () => {
        throw new Error('setup exploded');
      },
    });
    const s = await openSeed(tt.url, rpc(1, 'ping'));
    const close = await s.reader.nextEvent('close', 5_000);
    expect(json(close)).toEqual({ reason: 'error' });
    expect(await s.reader.rest(5_000)).toEqual([]);
    expect(closedLines(tt, s.connectionId)).toEqual([expect.objectContaining({ reason: 'error' })]);
    expect(tt.tether.registry.size).toBe(0);
    expect((await followUp(tt.url, s.connectionId, rpc(2, 'ping'))).status).toBe(404);
  });

  it('frees a stream whose client left while its server was still being built', async () => {
    const setupGate = gate();
    defer(() => setupGate.open());
    const { setup: holdTools, record } = holdSetup();
    let built = 0;
    const tt = await start({
      setup: async (server, ctx) => {
        built++;
        await setupGate.promise;
        holdTools(server, ctx);
      },
    });
    const s = await openSeed(tt.url, call('h', 'hold', { tag: 'never' }));
    await waitFor(() => built === 1, 5_000, 'setup entered');
    s.abort();
    await waitFor(() => closedLines(tt, s.connectionId).length === 1, 5_000, 'stream closed');
    setupGate.open();
    // Give the (late) setup time to finish and anything wrongly kept to show up.
    await new Promise((r) => setTimeout(r, 200));
    expect((await followUp(tt.url, s.connectionId, rpc(1, 'ping'))).status).toBe(404);
    expect(record.started).toEqual([]);
    expect(record.servers[0]?.isConnected() ?? false).toBe(false);
    expect(tt.tether.registry.size).toBe(0);
  });
});

describe('POST /mcp/sse: bad input', () => {
  it('answers a non-JSON body with an `error` event (-32700) and keeps the stream usable', async () => {
    const tt = await start();
    const s = await openSeed(tt.url, 'this is { not json');
    defer(() => s.abort());
    const parseError = json(await s.reader.nextEvent('error'));
    expect(parseError).toMatchObject({ jsonrpc: '2.0', error: { code: -32700 }, id: null });

    const badFollowUp = await followUp(tt.url, s.connectionId, '{"jsonrpc":');
    expect(badFollowUp.status).toBe(202);
    expect(json(await s.reader.nextEvent('error'))).toMatchObject({ error: { code: -32700 }, id: null });

    const notRpc = await followUp(tt.url, s.connectionId, { hello: 'world', id: 'x' });
    expect(notRpc.status).toBe(202);
    expect(json(await s.reader.nextEvent('error'))).toMatchObject({ error: { code: -32600 }, id: 'x' });

    const ok = await followUp(tt.url, s.connectionId, call('after', 'echo', { text: 'still here' }));
    expect(ok.status).toBe(202);
    expect(json(await s.reader.nextEvent('response'))).toMatchObject({
      id: 'after',
      result: { content: [{ text: 'still here' }] },
    });
    expect(tt.tether.registry.get(s.connectionId)?.closed).toBe(false);
  });

  it.each(['GET', 'PUT', 'DELETE'])('answers %s with 405 and Allow: POST', async (method) => {
    const tt = await start();
    const res = await fetch(`${tt.url}/mcp/sse`, { method, headers: { accept: 'text/event-stream' } });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('POST');
    expect(await res.json()).toMatchObject({
      error: { data: { code: 'TETHER_ERR_HTTP_METHOD_NOT_ALLOWED' } },
    });
    expect(tt.tether.registry.size).toBe(0);
  });

  it('answers an oversized body with 413, on open and on a follow-up, and opens no stream', async () => {
    const tt = await start({ maxBodyBytes: 1_024 });
    const big = JSON.stringify(call(1, 'echo', { text: 'x'.repeat(4_096) }));
    const open = await fetch(`${tt.url}/mcp/sse`, { method: 'POST', headers: SEED_HEADERS, body: big });
    expect(open.status).toBe(413);
    await open.arrayBuffer();
    expect(tt.tether.registry.size).toBe(0);

    const s = await openSeed(tt.url);
    defer(() => s.abort());
    const res = await followUp(tt.url, s.connectionId, big);
    expect(res.status).toBe(413);
    // The stream itself is unaffected.
    const ok = await followUp(tt.url, s.connectionId, call('ok', 'echo', { text: 'small' }));
    expect(ok.status).toBe(202);
    expect(json(await s.reader.nextEvent('response'))).toMatchObject({ id: 'ok' });
  });
});
