import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../support/process.js';
import { startTether, type TestTether } from '../support/tether.js';

let t: TestTether | undefined;
const aborts: AbortController[] = [];
afterEach(async () => {
  for (const a of aborts.splice(0)) a.abort();
  await t?.close();
  t = undefined;
});

async function openSeed(url: string): Promise<Response> {
  const ac = new AbortController();
  aborts.push(ac);
  return fetch(`${url}/mcp/sse`, { method: 'POST', body: '', signal: ac.signal });
}

describe('connection caps', () => {
  it('answers 503 with Retry-After over the global cap, reports not ready, and admits again after a close', async () => {
    t = await startTether({ maxConnections: 2, pingIntervalMs: 60_000 });
    const a = await openSeed(t.url);
    const b = await openSeed(t.url);
    expect([a.status, b.status]).toEqual([200, 200]);
    const refused = await openSeed(t.url);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(((await refused.json()) as { error: { data: { code: string } } }).error.data.code).toBe(
      'TETHER_ERR_HTTP_AT_CAPACITY',
    );
    const legacy = await fetch(`${t.url}/sse`, { headers: { Accept: 'text/event-stream' } });
    expect(legacy.status).toBe(503);
    expect((await fetch(`${t.url}/readyz`)).status).toBe(503);
    expect(t.logsOf('connection.refused')).toHaveLength(2);

    aborts[0]?.abort();
    await waitFor(() => t!.tether.registry.size === 1, 5_000, 'one stream released');
    const admitted = await openSeed(t.url);
    expect(admitted.status).toBe(200);
    expect(t.tether.registry.size).toBe(2);
  });

  it('caps streams per client address', async () => {
    t = await startTether({ maxConnectionsPerClient: 1, pingIntervalMs: 60_000 });
    expect((await openSeed(t.url)).status).toBe(200);
    const refused = await openSeed(t.url);
    expect(refused.status).toBe(503);
    expect(((await refused.json()) as { error: { data: { code: string } } }).error.data.code).toBe(
      'TETHER_ERR_HTTP_CLIENT_AT_CAPACITY',
    );
    expect((await fetch(`${t.url}/readyz`)).status).toBe(200);
  });
});

describe('admission is decided from the request the handler serves', () => {
  const LISTEN = {
    jsonrpc: '2.0',
    id: 1,
    method: 'subscriptions/listen',
    params: {
      notifications: { toolsListChanged: true },
      _meta: {
        'io.modelcontextprotocol/protocolVersion': '2026-07-28',
        'io.modelcontextprotocol/clientInfo': { name: 'caps-test', version: '1' },
        'io.modelcontextprotocol/clientCapabilities': {},
      },
    },
  };

  it('counts a POST /mcp/sse whose query only mentions connection_id= as a new stream', async () => {
    t = await startTether({ maxConnections: 1, pingIntervalMs: 60_000 });
    expect((await openSeed(t.url)).status).toBe(200);
    const ac = new AbortController();
    aborts.push(ac);
    const sneaky = await fetch(`${t.url}/mcp/sse?x=connection_id=`, {
      method: 'POST',
      body: '',
      signal: ac.signal,
    });
    expect(sneaky.status).toBe(503);
    expect(t.tether.registry.size).toBe(1);
  });

  it('counts a 2026-07-28 subscriptions/listen against the cap whatever Mcp-Session-Id it carries', async () => {
    t = await startTether({ maxConnections: 1, pingIntervalMs: 60_000 });
    expect((await openSeed(t.url)).status).toBe(200);
    const ac = new AbortController();
    aborts.push(ac);
    const listen = await fetch(t.mcpUrl, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        Accept: 'application/json, text/event-stream',
        'Mcp-Session-Id': 'anything',
        'MCP-Protocol-Version': '2026-07-28',
        'Mcp-Method': 'subscriptions/listen',
      },
      body: JSON.stringify(LISTEN),
      signal: ac.signal,
    });
    expect(listen.status).toBe(503);
    expect(t.tether.registry.size).toBe(1);
  });
});
