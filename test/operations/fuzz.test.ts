import { request } from 'node:http';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/process.js';
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
