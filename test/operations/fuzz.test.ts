import { request } from 'node:http';
import type { Socket } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METRIC_METHODS } from '../../src/observability/metrics.js';
import { waitFor } from '../support/process.js';
import { openRawSession, post, type RawSession, resumeWithoutReading, rpc } from '../support/rpc.js';
import type { Wire } from '../support/sse.js';
import { startTether, type TestTether } from '../support/tether.js';

let t: TestTether;
beforeAll(async () => {
  t = await startTether({ logLevel: 'warn', maxBodyBytes: 64 * 1024, pingIntervalMs: 60_000 });
});
afterAll(async () => {
  await t.close();
});

interface Probe {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string | undefined;
}

/** Sends one raw request and reads at most the head plus a little body, then drops the socket. */
function send(probe: Probe): Promise<number> {
  const url = new URL(t.url);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: url.hostname, port: url.port, method: probe.method, path: probe.path, headers: probe.headers },
      (res) => {
        resolve(res.statusCode ?? 0);
        res.destroy();
      },
    );
    req.setTimeout(5_000, () => req.destroy(new Error(`timeout: ${JSON.stringify(probe)}`)));
    req.on('error', (err) => {
      if ((err as NodeJS.ErrnoException).code === 'ECONNRESET') resolve(-1);
      else reject(err);
    });
    req.end(probe.body);
  });
}

const rpcMessage = fc.oneof(
  fc.record({
    jsonrpc: fc.constantFrom('2.0', '1.0', 2),
    id: fc.oneof(fc.integer(), fc.string(), fc.constant(null)),
    method: fc.constantFrom(
      'initialize',
      'tools/call',
      'tools/list',
      'ping',
      'server/discover',
      'subscriptions/listen',
      'x',
    ),
    params: fc.oneof(
      fc.constant(undefined),
      fc.object(),
      fc.constant({ name: 'echo', arguments: { text: 'x' } }),
    ),
  }),
  fc.anything(),
);
const body = fc.oneof(
  fc.constant(undefined),
  fc.string(),
  rpcMessage.map((m) => JSON.stringify(m) ?? ''),
  fc.array(rpcMessage, { maxLength: 3 }).map((a) => JSON.stringify(a)),
);
const headerValue = fc.oneof(
  fc.constantFrom(
    'application/json',
    'text/event-stream',
    'application/json, text/event-stream',
    '*/*',
    '',
    'x/y',
  ),
  fc.stringMatching(/^[\x20-\x7e]{0,40}$/),
);
const probe: fc.Arbitrary<Probe> = fc.record({
  method: fc.constantFrom('GET', 'POST', 'DELETE', 'PUT', 'PATCH', 'OPTIONS', 'HEAD'),
  path: fc.constantFrom(
    '/mcp',
    '/mcp/sse',
    '/mcp/sse?connection_id=mcp_sse_x',
    '/sse',
    '/messages?sessionId=abc',
    '/messages',
    '/mcp/stdio',
    '/mcp/connections',
    '/healthz',
    '/nope',
    '/mcp?x=%zz',
  ),
  headers: fc.record(
    {
      'content-type': headerValue,
      accept: headerValue,
      'mcp-session-id': fc.stringMatching(/^[\x21-\x7e]{0,30}$/),
      'mcp-protocol-version': fc.constantFrom('2025-11-25', '2025-03-26', '2026-07-28', 'v999', ''),
      'last-event-id': fc.stringMatching(/^[\x21-\x7e]{0,30}$/),
      'mcp-method': fc.constantFrom('tools/call', 'ping', 'x'),
      origin: fc.constantFrom('http://127.0.0.1', 'https://evil.example.com', 'null'),
    },
    { requiredKeys: [] },
  ),
  body,
});

describe('HTTP surface under random input', () => {
  it('never crashes, never answers 5xx but 503, and releases every connection', async () => {
    await fc.assert(
      fc.asyncProperty(probe, async (p) => {
        const status = await send(p);
        expect(
          status === -1 || (status >= 200 && status < 500) || status === 503,
          `${status} for ${JSON.stringify(p)}`,
        ).toBe(true);
      }),
      { numRuns: 400, interruptAfterTimeLimit: 60_000 },
    );
    // Streams opened by probes were dropped by the client side: all must be released.
    await waitFor(() => t.tether.registry.size === 0, 5_000, 'every stream released');
    const health = await fetch(`${t.url}/healthz`);
    expect(health.status).toBe(200);
    expect(t.logsOf('request.failed')).toEqual([]);
  });
});

describe('limits under random input', () => {
  const ADMIN = 'admin-0123456789abcdef';
  const MAX_BATCH = 20;
  const MAX_INIT_BYTES = 2_048;
  let limited: TestTether;
  let session: RawSession;
  beforeAll(async () => {
    limited = await startTether({
      logLevel: 'warn',
      pingIntervalMs: 60_000,
      adminToken: ADMIN,
      maxBatchSize: MAX_BATCH,
      maxInitializeParamsBytes: MAX_INIT_BYTES,
    });
    session = await openRawSession(limited.mcpUrl);
  });
  afterAll(async () => {
    await limited.close();
  });
  const scrape = async () => (await fetch(`${limited.url}/metrics`)).text();

  it('unique-method floods leave the method labels and the scrape size bounded', async () => {
    const before = (await scrape()).length;
    const method = fc.tuple(
      fc.constantFrom('tools/', 'resources/', 'initialize', 'notifications/', 'tasks/', 'ping', ''),
      fc.string({ minLength: 1, maxLength: 2_000 }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(method, { minLength: 1, maxLength: MAX_BATCH }), async (methods) => {
        const batch = methods.map(([prefix, rest], i) => rpc(i, prefix + rest));
        const res = await post(limited.mcpUrl, batch, session.headers);
        await res.arrayBuffer();
        expect(res.status).toBeLessThan(500);
      }),
      { numRuns: 60, interruptAfterTimeLimit: 30_000 },
    );
    const text = await scrape();
    const labels = [...text.matchAll(/^mcp_tether_requests_total\{method="([^"]*)"/gm)].map(
      (m) => m[1] ?? '',
    );
    for (const label of labels) expect(label === 'other' || METRIC_METHODS.has(label), label).toBe(true);
    // Dozens of methods of up to 2 KB each would add far more than this if they became labels.
    expect(text.length).toBeLessThan(before + 16 * 1024);
  });

  it('oversized or malformed initialize never opens a session', async () => {
    const params = fc.oneof(
      fc.record({
        protocolVersion: fc.constant('2025-11-25'),
        capabilities: fc
          .string({ minLength: MAX_INIT_BYTES, maxLength: 4 * MAX_INIT_BYTES })
          .map((x) => ({ x })),
        clientInfo: fc.constant({ name: 'fuzz', version: '1' }),
      }),
      fc.record(
        {
          protocolVersion: fc.anything(),
          capabilities: fc.anything(),
          clientInfo: fc.oneof(fc.anything(), fc.record({ name: fc.anything() })),
        },
        { requiredKeys: ['protocolVersion'] },
      ),
    );
    const sessionsBefore = limited.tether.sessions.size;
    await fc.assert(
      fc.asyncProperty(params, async (p) => {
        const res = await post(limited.mcpUrl, rpc(1, 'initialize', p as Record<string, unknown>));
        const opened = res.headers.get('mcp-session-id') !== null;
        await res.arrayBuffer();
        if (opened) {
          // Only a valid initialize under the limit may open one; close it again.
          expect(JSON.stringify(p).length).toBeLessThanOrEqual(MAX_INIT_BYTES);
          await fetch(limited.mcpUrl, {
            method: 'DELETE',
            headers: { 'mcp-session-id': res.headers.get('mcp-session-id') ?? '' },
          });
        } else {
          expect([400, 429]).toContain(res.status);
        }
      }),
      { numRuns: 80, interruptAfterTimeLimit: 30_000 },
    );
    expect(limited.tether.sessions.size).toBe(sessionsBefore);
  });

  it('batch floods over the cap are refused whole', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: MAX_BATCH + 1, max: 50 * MAX_BATCH }), async (size) => {
        const batch = Array.from({ length: size }, (_, i) =>
          rpc(i, 'tools/call', { name: 'countdown', arguments: { seconds: 3600 } }),
        );
        const res = await post(limited.mcpUrl, batch, session.headers);
        expect(res.status).toBe(400);
        expect(((await res.json()) as Wire).error?.code).toBe(-32600);
      }),
      { numRuns: 30, interruptAfterTimeLimit: 30_000 },
    );
    expect(limited.tether.sessions.get(session.sessionId)?.pendingRequests).toBe(0);
  });

  it('percent-encoding in admin paths answers 400 or 404, never 500', async () => {
    const fragment = fc.oneof(
      fc.constantFrom('%', '%E0', '%E0%A4', '%E0%A4%A', '%C0%80', '%zz', '%25', '%ED%A0%80', '/', '..'),
      fc.stringMatching(/^[A-Za-z0-9._~-]{1,6}$/),
      fc.tuple(fc.integer({ min: 0, max: 255 }), fc.boolean()).map(([b, upper]) => {
        const hex = b.toString(16).padStart(2, '0');
        return `%${upper ? hex.toUpperCase() : hex}`;
      }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(fragment, { minLength: 1, maxLength: 8 }), async (parts) => {
        const res = await fetch(`${limited.url}/mcp/connections/${parts.join('')}`, {
          method: 'DELETE',
          headers: { authorization: `Bearer ${ADMIN}` },
        });
        await res.arrayBuffer();
        expect([400, 404], parts.join('')).toContain(res.status);
      }),
      { numRuns: 150, interruptAfterTimeLimit: 30_000 },
    );
    expect(limited.logsOf('request.failed')).toEqual([]);
  });
});

describe('duplicate ids and replays under random input', () => {
  const SHUTDOWN_GRACE_MS = 5_000;

  it('answers every POST of a batch with duplicate request ids and leaves nothing in flight', async () => {
    const dup = await startTether({
      logLevel: 'warn',
      pingIntervalMs: 60_000,
      shutdownGraceMs: SHUTDOWN_GRACE_MS,
    });
    const sessions: RawSession[] = [];
    try {
      for (let i = 0; i < 3; i++) sessions.push(await openRawSession(dup.mcpUrl));
      const message = fc.tuple(
        fc.constantFrom(1, 2, 'a'),
        fc.constantFrom<[string, Record<string, unknown>]>(
          ['ping', {}],
          ['tools/list', {}],
          ['tools/call', { name: 'echo', arguments: { text: 'dup' } }],
        ),
      );
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 0, max: sessions.length - 1 }),
          fc.array(message, { minLength: 2, maxLength: 8 }),
          async (which, messages) => {
            const session = sessions[which] as RawSession;
            const batch = messages.map(([id, [method, params]]) => rpc(id, method, params));
            // Unanswered, the response stream never ends: the timeout turns that into a failure.
            const res = await post(dup.mcpUrl, batch, session.headers, AbortSignal.timeout(5_000));
            const text = await res.text();
            expect(res.status).toBeLessThan(500);
            if (res.headers.get('content-type')?.startsWith('text/event-stream')) {
              const answered = new Set(
                [...text.matchAll(/^data: (\{.*\})$/gm)].map((m) => (JSON.parse(m[1] ?? '{}') as Wire).id),
              );
              for (const [id] of messages) expect(answered.has(id), `no answer for id ${id}`).toBe(true);
            }
          },
        ),
        { numRuns: 40, interruptAfterTimeLimit: 30_000 },
      );
      for (const s of sessions) expect(dup.tether.sessions.get(s.sessionId)?.pendingRequests).toBe(0);
    } finally {
      const started = Date.now();
      await dup.close();
      // A request left in flight holds the drain for the whole grace.
      expect(Date.now() - started).toBeLessThan(SHUTDOWN_GRACE_MS / 2);
      expect(dup.logsOf('server.grace_expired')).toEqual([]);
    }
  }, 60_000);

  it('refuses a batch repeating an id whole, and answers every request of one that does not, once', async () => {
    const dup = await startTether({ logLevel: 'warn', pingIntervalMs: 60_000 });
    try {
      const session = await openRawSession(dup.mcpUrl);
      const method = fc.constantFrom('ping', 'tools/list');
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.tuple(fc.integer({ min: 1, max: 4 }), method), { minLength: 1, maxLength: 6 }),
          async (messages) => {
            const res = await post(
              dup.mcpUrl,
              messages.map(([id, m]) => rpc(id, m)),
              session.headers,
              AbortSignal.timeout(5_000),
            );
            const ids = messages.map(([id]) => id);
            if (new Set(ids).size < ids.length) {
              expect(res.status).toBe(400);
              expect(((await res.json()) as Wire).error?.data).toEqual({
                code: 'TETHER_ERR_RPC_DUPLICATE_ID',
              });
              return;
            }
            const text = await res.text();
            const answers = [...text.matchAll(/^data: (\{.*\})$/gm)].map(
              (m) => (JSON.parse(m[1] ?? '{}') as Wire).id,
            );
            expect(answers.sort()).toEqual([...ids].sort());
          },
        ),
        { numRuns: 30, interruptAfterTimeLimit: 15_000 },
      );
      expect(dup.tether.sessions.get(session.sessionId)?.pendingRequests).toBe(0);
    } finally {
      await dup.close();
    }
  }, 30_000);

  it('big echoes resumed on sockets that never read keep the registry and RSS bounded', async () => {
    const MAX_CONNECTIONS = 3;
    const MiB = 1024 * 1024;
    const replay = await startTether({
      logLevel: 'warn',
      pingIntervalMs: 60_000,
      maxConnections: MAX_CONNECTIONS,
      maxBodyBytes: 8 * MiB,
      maxEventBytes: 8 * MiB,
    });
    const { port } = new URL(replay.url);
    const clients: Socket[] = [];
    try {
      const session = await openRawSession(replay.mcpUrl);
      await fc.assert(
        fc.asyncProperty(
          // Larger than loopback socket buffers, so a replay cannot finish into the kernel.
          fc.integer({ min: 5 * MiB, max: 6 * MiB }),
          fc.integer({ min: 6, max: 10 }),
          async (textBytes, resumes) => {
            const res = await post(
              replay.mcpUrl,
              rpc(1, 'tools/call', { name: 'echo', arguments: { text: 'a'.repeat(textBytes) } }),
              session.headers,
              AbortSignal.timeout(10_000),
            );
            const firstId = /^id: (.+)$/m.exec(await res.text())?.[1] ?? '';
            const rssBefore = process.memoryUsage().rss;
            const statuses: number[] = [];
            for (let i = 0; i < resumes; i++)
              statuses.push(await resumeWithoutReading(Number(port), session, firstId, clients));
            await new Promise((resolve) => setTimeout(resolve, 50));
            // docs/reliability.md: a client that never reads pins at most one event per admitted
            // stream. Unbounded, each resumption held the whole event (about 2.4 x its size in RSS).
            const rssGrowth = process.memoryUsage().rss - rssBefore;
            expect(rssGrowth).toBeLessThan(2 * MAX_CONNECTIONS * textBytes + 16 * MiB);
            expect(
              statuses.every((s) => s === 200 || s === 503),
              String(statuses),
            ).toBe(true);
            // No replay can finish into the socket buffers, so every admitted stream is still held.
            expect(statuses.filter((s) => s === 200).length).toBeLessThanOrEqual(MAX_CONNECTIONS);
            expect(replay.tether.registry.size).toBeLessThanOrEqual(MAX_CONNECTIONS);
            for (const c of clients.splice(0)) c.destroy();
            await waitFor(() => replay.tether.registry.size === 0, 5_000, 'the resumed streams released');
          },
        ),
        { numRuns: 6, interruptAfterTimeLimit: 40_000 },
      );
      expect(replay.tether.sessions.size).toBe(1);
    } finally {
      for (const c of clients.splice(0)) c.destroy();
      await replay.close();
    }
  }, 90_000);
});
