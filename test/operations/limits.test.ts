import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { CreateTetherOptions, SetupFn } from '../../src/index.js';
import { METRIC_METHODS } from '../../src/observability/metrics.js';
import { internalsOf } from '../../src/server/internals.js';
import { openRawSession, post, rpc } from '../support/rpc.js';
import { SseReader, type Wire } from '../support/sse.js';
import { startTether, type TestTether } from '../support/tether.js';

let t: TestTether | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

async function start(options: CreateTetherOptions = {}): Promise<TestTether> {
  t = await startTether({ logLevel: 'warn', pingIntervalMs: 60_000, ...options });
  return t;
}

async function metricsText(url: string): Promise<string> {
  return (await fetch(`${url}/metrics`)).text();
}

/** The `method` labels `requests_total` carries. */
function methodLabels(text: string): Set<string> {
  const labels = new Set<string>();
  for (const match of text.matchAll(/^mcp_tether_requests_total\{method="([^"]*)"/gm))
    labels.add(match[1] ?? '');
  return labels;
}

/** Every JSON-RPC message of a POST's answer, whether JSON or an SSE stream. */
async function answers(res: Response): Promise<Wire[]> {
  if (!(res.headers.get('content-type') ?? '').includes('text/event-stream')) {
    const body = (await res.json()) as Wire | Wire[];
    return Array.isArray(body) ? body : [body];
  }
  const sse = new SseReader(res.body!);
  const messages: Wire[] = [];
  for (;;) {
    const next = await sse.nextMessage(10_000);
    if (next === undefined) return messages;
    messages.push(next.message);
  }
}

describe('requests_total method labels', () => {
  it('counts methods outside the spec as other, however they are spelled', async () => {
    const { url, mcpUrl } = await start();
    const session = await openRawSession(mcpUrl);
    const invented = ['tools/invented', 'initializeX', 'resources/../x', `tools/${'y'.repeat(10_000)}`];
    const batch = [...invented.map((method, i) => rpc(i + 1, method)), rpc(99, 'tools/list')];
    const res = await post(mcpUrl, batch, session.headers);
    expect((await answers(res)).map((m) => m.id).sort()).toEqual([1, 2, 3, 4, 99]);
    const labels = methodLabels(await metricsText(url));
    expect([...labels].sort()).toEqual(['initialize', 'other', 'tools/list']);
  });

  it('labels the spec and tasks extension methods by name', () => {
    for (const method of [
      'initialize',
      'ping',
      'tools/call',
      'resources/read',
      'tasks/get',
      'tasks/update',
    ]) {
      expect(METRIC_METHODS.has(method), method).toBe(true);
    }
    expect(METRIC_METHODS.has('tools/invented')).toBe(false);
  });
});

describe('admin API paths', () => {
  it('answers 400 with a registry error to a connection id that is not valid percent-encoding', async () => {
    const admin = 'admin-0123456789abcdef';
    const { url } = await start({ adminToken: admin, logLevel: 'debug' });
    for (const id of ['%E0%A4%A', '%', '%zz', '%C0']) {
      const res = await fetch(`${url}/mcp/connections/${id}`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${admin}` },
      });
      expect(res.status, id).toBe(400);
      const body = (await res.json()) as Wire;
      expect(body.error?.data).toEqual({ code: 'TETHER_ERR_ADMIN_BAD_CONNECTION_ID' });
    }
    const known = await fetch(`${url}/mcp/connections/${encodeURIComponent('no such')}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${admin}` },
    });
    expect(known.status).toBe(404);
    expect(t?.logsOf('request.failed')).toEqual([]);
  });
});

const CLIENT = {
  protocolVersion: '2025-11-25',
  capabilities: {},
  clientInfo: { name: 'limits', version: '1' },
};

function sessionsActive(text: string): number {
  return Number(/^mcp_tether_sessions_active (\d+)/m.exec(text)?.[1] ?? Number.NaN);
}

describe('initialize that cannot open a session', () => {
  it.each([
    ['missing params', undefined],
    ['protocolVersion: 3', { ...CLIENT, protocolVersion: 3 }],
    ['clientInfo missing', { protocolVersion: '2025-11-25', capabilities: {} }],
    ['clientInfo without version', { ...CLIENT, clientInfo: { name: 'x' } }],
  ])('%s: -32602 with a short message, no session', async (_name, params) => {
    const { url, mcpUrl } = await start();
    const before = sessionsActive(await metricsText(url));
    const message = {
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      ...(params === undefined ? {} : { params }),
    };
    const res = await post(mcpUrl, message);
    expect(res.status).toBe(400);
    expect(res.headers.get('mcp-session-id')).toBeNull();
    const body = (await res.json()) as Wire;
    expect(body.id).toBe(1);
    expect(body.error?.code).toBe(-32602);
    expect(body.error?.data).toEqual({ code: 'TETHER_ERR_RPC_INVALID_PARAMS' });
    expect(body.error?.message.length).toBeLessThan(250);
    expect(body.error?.message).toMatch(/^Invalid params: params/);
    expect(t?.tether.sessions.size).toBe(0);
    expect(sessionsActive(await metricsText(url))).toBe(before);
  });

  it('params that are not an object are not JSON-RPC at all: -32600, no session', async () => {
    const { mcpUrl } = await start();
    const res = await post(mcpUrl, { jsonrpc: '2.0', id: 1, method: 'initialize', params: 5 });
    expect(res.status).toBe(400);
    expect(res.headers.get('mcp-session-id')).toBeNull();
    expect(((await res.json()) as Wire).error?.code).toBe(-32600);
    expect(t?.tether.sessions.size).toBe(0);
  });

  it('refuses params over maxInitializeParamsBytes with -32602 and no session', async () => {
    const { url, mcpUrl } = await start({ maxInitializeParamsBytes: 1024 });
    const big = { ...CLIENT, capabilities: { experimental: { blob: { text: 'x'.repeat(2_000) } } } };
    const res = await post(mcpUrl, rpc(7, 'initialize', big));
    expect(res.status).toBe(400);
    expect(res.headers.get('mcp-session-id')).toBeNull();
    const body = (await res.json()) as Wire;
    expect(body.error?.code).toBe(-32602);
    expect(body.error?.data).toEqual({ code: 'TETHER_ERR_SESSION_INITIALIZE_TOO_LARGE' });
    expect(body.error?.message).toContain('the limit is 1024');
    expect(sessionsActive(await metricsText(url))).toBe(0);
    // Just under the limit still opens a session.
    const fits = await post(mcpUrl, rpc(8, 'initialize', { ...CLIENT, capabilities: { experimental: {} } }));
    expect(fits.status).toBe(200);
    expect(fits.headers.get('mcp-session-id')).not.toBeNull();
    await fits.arrayBuffer();
  });

  it('keeps only protocolVersion, capabilities and clientInfo of the params', async () => {
    const { mcpUrl } = await start();
    const res = await post(
      mcpUrl,
      rpc(1, 'initialize', { ...CLIENT, _meta: { note: 'n' }, extra: 'x'.repeat(100) }),
    );
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    const [session] = t ? [...internalsOf(t.tether).sessions.values()] : [];
    expect(session?.initParams).toEqual(CLIENT);
  });
});

/** A `hold` tool whose calls run until the test releases them, so in-flight counts are exact. */
function holdingSetup() {
  let release: () => void = () => {};
  let gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  let started = 0;
  const setup: SetupFn = (server) => {
    server.registerTool('hold', { inputSchema: z.object({}) }, async () => {
      started++;
      await gate;
      return { content: [{ type: 'text', text: 'released' }] };
    });
  };
  return {
    setup,
    started: () => started,
    release() {
      release();
      gate = Promise.resolve();
    },
  };
}

const hold = (id: number) => rpc(id, 'tools/call', { name: 'hold', arguments: {} });

function refusedTotal(text: string, reason: string): number {
  const line = new RegExp(`^mcp_tether_requests_refused_total\\{reason="${reason}"\\} (\\d+)`, 'm').exec(
    text,
  );
  return Number(line?.[1] ?? Number.NaN);
}

describe('batch size and requests in flight', () => {
  it('refuses a batch over maxBatchSize whole with 400 and -32600, and admits one at the cap', async () => {
    const { url, mcpUrl } = await start({ maxBatchSize: 5 });
    const session = await openRawSession(mcpUrl);
    const tooMany = await post(
      mcpUrl,
      Array.from({ length: 6 }, (_, i) => rpc(i, 'ping')),
      session.headers,
    );
    expect(tooMany.status).toBe(400);
    const body = (await tooMany.json()) as Wire;
    expect(body.error?.code).toBe(-32600);
    expect(body.error?.message).toContain('batch too large');
    expect(body.error?.data).toEqual({ code: 'TETHER_ERR_RPC_BATCH_TOO_LARGE' });
    expect(refusedTotal(await metricsText(url), 'batch_too_large')).toBe(6);
    const atCap = await post(
      mcpUrl,
      Array.from({ length: 5 }, (_, i) => rpc(i, 'ping')),
      session.headers,
    );
    expect(atCap.status).toBe(200);
    expect((await answers(atCap)).every((m) => m.result !== undefined)).toBe(true);
  });

  it('answers the requests past the per-session cap with an error and runs the rest', async () => {
    const tools = holdingSetup();
    const { url, mcpUrl } = await start({ setup: tools.setup, maxRequestsInFlightPerSession: 2 });
    const session = await openRawSession(mcpUrl);
    const res = await post(mcpUrl, [hold(1), hold(2), hold(3), rpc(4, 'tools/list')], session.headers);
    expect(res.status).toBe(200);
    const reading = answers(res);
    // A second POST while both calls run is refused too.
    const later = await post(mcpUrl, [rpc(5, 'tools/list'), rpc(6, 'ping')], session.headers);
    const laterAnswers = new Map((await answers(later)).map((m) => [m.id, m]));
    expect(laterAnswers.get(5)?.error?.data).toEqual({ code: 'TETHER_ERR_RPC_SESSION_BUSY' });
    // A ping starts no work: it passes the caps, so a busy client can still check the server.
    expect(laterAnswers.get(6)?.result).toEqual({});
    expect(tools.started()).toBe(2);
    tools.release();
    const byId = new Map((await reading).map((m) => [m.id, m]));
    expect(byId.get(1)?.result).toBeDefined();
    expect(byId.get(2)?.result).toBeDefined();
    for (const id of [3, 4]) {
      expect(byId.get(id)?.error?.code, String(id)).toBe(-32000);
      expect(byId.get(id)?.error?.data).toEqual({ code: 'TETHER_ERR_RPC_SESSION_BUSY' });
    }
    expect(refusedTotal(await metricsText(url), 'session_busy')).toBe(3);
    // Room again once they ended.
    const after = await answers(await post(mcpUrl, rpc(7, 'tools/list'), session.headers));
    expect(after[0]?.result).toBeDefined();
  });

  it('answers requests past the per-server cap with an error, across sessions', async () => {
    const tools = holdingSetup();
    const { url, mcpUrl } = await start({
      setup: tools.setup,
      maxRequestsInFlight: 2,
      maxRequestsInFlightPerSession: 0,
    });
    const a = await openRawSession(mcpUrl);
    const b = await openRawSession(mcpUrl);
    const running = answers(await post(mcpUrl, [hold(1), hold(2)], a.headers));
    const [refused] = await answers(await post(mcpUrl, hold(3), b.headers));
    expect(refused?.error?.code).toBe(-32000);
    expect(refused?.error?.data).toEqual({ code: 'TETHER_ERR_RPC_SERVER_BUSY' });
    expect(tools.started()).toBe(2);
    tools.release();
    expect((await running).map((m) => m.result !== undefined)).toEqual([true, true]);
    expect(refusedTotal(await metricsText(url), 'server_busy')).toBe(1);
  });

  it('legacy /messages: a batch over the cap is refused whole, excess requests answered on the stream', async () => {
    const tools = holdingSetup();
    const { url } = await start({ setup: tools.setup, maxBatchSize: 3, maxRequestsInFlightPerSession: 1 });
    const controller = new AbortController();
    const stream = await fetch(`${url}/sse`, {
      headers: { accept: 'text/event-stream' },
      signal: controller.signal,
    });
    const sse = new SseReader(stream.body!);
    try {
      const endpoint = await sse.next();
      expect(endpoint?.event).toBe('endpoint');
      const send = (body: unknown) =>
        fetch(`${url}${endpoint?.data}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
      const init = await send(rpc(0, 'initialize', CLIENT));
      expect(init.status).toBe(202);
      expect((await sse.nextMessage())?.message.id).toBe(0);
      await send({ jsonrpc: '2.0', method: 'notifications/initialized' });

      const tooMany = await send([rpc(1, 'ping'), rpc(2, 'ping'), rpc(3, 'ping'), rpc(4, 'ping')]);
      expect(tooMany.status).toBe(400);
      expect(((await tooMany.json()) as Wire).error?.data).toEqual({
        code: 'TETHER_ERR_RPC_BATCH_TOO_LARGE',
      });

      expect((await send([hold(5), hold(6)])).status).toBe(202);
      const refused = await sse.nextMessage();
      expect(refused?.message.id).toBe(6);
      expect(refused?.message.error?.data).toEqual({ code: 'TETHER_ERR_RPC_SESSION_BUSY' });
      expect(tools.started()).toBe(1);
      tools.release();
      expect((await sse.nextMessage())?.message).toMatchObject({ id: 5, result: {} });
      const text = await metricsText(url);
      expect(refusedTotal(text, 'batch_too_large')).toBe(4);
      expect(refusedTotal(text, 'session_busy')).toBe(1);
    } finally {
      controller.abort();
    }
  });
});

describe('duplicate request ids', () => {
  it('refuses a 2025-era batch repeating an id, or reusing the id of a request still running', async () => {
    const tools = holdingSetup();
    const { mcpUrl } = await start({ setup: tools.setup });
    const session = await openRawSession(mcpUrl);
    const twice = await post(mcpUrl, [rpc(1, 'ping'), rpc(1, 'tools/list')], session.headers);
    expect(twice.status).toBe(400);
    expect(((await twice.json()) as Wire).error).toMatchObject({
      code: -32600,
      data: { code: 'TETHER_ERR_RPC_DUPLICATE_ID' },
    });
    const running = await post(mcpUrl, hold(7), session.headers);
    expect(running.status).toBe(200);
    const again = await post(mcpUrl, hold(7), session.headers);
    expect(again.status).toBe(400);
    tools.release();
    expect((await answers(running)).map((m) => m.id)).toEqual([7]);
    expect(t?.tether.sessions.get(session.sessionId)?.pendingRequests).toBe(0);
  });

  it('leaves nothing in flight after a legacy /messages batch repeating an id, so a drain does not wait', async () => {
    const { url } = await start({ shutdownGraceMs: 5_000 });
    const controller = new AbortController();
    const stream = await fetch(`${url}/sse`, {
      headers: { accept: 'text/event-stream' },
      signal: controller.signal,
    });
    const sse = new SseReader(stream.body!);
    const endpoint = await sse.next();
    const send = (body: unknown) =>
      fetch(`${url}${endpoint?.data}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    await send(rpc(0, 'initialize', CLIENT));
    expect((await sse.nextMessage())?.message.id).toBe(0);
    await send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    const twice = await send([rpc(1, 'tools/list'), rpc(1, 'tools/list')]);
    expect(twice.status).toBe(400);
    expect((await send(rpc(2, 'tools/list'))).status).toBe(202);
    expect((await sse.nextMessage())?.message.id).toBe(2);
    const started = performance.now();
    await t?.close();
    t = undefined;
    controller.abort();
    expect(performance.now() - started).toBeLessThan(4_000);
  });
});
