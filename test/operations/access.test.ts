import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterEach, describe, expect, it } from 'vitest';
import { createTether } from '../../src/index.js';
import { waitFor } from '../support/process.js';
import { captureLogs, startTether, type TestTether } from '../support/tether.js';

const TOKEN_A = 'token-a-0123456789abcdef';
const TOKEN_B = 'token-b-0123456789abcdef';
const ADMIN = 'admin-0123456789abcdef';
const INIT = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
};

let t: TestTether | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
const MCP_HEADERS = { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' };

describe('bearer tokens on every MCP endpoint', () => {
  const endpoints: Array<[string, RequestInit]> = [
    ['/mcp', { method: 'POST', headers: MCP_HEADERS, body: JSON.stringify(INIT) }],
    ['/mcp', { method: 'GET', headers: { Accept: 'text/event-stream' } }],
    ['/mcp', { method: 'DELETE' }],
    ['/sse', { method: 'GET', headers: { Accept: 'text/event-stream' } }],
    ['/messages?sessionId=x', { method: 'POST', headers: MCP_HEADERS, body: '{}' }],
    ['/mcp/sse', { method: 'POST', body: '{"jsonrpc":"2.0","method":"ping","id":1}' }],
    ['/mcp/sse?connection_id=x', { method: 'POST', body: '{}' }],
    ['/mcp/stdio', { method: 'GET' }],
  ];

  it.each(endpoints)(
    '%s %j: 401 with a Bearer challenge without or with a wrong token',
    async (path, init) => {
      t = await startTether({ authTokens: [TOKEN_A] });
      const missing = await fetch(t.url + path, init);
      expect(missing.status).toBe(401);
      expect(missing.headers.get('www-authenticate')).toBe('Bearer realm="mcp-tether"');
      expect(((await missing.json()) as { error: { data: { code: string } } }).error.data.code).toBe(
        'TETHER_ERR_AUTH_REQUIRED',
      );
      const wrong = await fetch(t.url + path, { ...init, headers: { ...init.headers, ...bearer(TOKEN_B) } });
      expect(wrong.status).toBe(401);
      expect(wrong.headers.get('www-authenticate')).toContain('error="invalid_token"');
      await wrong.body?.cancel();
      expect(t.tether.registry.size).toBe(0);
    },
  );

  it('accepts the token with the official clients on Streamable HTTP and HTTP+SSE', async () => {
    t = await startTether({ authTokens: [TOKEN_A, TOKEN_B] });
    const http = new Client({ name: 'a', version: '1' });
    await http.connect(
      new StreamableHTTPClientTransport(t.mcpUrl, { requestInit: { headers: bearer(TOKEN_A) } }),
    );
    expect((await http.callTool({ name: 'echo', arguments: { text: 'hi' } })).content).toEqual([
      { type: 'text', text: 'hi' },
    ]);
    await http.close();
    const sse = new Client({ name: 'b', version: '1' });
    await sse.connect(
      new SSEClientTransport(new URL(`${t.url}/sse`), {
        requestInit: { headers: bearer(TOKEN_B) },
        eventSourceInit: {
          fetch: (url, init) => fetch(url, { ...init, headers: { ...init?.headers, ...bearer(TOKEN_B) } }),
        },
      }),
    );
    expect((await sse.listTools()).tools.map((x) => x.name)).toContain('echo');
    await sse.close();
  });

  it('binds a session to the token that created it: another token gets 404', async () => {
    t = await startTether({ authTokens: [TOKEN_A, TOKEN_B] });
    const init = await fetch(t.mcpUrl, {
      method: 'POST',
      headers: { ...MCP_HEADERS, ...bearer(TOKEN_A) },
      body: JSON.stringify(INIT),
    });
    const sessionId = init.headers.get('mcp-session-id');
    expect(sessionId).toBeTruthy();
    await init.body?.cancel();
    const list = JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' });
    const hijack = await fetch(t.mcpUrl, {
      method: 'POST',
      headers: { ...MCP_HEADERS, ...bearer(TOKEN_B), 'Mcp-Session-Id': sessionId! },
      body: list,
    });
    expect(hijack.status).toBe(404);
    const owner = await fetch(t.mcpUrl, {
      method: 'POST',
      headers: { ...MCP_HEADERS, ...bearer(TOKEN_A), 'Mcp-Session-Id': sessionId! },
      body: list,
    });
    expect(owner.status).toBe(200);
    expect(await owner.text()).toContain('"echo"');
  });
});

describe('admin API', () => {
  it('is off (403) without an admin token, and needs the token (401) when on', async () => {
    t = await startTether();
    expect((await fetch(`${t.url}/mcp/connections`)).status).toBe(403);
    await t.close();
    t = await startTether({ adminToken: ADMIN });
    const res = await fetch(`${t.url}/mcp/connections`, { headers: bearer('not-the-admin-token-xx') });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toContain('Bearer');
  });

  it('lists live streams of every transport and closes one with reason manual', async () => {
    t = await startTether({ adminToken: ADMIN, pingIntervalMs: 60_000 });
    const seedAbort = new AbortController();
    const seed = await fetch(`${t.url}/mcp/sse`, { method: 'POST', body: '', signal: seedAbort.signal });
    const legacy = new Client({ name: 'legacy', version: '1' });
    await legacy.connect(new SSEClientTransport(new URL(`${t.url}/sse`)));
    const http = new Client({ name: 'http', version: '1' });
    await http.connect(new StreamableHTTPClientTransport(t.mcpUrl));
    await waitFor(() => t!.tether.registry.size === 3, 5_000, 'three streams');

    const listed = await fetch(`${t.url}/mcp/connections`, { headers: bearer(ADMIN) });
    expect(listed.status).toBe(200);
    const { connections } = (await listed.json()) as { connections: Array<Record<string, unknown>> };
    expect(connections.map((c) => c.transport).sort()).toEqual(['http-sse', 'seed-sse', 'streamable-http']);
    for (const c of connections) {
      expect(Object.keys(c).sort()).toEqual(
        [
          'buffered_bytes',
          'bytes_written',
          'client_ip',
          'consecutive_failures',
          'id',
          'last_activity_at',
          'opened_at',
          'pings_sent',
          'session_id',
          'stream',
          'transport',
          'uptime_ms',
          'user_agent',
        ].sort(),
      );
      expect(c.client_ip).toMatch(/127\.0\.0\.1/);
    }

    const seedConn = connections.find((c) => c.transport === 'seed-sse')!;
    const reader = seed.body!.getReader();
    const del = await fetch(`${t.url}/mcp/connections/${seedConn.id}`, {
      method: 'DELETE',
      headers: bearer(ADMIN),
    });
    expect(del.status).toBe(200);
    let text = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    expect(text).toContain('event: close\n');
    expect(text).toContain('data: {"reason":"manual"}');
    expect(t.tether.registry.get(String(seedConn.id))).toBeUndefined();
    const closed = t.logsOf('connection.closed').find((l) => l.connection_id === seedConn.id);
    expect(closed?.reason).toBe('manual');

    const again = await fetch(`${t.url}/mcp/connections/${seedConn.id}`, {
      method: 'DELETE',
      headers: bearer(ADMIN),
    });
    expect(again.status).toBe(404);
    await legacy.close();
    await http.close();
  });
});

describe('CORS and origins', () => {
  it('answers a preflight for an allowed origin and refuses others', async () => {
    t = await startTether({ allowedOrigins: ['https://app.example.com'] });
    const ok = await fetch(t.mcpUrl, {
      method: 'OPTIONS',
      headers: { Origin: 'https://app.example.com', 'Access-Control-Request-Method': 'POST' },
    });
    expect(ok.status).toBe(204);
    expect(ok.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    expect(ok.headers.get('access-control-allow-headers')).toContain('Mcp-Session-Id');
    const post = await fetch(t.mcpUrl, {
      method: 'POST',
      headers: { ...MCP_HEADERS, Origin: 'https://app.example.com' },
      body: JSON.stringify(INIT),
    });
    expect(post.status).toBe(200);
    expect(post.headers.get('access-control-expose-headers')).toContain('Mcp-Session-Id');
    await post.body?.cancel();
    const evil = await fetch(t.mcpUrl, {
      method: 'OPTIONS',
      headers: { Origin: 'https://evil.example.com' },
    });
    expect(evil.status).toBe(403);
  });
});

describe('session creation rate limit', () => {
  it('answers 429 with Retry-After past the burst, per client', async () => {
    t = await startTether({ sessionsPerMinute: 60, sessionBurst: 2 });
    const open = () => fetch(`${t!.url}/mcp/sse`, { method: 'POST', body: '' });
    const first = await open();
    const second = await open();
    const third = await open();
    expect([first.status, second.status, third.status]).toEqual([200, 200, 429]);
    expect(Number(third.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    await first.body?.cancel();
    await second.body?.cancel();
    expect(t.logsOf('session.rate_limited')).toHaveLength(1);
  });
});

describe('unprotected bind warning', () => {
  async function bindLogs(host: string, authTokens: string[] = []) {
    const { logger, logs } = captureLogs('info');
    const tether = createTether({ logger, authTokens });
    try {
      await tether.listen(0, host);
    } finally {
      await tether.close();
    }
    return logs.filter((l) => l.msg === 'server.unprotected_bind');
  }

  it('warns, saying what to set, when bound off loopback without a token', async () => {
    const [line, ...more] = await bindLogs('0.0.0.0');
    expect(more).toHaveLength(0);
    expect(line).toMatchObject({ level: 40, host: '0.0.0.0' });
    expect(String(line?.fix)).toContain('--auth-token');
  });

  it('stays quiet with a token, or on loopback', async () => {
    expect(await bindLogs('0.0.0.0', [TOKEN_A])).toHaveLength(0);
    expect(await bindLogs('127.0.0.1')).toHaveLength(0);
  });
});
